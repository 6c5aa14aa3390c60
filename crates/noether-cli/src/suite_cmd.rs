//! `noether list | run | suite | report`: the experiments of the paper.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use indicatif::MultiProgress;
use noether_lab::claims::{Verdict, load_claims};
use noether_lab::{SuiteOptions, run_suite, select, write_report};

#[derive(Args, Debug)]
pub struct SuiteArgs {
    /// The CI-sized variants (each config's [quick] table).
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
    /// Directory holding configs/ and data/paper-claims.toml.
    #[arg(long, default_value = ".")]
    pub root: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Experiment id (E05) or its config file (configs/E05.toml).
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

pub fn suite(a: SuiteArgs) -> Result<()> {
    let opts = SuiteOptions {
        root: a.root.clone(),
        results: a.results.clone(),
        quick: a.quick,
        only: a.only.clone(),
        threads: a.jobs,
    };
    let multi = MultiProgress::new();
    let out = run_suite(&opts, Some(&multi))?;
    let count = |v: Verdict| out.rows.iter().filter(|r| r.verdict == v).count();
    println!(
        "{} jobs run, {} from cache, {:.1} s of job time in {:.1} s; claims: {} reproduced, {} differ, {} not run -> {}",
        out.executed,
        out.cached,
        out.job_seconds,
        out.wall_seconds,
        count(Verdict::Reproduced),
        count(Verdict::Differs),
        count(Verdict::NotRun),
        a.results.join("REPORT.md").display()
    );
    Ok(())
}

pub fn run(a: RunArgs) -> Result<()> {
    let id = PathBuf::from(&a.experiment)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| a.experiment.clone());
    let mut s = a.suite;
    s.only = vec![id];
    suite(s)
}

pub fn report(a: ReportArgs) -> Result<()> {
    let specs = load_claims(&a.root.join("data").join("paper-claims.toml"))?;
    let rows = write_report(&a.root, &a.results, a.quick, &specs)?;
    println!("{} claim rows -> {}", rows.len(), a.results.join("REPORT.md").display());
    Ok(())
}
