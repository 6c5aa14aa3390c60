//! `evaluate`, `gradient`, `hvp`, `hessian` and `train`: one network, one loss, one data set.
//!
//! Each entry point reads its arguments into a [`Problem`] under the GIL, then runs the engine
//! with the GIL released in the precision the problem asks for.

use std::borrow::Cow;

use noether_nn::spectrum::{EigenMethod, SpectrumReport, SpectrumRequest, analyse};
use noether_nn::{Dataset, Evaluator, ForwardStats, HessianKind, HessianOperator, Loss, Mlp, NnError, Precision, Real};
use noether_spectra::{MemoryBudget, SlqOptions};
use noether_train::probes::ConservationProbe;
use noether_train::{Flow, LrSchedule, OptimizerKind, Probe, StepView, TrainError, TrainOutcome};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{Floats, labels, matrix, precision, shape_string};
use crate::errors::{nn, train as train_error, value_error};
use crate::mlp::PyMlp;

/// A network, its parameters and a data set, read from Python and ready for the engine.
struct Problem<'a> {
    net: &'a Mlp,
    params: &'a [f64],
    n: usize,
    d: usize,
    /// x in C order: borrowed from the caller's array when it is C-contiguous float64.
    rows: Cow<'a, [f64]>,
    labels: Vec<usize>,
    loss: Loss,
    precision: Precision,
}

impl<'a> Problem<'a> {
    fn read(
        mlp: &'a PyMlp,
        x: &'a Floats<'_>,
        y: &Bound<'_, PyAny>,
        loss: &str,
        asked: Option<&str>,
    ) -> PyResult<Self> {
        let &[n, d] = x.shape() else {
            return Err(value_error(format!("x has shape {}; expected (n, d)", shape_string(x.shape()))));
        };
        Ok(Problem {
            net: &mlp.net,
            params: &mlp.params,
            n,
            d,
            labels: labels(y, n)?,
            loss: Loss::parse(loss).map_err(nn)?,
            precision: precision(asked, mlp.f32 && x.is_f32())?,
            rows: x.values::<f64>(),
        })
    }

    /// The data set (checked: finite values, labels < K, d = the input width) and θ as `T`.
    fn data<T: Real>(&self) -> Result<(Dataset<T>, Vec<T>), NnError> {
        let data = Dataset::from_rows(self.n, self.d, &self.rows, self.labels.clone(), self.net.output_dim())?;
        Ok((data, self.params.iter().map(|&v| T::from_f64(v)).collect()))
    }
}

/// A gradient, Hessian or Hessian-vector product is refused where the loss is not finite: it
/// would be NaN or ∞ throughout, which is not an answer.
fn finite_loss(stats: ForwardStats) -> Result<ForwardStats, NnError> {
    if stats.loss.is_finite() {
        Ok(stats)
    } else {
        Err(NnError::InvalidArgument(format!(
            "the loss at these parameters is {}: gradients and curvature are undefined there",
            stats.loss
        )))
    }
}

fn gradient_in<T: Real>(p: &Problem<'_>) -> Result<(ForwardStats, Vec<T>), NnError> {
    let (data, params) = p.data::<T>()?;
    let mut eval = Evaluator::new(p.net, p.loss, &data)?;
    let mut grad = vec![T::ZERO; params.len()];
    let stats = finite_loss(eval.loss_and_grad(&params, &mut grad))?;
    Ok((stats, grad))
}

/// Loss and accuracy of `net` on (x, y): {"loss", "accuracy"}.
#[pyfunction]
#[pyo3(signature = (net, x, y, loss = "ce", *, precision = None))]
pub(crate) fn evaluate<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyMlp>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    loss: &str,
    precision: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let x = Floats::extract(x, "x")?;
    let p = Problem::read(net.get(), &x, y, loss, precision)?;
    let eval_in = |p: &Problem<'_>| -> Result<ForwardStats, NnError> {
        match p.precision {
            Precision::F32 => p.data::<f32>().and_then(|(d, t)| Ok(Evaluator::new(p.net, p.loss, &d)?.forward(&t))),
            Precision::F64 => p.data::<f64>().and_then(|(d, t)| Ok(Evaluator::new(p.net, p.loss, &d)?.forward(&t))),
        }
    };
    let stats = py.detach(|| eval_in(&p)).map_err(nn)?;
    let out = PyDict::new(py);
    out.set_item("loss", stats.loss)?;
    out.set_item("accuracy", stats.accuracy)?;
    Ok(out)
}

