//! The results directory: a content-addressed cache of job results (one CBOR file per job,
//! written atomically; CBOR rather than JSON because a diverged run's NaN/inf must read back
//! exactly, and JSON would turn them into `null` and make the record unreadable), so an interrupted suite loses only the jobs in flight and a re-run
//! skips everything already done), plus per-experiment outputs.

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
        match ciborium::from_reader::<Record, _>(bytes.as_slice()) {
            Err(e) => Lookup::Corrupt { path, reason: format!("not a record ({} bytes): {e}", bytes.len()) },
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
            let Some(stem) = name.strip_suffix(".cbor").filter(|_| !name.starts_with('.')) else {
                report.other.push(path);
                continue;
            };
            let parsed = std::fs::read(&path).map_err(|e| format!("unreadable: {e}")).and_then(|b| {
                ciborium::from_reader::<Record, _>(b.as_slice()).map_err(|e| format!("not a record: {e}"))
            });
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

    /// Removes the entries of older results versions (see [`Store::verify`]); returns them.
    /// Corrupt entries are left for the next run to recompute and report.
    pub fn gc(&self) -> Result<Vec<PathBuf>, LabError> {
        let report = self.verify()?;
        for p in &report.stale {
            std::fs::remove_file(p).map_err(|e| LabError::io(p, e))?;
        }
        Ok(report.stale)
    }

    /// Writes a record atomically (a temporary file, then a rename).
    pub fn put(&self, rec: &Record) -> Result<(), LabError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(rec, &mut bytes).map_err(|e| LabError::serialise(format!("record {}", rec.key), e))?;
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
}
