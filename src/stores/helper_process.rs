//! Talking to `docker-credential-<name>` programs (docker/docker-credential-helpers,
//! `credentials/credentials.go`): one argument (`store`, `get`, `erase`), the payload on
//! stdin, the answer or the error message on stdout with exit status 1. Secrets travel on
//! stdin only, never in argv.

use crate::error::{AppError, Kind};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// docker's answer for "nothing stored for this server".
const NOT_FOUND: &str = "credentials not found in native keychain";

pub fn store(
    helper: &str,
    key: &str,
    config: &Path,
    server: &str,
    username: &str,
    secret: &str,
) -> Result<(), AppError> {
    let payload = serde_json::json!({"ServerURL": server, "Username": username, "Secret": secret})
        .to_string();
    run(helper, key, config, "store", &payload).map(|_| ())
}

/// Returns whether the helper had something to erase.
pub fn erase(helper: &str, key: &str, config: &Path, server: &str) -> Result<bool, AppError> {
    match run(helper, key, config, "erase", server) {
        Ok(_) => Ok(true),
        Err(e) if e.message.contains(NOT_FOUND) => Ok(false),
        Err(e) => Err(e),
    }
}

fn run(
    helper: &str,
    key: &str,
    config: &Path,
    action: &str,
    stdin: &str,
) -> Result<String, AppError> {
    let program = format!("docker-credential-{helper}");
    crate::debug!(
        "running {program} {action} (for {key} in {})",
        config.display()
    );
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let why = if e.kind() == std::io::ErrorKind::NotFound { "is not on PATH".to_string() } else { format!("could not be started ({e})") };
            AppError::new(Kind::Failure, format!("The credential helper {program} named by \"{key}\" in {} {why}.", config.display())).hint(format!(
                "Install {program}, or remove \"{key}\" from that file so that acrctl stores the token in the file itself."
            ))
        })?;
    if let Some(mut input) = child.stdin.take() {
        // A helper that exits without reading gives EPIPE here; its exit status tells more.
        let _ = input.write_all(stdin.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| AppError::new(Kind::Failure, format!("{program} {action} failed: {e}.")))?;
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    let said = if stdout.is_empty() { stderr } else { stdout };
    let said = crate::log::redact(said.lines().next().unwrap_or(""));
    Err(AppError::new(Kind::Failure, format!("The credential helper {program} (\"{key}\" in {}) failed to {action}: {said}", config.display()))
        .hint(format!("Fix the helper (e.g. unlock its keyring), or remove \"{key}\" from that file so that acrctl stores the token in the file itself.")))
}
