//! What an experiment is: a typed plugin with four steps.
//!
//! 1. **Params** — the experiment's parameter type, parsed and checked once from its config
//!    ([`ExperimentConfig::params`]); most embed the shared [`SweepParams`](crate::problem::SweepParams)
//!    with `#[serde(flatten)]`.
//! 2. **plan** — checked parameters → a `Plan`: the jobs to run and whatever the analysis
//!    needs to find its results again (sweeps, grids).
//! 3. **analyse** — `(Plan, Results)` → an `Analysis`: every number the experiment reports,
//!    as plain serialisable data. Pure, so it can be tested on synthetic results
//!    ([`Results::from_fn`]).
//! 4. **render** — `Analysis` → [`Summary`]: measured claims, tables, notes, and figures *as
//!    data* ([`Figure`]); the suite draws them after rendering.
//!
//! [`Experiment`] is the typed trait an experiment module implements; the registry holds them
//! as [`DynExperiment`] (object-safe, implemented for every `Experiment`).

use std::path::{Path, PathBuf};

use noether_nn::Precision;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::claims::ClaimSpec;
use crate::config::{Check, Checked, ExperimentConfig, table_name};
use crate::job::Job;
use crate::plot::Figure;
use crate::problem::{Problem, ProblemConfig};
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

/// What planning and analysis may consult besides the parameters: the precision, where the
/// config lives, the claims file and the reference data of the experiment.
pub struct Context<'a> {
    /// The experiment id.
    pub id: &'a str,
    /// The precision of this plan.
    pub precision: Precision,
    /// `[quick]` (true) or `[full]`.
    pub quick: bool,
    /// The config file.
    pub config: &'a ExperimentConfig,
    /// The workspace root (holding `data/`).
    pub root: &'a Path,
    /// The claims of data/paper-claims.toml.
    pub claims: &'a [ClaimSpec],
}

impl Context<'_> {
    /// `full` or `quick`.
    pub fn table(&self) -> &'static str {
        table_name(self.quick)
    }

    /// A config error at `key` of this config's parameter table.
    pub fn invalid(&self, key: &str, reason: impl Into<String>) -> LabError {
        LabError::config(&self.config.path, Some(self.table()), Some(key), reason)
    }

    /// The experiment's reference data, `data/reference/<ID>.toml`: numbers the reference
    /// implementation produced (from the spec), typed in once and shown beside ours.
    pub fn reference<R: DeserializeOwned>(&self) -> Result<R, LabError> {
        let path = self.root.join("data").join("reference").join(format!("{}.toml", self.id));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LabError::Data { path: path.clone(), reason: format!("cannot read reference data: {e}") })?;
        let table: toml::Table = toml::from_str(&text)
            .map_err(|e| LabError::Data { path: path.clone(), reason: e.message().to_string() })?;
        serde_path_to_error::deserialize(table).map_err(|e| LabError::Data {
            path: path.clone(),
            reason: format!("{}: {}", e.path(), e.inner().message()),
        })
    }

    /// A claim of data/paper-claims.toml (its paper and reference values).
    pub fn claim(&self, id: &str) -> Result<&ClaimSpec, LabError> {
        self.claims.iter().find(|c| c.id == id).ok_or_else(|| LabError::Data {
            path: self.root.join("data").join("paper-claims.toml"),
            reason: format!("experiment {} needs claim '{id}', which the file does not define", self.id),
        })
    }

    /// A problem table resolved (strings parsed, NPZ files read), its errors named by key.
    pub fn problem(&self, problem: &ProblemConfig) -> Result<Problem, LabError> {
        problem.resolve(self.config.base_dir()).map_err(|inv| self.invalid(&inv.key, inv.reason))
    }

    /// `path` relative to the config file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.config.base_dir().join(path) }
    }
}

