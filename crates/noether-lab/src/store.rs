//! The results directory: a content-addressed cache of job results (one CBOR file per job,
//! written atomically; CBOR rather than JSON because a diverged run's NaN/inf must read back
//! exactly, and JSON would turn them into `null` and make the record unreadable), so an interrupted suite loses only the jobs in flight and a re-run
//! skips everything already done), plus per-experiment outputs.
//!
//! Several processes may share one results directory (two suites, Slurm array tasks): a job
//! is computed by one of them only. Before computing, a process *claims* the job by locking
//! `cache/<key>.lock` ([`Store::claim`]); the others wait for that lock and then read the
//! record instead of recomputing it. The lock is the operating system's (`flock`), so the
//! claim of a process that died is released with it and the next process takes the job over;
//! there is no timeout to guess. Invariant that keeps this race-free: a lock file is unlinked
//! only by the holder of its lock (after writing the record, or by `gc`), and whoever acquires
//! a lock checks that the path still names the file it locked, and looks again if not.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::job::Job;
use crate::results::JobResult;

/// One cached job: what was run, what it measured, how long it took.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The job's content-addressed key (the cache file's name).
    pub key: String,
    /// The job itself (checked on reading: a key collision recomputes).
    pub job: Job,
    /// What it measured.
    pub result: JobResult,
    /// Wall time of the job (kept out of claims and summaries, which must be reproducible).
    pub seconds: f64,
}

/// A record as the cache stores it: [`Record`]'s fields and a digest of its result, so that a
/// flipped bit in a stored number reads as a corrupt entry instead of a wrong result (CBOR has
/// no checksum of its own; a fuzz campaign found 1.7 % of mutated entries decoding to a valid
/// record with different numbers).
#[derive(Serialize)]
struct StoredRecord<'a> {
    key: &'a str,
    job: &'a Job,
    result: &'a JobResult,
    seconds: f64,
    result_digest: String,
}

/// A stored entry as it is read back, in one pass: exactly [`Record`]'s fields and the digest.
/// Entries written before digests existed have no `result_digest` and are trusted as before,
/// but any other field name is corrupt (a damaged name of the digest field must not pass for an
/// old entry, as fuzzing found it could).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadRecord {
    key: String,
    job: Job,
    result: JobResult,
    seconds: f64,
    #[serde(default)]
    result_digest: Option<String>,
}

/// [`crate::job::content_digest`] of the result's CBOR encoding.
fn result_digest(result: &JobResult) -> Result<String, String> {
    let mut bytes = Vec::new();
    ciborium::into_writer(result, &mut bytes).map_err(|e| e.to_string())?;
    Ok(crate::job::content_digest(&bytes))
}

/// Decodes a cache entry and checks its digest.
fn decode(bytes: &[u8]) -> Result<Record, String> {
    let r = ciborium::from_reader::<ReadRecord, _>(bytes)
        .map_err(|e| format!("not a record ({} bytes): {e}", bytes.len()))?;
    if let Some(want) = &r.result_digest
        && &result_digest(&r.result)? != want
    {
        return Err("its result does not match its digest (a changed or damaged number)".into());
    }
    Ok(Record { key: r.key, job: r.job, result: r.result, seconds: r.seconds })
}

/// What [`Store::lookup`] found.
#[derive(Debug)]
pub enum Lookup {
    /// The job's record.
    Hit(Box<Record>),
    /// No entry.
    Missing,
    /// An entry that cannot be used.
    Corrupt {
        /// The cache file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Who computes a job, when several processes share the results directory (see the module
/// docs).
#[derive(Debug)]
pub enum Claim {
    /// The job's record is in the cache (another process finished it since this one looked).
    Done(Box<Record>),
    /// This process holds the job's lock: compute it, [`Store::put`] the record, then drop
    /// the lock.
    Mine(ClaimLock),
    /// Another live process holds the lock (only from a non-blocking [`Store::claim`]).
    Busy,
}

/// The lock on a job this process computes. Dropping it (after the record is written, or
/// when the job failed) removes the lock file and then releases the lock: unlinking under the
/// lock is what the module's invariant allows. Only a process that dies leaves its lock file
/// behind, and the next claimant takes it over.
#[derive(Debug)]
pub struct ClaimLock {
    /// `None` where the filesystem has no locks (the job is computed without a claim).
    file: Option<File>,
    path: PathBuf,
}

impl Drop for ClaimLock {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = std::fs::remove_file(&self.path);
            drop(file);
        }
    }
}

