//! The errors of the experiment layer. Each variant carries the data a person needs to act on
//! it (file, table and key of a bad config; the job or experiment that failed); the CLI
//! prints them as one line.

use std::fmt;
use std::path::PathBuf;

/// A bad experiment configuration: which file, which parameter table (`[full]` / `[quick]`),
/// which key, and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// `full` or `quick`, when the problem is inside a parameter table.
    pub table: Option<String>,
    /// The key (dotted for nested tables: `problem.hidden`), when one is at fault.
    pub key: Option<String>,
    /// What is wrong and, where it helps, what is allowed.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(t) = &self.table {
            write!(f, " [{t}]")?;
        }
        if let Some(k) = &self.key {
            write!(f, " {k}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Everything that can go wrong between a config file and a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A configuration value is missing, unknown or out of range.
    #[error("{0}")]
    Config(Box<ConfigError>),
    /// A data file of the suite (claims, reference tables) is unreadable or malformed.
    #[error("{}: {reason}", path.display())]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// `--only` named an experiment the registry does not have.
    #[error("unknown experiment '{id}'; known: {known}")]
    UnknownExperiment {
        /// What was asked for.
        id: String,
        /// The registry's ids, comma-separated.
        known: String,
    },
    /// An `--only` range whose end comes before its start in registry order.
    #[error("experiment range '{range}' runs backwards; ranges follow the order {known}")]
    BackwardRange {
        /// The range as given.
        range: String,
        /// The registry's ids, comma-separated.
        known: String,
    },
    /// An analysis asked for a job its plan did not contain: a bug in an experiment module.
    #[error("no result for job {key} (an experiment asked for a job it did not plan)")]
    MissingResult {
        /// The job key.
        key: String,
    },
    /// A job result of the wrong kind reached an analysis: a bug in an experiment module.
    #[error("job {key}: expected a {expected} result, found a {found} result")]
    WrongResult {
        /// The job key.
        key: String,
        /// The kind the analysis needs.
        expected: &'static str,
        /// The kind in the cache.
        found: &'static str,
    },
    /// A job cannot run as specified (e.g. a c_k analysis on a network with biases).
    #[error("job {job}: {reason}")]
    Job {
        /// A short description of the job.
        job: String,
        /// Why it cannot run.
        reason: String,
    },
    /// An experiment's analysis found its results unusable.
    #[error("{experiment}: {reason}")]
    Analysis {
        /// The experiment id.
        experiment: String,
        /// What is missing or inconsistent.
        reason: String,
    },
    /// Reading or writing a file of the results directory failed.
    // The OS error is part of the message, not a `source`: a `{:#}` chain would print it twice.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A value could not be serialised (a summary, a record).
    #[error("serialising {what}: {reason}")]
    Serialise {
        /// What was being written.
        what: String,
        /// The serialiser's message.
        reason: String,
    },
    /// Drawing a plot failed.
    #[error("plot {}: {reason}", path.display())]
    Plot {
        /// The SVG file.
        path: PathBuf,
        /// The plotting backend's message.
        reason: String,
    },
    /// The worker pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// From the network crate (shapes, data files).
    #[error(transparent)]
    Nn(#[from] noether_nn::NnError),
    /// From the training crate.
    #[error(transparent)]
    Train(#[from] noether_train::TrainError),
    /// From the eigen-analysis crate.
    #[error(transparent)]
    Spectra(#[from] noether_spectra::SpectraError),
    /// From the formulas and fits.
    #[error(transparent)]
    Theory(#[from] noether_theory::TheoryError),
    /// From the file formats crate (NPZ, IDX, atomic writes).
    #[error(transparent)]
    FileIo(#[from] noether_io::IoError),
}

impl LabError {
    /// A config error in `file`, optionally inside `table` at `key`.
    pub fn config(
        file: impl Into<PathBuf>,
        table: Option<&str>,
        key: Option<&str>,
        reason: impl Into<String>,
    ) -> LabError {
        LabError::Config(Box::new(ConfigError {
            file: file.into(),
            table: table.map(str::to_string),
            key: key.map(str::to_string),
            reason: reason.into(),
        }))
    }

    /// An analysis error of `experiment`.
    pub fn analysis(experiment: &str, reason: impl Into<String>) -> LabError {
        LabError::Analysis { experiment: experiment.to_string(), reason: reason.into() }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LabError {
        LabError::Io { path: path.into(), error: source }
    }

    /// A serialisation error of `what`.
    pub fn serialise(what: impl Into<String>, e: impl fmt::Display) -> LabError {
        LabError::Serialise { what: what.into(), reason: e.to_string() }
    }
}
