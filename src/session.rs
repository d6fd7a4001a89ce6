//! The session of `acrctl auth login`: the signed-in user's Entra refresh token and who
//! they are, kept apart from the disposable token cache (cli-contract.md, "Files acrctl
//! keeps"): `$ACRCTL_STATE_DIR/session.json`, else `acrctl/` in the user's state (or
//! local data) dir; 0600 in a 0700 directory, changed under a lock, replaced atomically.
//! Only `auth logout` removes it; a corrupt file is an error that says to sign in again.

use crate::error::{AppError, Kind};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "session.json";

/// What `auth login` keeps. `refresh_token` is a secret; everything else may be shown.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub version: u32,
    /// Entra's login endpoint the refresh token belongs to, e.g. `https://login.microsoftonline.com/`.
    pub authority: String,
    /// The user's home tenant (the `tid` claim); later requests go to it.
    pub tenant: String,
    pub client_id: String,
    /// `preferred_username`/`upn`, for people.
    pub user: String,
    pub object_id: String,
    /// Extra scopes asked for at sign-in (`--scope`).
    #[serde(default)]
    pub scopes: Vec<String>,
    pub refresh_token: String,
    /// Seconds since the epoch.
    pub signed_in_at: i64,
    #[serde(default)]
    pub refreshed_at: i64,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("user", &self.user)
            .field("object_id", &self.object_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The identity its tokens are cached under.
    pub fn identity(&self) -> String {
        identity(&self.tenant, &self.object_id)
    }

    /// Whether the session belongs to this login endpoint.
    pub fn same_authority(&self, authority: &str) -> bool {
        self.authority.trim_end_matches('/') == authority.trim_end_matches('/')
    }
}

pub fn identity(tenant: &str, object_id: &str) -> String {
    format!("session:{tenant}:{object_id}")
}

/// The marker every cache key of a session identity carries (`…|session:T:O|…`).
pub const CACHE_MARKER: &str = "|session:";

/// `$ACRCTL_STATE_DIR`, else the user's state dir (Linux: `~/.local/state`), else the
/// local data dir (macOS, Windows), + `/acrctl`.
pub fn default_dir() -> Option<PathBuf> {
    std::env::var_os("ACRCTL_STATE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            dirs::state_dir()
                .or_else(dirs::data_local_dir)
                .map(|d| d.join("acrctl"))
        })
}

#[derive(Clone, Debug)]
pub struct Store {
    path: Option<PathBuf>,
}

impl Store {
    pub fn new(dir: Option<PathBuf>) -> Store {
        Store {
            path: dir.map(|d| d.join(FILE_NAME)),
        }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn require_path(&self) -> Result<&Path, AppError> {
        self.path.as_deref().ok_or_else(|| {
            AppError::new(
                Kind::Failure,
                "No directory for the acrctl session: neither ACRCTL_STATE_DIR nor a home directory is set.",
            )
            .hint("Set ACRCTL_STATE_DIR to a private directory.")
        })
    }

    /// The session, `None` when nobody signed in; a corrupt file is an error.
    pub fn load(&self) -> Result<Option<Session>, AppError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(crate::fsutil::io_error("read", path, &e)),
        };
        match serde_json::from_slice::<Session>(&bytes) {
            Ok(s) if !s.refresh_token.is_empty() => {
                crate::log::register_secret(&s.refresh_token);
                Ok(Some(s))
            }
            _ => Err(corrupt(path)),
        }
    }

    /// Holds the session's lock until the returned file is dropped.
    pub fn lock(&self) -> Result<std::fs::File, AppError> {
        crate::fsutil::lock(self.require_path()?)
    }

    /// Writes the session; the caller holds the lock.
    pub fn save_locked(&self, session: &Session) -> Result<(), AppError> {
        let path = self.require_path()?;
        crate::log::register_secret(&session.refresh_token);
        let text = serde_json::to_vec_pretty(session).expect("a session serializes");
        crate::fsutil::write_atomically(path, &text)
    }

    pub fn save(&self, session: &Session) -> Result<(), AppError> {
        let _lock = self.lock()?;
        self.save_locked(session)
    }

    /// Removes the session file; returns the session it held (`Err` inside when the file
    /// was corrupt, which is removed all the same), `None` when there was none.
    pub fn remove(&self) -> Result<Option<Result<Session, AppError>>, AppError> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let _lock = self.lock()?;
        let found = match self.load() {
            Ok(None) => return Ok(None),
            Ok(Some(s)) => Ok(s),
            Err(e) => Err(e),
        };
        std::fs::remove_file(path).map_err(|e| crate::fsutil::io_error("remove", path, &e))?;
        Ok(Some(found))
    }
}

fn corrupt(path: &Path) -> AppError {
    AppError::new(
        Kind::Auth,
        format!(
            "The acrctl session file {} is corrupt or from an unknown version.",
            path.display()
        ),
    )
    .hint("Run `acrctl auth login` again (`acrctl auth logout` removes the file).")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Session {
        Session {
            version: 1,
            authority: "https://login.example/".into(),
            tenant: "t1".into(),
            client_id: "c1".into(),
            user: "dev@example".into(),
            object_id: "o1".into(),
            scopes: vec![],
            refresh_token: "rt-secret-value".into(),
            signed_in_at: 1,
            refreshed_at: 1,
        }
    }

    #[test]
    fn save_load_remove_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(Some(dir.path().join("acrctl")));
        assert!(store.load().unwrap().is_none());
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap().unwrap(), sample());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(store.path().unwrap()), 0o600);
            assert_eq!(mode(&dir.path().join("acrctl")), 0o700);
        }
        assert!(store.remove().unwrap().unwrap().is_ok());
        assert!(store.load().unwrap().is_none());
        assert!(store.remove().unwrap().is_none());
    }

    #[test]
    fn corrupt_session_says_sign_in_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "{nope").unwrap();
        let store = Store::new(Some(dir.path().to_path_buf()));
        let err = store.load().unwrap_err();
        assert_eq!(err.kind, Kind::Auth);
        assert!(err.one_line().contains("acrctl auth login"));
        assert!(store.remove().unwrap().unwrap().is_err());
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    #[test]
    fn debug_hides_the_refresh_token() {
        assert!(!format!("{:?}", sample()).contains("rt-secret-value"));
    }
}
