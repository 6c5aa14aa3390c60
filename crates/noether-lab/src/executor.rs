//! Runs jobs in parallel (rayon across jobs, faer sequential inside each), skipping those the
//! cache already holds and saving each result the moment it completes. It knows nothing of the
//! terminal: it reports what it does as [`ExecEvent`]s, and progress bars are an observer in
//! the CLI.

use std::collections::HashMap;
use std::time::Instant;

use crate::LabError;
use crate::job::Job;
use crate::results::{JobResult, Results};
use crate::runner::run_job;
use crate::store::{Claim, Lookup, Record, Store};

/// What the executor reports, in order, on the calling thread.
#[derive(Clone, Debug, PartialEq)]
pub enum ExecEvent<'a> {
    /// Before anything runs: batch `batch` needs `jobs` distinct jobs, `cached` of them in the
    /// cache already.
    Planned {
        /// The batch index.
        batch: usize,
        /// Distinct jobs of the batch.
        jobs: usize,
        /// Of those, found in the cache.
        cached: usize,
    },
    /// A job finished and its result is in the cache; `batches` are the batches that need it.
    JobFinished {
        /// The job key.
        key: &'a str,
        /// The batches needing the job.
        batches: &'a [usize],
        /// Its wall time.
        seconds: f64,
    },
    /// Every job of the batch has a result and the batch has been handed on.
    BatchDone {
        /// The batch index.
        batch: usize,
    },
}

/// What [`execute_batches`] did, over all batches (each distinct job counted once).
#[derive(Default)]
pub struct Totals {
    /// Jobs computed by this run.
    pub executed: usize,
    /// Jobs found in the cache.
    pub cached: usize,
    /// Total wall time of the executed jobs.
    pub seconds: f64,
    /// Cache entries that could not be used (and were recomputed), with the reason.
    pub corrupt: Vec<(std::path::PathBuf, String)>,
    /// Jobs missing at planning that another process sharing the results directory computed
    /// meanwhile (read from the cache, not recomputed).
    pub by_others: usize,
}

/// How a worker got a job's record.
enum Got {
    /// Computed here.
    Ran(Record),
    /// Computed by another process (found in the cache once its claim was released).
    ByOther(Record),
}

/// Claims `job` (blocking or not), computes it if it is this process's, and saves the record.
/// `None`: another process holds the job (non-blocking only).
fn claim_and_run(job: &Job, key: &str, store: &Store, wait: bool) -> Result<Option<Got>, LabError> {
    match store.claim(job, wait)? {
        Claim::Busy => Ok(None),
        Claim::Done(rec) => Ok(Some(Got::ByOther(*rec))),
        Claim::Mine(lock) => {
            let started = Instant::now();
            let result = run_job(job)?;
            let rec =
                Record { key: key.to_string(), job: job.clone(), result, seconds: started.elapsed().as_secs_f64() };
            store.put(&rec)?;
            drop(lock); // removes the lock file, then releases the lock
            Ok(Some(Got::Ran(rec)))
        }
    }
}

