//! Mini-batch / streaming SGD with a learning-rate schedule on a two-layer bias-free ReLU
//! network, and the convex-dominance probes (spec `convex-dominance.md` §8 "Training
//! additions", §9 Exp. 1–4).
//!
//! Two tasks:
//! - [`StreamTask::TeacherStudent`]: x ~ N(0, I_d), y = f*(x) + σε with a fixed random
//!   2-layer ReLU teacher f* (scalar output); every step draws B *fresh* samples (one pass,
//!   like LLM pre-training). Loss ½·mean (f − y)², so the noise floor is L∞ ≈ σ²/2. The
//!   "population loss" is measured on a fixed held-out set.
//! - [`StreamTask::GaussianMixture`]: the EoS paper's GM data (n, d, K), MSE on one-hot
//!   targets with PyTorch's normalisation (mean over n·K entries, no ½); mini-batches are
//!   drawn with replacement from the n training samples (`batch = None` is full-batch GD);
//!   the "population loss" is the full training loss, or with `n_holdout` > 0 the loss on a
//!   held-out set from the same mixture. `label_noise` flips that fraction of the labels
//!   (training and held-out) to another class.
//!
//! The student f(x) = W₂ relu(W₁x) (no biases) is a [`noether_nn::Mlp`] `[d, m, K]`, evaluated
//! by the same [`Evaluator`] as every other experiment, and trained by noether-train's one loop
//! ([`crate::train_minibatch`]; full batch: [`crate::train`]) with plain SGD; the measurements
//! are a [`Probe`]. It is initialised like PyTorch's `nn.Linear` (U(±1/√fan_in)); parameters
//! are flat: W₁ (m×d, row-major), then W₂ (K×m).
//!
//! **Randomness and determinism.** Generator `seeded_rng(seed)` (ChaCha8) draws, in order:
//! the teacher (W₁* then W₂*, standard normals scaled by 1/√d and 1/√k) or the GM data set,
//! the held-out set (teacher–student: x then noise), the student. Mini-batches come from a
//! *second* generator `seeded_rng(seed ^ BATCH_STREAM)`, so every schedule and learning rate of
//! one seed sees the same data stream (paired design). A run is single-threaded, so results are
//! bit-identical whatever the number of threads running other jobs.
//!
//! **Probes** (every `log_points` evenly spaced steps, always including 0 and T): population
//! loss, ‖w_t − w₀‖, the conserved quantity C = ‖W₂‖² − ‖W₁‖², and the mean mini-batch
//! gradient second moment ‖g‖² over the window since the previous log point (the G² of
//! Condition 2.1). At `checkpoints` evenly spaced steps the
//! parameters are kept; after training, for each checkpoint: the star-convexity residual
//! towards the final iterate s_t = L(w_t) − L(w_T) − (w_t − w_T)ᵀ∇L(w_t) (Remark 2.2, ≤ 0 when
//! star-convex), ‖∇L(w_t)‖², and the extreme Hessian eigenvalues by Lanczos on the first
//! `hessian_samples` samples of the set the run trains on (GM: the training set, whose
//! sharpness sets the stability edge; teacher–student: the held-out set); and, over all checkpoint pairs t < s, the fraction with
//! a positive iterate-wise convexity residual L(w_t) − L(w_s) − (w_t − w_s)ᵀ∇L(w_t).

use noether_nn::norms::weight_sq_norms;
use noether_nn::{
    Activation, Dataset, Evaluator, GaussianMixture, HessianKind, HessianOperator, Loss, Mlp, Real, flip_labels,
    seeded_rng,
};
use noether_spectra::{LanczosOptions, lanczos};
use noether_theory::conservation::layer_balance;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::{Flow, LrSchedule, MiniBatches, OptimizerKind, Probe, RunEnd, RunStart, StepView, TrainError};

/// XOR-ed into the seed for the mini-batch generator.
pub const BATCH_STREAM: u64 = 0xB47C_4E55_0000_0001;

