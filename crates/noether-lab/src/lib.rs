//! The experiments of arXiv 2604.07405: configs, run planning, parallel execution with a
//! resumable cache, seed aggregation, paper-claim checks, plots and the report.
//!
//! Only this crate knows what an experiment is. An experiment is a config file
//! (`configs/<ID>.toml`) plus a module in [`experiments`] implementing [`Experiment`]: `plan`
//! turns parameters into [`Job`]s, `summarize` turns results into measured claims, tables,
//! notes and plots. Everything else — execution, caching, claims, the report — is shared.

pub mod aggregate;
pub mod claims;
mod error;
pub mod executor;
pub mod experiment;
pub mod experiments;
pub mod job;
pub mod plot;
pub mod report;
pub mod results;
pub mod runner;
pub mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

pub use error::{ConfigError, LabError};
pub use experiment::{Context, Experiment, ExperimentConfig, Measured, Protocol, Summary, Table};
pub use job::{Job, RESULTS_VERSION};

/// Where things are and what to run.
#[derive(Clone, Debug)]
pub struct SuiteOptions {
    /// Directory holding `configs/` and `data/paper-claims.toml`.
    pub root: PathBuf,
    pub results: PathBuf,
    pub quick: bool,
    /// Experiment ids to run (empty = all).
    pub only: Vec<String>,
    /// Worker threads (0 = all cores).
    pub threads: usize,
}

/// What a suite run did.
pub struct SuiteOutcome {
    pub rows: Vec<claims::ClaimRow>,
    pub executed: usize,
    pub cached: usize,
    pub job_seconds: f64,
    pub wall_seconds: f64,
}

/// The experiments selected by `only` (all when empty), in registry order without repeats.
/// Each entry is an id (`E05`, case-insensitive) or an inclusive range in registry order
/// (`E01..E12`, `E20..CD2`); unknown ids and backwards ranges are errors that list the known ids.
pub fn select(only: &[String]) -> Result<Vec<&'static dyn Experiment>, LabError> {
    let all = experiments::registry();
    if only.is_empty() {
        return Ok(all);
    }
    let known = || all.iter().map(|e| e.id()).collect::<Vec<_>>().join(", ");
    let position = |id: &str| -> Result<usize, LabError> {
        let id = id.trim().to_uppercase();
        all.iter()
            .position(|e| e.id() == id)
            .ok_or_else(|| LabError::LegacyConfig(format!("unknown experiment '{id}'; known: {}", known())))
    };
    let mut chosen = vec![false; all.len()];
    for entry in only {
        match entry.split_once("..") {
            Some((from, to)) => {
                let (a, b) = (position(from)?, position(to)?);
                if a > b {
                    return Err(LabError::LegacyConfig(format!(
                        "experiment range '{entry}' runs backwards; ranges follow the order {}",
                        known()
                    )));
                }
                chosen[a..=b].iter_mut().for_each(|c| *c = true);
            }
            None => chosen[position(entry)?] = true,
        }
    }
    Ok(all.into_iter().zip(chosen).filter_map(|(e, c)| c.then_some(e)).collect())
}

fn config_path(root: &Path, id: &str) -> PathBuf {
    root.join("configs").join(format!("{id}.toml"))
}

fn bar(multi: Option<&MultiProgress>, label: String) -> ProgressBar {
    let pb = match multi {
        Some(m) => m.add(ProgressBar::new(0)),
        None => ProgressBar::hidden(),
    };
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} {bar:30} {pos:>4}/{len:4} jobs  {elapsed_precise} eta {eta}")
            .expect("static template"),
    );
    pb.set_prefix(label);
    pb
}

