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

    /// The cached record of a job, if any. A file that does not parse or belongs to another
    /// job (hash collision) is ignored, and the job re-runs.
    pub fn get(&self, job: &Job) -> Option<Record> {
        let key = job.key();
        let bytes = std::fs::read(self.cache_path(&key)).ok()?;
        let rec: Record = ciborium::from_reader(bytes.as_slice()).ok()?;
        (rec.key == key && &rec.job == job).then_some(rec)
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
    }
}
