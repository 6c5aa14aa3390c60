//! Prints, for every record of a results cache, the job key and kind, precision, the scheduler's cost
//! estimate (`Job::cost`) and the measured wall seconds, to calibrate the cost model:
//! `cargo run --release -p noether-lab --example job_costs -- results/cache`.

use noether_lab::Job;
use noether_lab::store::Record;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "results/cache".into());
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("cache directory") {
        let path = entry.expect("entry").path();
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(rec) = ciborium::from_reader::<Record, _>(bytes.as_slice()) else { continue };
        let kind = match &rec.job {
            Job::Train(j) => {
                if j.measure.sharpness.is_some() {
                    "train+sharp"
                } else {
                    "train"
                }
            }
            Job::Hessian(_) => "hessian",
            Job::CkModes(_) => "ckmodes",
            Job::Trajectory(j) => {
                if j.ck {
                    "trajectory+ck"
                } else {
                    "trajectory"
                }
            }
            Job::Stream(_) => "stream",
        };
        rows.push((rec.key.clone(), kind, rec.job.precision().name(), rec.job.cost(), rec.seconds));
    }
    rows.sort_by(|a, b| b.4.total_cmp(&a.4));
    println!("key\tkind\tprecision\tcost\tseconds\tns_per_cost_unit");
    for (key, k, p, c, s) in rows {
        println!("{key}\t{k}\t{p}\t{c:.4e}\t{s:.3}\t{:.4}", s * 1e9 / c.max(1.0));
    }
}
