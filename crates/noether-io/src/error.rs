//! The crate's single error type.
//!
//! Every variant names the file it concerns, so a message printed at the top of a
//! program (`eprintln!("{err}")`) is enough for a person to find and fix the
//! problem without a backtrace. Messages are a single line.

use std::fmt;
use std::path::{Path, PathBuf};

/// Errors from reading or writing NPY/NPZ/IDX files and from atomic writes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// The input file does not exist.
    #[error("{}: file not found", .path.display())]
    NotFound {
        /// The path that was looked up.
        path: PathBuf,
    },

    /// The file is not a readable zip archive, or it is a zip archive that is not
    /// an `.npz` (no `.npy` members, corrupt or truncated members, ...).
    #[error("{}: not a valid .npz (zip) archive: {}", .file.display(), OneLine(.reason))]
    NotAZip {
        /// The archive.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A required array is absent from an `.npz` archive.
    #[error("{}: no array named '{name}'; {}", .file.display(), present_list(.present))]
    MissingArray {
        /// The archive.
        file: PathBuf,
        /// The array that was asked for.
        name: String,
        /// The arrays the archive does contain (sorted).
        present: Vec<String>,
    },

    /// The NPY header (or the data it describes) is malformed.
    #[error("{}: bad NPY data: {}", Located(.file, .member), OneLine(.reason))]
    BadNpyHeader {
        /// The `.npy` or `.npz` file.
        file: PathBuf,
        /// The archive member (e.g. `x.npy`); empty for a standalone `.npy` file.
        member: String,
        /// What is wrong.
        reason: String,
    },

    /// The NPY header is well formed but describes a dtype this crate cannot hold
    /// (e.g. float16, complex, strings, objects, structured dtypes).
    #[error(
        "{}: unsupported dtype {} (supported: float32, float64, int8/16/32/64, \
         uint8/16/32/64, bool)",
        Located(.file, .member),
        OneLine(.dtype)
    )]
    UnsupportedDtype {
        /// The `.npy` or `.npz` file.
        file: PathBuf,
        /// The archive member; empty for a standalone `.npy` file.
        member: String,
        /// The dtype descriptor as found in the header.
        dtype: String,
    },

    /// An array has a different dtype than the caller needs.
    #[error("{}: array '{name}' has dtype {found} but {expected} was expected", .file.display())]
    WrongDtype {
        /// The file the array came from.
        file: PathBuf,
        /// The array name.
        name: String,
        /// What the caller needed, e.g. `float32 or float64`.
        expected: String,
        /// The dtype the array has, e.g. `int64`.
        found: String,
    },

    /// An array has a different shape than the caller needs.
    #[error("{}: array '{name}' has shape {found} but {expected} was expected", .file.display())]
    WrongShape {
        /// The file the array came from.
        file: PathBuf,
        /// The array name.
        name: String,
        /// What the caller needed, e.g. `(n, d)`.
        expected: String,
        /// The shape the array has, in Python notation, e.g. `(200,)`.
        found: String,
    },

    /// An array holds a value the caller cannot accept (e.g. a negative label).
    #[error("{}: array '{name}': {reason}", .file.display())]
    BadValue {
        /// The file the array came from.
        file: PathBuf,
        /// The array name.
        name: String,
        /// Which value at which index, and why it is rejected.
        reason: String,
    },

    /// An MNIST IDX file is malformed.
    #[error("{}: bad IDX file: {reason}", .file.display())]
    BadIdx {
        /// The IDX file.
        file: PathBuf,
        /// What was expected vs. what was found.
        reason: String,
    },

    /// The caller asked to write something that cannot be written
    /// (empty or duplicate array name, shape inconsistent with the data, ...).
    #[error("{}: cannot write: {reason}", .file.display())]
    InvalidInput {
        /// The file that was to be written.
        file: PathBuf,
        /// What is wrong with the request.
        reason: String,
    },

    /// An operating-system I/O error, with the path and the operation that failed.
    ///
    /// The OS error is part of the message, so it is deliberately not also the error's
    /// `source()`: a report that prints the chain would show it twice.
    #[error("{}: {op}: {error}", .path.display())]
    Io {
        /// The file (or directory) concerned.
        path: PathBuf,
        /// What was being done, e.g. `reading`, `renaming temporary file into place`.
        op: &'static str,
        /// The underlying error (its kind tells a full disk from a read-only one).
        error: std::io::Error,
    },
}

impl IoError {
    /// Wraps an `std::io::Error`, turning "not found" into [`IoError::NotFound`].
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            IoError::NotFound { path: path.to_path_buf() }
        } else {
            IoError::Io { path: path.to_path_buf(), op, error: source }
        }
    }

    /// Wraps an `std::io::Error` as [`IoError::Io`] (never as `NotFound`); used on the
    /// write side, where "not found" means a missing directory, not a missing input.
    pub(crate) fn io_write(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        IoError::Io { path: path.to_path_buf(), op, error: source }
    }
}

/// Formats `file` or `file (member 'x.npy')`.
struct Located<'a>(&'a PathBuf, &'a String);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1.is_empty() {
            write!(f, "{}", self.0.display())
        } else {
            write!(f, "{} (member '{}')", self.0.display(), OneLine(self.1))
        }
    }
}

/// Text that came from a file, shown on one line: control characters escaped, at most 200
/// characters (a corrupt header must not turn an error into a screenful).
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0;
        for c in self.0.chars() {
            if shown >= 200 {
                return write!(f, "…");
            }
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                write!(f, "{c}")?;
            }
            shown += 1;
        }
        Ok(())
    }
}

fn present_list(present: &[String]) -> String {
    if present.is_empty() {
        "the archive contains no arrays".to_string()
    } else {
        format!("arrays present: {}", present.join(", "))
    }
}
