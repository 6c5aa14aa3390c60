//! Executes one [`Job`]: builds the problem in the documented RNG order, runs the training loop
//! with the probes the job asks for, and condenses them into a [`JobResult`].

use std::path::PathBuf;

use noether_nn::Precision;
use noether_nn::files::mnist;
use noether_nn::norms::weight_sq_norms;
use noether_nn::{
    Activation, Dataset, Evaluator, GaussianMixture, HessianKind, HessianOperator, Init, Loss, Mlp, Real, seeded_rng,
};
use noether_spectra::dense_eigen_owned;
use noether_theory::conservation as cons;
use noether_theory::fit::{PEARSON_STD_THRESHOLD_E9, pearson_thresholded, trapezoid_unit};
use noether_train::probes::{ConservationProbe, SharpnessProbe, SwitchProbe, TrajectoryRecorder, UpdateNormProbe};
use noether_train::{LrSchedule, Probe, train};

mod ck_modes;

pub use ck_modes::UNASSIGNED_REL_FLOOR;

use crate::LabError;
use crate::job::{DataSpec, HessianJob, Job, ProblemSpec, RngOrder, SharpnessMethod, TrainJob, TrajectoryJob};
use crate::results::{
    CheckpointResult, HessianResult, JobResult, SwitchingResult, TrainResult, TrajectoryResult, UpdateResult,
};

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
        DataSpec::Xor { n } => noether_nn::xor_2d(*n, rng),
        DataSpec::Spheres { n, d, noise } => noether_nn::concentric_spheres(*n, *d, *noise, rng),
        DataSpec::Npz { path, digest, classes, .. } => {
            let bytes = std::fs::read(path).map_err(|e| LabError::io(path, e))?;
            if &crate::job::content_digest(&bytes) != digest {
                return Err(LabError::Job {
                    job: format!("data {path}"),
                    reason: "the file changed since the experiment was planned; plan it again".into(),
                });
            }
            noether_nn::files::dataset_from_npz(std::path::Path::new(path), Some(*classes))?
        }
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
        (Job::CkModes(j), Precision::F32) => ck_modes::run_ck_modes::<f32>(j).map(JobResult::CkModes),
        (Job::CkModes(j), Precision::F64) => ck_modes::run_ck_modes::<f64>(j).map(JobResult::CkModes),
        (Job::Trajectory(j), Precision::F32) => run_trajectory::<f32>(j).map(JobResult::Trajectory),
        (Job::Trajectory(j), Precision::F64) => run_trajectory::<f64>(j).map(JobResult::Trajectory),
    }
}

fn run_stream<T: Real>(job: &crate::job::StreamJob) -> Result<noether_train::streaming::StreamRecord, LabError> {
    let lrs = job.schedule.learning_rates(job.steps, job.peak_lr, job.warmup)?;
    Ok(noether_train::streaming::stream_sgd::<T>(&job.spec, &lrs, &job.measure)?)
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
                SharpnessMethod::ReferencePower { iters } => {
                    SharpnessProbe::reference_power(e, s.every, iters, 1e-3, seed)
                }
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
            .map_err(|e| match e {
                noether_train::TrainError::Probe(reason) => LabError::Job { job: job.problem.data.describe(), reason },
                e => e.into(),
            })?
    };
    let updates_done = conservation.lrs.len();
    let deltas: Vec<&[f64]> = conservation.imbalance.iter().map(|d| &d[..updates_done]).collect();
    let s_layer_mean = if deltas.is_empty() { 0.0 } else { cons::imbalance_sum_of_layer_mean(&deltas)? };
    // Over the steps that were followed by an update (t = 0..T−1), as the reference records them.
    let grad_integral =
        trapezoid_unit(&conservation.grad_sq_total[..updates_done.min(conservation.grad_sq_total.len())]);
    let switching = if job.measure.switching {
        switching.summary().map(|summary| {
            let n = switching.flips.len();
            let frac: Vec<f64> = switching.flips.iter().map(|&f| f as f64 / switching.entries as f64).collect();
            let abs_delta: Vec<f64> = conservation.imbalance[0][..n].iter().map(|d| d.abs()).collect();
            SwitchingResult {
                summary,
                corr_flips_abs_imbalance: pearson_thresholded(&frac, &abs_delta, PEARSON_STD_THRESHOLD_E9)
                    .unwrap_or(f64::NAN),
            }
        })
    } else {
        None
    };
    let losses = &conservation.losses;
    let loss_before_last_update = if losses.len() >= 2 { losses[losses.len() - 2] } else { f64::NAN };
    let (sharp_values, sharp_products) = sharpness.map_or((Vec::new(), 0), |s| (s.values, s.products));
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
        update: job
            .measure
            .update_norms
            .then(|| UpdateResult { s_update: updates.s_update(), mean_ratio: updates.mean_ratio() }),
    })
}

