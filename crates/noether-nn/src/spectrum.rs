//! Eigen-analysis of a network's loss Hessian: what `noether hessian` computes.
//!
//! One request names what is wanted (extreme eigenpairs, the full spectrum, a density, a trace)
//! and the method for the extreme eigenpairs; the report carries values together with the
//! evidence that they are right (residuals, convergence flags, products spent).

use std::time::Instant;

use noether_spectra::{
    CountingOperator, LanczosOptions, MemoryBudget, PowerOptions, SlqOptions, SymmetricOperator, check_dense,
    dense_eigen, hutchinson_trace, lanczos, power_iteration, power_iteration_reference,
};
use serde::{Deserialize, Serialize};

use crate::{HessianOperator, NnError, Real};

/// How the extreme eigenpairs are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EigenMethod {
    /// Lanczos with full reorthogonalisation (any number of top and bottom pairs).
    Lanczos,
    /// Power iteration: the eigenvalue of largest magnitude only. With `power_iters` set it
    /// follows the reference's semantics exactly (fixed iterations, Rayleigh quotient).
    Power,
    /// Dense P×P Hessian and a full eigendecomposition (small networks).
    Dense,
}

impl EigenMethod {
    /// Parses `lanczos`, `power` or `dense`.
    pub fn parse(s: &str) -> Result<Self, NnError> {
        match s {
            "lanczos" => Ok(Self::Lanczos),
            "power" => Ok(Self::Power),
            "dense" => Ok(Self::Dense),
            _ => Err(NnError::InvalidArgument(format!("unknown method '{s}'; allowed: lanczos, power, dense"))),
        }
    }
}

/// What to compute.
#[derive(Clone, Debug)]
pub struct SpectrumRequest {
    /// Largest eigenvalues wanted.
    pub top: usize,
    /// Smallest eigenvalues wanted.
    pub bottom: usize,
    /// Every eigenvalue (dense method).
    pub full: bool,
    /// A spectral density by stochastic Lanczos quadrature.
    pub density: Option<SlqOptions>,
    /// Hutchinson probes, if a trace estimate is wanted.
    pub trace_probes: Option<usize>,
    /// How the extreme eigenpairs are computed.
    pub method: EigenMethod,
    /// Relative residual tolerance (Lanczos: relative to ‖H‖; power: relative to |λ|).
    pub tol: f64,
    /// Cap on Lanczos steps or power iterations (default: the method's own).
    pub max_iter: Option<usize>,
    /// Power iteration with the reference's fixed number of iterations.
    pub power_iters: Option<usize>,
    /// Seeds start vectors and probes.
    pub seed: u64,
    /// Memory budget for the dense path.
    pub budget: MemoryBudget,
}

impl Default for SpectrumRequest {
    fn default() -> Self {
        SpectrumRequest {
            top: 1,
            bottom: 0,
            full: false,
            density: None,
            trace_probes: None,
            method: EigenMethod::Lanczos,
            tol: 1e-10,
            max_iter: None,
            power_iters: None,
            seed: 0,
            budget: MemoryBudget::default(),
        }
    }
}

/// Extreme eigenpairs with their evidence.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Extremes {
    /// Values, descending for `top`, ascending for `bottom`.
    pub values: Vec<f64>,
    /// ‖Hv − λv‖ per pair.
    pub residuals: Vec<f64>,
    /// Whether each pair met the tolerance.
    pub converged: Vec<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
