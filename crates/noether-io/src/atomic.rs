//! Atomic file replacement.
//!
//! Results files are written by long runs; a crash or a full disk in the middle
//! of a write must never leave a half-written file where a reader expects a
//! complete one. The discipline is the usual one: write everything to a fresh
//! temporary file *in the same directory* (so the final rename cannot cross a
//! filesystem), `fsync` it, rename it over the target (atomic on POSIX), and
//! then `fsync` the directory so the rename itself is durable. If anything
//! fails before the rename, the temporary file is removed and the target is
//! left exactly as it was.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::IoError;

/// Atomically replaces (or creates) `path` with `bytes`.
///
/// Either the whole new content is in place when this returns `Ok`, or `path`
/// is untouched and no temporary file is left behind. The parent directory
/// must already exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_atomic_with(path, |file| file.write_all(bytes).map_err(|e| IoError::io_write(path, "writing", e)))
}

/// Atomically replaces `path` with whatever `fill` writes into the temporary file.
///
/// `fill` receives the open temporary file (positioned at the start) and reports
/// its own errors; this function handles creation, `fsync`, rename and cleanup.
pub(crate) fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), IoError>,
) -> Result<(), IoError> {
    let file_name = path.file_name().ok_or_else(|| IoError::InvalidInput {
        file: path.to_path_buf(),
        reason: "the path does not name a file".to_string(),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let (mut file, temp) = create_temp(&dir, &file_name.to_string_lossy(), path)?;
    let guard = TempGuard(Some(temp.clone()));

    let written = fill(&mut file)
        .and_then(|()| file.sync_all().map_err(|e| IoError::io_write(path, "flushing temporary file to disk", e)));
    // Close before removing or renaming (required on Windows).
    drop(file);
    written?;
    fs::rename(&temp, path).map_err(|e| IoError::io_write(path, "renaming temporary file into place", e))?;
    guard.disarm();
    sync_dir(&dir);
    Ok(())
}

/// Creates a new, uniquely named hidden file `.<name>.tmp-<pid>-<n>` in `dir`.
fn create_temp(dir: &Path, name: &str, target: &Path) -> Result<(File, PathBuf), IoError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut attempts = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.tmp-{pid}-{n}"));
        match OpenOptions::new().write(true).create_new(true).open(&temp) {
            Ok(f) => return Ok((f, temp)),
            // A stale file from a crashed process with a recycled pid: try another name.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 100 => {
                attempts += 1;
            }
            Err(e) => {
                return Err(IoError::io_write(target, "creating temporary file in the target directory", e));
            }
        }
    }
}

/// Makes a completed rename durable. Best effort: some platforms and
/// filesystems do not allow opening or syncing a directory, and the data
/// itself is already safely on disk at this point.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Removes the temporary file on drop unless disarmed (i.e. on every error path).
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}