/// Full-batch GD at a constant rate with no probes: how Hessian jobs reach the point where the
/// Hessian is taken. Returns the step at which the loss became non-finite, if it did.
pub(crate) fn plain_gd<T: Real>(
    eval: &mut Evaluator<'_, T>,
    params: &mut [T],
    lr: f64,
    steps: usize,
) -> Result<Option<usize>, LabError> {
    let outcome =
        train(eval, params, noether_train::OptimizerKind::Gd, &LrSchedule::Constant(lr), steps, &mut [], &mut |_| {})?;
    Ok(outcome.diverged_at)
}

fn run_hessian<T: Real>(job: &HessianJob) -> Result<HessianResult, LabError> {
    let (net, data, mut params, loss) = build::<T>(&job.problem)?;
    let mut finite = true;
    if job.train_steps > 0 {
        let mut eval = Evaluator::new(&net, loss, &data)?;
        finite = plain_gd(&mut eval, &mut params, job.train_lr, job.train_steps)?.is_none();
    }
    hessian_at(&net, loss, &data, params, job.ck, finite)
}

/// The full Hessian at some parameters, decomposed: what [`hessian_at`] records and what the
/// c_k-modes jobs (E20/E21) build on.
pub struct FullHessianEigen {
    /// All eigenvalues, ascending.
    pub values: Vec<f64>,
    /// The eigenvectors as columns (only when c_k was requested).
    pub vectors: Option<faer::Mat<f64>>,
    /// c_k by gradient projection onto each eigenvector (only when requested).
    pub ck: Option<Vec<f64>>,
    /// δ(θ) = ‖∂L/∂W2‖² − ‖∂L/∂W1‖².
    pub delta0: f64,
    /// The training loss at the point.
    pub loss: f64,
}

/// Assembles the full Hessian (closed form where available), decomposes it (with eigenvectors
/// and c_k when `ck`) and frees each p×p buffer as soon as it is no longer needed: for the
/// P = 1600 nets of E08/E12/E20/E21 in f64 every such buffer is 20 MB, and two workers each
/// holding five of them made these experiments the suite's memory peak.
pub fn full_hessian_eigen<T: Real>(
    net: &Mlp,
    loss: Loss,
    data: &Dataset<T>,
    params: Vec<T>,
    ck: bool,
) -> Result<FullHessianEigen, LabError> {
    let layout = net.layout();
    let mut op = HessianOperator::new(Evaluator::new(net, loss, data)?, params, HessianKind::Full);
    let stats = op.stats();
    let g = op.gradient().to_vec();
    let gnorms = weight_sq_norms(&layout, &g);
    let delta0 = gnorms[1] - gnorms[0];
    let eig = dense_eigen_owned(op.dense(), ck)?;
    drop(op);
    let ck = match &eig.vectors {
        Some(v) => {
            use noether_theory::crossover::{ck_from_projections, project_onto_column_slices};
            let g64: Vec<f64> = g[..layout.n_weights()].iter().map(|x| x.to_f64()).collect();
            // Straight from the eigenvector columns (no p×p copy); a net with biases has more
            // Hessian rows than weights and is refused there.
            let proj = project_onto_column_slices((0..v.ncols()).map(|k| v.col_as_slice(k)), &g64)?;
            Some(ck_from_projections(&proj, delta0)?)
        }
        None => None,
    };
    Ok(FullHessianEigen { values: eig.values, vectors: eig.vectors, ck, delta0, loss: stats.loss })
}