/// Deserialises a reference list in which `"—"` marks a value the spec does not list:
/// `[1.2e-3, "—", nan]` → `[Some(1.2e-3), None, Some(NaN)]` (`#[serde(deserialize_with =
/// "listed")]`).
pub fn listed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Option<f64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Cell {
        Value(f64),
        Missing(String),
    }
    let cells = Vec::<Cell>::deserialize(d)?;
    cells
        .into_iter()
        .map(|c| match c {
            Cell::Value(v) => Ok(Some(v)),
            Cell::Missing(s) if s == "—" => Ok(None),
            Cell::Missing(s) => Err(serde::de::Error::custom(format!("expected a number or \"—\", got \"{s}\""))),
        })
        .collect()
}

/// One number measured for a claim of data/paper-claims.toml.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measured {
    /// The claim id (`E05.alpha`).
    pub claim: String,
    /// Reference or robust protocol.
    pub protocol: Protocol,
    /// The measured value: finite, except for an untestable claim whose number could not be
    /// computed either (NaN, written as null).
    #[serde(deserialize_with = "nan_if_null")]
    pub value: f64,
    /// How the number was obtained (window, seeds, rule), one line.
    pub how: String,
    /// Set when the claim's premise is not met on this task (the verdict is `untestable`,
    /// never `differs`): why, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untestable: Option<String>,
    /// A 95 % interval around `value` (seed bootstrap): when present the verdict comes from
    /// it — reproduced if it overlaps the claim's tolerance band — not from the point value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<[f64; 2]>,
}

/// Reads a number, or null (how serde_json writes a NaN) as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// A table for the report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The caption.
    pub title: String,
    /// Column headers.
    pub header: Vec<String>,
    /// Rows of cells (as many as headers).
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with a caption and headers.
    pub fn new(title: &str, header: &[&str]) -> Self {
        Table { title: title.into(), header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new() }
    }
    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// What an experiment reports for one precision: `summary.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Numbers measured for claims.
    pub measured: Vec<Measured>,
    /// Tables for the report.
    pub tables: Vec<Table>,
    /// Notes for the report (one paragraph each).
    pub notes: Vec<String>,
    /// Plot files, relative to the experiment's output directory.
    pub plots: Vec<String>,
    /// Numbers worth keeping in summary.json (free form).
    pub data: serde_json::Value,
    /// The figures behind `plots`, drawn by the suite after rendering (and written to
    /// `figures.json` for replotting); not part of summary.json.
    #[serde(skip)]
    pub figures: Vec<Figure>,
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
            self.measured.push(Measured {
                claim: claim.into(),
                protocol,
                value: value + 0.0,
                how,
                untestable: None,
                interval: None,
            });
        } else {
            self.notes.push(format!("{claim} ({protocol:?}) not measured: the value is not finite ({how})."));
        }
    }

    /// [`Summary::measure`] for a claim with a premise: when `unmet_premise` says why the
    /// premise does not hold on this task, the value is recorded as untestable with that reason
    /// (see [`crate::claims::Verdict::Untestable`]), with or without a finite value.
    pub fn measure_premised(
        &mut self,
        claim: &str,
        protocol: Protocol,
        value: f64,
        how: impl Into<String>,
        unmet_premise: Option<&str>,
    ) {
        let Some(reason) = unmet_premise else {
            return self.measure(claim, protocol, value, how);
        };
        // Untestable whether or not a number came out: the verdict rests on the premise, and a
        // missing value must not turn it into "not run".
        self.measured.push(Measured {
            claim: claim.into(),
            protocol,
            value: value + 0.0,
            how: if value.is_finite() { how.into() } else { format!("no finite value ({})", how.into()) },
            untestable: Some(reason.into()),
            interval: None,
        });
    }

    /// [`Summary::measure_premised`] for a value with a 95 % interval `(lo, hi)`, from which the
    /// verdict is taken (see [`Measured::interval`]); an interval that is not finite is left
    /// out and the point value decides.
    pub fn measure_with_interval(
        &mut self,
        claim: &str,
        protocol: Protocol,
        value: f64,
        (lo, hi): (f64, f64),
        how: impl Into<String>,
        unmet_premise: Option<&str>,
    ) {
        let before = self.measured.len();
        self.measure_premised(claim, protocol, value, how, unmet_premise);
        if let Some(m) = self.measured.get_mut(before)
            && m.untestable.is_none()
            && lo.is_finite()
            && hi.is_finite()
        {
            m.interval = Some([lo, hi]);
        }
    }

    /// Adds a figure (its file name goes into `plots`).
    pub fn figure(&mut self, figure: Figure) {
        self.plots.push(figure.file.clone());
        self.figures.push(figure);
    }
}

