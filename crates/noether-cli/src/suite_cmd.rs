//! `noether list | run | suite | report`: the experiments of the papers. Progress bars are an
//! observer of the suite's events; every decision is in noether-lab.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use noether_lab::claims::{Verdict, load_claims};
use noether_lab::{SuiteEvent, SuiteOptions, run_suite, select, write_report};

#[derive(Args, Debug)]
pub struct SuiteArgs {
    /// The CI-sized variants (each config's `[quick]` table).
    #[arg(long)]
    pub quick: bool,
    /// Only these experiments: comma-separated ids or inclusive ranges (E01,E05 or E01..E12).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub jobs: usize,
    /// Results directory.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// Directory holding configs/ and data/ (paper-claims.toml, reference/).
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    #[command(flatten)]
    pub slurm: crate::slurm_cmd::SlurmArgs,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Experiment id (E05), or a config file (configs/E05.toml, or your own with `id = "E05"`
    /// and another problem: its results go to `<results>/<file stem>/`).
    pub experiment: String,
    #[command(flatten)]
    pub suite: SuiteArgs,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
    /// The results come from --quick runs.
    #[arg(long)]
    pub quick: bool,
}

pub fn list() -> Result<()> {
    for e in select(&[])? {
        println!("{}  {}", e.id(), e.title());
    }
    Ok(())
}

/// One progress bar per experiment (over its precisions); a finished experiment's bar gives
/// way to a one-line note.
struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
}

impl Bars {
    fn new() -> Bars {
        Bars { multi: MultiProgress::new(), bars: HashMap::new() }
    }

    fn bar(&mut self, name: &str) -> &ProgressBar {
        let multi = &self.multi;
        self.bars.entry(name.to_string()).or_insert_with(|| {
            let pb = multi.add(ProgressBar::new(0));
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12} {bar:30} {pos:>4}/{len:4} jobs  {elapsed_precise} eta {eta}",
                )
                .expect("static template"),
            );
            pb.set_prefix(name.to_string());
            pb
        })
    }

    fn event(&mut self, e: &SuiteEvent<'_>) {
        match e {
            SuiteEvent::Planned { name, jobs, cached, .. } => {
                let pb = self.bar(name);
                pb.inc_length(*jobs as u64);
                pb.inc(*cached as u64);
            }
            SuiteEvent::JobFinished { name, .. } => self.bar(name).inc(1),
            SuiteEvent::Summarised { .. } => {}
            SuiteEvent::Done { name } => {
                let pb = self.bar(name);
                let line = format!(
                    "{name:>5} done: {} jobs, {}",
                    pb.length().unwrap_or(0),
                    indicatif::HumanDuration(pb.elapsed())
                );
                pb.finish_and_clear();
                let _ = self.multi.println(line);
            }
            _ => {}
        }
    }
}

pub(crate) fn run_with(opts: SuiteOptions) -> Result<()> {
    let mut bars = Bars::new();
    let out = run_suite(&opts, &mut |e| bars.event(e))?;
    // Registry claims (claims.json) and the claims of user configs' own reports alike.
    let count = |v: Verdict| out.rows.iter().chain(&out.user_rows).filter(|r| r.verdict == v).count();
    let reports: Vec<String> = out.reports.iter().map(|p| p.display().to_string()).collect();
    for (path, reason) in &out.corrupt {
        tracing::warn!("corrupt cache entry {}: {reason}; recomputed", path.display());
    }
    let corrupt = if out.corrupt.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = out
            .corrupt
            .iter()
            .map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default())
            .collect();
        format!(
            "; {} corrupt cache entr{} recomputed ({})",
            names.len(),
            if names.len() == 1 { "y" } else { "ies" },
            names.join(", ")
        )
    };
    let shared = match out.by_others {
        0 => String::new(),
        n => format!(", {n} computed by another process sharing {}", opts.results.display()),
    };
    println!(
        "{} jobs run, {} from cache{shared}{corrupt}, {:.1} s of job time in {:.1} s; claims: {} reproduced, {} differ, {} untestable, {} not run -> {}",
        out.executed,
        out.cached,
        out.job_seconds,
        out.wall_seconds,
        count(Verdict::Reproduced),
        count(Verdict::Differs),
        count(Verdict::Untestable),
        count(Verdict::NotRun),
        reports.join(", ")
    );
    Ok(())
}

fn options(a: &SuiteArgs) -> SuiteOptions {
    SuiteOptions {
        root: a.root.clone(),
        results: a.results.clone(),
        quick: a.quick,
        only: a.only.clone(),
        configs: Vec::new(),
        threads: a.jobs,
    }
}

pub fn suite(a: SuiteArgs) -> Result<()> {
    dispatch(options(&a), &a)
}

/// Locally, or on a Slurm cluster with `--slurm`.
fn dispatch(opts: SuiteOptions, a: &SuiteArgs) -> Result<()> {
    if a.slurm.slurm { crate::slurm_cmd::submit(opts, &a.slurm) } else { run_with(opts) }
}

pub fn run(a: RunArgs) -> Result<()> {
    let mut opts = options(&a.suite);
    // A path (or anything ending in .toml) is a config file; otherwise an experiment id.
    if a.experiment.ends_with(".toml") || Path::new(&a.experiment).exists() {
        opts.configs = vec![PathBuf::from(&a.experiment)];
    } else {
        opts.only = vec![a.experiment.clone()];
    }
    dispatch(opts, &a.suite)
}

pub fn report(a: ReportArgs) -> Result<()> {
    let specs = load_claims(&a.root.join("data").join("paper-claims.toml"))?;
    let rows = write_report(&a.results, a.quick, &specs)?;
    println!("{} claim rows -> {}", rows.len(), a.results.join("REPORT.md").display());
    Ok(())
}
