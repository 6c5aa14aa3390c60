//! What jobs produce: one result type per job kind ([`JobResult`]), and [`Results`], the
//! results of one experiment's jobs by job key, which is all an analysis sees.
//!
//! These types are the cache's record format (`results/cache/*.cbor`) and the `result` field of
//! records.jsonl: changing a field changes recorded bytes, so it needs a bump of
//! [`RESULTS_VERSION`](crate::job::RESULTS_VERSION).

use std::collections::HashMap;

use noether_theory::crossover::InputModeCk;
use noether_train::probes::{DriftSummary, SharpnessPoint, SwitchSummary, TrajectoryPoint};
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::job::Job;

/// What a training run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// Updates applied before the run stopped.
    pub steps_completed: usize,
    /// The loss became non-finite.
    pub diverged: bool,
    /// Loss at θ_T (NaN if the run diverged).
    pub final_loss: f64,
    /// Training accuracy at θ_T.
    pub final_accuracy: f64,
    /// Loss at θ_{T−1}, the one computed before the final update (the reference's "final loss").
    pub loss_before_last_update: f64,
    /// Drift of the conservation laws (`None` if the run diverged or had no such probe).
    pub drift: Option<DriftSummary>,
    /// |Σ_t mean_l δ_l(t)| (E6b's S for deep nets).
    pub s_layer_mean: f64,
    /// Trapezoid integral (unit spacing) of Σ_l ‖g_l‖² over t = 0..T−1 (E6b).
    pub grad_integral: f64,
    /// Activation-pattern switching (if probed).
    pub switching: Option<SwitchingResult>,
    /// λ_max along the run (if probed).
    pub sharpness: Vec<SharpnessPoint>,
    /// Hessian-vector products the sharpness probe spent.
    pub sharpness_products: usize,
    /// Loss and accuracy at the logged steps.
    pub checkpoints: Vec<TrajectoryPoint>,
    /// Update-norm statistics (if probed).
    pub update: Option<UpdateResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// What the switching probe measured.
pub struct SwitchingResult {
    /// Flips of the activation pattern per step and neuron.
    pub summary: SwitchSummary,
    /// Pearson correlation of the per-step flip fraction with |δ(t)| (0 if either is constant).
    pub corr_flips_abs_imbalance: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// The update-norm probe's statistics.
pub struct UpdateResult {
    /// |Σ_t (‖ΔW₂‖² − ‖ΔW₁‖²)| over the run (layers 1 and 2).
    pub s_update: f64,
    /// Mean over updates of ‖ΔW₂‖² / max(‖ΔW₁‖², 1e−20).
    pub mean_ratio: f64,
}

/// The Hessian at a point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianResult {
    /// All eigenvalues, ascending.
    pub eigenvalues: Vec<f64>,
    /// c_k in the order of `eigenvalues` (if requested).
    pub ck: Option<Vec<f64>>,
    /// δ(θ) = ‖∂L/∂W_2‖² − ‖∂L/∂W_1‖² at the point.
    pub delta0: f64,
    /// The training loss at the point.
    pub loss: f64,
    /// Did the pre-training (if any) stay finite?
    pub finite: bool,
}

/// Softmax statistics (CE problems; computed in f64 from the logits) and optionally the full
/// Hessian at one checkpoint of a [`TrajectoryJob`](crate::job::TrajectoryJob).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointResult {
    /// Updates applied.
    pub t: usize,
    /// The training loss at the checkpoint.
    pub loss: f64,
    /// The training accuracy at the checkpoint.
    pub accuracy: f64,
    /// Mean, min and max over the samples of q_i = softmax(f_i)\[y_i\].
    pub q_mean: f64,
    /// See `q_mean`.
    pub q_min: f64,
    /// See `q_mean`.
    pub q_max: f64,
    /// mean_i q_i(1 − q_i): E18's stored "softmax_eig_bound" (spec §5.11: a mean, not a max).
    pub softmax_bound_mean: f64,
    /// max_i λ_max(diag p_i − p_i p_iᵀ), exact.
    pub softmax_lambda_max: f64,
    /// max_i max_k p_ik(1 − p_ik): what Thm 6's proof takes for the line above (only a lower bound).
    pub softmax_paper_claimed: f64,
    /// max_i 2·max_k p_ik(1 − p_ik): the corrected (Gershgorin) upper bound.
    pub softmax_corrected_bound: f64,
    /// The full Hessian, at the checkpoints listed in `hessian_at`.
    pub hessian: Option<HessianResult>,
}

/// What a [`TrajectoryJob`](crate::job::TrajectoryJob) measured: one entry per checkpoint reached with a finite loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryResult {
    /// The checkpoints, ascending.
    pub points: Vec<CheckpointResult>,
    /// Step at which the loss became non-finite, if it did.
    pub diverged_at: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
/// What a [`Job`] measured, one variant per job kind.
pub enum JobResult {
    /// Of a [`Job::Train`].
    Train(TrainResult),
    /// Of a [`Job::Hessian`].
    Hessian(HessianResult),
    /// Of a [`Job::CkModes`].
    CkModes(CkModesResult),
    /// Of a [`Job::Trajectory`].
    Trajectory(TrajectoryResult),
    /// Of a [`Job::Stream`].
    Stream(noether_train::streaming::StreamRecord),
}

