//! Runs jobs in parallel (rayon across jobs, faer sequential inside each), skipping those the
//! cache already holds and saving each result the moment it completes.

use std::collections::HashMap;
use std::time::Instant;

use indicatif::ProgressBar;
use rayon::prelude::*;

use crate::job::Job;
use crate::runner::{run_job, JobResult};
use crate::store::{Record, Store};
use crate::LabError;

/// Results by job key.
#[derive(Default)]
pub struct Results {
    map: HashMap<String, JobResult>,
    /// Jobs executed now (not taken from the cache) and their total wall time.
    pub executed: usize,
    pub cached: usize,
    pub seconds: f64,
}

impl Results {
    pub fn get(&self, job: &Job) -> Result<&JobResult, LabError> {
        self.map.get(&job.key()).ok_or_else(|| LabError::Run(format!("no result for job {}", job.key())))
    }
}

/// Executes `jobs` (duplicates run once) on the current rayon pool.
pub fn execute(jobs: &[Job], store: &Store, bar: &ProgressBar) -> Result<Results, LabError> {
    let mut unique: Vec<&Job> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for j in jobs {
        if seen.insert(j.key()) {
            unique.push(j);
        }
    }
    let mut results = Results::default();
    let mut todo = Vec::new();
    for j in unique {
        match store.get(j) {
            Some(rec) => {
                results.map.insert(rec.key, rec.result);
                results.cached += 1;
            }
            None => todo.push(j),
        }
    }
    bar.set_length((results.cached + todo.len()) as u64);
    bar.set_position(results.cached as u64);
    // Longest first, so the two cores finish together.
    todo.sort_by(|a, b| b.cost().total_cmp(&a.cost()));
    let done: Vec<Result<Record, LabError>> = todo
        .par_iter()
        .map(|job| {
            let started = Instant::now();
            let result = run_job(job)?;
            let rec = Record { key: job.key(), job: (*job).clone(), result, seconds: started.elapsed().as_secs_f64() };
            store.put(&rec)?;
            bar.inc(1);
            Ok(rec)
        })
        .collect();
    for rec in done {
        let rec = rec?;
        results.seconds += rec.seconds;
        results.executed += 1;
        results.map.insert(rec.key, rec.result);
    }
    Ok(results)
}