/// An experiment of the papers, as a typed plugin (see the module documentation).
pub trait Experiment: Sync {
    /// The parameter type of `[full]`/`[quick]`.
    type Params: DeserializeOwned + Check + Send + Sync;
    /// The planned jobs and what the analysis needs to find their results.
    type Plan: Send + Sync;
    /// Every number the experiment reports.
    type Analysis: Serialize;

    /// `E01` … `E23`, `CD1` ….
    fn id(&self) -> &'static str;
    /// A one-line title for listings and the report.
    fn title(&self) -> &'static str;
    /// The plan for one precision.
    fn plan(&self, params: &Checked<Self::Params>, ctx: &Context<'_>) -> Result<Self::Plan, LabError>;
    /// The jobs of a plan (each runs once; identical jobs of other experiments are shared).
    fn jobs(&self, plan: &Self::Plan) -> Vec<Job>;
    /// The numbers, from the results of the plan's jobs.
    fn analyse(&self, plan: &Self::Plan, results: &Results) -> Result<Self::Analysis, LabError>;
    /// Claims, tables, notes and figures from the numbers.
    fn render(&self, analysis: &Self::Analysis) -> Summary;
}

/// An experiment planned for one precision, its types erased.
pub trait Prepared: Send + Sync {
    /// The jobs to run.
    fn jobs(&self) -> &[Job];
    /// Analysis and rendering; also returns the analysis as JSON.
    fn summarise(&self, results: &Results) -> Result<(Summary, serde_json::Value), LabError>;
}

/// The object-safe face of an [`Experiment`], what the registry holds.
pub trait DynExperiment: Sync {
    /// See [`Experiment::id`].
    fn id(&self) -> &'static str;
    /// See [`Experiment::title`].
    fn title(&self) -> &'static str;
    /// Parses and checks the parameters of `ctx`'s table and plans them.
    fn prepare<'e>(&'e self, ctx: &Context<'_>) -> Result<Box<dyn Prepared + 'e>, LabError>;
}

struct PreparedPlan<'e, E: Experiment> {
    experiment: &'e E,
    plan: E::Plan,
    jobs: Vec<Job>,
}

impl<E: Experiment> Prepared for PreparedPlan<'_, E> {
    fn jobs(&self) -> &[Job] {
        &self.jobs
    }
    fn summarise(&self, results: &Results) -> Result<(Summary, serde_json::Value), LabError> {
        let analysis = self.experiment.analyse(&self.plan, results)?;
        let json = serde_json::to_value(&analysis).map_err(|e| LabError::serialise("analysis", e))?;
        Ok((self.experiment.render(&analysis), json))
    }
}

impl<E: Experiment> DynExperiment for E {
    fn id(&self) -> &'static str {
        Experiment::id(self)
    }
    fn title(&self) -> &'static str {
        Experiment::title(self)
    }
    fn prepare<'e>(&'e self, ctx: &Context<'_>) -> Result<Box<dyn Prepared + 'e>, LabError> {
        let params = ctx.config.params::<E::Params>(ctx.quick)?;
        let plan = self.plan(&params, ctx)?;
        let jobs = self.jobs(&plan);
        Ok(Box::new(PreparedPlan { experiment: self, plan, jobs }))
    }
}

/// The seeds of the reference scripts.
pub const SEEDS5: [u64; 5] = [42, 137, 256, 512, 1024];
/// The three-seed subset some reference scripts use.
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