impl JobResult {
    /// The kind's name, as records spell it.
    pub fn kind(&self) -> &'static str {
        match self {
            JobResult::Train(_) => "train",
            JobResult::Hessian(_) => "hessian",
            JobResult::CkModes(_) => "ck_modes",
            JobResult::Trajectory(_) => "trajectory",
            JobResult::Stream(_) => "stream",
        }
    }

    fn wrong_kind(&self, job: &Job, expected: &'static str) -> LabError {
        LabError::WrongResult { key: job.key(), expected, found: self.kind() }
    }

    /// The training result, if this is one.
    pub fn train(&self) -> Option<&TrainResult> {
        match self {
            JobResult::Train(t) => Some(t),
            _ => None,
        }
    }
    /// The Hessian (of a Hessian or c_k-modes job), if this is one.
    pub fn hessian(&self) -> Option<&HessianResult> {
        match self {
            JobResult::Hessian(h) => Some(h),
            JobResult::CkModes(c) => Some(&c.hessian),
            _ => None,
        }
    }
    /// The trajectory result, if this is one.
    pub fn trajectory(&self) -> Option<&TrajectoryResult> {
        match self {
            JobResult::Trajectory(t) => Some(t),
            _ => None,
        }
    }
    /// The stream record, if this is one.
    pub fn stream(&self) -> Option<&noether_train::streaming::StreamRecord> {
        match self {
            JobResult::Stream(s) => Some(s),
            _ => None,
        }
    }
}

/// The per-input-mode analysis of one Hessian.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CkModes {
    /// λ_{x,k} of Σ_x = XᵀX/n, descending.
    pub lambda_x: Vec<f64>,
    /// The reference's theoretical c_k = e_k²λ_{x,k}² (no Σ_x⁻¹), in the order of `lambda_x`.
    pub ck_th: Vec<f64>,
    /// The Σ_x⁻¹-corrected variant (least-squares target W* = Σ_yx Σ_x⁻¹).
    pub ck_th_ls: Vec<f64>,
    /// Empirical c_j aggregated onto the input modes (order of `lambda_x`).
    pub emp: InputModeCk,
    /// Mean of \[h > 0\] over the n·m pre-activations.
    pub active_fraction: f64,
    /// E21's one-step zero-target switch probe (None for a linear net).
    pub switch_zero_target: Option<ZeroTargetSwitch>,
}

/// One SGD step at the training lr on MSE against all-zero targets; flips of [X·W1ᵀ > 0].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZeroTargetSwitch {
    /// Entries of [X·W₁ᵀ > 0] that flipped.
    pub switches: usize,
    /// Entries compared (n·m).
    pub entries: usize,
    /// switches / entries.
    pub rate: f64,
}

/// What a `CkModes` job records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CkModesResult {
    /// The Hessian with c_k (eigenvalues ascending).
    pub hessian: HessianResult,
    /// None if the pre-training diverged.
    pub modes: Option<CkModes>,
}

/// The results one experiment (in one precision) needs, by job key.
#[derive(Default)]
pub struct Results {
    map: HashMap<String, JobResult>,
}

impl Results {
    /// The result of `job`; an error if it is missing (a planning bug, never user input).
    pub fn get(&self, job: &Job) -> Result<&JobResult, LabError> {
        let key = job.key();
        self.map.get(&key).ok_or(LabError::MissingResult { key })
    }

    /// The training result of `job`.
    pub fn train(&self, job: &Job) -> Result<&TrainResult, LabError> {
        let r = self.get(job)?;
        r.train().ok_or_else(|| r.wrong_kind(job, "train"))
    }

    /// The Hessian of a Hessian or c_k-modes job.
    pub fn hessian(&self, job: &Job) -> Result<&HessianResult, LabError> {
        let r = self.get(job)?;
        r.hessian().ok_or_else(|| r.wrong_kind(job, "hessian"))
    }

    /// The result of a c_k-modes job.
    pub fn ck_modes(&self, job: &Job) -> Result<&CkModesResult, LabError> {
        match self.get(job)? {
            JobResult::CkModes(c) => Ok(c),
            r => Err(r.wrong_kind(job, "ck_modes")),
        }
    }

    /// The result of a trajectory job.
    pub fn trajectory(&self, job: &Job) -> Result<&TrajectoryResult, LabError> {
        let r = self.get(job)?;
        r.trajectory().ok_or_else(|| r.wrong_kind(job, "trajectory"))
    }

    /// The record of a streaming job.
    pub fn stream(&self, job: &Job) -> Result<&noether_train::streaming::StreamRecord, LabError> {
        let r = self.get(job)?;
        r.stream().ok_or_else(|| r.wrong_kind(job, "stream"))
    }

    /// Adds the result of `job`.
    pub fn insert(&mut self, job: &Job, result: JobResult) {
        self.map.insert(job.key(), result);
    }

    /// Adds a result under an already computed job key.
    pub(crate) fn insert_keyed(&mut self, key: String, result: JobResult) {
        self.map.insert(key, result);
    }

    /// Synthetic results, for testing an analysis without running anything: `f(job)` gives the
    /// result of each job.
    pub fn from_fn(jobs: &[Job], mut f: impl FnMut(&Job) -> JobResult) -> Results {
        let mut r = Results::default();
        for j in jobs {
            let res = f(j);
            r.insert(j, res);
        }
        r
    }

    /// Number of distinct results held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if no result is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
