//! Docker-format auth files: docker's `config.json`, podman's `auth.json` and helm's
//! registry `config.json` share the layout of docker/cli `cli/config/configfile/file.go`:
//! `auths[server] = {"auth": base64(user:password), "identitytoken": …}`, with
//! `credHelpers[server]` or `credsStore` naming a `docker-credential-*` helper instead.
//!
//! Every change is a read-modify-write under a lock file, written to a temporary file in
//! the same directory and renamed over the old one, mode 0600, following a symbolic link
//! to its target as docker does. Unknown keys and other registries' entries are kept; a
//! file that is not valid JSON is an error and is never overwritten.

use super::helper_process;
use crate::error::{AppError, Kind};
use crate::fsutil::{io_error, lock};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use std::fs;
use std::path::{Path, PathBuf};

/// What to store for a registry.
#[derive(Clone)]
pub enum Credential {
    /// An ACR refresh token, stored as docker stores identity tokens.
    IdentityToken(String),
    /// A username and password (admin user, ACR token credentials).
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::IdentityToken(_) => f.write_str("IdentityToken([REDACTED])"),
            Credential::Basic { username, .. } => write!(f, "Basic({username}, [REDACTED])"),
        }
    }
}

/// Where one store operation ended up.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// Written into the file's `auths`.
    File,
    /// Handed to `docker-credential-<helper>` (from `credHelpers` or `credsStore`).
    Helper { helper: String },
    /// `credHelpers[server]` is acrctl itself: nothing to write, the helper serves it.
    ServedByAcrctl,
}

pub struct AuthFile {
    path: PathBuf,
}

impl AuthFile {
    pub fn new(path: PathBuf) -> Self {
        AuthFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores credentials for several servers in one locked read-modify-write.
    pub fn store(&self, entries: &[(String, Credential)]) -> Result<Vec<Stored>, AppError> {
        let target = self.write_target()?;
        let _lock = lock(&target)?;
        let mut doc = read_document(&target)?;
        let mut outcomes = Vec::with_capacity(entries.len());
        let mut changed = false;
        for (server, credential) in entries {
            match configured_helper(&doc, server) {
                Some((helper, _)) if helper == "acrctl" => outcomes.push(Stored::ServedByAcrctl),
                Some((helper, key)) => {
                    let (username, secret) = match credential {
                        Credential::IdentityToken(t) => ("<token>".to_string(), t.clone()),
                        Credential::Basic { username, password } => {
                            (username.clone(), password.clone())
                        }
                    };
                    helper_process::store(&helper, key, &self.path, server, &username, &secret)?;
                    // docker keeps an empty `auths` entry for servers held by a native store.
                    let auths = object_entry(&mut doc, "auths", &self.path)?;
                    if !auths.contains_key(server) {
                        auths.insert(server.clone(), Value::Object(Map::new()));
                        changed = true;
                    }
                    outcomes.push(Stored::Helper { helper });
                }
                None => {
                    let entry = match credential {
                        Credential::IdentityToken(t) => serde_json::json!({
                            "auth": STANDARD.encode(format!("{}:", crate::acr::NULL_GUID_USERNAME)),
                            "identitytoken": t,
                        }),
                        Credential::Basic { username, password } => serde_json::json!({
                            "auth": STANDARD.encode(format!("{username}:{password}")),
                        }),
                    };
                    object_entry(&mut doc, "auths", &self.path)?.insert(server.clone(), entry);
                    changed = true;
                    outcomes.push(Stored::File);
                }
            }
        }
        if changed {
            write_document(&target, &doc)?;
        }
        Ok(outcomes)
    }

    /// Removes a server's credentials (the file entry and, where a helper holds them, the
    /// helper's copy). Returns whether anything was there.
    pub fn erase(&self, server: &str) -> Result<bool, AppError> {
        let target = self.write_target()?;
        if !target.exists() {
            return Ok(false);
        }
        let _lock = lock(&target)?;
        let mut doc = read_document(&target)?;
        let mut found = false;
        if let Some((helper, key)) = configured_helper(&doc, server) {
            if helper != "acrctl" {
                found |= helper_process::erase(&helper, key, &self.path, server)?;
            }
        }
        if let Some(Value::Object(auths)) = doc.get_mut("auths") {
            if auths.remove(server).is_some() {
                found = true;
                write_document(&target, &doc)?;
            }
        }
        Ok(found)
    }

    /// Points `credHelpers[server]` at `helper`, or with `None` removes the entry when it
    /// names acrctl. Returns whether the file changed.
    pub fn set_cred_helper(&self, server: &str, helper: Option<&str>) -> Result<bool, AppError> {
        let target = self.write_target()?;
        let _lock = lock(&target)?;
        let mut doc = read_document(&target)?;
        let changed = match helper {
            Some(h) => {
                let helpers = object_entry(&mut doc, "credHelpers", &self.path)?;
                let old = helpers.insert(server.to_string(), Value::String(h.to_string()));
                old.as_ref().and_then(Value::as_str) != Some(h)
            }
            None => match doc.get_mut("credHelpers").and_then(Value::as_object_mut) {
                Some(helpers) if helpers.get(server).and_then(Value::as_str) == Some("acrctl") => {
                    helpers.remove(server).is_some()
                }
                _ => false,
            },
        };
        if changed {
            write_document(&target, &doc)?;
        }
        Ok(changed)
    }

    /// The file to write: the path itself, or the target of the symbolic link it is.
    fn write_target(&self) -> Result<PathBuf, AppError> {
        let mut path = self.path.clone();
        for _ in 0..16 {
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    let link = fs::read_link(&path)
                        .map_err(|e| io_error("read the symbolic link", &path, &e))?;
                    path = if link.is_absolute() {
                        link
                    } else {
                        path.parent().unwrap_or(Path::new(".")).join(link)
                    };
                }
                _ => return Ok(path),
            }
        }
        Err(AppError::new(
            Kind::Failure,
            format!("{} is a loop of symbolic links.", self.path.display()),
        ))
    }
}

