//! File handling shared by every file acrctl writes (auth files, the token cache): an
//! exclusive lock file beside the target, private directories, and atomic replacement
//! (temporary file in the same directory, 0600, flushed, renamed), so that a reader sees
//! the old file or the new one and never a part, even if the process is killed.

use crate::error::{AppError, Kind};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

pub fn io_error(action: &str, path: &Path, e: &std::io::Error) -> AppError {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
            "Check the permissions of the file and its directory, or point the matching variable (DOCKER_CONFIG, REGISTRY_AUTH_FILE, HELM_REGISTRY_CONFIG, ACRCTL_CACHE_DIR) elsewhere."
        }
        std::io::ErrorKind::StorageFull => "The disk is full; free some space and try again.",
        _ => "Check the path and its directory.",
    };
    AppError::new(
        Kind::Failure,
        format!("Could not {action} {}: {e}.", path.display()),
    )
    .hint(hint)
}

/// An exclusive lock on `<file>.lock` beside the file, held until the returned file is
/// dropped. The lock file is never removed (removing it would let two processes lock two
/// different files).
pub fn lock(target: &Path) -> Result<File, AppError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = dir.join(name);
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(&lock_path)
        .map_err(|e| io_error("create the lock file", &lock_path, &e))?;
    file.lock().map_err(|e| io_error("lock", &lock_path, &e))?;
    Ok(file)
}

/// Creates a directory (and its parents) with mode 0700 where it does not exist yet.
pub fn create_private_dir(dir: &Path) -> Result<(), AppError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| io_error("create the directory", dir, &e))
}

/// Replaces `target` with `bytes` atomically, mode 0600.
pub fn write_atomically(target: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".acrctl-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| io_error("create a temporary file beside", target, &e))?;
    tmp.write_all(bytes)
        .map_err(|e| io_error("write a temporary file beside", target, &e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| io_error("flush a temporary file beside", target, &e))?;
    tmp.persist(target)
        .map_err(|e| io_error("replace", target, &e.error))?;
    Ok(())
}
