//! Jobs: fully specified units of work (a training run, or a Hessian analysis at a point), with
//! a content key. Two experiments that need the same run share it through the cache: the key
//! is a hash of the job's canonical JSON and of [`RESULTS_VERSION`] (stream jobs:
//! [`STREAM_RESULTS_VERSION`]).

use noether_nn::Precision;
use noether_train::OptimizerKind;
use serde::{Deserialize, Serialize};

/// Bumped whenever a change of the code changes any recorded number, so that stale cached
/// results are never reused.
pub const RESULTS_VERSION: &str = "noether-results-1";

/// The version of the stream jobs' records (CD1–CD4), bumped on its own when only they
/// change, so that the other experiments' caches stay valid. 2: the student became an
/// [`noether_nn::Mlp`] evaluated by the shared `Evaluator` (GEMM summation order) and trained
/// by noether-train's one loop, replacing the hand-written two-layer kernels.
pub const STREAM_RESULTS_VERSION: &str = "noether-stream-2";

/// Hidden widths, activation σ_ε and biases; input and output widths come from the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Hidden widths (input and output widths come from the data).
    pub hidden: Vec<usize>,
    /// σ_ε = (1 − ε)·z + ε·relu(z): 0 = linear, 1 = ReLU.
    pub activation_eps: f64,
    /// Biases on every layer.
    pub bias: bool,
}

impl NetSpec {
    /// One hidden layer of `width` units, no biases.
    pub fn two_layer(width: usize, activation_eps: f64) -> Self {
        NetSpec { hidden: vec![width], activation_eps, bias: false }
    }
}

/// The data of a run. The serialised form is part of every job key: new variants are fine,
/// but the fields of existing ones must not change without a bump of [`RESULTS_VERSION`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DataSpec {
    /// The reference's Gaussian mixture (train set, then an unused test set drawn after it).
    GaussianMixture {
        /// Training samples.
        n: usize,
        /// Input dimension.
        d: usize,
        /// Classes (mixture components).
        classes: usize,
        /// Scale of the class centres.
        separation: f64,
        /// Test samples drawn after the training set (they shift the generator, so they matter).
        n_test: usize,
    },
    /// The first n digits of data/mnist-10k, pixels/255.
    Mnist {
        /// Digits used.
        n: usize,
    },
    /// The 2-D XOR problem (4 Gaussian blobs, 2 classes).
    Xor {
        /// Samples.
        n: usize,
    },
    /// Two concentric spheres in d dimensions with radial noise (2 classes).
    Spheres {
        /// Samples.
        n: usize,
        /// Dimension.
        d: usize,
        /// Standard deviation of the radial noise.
        noise: f64,
    },
    /// A user's NPZ file (`x` (n, d) float, `y` (n,) labels), identified by its path and a
    /// digest of its bytes, checked again when a job loads it.
    Npz {
        /// The file as the config named it, resolved.
        path: String,
        /// Digest of the file's bytes (see [`content_digest`]).
        digest: String,
        /// Samples.
        n: usize,
        /// Input dimension.
        d: usize,
        /// Classes.
        classes: usize,
    },
}

impl DataSpec {
    /// GM-200: n = 200 (+ 50 test), d = 20, K = 5, separation 2.
    pub fn gm200() -> Self {
        DataSpec::GaussianMixture { n: 200, d: 20, classes: 5, separation: 2.0, n_test: 50 }
    }
    /// Training samples.
    pub fn n(&self) -> usize {
        match self {
            DataSpec::GaussianMixture { n, .. }
            | DataSpec::Mnist { n }
            | DataSpec::Xor { n }
            | DataSpec::Spheres { n, .. }
            | DataSpec::Npz { n, .. } => *n,
        }
    }
    /// (input dimension d, classes K).
    pub fn dims(&self) -> (usize, usize) {
        match self {
            DataSpec::GaussianMixture { d, classes, .. } => (*d, *classes),
            DataSpec::Mnist { .. } => (784, 10),
            DataSpec::Xor { .. } => (2, 2),
            DataSpec::Spheres { d, .. } => (*d, 2),
            DataSpec::Npz { d, classes, .. } => (*d, *classes),
        }
    }
    /// One line: `gaussian_mixture n=200 d=20 K=5`.
    pub fn describe(&self) -> String {
        let (d, k) = self.dims();
        let n = self.n();
        match self {
            DataSpec::GaussianMixture { separation, .. } => {
                format!("gaussian_mixture n={n} d={d} K={k} separation={separation}")
            }
            DataSpec::Mnist { .. } => format!("mnist n={n}"),
            DataSpec::Xor { .. } => format!("xor n={n}"),
            DataSpec::Spheres { noise, .. } => format!("spheres n={n} d={d} noise={noise}"),
            DataSpec::Npz { path, .. } => format!("npz {path} n={n} d={d} K={k}"),
        }
    }
}

/// 32 hex digits of a 128-bit FNV-1a hash of `bytes` (job keys, data-file digests).
pub fn content_digest(bytes: &[u8]) -> String {
    format!("{:032x}", fnv1a128(bytes.iter().copied()))
}