/// The data of a streaming run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamTask {
    /// Fresh Gaussian inputs, random ReLU teacher, Gaussian label noise.
    TeacherStudent {
        /// Input dimension.
        d: usize,
        /// Hidden width of the teacher.
        teacher_width: usize,
        /// Standard deviation σ of the label noise (the Bayes loss is σ²/2).
        noise_std: f64,
        /// Fixed held-out samples on which the population loss is measured.
        n_holdout: usize,
        /// Score the held-out set against the noise-free teacher: the measured loss is then the
        /// excess risk ½·mean (f − f*)² (floor 0) instead of ½·mean (f − y)² (floor ≈ σ²/2,
        /// blurred by the held-out set's own label noise, ±σ²/√(2n)). The noise is still drawn,
        /// so training sees exactly the stream of the noisy task.
        #[serde(default, skip_serializing_if = "is_false")]
        clean_holdout: bool,
    },
    /// The EoS paper's Gaussian mixture, MSE on one-hot labels.
    GaussianMixture {
        /// Training samples.
        n: usize,
        /// Input dimension.
        d: usize,
        /// Classes.
        classes: usize,
        /// Scale of the class centres.
        separation: f64,
        /// Fraction of labels (training and held-out) replaced by another class chosen
        /// uniformly ([`noether_nn::flip_labels`]); 0 = the clean mixture. With noisy labels a
        /// network that fits its training set no longer fits the distribution, and the
        /// mini-batch gradient noise does not vanish at the population optimum.
        #[serde(default, skip_serializing_if = "is_zero_f64")]
        label_noise: f64,
        /// Held-out samples drawn from the *same* mixture (same centres, same label noise) on
        /// which the population loss is measured; 0 = the population loss is the full training
        /// loss (the EoS paper's setting).
        #[serde(default, skip_serializing_if = "is_zero_usize")]
        n_holdout: usize,
    },
}

/// What to record besides the final population loss.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamMeasure {
    /// Number of evenly spaced log points (population loss, ‖w_t − w₀‖, window mean ‖g‖²);
    /// 0 = only t = 0 and t = T.
    pub log_points: usize,
    /// Number of evenly spaced checkpoints for the convexity diagnostics (0 = none).
    pub checkpoints: usize,
    /// Samples used for the Hessian: the first of the GM training set, or of the
    /// teacher–student held-out set (0 = all).
    pub hessian_samples: usize,
    /// Lanczos steps per checkpoint (0 = no Hessian).
    pub lanczos_steps: usize,
}

/// A streaming SGD run: task, student width, batch size, seed, learning rates per step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// The data.
    pub task: StreamTask,
    /// Hidden width of the bias-free 2-layer ReLU student.
    pub student_width: usize,
    /// Mini-batch size (`None`: full batch, GM task only).
    pub batch: Option<usize>,
    /// Seeds the teacher, the student's initial weights and the sample stream.
    pub seed: u64,
}

/// One log point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamLogPoint {
    /// t (updates applied).
    pub step: usize,
    /// Population (held-out / full training) loss at w_t.
    pub loss: f64,
    /// ‖w_t − w₀‖.
    pub dist_from_init: f64,
    /// Mean of ‖g_s‖² (mini-batch gradient) over the steps s since the previous log point
    /// (NaN at t = 0).
    pub grad_sq_mean: f64,
    /// The conserved quantity of the bias-free 2-layer net, C = ‖W₂‖²_F − ‖W₁‖²_F, at w_t
    /// (conserved by gradient flow; SGD changes it by η²(‖g₂‖² − ‖g₁‖²) per step). NaN in
    /// records written before this field existed.
    #[serde(default = "nan")]
    pub conserved: f64,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero_usize(v: &usize) -> bool {
    *v == 0
}

fn nan() -> f64 {
    f64::NAN
}

/// Diagnostics at one checkpoint (computed after training).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvexityPoint {
    /// t (updates applied).
    pub step: usize,
    /// Population loss at w_t.
    pub loss: f64,
    /// s_t = L(w_t) − L(w_T) − (w_t − w_T)ᵀ∇L(w_t).
    pub star_residual: f64,
    /// ‖∇L(w_t)‖² (population gradient).
    pub full_grad_sq: f64,
    /// Largest / smallest Hessian eigenvalue (NaN when not computed).
    pub lambda_max: f64,
    /// See `lambda_max`.
    pub lambda_min: f64,
}

