//! The results directory: a content-addressed cache of job results (one JSON file per job,
//! written atomically, so an interrupted suite loses only the jobs in flight and a re-run
//! skips everything already done), plus per-experiment outputs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::job::Job;
use crate::runner::JobResult;
use crate::LabError;

/// One cached job: what was run, what it measured, how long it took.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub job: Job,
    pub result: JobResult,
    /// Wall time of the job (kept out of claims and summaries, which must be reproducible).
    pub seconds: f64,
}

pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens (creating if needed) a results directory.
    pub fn open(root: &Path) -> Result<Self, LabError> {
        std::fs::create_dir_all(root.join("cache"))
            .map_err(|e| LabError::Io(format!("{}: cannot create results directory: {e}", root.display())))?;
        Ok(Store { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn cache_path(&self, key: &str) -> PathBuf {
        self.root.join("cache").join(format!("{key}.json"))
    }

    /// The cached record of a job, if any. A file that does not parse or belongs to another
    /// job (hash collision) is ignored, and the job re-runs.
    pub fn get(&self, job: &Job) -> Option<Record> {
        let key = job.key();
        let bytes = std::fs::read(self.cache_path(&key)).ok()?;
        let rec: Record = serde_json::from_slice(&bytes).ok()?;
        (rec.key == key && &rec.job == job).then_some(rec)
    }

    pub fn put(&self, rec: &Record) -> Result<(), LabError> {
        let bytes = serde_json::to_vec(rec).map_err(|e| LabError::Io(format!("serialising record: {e}")))?;
        noether_io::write_atomic(&self.cache_path(&rec.key), &bytes)?;
        Ok(())
    }

    /// `results/<EXP>/<precision>/` (created).
    pub fn experiment_dir(&self, id: &str, precision: &str) -> Result<PathBuf, LabError> {
        let d = self.root.join(id).join(precision);
        std::fs::create_dir_all(&d).map_err(|e| LabError::Io(format!("{}: {e}", d.display())))?;
        Ok(d)
    }

    /// Writes `bytes` to `path` atomically.
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), LabError> {
        noether_io::write_atomic(path, bytes)?;
        Ok(())
    }
}