/// Full Hessian eigenvalues (and c_k when `ck`), δ(θ) and the loss at `params`.
pub fn hessian_at<T: Real>(
    net: &Mlp,
    loss: Loss,
    data: &Dataset<T>,
    params: Vec<T>,
    ck: bool,
    finite: bool,
) -> Result<HessianResult, LabError> {
    let e = full_hessian_eigen(net, loss, data, params, ck)?;
    Ok(HessianResult { eigenvalues: e.values, ck: e.ck, delta0: e.delta0, loss: e.loss, finite })
}

/// Softmax statistics of the evaluator's last forward pass (f64 from the logits).
fn softmax_stats<T: Real>(eval: &Evaluator<'_, T>) -> Result<[f64; 7], LabError> {
    use noether_theory::compression as comp;
    let data = eval.data();
    let (n, k) = (data.n, data.classes);
    let f = eval.output();
    let (mut qs, mut lmax, mut claimed, mut corrected) = (Vec::with_capacity(n), 0.0f64, 0.0f64, 0.0f64);
    let mut p = vec![0.0; k];
    for i in 0..n {
        let m = (0..k).map(|c| f[c * n + i].to_f64()).fold(f64::NEG_INFINITY, f64::max);
        let mut z = 0.0;
        for c in 0..k {
            p[c] = (f[c * n + i].to_f64() - m).exp();
            z += p[c];
        }
        p.iter_mut().for_each(|v| *v /= z);
        qs.push(p[data.labels[i]]);
        lmax = lmax.max(comp::softmax_hessian_lambda_max(&p)?);
        claimed = claimed.max(comp::paper_claimed_lambda_max(&p)?);
        corrected = corrected.max(comp::corrected_lambda_max_bound(&p)?);
    }
    let mean = qs.iter().sum::<f64>() / n as f64;
    let min = qs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = qs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok([mean, min, max, comp::e18_softmax_eig_bound(&qs)?, lmax, claimed, corrected])
}

fn run_trajectory<T: Real>(job: &TrajectoryJob) -> Result<TrajectoryResult, LabError> {
    if job.checkpoints.windows(2).any(|w| w[0] >= w[1]) {
        return Err(LabError::Job {
            job: job.problem.data.describe(),
            reason: "trajectory checkpoints must be strictly ascending".into(),
        });
    }
    if let Some(t) = job.hessian_at.iter().find(|t| !job.checkpoints.contains(t)) {
        return Err(LabError::Job {
            job: job.problem.data.describe(),
            reason: format!("Hessian checkpoint {t} is not a checkpoint"),
        });
    }
    let (net, data, mut params, loss) = build::<T>(&job.problem)?;
    let mut eval = Evaluator::new(&net, loss, &data)?;
    let mut points = Vec::with_capacity(job.checkpoints.len());
    let mut t_now = 0;
    let mut diverged_at = None;
    for &t in &job.checkpoints {
        if t > t_now {
            if let Some(s) = plain_gd(&mut eval, &mut params, job.lr, t - t_now)? {
                diverged_at = Some(t_now + s);
                break;
            }
            t_now = t;
        }
        let stats = eval.forward(&params);
        if !stats.loss.is_finite() {
            diverged_at = Some(t);
            break;
        }
        let [
            q_mean,
            q_min,
            q_max,
            softmax_bound_mean,
            softmax_lambda_max,
            softmax_paper_claimed,
            softmax_corrected_bound,
        ] = softmax_stats(&eval)?;
        let hessian = if job.hessian_at.contains(&t) {
            Some(hessian_at(&net, loss, &data, params.clone(), job.ck, true)?)
        } else {
            None
        };
        points.push(CheckpointResult {
            t,
            loss: stats.loss,
            accuracy: stats.accuracy,
            q_mean,
            q_min,
            q_max,
            softmax_bound_mean,
            softmax_lambda_max,
            softmax_paper_claimed,
            softmax_corrected_bound,
            hessian,
        });
    }
    Ok(TrajectoryResult { points, diverged_at })
}
