//! The Slurm backend: `noether suite --slurm` (and `noether run … --slurm`) plans every job,
//! writes a manifest under `<results>/slurm/`, submits one job array whose tasks each compute
//! a chunk of the missing jobs into the shared cache (`noether exec --manifest M --task I`),
//! and a dependent job (`afterany`) that summarises (`noether exec --manifest M --finish`).
//! The finishing job resubmits what is still missing (killed or failed tasks) up to
//! `--retries` times, then summarises exactly as a local run would: the records are the same,
//! so claims.json is byte-identical to a local run's.
//!
//! Nothing here computes or decides science: planning, the cache and its per-job claims
//! (several tasks never compute one job twice) are noether-lab's.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::Args;
use noether_lab::SuiteOptions;
use noether_lab::job::Job;
use noether_lab::suite::{compute_jobs, missing_jobs};
use serde::{Deserialize, Serialize};

/// How to submit (the flags of `--slurm`).
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct SlurmArgs {
    /// Run on a Slurm cluster: submit a job array over the shared results cache and a
    /// dependent job that writes the report (the results directory must be on a filesystem
    /// every node sees).
    #[arg(long)]
    pub slurm: bool,
    /// Slurm partition (sbatch --partition).
    #[arg(long, requires = "slurm")]
    pub partition: Option<String>,
    /// Number of array tasks the missing jobs are split into (longest jobs first, balanced by
    /// estimated cost).
    #[arg(long, default_value_t = 8, requires = "slurm")]
    pub array_size: usize,
    /// Time limit of each task (sbatch --time, e.g. 30:00 or 2:00:00).
    #[arg(long, requires = "slurm")]
    pub time: Option<String>,
    /// CPUs per task (sbatch --cpus-per-task); a task runs that many jobs at once.
    #[arg(long, default_value_t = 1, requires = "slurm")]
    pub cpus_per_task: usize,
    /// How often the finishing job resubmits jobs still missing (killed or failed tasks).
    #[arg(long, default_value_t = 2, requires = "slurm")]
    pub retries: usize,
    /// Print the manifest summary and the sbatch scripts instead of submitting.
    #[arg(long, requires = "slurm")]
    pub dry_run: bool,
}

/// `noether exec`: what a Slurm job runs.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The manifest written by `noether suite --slurm`.
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// Compute the jobs of this array task (normally `$SLURM_ARRAY_TASK_ID`).
    #[arg(long, conflicts_with = "finish")]
    pub task: Option<usize>,
    /// Resubmit what is still missing, or summarise and write REPORT.md.
    #[arg(long)]
    pub finish: bool,
}

/// Everything a task or the finishing job needs, written once per submission.
#[derive(Serialize, Deserialize)]
struct Manifest {
    /// The noether version that wrote it (a task run by another build would compute other keys).
    noether: String,
    /// The suite run, with absolute paths.
    suite: SuiteOptions,
    /// How it was submitted (reused by a resubmission, with one retry fewer).
    slurm: SlurmArgs,
    /// The jobs missing at submission, and their keys (a task checks that the job it read
    /// back is the one planned: a manifest must not change a number).
    jobs: Vec<Job>,
    keys: Vec<String>,
    /// Indices into `jobs`, one list per array task.
    tasks: Vec<Vec<usize>>,
}

/// Splits jobs into `n` tasks: longest first, each to the task with the least estimated cost
/// so far (ties to the lowest index), so the array finishes together. Deterministic.
fn balance(jobs: &[Job], n: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| jobs[b].cost().total_cmp(&jobs[a].cost()));
    let mut tasks = vec![Vec::new(); n.min(jobs.len()).max(1)];
    let mut load = vec![0.0f64; tasks.len()];
    for j in order {
        let t = (0..tasks.len()).min_by(|&a, &b| load[a].total_cmp(&load[b])).expect("at least one task");
        load[t] += jobs[j].cost();
        tasks[t].push(j);
    }
    tasks
}

/// `'…'` for sh, with embedded single quotes escaped.
fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

