//! Acceptance tests of the Hessian eigen-analysis: closed-form vs product-assembled Hessians,
//! Lanczos vs dense eigendecomposition on the golden networks and on the 1600-parameter default
//! problem, power iteration with the reference's semantics, and warm-started λ_max tracking.

mod common;

use common::{CASES, load};
use noether::nn::{
    Activation, Dataset, Evaluator, GaussianMixture, HessianKind, HessianOperator, Init, Loss, Mlp, Real,
    dense_hessian, seeded_rng,
};
use noether::spectra::{CountingOperator, LanczosOptions, dense_eigen, lanczos, power_iteration_reference};
use noether::train::probes::SharpnessProbe;
use noether::train::{LrSchedule, OptimizerKind, Probe, train};

/// The default problem GM-200 (P = 1600) at initialisation, seed 42.
fn default_problem<T: Real>(activation: Activation) -> (Mlp, Dataset<T>, Vec<T>) {
    let net = Mlp::new(vec![20, 64, 5], activation, false).unwrap();
    let mut rng = seeded_rng(42);
    let params = Init::PytorchDefault.draw::<T, _>(&net, &mut rng).unwrap();
    let (data, _) = GaussianMixture::default().generate::<T, _>(&mut rng).unwrap();
    (net, data, params)
}

fn max_abs(a: &faer::Mat<f64>) -> f64 {
    let mut m = 0.0f64;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            m = m.max(a[(i, j)].abs());
        }
    }
    m
}

/// The closed form of the 2-layer Hessian equals P exact products against unit vectors, for
/// every activation ε and loss mixture, in f64 (1e−12 relative) and f32 (1e−5).
#[test]
fn closed_form_hessian_equals_product_assembly() {
    for (eps, w, seed) in [(1.0, 0.0, 1), (1.0, 1.0, 2), (0.0, 0.0, 3), (0.5, 0.3, 4), (0.2, 1.0, 5)] {
        let net = Mlp::new(vec![5, 7, 3], Activation::interpolated(eps).unwrap(), false).unwrap();
        let mut rng = seeded_rng(seed);
        let params = Init::PytorchDefault.draw::<f64, _>(&net, &mut rng).unwrap();
        let gm = GaussianMixture { n_train: 23, n_test: 0, d: 5, classes: 3, separation: 1.0 };
        let (data, _) = gm.generate::<f64, _>(&mut rng).unwrap();
        let loss = Loss::mix(w).unwrap();
        let mut op =
            HessianOperator::new(Evaluator::new(&net, loss, &data).unwrap(), params.clone(), HessianKind::Full);
        assert!(op.has_closed_form());
        let closed = op.dense();
        let by_products = dense_hessian(&mut op);
        let diff = faer::Mat::from_fn(closed.nrows(), closed.ncols(), |i, j| closed[(i, j)] - by_products[(i, j)]);
        let rel = max_abs(&diff) / max_abs(&by_products);
        assert!(rel < 1e-12, "ε = {eps}, w = {w}: closed form differs by {rel:e}");

        let data32 = data.cast::<f32>();
        let p32: Vec<f32> = params.iter().map(|&v| v as f32).collect();
        let mut op32 = HessianOperator::new(Evaluator::new(&net, loss, &data32).unwrap(), p32, HessianKind::Full);
        let c32 = op32.dense();
        let diff = faer::Mat::from_fn(closed.nrows(), closed.ncols(), |i, j| c32[(i, j)] as f64 - closed[(i, j)]);
        assert!(max_abs(&diff) / max_abs(&closed) < 1e-5, "f32 closed form off");
    }
}

/// Checks Lanczos top-k / bottom-k against the dense eigendecomposition: values to 1e−8
/// relative (to the spectral radius) and explicit residuals ≤ 1e−8.
fn check_lanczos_vs_dense<T: Real>(op: &mut HessianOperator<'_, T>, k_top: usize, k_bottom: usize, what: &str) {
    let dense = dense_eigen(op.dense().as_ref(), false).unwrap().values;
    let p = dense.len();
    let res = lanczos(op, &LanczosOptions { k_top, k_bottom, tol: 1e-10, seed: 7, ..Default::default() }).unwrap();
    let scale = dense[0].abs().max(dense[p - 1].abs());
    assert!(res.converged_all, "{what}: Lanczos did not converge");
    for (k, pair) in res.top.iter().enumerate() {
        let err = (pair.value - dense[p - 1 - k]).abs() / scale;
        assert!(err < 1e-8, "{what}: top {k}: {} vs {} ({err:e})", pair.value, dense[p - 1 - k]);
        assert!(pair.residual <= 1e-8, "{what}: top {k} residual {:e}", pair.residual);
    }
    for (k, pair) in res.bottom.iter().enumerate() {
        let err = (pair.value - dense[k]).abs() / scale;
        assert!(err < 1e-8, "{what}: bottom {k}: {} vs {} ({err:e})", pair.value, dense[k]);
        assert!(pair.residual <= 1e-8, "{what}: bottom {k} residual {:e}", pair.residual);
    }
}

#[test]
fn lanczos_matches_dense_on_golden_networks() {
    for c in CASES {
        let g = load(c);
        let net = g.net();
        let data = g.dataset::<f64>();
        let mut op =
            HessianOperator::new(Evaluator::new(&net, g.loss_kind(), &data).unwrap(), g.params(), HessianKind::Full);
        // Lanczos sees a repeated eigenvalue once; request no more pairs than distinct ones.
        check_lanczos_vs_dense(&mut op, 5, 2, c);
    }
}

