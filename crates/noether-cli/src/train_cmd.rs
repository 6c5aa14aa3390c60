//! `noether train`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use noether_train::run::{execute, write_outputs};

use crate::problem_args::ProblemArgs;

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,
    /// Learning rate η (constant).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Number of full-batch updates T.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Optimizer: gd | momentum:B | adam.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Record a trajectory point every K steps (and always at the last step).
    #[arg(long, value_name = "K")]
    pub record_every: Option<usize>,
    /// Output directory for run.json, final.npz and timing.json.
    #[arg(long, default_value = "noether-run")]
    pub out: PathBuf,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let mut cfg = a.problem.config()?;
    if let Some(v) = a.lr {
        cfg.lr = v;
    }
    if let Some(v) = a.steps {
        cfg.steps = v;
    }
    if let Some(v) = &a.optimizer {
        cfg.optimizer = v.clone();
    }
    if let Some(v) = a.record_every {
        cfg.record_every = v;
    }
    let run = cfg.validate()?;
    tracing::info!(seed = cfg.seed, lr = cfg.lr, steps = cfg.steps, precision = %cfg.precision, "training");
    let bar = ProgressBar::new(cfg.steps as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} train {bar:40} {pos}/{len} steps  {per_sec}  eta {eta}")
            .expect("static template"),
    );
    let started = Instant::now();
    let out = execute(&run, &mut |t| {
        if t % 64 == 0 {
            bar.set_position(t as u64);
        }
    })?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    write_outputs(&a.out, &out).with_context(|| format!("writing results to {}", a.out.display()))?;
    let timing = serde_json::json!({ "wall_seconds": seconds, "steps": out.record.summary.steps_completed });
    noether_io::write_atomic(&a.out.join("timing.json"), serde_json::to_string_pretty(&timing)?.as_bytes())?;
    let s = &out.record.summary;
    if s.steps_completed == 0 && !s.diverged {
        println!(
            "steps = 0: θ_0 evaluated only (loss {:.6e}, accuracy {:.3}); no update, so no drift -> {}",
            s.final_loss,
            s.final_accuracy,
            a.out.display()
        );
    } else if s.diverged {
        println!("diverged at step {} (non-finite loss); results in {}", s.diverged_at.unwrap_or(0), a.out.display());
    } else {
        let drift = s.drift.as_ref();
        println!(
            "final loss {:.6e}  accuracy {:.3}  |ΔC| {:?}  S {:?}  ({:.2} s) -> {}",
            s.final_loss,
            s.final_accuracy,
            drift.map(|d| d.abs_drift_final.clone()).unwrap_or_default(),
            drift.map(|d| d.s.clone()).unwrap_or_default(),
            seconds,
            a.out.display()
        );
    }
    Ok(())
}