/// ∇L(θ) as a flat (P,) array in the order of `net.params` (use `net.split` for per-layer
/// arrays), in the precision of the computation.
#[pyfunction]
#[pyo3(signature = (net, x, y, loss = "ce", *, precision = None))]
pub(crate) fn gradient<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyMlp>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    loss: &str,
    precision: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = Floats::extract(x, "x")?;
    let p = Problem::read(net.get(), &x, y, loss, precision)?;
    Ok(match p.precision {
        Precision::F32 => PyArray1::from_vec(py, py.detach(|| gradient_in::<f32>(&p)).map_err(nn)?.1).into_any(),
        Precision::F64 => PyArray1::from_vec(py, py.detach(|| gradient_in::<f64>(&p)).map_err(nn)?.1).into_any(),
    })
}

fn hvp_in<T: Real>(p: &Problem<'_>, v: &[T], kind: HessianKind) -> Result<Vec<T>, NnError> {
    let (data, params) = p.data::<T>()?;
    let mut eval = Evaluator::new(p.net, p.loss, &data)?;
    let (mut grad, mut out) = (vec![T::ZERO; params.len()], vec![T::ZERO; params.len()]);
    finite_loss(eval.prepare(&params, &mut grad))?;
    match kind {
        HessianKind::Full => eval.hvp_cached(&params, v, &mut out),
        HessianKind::GaussNewton => eval.gnvp_cached(&params, v, &mut out),
    }
    Ok(out)
}

/// H·v, the exact Hessian-vector product (R-operator) at θ for a (P,) vector v in the order of
/// `net.params`; `gauss_newton=True` gives the Gauss–Newton product G·v instead.
#[pyfunction]
#[pyo3(signature = (net, x, y, v, loss = "ce", *, gauss_newton = false, precision = None))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn hvp<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyMlp>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    v: &Bound<'py, PyAny>,
    loss: &str,
    gauss_newton: bool,
    precision: Option<&str>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = Floats::extract(x, "x")?;
    let p = Problem::read(net.get(), &x, y, loss, precision)?;
    let v = Floats::extract(v, "v")?;
    if v.shape() != [p.params.len()] {
        return Err(value_error(format!(
            "v has shape {} but the network has P = {} parameters: expected ({},)",
            shape_string(v.shape()),
            p.params.len(),
            p.params.len()
        )));
    }
    if let Some(i) = v.first_non_finite() {
        return Err(value_error(format!("v[{i}] is not finite")));
    }
    let kind = if gauss_newton { HessianKind::GaussNewton } else { HessianKind::Full };
    // `Floats` holds a numpy borrow, which must not cross threads; the slice it lends can.
    Ok(match p.precision {
        Precision::F32 => {
            let v = v.values::<f32>();
            PyArray1::from_vec(py, py.detach(|| hvp_in(&p, &v, kind)).map_err(nn)?).into_any()
        }
        Precision::F64 => {
            let v = v.values::<f64>();
            PyArray1::from_vec(py, py.detach(|| hvp_in(&p, &v, kind)).map_err(nn)?).into_any()
        }
    })
}

fn hessian_in<T: Real>(p: &Problem<'_>, kind: HessianKind, req: &SpectrumRequest) -> Result<SpectrumReport, NnError> {
    let (data, params) = p.data::<T>()?;
    let mut eval = Evaluator::new(p.net, p.loss, &data)?;
    let mut grad = vec![T::ZERO; params.len()];
    finite_loss(eval.loss_and_grad(&params, &mut grad))?;
    analyse(HessianOperator::new(eval, params, kind), req)
}

