//! The suite: select experiments, plan every (experiment, precision) before any compute, run
//! all their jobs in one pool, summarise each the moment its jobs are done, then write
//! claims.json and REPORT.md. What happens is reported as [`SuiteEvent`]s to an observer (the
//! CLI's progress bars); nothing here touches the terminal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use noether_nn::Precision;

use crate::claims::{self, ClaimRow, ClaimSpec};
use crate::config::ExperimentConfig;
use crate::executor::{self, ExecEvent};
use crate::experiment::{Context, DynExperiment, Prepared, Summary};
use crate::store::Store;
use crate::{LabError, experiments, plot, report};

/// Where things are and what to run (serialisable: a cluster manifest carries it to the job
/// that summarises).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SuiteOptions {
    /// Directory holding `configs/` and `data/` (paper-claims.toml, reference/).
    pub root: PathBuf,
    /// The results directory.
    pub results: PathBuf,
    /// The `[quick]` tables instead of `[full]`.
    pub quick: bool,
    /// Experiment ids or ranges to run (empty = all); ignored when `configs` is given.
    pub only: Vec<String>,
    /// Config files to run instead of the registry's `configs/<ID>.toml` (`noether run
    /// my.toml`); each names its experiment with `id`.
    pub configs: Vec<PathBuf>,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

/// What a suite run did.
pub struct SuiteOutcome {
    /// The claim rows of claims.json (empty if only user configs ran).
    pub rows: Vec<ClaimRow>,
    /// The claim rows of the user configs' own reports (not in claims.json).
    pub user_rows: Vec<ClaimRow>,
    /// Reports written (the suite's REPORT.md and one per user config).
    pub reports: Vec<PathBuf>,
    /// Jobs computed by this run.
    pub executed: usize,
    /// Jobs found in the cache.
    pub cached: usize,
    /// Wall time of the executed jobs, summed.
    pub job_seconds: f64,
    /// Cache entries that could not be used and were recomputed, with the reason.
    pub corrupt: Vec<(PathBuf, String)>,
    /// Jobs another process sharing the results directory computed while this run waited for
    /// them (read, not recomputed).
    pub by_others: usize,
    /// Wall time of the whole run.
    pub wall_seconds: f64,
}

/// What the suite reports while it runs. Events arrive in order on the calling thread.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SuiteEvent<'a> {
    /// One run (experiment `name` in `precision`) is planned: `jobs` distinct jobs, `cached`
    /// of them already in the cache. Every run is planned before any job starts.
    Planned {
        /// Output name (the experiment id, or a user config's file stem).
        name: &'a str,
        /// The precision.
        precision: Precision,
        /// Distinct jobs.
        jobs: usize,
        /// Of those, cached.
        cached: usize,
    },
    /// A job of run `name` finished (a job shared by several runs is reported to each).
    JobFinished {
        /// Output name.
        name: &'a str,
        /// Its wall time.
        seconds: f64,
    },
    /// Run `name` in `precision` is summarised and its files are written.
    Summarised {
        /// Output name.
        name: &'a str,
        /// The precision.
        precision: Precision,
    },
    /// Every precision of `name` is summarised.
    Done {
        /// Output name.
        name: &'a str,
    },
}

/// The experiments selected by `only` (all when empty), in registry order without repeats.
/// Each entry is an id (`E05`, case-insensitive) or an inclusive range in registry order
/// (`E01..E12`, `E20..CD2`); unknown ids and backwards ranges are errors that list the known ids.
pub fn select(only: &[String]) -> Result<Vec<&'static dyn DynExperiment>, LabError> {
    let all = experiments::registry();
    if only.is_empty() {
        return Ok(all);
    }
    let known = || all.iter().map(|e| e.id()).collect::<Vec<_>>().join(", ");
    let position = |id: &str| -> Result<usize, LabError> {
        let id = id.trim().to_uppercase();
        all.iter().position(|e| e.id() == id).ok_or_else(|| LabError::UnknownExperiment { id, known: known() })
    };
    let mut chosen = vec![false; all.len()];
    for entry in only {
        match entry.split_once("..") {
            Some((from, to)) => {
                let (a, b) = (position(from)?, position(to)?);
                if a > b {
                    return Err(LabError::BackwardRange { range: entry.clone(), known: known() });
                }
                chosen[a..=b].iter_mut().for_each(|c| *c = true);
            }
            None => chosen[position(entry)?] = true,
        }
    }
    Ok(all.into_iter().zip(chosen).filter_map(|(e, c)| c.then_some(e)).collect())
}