/// Plans every selected experiment (validating every config before any compute), runs the
/// jobs, writes per-experiment summaries, records and plots, then claims.json and REPORT.md.
pub fn run_suite(opts: &SuiteOptions, multi: Option<&MultiProgress>) -> Result<SuiteOutcome, LabError> {
    let started = Instant::now();
    let selected = select(&opts.only)?;
    let store = store::Store::open(&opts.results)?;
    let claim_specs = claims::load_claims(&opts.root.join("data").join("paper-claims.toml"))?;
    // Load and plan everything first: a bad config fails before any compute.
    let mut planned = Vec::new();
    for exp in &selected {
        let path = config_path(&opts.root, exp.id());
        if !path.exists() {
            return Err(LabError::LegacyConfig(format!(
                "{}: config of experiment {} not found",
                path.display(),
                exp.id()
            )));
        }
        let cfg = ExperimentConfig::load(&path)?;
        if cfg.id != exp.id() {
            return Err(LabError::LegacyConfig(format!(
                "{}: id = \"{}\" but the file is for {}",
                path.display(),
                cfg.id,
                exp.id()
            )));
        }
        for &precision in &cfg.precisions {
            let out_dir = store.experiment_dir(exp.id(), precision_name(precision))?;
            let ctx = Context { config: &cfg, precision, quick: opts.quick, out_dir };
            let jobs = exp.plan(&ctx)?;
            planned.push((*exp, cfg.clone(), precision, jobs));
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .build()
        .map_err(|e| LabError::LegacyRun(format!("thread pool: {e}")))?;
    // One bar per experiment (both precisions); all jobs of all experiments run in one pool,
    // longest first, and each (experiment, precision) is summarised the moment its last job is
    // done. A finished experiment's bar gives way to a one-line note.
    let mut bars: Vec<ProgressBar> = Vec::new();
    let mut bar_of = Vec::new();
    for (i, (exp, ..)) in planned.iter().enumerate() {
        match planned[..i].iter().position(|(e, ..)| e.id() == exp.id()) {
            Some(first) => bar_of.push(bar_of[first]),
            None => {
                bar_of.push(bars.len());
                bars.push(bar(multi, exp.id().to_string()));
            }
        }
    }
    let mut open_batches = vec![0usize; bars.len()];
    for &b in &bar_of {
        open_batches[b] += 1;
    }
    let batches: Vec<&[Job]> = planned.iter().map(|(.., jobs)| jobs.as_slice()).collect();
    let totals = executor::execute_batches(&batches, &bars, &bar_of, &store, &pool, |b, results| {
        let (exp, cfg, precision, jobs) = &planned[b];
        let pname = precision_name(*precision);
        let out_dir = store.experiment_dir(exp.id(), pname)?;
        let ctx = Context { config: cfg, precision: *precision, quick: opts.quick, out_dir: out_dir.clone() };
        let summary = exp.summarize(&ctx, &results)?;
        let json = serde_json::to_vec_pretty(&summary).map_err(|e| LabError::LegacyIo(e.to_string()))?;
        store.write(&out_dir.join("summary.json"), &json)?;
        let mut lines = String::new();
        for j in jobs {
            let line = serde_json::json!({ "key": j.key(), "job": j, "result": results.get(j)? });
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
        store.write(&out_dir.join("records.jsonl"), lines.as_bytes())?;
        let bi = bar_of[b];
        open_batches[bi] -= 1;
        if open_batches[bi] == 0 {
            let pb = &bars[bi];
            let line = format!(
                "{:>5} done: {} jobs, {}",
                exp.id(),
                pb.length().unwrap_or(0),
                indicatif::HumanDuration(pb.elapsed())
            );
            pb.finish_and_clear();
            if let Some(m) = multi {
                let _ = m.println(line);
            }
        }
        Ok(())
    })?;
    let (executed, cached, job_seconds) = (totals.executed, totals.cached, totals.seconds);
    let rows = write_report(&opts.root, &opts.results, opts.quick, &claim_specs)?;
    Ok(SuiteOutcome { rows, executed, cached, job_seconds, wall_seconds: started.elapsed().as_secs_f64() })
}

pub fn precision_name(p: noether_nn::Precision) -> &'static str {
    match p {
        noether_nn::Precision::F32 => "f32",
        noether_nn::Precision::F64 => "f64",
    }
}

/// Rebuilds results/claims.json and results/REPORT.md from the summaries on disk.
pub fn write_report(
    root: &Path,
    results: &Path,
    quick: bool,
    specs: &[claims::ClaimSpec],
) -> Result<Vec<claims::ClaimRow>, LabError> {
    let mut measured = BTreeMap::new();
    let mut summaries = BTreeMap::new();
    let mut titles = BTreeMap::new();
    let mut ran = Vec::new();
    for exp in experiments::registry() {
        for p in ["f32", "f64"] {
            let path = results.join(exp.id()).join(p).join("summary.json");
            let Ok(bytes) = std::fs::read(&path) else { continue };
            let sum: Summary =
                serde_json::from_slice(&bytes).map_err(|e| LabError::LegacyIo(format!("{}: {e}", path.display())))?;
            measured.insert((p.to_string(), exp.id().to_string()), sum.measured.clone());
            ran.push((p.to_string(), exp.id().to_string()));
            titles.insert(exp.id().to_string(), exp.title().to_string());
            summaries.insert((exp.id().to_string(), p.to_string()), sum);
        }
    }
    let _ = root;
    let rows = claims::build_rows(specs, &measured, &ran)?;
    let json = serde_json::to_vec_pretty(&rows).map_err(|e| LabError::LegacyIo(e.to_string()))?;
    noether_io::write_atomic(&results.join("claims.json"), &json)?;
    let report = report::render(&rows, specs, &summaries, &titles, quick);
    noether_io::write_atomic(&results.join("REPORT.md"), report.as_bytes())?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::select;

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