/// Eigenvalues of the Hessian of the loss at θ.
///
/// `top=K` / `bottom=K`: the K largest (descending) / smallest (ascending) by Lanczos with full
/// reorthogonalisation (`method="power"` or `"dense"` also), each with its explicit residual
/// ‖Hv − λv‖ and whether it met `tol` (relative to ‖H‖). `full=True`: all P eigenvalues of the
/// dense Hessian, ascending, as "eigenvalues" (guarded by `memory_gib`). `density=True`: the
/// spectral density by stochastic Lanczos quadrature; `trace=True`: a Hutchinson estimate.
///
/// Returns a dict: "top", "bottom", "residuals" (top's then bottom's), "converged" when top or
/// bottom was asked for; "eigenvalues" with `full`; "density" / "trace" when asked; always
/// "loss", "n_params", "precision", "iterations", "products", "seconds".
#[pyfunction]
#[pyo3(signature = (
    net, x, y, loss = "ce", top = 0, bottom = 0, full = false, *,
    method = "lanczos", tol = 1e-10, max_iter = None, gauss_newton = false,
    density = false, trace = false, probes = 10, steps = 80, seed = 0,
    precision = None, memory_gib = 2.0,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn hessian<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyMlp>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    loss: &str,
    top: usize,
    bottom: usize,
    full: bool,
    method: &str,
    tol: f64,
    max_iter: Option<usize>,
    gauss_newton: bool,
    density: bool,
    trace: bool,
    probes: usize,
    steps: usize,
    seed: u64,
    precision: Option<&str>,
    memory_gib: f64,
) -> PyResult<Bound<'py, PyDict>> {
    if top + bottom == 0 && !full && !density && !trace {
        return Err(value_error("nothing to compute: ask for top=K, bottom=K, full=True, density=True or trace=True"));
    }
    if !(tol.is_finite() && tol > 0.0) {
        return Err(value_error(format!("tol must be a positive number, got {tol}")));
    }
    if !(memory_gib.is_finite() && memory_gib > 0.0) {
        return Err(value_error(format!("memory_gib must be a positive number, got {memory_gib}")));
    }
    let x = Floats::extract(x, "x")?;
    let p = Problem::read(net.get(), &x, y, loss, precision)?;
    let req = SpectrumRequest {
        top,
        bottom,
        full,
        density: density.then(|| SlqOptions { probes, steps, seed, ..SlqOptions::default() }),
        trace_probes: trace.then_some(probes),
        method: EigenMethod::parse(method).map_err(nn)?,
        tol,
        max_iter,
        power_iters: None,
        seed,
        budget: MemoryBudget::from_gib(memory_gib),
    };
    let kind = if gauss_newton { HessianKind::GaussNewton } else { HessianKind::Full };
    let r = py
        .detach(|| match p.precision {
            Precision::F32 => hessian_in::<f32>(&p, kind, &req),
            Precision::F64 => hessian_in::<f64>(&p, kind, &req),
        })
        .map_err(nn)?;
    let out = PyDict::new(py);
    if top + bottom > 0 {
        let (t, b) = (r.top.unwrap_or_default(), r.bottom.unwrap_or_default());
        out.set_item("top", PyArray1::from_slice(py, &t.values))?;
        out.set_item("bottom", PyArray1::from_slice(py, &b.values))?;
        out.set_item("top_residuals", PyArray1::from_slice(py, &t.residuals))?;
        out.set_item("bottom_residuals", PyArray1::from_slice(py, &b.residuals))?;
        let residuals: Vec<f64> = t.residuals.iter().chain(&b.residuals).copied().collect();
        let converged: Vec<bool> = t.converged.iter().chain(&b.converged).copied().collect();
        out.set_item("residuals", PyArray1::from_vec(py, residuals))?;
        out.set_item("converged", PyArray1::from_vec(py, converged))?;
    }
    if let Some(all) = r.full {
        out.set_item("eigenvalues", PyArray1::from_vec(py, all))?;
    }
    if let Some(d) = r.density {
        let dd = PyDict::new(py);
        dd.set_item("grid", PyArray1::from_vec(py, d.grid))?;
        dd.set_item("density", PyArray1::from_vec(py, d.density))?;
        dd.set_item("sigma", d.sigma)?;
        dd.set_item("integral", d.integral)?;
        dd.set_item("mean_eigenvalue", d.mean_eigenvalue)?;
        dd.set_item("mean_eigenvalue_se", d.mean_eigenvalue_se)?;
        out.set_item("density", dd)?;
    }
    if let Some(t) = r.trace {
        let td = PyDict::new(py);
        td.set_item("estimate", t.estimate)?;
        td.set_item("std_error", t.std_error)?;
        td.set_item("probes", t.probes)?;
        out.set_item("trace", td)?;
    }
    out.set_item("loss", r.loss)?;
    out.set_item("n_params", r.n_params)?;
    out.set_item("precision", r.precision)?;
    out.set_item("iterations", r.iterations)?;
    out.set_item("products", r.products)?;
    out.set_item("seconds", r.wall_seconds)?;
    Ok(out)
}

/// Records the accuracy at every evaluated step (the conservation probe keeps the rest).
#[derive(Default)]
struct AccuracyProbe(Vec<f64>);

impl<T: Real> Probe<T> for AccuracyProbe {
    fn observe(&mut self, v: &StepView<'_, '_, T>) -> Result<Flow, TrainError> {
        self.0.push(v.stats.accuracy);
        Ok(Flow::Continue)
    }
}

struct Trained {
    outcome: TrainOutcome,
    conservation: ConservationProbe,
    accuracy: Vec<f64>,
    params: Vec<f64>,
}