/// The experiment a config file is for.
pub fn experiment_of(cfg: &ExperimentConfig) -> Result<&'static dyn DynExperiment, LabError> {
    let all = experiments::registry();
    let known = all.iter().map(|e| e.id()).collect::<Vec<_>>().join(", ");
    all.into_iter().find(|e| e.id() == cfg.id).ok_or_else(|| {
        LabError::config(&cfg.path, None, Some("id"), format!("unknown experiment '{}'; known: {known}", cfg.id))
    })
}

/// A config to run: its experiment and the name its outputs go under.
struct Selected {
    experiment: &'static dyn DynExperiment,
    config: ExperimentConfig,
    /// `results/<name>/<precision>/`: the id for the registry's configs, the file stem for a
    /// user's.
    name: String,
}

impl Selected {
    /// A user config whose outputs do not go into the suite's claims and report.
    fn is_user_run(&self) -> bool {
        self.name != self.experiment.id()
    }
}

fn selected_configs(opts: &SuiteOptions) -> Result<Vec<Selected>, LabError> {
    if opts.configs.is_empty() {
        return select(&opts.only)?
            .into_iter()
            .map(|experiment| {
                let path = opts.root.join("configs").join(format!("{}.toml", experiment.id()));
                if !path.exists() {
                    return Err(LabError::config(
                        &path,
                        None,
                        None,
                        format!("config of experiment {} not found", experiment.id()),
                    ));
                }
                let config = ExperimentConfig::load(&path)?;
                if config.id != experiment.id() {
                    return Err(LabError::config(
                        &path,
                        None,
                        Some("id"),
                        format!("id = \"{}\" but the file is for {}", config.id, experiment.id()),
                    ));
                }
                Ok(Selected { experiment, config, name: experiment.id().to_string() })
            })
            .collect();
    }
    opts.configs
        .iter()
        .map(|path| {
            let config = ExperimentConfig::load(path)?;
            let experiment = experiment_of(&config)?;
            let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            // configs/E05.toml is the registry's own config; any other file is a user run.
            let name = if stem.eq_ignore_ascii_case(experiment.id()) { experiment.id().to_string() } else { stem };
            Ok(Selected { experiment, config, name })
        })
        .collect()
}

/// The jobs the registry's config `configs/<id>.toml` plans in one precision.
pub fn planned_jobs(
    root: &Path,
    id: &str,
    precision: Precision,
    quick: bool,
) -> Result<Vec<crate::job::Job>, LabError> {
    let experiment = select(&[id.to_string()])?[0];
    let config = ExperimentConfig::load(&root.join("configs").join(format!("{id}.toml")))?;
    let claims = claims::load_claims(&root.join("data").join("paper-claims.toml"))?;
    let ctx = Context { id: experiment.id(), precision, quick, config: &config, root, claims: &claims };
    Ok(experiment.prepare(&ctx)?.jobs().to_vec())
}

/// One (config, precision) planned.
struct Run<'s> {
    selected: &'s Selected,
    precision: Precision,
    prepared: Box<dyn Prepared + 's>,
}

/// Loads and plans everything first: a bad config fails before any compute.
fn plan_runs<'s>(
    opts: &SuiteOptions,
    selected: &'s [Selected],
    claim_specs: &[ClaimSpec],
) -> Result<Vec<Run<'s>>, LabError> {
    let mut runs: Vec<Run<'_>> = Vec::new();
    for sel in selected {
        for &precision in &sel.config.precisions {
            let ctx = Context {
                id: sel.experiment.id(),
                precision,
                quick: opts.quick,
                config: &sel.config,
                root: &opts.root,
                claims: claim_specs,
            };
            let prepared = sel.experiment.prepare(&ctx)?;
            runs.push(Run { selected: sel, precision, prepared });
        }
    }
    Ok(runs)
}