fn fnv1a128(bytes: impl Iterator<Item = u8>) -> u128 {
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in bytes {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

/// The order in which a run's generator is consumed. Every reference script draws the model
/// first, except `exp_hessian_4way_v1.py` (E12), which draws the data first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RngOrder {
    /// Initial weights first, then the data (every script but E12's).
    ModelThenData,
    /// The data first, then the initial weights (E12's `exp_hessian_4way_v1.py`).
    DataThenModel,
}

/// A network, its data and its initial weights: everything a seed determines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemSpec {
    /// Seeds the one generator of the run (weights and data).
    pub seed: u64,
    /// The arithmetic of the run.
    pub precision: Precision,
    /// The network.
    pub net: NetSpec,
    /// The data.
    pub data: DataSpec,
    /// Which of model and data draw from the generator first.
    pub rng_order: RngOrder,
    /// Loss (1 − w)·MSE + w·CE.
    pub ce_weight: f64,
}

impl ProblemSpec {
    /// (samples, weights) as f64, for cost estimates.
    fn size(&self) -> (f64, f64) {
        let (d, k) = self.data.dims();
        let mut widths = vec![d];
        widths.extend(&self.net.hidden);
        widths.push(k);
        let weights: usize = widths.windows(2).map(|w| w[0] * w[1]).sum();
        (self.data.n() as f64, weights as f64)
    }
}

/// How λ_max is tracked during training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SharpnessMethod {
    /// The reference: power iteration, Gaussian start, `iters` iterations + Rayleigh quotient.
    ReferencePower {
        /// Power iterations per measurement.
        iters: usize,
    },
    /// Lanczos warm-started from the previous top eigenvector, residual tolerance `tol`·‖H‖.
    WarmLanczos {
        /// Relative residual tolerance.
        tol: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
/// λ_max tracking during a training run.
pub struct SharpnessSpec {
    /// Measure every this many steps.
    pub every: usize,
    /// How.
    pub method: SharpnessMethod,
}

/// Optional measurements of a training run (each is a probe).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Measure {
    /// Activation-pattern flips per step and their correlation with |δ(t)| (E9).
    pub switching: bool,
    /// λ_max during training (E4).
    pub sharpness: Option<SharpnessSpec>,
    /// Loss, accuracy, C_l and ‖W_l‖² after the first update and every k steps (E4).
    pub checkpoint_every: Option<usize>,
    /// Σ_t (‖ΔW_{l+1}‖² − ‖ΔW_l‖²) of the actual updates and their mean ratio (E7a).
    pub update_norms: bool,
}

/// A training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainJob {
    /// Network, data and initial weights.
    pub problem: ProblemSpec,
    /// GD, momentum or Adam with its constants.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// Updates to apply.
    pub steps: usize,
    #[serde(default)]
    /// The probes attached to the run.
    pub measure: Measure,
}

/// The full Hessian of the training loss (and c_k by gradient projection) at initialisation
/// or after `train_steps` GD steps at `train_lr`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianJob {
    /// Network, data and initial weights.
    pub problem: ProblemSpec,
    /// GD steps before the Hessian is taken (0 = at initialisation).
    pub train_steps: usize,
    /// Their learning rate.
    pub train_lr: f64,
    /// Also compute c_k = p_k²|δ0|/Σp² with p_k = v_kᵀg (needs eigenvectors).
    pub ck: bool,
}

/// One GD run analysed at several checkpoints (E16, E18, E23): trained once, with softmax
/// statistics at every checkpoint and the full Hessian (closed form, faer eigendecomposition;
/// eigenvectors only when c_k is asked for) at the checkpoints listed in `hessian_at`. Cheaper
/// than one [`HessianJob`] per checkpoint, which would re-train from θ0 each time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryJob {
    /// Network, data and initial weights.
    pub problem: ProblemSpec,
    /// GD learning rate.
    pub lr: f64,
    /// Checkpoints t (updates already applied), strictly ascending; the run stops at the last.
    pub checkpoints: Vec<usize>,
    /// Checkpoints (a subset of `checkpoints`) where the full Hessian is taken.
    pub hessian_at: Vec<usize>,
    /// Also c_k by gradient projection at the Hessian checkpoints (needs eigenvectors).
    pub ck: bool,
}

/// A streaming / mini-batch SGD run with a learning-rate schedule (convex-dominance
/// experiments CD1–CD4; `noether_train::streaming`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamJob {
    /// The task, student and batch size.
    pub spec: noether_train::streaming::StreamSpec,
    /// The arithmetic of the run.
    pub precision: Precision,
    /// The learning-rate schedule.
    pub schedule: noether_theory::schedule::Schedule,
    /// Its peak learning rate.
    pub peak_lr: f64,
    /// Horizon T.
    pub steps: usize,
    /// Linear warm-up steps (0 = none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: usize,
    /// Log points and convexity checkpoints.
    pub measure: noether_train::streaming::StreamMeasure,
}

