//! The token cache: short-lived Entra tokens and ACR refresh tokens, plus small facts that
//! save requests (a custom cloud's metadata, a missing VM metadata endpoint, whether a
//! host is an ACR-style registry). One JSON file, `$ACRCTL_CACHE_DIR/tokens.json` (else the
//! user's cache dir + `/acrctl`), 0600 in a 0700 directory, changed under a lock and
//! replaced atomically. It is disposable: a corrupt file is ignored and rebuilt, and a
//! failure to write it never fails a command.

use crate::error::AppError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Tokens are reused until this many seconds before they expire.
pub const EXPIRY_MARGIN_SECS: i64 = 300;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub value: String,
    /// Seconds since the epoch.
    pub expires_on: i64,
    /// Free-form facts kept with the entry (e.g. the tenant of a token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Document {
    version: u32,
    entries: BTreeMap<String, Entry>,
}

pub struct Cache {
    /// `None` when disabled (`--no-cache`, or no cache directory can be found).
    path: Option<PathBuf>,
}

impl Cache {
    pub fn new(dir: Option<PathBuf>, enabled: bool) -> Cache {
        Cache {
            path: if enabled {
                dir.map(|d| d.join("tokens.json"))
            } else {
                None
            },
        }
    }

    /// `$ACRCTL_CACHE_DIR`, else the user's cache dir + `/acrctl`.
    pub fn default_dir() -> Option<PathBuf> {
        std::env::var_os("ACRCTL_CACHE_DIR")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("acrctl")))
    }

    #[cfg(test)]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A valid entry: present and not within the margin of its expiry.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let path = self.path.as_ref()?;
        let doc = read(path);
        let entry = doc.entries.get(key)?;
        if entry.expires_on - EXPIRY_MARGIN_SECS > now() {
            crate::debug!("cache hit: {}", shown_key(key));
            Some(entry.clone())
        } else {
            None
        }
    }

    pub fn put(&self, key: &str, entry: Entry) {
        crate::log::register_secret(&entry.value);
        self.update(|doc| {
            doc.entries.insert(key.to_string(), entry);
        });
    }

    /// Drops the entries whose key matches; returns how many were dropped.
    pub fn remove_where(&self, mut matches: impl FnMut(&str) -> bool) -> usize {
        let mut removed = 0;
        self.update(|doc| {
            let before = doc.entries.len();
            doc.entries.retain(|k, _| !matches(k));
            removed = before - doc.entries.len();
        });
        removed
    }

    /// Every valid key (for `credential-helper list`).
    pub fn keys(&self) -> Vec<String> {
        self.expiries().into_iter().map(|(k, _)| k).collect()
    }

    /// Every valid entry's key and expiry (for `auth status`; values are left out).
    pub fn expiries(&self) -> Vec<(String, i64)> {
        let Some(path) = &self.path else {
            return Vec::new();
        };
        let now = now();
        read(path)
            .entries
            .into_iter()
            .filter(|(_, e)| e.expires_on > now)
            .map(|(k, e)| (k, e.expires_on))
            .collect()
    }

    /// Read-modify-write under the lock; expired entries are pruned on the way.
    fn update(&self, change: impl FnOnce(&mut Document)) {
        let Some(path) = &self.path else { return };
        if let Err(e) = self.try_update(path, change) {
            crate::debug!("the token cache was not updated: {}", e.one_line());
        }
    }

    fn try_update(&self, path: &Path, change: impl FnOnce(&mut Document)) -> Result<(), AppError> {
        let _lock = crate::fsutil::lock(path)?;
        let mut doc = read(path);
        let now = now();
        doc.entries.retain(|_, e| e.expires_on > now);
        change(&mut doc);
        doc.version = 1;
        let text = serde_json::to_vec(&doc).expect("the cache serializes");
        crate::fsutil::write_atomically(path, &text)
    }
}

fn read(path: &Path) -> Document {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Document>(&bytes) {
            Ok(doc) => doc,
            Err(_) => {
                crate::debug!(
                    "the token cache {} is corrupt; starting a new one",
                    path.display()
                );
                Document::default()
            }
        },
        Err(_) => Document::default(),
    }
}

/// Keys hold no secrets, but long ones are cut for the debug line.
fn shown_key(key: &str) -> String {
    key.chars().take(160).collect()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Cache keys, one function per kind so that every reader and writer agrees.
pub mod key {
    pub fn entra(authority: &str, identity: &str, resource: &str) -> String {
        format!(
            "entra|{}|{identity}|{}",
            authority.trim_end_matches('/'),
            resource.trim_end_matches('/')
        )
    }

    pub fn acr(authority: &str, identity: &str, server: &str) -> String {
        format!(
            "acr|{}|{identity}|{server}",
            authority.trim_end_matches('/')
        )
    }

    /// The login server of an `acr|…` key.
    pub fn acr_server(key: &str) -> Option<&str> {
        key.strip_prefix("acr|")
            .and_then(|rest| rest.rsplit('|').next())
    }

    pub fn cloud(arm_endpoint: &str) -> String {
        format!("cloud|{}", arm_endpoint.trim_end_matches('/'))
    }

    pub fn imds_miss(host: &str) -> String {
        format!("imds-miss|{host}")
    }

    pub fn registry_kind(host: &str) -> String {
        format!("registry-kind|{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(value: &str, in_secs: i64) -> Entry {
        Entry {
            value: value.into(),
            expires_on: now() + in_secs,
            tenant: None,
        }
    }

    #[test]
    fn put_get_and_expiry_margin() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().to_path_buf()), true);
        cache.put("a", entry("t1", 3600));
        cache.put("b", entry("t2", EXPIRY_MARGIN_SECS - 10));
        assert_eq!(cache.get("a").unwrap().value, "t1");
        assert!(
            cache.get("b").is_none(),
            "within the margin counts as expired"
        );
        assert!(cache.get("c").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().join("acrctl")), true);
        cache.put("a", entry("t1", 3600));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cache.path().unwrap()), 0o600);
        assert_eq!(mode(&dir.path().join("acrctl")), 0o700);
    }

    #[test]
    fn corrupt_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tokens.json"), "{not json").unwrap();
        let cache = Cache::new(Some(dir.path().to_path_buf()), true);
        assert!(cache.get("a").is_none());
        cache.put("a", entry("t1", 3600));
        assert_eq!(cache.get("a").unwrap().value, "t1");
    }

    #[test]
    fn disabled_cache_keeps_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().to_path_buf()), false);
        cache.put("a", entry("t1", 3600));
        assert!(cache.get("a").is_none());
        assert!(!dir.path().join("tokens.json").exists());
    }

    #[test]
    fn remove_where_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(Some(dir.path().to_path_buf()), true);
        cache.put(
            &key::acr("https://login", "env:t:c", "r1.azurecr.io"),
            entry("x", 3600),
        );
        cache.put(
            &key::acr("https://login", "env:t:c", "r2.azurecr.io"),
            entry("y", 3600),
        );
        assert_eq!(
            cache.remove_where(|k| key::acr_server(k) == Some("r1.azurecr.io")),
            1
        );
        let keys = cache.keys();
        assert_eq!(keys.len(), 1);
        assert_eq!(key::acr_server(&keys[0]), Some("r2.azurecr.io"));
    }
}