/// Everything a streaming run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// Updates applied.
    pub steps_completed: usize,
    /// The loss became non-finite.
    pub diverged: bool,
    /// Population loss at w_T (NaN if diverged).
    pub final_loss: f64,
    /// The log points, ascending.
    pub log: Vec<StreamLogPoint>,
    /// The convexity checkpoints, ascending.
    pub convexity: Vec<ConvexityPoint>,
    /// Fraction of checkpoint pairs t < s with L(w_t) − L(w_s) − (w_t − w_s)ᵀ∇L(w_t) > 0.
    pub pair_violation_fraction: f64,
    /// ‖w_T − w₀‖ (D_eff).
    pub d_eff: f64,
    /// Mean mini-batch ‖g_t‖² over all steps.
    pub grad_sq_mean: f64,
}

/// Evenly spaced steps 0 = s_0 < … < s_k = T (deduplicated); k = 0 gives [0, T].
pub fn even_steps(total: usize, k: usize) -> Vec<usize> {
    let k = k.max(1);
    let mut v: Vec<usize> = (0..=k).map(|i| (i as u128 * total as u128 / k as u128) as usize).collect();
    v.dedup();
    v
}

fn normal<R: Rng>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

fn uniform<R: Rng>(bound: f64, rng: &mut R) -> f64 {
    let u: f64 = rng.random();
    bound * (2.0 * u - 1.0)
}

/// The teacher f*(x) = W₂* relu(W₁* x) of the teacher–student task, in f64.
struct Teacher {
    width: usize,
    /// W₁* (width×d, row-major).
    w1: Vec<f64>,
    /// W₂* (1×width).
    w2: Vec<f64>,
    noise_std: f64,
}

impl Teacher {
    /// f*(x).
    #[allow(clippy::needless_range_loop)]
    fn output(&self, x: &[f64]) -> f64 {
        let d = x.len();
        let mut f = 0.0;
        // Pre-activations of four hidden units at a time (independent chains, each summed in
        // input order); the output sums the active units in unit order.
        let mut j0 = 0;
        while j0 < self.width {
            let nb = (self.width - j0).min(4);
            let mut acc = [0.0f64; 4];
            for (l, &xl) in x.iter().enumerate() {
                for q in 0..nb {
                    acc[q] += self.w1[(j0 + q) * d + l] * xl;
                }
            }
            for q in 0..nb {
                if acc[q] > 0.0 {
                    f += self.w2[j0 + q] * acc[q];
                }
            }
            j0 += nb;
        }
        f
    }
}

/// The task's fixed parts: the teacher (if any), the evaluation ("population") set, the loss.
struct TaskData<T> {
    d: usize,
    k: usize,
    loss: Loss,
    teacher: Option<Teacher>,
    /// Held-out set (teacher–student, regression targets; GM with `n_holdout` > 0) or the GM
    /// training set (labels).
    population: Dataset<T>,
    /// The GM training set: full-batch GD trains on it, and its loss Hessian is the one whose
    /// sharpness is measured at checkpoints (the held-out set's for the teacher–student task,
    /// which has no training set). `None`: the same as `population`.
    train: Option<Dataset<T>>,
    /// The GM training set in f64, row-major, which mini-batches are sampled from.
    train_rows: Vec<f64>,
    train_labels: Vec<usize>,
}