#[test]
fn lanczos_matches_dense_on_the_default_problem() {
    for loss in [Loss::CE, Loss::MSE] {
        let (net, data, params) = default_problem::<f64>(Activation::RELU);
        let mut op = HessianOperator::new(Evaluator::new(&net, loss, &data).unwrap(), params, HessianKind::Full);
        check_lanczos_vs_dense(&mut op, 5, 2, &format!("GM-200 {}", loss.name()));
    }
}

/// Lanczos top-1 to 1e−8 (relative to ‖H‖) on the default problem within 60 products.
#[test]
fn lanczos_top1_needs_few_products() {
    let (net, data, params) = default_problem::<f64>(Activation::RELU);
    let op = HessianOperator::new(Evaluator::new(&net, Loss::CE, &data).unwrap(), params, HessianKind::Full);
    let mut op = CountingOperator::new(op);
    let res = lanczos(&mut op, &LanczosOptions { k_top: 1, tol: 1e-8, seed: 3, ..Default::default() }).unwrap();
    assert!(res.converged_all);
    assert!(op.products() <= 60, "{} products", op.products());
}

/// Power iteration with the reference's semantics (Gaussian start, fixed iterations, Rayleigh
/// quotient from one more product) finds the eigenvalue of largest magnitude when there is a
/// gap, and says so honestly when a few iterations are not enough.
#[test]
fn power_iteration_reference_semantics() {
    let (net, data, params) = default_problem::<f64>(Activation::RELU);
    let mut op = HessianOperator::new(Evaluator::new(&net, Loss::MSE, &data).unwrap(), params, HessianKind::Full);
    let dense = dense_eigen(op.dense().as_ref(), false).unwrap().values;
    let largest = if dense[0].abs() > dense[dense.len() - 1].abs() { dense[0] } else { dense[dense.len() - 1] };
    let res = power_iteration_reference::<f64, _>(&mut op, 300, 11, 1e-6).unwrap();
    assert_eq!(res.products, 301);
    assert!(res.converged, "residual {}", res.residual);
    assert!((res.value - largest).abs() < 1e-8 * largest.abs(), "{} vs {largest}", res.value);
    let short = power_iteration_reference::<f64, _>(&mut op, 2, 11, 1e-6).unwrap();
    assert!(!short.converged, "2 iterations cannot reach 1e-6 here (residual {})", short.residual);
}

/// Tracks λ_max along a training run of the default problem (MSE, η = 0.05, 2000 steps).
fn track(every: usize, warm: bool, tol: f64) -> SharpnessProbeResult {
    let (net, data, mut params) = default_problem::<f64>(Activation::RELU);
    let mut eval = Evaluator::new(&net, Loss::MSE, &data).unwrap();
    let mut probe = SharpnessProbe::new(Evaluator::new(&net, Loss::MSE, &data).unwrap(), every, warm, tol, 5);
    let out = train(
        &mut eval,
        &mut params,
        OptimizerKind::Gd,
        &LrSchedule::Constant(0.05),
        2000,
        &mut [&mut probe as &mut dyn Probe<f64>],
        &mut |_| {},
    )
    .expect("training runs");
    assert!(!out.diverged());
    assert!(probe.values.iter().all(|v| v.converged));
    SharpnessProbeResult {
        steps: probe.values.iter().map(|v| v.step).collect(),
        values: probe.values.iter().map(|v| v.lambda_max).collect(),
        products: probe.products,
    }
}

struct SharpnessProbeResult {
    steps: Vec<usize>,
    values: Vec<f64>,
    products: usize,
}

/// Warm-started tracking of λ_max every 5 steps (residual tolerance 1e−4·‖H‖, enough for λ to
/// ~1e−7 since the Ritz-value error is ≤ residual²/gap) agrees with converged cold-start values
/// (tolerance 1e−10) to 1e−6 relative, and spends at least 3× fewer Hessian-vector products
/// than cold starts at the same tolerance and schedule.
///
/// Measured when written: 1388 vs 5482 products (3.95×) for this MSE run; the same protocol
/// on CE gives only 2.6×, because CE's top eigenvalues cluster as the Hessian compresses and a
/// single-vector warm start then converges slowly (a block warm start would help).
#[test]
fn warm_started_sharpness_tracking_is_cheaper_and_equal() {
    let warm = track(5, true, 1e-4);
    let cold_same_tol = track(5, false, 1e-4);
    let reference = track(50, false, 1e-10);
    assert_eq!(warm.values.len(), 401);
    for (step, exact) in reference.steps.iter().zip(&reference.values) {
        let k = warm.steps.iter().position(|s| s == step).unwrap();
        let rel = (warm.values[k] - exact).abs() / exact.abs();
        assert!(rel < 1e-6, "step {step}: warm {} vs converged cold {exact} ({rel:e})", warm.values[k]);
    }
    let ratio = cold_same_tol.products as f64 / warm.products as f64;
    assert!(
        ratio >= 3.0,
        "warm start saves only {ratio:.2}× ({} vs {} products)",
        cold_same_tol.products,
        warm.products
    );
    // λ_max moves during training (the comparison above is not of a constant).
    let (first, last) = (reference.values[0], *reference.values.last().unwrap());
    assert!((first - last).abs() > 1e-3 * first.abs());
}