/// Plans, writes the manifest and the scripts, and submits (or prints, with `--dry-run`).
pub fn submit(mut opts: SuiteOptions, slurm: &SlurmArgs) -> Result<()> {
    if slurm.array_size == 0 || slurm.cpus_per_task == 0 {
        bail!("--array-size and --cpus-per-task must be at least 1");
    }
    opts.root = absolute(&opts.root)?;
    opts.results = absolute(&opts.results)?;
    opts.configs = opts.configs.iter().map(|c| absolute(c)).collect::<Result<_>>()?;
    opts.threads = slurm.cpus_per_task;
    let jobs = missing_jobs(&opts)?;
    submit_jobs(opts, slurm, jobs)
}

/// Submits `jobs` (the missing jobs of `opts`, whose paths are absolute) as an array and its
/// finishing job, or summarises here when there are none.
fn submit_jobs(opts: SuiteOptions, slurm: &SlurmArgs, jobs: Vec<Job>) -> Result<()> {
    if jobs.is_empty() {
        println!("every job is in the cache ({}): summarising here, nothing to submit", opts.results.display());
        return crate::suite_cmd::run_with(opts);
    }
    let tasks = balance(&jobs, slurm.array_size);
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let dir = opts.results.join("slurm").join(format!("{stamp}-{}", std::process::id()));
    // CBOR, as the cache: a job's parameters may hold ±∞, which JSON would turn into null
    // and so into another job.
    let manifest_path = dir.join("manifest.cbor");
    let exe = std::env::current_exe().context("locating the noether executable")?;
    let task_sh = format!(
        "#!/bin/bash\n# One array task of {m} (written by noether suite --slurm).\nexec {exe} exec --manifest {m} --task \"$SLURM_ARRAY_TASK_ID\"\n",
        exe = quote(&exe),
        m = quote(&manifest_path)
    );
    let finish_sh = format!(
        "#!/bin/bash\n# After every task of the array: resubmit what is missing, or write the report.\nexec {exe} exec --manifest {m} --finish\n",
        exe = quote(&exe),
        m = quote(&manifest_path)
    );
    let mut common: Vec<String> = vec!["--parsable".into(), format!("--chdir={}", opts.results.display())];
    if let Some(p) = &slurm.partition {
        common.push(format!("--partition={p}"));
    }
    if let Some(t) = &slurm.time {
        common.push(format!("--time={t}"));
    }
    let logs = dir.join("logs");
    let mut array_args = common.clone();
    array_args.extend([
        "--job-name=noether".to_string(),
        format!("--array=0-{}", tasks.len() - 1),
        format!("--cpus-per-task={}", slurm.cpus_per_task),
        format!("--output={}", logs.join("task-%A_%a.out").display()),
    ]);
    let finish_args = |array: &str| {
        let mut a = common.clone();
        a.extend([
            "--job-name=noether-finish".to_string(),
            format!("--dependency=afterany:{array}"),
            "--kill-on-invalid-dep=yes".to_string(),
            format!("--output={}", logs.join("finish-%j.out").display()),
        ]);
        a
    };
    println!(
        "{} jobs missing from {} -> {} array tasks ({} retries if tasks fail)",
        jobs.len(),
        opts.results.display(),
        tasks.len(),
        slurm.retries
    );
    if slurm.dry_run {
        println!("--- {} ---\n{task_sh}", dir.join("task.sh").display());
        println!("--- {} ---\n{finish_sh}", dir.join("finish.sh").display());
        println!("sbatch {} {}", array_args.join(" "), dir.join("task.sh").display());
        println!("sbatch {} {}", finish_args("<array id>").join(" "), dir.join("finish.sh").display());
        println!("(dry run: no manifest written, nothing submitted)");
        return Ok(());
    }
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let keys = jobs.iter().map(Job::key).collect();
    let manifest =
        Manifest { noether: env!("CARGO_PKG_VERSION").into(), suite: opts, slurm: slurm.clone(), jobs, keys, tasks };
    let mut bytes = Vec::new();
    ciborium::into_writer(&manifest, &mut bytes).context("encoding the manifest")?;
    noether_io::write_atomic(&manifest_path, &bytes)?;
    for (name, text) in [("task.sh", &task_sh), ("finish.sh", &finish_sh)] {
        let path = dir.join(name);
        noether_io::write_atomic(&path, text.as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("making {} executable", path.display()))?;
        }
    }
    let array = sbatch(&array_args, &dir.join("task.sh"))?;
    let finish = sbatch(&finish_args(&array), &dir.join("finish.sh"))?;
    println!(
        "submitted array {array} ({} tasks) and the report job {finish} (afterany); follow with `squeue -j {array},{finish}`, logs in {}",
        manifest.tasks.len(),
        logs.display()
    );
    Ok(())
}

