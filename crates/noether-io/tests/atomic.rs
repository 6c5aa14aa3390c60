//! `write_atomic`: complete replacement or nothing, and no temporary files left.

use noether_io::{IoError, write_atomic};

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn creates_and_replaces_without_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    write_atomic(&path, b"{\"a\": 1}").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\": 1}");
    write_atomic(&path, b"{}").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"{}");
    write_atomic(&path, b"").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    assert_eq!(entries(dir.path()), ["results.json"]);
}

#[test]
fn missing_directory_is_an_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("results.json");
    let err = write_atomic(&path, b"data").unwrap_err();
    assert!(matches!(err, IoError::Io { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("results.json") && msg.contains("temporary file"), "{msg}");
    assert!(!path.exists());
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn failed_rename_keeps_target_and_removes_temp() {
    // The target is a non-empty directory: the temporary file is written fine but
    // cannot be renamed over it. The directory must survive and no temp remain.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep.txt"), b"precious").unwrap();
    let err = write_atomic(&target, b"new content").unwrap_err();
    assert!(err.to_string().contains("renaming temporary file into place"), "{err}");
    assert_eq!(std::fs::read(target.join("keep.txt")).unwrap(), b"precious");
    assert_eq!(entries(dir.path()), ["out"]);
}

#[test]
fn path_without_file_name_is_rejected() {
    let err = write_atomic(std::path::Path::new("/"), b"x").unwrap_err();
    assert!(matches!(err, IoError::InvalidInput { .. }), "{err:?}");
}

#[cfg(unix)]
#[test]
fn unwritable_directory_does_not_clobber_target() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    std::fs::write(&path, b"old").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let result = write_atomic(&path, b"new");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Running as root ignores directory permissions; then the write simply succeeds.
    match result {
        Err(_) => assert_eq!(std::fs::read(&path).unwrap(), b"old"),
        Ok(()) => assert_eq!(std::fs::read(&path).unwrap(), b"new"),
    }
    assert_eq!(entries(dir.path()), ["results.json"]);
}
