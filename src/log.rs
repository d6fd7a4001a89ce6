//! `--debug` output on stderr, with secrets redacted before anything is printed.
//!
//! Two nets catch secrets: every value known to be secret (client secrets, passwords,
//! tokens) is registered with [`register_secret`] when it enters the process, and
//! anything shaped like a JWT is masked whether registered or not.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static DEBUG: AtomicBool = AtomicBool::new(false);
static QUIET: AtomicBool = AtomicBool::new(false);
static SECRETS: Mutex<Vec<String>> = Mutex::new(Vec::new());

pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// `--only-show-errors`: warnings are dropped, errors still go out.
pub fn set_quiet(on: bool) {
    QUIET.store(on, Ordering::Relaxed);
}

/// Remembers a secret value so that no later output can show it.
pub fn register_secret(value: &str) {
    if value.len() < 4 {
        return;
    }
    let mut secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
    if !secrets.iter().any(|s| s == value) {
        secrets.push(value.to_string());
    }
}

/// Masks registered secrets and JWT-shaped strings.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    {
        let secrets = SECRETS.lock().unwrap_or_else(|e| e.into_inner());
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[REDACTED]");
            }
        }
    }
    mask_jwts(&out)
}

/// A JWT is three base64url segments joined by dots, the first starting with `eyJ`.
fn mask_jwts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let len = candidate
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .unwrap_or(candidate.len());
        let token = &candidate[..len];
        if token.matches('.').count() >= 2 && len > 20 {
            out.push_str("[REDACTED-JWT]");
        } else {
            out.push_str(token);
        }
        rest = &candidate[len..];
    }
    out.push_str(rest);
    out
}

pub fn debug(message: &str) {
    if debug_enabled() {
        eprintln!("DEBUG: {}", redact(message));
    }
}

pub fn warn(message: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("WARNING: {}", redact(message));
    }
}

/// Progress and notes for a person; silenced by `--only-show-errors`.
pub fn info(message: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        eprintln!("{}", redact(message));
    }
}

pub fn error(message: &str) {
    eprintln!("ERROR: {}", redact(message));
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::debug_enabled() {
            $crate::log::debug(&format!($($arg)*));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_and_jwts_are_masked() {
        register_secret("s3cr3t-value");
        let text =
            "secret=s3cr3t-value token=eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl end";
        let out = redact(text);
        assert!(!out.contains("s3cr3t-value"), "{out}");
        assert!(!out.contains("eyJzdWIiOiJ4In0"), "{out}");
        assert!(out.ends_with(" end"), "{out}");
    }

    #[test]
    fn short_eyj_words_stay() {
        assert_eq!(mask_jwts("eyJ is not a token"), "eyJ is not a token");
    }
}
