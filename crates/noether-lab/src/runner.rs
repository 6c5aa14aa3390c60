//! Executes one [`Job`]: builds the problem in the documented RNG order, runs the training loop
//! with the probes the job asks for, and condenses them into a [`JobResult`].

use std::path::PathBuf;

use noether_nn::files::mnist;
use noether_nn::norms::weight_sq_norms;
use noether_nn::{seeded_rng, Activation, Dataset, Evaluator, GaussianMixture, HessianKind, HessianOperator, Init, Loss, Mlp, Real};
use noether_spectra::dense_eigen;
use noether_theory::conservation as cons;
use noether_theory::fit::{pearson_thresholded, trapezoid_unit, PEARSON_STD_THRESHOLD_E9};
use noether_train::probes::{
    ConservationProbe, DriftSummary, SharpnessPoint, SharpnessProbe, SwitchProbe, SwitchSummary, TrajectoryPoint,
    TrajectoryRecorder, UpdateNormProbe,
};
use noether_train::run::Precision;
use noether_train::{train, LrSchedule, Probe};
use serde::{Deserialize, Serialize};

use crate::job::{DataSpec, HessianJob, Job, ProblemSpec, RngOrder, SharpnessMethod, TrainJob};
use crate::LabError;

/// What a training run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    pub steps_completed: usize,
    pub diverged: bool,
    /// Loss at θ_T (NaN if the run diverged).
    pub final_loss: f64,
    pub final_accuracy: f64,
    /// Loss at θ_{T−1}, the one computed before the final update (the reference's "final loss").
    pub loss_before_last_update: f64,
    pub drift: Option<DriftSummary>,
    /// |Σ_t mean_l δ_l(t)| (E6b's S for deep nets).
    pub s_layer_mean: f64,
    /// Trapezoid integral (unit spacing) of Σ_l ‖g_l‖² over t = 0..T−1 (E6b).
    pub grad_integral: f64,
    pub switching: Option<SwitchingResult>,
    pub sharpness: Vec<SharpnessPoint>,
    pub sharpness_products: usize,
    pub checkpoints: Vec<TrajectoryPoint>,
    pub update: Option<UpdateResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchingResult {
    pub summary: SwitchSummary,
    /// Pearson correlation of the per-step flip fraction with |δ(t)| (0 if either is constant).
    pub corr_flips_abs_imbalance: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateResult {
    pub s_update: f64,
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
    pub loss: f64,
    /// Did the pre-training (if any) stay finite?
    pub finite: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum JobResult {
    Train(TrainResult),
    Hessian(HessianResult),
    Stream(noether_train::streaming::StreamRecord),
}

impl JobResult {
    pub fn train(&self) -> Option<&TrainResult> {
        match self {
            JobResult::Train(t) => Some(t),
            _ => None,
        }
    }
    pub fn hessian(&self) -> Option<&HessianResult> {
        match self {
            JobResult::Hessian(h) => Some(h),
            _ => None,
        }
    }
    pub fn stream(&self) -> Option<&noether_train::streaming::StreamRecord> {
        match self {
            JobResult::Stream(s) => Some(s),
            _ => None,
        }
    }
}

/// Where MNIST lives: `$NOETHER_DATA/mnist-10k` or the workspace's data/mnist-10k.
pub fn mnist_dir() -> PathBuf {
    noether_train::run::default_mnist_dir()
}

fn data_of<T: Real>(spec: &DataSpec, rng: &mut noether_nn::Rng) -> Result<Dataset<T>, LabError> {
    Ok(match spec {
        DataSpec::GaussianMixture { n, d, classes, separation, n_test } => {
            GaussianMixture { n_train: *n, n_test: *n_test, d: *d, classes: *classes, separation: *separation }
                .generate::<T, _>(rng)?
                .0
        }
        DataSpec::Mnist { n } => mnist(&mnist_dir(), *n)?,
    })
}

/// The network, data and initial parameters of a problem.
pub fn build<T: Real>(p: &ProblemSpec) -> Result<(Mlp, Dataset<T>, Vec<T>, Loss), LabError> {
    let (d, k) = p.data.dims();
    let mut widths = vec![d];
    widths.extend(&p.net.hidden);
    widths.push(k);
    let net = Mlp::new(widths, Activation::interpolated(p.net.activation_eps)?, p.net.bias)?;
    let mut rng = seeded_rng(p.seed);
    let (data, params) = match p.rng_order {
        RngOrder::ModelThenData => {
            let params = Init::PytorchDefault.draw::<T, _>(&net, &mut rng)?;
            (data_of::<T>(&p.data, &mut rng)?, params)
        }
        RngOrder::DataThenModel => {
            let data = data_of::<T>(&p.data, &mut rng)?;
            (data, Init::PytorchDefault.draw::<T, _>(&net, &mut rng)?)
        }
    };
    Ok((net, data, params, Loss::mix(p.ce_weight)?))
}

/// Runs a job in its precision.
pub fn run_job(job: &Job) -> Result<JobResult, LabError> {
    match (job, job.precision()) {
        (Job::Stream(j), Precision::F32) => run_stream::<f32>(j).map(JobResult::Stream),
        (Job::Stream(j), Precision::F64) => run_stream::<f64>(j).map(JobResult::Stream),
        (Job::Train(j), Precision::F32) => run_train::<f32>(j).map(JobResult::Train),
        (Job::Train(j), Precision::F64) => run_train::<f64>(j).map(JobResult::Train),
        (Job::Hessian(j), Precision::F32) => run_hessian::<f32>(j).map(JobResult::Hessian),
        (Job::Hessian(j), Precision::F64) => run_hessian::<f64>(j).map(JobResult::Hessian),
    }
}

fn run_stream<T: Real>(job: &crate::job::StreamJob) -> Result<noether_train::streaming::StreamRecord, LabError> {
    let lrs = job.schedule.learning_rates(job.steps, job.peak_lr, job.warmup).map_err(|e| LabError::Config(format!("schedule: {e}")))?;
    noether_train::streaming::stream_sgd::<T>(&job.spec, &lrs, &job.measure).map_err(|e| LabError::Run(e.to_string()))
}

fn run_train<T: Real>(job: &TrainJob) -> Result<TrainResult, LabError> {
    let (net, data, mut params, loss) = build::<T>(&job.problem)?;
    let mut eval = Evaluator::new(&net, loss, &data)?;
    let mut conservation = ConservationProbe::default();
    let mut switching = SwitchProbe::default();
    let mut updates = UpdateNormProbe::default();
    let mut checkpoints = job.measure.checkpoint_every.map(TrajectoryRecorder::after_first_update);
    let mut sharpness = match job.measure.sharpness {
        None => None,
        Some(s) => {
            let e = Evaluator::new(&net, loss, &data)?;
            let seed = job.problem.seed.wrapping_add(0x5eed);
            Some(match s.method {
                SharpnessMethod::ReferencePower { iters } => SharpnessProbe::reference_power(e, s.every, iters, 1e-3, seed),
                SharpnessMethod::WarmLanczos { tol } => SharpnessProbe::new(e, s.every, true, tol, seed),
            })
        }
    };
    let outcome = {
        let mut probes: Vec<&mut dyn Probe<T>> = vec![&mut conservation];
        if job.measure.switching {
            probes.push(&mut switching);
        }
        if job.measure.update_norms {
            probes.push(&mut updates);
        }
        if let Some(c) = checkpoints.as_mut() {
            probes.push(c);
        }
        if let Some(s) = sharpness.as_mut() {
            probes.push(s);
        }
        train(&mut eval, &mut params, job.optimizer, &LrSchedule::Constant(job.lr), job.steps, &mut probes, &mut |_| {})
    };
    let updates_done = conservation.lrs.len();
    let deltas: Vec<&[f64]> = conservation.imbalance.iter().map(|d| &d[..updates_done]).collect();
    let s_layer_mean = if deltas.is_empty() { 0.0 } else { cons::imbalance_sum_of_layer_mean(&deltas)? };
    // Over the steps that were followed by an update (t = 0..T−1), as the reference records them.
    let grad_integral = trapezoid_unit(&conservation.grad_sq_total[..updates_done.min(conservation.grad_sq_total.len())]);
    let switching = if job.measure.switching {
        switching.summary().map(|summary| {
            let n = switching.flips.len();
            let frac: Vec<f64> = switching.flips.iter().map(|&f| f as f64 / switching.entries as f64).collect();
            let abs_delta: Vec<f64> = conservation.imbalance[0][..n].iter().map(|d| d.abs()).collect();
            SwitchingResult {
                summary,
                corr_flips_abs_imbalance: pearson_thresholded(&frac, &abs_delta, PEARSON_STD_THRESHOLD_E9).unwrap_or(f64::NAN),
            }
        })
    } else {
        None
    };
    let losses = &conservation.losses;
    let loss_before_last_update = if losses.len() >= 2 { losses[losses.len() - 2] } else { f64::NAN };
    let (sharp_values, sharp_products) = match sharpness {
        Some(s) => {
            if let Some(e) = s.error {
                return Err(LabError::Run(format!("λ_max tracking failed: {e}")));
            }
            (s.values, s.products)
        }
        None => (Vec::new(), 0),
    };
    Ok(TrainResult {
        steps_completed: outcome.steps_completed,
        diverged: outcome.diverged(),
        final_loss: outcome.final_loss,
        final_accuracy: outcome.final_accuracy,
        loss_before_last_update,
        drift: if outcome.diverged() { None } else { conservation.summary() },
        s_layer_mean,
        grad_integral,
        switching,
        sharpness: sharp_values,
        sharpness_products: sharp_products,
        checkpoints: checkpoints.map(|c| c.points).unwrap_or_default(),
        update: job.measure.update_norms.then(|| UpdateResult { s_update: updates.s_update(), mean_ratio: updates.mean_ratio() }),
    })
}

fn run_hessian<T: Real>(job: &HessianJob) -> Result<HessianResult, LabError> {
    let (net, data, mut params, loss) = build::<T>(&job.problem)?;
    let mut finite = true;
    if job.train_steps > 0 {
        let mut eval = Evaluator::new(&net, loss, &data)?;
        let out = train(
            &mut eval,
            &mut params,
            noether_train::OptimizerKind::Gd,
            &LrSchedule::Constant(job.train_lr),
            job.train_steps,
            &mut [],
            &mut |_| {},
        );
        finite = !out.diverged();
    }
    let layout = net.layout();
    let mut op = HessianOperator::new(Evaluator::new(&net, loss, &data)?, params, HessianKind::Full);
    let stats = op.stats();
    let g = op.gradient().to_vec();
    let gnorms = weight_sq_norms(&layout, &g);
    let delta0 = gnorms[1] - gnorms[0];
    let h = op.dense();
    let eig = dense_eigen(h.as_ref(), job.ck)?;
    let ck = if job.ck {
        let v = eig.vectors.as_ref().expect("vectors requested");
        let p = v.nrows();
        let mut cols = Vec::with_capacity(p * p);
        for j in 0..p {
            cols.extend(v.col_as_slice(j));
        }
        let g64: Vec<f64> = g[..layout.n_weights()].iter().map(|x| x.to_f64()).collect();
        Some(noether_theory::crossover::ck_from_gradient_projection(&cols, &g64, delta0)?)
    } else {
        None
    };
    Ok(HessianResult { eigenvalues: eig.values, ck, delta0, loss: stats.loss, finite })
}
