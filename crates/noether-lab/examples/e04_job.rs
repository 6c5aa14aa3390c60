//! Runs one E04 paper-scale training job (784→32×4→10, n = 2000, MSE, GD, λ_max by warm
//! Lanczos every 25 steps, checkpoints every 25) and prints its wall time and a digest of the
//! result, for profiling: `cargo run --release -p noether-lab --example e04_job -- f32 2.0 5000`.

use std::time::Instant;

use noether_lab::job::{
    DataSpec, Job, Measure, NetSpec, ProblemSpec, RngOrder, SharpnessMethod, SharpnessSpec, TrainJob,
};
use noether_lab::runner::run_job;
use noether_nn::Precision;
use noether_train::OptimizerKind;

fn main() {
    faer::set_global_parallelism(faer::Par::Seq);
    let args: Vec<String> = std::env::args().collect();
    let precision = if args.get(1).map(String::as_str) == Some("f64") { Precision::F64 } else { Precision::F32 };
    let lr: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2.0);
    let steps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let seed: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(42);
    let sharp = args.get(5).map(String::as_str) != Some("nosharp");
    let job = Job::Train(TrainJob {
        problem: ProblemSpec {
            seed,
            precision,
            net: NetSpec { hidden: vec![32; 4], activation_eps: 1.0, bias: false },
            data: DataSpec::Mnist { n: 2000 },
            rng_order: RngOrder::ModelThenData,
            ce_weight: 0.0,
        },
        optimizer: OptimizerKind::Gd,
        lr,
        steps,
        measure: Measure {
            checkpoint_every: Some(25),
            sharpness: sharp.then_some(SharpnessSpec { every: 25, method: SharpnessMethod::WarmLanczos { tol: 1e-4 } }),
            ..Measure::default()
        },
    });
    let t = Instant::now();
    let res = run_job(&job).expect("job runs");
    let secs = t.elapsed().as_secs_f64();
    let json = serde_json::to_string(&res).unwrap();
    if let Ok(out) = std::env::var("E04_JOB_OUT") {
        std::fs::write(out, &json).unwrap();
    }
    let r = res.train().expect("train");
    let lam: Vec<f64> = r.sharpness.iter().map(|p| p.lambda_max).collect();
    let conv = r.sharpness.iter().filter(|p| p.converged).count();
    println!(
        "{precision:?} lr={lr} steps={steps}: {secs:.2} s; final loss {:.6e}; drift {:?}; λ points {} (converged {conv}), products {}, last λ {:?}; key-digest {:016x}",
        r.final_loss,
        r.drift.as_ref().map(|d| d.drift_from_step1_sum),
        lam.len(),
        r.sharpness_products,
        lam.last(),
        digest(&json)
    );
}

fn digest(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