fn train_in<T: Real>(p: &Problem<'_>, opt: OptimizerKind, lr: f64, steps: usize) -> Result<Trained, NnError> {
    let (data, mut params) = p.data::<T>()?;
    let mut eval = Evaluator::new(p.net, p.loss, &data)?;
    let (mut conservation, mut accuracy) = (ConservationProbe::default(), AccuracyProbe::default());
    let outcome = noether_train::train(
        &mut eval,
        &mut params,
        opt,
        &LrSchedule::Constant(lr),
        steps,
        &mut [&mut conservation, &mut accuracy],
        &mut |_| {},
    )
    // Neither probe can fail and the schedule is constant: anything else is a bad argument.
    .map_err(|e| NnError::InvalidArgument(e.to_string()))?;
    Ok(Trained { outcome, conservation, accuracy: accuracy.0, params: params.iter().map(|v| v.to_f64()).collect() })
}

/// The optimiser a name and its keywords describe.
fn optimizer(name: &str, momentum: f64, betas: (f64, f64), eps: f64) -> PyResult<OptimizerKind> {
    let kind = match name {
        "gd" | "sgd" => OptimizerKind::Gd,
        "momentum" => OptimizerKind::Momentum { beta: momentum },
        "adam" => OptimizerKind::Adam { beta1: betas.0, beta2: betas.1, eps },
        other if other.starts_with("momentum:") => OptimizerKind::parse(other).map_err(train_error)?,
        other => {
            return Err(value_error(format!(
                "unknown optimizer '{other}'; allowed: gd, momentum (β from momentum=…), momentum:B, adam"
            )));
        }
    };
    kind.validated().map_err(train_error)
}

/// (rows, columns) array of per-step columns `cols[l][t]`, t < rows.
fn per_step<'py>(py: Python<'py>, rows: usize, cols: &[Vec<f64>]) -> PyResult<Bound<'py, PyAny>> {
    let flat: Vec<f64> = (0..rows).flat_map(|t| cols.iter().map(move |c| c[t])).collect();
    matrix(py, rows, cols.len(), flat)
}

/// Full-batch training from θ, recording every step t = 0..steps.
///
/// `optimizer`: "gd", "momentum" (β = `momentum`, torch.optim.SGD semantics), "momentum:B" or
/// "adam" (`betas`, `eps`; torch.optim.Adam semantics); a constant learning rate `lr`.
///
/// Returns a dict of arrays with one row per evaluated step: "loss", "accuracy", "conserved"
/// (C_l = ‖W_{l+1}‖² − ‖W_l‖², shape (rows, L−1)), "imbalance" (δ_l = ‖∂L/∂W_{l+1}‖² −
/// ‖∂L/∂W_l‖²), with biases "conserved_with_bias" (C_l − ‖b_l‖²); "net", the final Mlp (None if
/// its parameters are no longer finite); "steps_completed"; "diverged_at" (the step whose loss
/// was not finite, which ends the run, or None).
#[pyfunction]
#[pyo3(signature = (
    net, x, y, loss = "ce", optimizer = "gd", lr = 0.05, steps = 100, *,
    momentum = 0.9, betas = (0.9, 0.999), eps = 1e-8, precision = None,
))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn train<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyMlp>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    loss: &str,
    optimizer: &str,
    lr: f64,
    steps: usize,
    momentum: f64,
    betas: (f64, f64),
    eps: f64,
    precision: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    // The CLI's wording (noether_train::run).
    if !(lr.is_finite() && lr > 0.0) {
        return Err(value_error(format!("learning rate must be a positive finite number, got {lr}")));
    }
    let opt = self::optimizer(optimizer, momentum, betas, eps)?;
    let x = Floats::extract(x, "x")?;
    let mlp = net.get();
    let p = Problem::read(mlp, &x, y, loss, precision)?;
    let t = py
        .detach(|| match p.precision {
            Precision::F32 => train_in::<f32>(&p, opt, lr, steps),
            Precision::F64 => train_in::<f64>(&p, opt, lr, steps),
        })
        .map_err(nn)?;
    let rows = t.conservation.losses.len();
    let out = PyDict::new(py);
    out.set_item("loss", PyArray1::from_slice(py, &t.conservation.losses))?;
    out.set_item("accuracy", PyArray1::from_vec(py, t.accuracy))?;
    out.set_item("conserved", per_step(py, rows, &t.conservation.conserved)?)?;
    out.set_item("imbalance", per_step(py, rows, &t.conservation.imbalance)?)?;
    if mlp.net.bias {
        out.set_item("conserved_with_bias", per_step(py, rows, &t.conservation.conserved_with_bias)?)?;
    }
    let finite = t.params.iter().all(|v| v.is_finite());
    let trained = finite.then(|| mlp.with_params(t.params, p.precision == Precision::F32));
    out.set_item("net", trained.map(|m| Py::new(py, m)).transpose()?)?;
    out.set_item("steps_completed", t.outcome.steps_completed)?;
    out.set_item("diverged_at", t.outcome.diverged_at)?;
    Ok(out)
}