/// `credHelpers[server]` first, else `credsStore` (docker/cli `getConfiguredCredentialStore`).
fn configured_helper(doc: &Value, server: &str) -> Option<(String, &'static str)> {
    if let Some(h) = doc
        .get("credHelpers")
        .and_then(|m| m.get(server))
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
    {
        return Some((h.to_string(), "credHelpers"));
    }
    doc.get("credsStore")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map(|h| (h.to_string(), "credsStore"))
}

fn object_entry<'a>(
    doc: &'a mut Value,
    key: &str,
    path: &Path,
) -> Result<&'a mut Map<String, Value>, AppError> {
    let map = doc
        .as_object_mut()
        .expect("read_document returns an object");
    let entry = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    entry.as_object_mut().ok_or_else(|| {
        AppError::new(
            Kind::Failure,
            format!(
                "{}: \"{key}\" is not a JSON object; acrctl will not overwrite it.",
                path.display()
            ),
        )
        .hint(format!("Fix or remove the \"{key}\" key of that file."))
    })
}

/// Reads the file as a JSON object; a missing or empty file is an empty object.
fn read_document(path: &Path) -> Result<Value, AppError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Value::Object(Map::new())),
        Err(e) => return Err(io_error("read", path, &e)),
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(malformed(path, "it is not a JSON object")),
        Err(e) => Err(malformed(
            path,
            &format!(
                "line {}, column {}: {}",
                e.line(),
                e.column(),
                short_json_error(&e)
            ),
        )),
    }
}

fn short_json_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn malformed(path: &Path, why: &str) -> AppError {
    AppError::new(
        Kind::Failure,
        format!(
            "{} is not valid JSON ({why}); acrctl did not change it.",
            path.display()
        ),
    )
    .hint("Fix the file by hand, or move it away and log in again.")
}