/// The distinct jobs the selection plans that the results cache does not hold (yet), in
/// first-planned order: what a cluster backend distributes (see `noether suite --slurm`).
/// Plans every config first, so a bad one fails here, before anything is submitted.
pub fn missing_jobs(opts: &SuiteOptions) -> Result<Vec<crate::job::Job>, LabError> {
    let selected = selected_configs(opts)?;
    let claim_specs = claims::load_claims(&opts.root.join("data").join("paper-claims.toml"))?;
    let runs = plan_runs(opts, &selected, &claim_specs)?;
    let store = Store::open(&opts.results)?;
    let mut seen = std::collections::HashSet::new();
    let mut missing = Vec::new();
    for job in runs.iter().flat_map(|r| r.prepared.jobs()) {
        if seen.insert(job.key()) && !matches!(store.lookup(job), crate::store::Lookup::Hit(_)) {
            missing.push(job.clone());
        }
    }
    Ok(missing)
}

/// Computes `jobs` into the results cache with `threads` workers (claims, atomic writes and
/// corrupt-entry handling as in a suite run) without summarising: one task of a cluster array.
pub fn compute_jobs(
    results: &Path,
    jobs: &[crate::job::Job],
    threads: usize,
    on_event: &mut dyn FnMut(ExecEvent<'_>),
) -> Result<executor::Totals, LabError> {
    let store = Store::open(results)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    executor::execute_batches(&[jobs], &store, &pool, on_event, |_, _| Ok(()))
}

/// Plans every selected experiment (validating every config before any compute), runs the
/// jobs, writes per-experiment summaries, records and figures, then claims.json and REPORT.md.
pub fn run_suite(opts: &SuiteOptions, observer: &mut dyn FnMut(&SuiteEvent<'_>)) -> Result<SuiteOutcome, LabError> {
    let started = Instant::now();
    let selected = selected_configs(opts)?;
    let store = Store::open(&opts.results)?;
    let claim_specs = claims::load_claims(&opts.root.join("data").join("paper-claims.toml"))?;
    let runs = plan_runs(opts, &selected, &claim_specs)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(opts.threads).build()?;
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &runs {
        *open.entry(r.selected.name.as_str()).or_default() += 1;
    }
    let batches: Vec<&[crate::job::Job]> = runs.iter().map(|r| r.prepared.jobs()).collect();
    // The executor's events, translated to runs; `Done` events queue up here because the
    // summarising callback and the event callback cannot both borrow the observer.
    let observer = std::cell::RefCell::new(observer);
    let mut on_event = |e: ExecEvent<'_>| {
        let mut obs = observer.borrow_mut();
        match e {
            ExecEvent::Planned { batch, jobs, cached } => {
                let r = &runs[batch];
                obs(&SuiteEvent::Planned { name: &r.selected.name, precision: r.precision, jobs, cached })
            }
            ExecEvent::JobFinished { batches, seconds, .. } => {
                for &b in batches {
                    obs(&SuiteEvent::JobFinished { name: &runs[b].selected.name, seconds });
                }
            }
            ExecEvent::BatchDone { .. } => {}
        }
    };
    let totals = executor::execute_batches(&batches, &store, &pool, &mut on_event, |b, results| {
        let run = &runs[b];
        let name = run.selected.name.as_str();
        let out_dir = store.experiment_dir(name, run.precision.name())?;
        let (summary, analysis) = run.prepared.summarise(&results)?;
        for f in &summary.figures {
            plot::draw(f, &out_dir)?;
        }
        write_json(&store, &out_dir.join("summary.json"), &summary)?;
        if !analysis.is_null() {
            write_json(&store, &out_dir.join("analysis.json"), &analysis)?;
        }
        if !summary.figures.is_empty() {
            write_json(&store, &out_dir.join("figures.json"), &summary.figures)?;
        }
        let mut lines = String::new();
        for j in run.prepared.jobs() {
            let line = serde_json::json!({ "key": j.key(), "job": j, "result": results.get(j)? });
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        store.write(&out_dir.join("records.jsonl"), lines.as_bytes())?;
        let mut obs = observer.borrow_mut();
        obs(&SuiteEvent::Summarised { name, precision: run.precision });
        let left = open.get_mut(name).expect("every run is counted");
        *left -= 1;
        if *left == 0 {
            obs(&SuiteEvent::Done { name });
        }
        Ok(())
    })?;
    let mut reports = Vec::new();
    let mut user_rows = Vec::new();
    let mut rows = Vec::new();
    if selected.iter().any(|s| !s.is_user_run()) {
        rows = write_report(&opts.results, opts.quick, &claim_specs)?;
        reports.push(opts.results.join("REPORT.md"));
    }
    for sel in selected.iter().filter(|s| s.is_user_run()) {
        let (path, mut own_rows) = write_user_report(&opts.results, sel, opts.quick, &claim_specs)?;
        reports.push(path);
        user_rows.append(&mut own_rows);
    }
    Ok(SuiteOutcome {
        rows,
        user_rows,
        reports,
        executed: totals.executed,
        cached: totals.cached,
        job_seconds: totals.seconds,
        corrupt: totals.corrupt,
        by_others: totals.by_others,
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_json<T: serde::Serialize + ?Sized>(store: &Store, path: &Path, value: &T) -> Result<(), LabError> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| LabError::serialise(path.display().to_string(), e))?;
    store.write(path, &json)
}

/// Reads `results/<name>/<precision>/summary.json` if it exists.
fn read_summary(results: &Path, name: &str, precision: &str) -> Result<Option<Summary>, LabError> {
    let path = results.join(name).join(precision).join("summary.json");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LabError::io(&path, e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| LabError::Data { path, reason: e.to_string() })
}

/// Rebuilds results/claims.json and results/REPORT.md from the summaries on disk.
pub fn write_report(results: &Path, quick: bool, specs: &[ClaimSpec]) -> Result<Vec<ClaimRow>, LabError> {
    let mut measured = BTreeMap::new();
    let mut summaries = BTreeMap::new();
    let mut titles = BTreeMap::new();
    let mut ran = Vec::new();
    for exp in experiments::registry() {
        for p in Precision::ALL.map(Precision::name) {
            let Some(sum) = read_summary(results, exp.id(), p)? else { continue };
            measured.insert((p.to_string(), exp.id().to_string()), sum.measured.clone());
            ran.push((p.to_string(), exp.id().to_string()));
            titles.insert(exp.id().to_string(), exp.title().to_string());
            summaries.insert((exp.id().to_string(), p.to_string()), sum);
        }
    }
    let rows = claims::build_rows(specs, &measured, &ran)?;
    let json = serde_json::to_vec_pretty(&rows).map_err(|e| LabError::serialise("claims.json", e))?;
    noether_io::write_atomic(&results.join("claims.json"), &json)?;
    let text = report::render(&rows, specs, &summaries, &titles, quick);
    noether_io::write_atomic(&results.join("REPORT.md"), text.as_bytes())?;
    Ok(rows)
}

/// `results/<name>/REPORT.md` for a user's config: its claims beside the paper's values (the
/// reference code's numbers are for the paper's problem, so they are not compared) and its
/// tables, notes and figures.
/// Writes a user config's REPORT.md; returns its path and its claim rows.
fn write_user_report(
    results: &Path,
    sel: &Selected,
    quick: bool,
    specs: &[ClaimSpec],
) -> Result<(PathBuf, Vec<ClaimRow>), LabError> {
    let mut measured = BTreeMap::new();
    let mut summaries = BTreeMap::new();
    let mut ran = Vec::new();
    let id = sel.experiment.id();
    for p in sel.config.precisions.iter().map(|p| p.name()) {
        let Some(sum) = read_summary(results, &sel.name, p)? else { continue };
        measured.insert((p.to_string(), id.to_string()), sum.measured.clone());
        ran.push((p.to_string(), id.to_string()));
        summaries.insert(p.to_string(), sum);
    }
    // The reference code's numbers belong to the paper's problem: on this problem both
    // protocols are held against the paper's claim.
    let own: Vec<ClaimSpec> = specs
        .iter()
        .filter(|c| c.experiment == id)
        .map(|c| ClaimSpec { reference: None, why: String::new(), ..c.clone() })
        .collect();
    let rows = claims::build_rows(&own, &measured, &ran)?;
    let table = toml::to_string(&sel.config.table(quick)).map_err(|e| LabError::serialise("parameter table", e))?;
    let text = report::render_user_run(
        &sel.name,
        id,
        sel.experiment.title(),
        &sel.config.path,
        &table,
        &rows,
        &own,
        &summaries,
        quick,
    );
    let path = results.join(&sel.name).join("REPORT.md");
    noether_io::write_atomic(&path, text.as_bytes())?;
    Ok((path, rows))
}
