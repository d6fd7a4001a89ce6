//! `acrctl configure-docker -n REG…` (what `gcloud auth configure-docker` is to GCR):
//! installs the `docker-credential-acrctl` link and points `credHelpers` at it, so docker
//! (and podman) ask acrctl for a token on every pull, and nobody logs in again.

use crate::cli::{ConfigureDockerArgs, Target};
use crate::context::Context;
use crate::error::{AppError, Kind};
use crate::stores::auth_file::AuthFile;
use crate::stores::Client;
use std::path::{Path, PathBuf};

pub const HELPER_NAME: &str = "docker-credential-acrctl";

pub async fn run(ctx: &Context, args: ConfigureDockerArgs) -> Result<u8, AppError> {
    let servers = crate::commands::login::login_servers(ctx, &args.names, None).await?;
    let mut clients = Vec::new();
    for t in &args.targets {
        match t {
            Target::Docker => clients.push(Client::Docker),
            Target::Podman => clients.push(Client::Podman),
            Target::All => clients.extend([Client::Docker, Client::Podman]),
            Target::Helm => {
                return Err(AppError::usage(
                    "helm has no credential helpers; use `acrctl login --target helm`.",
                ))
            }
        }
    }
    clients.sort();
    clients.dedup();

    let link = if args.remove {
        None
    } else {
        Some(install_link(args.link_dir.as_deref())?)
    };
    let mut files = Vec::new();
    for client in &clients {
        let file = AuthFile::new(ctx.locations.auth_file(*client)?);
        for server in &servers {
            file.set_cred_helper(server, if args.remove { None } else { Some("acrctl") })?;
        }
        files.push(file.path().display().to_string());
    }
    if let Some(link) = &link {
        crate::log::info(&format!(
            "docker and podman now ask {} for tokens to {}.",
            link.display(),
            servers.join(", ")
        ));
    }
    let data = serde_json::json!({
        "helper": link.as_ref().map(|l| l.display().to_string()),
        "registries": servers,
        "files": files,
        "removed": args.remove,
    });
    ctx.printer.print(&data)?;
    Ok(0)
}

/// Links `docker-credential-acrctl` to this binary: next to it when that directory is
/// writable, else in the first writable directory on PATH. An existing file of that
/// name that is not acrctl is left alone.
fn install_link(preferred: Option<&Path>) -> Result<PathBuf, AppError> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| {
            AppError::new(
                Kind::Failure,
                format!("Cannot find acrctl's own path: {e}."),
            )
        })?;
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = preferred {
        candidates.push(dir.to_path_buf());
    } else {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.to_path_buf());
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path));
        }
    }
    let mut tried = Vec::new();
    for dir in candidates {
        let link = dir.join(HELPER_NAME);
        if link.exists() || link.symlink_metadata().is_ok() {
            if link.canonicalize().ok().as_deref() == Some(exe.as_path()) {
                return Ok(link);
            }
            tried.push(format!("{} exists and is not acrctl", link.display()));
            continue;
        }
        #[cfg(unix)]
        let made = std::os::unix::fs::symlink(&exe, &link);
        #[cfg(not(unix))]
        let made = std::fs::copy(&exe, &link).map(|_| ());
        match made {
            Ok(()) => {
                if !on_path(&dir) {
                    crate::log::warn(&format!(
                        "{} is not on PATH; add it, or docker will not find {HELPER_NAME}.",
                        dir.display()
                    ));
                }
                return Ok(link);
            }
            Err(e) => tried.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(AppError::new(Kind::Failure, format!("Could not install {HELPER_NAME}: {}.", tried.join("; ")))
        .hint(format!("Create it by hand: ln -s {} ~/.local/bin/{HELPER_NAME} (a directory on PATH), or pass --link-dir.", exe.display())))
}

fn on_path(dir: &Path) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d == dir))
        .unwrap_or(false)
}