/// docker writes its config indented with tabs; two spaces read the same to every client.
fn write_document(target: &Path, doc: &Value) -> Result<(), AppError> {
    let mut text = serde_json::to_string_pretty(doc).expect("a JSON value serializes");
    text.push('\n');
    crate::fsutil::write_atomically(target, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(dir: &tempfile::TempDir, content: &str) -> AuthFile {
        let path = dir.path().join("config.json");
        fs::write(&path, content).unwrap();
        AuthFile::new(path)
    }

    fn read(f: &AuthFile) -> Value {
        serde_json::from_str(&fs::read_to_string(f.path()).unwrap()).unwrap()
    }

    #[test]
    fn identity_token_entry_keeps_other_keys_and_entries() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(
            &dir,
            r#"{"auths":{"other.io":{"auth":"eDp5"}},"proxies":{"default":{"httpProxy":"p"}},"currentContext":"x"}"#,
        );
        let out = f
            .store(&[(
                "r.azurecr.io".into(),
                Credential::IdentityToken("RT".into()),
            )])
            .unwrap();
        assert_eq!(out, vec![Stored::File]);
        let v = read(&f);
        assert_eq!(v["auths"]["other.io"]["auth"], "eDp5");
        assert_eq!(v["proxies"]["default"]["httpProxy"], "p");
        assert_eq!(v["currentContext"], "x");
        assert_eq!(v["auths"]["r.azurecr.io"]["identitytoken"], "RT");
        assert_eq!(
            v["auths"]["r.azurecr.io"]["auth"],
            STANDARD.encode("00000000-0000-0000-0000-000000000000:")
        );
    }

    #[cfg(unix)]
    #[test]
    fn written_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = AuthFile::new(dir.path().join("sub/config.json"));
        f.store(&[(
            "r.io".into(),
            Credential::Basic {
                username: "u".into(),
                password: "p".into(),
            },
        )])
        .unwrap();
        assert_eq!(
            fs::metadata(f.path()).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read(&f)["auths"]["r.io"]["auth"], STANDARD.encode("u:p"));
    }

    #[test]
    fn malformed_file_is_an_error_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, "{\"auths\": {");
        let err = f
            .store(&[("r.io".into(), Credential::IdentityToken("RT".into()))])
            .unwrap_err();
        assert!(err.message.contains("config.json"), "{}", err.message);
        assert!(err.message.contains("not valid JSON"), "{}", err.message);
        assert_eq!(fs::read_to_string(f.path()).unwrap(), "{\"auths\": {");
        let f = file_with(&dir, "[1]");
        assert!(f
            .store(&[("r.io".into(), Credential::IdentityToken("RT".into()))])
            .is_err());
    }

    #[test]
    fn acrctl_helper_means_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let content = r#"{"credHelpers":{"r.io":"acrctl"}}"#;
        let f = file_with(&dir, content);
        assert_eq!(
            f.store(&[("r.io".into(), Credential::IdentityToken("RT".into()))])
                .unwrap(),
            vec![Stored::ServedByAcrctl]
        );
        assert_eq!(fs::read_to_string(f.path()).unwrap(), content);
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_config_is_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        fs::write(&real, "{}").unwrap();
        let link = dir.path().join("config.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        AuthFile::new(link.clone())
            .store(&[("r.io".into(), Credential::IdentityToken("RT".into()))])
            .unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let v: Value = serde_json::from_str(&fs::read_to_string(&real).unwrap()).unwrap();
        assert_eq!(v["auths"]["r.io"]["identitytoken"], "RT");
    }

    #[test]
    fn erase_removes_only_that_entry() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(
            &dir,
            r#"{"auths":{"a.io":{"auth":"x"},"b.io":{"auth":"y"}}}"#,
        );
        assert!(f.erase("a.io").unwrap());
        assert!(!f.erase("a.io").unwrap());
        let v = read(&f);
        assert!(v["auths"].get("a.io").is_none());
        assert_eq!(v["auths"]["b.io"]["auth"], "y");
    }

    #[test]
    fn non_object_auths_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&dir, r#"{"auths":[]}"#);
        assert!(f
            .store(&[("r.io".into(), Credential::IdentityToken("RT".into()))])
            .is_err());
    }
}