impl StreamJob {
    /// Multiply-adds (rough): forward + backward per sample of every step, plus the evaluations
    /// at log points and the Lanczos products at Hessian checkpoints.
    fn flops(&self) -> f64 {
        use noether_train::streaming::StreamTask;
        // (d, K, full-batch size, population-loss samples)
        let (d, k, n_train, n_eval) = match &self.spec.task {
            StreamTask::TeacherStudent { d, n_holdout, .. } => (*d, 1, *n_holdout, *n_holdout),
            StreamTask::GaussianMixture { n, d, classes, n_holdout, .. } => {
                (*d, *classes, *n, if *n_holdout > 0 { *n_holdout } else { *n })
            }
        };
        let params = (d + k) * self.spec.student_width;
        let b = self.spec.batch.unwrap_or(n_train) as f64;
        let m = &self.measure;
        let evals = (m.log_points + 2) as f64 * n_eval as f64
            + (m.checkpoints as f64) * (m.lanczos_steps as f64 * 3.0 * m.hessian_samples as f64);
        (self.steps as f64 * 3.0 * b + evals) * params as f64
    }
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
/// One unit of computation: run once, cached under [`Job::key`], shared by every experiment that plans it.
pub enum Job {
    /// A training run with probes.
    Train(TrainJob),
    /// The full Hessian at a point.
    Hessian(HessianJob),
    /// A Hessian job (c_k always computed) plus E20/E21's per-input-mode analysis: first-principles
    /// c_k from the data covariance, empirical c_k paired with input modes, active fraction and
    /// the zero-target switch probe (2-layer bias-free MSE nets; see experiments/ck_common.rs).
    CkModes(HessianJob),
    /// One GD run analysed at several checkpoints.
    Trajectory(TrajectoryJob),
    /// A streaming / mini-batch SGD run with a schedule.
    Stream(StreamJob),
}

impl Job {
    /// Content key: 32 hex digits of a 128-bit FNV-1a hash of the results version of the
    /// job's kind and the canonical JSON.
    pub fn key(&self) -> String {
        let json = serde_json::to_string(self).expect("jobs serialise");
        let version = if matches!(self, Job::Stream(_)) { STREAM_RESULTS_VERSION } else { RESULTS_VERSION };
        format!("{:032x}", fnv1a128(version.bytes().chain([0u8]).chain(json.bytes())))
    }

    /// The network/data problem of a train or Hessian job (`None` for a stream job, which
    /// carries its own [`noether_train::streaming::StreamSpec`]).
    pub fn problem(&self) -> Option<&ProblemSpec> {
        match self {
            Job::Train(j) => Some(&j.problem),
            Job::Hessian(j) | Job::CkModes(j) => Some(&j.problem),
            Job::Trajectory(j) => Some(&j.problem),
            Job::Stream(_) => None,
        }
    }

    /// The precision the job runs in.
    pub fn precision(&self) -> Precision {
        match self {
            Job::Train(j) => j.problem.precision,
            Job::Hessian(j) | Job::CkModes(j) => j.problem.precision,
            Job::Trajectory(j) => j.problem.precision,
            Job::Stream(j) => j.precision,
        }
    }

    /// A rough cost (≈ nanoseconds of one core) used to start the longest jobs first: the
    /// multiply-adds of [`Self::flops`] scaled by what they cost, calibrated on paper-scale
    /// records (`examples/job_costs.rs`): f64 ≈ 1.5× f32, and a streaming step ≈ 2× a
    /// full-batch one per multiply-add (small GEMMs on B = 32 samples plus drawing the batch;
    /// measured on the paper-scale CD records of results version noether-stream-2).
    pub fn cost(&self) -> f64 {
        let precision = match self.precision() {
            Precision::F32 => 1.0,
            Precision::F64 => 1.5,
        };
        let kind = if matches!(self, Job::Stream(_)) { 2.0 } else { 1.0 };
        self.flops() * precision * kind
    }

    /// Multiply-adds of the job (rough).
    pub fn flops(&self) -> f64 {
        match self {
            Job::Stream(j) => j.flops(),
            Job::Train(j) => {
                let (n, params) = j.problem.size();
                let extra = j.measure.sharpness.map_or(0.0, |s| (j.steps / s.every.max(1)) as f64 * 30.0 * 3.0);
                (j.steps as f64 * 3.0 + extra) * n * params
            }
            Job::Hessian(j) | Job::CkModes(j) => {
                let (n, params) = j.problem.size();
                (j.train_steps as f64 * 3.0) * n * params + params.powi(3) / 3.0
            }
            Job::Trajectory(j) => {
                let (n, params) = j.problem.size();
                let steps = j.checkpoints.last().copied().unwrap_or(0) as f64;
                let eig = if j.ck { 1.0 } else { 0.15 };
                steps * 3.0 * n * params + j.hessian_at.len() as f64 * eig * params.powi(3)
            }
        }
    }
}
