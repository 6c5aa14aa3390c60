//! What an experiment is: a config (one TOML file per experiment, with a `[full]` and a
//! `[quick]` parameter table), a planner that turns the config into jobs, and a summariser that
//! turns the jobs' results into measured claims, tables, notes and plots.

use std::path::{Path, PathBuf};

use noether_nn::Precision;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::job::Job;
use crate::results::Results;

/// Which protocol a measured number follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Exactly what the reference scripts did (grid, divergence rule, drift definition, …).
    Reference,
    /// The robust variant: sub-EoS window, per-seed fits, honest predictor.
    Robust,
}

/// A configuration file `configs/<ID>.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    pub id: String,
    #[serde(default = "both_precisions")]
    pub precisions: Vec<Precision>,
    pub full: toml::Table,
    pub quick: toml::Table,
    #[serde(skip)]
    pub path: PathBuf,
}

fn both_precisions() -> Vec<Precision> {
    vec![Precision::F32, Precision::F64]
}

impl ExperimentConfig {
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LabError::LegacyConfig(format!("{}: {e}", path.display())))?;
        let mut cfg: ExperimentConfig = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        cfg.path = path.to_path_buf();
        Ok(cfg)
    }

    /// The experiment's parameters (`[full]` or `[quick]`), refusing unknown keys.
    pub fn params<P: DeserializeOwned>(&self, quick: bool) -> Result<P, LabError> {
        let (table, name) = if quick { (&self.quick, "quick") } else { (&self.full, "full") };
        table.clone().try_into().map_err(|e: toml::de::Error| {
            LabError::LegacyConfig(format!("{} [{name}]: {}", self.path.display(), e.message()))
        })
    }
}

fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> LabError {
    let line = e.span().map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1)).unwrap_or_default();
    LabError::LegacyConfig(format!("{}{line}: {}", path.display(), e.message()))
}

/// The inputs of planning and summarising.
pub struct Context<'a> {
    pub config: &'a ExperimentConfig,
    pub precision: Precision,
    pub quick: bool,
    /// `results/<ID>/<precision>/`, where plots go.
    pub out_dir: PathBuf,
}

impl Context<'_> {
    pub fn params<P: DeserializeOwned>(&self) -> Result<P, LabError> {
        self.config.params(self.quick)
    }
}

/// One number measured for a claim of data/paper-claims.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    pub claim: String,
    pub protocol: Protocol,
    pub value: f64,
    /// How the number was obtained (window, seeds, rule), one line.
    pub how: String,
}

/// A table for the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub title: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, header: &[&str]) -> Self {
        Table { title: title.into(), header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// What an experiment reports for one precision.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub measured: Vec<Measured>,
    pub tables: Vec<Table>,
    pub notes: Vec<String>,
    /// Plot files, relative to the experiment's output directory.
    pub plots: Vec<String>,
    /// Numbers worth keeping in summary.json (free form).
    pub data: serde_json::Value,
}

impl Summary {
    /// Records the value of `claim` under `protocol`, with how it was obtained.
    ///
    /// A non-finite value (a fit on too few points, every seed diverged) is not a measurement:
    /// it becomes a note saying so, and the claim stays `not-run` in the report rather than
    /// carrying a NaN into claims.json (JSON has no NaN; it would be written as null).
    pub fn measure(&mut self, claim: &str, protocol: Protocol, value: f64, how: impl Into<String>) {
        let how = how.into();
        if value.is_finite() {
            // `+ 0.0` turns −0.0 (a fitted slope of exactly zero) into 0.0 for the report.
            self.measured.push(Measured { claim: claim.into(), protocol, value: value + 0.0, how });
        } else {
            self.notes.push(format!("{claim} ({protocol:?}) not measured: the value is not finite ({how})."));
        }
    }
}

/// An experiment of the paper.
pub trait Experiment: Sync {
    /// `E01` … `E23`, `CD1` ….
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    /// The jobs for one precision.
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError>;
    /// Turns results into claims, tables, notes and plots.
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError>;
}

/// Parses a helper for experiment parameter structs: the seeds of the reference.
pub const SEEDS5: [u64; 5] = [42, 137, 256, 512, 1024];
pub const SEEDS3: [u64; 3] = [42, 137, 256];

/// Formats a number for report tables (4 significant digits).
pub fn fmt(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e-3 && v.abs() < 1e4 {
        let digits = (4 - 1 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_value_is_a_note_not_a_measurement() {
        let mut sum = Summary::default();
        sum.measure("X.a", Protocol::Reference, 0.5, "fit");
        sum.measure("X.b", Protocol::Robust, f64::NAN, "fit on one point");
        sum.measure("X.c", Protocol::Reference, f64::INFINITY, "ratio");
        assert_eq!(sum.measured.len(), 1);
        assert_eq!(sum.measured[0].claim, "X.a");
        assert_eq!(sum.notes.len(), 2);
        assert!(sum.notes[0].contains("X.b") && sum.notes[0].contains("not finite"), "{}", sum.notes[0]);
        // What is written must read back (NaN would have become null).
        let json = serde_json::to_string(&sum).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back.measured.len(), 1);
    }
}