/// A spectral density estimated by stochastic Lanczos quadrature.
pub struct DensityReport {
    /// Eigenvalue grid.
    pub grid: Vec<f64>,
    /// Density at each grid point (Gaussian-broadened).
    pub density: Vec<f64>,
    /// Random probes averaged.
    pub probes: usize,
    /// Lanczos steps per probe.
    pub steps: usize,
    /// Width of the Gaussian broadening.
    pub sigma: f64,
    /// ∫ density over the grid (≈ 1).
    pub integral: f64,
    /// SLQ estimates of tr(H)/P and tr(H²)/P with their standard errors.
    pub mean_eigenvalue: f64,
    /// Standard error of `mean_eigenvalue`.
    pub mean_eigenvalue_se: f64,
    /// tr(H²)/P.
    pub mean_sq_eigenvalue: f64,
    /// Its standard error.
    pub mean_sq_eigenvalue_se: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
/// A Hutchinson estimate of tr(H).
pub struct TraceReport {
    /// The estimate.
    pub estimate: f64,
    /// Its standard error over the probes.
    pub std_error: f64,
    /// Rademacher probes used.
    pub probes: usize,
}

/// Everything `noether hessian` writes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpectrumReport {
    /// The method used for the extreme eigenpairs.
    pub method: EigenMethod,
    /// `f32` or `f64`.
    pub precision: String,
    /// Parameters P (the Hessian is P×P).
    pub n_params: usize,
    /// The loss at the point.
    pub loss: f64,
    /// The largest eigenvalues, if asked for.
    pub top: Option<Extremes>,
    /// The smallest eigenvalues, if asked for.
    pub bottom: Option<Extremes>,
    /// All eigenvalues, ascending (dense method).
    pub full: Option<Vec<f64>>,
    /// The spectral density, if asked for.
    pub density: Option<DensityReport>,
    /// The trace estimate, if asked for.
    pub trace: Option<TraceReport>,
    /// Lanczos steps or power iterations of the extreme-eigenpair computation.
    pub iterations: usize,
    /// Hessian-vector products spent in total (a dense Hessian costs P).
    pub products: usize,
    /// Wall time of the whole analysis.
    pub wall_seconds: f64,
}