/// Runs sbatch and returns the job id it prints with --parsable.
fn sbatch(args: &[String], script: &Path) -> Result<String> {
    let out = Command::new("sbatch").args(args).arg(script).output().context(
        "running sbatch (is this a Slurm login node? sbatch must be on PATH; --dry-run prints the scripts instead)",
    )?;
    if !out.status.success() {
        bail!("sbatch failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `id` or `id;cluster`.
    let id = text.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed '{}', not a job id", text.trim());
    }
    Ok(id)
}

fn read_manifest(path: &Path) -> Result<Manifest> {
    let bytes = std::fs::read(path).with_context(|| format!("reading the manifest {}", path.display()))?;
    let m: Manifest = ciborium::from_reader(bytes.as_slice())
        .with_context(|| format!("{}: not a noether manifest", path.display()))?;
    if m.noether != env!("CARGO_PKG_VERSION") {
        bail!("{}: written by noether {}, this is {}", path.display(), m.noether, env!("CARGO_PKG_VERSION"));
    }
    let intact = m.jobs.len() == m.keys.len() && m.jobs.iter().zip(&m.keys).all(|(j, k)| &j.key() == k);
    let indices_ok = m.tasks.iter().flatten().all(|&i| i < m.jobs.len());
    if !intact || !indices_ok {
        bail!("{}: its jobs do not read back as planned (a damaged manifest)", path.display());
    }
    Ok(m)
}

/// `noether exec`: one array task, or the finishing job.
pub fn exec(a: ExecArgs) -> Result<()> {
    let m = read_manifest(&a.manifest)?;
    match (a.task, a.finish) {
        (Some(t), false) => {
            let Some(indices) = m.tasks.get(t) else {
                bail!("{}: task {t} does not exist (the array has tasks 0..{})", a.manifest.display(), m.tasks.len());
            };
            let jobs: Vec<Job> = indices.iter().map(|&i| m.jobs[i].clone()).collect();
            let started = std::time::Instant::now();
            let totals = compute_jobs(&m.suite.results, &jobs, m.suite.threads, &mut |_| {})?;
            println!(
                "task {t}: {} jobs: {} computed, {} found in the cache, {} computed by another task, in {:.1} s",
                jobs.len(),
                totals.executed,
                totals.cached,
                totals.by_others,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        (None, true) => {
            let jobs = missing_jobs(&m.suite)?;
            let missing = jobs.len();
            if missing == 0 {
                return crate::suite_cmd::run_with(m.suite);
            }
            if m.slurm.retries == 0 {
                bail!(
                    "{missing} jobs are still missing after every retry (see the task logs beside {}); \
                     the finished ones are in the cache: run `noether suite --slurm` again to submit only the missing ones",
                    a.manifest.display()
                );
            }
            println!("{missing} jobs missing after the array (a task was killed or failed): resubmitting them");
            let slurm = SlurmArgs { retries: m.slurm.retries - 1, ..m.slurm };
            // The manifest's options are already absolute and planned: submit what is missing.
            submit_jobs(m.suite, &slurm, jobs)
        }
        _ => bail!("noether exec needs --task I or --finish"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Longest first onto the least-loaded task: every job once, loads within the largest
    /// single job of each other.
    #[test]
    fn balance_spreads_jobs_evenly() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let jobs = noether_lab::suite::planned_jobs(&root, "E05", noether_nn::Precision::F64, true).unwrap();
        let tasks = balance(&jobs, 4);
        let mut all: Vec<usize> = tasks.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..jobs.len()).collect::<Vec<_>>());
        let loads: Vec<f64> = tasks.iter().map(|t| t.iter().map(|&i| jobs[i].cost()).sum()).collect();
        let biggest = jobs.iter().map(Job::cost).fold(0.0, f64::max);
        let (lo, hi) = loads.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &l| (a.min(l), b.max(l)));
        assert!(hi - lo <= biggest, "{loads:?}");
        assert_eq!(balance(&jobs[..2], 8).len(), 2, "never more tasks than jobs");
    }

    #[test]
    fn quoting_survives_spaces_and_quotes() {
        assert_eq!(quote(Path::new("/a b/it's")), r"'/a b/it'\''s'");
    }
}