/// Whether `path` still names the file `file` has open (a lock-holder that finished may have
/// unlinked it after this process opened it, leaving this process a lock on nothing).
fn names_same_file(path: &Path, file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// What [`Store::verify`] found in `cache/`.
#[derive(Debug, Default)]
pub struct CacheReport {
    /// Entries of this results version that read back.
    pub ok: usize,
    /// Entries of an older results version.
    pub stale: Vec<PathBuf>,
    /// Unusable entries, with the reason.
    pub corrupt: Vec<(PathBuf, String)>,
    /// Files that are not cache entries (e.g. a temporary file of an interrupted write).
    pub other: Vec<PathBuf>,
    /// Lock files of jobs being computed, or left by a process that died (see [`Claim`]).
    pub claims: Vec<PathBuf>,
}

/// A results directory: `cache/` (one CBOR record per job) and the per-experiment outputs.
/// Every file is written atomically.
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) a results directory.
    pub fn open(root: &Path) -> Result<Self, LabError> {
        let cache = root.join("cache");
        std::fs::create_dir_all(&cache).map_err(|e| LabError::io(cache, e))?;
        Ok(Store { root: root.to_path_buf() })
    }

    /// The results directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn cache_path(&self, key: &str) -> PathBuf {
        self.root.join("cache").join(format!("{key}.cbor"))
    }

    fn claim_path(&self, key: &str) -> PathBuf {
        self.root.join("cache").join(format!("{key}.lock"))
    }

    /// Claims a job for this process (see the module docs): `Done` if its record is in the
    /// cache, `Mine` once this process holds its lock, `Busy` if another process holds it and
    /// `wait` is false. With `wait` it blocks until the holder finishes (then `Done`) or dies
    /// (then `Mine`: the job is taken over).
    pub fn claim(&self, job: &Job, wait: bool) -> Result<Claim, LabError> {
        use std::fs::TryLockError;
        let path = self.claim_path(&job.key());
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| LabError::io(&path, e))?;
            let locked = if wait { file.lock().map_err(TryLockError::Error) } else { file.try_lock() };
            match locked {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(Claim::Busy),
                // A filesystem without locks (some network mounts): compute without a claim.
                Err(TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                    return Ok(Claim::Mine(ClaimLock { file: None, path }));
                }
                Err(TryLockError::Error(e)) => return Err(LabError::io(&path, e)),
            }
            if !names_same_file(&path, &file) {
                continue; // locked a file its finished holder had unlinked: look again
            }
            // Under the lock: finished meanwhile (by the holder this process waited for, or by
            // one that died before removing its lock file)? Dropping the lock removes the file.
            if let Lookup::Hit(rec) = self.lookup(job) {
                drop(ClaimLock { file: Some(file), path });
                return Ok(Claim::Done(rec));
            }
            // Who holds it, for a person looking at a stuck run (`cat cache/<key>.lock`).
            let mut f = &file;
            let _ = f
                .set_len(0)
                .and_then(|()| std::io::Write::write_all(&mut f, format!("pid {}\n", std::process::id()).as_bytes()));
            return Ok(Claim::Mine(ClaimLock { file: Some(file), path }));
        }
    }

    /// The cached record of a job, if any (see [`Store::lookup`]; a corrupt entry counts as
    /// absent here).
    pub fn get(&self, job: &Job) -> Option<Record> {
        match self.lookup(job) {
            Lookup::Hit(rec) => Some(*rec),
            _ => None,
        }
    }

    /// The cache entry of a job: a record, nothing, or an entry that cannot be used (unreadable,
    /// not CBOR, truncated, or holding another job), with the reason. The caller recomputes a
    /// corrupt entry and says so; the atomic write then replaces it.
    pub fn lookup(&self, job: &Job) -> Lookup {
        let key = job.key();
        let path = self.cache_path(&key);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
            Err(e) => return Lookup::Corrupt { path, reason: format!("unreadable: {e}") },
        };
        match decode(&bytes) {
            Err(reason) => Lookup::Corrupt { path, reason },
            Ok(rec) if rec.key != key || &rec.job != job => {
                Lookup::Corrupt { path, reason: "holds another job (key collision or a renamed file)".into() }
            }
            Ok(rec) => Lookup::Hit(Box::new(rec)),
        }
    }

    /// Checks every entry of `cache/`: parses it, and checks that its name is its key and that
    /// its key is what the job hashes to under this build's [`RESULTS_VERSION`](crate::RESULTS_VERSION)
    /// (an entry of an older version is `stale`: never read, removable by [`Store::gc`]).
    pub fn verify(&self) -> Result<CacheReport, LabError> {
        let dir = self.root.join("cache");
        let mut report = CacheReport::default();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| LabError::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if name.ends_with(".lock") && !name.starts_with('.') {
                report.claims.push(path);
                continue;
            }
            let Some(stem) = name.strip_suffix(".cbor").filter(|_| !name.starts_with('.')) else {
                report.other.push(path);
                continue;
            };
            let parsed = std::fs::read(&path).map_err(|e| format!("unreadable: {e}")).and_then(|b| decode(&b));
            match parsed {
                Err(reason) => report.corrupt.push((path, reason)),
                Ok(rec) if rec.key != stem => {
                    report.corrupt.push((path, format!("named {stem} but holds the record of {}", rec.key)))
                }
                Ok(rec) if rec.job.key() != rec.key => report.stale.push(path),
                Ok(_) => report.ok += 1,
            }
        }
        Ok(report)
    }

    /// Removes the entries of older results versions (see [`Store::verify`]) and the lock
    /// files no live process holds; returns the removed entries. Corrupt entries are left for
    /// the next run to recompute and report.
    pub fn gc(&self) -> Result<Vec<PathBuf>, LabError> {
        let report = self.verify()?;
        for p in &report.stale {
            std::fs::remove_file(p).map_err(|e| LabError::io(p, e))?;
        }
        for p in &report.claims {
            // Held by nobody: a leftover of a process that died. Removed under its lock, so
            // the invariant of the module docs holds.
            if let Ok(f) = File::open(p)
                && f.try_lock().is_ok()
                && names_same_file(p, &f)
            {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(report.stale)
    }

    /// Writes a record atomically (a temporary file, then a rename), with its result's digest.
    pub fn put(&self, rec: &Record) -> Result<(), LabError> {
        let what = || format!("record {}", rec.key);
        let stored = StoredRecord {
            key: &rec.key,
            job: &rec.job,
            result: &rec.result,
            seconds: rec.seconds,
            result_digest: result_digest(&rec.result).map_err(|e| LabError::serialise(what(), e))?,
        };
        let mut bytes = Vec::new();
        ciborium::into_writer(&stored, &mut bytes).map_err(|e| LabError::serialise(what(), e))?;
        noether_io::write_atomic(&self.cache_path(&rec.key), &bytes)?;
        Ok(())
    }

    /// `results/<EXP>/<precision>/` (created).
    pub fn experiment_dir(&self, id: &str, precision: &str) -> Result<PathBuf, LabError> {
        let d = self.root.join(id).join(precision);
        std::fs::create_dir_all(&d).map_err(|e| LabError::io(&d, e))?;
        Ok(d)
    }

    /// Writes `bytes` to `path` atomically.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), LabError> {
        noether_io::write_atomic(path, bytes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{DataSpec, Measure, NetSpec, ProblemSpec, RngOrder, TrainJob};
    use crate::results::TrainResult;
    use noether_nn::Precision;
    use noether_train::OptimizerKind;

    fn diverged_record() -> Record {
        let job = Job::Train(TrainJob {
            problem: ProblemSpec {
                seed: 7,
                precision: Precision::F32,
                net: NetSpec::two_layer(8, 1.0),
                data: DataSpec::gm200(),
                rng_order: RngOrder::ModelThenData,
                ce_weight: 1.0,
            },
            optimizer: OptimizerKind::Gd,
            lr: 3.0,
            steps: 10,
            measure: Measure::default(),
        });
        let result = JobResult::Train(TrainResult {
            steps_completed: 4,
            diverged: true,
            final_loss: f64::NAN,
            final_accuracy: f64::NAN,
            loss_before_last_update: f64::INFINITY,
            drift: None,
            s_layer_mean: f64::NEG_INFINITY,
            grad_integral: 1.5,
            switching: None,
            sharpness: vec![],
            sharpness_products: 0,
            checkpoints: vec![],
            update: None,
        });
        Record { key: job.key(), job, result, seconds: 0.25 }
    }

    /// A diverged run (NaN and ±inf in its result) must come back from the cache exactly;
    /// otherwise every diverged job re-runs on every resume.
    #[test]
    fn diverged_record_round_trips_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = diverged_record();
        store.put(&rec).unwrap();
        let back = store.get(&rec.job).expect("the cached diverged record must read back");
        let (JobResult::Train(a), JobResult::Train(b)) = (&rec.result, &back.result) else { panic!("wrong kind") };
        assert!(b.final_loss.is_nan() && b.final_accuracy.is_nan());
        assert_eq!(b.loss_before_last_update, f64::INFINITY);
        assert_eq!(b.s_layer_mean, f64::NEG_INFINITY);
        assert_eq!((a.steps_completed, a.diverged, a.grad_integral), (b.steps_completed, b.diverged, b.grad_integral));
        assert_eq!(back.key, rec.key);
    }

    #[test]
    fn a_corrupt_cache_file_is_ignored_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = diverged_record();
        std::fs::write(store.cache_path(&rec.key), b"\xff\x00 not cbor").unwrap();
        assert!(store.get(&rec.job).is_none());
        assert!(
            matches!(store.lookup(&rec.job), Lookup::Corrupt { ref reason, .. } if reason.contains("not a record"))
        );
    }

    /// verify sorts entries into ok / stale (an older results version: the key is not what the
    /// job hashes to now) / corrupt / other files; gc removes the stale ones only.
    #[test]
    fn verify_and_gc_sort_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let good = diverged_record();
        store.put(&good).unwrap();
        let mut old = diverged_record();
        old.key = "0123456789abcdef0123456789abcdef".into(); // as an older version would have hashed it
        store.put(&old).unwrap();
        std::fs::write(store.cache_path("ffffffffffffffffffffffffffffffff"), b"garbage").unwrap();
        let mut misnamed = diverged_record();
        misnamed.key = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into();
        let mut bytes = Vec::new();
        ciborium::into_writer(&misnamed, &mut bytes).unwrap();
        std::fs::write(store.cache_path("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), &bytes).unwrap();
        std::fs::write(dir.path().join("cache/.tmp-partial"), b"x").unwrap();
        let r = store.verify().unwrap();
        assert_eq!(r.ok, 1);
        assert_eq!(r.stale, vec![store.cache_path(&old.key)]);
        assert_eq!(r.corrupt.len(), 2, "{:?}", r.corrupt);
        assert_eq!(r.other.len(), 1);
        assert_eq!(store.gc().unwrap(), vec![store.cache_path(&old.key)]);
        assert!(!store.cache_path(&old.key).exists() && store.cache_path(&good.key).exists());
        assert_eq!(store.verify().unwrap().stale.len(), 0);
    }

    /// A claim held by someone else is Busy; once its holder has written the record and
    /// released it, the job is Done (read, not recomputed).
    #[test]
    fn a_held_claim_is_busy_and_then_done() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = diverged_record();
        let Claim::Mine(lock) = store.claim(&rec.job, false).unwrap() else { panic!("a fresh job is free") };
        // Another claimant (a separate open file description, as another process would have).
        assert!(matches!(store.claim(&rec.job, false).unwrap(), Claim::Busy));
        let text = std::fs::read_to_string(store.claim_path(&rec.key)).unwrap();
        assert_eq!(text, format!("pid {}\n", std::process::id()));
        store.put(&rec).unwrap();
        drop(lock);
        assert!(!store.claim_path(&rec.key).exists(), "released claims leave no lock file");
        assert!(matches!(store.claim(&rec.job, false).unwrap(), Claim::Done(r) if r.key == rec.key));
    }

    /// The lock of a process that died is released by the operating system: a lock file left
    /// behind is taken over at once, and a blocking claim waits for a live holder and takes the
    /// job over when that holder goes away without a record. gc removes only unheld lock files.
    #[test]
    fn claims_of_dead_holders_are_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = diverged_record();
        let path = store.claim_path(&rec.key);
        std::fs::write(&path, b"pid 999999\n").unwrap(); // the leftover of a killed process
        let Claim::Mine(lock) = store.claim(&rec.job, false).unwrap() else { panic!("a leftover is free") };
        drop(lock); // a failed job: the claim and its file go
        assert!(!path.exists());

        // A live holder (another open file description, as another process has) that dies:
        // its descriptor closes, the lock file stays.
        let holder = OpenOptions::new().create(true).truncate(false).write(true).open(&path).unwrap();
        holder.lock().unwrap();
        let started = std::time::Instant::now();
        let dies = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(holder);
        });
        assert!(matches!(store.claim(&rec.job, false).unwrap(), Claim::Busy));
        let claim = store.claim(&rec.job, true).unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(250), "the blocking claim waited");
        assert!(matches!(claim, Claim::Mine(_)), "taken over: {claim:?}");
        dies.join().unwrap();
        // Held: listed by verify, left alone by gc.
        assert_eq!(store.verify().unwrap().claims, vec![path.clone()]);
        store.gc().unwrap();
        assert!(path.exists());
        drop(claim);
        // Unheld leftovers are removed by gc.
        std::fs::write(&path, b"pid 999999\n").unwrap();
        assert_eq!(store.verify().unwrap().claims.len(), 1);
        store.gc().unwrap();
        assert!(store.verify().unwrap().claims.is_empty() && !path.exists());
    }
}