/// Runs a [`SpectrumRequest`] on the Hessian operator of a network.
///
/// ```
/// use noether_nn::spectrum::{SpectrumRequest, analyse};
/// use noether_nn::{Activation, Dataset, Evaluator, HessianKind, HessianOperator, Init, Loss, Mlp};
/// use rand::SeedableRng;
/// let net = Mlp::new(vec![2, 4, 2], Activation::RELU, false)?;
/// let data = Dataset::<f64>::from_rows(4, 2, &[1.0, 0.5, -0.3, 0.8, 0.2, -1.0, -0.7, -0.4], vec![0, 1, 1, 0], 2)?;
/// let params = Init::PytorchDefault.draw::<f64, _>(&net, &mut rand::rngs::ChaCha8Rng::seed_from_u64(0))?;
/// let op = HessianOperator::new(Evaluator::new(&net, Loss::CE, &data)?, params, HessianKind::Full);
/// let report = analyse(op, &SpectrumRequest { top: 2, full: true, ..SpectrumRequest::default() })?;
/// let (top, all) = (report.top.unwrap(), report.full.unwrap());
/// assert!((top.values[0] - all[all.len() - 1]).abs() < 1e-9); // Lanczos = dense
/// # Ok::<(), noether_nn::NnError>(())
/// ```
pub fn analyse<T: Real>(mut op: HessianOperator<'_, T>, req: &SpectrumRequest) -> Result<SpectrumReport, NnError> {
    let started = Instant::now();
    let p = op.dim();
    let loss = op.stats().loss;
    if req.top > p || req.bottom > p {
        return Err(NnError::InvalidArgument(format!(
            "asked for {} top and {} bottom eigenvalues of a {p}-parameter Hessian",
            req.top, req.bottom
        )));
    }
    if req.method == EigenMethod::Power && (req.top > 1 || req.bottom > 0) {
        return Err(NnError::InvalidArgument(
            "power iteration gives one eigenvalue (the largest in magnitude); use --method lanczos for --top K > 1 or --bottom".into(),
        ));
    }
    let dense = req.full || req.method == EigenMethod::Dense;
    if dense {
        check_dense(p, std::mem::size_of::<T>(), req.top + req.bottom > 0, req.budget)?;
    }
    // The dense Hessian comes from the closed form where one exists (no products), else from P
    // products, counted like all others.
    let dense_matrix = dense.then(|| op.dense());
    let dense_products = if dense && !op.has_closed_form() { p } else { 0 };
    let mut op = CountingOperator::new(op);
    let mut report = SpectrumReport {
        method: req.method,
        precision: T::NAME.into(),
        n_params: p,
        loss,
        top: None,
        bottom: None,
        full: None,
        density: None,
        trace: None,
        iterations: 0,
        products: 0,
        wall_seconds: 0.0,
    };
    let wants_extremes = req.top + req.bottom > 0;
    if let Some(h) = dense_matrix {
        let eig = dense_eigen(h.as_ref(), wants_extremes)?;
        if wants_extremes {
            let u = eig.vectors.as_ref().expect("vectors requested");
            let pair = |j: usize| -> (f64, f64) {
                let lambda = eig.values[j];
                // Residual ‖Hu − λu‖ against the matrix in its own precision, accumulated in f64.
                let mut r2 = 0.0;
                for i in 0..p {
                    let mut s = 0.0;
                    for k in 0..p {
                        s += h[(i, k)].to_f64() * u[(k, j)];
                    }
                    r2 += (s - lambda * u[(i, j)]).powi(2);
                }
                (lambda, r2.sqrt())
            };
            let scale = eig.values.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(f64::MIN_POSITIVE);
            let tol = req.tol.max(1e3 * T::EPSILON.to_f64());
            let make = |idx: Vec<usize>| {
                let pairs: Vec<(f64, f64)> = idx.into_iter().map(pair).collect();
                Extremes {
                    values: pairs.iter().map(|x| x.0).collect(),
                    converged: pairs.iter().map(|x| x.1 <= tol * scale).collect(),
                    residuals: pairs.into_iter().map(|x| x.1).collect(),
                }
            };
            if req.top > 0 {
                report.top = Some(make((0..req.top).map(|k| p - 1 - k).collect()));
            }
            if req.bottom > 0 {
                report.bottom = Some(make((0..req.bottom).collect()));
            }
        }
        if req.full {
            report.full = Some(eig.values);
        }
    } else if wants_extremes {
        match req.method {
            EigenMethod::Lanczos => {
                let res = lanczos(
                    &mut op,
                    &LanczosOptions {
                        k_top: req.top,
                        k_bottom: req.bottom,
                        max_iter: req.max_iter,
                        tol: req.tol,
                        seed: req.seed,
                        start: None,
                        check_every: 1,
                        explicit_residuals: true,
                    },
                )?;
                let ext = |v: &[noether_spectra::EigenPair]| Extremes {
                    values: v.iter().map(|e| e.value).collect(),
                    residuals: v.iter().map(|e| e.residual).collect(),
                    converged: v.iter().map(|e| e.converged).collect(),
                };
                if req.top > 0 {
                    report.top = Some(ext(&res.top));
                }
                if req.bottom > 0 {
                    report.bottom = Some(ext(&res.bottom));
                }
                report.iterations = res.iterations;
            }
            EigenMethod::Power => {
                let res = match req.power_iters {
                    Some(n) => power_iteration_reference::<T, _>(&mut op, n, req.seed, req.tol)?,
                    None => power_iteration::<T, _>(
                        &mut op,
                        &PowerOptions {
                            max_iter: req.max_iter.unwrap_or(1000),
                            tol: req.tol,
                            seed: req.seed,
                            start: None,
                        },
                    )?,
                };
                report.top = Some(Extremes {
                    values: vec![res.value],
                    residuals: vec![res.residual],
                    converged: vec![res.converged],
                });
                report.iterations = res.iterations;
            }
            EigenMethod::Dense => unreachable!("handled above"),
        }
    }
    if let Some(opts) = &req.density {
        let d = noether_spectra::slq_density(&mut op, opts)?;
        report.density = Some(DensityReport {
            integral: d.integral(),
            mean_eigenvalue: d.moment(1),
            mean_eigenvalue_se: d.moment_std_error(1),
            mean_sq_eigenvalue: d.moment(2),
            mean_sq_eigenvalue_se: d.moment_std_error(2),
            probes: opts.probes,
            steps: opts.steps,
            sigma: d.sigma,
            grid: d.grid,
            density: d.density,
        });
    }
    if let Some(probes) = req.trace_probes {
        let t = hutchinson_trace(&mut op, probes, req.seed)?;
        report.trace = Some(TraceReport { estimate: t.estimate, std_error: t.std_error, probes: t.probes });
    }
    report.products = op.products() + dense_products;
    report.wall_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
