//! Fault injection: a fault matches by listener, method and path prefix and answers in
//! place of the normal handler (status/body/Retry-After), after a delay, never (hang), or by
//! closing the connection (reset). `times` counts down; `None` fires forever.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Fault {
    /// "main", "mi" or "registry:<name>"; `None` matches every listener.
    pub listener: Option<String>,
    pub method: Option<String>,
    pub path_prefix: String,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub body: Option<String>,
    pub content_type: Option<String>,
    pub delay_ms: Option<u64>,
    pub hang: bool,
    /// Close the TCP connection without an answer.
    pub reset: bool,
    pub times: Option<u32>,
}

impl Fault {
    pub fn new(path_prefix: impl Into<String>) -> Fault {
        Fault {
            path_prefix: path_prefix.into(),
            ..Fault::default()
        }
    }
    pub fn listener(mut self, l: impl Into<String>) -> Self {
        self.listener = Some(l.into());
        self
    }
    pub fn method(mut self, m: impl Into<String>) -> Self {
        self.method = Some(m.into());
        self
    }
    pub fn status(mut self, s: u16) -> Self {
        self.status = Some(s);
        self
    }
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
    pub fn body(mut self, b: impl Into<String>) -> Self {
        self.body = Some(b.into());
        self
    }
    pub fn content_type(mut self, c: impl Into<String>) -> Self {
        self.content_type = Some(c.into());
        self
    }
    pub fn delay_ms(mut self, ms: u64) -> Self {
        self.delay_ms = Some(ms);
        self
    }
    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }
    pub fn reset(mut self) -> Self {
        self.reset = true;
        self
    }
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }

    fn matches(&self, listener: &str, method: &str, path: &str) -> bool {
        self.times != Some(0)
            && self.listener.as_deref().is_none_or(|l| l == listener)
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

/// Finds the first live matching fault, counts it down and returns a copy.
pub fn take(faults: &mut Vec<Fault>, listener: &str, method: &str, path: &str) -> Option<Fault> {
    let f = faults
        .iter_mut()
        .find(|f| f.matches(listener, method, path))?;
    if let Some(n) = f.times.as_mut() {
        *n -= 1;
    }
    let out = f.clone();
    faults.retain(|f| f.times != Some(0));
    Some(out)
}
