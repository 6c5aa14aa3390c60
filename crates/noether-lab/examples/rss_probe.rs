//! scratch: RSS after a hessian job
use noether_lab::job::{DataSpec, HessianJob, Job, NetSpec, ProblemSpec, RngOrder};
use noether_lab::runner::run_job;
use noether_train::run::Precision;
fn rss() -> String { std::fs::read_to_string("/proc/self/status").unwrap().lines().filter(|l| l.starts_with("VmRSS")||l.starts_with("VmHWM")).collect::<Vec<_>>().join(" ") }
fn main() {
    faer::set_global_parallelism(faer::Par::Seq);
    let args: Vec<String> = std::env::args().collect();
    let precision = if args.get(1).map(String::as_str) == Some("f64") { Precision::F64 } else { Precision::F32 };
    let width: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let train_steps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(0);
    println!("start {}", rss());
    for seed in [42u64, 137] {
        let job = Job::Hessian(HessianJob { problem: ProblemSpec { seed, precision, net: NetSpec::two_layer(width, 0.0), data: DataSpec::gm200(), rng_order: RngOrder::ModelThenData, ce_weight: 1.0 }, train_steps, train_lr: 0.01, ck: true });
        let r = run_job(&job).unwrap();
        println!("after seed {seed}: {} ({})", rss(), r.hessian().unwrap().eigenvalues.len());
    }
}
