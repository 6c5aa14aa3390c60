//! The engine's errors as Python exceptions, with the same one-line messages the CLI prints.
//!
//! Shapes, names and values are `ValueError` (what numpy raises for the same mistakes); a file
//! that does not exist is `FileNotFoundError`; other failures of the operating system are
//! `OSError`; a file whose content is malformed is `ValueError`, since the file exists and is
//! readable but wrong.

use noether_io::IoError;
use noether_nn::NnError;
use noether_spectra::SpectraError;
use noether_train::TrainError;
use pyo3::PyErr;
use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};

/// `ValueError(message)`.
pub(crate) fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

pub(crate) fn io(e: IoError) -> PyErr {
    match e {
        IoError::NotFound { .. } => PyFileNotFoundError::new_err(e.to_string()),
        IoError::Io { .. } => PyOSError::new_err(e.to_string()),
        other => value_error(other.to_string()),
    }
}

pub(crate) fn spectra(e: SpectraError) -> PyErr {
    match e {
        // The library's message is front-end neutral; say which keyword lifts the limit.
        SpectraError::DenseTooLarge { .. } => value_error(format!("{e}; pass memory_gib=… to allow more")),
        other => value_error(other.to_string()),
    }
}

pub(crate) fn nn(e: NnError) -> PyErr {
    match e {
        NnError::Io(e) => io(e),
        NnError::Spectra(e) => spectra(e),
        other => value_error(other.to_string()),
    }
}

pub(crate) fn train(e: TrainError) -> PyErr {
    match e {
        TrainError::Nn(e) => nn(e),
        TrainError::Io(e) => io(e),
        other => value_error(other.to_string()),
    }
}