fn build_task<T: Real>(spec: &StreamSpec, rng: &mut noether_nn::Rng) -> Result<TaskData<T>, TrainError> {
    match &spec.task {
        StreamTask::TeacherStudent { d, teacher_width, noise_std, n_holdout, clean_holdout } => {
            let (d, tw) = (*d, *teacher_width);
            if d == 0 || tw == 0 || *n_holdout == 0 || !(noise_std.is_finite() && *noise_std >= 0.0) {
                return Err(TrainError::Config(format!("invalid teacher–student task {:?}", spec.task)));
            }
            let w1: Vec<f64> = (0..tw * d).map(|_| normal(rng) / (d as f64).sqrt()).collect();
            let w2: Vec<f64> = (0..tw).map(|_| normal(rng) / (tw as f64).sqrt()).collect();
            let teacher = Teacher { width: tw, w1, w2, noise_std: *noise_std };
            let n = *n_holdout;
            let xr: Vec<f64> = (0..n * d).map(|_| normal(rng)).collect();
            let y: Vec<f64> = (0..n)
                .map(|i| {
                    let noise = noise_std * normal(rng);
                    teacher.output(&xr[i * d..(i + 1) * d]) + if *clean_holdout { 0.0 } else { noise }
                })
                .collect();
            Ok(TaskData {
                d,
                k: 1,
                loss: Loss::HALF_MSE,
                teacher: Some(teacher),
                population: Dataset::regression(n, d, &xr, &y, 1)?,
                train: None,
                train_rows: vec![],
                train_labels: vec![],
            })
        }
        StreamTask::GaussianMixture { n, d, classes, separation, label_noise, n_holdout } => {
            if !(label_noise.is_finite() && (0.0..=1.0).contains(label_noise)) {
                return Err(TrainError::Config(format!("label_noise must be in [0, 1], got {label_noise}")));
            }
            let gm = GaussianMixture { n_train: *n, n_test: 0, d: *d, classes: *classes, separation: *separation };
            // RNG order: the training set as the clean task draws it, the held-out set (if
            // any), then the training flips and the held-out flips.
            let (mut train, mut holdout) = if *n_holdout > 0 {
                let (train, holdout) = gm.generate_with_holdout::<f64, _>(*n_holdout, rng)?;
                (train, Some(holdout))
            } else {
                (gm.generate::<f64, _>(rng)?.0, None)
            };
            if *label_noise > 0.0 {
                flip_labels(&mut train.labels, train.classes, *label_noise, rng);
                if let Some(h) = holdout.as_mut() {
                    flip_labels(&mut h.labels, h.classes, *label_noise, rng);
                }
            }
            let (n, d) = (train.n, train.d);
            let mut rows = vec![0.0; n * d];
            for i in 0..n {
                for j in 0..d {
                    rows[i * d + j] = train.get(i, j);
                }
            }
            let (population, train_set) = match holdout {
                Some(h) => (h.cast(), Some(train.cast())),
                None => (train.cast(), None),
            };
            Ok(TaskData {
                d,
                k: train.classes,
                loss: Loss::MSE,
                teacher: None,
                population,
                train: train_set,
                train_rows: rows,
                train_labels: train.labels,
            })
        }
    }
}

/// Fresh teacher–student samples for every step.
struct TeacherBatches<'a> {
    teacher: &'a Teacher,
    rng: noether_nn::Rng,
    row: Vec<f64>,
}

impl<T: Real> MiniBatches<T> for TeacherBatches<'_> {
    fn fill(&mut self, _step: usize, batch: &mut Dataset<T>) {
        let n = batch.n;
        let y = batch.targets.as_mut().expect("a regression batch");
        for i in 0..n {
            for v in self.row.iter_mut() {
                *v = normal(&mut self.rng);
            }
            let target = self.teacher.output(&self.row) + self.teacher.noise_std * normal(&mut self.rng);
            for (l, &v) in self.row.iter().enumerate() {
                batch.x[i + n * l] = T::from_f64(v);
            }
            y[i] = T::from_f64(target);
        }
    }
}

/// Samples drawn with replacement from a finite training set for every step.
struct ResampledBatches<'a> {
    rows: &'a [f64],
    labels: &'a [usize],
    rng: noether_nn::Rng,
}

impl<T: Real> MiniBatches<T> for ResampledBatches<'_> {
    fn fill(&mut self, _step: usize, batch: &mut Dataset<T>) {
        let (n, d) = (batch.n, batch.d);
        for i in 0..n {
            let s = self.rng.random_range(0..self.labels.len());
            for l in 0..d {
                batch.x[i + n * l] = T::from_f64(self.rows[s * d + l]);
            }
            batch.labels[i] = self.labels[s];
        }
    }
}

