//! End-to-end tests of the experiment suite: the quick suite runs and its claims.json is well
//! formed; an interrupted suite resumes to the identical claims.json; bad configs fail before
//! any compute.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn noether() -> Command {
    Command::new(env!("CARGO_BIN_EXE_noether"))
}

fn run(args: &[&str]) -> Output {
    noether().args(args).output().expect("spawn noether")
}

fn claims(results: &Path) -> Vec<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(&std::fs::read(results.join("claims.json")).unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The claim ids of data/paper-claims.toml.
fn claim_ids() -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace().join("data/paper-claims.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["claim"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn quick_suite_writes_well_formed_claims_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let root = workspace();
    let o = run(&["suite", "--quick", "--results", results.to_str().unwrap(), "--root", root.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = claims(&results);
    let ids = claim_ids();
    assert!(!rows.is_empty());
    let mut seen = BTreeSet::new();
    for r in &rows {
        for field in ["claim", "experiment", "paper", "reference", "measured", "precision", "protocol", "verdict"] {
            assert!(r.get(field).is_some(), "row lacks '{field}': {r}");
        }
        let verdict = r["verdict"].as_str().unwrap();
        assert!(["reproduced", "differs", "untestable", "not-run"].contains(&verdict), "{verdict}");
        assert!(["reference", "robust"].contains(&r["protocol"].as_str().unwrap()));
        assert!(["f32", "f64"].contains(&r["precision"].as_str().unwrap()));
        let id = r["claim"].as_str().unwrap();
        assert!(ids.contains(id), "claims.json has unknown claim {id}");
        if r["protocol"] == "reference" && verdict != "not-run" {
            assert!(r["measured"].is_number(), "{id}: measured value missing");
            seen.insert((id.to_string(), r["precision"].as_str().unwrap().to_string()));
        }
    }
    // Every claim was measured under the reference protocol in both precisions.
    for id in &ids {
        for p in ["f32", "f64"] {
            assert!(seen.contains(&(id.clone(), p.to_string())), "{id} not measured in {p}");
        }
    }
    let report = std::fs::read_to_string(results.join("REPORT.md")).unwrap();
    assert!(report.contains("# noether report") && report.contains("quick"));
}

/// A private root whose E05 config is sized so that a run lasts a few seconds.
fn slow_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("configs")).unwrap();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::copy(workspace().join("data/paper-claims.toml"), root.join("data/paper-claims.toml")).unwrap();
    std::fs::write(
        root.join("configs/E05.toml"),
        r#"id = "E05"
precisions = ["f32", "f64"]
[full]
seeds = [42, 137, 256]
lrs = [1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3]
steps = 1500
robust_max_lr = 0.1
[full.problem]
data = { kind = "gaussian_mixture", n = 200, d = 20, classes = 5, separation = 2.0 }
hidden = [64]
[quick]
seeds = [42]
lrs = [0.01, 0.1, 0.3]
steps = 100
"#,
    )
    .unwrap();
    root
}

/// Completed job files in a cache directory (a kill can leave a temporary file of an
/// interrupted atomic write behind; it does not count and is never read).
fn cached_jobs(cache: &Path) -> usize {
    std::fs::read_dir(cache)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.ends_with(".cbor") && !name.starts_with('.')
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn interrupted_suite_resumes_to_identical_claims() {
    let dir = tempfile::tempdir().unwrap();
    let root = slow_root(dir.path());
    let args = |results: &Path| {
        vec![
            "run".to_string(),
            "E05".into(),
            "--jobs".into(),
            "1".into(),
            "--results".into(),
            results.display().to_string(),
            "--root".into(),
            root.display().to_string(),
        ]
    };
    // Reference: an uninterrupted run.
    let clean = dir.path().join("clean");
    let o = noether().args(args(&clean)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // Interrupted: kill the process once a few jobs are cached (SIGKILL: nothing gets to clean up).
    let resumed = dir.path().join("resumed");
    let mut child = noether().args(args(&resumed)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let cache = resumed.join("cache");
    let started = Instant::now();
    loop {
        let n = cached_jobs(&cache);
        if n >= 4 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before it could be interrupted");
    let cached_before = cached_jobs(&cache);
    assert!(cached_before >= 4 && cached_before < 36, "{cached_before} jobs cached at the kill");
    assert!(!resumed.join("claims.json").exists());

    let o = noether().args(args(&resumed)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains(&format!("{} from cache", cached_before)), "resume did not reuse the cache: {stdout}");
    assert_eq!(
        std::fs::read(clean.join("claims.json")).unwrap(),
        std::fs::read(resumed.join("claims.json")).unwrap(),
        "claims.json after resume differs from an uninterrupted run"
    );
    assert_eq!(
        std::fs::read(clean.join("E05/f32/summary.json")).unwrap(),
        std::fs::read(resumed.join("E05/f32/summary.json")).unwrap()
    );
}

#[test]
fn bad_suite_inputs_fail_before_compute() {
    let dir = tempfile::tempdir().unwrap();
    let root = slow_root(dir.path());
    let results = dir.path().join("r");
    // Unknown experiment id.
    let o = run(&["suite", "--only", "E99", "--results", results.to_str().unwrap(), "--root", root.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("E99") && e.contains("E05"), "{e}");
    // Unknown key in an experiment config.
    let cfg = root.join("configs/E05.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("steps = 1500", "step = 1500");
    std::fs::write(&cfg, text).unwrap();
    let o = run(&["run", "E05", "--results", results.to_str().unwrap(), "--root", root.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("E05.toml") && e.contains("[full]") && e.contains("step"), "{e}");
    assert!(
        !results.join("cache").exists() || std::fs::read_dir(results.join("cache")).unwrap().count() == 0,
        "no job may run"
    );
}

/// README's "Your own problem": the shipped example config runs E05 on another problem, and its
/// records really are of that problem.
#[test]
fn example_config_runs_e05_on_its_own_problem() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("r");
    let cfg = workspace().join("configs/examples/E05-gm300.toml");
    let root = workspace();
    let o = run(&[
        "run",
        cfg.to_str().unwrap(),
        "--quick",
        "--results",
        results.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The final line counts the config's own claims (E05.alpha and E05.r2, 3 protocol rows).
    let line = String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default().to_string();
    let counted: usize = ["reproduced", "differ", "not run"]
        .iter()
        .map(|w| {
            let before = line.split(&format!(" {w}")).next().unwrap_or_default();
            before.rsplit(' ').next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0)
        })
        .sum();
    assert_eq!(counted, 3, "{line}");
    let out = results.join("E05-gm300");
    let records = std::fs::read_to_string(out.join("f64/records.jsonl")).unwrap();
    assert_eq!(records.lines().count(), 2 * 6, "2 seeds × 6 learning rates");
    for line in records.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let p = &v["job"]["problem"];
        assert_eq!(p["data"]["n"], 300, "{line}");
        assert_eq!(p["data"]["d"], 12);
        assert_eq!(p["data"]["classes"], 4);
        assert_eq!(p["net"]["hidden"], serde_json::json!([48]));
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("f64/summary.json")).unwrap()).unwrap();
    assert!(summary["measured"].as_array().is_some_and(|m| m.iter().any(|x| x["claim"] == "E05.alpha")));
    assert!(out.join("f64/drift_vs_lr.svg").exists());
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    assert!(report.contains("n = 300") && report.contains("E05.alpha"), "{report}");
}

/// Corrupt cache entries are named by `noether cache verify`, then recomputed and named in the
/// next run's final line; the claims do not change.
#[test]
fn corrupt_cache_entries_are_reported_and_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let root = slow_root(dir.path());
    let results = dir.path().join("r");
    let (r, rt) = (results.to_str().unwrap(), root.to_str().unwrap());
    let o = run(&["run", "E05", "--quick", "--results", r, "--root", rt]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let claims = std::fs::read(results.join("claims.json")).unwrap();
    let o = run(&["cache", "verify", "--results", r]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("6 entries ok"), "{}", String::from_utf8_lossy(&o.stdout));

    let mut entries: Vec<_> = std::fs::read_dir(results.join("cache")).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let bytes = std::fs::read(&entries[0]).unwrap();
    std::fs::write(&entries[0], &bytes[..bytes.len() / 2]).unwrap(); // truncated
    std::fs::write(&entries[1], b"not cbor at all").unwrap(); // garbage
    let names: Vec<String> =
        entries[..2].iter().map(|p| p.file_name().unwrap().to_string_lossy().to_string()).collect();

    let o = run(&["cache", "verify", "--results", r]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("2 corrupt cache entries") && names.iter().all(|n| e.contains(n.as_str())), "{e}");

    let o = run(&["run", "E05", "--quick", "--results", r, "--root", rt]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default().to_string();
    assert!(line.contains("2 jobs run, 4 from cache; 2 corrupt cache entries recomputed"), "{line}");
    assert!(names.iter().all(|n| line.contains(n.as_str())), "{line}");
    assert_eq!(std::fs::read(results.join("claims.json")).unwrap(), claims);
    let o = run(&["cache", "verify", "--results", r]);
    assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains("6 entries ok"));
    // A directory without a cache is an error, not a new empty cache.
    let o = run(&["cache", "gc", "--results", dir.path().join("nowhere").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!dir.path().join("nowhere").exists());
}

/// The `N jobs run` count of a suite's final line.
fn jobs_run(stdout: &[u8]) -> usize {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().last().unwrap_or_default();
    line.split(" jobs run")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no job count in: {line}"))
}

/// Two processes sharing one results directory compute every job once between them (each job
/// is claimed by a lock in the cache), and their claims equal those of a run on its own.
#[test]
fn two_suites_sharing_a_results_directory_compute_each_job_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = slow_root(dir.path());
    let args = |results: &Path| {
        let (r, rt) = (results.display().to_string(), root.display().to_string());
        ["run", "E05", "--jobs", "1", "--results", &r, "--root", &rt].map(String::from).to_vec()
    };
    let alone = dir.path().join("alone");
    let o = noether().args(args(&alone)).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let total = jobs_run(&o.stdout);
    assert_eq!(total, 36);

    let shared = dir.path().join("shared");
    let spawn = || noether().args(args(&shared)).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for o in [&a, &b] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (ran_a, ran_b) = (jobs_run(&a.stdout), jobs_run(&b.stdout));
    assert_eq!(
        ran_a + ran_b,
        total,
        "each job must be computed once: {ran_a} + {ran_b} jobs run\n{}\n{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout)
    );
    assert_eq!(std::fs::read(alone.join("claims.json")).unwrap(), std::fs::read(shared.join("claims.json")).unwrap());
    assert_eq!(cached_jobs(&shared.join("cache")), total);
    let locks = std::fs::read_dir(shared.join("cache"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".lock"));
    assert_eq!(locks.count(), 0, "every claim is released and its lock file removed");
}

/// A small tmpfs mounted for one test and unmounted however the test ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. "16k") at `dir`; `None` where this process may not mount
    /// (not root, or no CAP_SYS_ADMIN in a container).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }

    fn remount(&self, options: &str) {
        let s = Command::new("mount").args(["-o", &format!("remount,{options}")]).arg(&self.0).status().unwrap();
        assert!(s.success(), "remount {options} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Files under `dir` whose name marks an unfinished write or a claim.
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let (p, name) = (e.path(), e.file_name().to_string_lossy().to_string());
            if p.is_dir() {
                stack.push(p);
            } else if name.contains(".tmp") || name.ends_with(".lock") {
                out.push(p);
            }
        }
    }
    out
}

/// A full disk, then a read-only one: each run fails with one line that names the file, the
/// OS error and how to resume; every finished cache entry stays readable and nothing
/// temporary is left; with space again the same command resumes from the cache to the claims
/// of a run that never failed. Runs on a real 16 KiB tmpfs (mounting needs root, as in CI).
#[test]
fn a_full_or_read_only_disk_loses_nothing_and_the_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let root = slow_root(dir.path());
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "16k") else {
        eprintln!(
            "******** SKIPPED a_full_or_read_only_disk_loses_nothing_and_the_run_resumes: cannot mount a tmpfs (needs root) ********"
        );
        return;
    };
    let results = disk.0.join("r");
    let (r, rt) = (results.to_str().unwrap(), root.to_str().unwrap());
    let args = ["run", "E05", "--quick", "--jobs", "1", "--results", r, "--root", rt];
    let one_line_error = |o: &Output, what: &str| {
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stdout));
        let e = String::from_utf8_lossy(&o.stderr).trim().to_string();
        assert_eq!(e.lines().count(), 1, "one line: {e}");
        assert!(e.contains(what) && e.contains(r) && e.contains("run the same command again to resume"), "{e}");
    };
    let verify_ok = || {
        let o = run(&["cache", "verify", "--results", r]);
        assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    };

    let o = run(&args);
    one_line_error(&o, "No space left on device");
    let finished = cached_jobs(&results.join("cache"));
    assert!(finished >= 1 && finished < 6, "{finished} jobs cached on a 16 KiB disk");
    assert_eq!(leftovers(&disk.0), Vec::<PathBuf>::new());
    verify_ok();

    disk.remount("ro");
    let o = run(&args);
    one_line_error(&o, "Read-only file system");
    assert_eq!(cached_jobs(&results.join("cache")), finished);
    verify_ok();

    disk.remount("rw,size=8m");
    let o = run(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout).lines().last().unwrap_or_default().to_string();
    assert!(line.contains(&format!("{} jobs run, {finished} from cache", 6 - finished)), "{line}");
    assert_eq!(leftovers(&disk.0), Vec::<PathBuf>::new());

    let alone = dir.path().join("alone");
    let o = run(&["run", "E05", "--quick", "--results", alone.to_str().unwrap(), "--root", rt]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(alone.join("claims.json")).unwrap(), std::fs::read(results.join("claims.json")).unwrap());
}

/// `--slurm --dry-run` plans and prints the two sbatch scripts without submitting (no sbatch
/// needed); `noether exec` refuses a missing or damaged manifest with one line.
#[test]
fn slurm_dry_run_prints_the_scripts_and_exec_checks_its_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let root = slow_root(dir.path());
    let results = dir.path().join("r");
    let (r, rt) = (results.to_str().unwrap(), root.to_str().unwrap());
    let o = run(&["run", "E05", "--quick", "--slurm", "--array-size", "4", "--dry-run", "--results", r, "--root", rt]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("6 jobs missing") && text.contains("-> 4 array tasks"), "{text}");
    assert!(
        text.contains("--array=0-3")
            && text.contains("--dependency=afterany:")
            && text.contains("--kill-on-invalid-dep=yes")
    );
    assert!(
        text.contains("exec --manifest")
            && text.contains("--task \"$SLURM_ARRAY_TASK_ID\"")
            && text.contains("--finish")
    );
    assert!(!results.join("slurm").exists(), "a dry run writes no manifest");
    let o = run(&["exec", "--manifest", dir.path().join("none.cbor").to_str().unwrap(), "--task", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("reading the manifest"));
    let junk = dir.path().join("junk.cbor");
    std::fs::write(&junk, b"not cbor").unwrap();
    let o = run(&["exec", "--manifest", junk.to_str().unwrap(), "--finish"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("not a noether manifest") && e.trim().lines().count() == 1, "{e}");
}
