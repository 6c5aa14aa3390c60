//! The experiments of arXiv 2604.07405 and arXiv 2602.07145: configs, run planning, parallel
//! execution with a resumable cache, seed aggregation, paper-claim checks, figures and the
//! report.
//!
//! Only this crate knows what an experiment is. An experiment is a config file
//! (`configs/<ID>.toml`) plus a module in [`experiments`] implementing [`Experiment`]:
//! checked `Params` → `plan` (jobs) → `analyse` (numbers) → `render` (claims, tables, notes,
//! figures as data). Everything else — execution, caching, claims, figures, the report — is
//! shared: see [`suite::run_suite`].

pub mod aggregate;
pub mod claims;
pub mod config;
mod error;
pub mod executor;
pub mod experiment;
pub mod experiments;
pub mod job;
pub mod plot;
pub mod problem;
pub mod report;
pub mod results;
pub mod runner;
pub mod store;
pub mod suite;
#[cfg(test)]
mod testing;

pub use config::{Check, Checked, ExperimentConfig, Invalid};
pub use error::{ConfigError, LabError};
pub use experiment::{Context, DynExperiment, Experiment, Measured, Protocol, Summary, Table};
pub use job::{Job, RESULTS_VERSION, STREAM_RESULTS_VERSION};
pub use suite::{SuiteEvent, SuiteOptions, SuiteOutcome, run_suite, select, write_report};

#[cfg(test)]
mod tests {
    use super::suite::select;

    fn ids(only: &[&str]) -> Result<Vec<&'static str>, String> {
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        select(&only).map(|v| v.iter().map(|e| e.id()).collect()).map_err(|e| e.to_string())
    }

    #[test]
    fn select_takes_ids_and_inclusive_ranges_in_registry_order() {
        assert_eq!(ids(&["e05"]).unwrap(), ["E05"]);
        let first12 = ids(&["E01..E12"]).unwrap();
        assert_eq!(first12.len(), 12);
        assert_eq!((first12[0], first12[11]), ("E01", "E12"));
        // Overlaps and repeats collapse; the result follows the registry, not the argument order.
        assert_eq!(ids(&["E12", "E10..E12", "e03"]).unwrap(), ["E03", "E10", "E11", "E12"]);
        assert_eq!(ids(&["E23..CD1"]).unwrap(), ["E23", "CD1"]);
        assert!(ids(&[]).unwrap().len() >= 27);
    }

    #[test]
    fn select_rejects_unknown_ids_and_backward_ranges() {
        let e = ids(&["E99"]).unwrap_err();
        assert!(e.contains("unknown experiment 'E99'") && e.contains("E01, E02"), "{e}");
        let e = ids(&["E01..E99"]).unwrap_err();
        assert!(e.contains("'E99'"), "{e}");
        let e = ids(&["E12..E01"]).unwrap_err();
        assert!(e.contains("runs backwards"), "{e}");
    }
}