/// (a − b)ᵀg in f64: the first-order term of the convexity residuals.
fn displacement_dot<T: Real>(a: &[T], b: &[T], g: &[T]) -> f64 {
    a.iter().zip(b).zip(g).map(|((a, b), g)| (a.to_f64() - b.to_f64()) * g.to_f64()).sum()
}

fn dist<T: Real>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x.to_f64() - y.to_f64()).powi(2)).sum::<f64>().sqrt()
}

/// The measurements of a streaming run, as a probe of the training loop: log points, the
/// window means of the mini-batch ‖g‖², checkpoints, and after training the convexity
/// diagnostics at the checkpoints.
struct StreamProbe<'d, T: Real> {
    measure: StreamMeasure,
    seed: u64,
    /// Evaluates the population loss (and its gradient at checkpoints).
    population: Evaluator<'d, T>,
    /// On the first `hessian_samples` population samples (when Hessians are asked for).
    hessian: Option<Evaluator<'static, T>>,
    steps: usize,
    w0: Vec<T>,
    log_steps: Vec<usize>,
    ck_steps: Vec<usize>,
    ck_params: Vec<Vec<T>>,
    log: Vec<StreamLogPoint>,
    window_sum: f64,
    window_n: usize,
    all_sum: f64,
    /// Set when a log point's population loss or a mini-batch ‖g‖² is not finite.
    diverged: bool,
    convexity: Vec<ConvexityPoint>,
    pair_violation_fraction: f64,
}

impl<T: Real> Probe<T> for StreamProbe<'_, T> {
    fn start(&mut self, run: &RunStart<'_, T>) -> Result<(), TrainError> {
        self.steps = run.steps;
        self.w0 = run.params.to_vec();
        self.log_steps = even_steps(run.steps, self.measure.log_points);
        self.ck_steps =
            if self.measure.checkpoints > 0 { even_steps(run.steps, self.measure.checkpoints) } else { vec![] };
        Ok(())
    }

    fn observe(&mut self, v: &StepView<'_, '_, T>) -> Result<Flow, TrainError> {
        let t = v.step;
        if self.ck_steps.get(self.ck_params.len()) == Some(&t) {
            self.ck_params.push(v.params.to_vec());
        }
        if self.log_steps.get(self.log.len()) == Some(&t) {
            let loss = self.population.forward(v.params).loss;
            let balance = layer_balance(&weight_sq_norms(self.population.layout(), v.params));
            self.log.push(StreamLogPoint {
                step: t,
                loss,
                dist_from_init: dist(v.params, &self.w0),
                grad_sq_mean: if self.window_n == 0 { f64::NAN } else { self.window_sum / self.window_n as f64 },
                conserved: balance[0],
            });
            self.window_sum = 0.0;
            self.window_n = 0;
            if !loss.is_finite() {
                self.diverged = true;
                return Ok(Flow::Diverged);
            }
        }
        if v.is_last {
            // θ_T's batch gradient (or a non-finite batch loss) is not an update.
            return Ok(Flow::Continue);
        }
        let g2: f64 = v.grad.iter().map(|g| g.to_f64() * g.to_f64()).sum();
        if !g2.is_finite() {
            self.diverged = true;
            return Ok(Flow::Diverged);
        }
        self.window_sum += g2;
        self.window_n += 1;
        self.all_sum += g2;
        Ok(Flow::Continue)
    }

    fn finish(&mut self, end: &RunEnd<'_, T>) -> Result<(), TrainError> {
        // A run that ended early diverged (non-finite batch loss); at T only the population
        // loss of the last log point decides.
        self.diverged |= end.outcome.diverged_at.is_some_and(|t| t < self.steps);
        if self.diverged || self.ck_params.is_empty() {
            return Ok(());
        }
        let wt = end.params;
        let lt = self.log.last().map_or(f64::NAN, |p| p.loss);
        let mut grads: Vec<Vec<T>> = Vec::with_capacity(self.ck_params.len());
        for (&c, w) in self.ck_steps.iter().zip(&self.ck_params) {
            let mut g = vec![T::ZERO; w.len()];
            let l = self.population.loss_and_grad(w, &mut g).loss;
            let inner = displacement_dot(w, wt, &g);
            let (lambda_max, lambda_min) = match self.hessian.take() {
                Some(eval) => {
                    let (extremes, eval) =
                        hessian_extremes(eval, w, self.measure.lanczos_steps, self.seed.wrapping_add(c as u64))
                            .map_err(|e| TrainError::Probe(format!("Hessian at checkpoint t = {c}: {e}")))?;
                    self.hessian = Some(eval);
                    extremes
                }
                None => (f64::NAN, f64::NAN),
            };
            self.convexity.push(ConvexityPoint {
                step: c,
                loss: l,
                star_residual: l - lt - inner,
                full_grad_sq: g.iter().map(|x| x.to_f64() * x.to_f64()).sum(),
                lambda_max,
                lambda_min,
            });
            grads.push(g);
        }
        let (mut bad, mut pairs) = (0usize, 0usize);
        for i in 0..self.ck_params.len() {
            for j in i + 1..self.ck_params.len() {
                let inner = displacement_dot(&self.ck_params[i], &self.ck_params[j], &grads[i]);
                pairs += 1;
                if self.convexity[i].loss - self.convexity[j].loss - inner > 0.0 {
                    bad += 1;
                }
            }
        }
        if pairs > 0 {
            self.pair_violation_fraction = bad as f64 / pairs as f64;
        }
        Ok(())
    }
}

