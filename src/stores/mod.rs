//! Where credentials go: docker's, podman's and helm's auth files, and the
//! `docker-credential-*` helpers they name.

pub mod auth_file;
pub mod helper_process;

use crate::error::AppError;
use std::path::PathBuf;

/// A client whose auth file acrctl writes (`--target`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Client {
    Docker,
    Podman,
    Helm,
}

/// The places each client reads, from the environment acrctl was started in.
#[derive(Clone, Debug, Default)]
pub struct Locations {
    pub docker_config: Option<PathBuf>,
    pub registry_auth_file: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub helm_registry_config: Option<PathBuf>,
    pub helm_config_home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Locations {
    pub fn from_process() -> Self {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Locations {
            docker_config: var("DOCKER_CONFIG"),
            registry_auth_file: var("REGISTRY_AUTH_FILE"),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR"),
            helm_registry_config: var("HELM_REGISTRY_CONFIG"),
            helm_config_home: var("HELM_CONFIG_HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            home: dirs::home_dir(),
        }
    }

    /// docker: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    /// podman: `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`.
    /// helm: `$HELM_REGISTRY_CONFIG`, else its config home + `registry/config.json`.
    pub fn auth_file(&self, client: Client) -> Result<PathBuf, AppError> {
        let no_home = || {
            AppError::usage("The home directory is unknown (HOME is not set).")
                .hint("Set HOME, or DOCKER_CONFIG / REGISTRY_AUTH_FILE / HELM_REGISTRY_CONFIG.")
        };
        match client {
            Client::Docker => match &self.docker_config {
                Some(dir) => Ok(dir.join("config.json")),
                None => Ok(self.home.as_ref().ok_or_else(no_home)?.join(".docker").join("config.json")),
            },
            Client::Podman => match (&self.registry_auth_file, &self.xdg_runtime_dir) {
                (Some(file), _) => Ok(file.clone()),
                (None, Some(dir)) => Ok(dir.join("containers").join("auth.json")),
                (None, None) => Err(AppError::usage("Podman's auth file is unknown: neither REGISTRY_AUTH_FILE nor XDG_RUNTIME_DIR is set.")
                    .hint("Set REGISTRY_AUTH_FILE to the auth.json podman should read (see `podman login --help`, --authfile).")),
            },
            Client::Helm => {
                if let Some(file) = &self.helm_registry_config {
                    return Ok(file.clone());
                }
                let config_home = match (&self.helm_config_home, &self.xdg_config_home) {
                    (Some(h), _) => h.clone(),
                    (None, Some(x)) => x.join("helm"),
                    (None, None) => self.home.as_ref().ok_or_else(no_home)?.join(".config").join("helm"),
                };
                Ok(config_home.join("registry").join("config.json"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_paths() {
        let l = Locations {
            home: Some("/home/u".into()),
            ..Default::default()
        };
        assert_eq!(
            l.auth_file(Client::Docker).unwrap(),
            PathBuf::from("/home/u/.docker/config.json")
        );
        assert_eq!(
            l.auth_file(Client::Helm).unwrap(),
            PathBuf::from("/home/u/.config/helm/registry/config.json")
        );
        assert!(l.auth_file(Client::Podman).is_err());
    }

    #[test]
    fn environment_overrides() {
        let l = Locations {
            docker_config: Some("/d".into()),
            xdg_runtime_dir: Some("/run/user/1000".into()),
            helm_registry_config: Some("/h.json".into()),
            home: Some("/home/u".into()),
            ..Default::default()
        };
        assert_eq!(
            l.auth_file(Client::Docker).unwrap(),
            PathBuf::from("/d/config.json")
        );
        assert_eq!(
            l.auth_file(Client::Podman).unwrap(),
            PathBuf::from("/run/user/1000/containers/auth.json")
        );
        assert_eq!(l.auth_file(Client::Helm).unwrap(), PathBuf::from("/h.json"));
        let l = Locations {
            registry_auth_file: Some("/a.json".into()),
            ..l
        };
        assert_eq!(
            l.auth_file(Client::Podman).unwrap(),
            PathBuf::from("/a.json")
        );
    }
}
