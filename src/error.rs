//! The one place where failures become what a user sees: a one-line `ERROR:` message,
//! an optional hint naming the fix, and an exit code that scripts can rely on
//! (README, "Exit codes"; cli-contract.md, "Output").

use std::fmt;

/// What kind of failure this is; decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 1: anything not listed below.
    Failure,
    /// 2: bad flags, bad names, missing input.
    Usage,
    /// 3: registry, cluster, resource group or namespace not found.
    NotFound,
    /// 4: Entra, ARM, registry or Kubernetes refused the identity.
    Auth,
    /// 5: DNS, connection, timeout or TLS.
    Network,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Failure => 1,
            Kind::Usage => 2,
            Kind::NotFound => 3,
            Kind::Auth => 4,
            Kind::Network => 5,
        }
    }
}

/// A user-facing error. Layers produce their own error types; `From` impls in those
/// modules turn them into this, with the message and the hint written once.
#[derive(Debug)]
pub struct AppError {
    pub kind: Kind,
    pub message: String,
    pub hint: Option<String>,
    /// Lower-level causes, shown with `--debug` (already free of secrets).
    pub causes: Vec<String>,
}

impl AppError {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        AppError {
            kind,
            message: message.into(),
            hint: None,
            causes: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Kind::Usage, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn cause(mut self, cause: impl Into<String>) -> Self {
        self.causes.push(cause.into());
        self
    }

    /// Records the whole `source()` chain of a lower-level error as causes.
    pub fn caused_by(mut self, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = current {
            let text = e.to_string();
            if !text.is_empty() && self.causes.last() != Some(&text) {
                self.causes.push(text);
            }
            current = e.source();
        }
        self
    }

    /// The one-line form: message and, when present, the hint.
    pub fn one_line(&self) -> String {
        match &self.hint {
            Some(h) => format!("{} {}", self.message, h),
            None => self.message.clone(),
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

impl std::error::Error for AppError {}

/// Classifies a transport error from reqwest (or anything wrapping one) as a network
/// failure with a message that names what went wrong and where.
pub fn network_error(what: &str, url: &str, err: &(dyn std::error::Error + 'static)) -> AppError {
    let chain = error_chain(err);
    let lower = chain.to_lowercase();
    let (message, hint) = if lower.contains("dns error")
        || lower.contains("failed to lookup address")
        || lower.contains("name or service not known")
        || lower.contains("no address associated")
    {
        (
            format!("{what}: the host name in {url} could not be resolved (DNS)."),
            "Check the name for typos; a private registry needs DNS for its private endpoint.",
        )
    } else if lower.contains("connection reset")
        || lower.contains("connection closed")
        || lower.contains("incomplete message")
        || lower.contains("close_notify")
        || lower.contains("unexpected eof")
    {
        (
            format!("{what}: {url} closed the connection without an answer."),
            "Try again; if it persists, check proxies and firewalls on the way.",
        )
    } else if lower.contains("certificate")
        || lower.contains("invalidcertificate")
        || lower.contains("tls")
        || lower.contains("handshake")
    {
        (
            format!(
                "{what}: the TLS connection to {url} failed ({}).",
                last_cause(err)
            ),
            "If a proxy inspects TLS, point SSL_CERT_FILE at a PEM bundle that holds its CA.",
        )
    } else if lower.contains("timed out") || lower.contains("timeout") {
        (
            format!("{what}: {url} did not answer in time."),
            "Check network access to the host (firewall, proxy: HTTPS_PROXY/NO_PROXY); ACRCTL_TIMEOUT sets the limit in seconds.",
        )
    } else if lower.contains("connection refused") {
        (
            format!("{what}: the connection to {url} was refused."),
            "Check the host and port, and that the service is up.",
        )
    } else {
        (
            format!("{what}: could not reach {url} ({}).", last_cause(err)),
            "Check network access to the host (firewall, proxy: HTTPS_PROXY/NO_PROXY).",
        )
    };
    AppError::new(Kind::Network, message)
        .hint(hint)
        .caused_by(err)
}

/// Every message of an error's `source()` chain, one per line.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        out.push_str(&e.to_string());
        out.push('\n');
        current = e.source();
    }
    out
}

fn last_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: &(dyn std::error::Error + 'static) = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_stable() {
        assert_eq!(Kind::Failure.exit_code(), 1);
        assert_eq!(Kind::Usage.exit_code(), 2);
        assert_eq!(Kind::NotFound.exit_code(), 3);
        assert_eq!(Kind::Auth.exit_code(), 4);
        assert_eq!(Kind::Network.exit_code(), 5);
    }

    #[test]
    fn one_line_joins_message_and_hint() {
        let e = AppError::usage("bad name.").hint("Use -n myregistry.");
        assert_eq!(e.one_line(), "bad name. Use -n myregistry.");
    }

    #[test]
    fn io_errors_are_classified_as_network() {
        let io = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let e = network_error("Registry challenge", "https://127.0.0.1:1/v2/", &io);
        assert_eq!(e.kind, Kind::Network);
        assert!(e.message.contains("refused"), "{}", e.message);
    }
}