/// Extreme eigenvalues (λ_max, λ_min) of the loss Hessian at `params` by `steps` Lanczos steps;
/// hands the evaluator back for the next checkpoint.
fn hessian_extremes<T: Real>(
    eval: Evaluator<'static, T>,
    params: &[T],
    steps: usize,
    seed: u64,
) -> Result<((f64, f64), Evaluator<'static, T>), noether_spectra::SpectraError> {
    let mut op = HessianOperator::new(eval, params.to_vec(), HessianKind::Full);
    let opts = LanczosOptions {
        k_top: 1,
        k_bottom: 1,
        max_iter: Some(steps.min(params.len())),
        tol: 1e-4,
        seed,
        start: None,
        check_every: steps.max(1),
        explicit_residuals: false,
    };
    let r = lanczos(&mut op, &opts);
    let eval = op.into_evaluator();
    let r = r?;
    let top = r.top.first().map_or(f64::NAN, |e| e.value);
    let bottom = r.bottom.first().map_or(f64::NAN, |e| e.value);
    Ok(((top, bottom), eval))
}

/// Runs SGD w_{t+1} = w_t − η_{t+1} g(w_t) for t = 0..T−1 with `lrs` = (η_1..η_T) and records
/// the probes of [`StreamMeasure`]. A non-finite mini-batch or population loss ends the run as
/// diverged (final loss NaN), never a panic.
pub fn stream_sgd<T: Real>(
    spec: &StreamSpec,
    lrs: &[f64],
    measure: &StreamMeasure,
) -> Result<StreamRecord, TrainError> {
    if spec.student_width == 0 {
        return Err(TrainError::Config("student width must be ≥ 1".into()));
    }
    if lrs.iter().any(|v| !v.is_finite()) {
        return Err(TrainError::Config("learning rates must be finite".into()));
    }
    let mut rng = seeded_rng(spec.seed);
    let task = build_task::<T>(spec, &mut rng)?;
    let (d, m, k) = (task.d, spec.student_width, task.k);
    let batch = match (spec.batch, &task.teacher) {
        (Some(0), _) => return Err(TrainError::Config("batch size must be ≥ 1".into())),
        (Some(b), _) => Some(b),
        (None, None) => None,
        (None, Some(_)) => return Err(TrainError::Config("full batch needs a finite data set (GM task)".into())),
    };
    let net = Mlp::new(vec![d, m, k], Activation::RELU, false)?;
    let mut params: Vec<T> = Vec::with_capacity(net.n_params());
    for _ in 0..m * d {
        params.push(T::from_f64(uniform(1.0 / (d as f64).sqrt(), &mut rng)));
    }
    for _ in 0..k * m {
        params.push(T::from_f64(uniform(1.0 / (m as f64).sqrt(), &mut rng)));
    }
    let train_set = task.train.as_ref().unwrap_or(&task.population);
    let hessian = if measure.checkpoints > 0 && measure.lanczos_steps > 0 {
        let n_c = train_set.n;
        let n_h = if measure.hessian_samples == 0 { n_c } else { measure.hessian_samples.min(n_c) };
        Some(Evaluator::owning(&net, task.loss, train_set.head(n_h))?)
    } else {
        None
    };
    let mut probe = StreamProbe {
        measure: measure.clone(),
        seed: spec.seed,
        population: Evaluator::new(&net, task.loss, &task.population)?,
        hessian,
        steps: 0,
        w0: vec![],
        log_steps: vec![],
        ck_steps: vec![],
        ck_params: vec![],
        log: vec![],
        window_sum: 0.0,
        window_n: 0,
        all_sum: 0.0,
        diverged: false,
        convexity: vec![],
        pair_violation_fraction: f64::NAN,
    };
    let schedule = LrSchedule::PerStep(lrs.to_vec());
    let steps = lrs.len();
    let brng = seeded_rng(spec.seed ^ BATCH_STREAM);
    let outcome = {
        let mut probes: [&mut dyn Probe<T>; 1] = [&mut probe];
        match (batch, &task.teacher) {
            (None, _) => {
                let mut eval = Evaluator::new(&net, task.loss, train_set)?;
                crate::train(&mut eval, &mut params, OptimizerKind::Gd, &schedule, steps, &mut probes, &mut |_| {})?
            }
            (Some(b), teacher) => {
                // The batch buffer (refilled before every step) and where its samples come from.
                let (buffer, mut source): (Dataset<T>, Box<dyn MiniBatches<T> + '_>) = match teacher {
                    Some(teacher) => (
                        Dataset::regression(b, d, &vec![0.0; b * d], &vec![0.0; b], 1)?,
                        Box::new(TeacherBatches { teacher, rng: brng, row: vec![0.0; d] }),
                    ),
                    None => (
                        Dataset::from_rows(b, d, &vec![0.0; b * d], vec![0; b], k)?,
                        Box::new(ResampledBatches { rows: &task.train_rows, labels: &task.train_labels, rng: brng }),
                    ),
                };
                let mut eval = Evaluator::owning(&net, task.loss, buffer)?;
                crate::train_minibatch(
                    &mut eval,
                    source.as_mut(),
                    &mut params,
                    OptimizerKind::Gd,
                    &schedule,
                    steps,
                    &mut probes,
                    &mut |_| {},
                )?
            }
        }
    };
    let t = outcome.steps_completed;
    let final_loss = if probe.diverged { f64::NAN } else { probe.log.last().map_or(f64::NAN, |p| p.loss) };
    Ok(StreamRecord {
        steps_completed: t,
        diverged: probe.diverged,
        final_loss,
        log: probe.log,
        convexity: probe.convexity,
        pair_violation_fraction: probe.pair_violation_fraction,
        d_eff: dist(&params, &probe.w0),
        grad_sq_mean: if t == 0 { f64::NAN } else { probe.all_sum / t as f64 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_teacher_output_matches_the_plain_sums() {
        let mut rng = seeded_rng(3);
        for &(tw, d) in &[(8usize, 20usize), (5, 7), (1, 3)] {
            let w1: Vec<f64> = (0..tw * d).map(|_| normal(&mut rng)).collect();
            let w2: Vec<f64> = (0..tw).map(|_| normal(&mut rng)).collect();
            let teacher = Teacher { width: tw, w1: w1.clone(), w2: w2.clone(), noise_std: 0.5 };
            for _ in 0..50 {
                let x: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
                let mut f = 0.0;
                for j in 0..tw {
                    let z: f64 = w1[j * d..(j + 1) * d].iter().zip(&x).map(|(a, b)| a * b).sum();
                    if z > 0.0 {
                        f += w2[j] * z;
                    }
                }
                assert_eq!(teacher.output(&x).to_bits(), f.to_bits());
            }
        }
    }
}
