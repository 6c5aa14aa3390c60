//! `cargo xtask <task>`: orchestration in plain Rust (no Makefiles; the one shell script,
//! scripts/slurm/, drives Slurm's own command-line tools).
//!
//! Tasks:
//!   suite   build the release binary and run every experiment (`noether suite`), writing
//!           results/claims.json and results/REPORT.md
//!   ci      the tests (README's test command, what .ci/run runs): `cargo test --release
//!           --workspace`, then the Python bindings' wheel built into a fresh venv and their
//!           pytest suite, then the quick suite on a real one-node Slurm cluster
//!   bench   run the divan benchmarks (release) and print their medians
//!   train   build the release binary and run `noether train` on the default problem
//!   fuzz    the fuzzed-reader tests with more cases (`--cases N`, default 100000)
//!   tidy    the house rules the compiler does not check (see `tidy.rs`); also a unit test

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod python;
mod slurm;
mod tidy;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// `cargo test --release --workspace`, the Rust half of the tests.
fn cargo_test() -> Command {
    let mut c = cargo();
    c.args(["test", "--release", "--workspace"]);
    c
}

fn status(mut c: Command) -> Result<()> {
    let what = format!("{c:?}");
    let s = c.status().with_context(|| format!("running {what}"))?;
    if !s.success() {
        bail!("{what} failed with {s}");
    }
    Ok(())
}

const USAGE: &str = "usage: cargo xtask <task> [args]

tasks:
  suite [--quick] [--only E01,E05|E01..E12] [--jobs N]
                   run the experiments and write results/claims.json and results/REPORT.md
  ci               the tests (README's test command): cargo test --release --workspace, then the
                   Python bindings built into a fresh venv (target/python-venv) and their pytest suite,
                   then the quick suite on a private one-node Slurm cluster (scripts/slurm/e2e.sh)
  bench [FILTER]   divan benchmarks of the hot paths (GD step, HVP, Hessian, eigen)
  train [ARGS]     noether train on the default problem (ARGS are passed through)
  fuzz [--cases N] the fuzzed readers (NPY, NPZ, IDX, configs, cache entries) with N cases each (default 100000)
  tidy             module docs, registry/configs/claims/references agree, no unused deps, fmt";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("suite") => {
            let mut c = cargo();
            c.args(["run", "--release", "-p", "noether-cli", "--bin", "noether", "--", "suite"]);
            c.args(&args[1..]);
            status(c)
        }
        Some("ci") => {
            // Each part says how long it took (README quotes these figures).
            let timed = |what: &str, f: &dyn Fn() -> Result<()>| {
                let started = std::time::Instant::now();
                let out = f();
                eprintln!("xtask ci: {what} took {:.0} s", started.elapsed().as_secs_f64());
                out
            };
            timed("cargo test --release --workspace", &|| status(cargo_test()))
                .and_then(|()| timed("the Python bindings (venv, wheel, pytest)", &python::test))
                .and_then(|()| timed("the Slurm test", &slurm::test))
        }
        Some("bench") => {
            let mut c = cargo();
            c.args(["bench", "--workspace", "--bench", "*"]);
            if let Some(f) = args.get(1) {
                c.args(["--", f]);
            }
            status(c)
        }
        Some("fuzz") => {
            let cases = match args.get(1).map(String::as_str) {
                None => Ok("100000".to_string()),
                Some("--cases") => match args.get(2) {
                    Some(n) if n.parse::<usize>().is_ok_and(|n| n > 0) => Ok(n.clone()),
                    other => Err(anyhow::anyhow!("--cases needs a positive number, got {other:?}")),
                },
                Some(other) => Err(anyhow::anyhow!("unknown argument {other}; usage: cargo xtask fuzz [--cases N]")),
            };
            cases.and_then(|n| {
                let mut c = cargo();
                c.env("NOETHER_FUZZ_CASES", &n);
                c.args(["test", "--release", "--test", "fuzz_readers", "--", "--nocapture"]);
                status(c)
            })
        }
        Some("tidy") => {
            let p = tidy::problems(&root());
            if p.is_empty() {
                println!("tidy: no problems");
                Ok(())
            } else {
                for line in &p {
                    eprintln!("{line}");
                }
                Err(anyhow::anyhow!("tidy: {} problem(s)", p.len()))
            }
        }
        Some("train") => {
            let mut c = cargo();
            c.args(["run", "--release", "-p", "noether-cli", "--bin", "noether", "--", "train"]);
            c.args(&args[1..]);
            status(c)
        }
        _ => {
            println!("{USAGE}");
            return if args.is_empty() || args[0] == "--help" || args[0] == "-h" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
