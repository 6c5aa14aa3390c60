//! File formats for noether: NumPy `.npy`/`.npz` (read and write), MNIST IDX
//! (read), and atomic file replacement.
//!
//! * [`read_npz`] / [`read_npy`] read what `numpy.save`, `numpy.savez` and
//!   `numpy.savez_compressed` write: NPY format versions 1.0–3.0, little- or
//!   big-endian, C or Fortran order (always returned in C order), 0-d and
//!   empty arrays, for float32/64, (u)int8–64 and bool dtypes.
//! * [`write_npz`] / [`write_npy`] write files `numpy.load` reads, atomically.
//! * [`read_idx_images`] / [`read_idx_labels`] read MNIST IDX files, gzipped or not.
//! * [`write_atomic`] replaces a file so that readers never see a partial write.
//!
//! Every error is an [`IoError`] whose one-line message names the file involved
//! and says what was expected and what was found. Malformed input of any kind
//! (truncated files, headers that lie about shapes, overflowing dimensions)
//! yields an error, never a panic.
//!
//! ```no_run
//! use std::path::Path;
//! let npz = noether_io::read_npz(Path::new("data.npz"))?;
//! let (n, d, x) = npz.require("x")?.as_matrix_f64("(n, d)")?;
//! let y = npz.require("y")?.to_labels()?;
//! # let _ = (n, d, x, y);
//! # Ok::<(), noether_io::IoError>(())
//! ```

mod atomic;
mod error;
mod idx;
mod npy;
mod npz;
mod pyliteral;

pub use atomic::write_atomic;
pub use error::IoError;
pub use idx::{IdxImages, read_idx_images, read_idx_labels};
pub use npy::{NpyArray, NpyData, NpyHeader};
pub use npz::{Npz, read_npy, read_npz, read_npz_headers, write_npy, write_npz};