/// Executes the jobs of several batches (one per experiment and precision) in ONE pool, longest
/// first over all batches, so that no core idles while the last long job of a batch finishes.
/// A job shared by several batches (same key) runs once. Every job's result is saved to the
/// store the moment it completes (an interrupted run loses only the jobs in flight).
///
/// As soon as every job of batch `b` has a result, `on_done(b, results)` is called on the
/// calling thread while the workers go on; an error there (or in a job) stops the workers from
/// starting new jobs and is returned. Results are held in memory only until every batch that
/// needs them is done. `on_event` sees every [`ExecEvent`].
pub fn execute_batches(
    batches: &[&[Job]],
    store: &Store,
    pool: &rayon::ThreadPool,
    on_event: &mut dyn FnMut(ExecEvent<'_>),
    mut on_done: impl FnMut(usize, Results) -> Result<(), LabError>,
) -> Result<Totals, LabError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::mpsc;

    // Distinct jobs in first-planned order, the batches that need each, and the keys of each batch.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut unique: Vec<(&Job, String)> = Vec::new();
    let mut users: Vec<Vec<usize>> = Vec::new();
    let mut batch_keys: Vec<Vec<usize>> = vec![Vec::new(); batches.len()];
    for (b, jobs) in batches.iter().enumerate() {
        let mut in_batch = std::collections::HashSet::new();
        for j in jobs.iter() {
            let key = j.key();
            let u = *index.entry(key.clone()).or_insert_with(|| {
                unique.push((j, key));
                users.push(Vec::new());
                unique.len() - 1
            });
            if in_batch.insert(u) {
                batch_keys[b].push(u);
                users[u].push(b);
            }
        }
    }
    let mut totals = Totals::default();
    let mut have: HashMap<usize, JobResult> = HashMap::new();
    let mut todo = Vec::new();
    for (u, (j, _)) in unique.iter().enumerate() {
        match store.lookup(j) {
            Lookup::Hit(rec) => {
                have.insert(u, rec.result);
                totals.cached += 1;
            }
            Lookup::Missing => todo.push(u),
            Lookup::Corrupt { path, reason } => {
                totals.corrupt.push((path, reason));
                todo.push(u);
            }
        }
    }
    let mut remaining = vec![0usize; batches.len()];
    for (b, keys) in batch_keys.iter().enumerate() {
        let cached = keys.iter().filter(|u| have.contains_key(u)).count();
        remaining[b] = keys.len() - cached;
        on_event(ExecEvent::Planned { batch: b, jobs: keys.len(), cached });
    }
    let mut refs: Vec<usize> = users.iter().map(Vec::len).collect();
    let mut first_error: Option<LabError> = None;
    let stop = AtomicBool::new(false);
    // Hands batch `b` (complete) to `on_done` and frees the results no other batch needs.
    let mut finish = |b: usize, have: &mut HashMap<usize, JobResult>, refs: &mut Vec<usize>| -> Result<(), LabError> {
        let mut res = Results::default();
        for &u in &batch_keys[b] {
            let r = have.get(&u).ok_or_else(|| LabError::MissingResult { key: unique[u].1.clone() })?;
            res.insert_keyed(unique[u].1.clone(), r.clone());
        }
        for &u in &batch_keys[b] {
            refs[u] -= 1;
            if refs[u] == 0 {
                have.remove(&u);
            }
        }
        on_done(b, res)
    };
    for b in 0..batches.len() {
        if remaining[b] == 0 {
            finish(b, &mut have, &mut refs)?;
            on_event(ExecEvent::BatchDone { batch: b });
        }
    }
    // Longest first over everything (stable: equal costs keep the planned order). Workers take
    // the next job from a shared counter, so the order is exactly this one (a plain par_iter
    // would hand the second half of the list to the second thread).
    todo.sort_by(|&a, &b| unique[b].0.cost().total_cmp(&unique[a].0.cost()));
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Result<Got, LabError>)>();
    let workers = pool.current_num_threads().max(1);
    pool.in_place_scope(|s| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, todo, unique) = (&next, &stop, &todo, &unique);
            s.spawn(move |_| {
                // Jobs another process is computing: this worker comes back to them (and waits
                // for their claims) once the shared list is exhausted.
                let mut busy = Vec::new();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&u) = todo.get(i) else { break };
                    let (job, key) = &unique[u];
                    match claim_and_run(job, key, store, false) {
                        Ok(None) => busy.push(u),
                        Ok(Some(got)) => {
                            if tx.send((u, Ok(got))).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send((u, Err(e)));
                            return;
                        }
                    }
                }
                for u in busy {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let (job, key) = &unique[u];
                    let out =
                        claim_and_run(job, key, store, true).map(|got| got.expect("a blocking claim is never busy"));
                    if tx.send((u, out)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (u, out) in rx {
            match out {
                Ok(got) => {
                    let rec = match got {
                        Got::Ran(rec) => {
                            totals.executed += 1;
                            totals.seconds += rec.seconds;
                            rec
                        }
                        Got::ByOther(rec) => {
                            totals.by_others += 1;
                            rec
                        }
                    };
                    let seconds = rec.seconds;
                    have.insert(u, rec.result);
                    on_event(ExecEvent::JobFinished { key: &unique[u].1, batches: &users[u], seconds });
                    for &b in &users[u] {
                        remaining[b] -= 1;
                        if remaining[b] == 0 && first_error.is_none() {
                            match finish(b, &mut have, &mut refs) {
                                Ok(()) => on_event(ExecEvent::BatchDone { batch: b }),
                                Err(e) => {
                                    stop.store(true, Ordering::Relaxed);
                                    first_error = Some(e);
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
        }
    });
    match first_error {
        Some(e) => Err(e),
        None => Ok(totals),
    }
}
