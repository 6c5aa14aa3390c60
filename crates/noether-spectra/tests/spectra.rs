//! Every solver against matrices whose spectrum is known by construction.

use faer::{Mat, MatRef};
use noether_spectra::{
    CountingOperator, DenseSymmetric, LanczosOptions, MemoryBudget, PowerOptions, ShiftedOperator, SlqOptions,
    SpectraError, SymmetricOperator, check_dense, dense_bytes, dense_eigen, dense_eigen_owned, hutchinson_trace,
    lanczos, lanczos_tridiagonal, power_iteration, power_iteration_reference, slq_density,
};
use proptest::prelude::*;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

fn gaussian_mat(rng: &mut ChaCha8Rng, n: usize, m: usize) -> Mat<f64> {
    Mat::from_fn(n, m, |_, _| {
        let z: f64 = StandardNormal.sample(rng);
        z
    })
}

/// A Haar-ish random orthogonal matrix: the Q factor of a Gaussian matrix.
fn random_orthogonal(n: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    gaussian_mat(&mut rng, n, n).qr().compute_Q()
}

/// `Q diag(λ) Qᵀ` (exactly symmetrised) and its eigenvector matrix Q.
fn with_spectrum(lambda: &[f64], seed: u64) -> (Mat<f64>, Mat<f64>) {
    let n = lambda.len();
    let q = random_orthogonal(n, seed);
    let ql = Mat::from_fn(n, n, |i, j| q[(i, j)] * lambda[j]);
    let a = &ql * q.transpose();
    let a = Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]));
    (a, q)
}

fn sorted_desc(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

/// Hessian-like spectrum: a few outliers on both sides of a bulk.
fn outlier_spectrum(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut l = vec![50.0, 40.0, 31.0, 25.0, 20.0, 15.0, -8.0, -6.0];
    while l.len() < n {
        l.push(rng.random_range(-1.0..5.0));
    }
    l
}

fn explicit_residual(a: MatRef<'_, f64>, v: &[f64], lambda: f64) -> f64 {
    let n = v.len();
    (0..n)
        .map(|i| {
            let av: f64 = (0..n).map(|j| a[(i, j)] * v[j]).sum();
            (av - lambda * v[i]).powi(2)
        })
        .sum::<f64>()
        .sqrt()
}

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1e-300)
}

fn check_lanczos_against_known(lambda: &[f64], seed: u64, k_top: usize, k_bottom: usize) {
    let (a, _) = with_spectrum(lambda, seed);
    let mut op = CountingOperator::new(DenseSymmetric::new(a.clone()).unwrap());
    // A Lanczos seed different from the matrix seed: with the same ChaCha stream the start vector
    // would be exactly the first column of the Gaussian matrix, i.e. an eigenvector.
    let opts = LanczosOptions { k_top, k_bottom, seed: seed + 1000, ..Default::default() };
    let res = lanczos(&mut op, &opts).unwrap();
    assert_eq!(res.products, op.products(), "reported products must match the counted ones");
    assert!(res.converged_all, "not converged: {:?}", res.top.iter().map(|p| p.residual).collect::<Vec<_>>());
    let desc = sorted_desc(lambda);
    let dense = dense_eigen(a.as_ref(), false).unwrap().values;
    let n = lambda.len();
    assert_eq!(res.top.len(), k_top);
    assert_eq!(res.bottom.len(), k_bottom);
    for (i, p) in res.top.iter().enumerate() {
        assert!(rel_close(p.value, desc[i], 1e-8), "top {i}: {} vs {}", p.value, desc[i]);
        assert!(rel_close(p.value, dense[n - 1 - i], 1e-8), "top {i} vs dense");
    }
    for (i, p) in res.bottom.iter().enumerate() {
        assert!(rel_close(p.value, desc[n - 1 - i], 1e-8), "bottom {i}: {} vs {}", p.value, desc[n - 1 - i]);
        assert!(rel_close(p.value, dense[i], 1e-8), "bottom {i} vs dense");
    }
    for p in res.top.iter().chain(&res.bottom) {
        assert!(p.converged);
        assert!(p.residual <= 1e-8, "residual {}", p.residual);
        let r = explicit_residual(a.as_ref(), &p.vector, p.value);
        assert!((r - p.residual).abs() <= 1e-12 * res.scale, "reported {} vs recomputed {r}", p.residual);
        let norm: f64 = p.vector.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-12);
    }
    assert!(res.top.windows(2).all(|w| w[0].value >= w[1].value), "top must be descending");
    assert!(res.bottom.windows(2).all(|w| w[0].value <= w[1].value), "bottom must be ascending");
}

#[test]
fn lanczos_top5_bottom2_outlier_spectrum() {
    check_lanczos_against_known(&outlier_spectrum(300, 1), 1, 5, 2);
}

#[test]
fn lanczos_indefinite_spectrum() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let lambda: Vec<f64> = (0..150).map(|_| rng.random_range(-10.0..10.0)).collect();
    check_lanczos_against_known(&lambda, 2, 5, 2);
}

#[test]
fn lanczos_clustered_spectrum() {
    let mut lambda = vec![10.0, 10.0 + 1e-4, 10.0 + 2e-4, 9.9, -3.0, -3.0 + 1e-3];
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    lambda.extend((0..114).map(|_| rng.random_range(0.0..1.0)));
    check_lanczos_against_known(&lambda, 3, 5, 2);
}

#[test]
fn lanczos_dim_one() {
    let mut op = DenseSymmetric::new(faer::mat![[4.5]]).unwrap();
    let res = lanczos(&mut op, &LanczosOptions { k_top: 1, k_bottom: 1, ..Default::default() }).unwrap();
    assert_eq!(res.top[0].value, 4.5);
    assert_eq!(res.bottom[0].value, 4.5);
    assert_eq!(res.top[0].residual, 0.0);
    assert!(res.converged_all);
    assert_eq!(res.iterations, 1);
}

#[test]
fn lanczos_rejects_k_larger_than_dim() {
    let mut op = DenseSymmetric::new(Mat::<f64>::identity(3, 3)).unwrap();
    let err = lanczos(&mut op, &LanczosOptions { k_top: 4, ..Default::default() }).unwrap_err();
    assert_eq!(err, SpectraError::TooManyEigenpairs { requested: 4, dim: 3 });
}

#[test]
fn lanczos_zero_operator_and_repeated_eigenvalues_do_not_panic() {
    let mut zero = DenseSymmetric::new(Mat::<f64>::zeros(5, 5)).unwrap();
    let res = lanczos(&mut zero, &LanczosOptions { k_top: 2, k_bottom: 1, ..Default::default() }).unwrap();
    assert!(res.top.iter().chain(&res.bottom).all(|p| p.value == 0.0 && p.residual == 0.0));
    assert_eq!(res.top.len(), 2);

    // diag(3,3,3,1): the Krylov space of one vector is 2-dimensional, so asking for 3 pairs forces
    // a restart after the invariant subspace. Every returned pair must be an exact eigenpair
    // (multiplicities are not guaranteed to be resolved, see `lanczos` docs).
    let mut op =
        DenseSymmetric::new(Mat::from_fn(4, 4, |i, j| if i == j { [3.0, 3.0, 3.0, 1.0][i] } else { 0.0 })).unwrap();
    let res = lanczos(&mut op, &LanczosOptions { k_top: 3, ..Default::default() }).unwrap();
    assert_eq!(res.top.len(), 3);
    assert!(res.iterations >= 3);
    for p in &res.top {
        assert!(p.residual < 1e-12);
        assert!((p.value - 3.0).abs() < 1e-12 || (p.value - 1.0).abs() < 1e-12);
    }
    assert!((res.top[0].value - 3.0).abs() < 1e-12);
}

#[test]
fn lanczos_exact_eigenvector_start_is_an_invariant_subspace() {
    let lambda = outlier_spectrum(80, 4);
    let (a, q) = with_spectrum(&lambda, 4);
    let mut op = DenseSymmetric::new(a).unwrap();
    let start = q.col_as_slice(0).to_vec();
    let res = lanczos(&mut op, &LanczosOptions { start: Some(start), ..Default::default() }).unwrap();
    assert_eq!(res.iterations, 1);
    assert_eq!(res.products, 2, "one Lanczos step plus one explicit residual");
    assert!(rel_close(res.top[0].value, 50.0, 1e-12));
}

#[test]
fn lanczos_reports_non_finite_products_and_bad_starts() {
    struct Nan;
    impl SymmetricOperator<f64> for Nan {
        fn dim(&self) -> usize {
            4
        }
        fn apply(&mut self, _: &[f64], y: &mut [f64]) {
            y.fill(f64::NAN);
        }
    }
    let err = lanczos(&mut Nan, &LanczosOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "operator produced a non-finite value at product 1");
    let err = lanczos(&mut Nan, &LanczosOptions { start: Some(vec![0.0; 4]), ..Default::default() }).unwrap_err();
    assert_eq!(err, SpectraError::ZeroStartVector);
    let err = lanczos(&mut Nan, &LanczosOptions { start: Some(vec![1.0; 3]), ..Default::default() }).unwrap_err();
    assert_eq!(err, SpectraError::DimensionMismatch { expected: 4, got: 3 });
    assert!(matches!(power_iteration_reference(&mut Nan, 5, 0, 1e-6), Err(SpectraError::NonFinite { product: 1 })));
}

#[test]
fn lanczos_warm_start_is_much_cheaper() {
    // A bulk-dominated spectrum with a modest top gap, so the cold start has real work to do.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut lambda = vec![12.0, 11.0, 10.5];
    lambda.extend((0..397).map(|_| rng.random_range(-2.0..10.0)));
    let (a, q) = with_spectrum(&lambda, 5);
    let mut op = DenseSymmetric::new(a).unwrap();
    // Tracking tolerance: the Ritz value error is ≈ residual²/gap, so 1e-6 still pins λ to ~1e-12.
    let tol = 1e-6;
    let cold = lanczos(&mut op, &LanczosOptions { tol, ..Default::default() }).unwrap();
    let mut start = q.col_as_slice(0).to_vec();
    for x in start.iter_mut() {
        let z: f64 = StandardNormal.sample(&mut rng);
        *x += 1e-4 * z / (lambda.len() as f64).sqrt();
    }
    let warm = lanczos(&mut op, &LanczosOptions { tol, start: Some(start), ..Default::default() }).unwrap();
    eprintln!("warm start: cold {} products, warm {} products", cold.products, warm.products);
    assert!(cold.converged_all && warm.converged_all);
    assert!(cold.products >= 3 * warm.products, "cold {} products vs warm {} products", cold.products, warm.products);
    assert!(rel_close(warm.top[0].value, cold.top[0].value, 1e-10));
    assert!(rel_close(warm.top[0].value, 12.0, 1e-10));
}

#[test]
fn lanczos_tridiagonal_reproduces_projection() {
    let (a, _) = with_spectrum(&outlier_spectrum(60, 6), 6);
    let mut op = DenseSymmetric::new(a.clone()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(106);
    let start: Vec<f64> = (0..60).map(|_| StandardNormal.sample(&mut rng)).collect();
    let tri = lanczos_tridiagonal(&mut op, 20, &start, true).unwrap();
    let v = tri.basis.unwrap();
    let t = v.transpose() * &a * &v;
    for i in 0..20 {
        assert!((t[(i, i)] - tri.alpha[i]).abs() < 1e-10);
        if i + 1 < 20 {
            assert!((t[(i + 1, i)] - tri.beta[i]).abs() < 1e-10);
        }
    }
    let vtv = v.transpose() * &v;
    for i in 0..20 {
        for j in 0..20 {
            assert!((vtv[(i, j)] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-13, "basis not orthonormal");
        }
    }
}

#[test]
fn lanczos_on_f32_operator() {
    let (a, _) = with_spectrum(&outlier_spectrum(100, 7), 7);
    let a32 = Mat::<f32>::from_fn(100, 100, |i, j| a[(i, j)] as f32);
    let mut op = DenseSymmetric::new(a32.clone()).unwrap();
    let res = lanczos(&mut op, &LanczosOptions { k_top: 2, k_bottom: 1, tol: 1e-5, ..Default::default() }).unwrap();
    assert!(res.converged_all);
    assert!(rel_close(res.top[0].value, 50.0, 1e-5));
    assert!(rel_close(res.bottom[0].value, -8.0, 1e-5));
    let dense = dense_eigen(a32.as_ref(), false).unwrap().values;
    assert!(rel_close(dense[99], 50.0, 1e-5));
}

#[test]
fn power_reference_matches_dense_with_a_gap() {
    let mut lambda = vec![10.0, 5.0];
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    lambda.extend((0..98).map(|_| rng.random_range(-3.0..3.0)));
    let (a, _) = with_spectrum(&lambda, 8);
    let dense = dense_eigen(a.as_ref(), false).unwrap().values;
    let mut op = CountingOperator::new(DenseSymmetric::new(a).unwrap());
    let res = power_iteration_reference(&mut op, 100, 0, 1e-6).unwrap();
    assert_eq!(res.products, 101);
    assert_eq!(op.products(), 101);
    assert!(res.converged, "residual {}", res.residual);
    assert!(rel_close(res.value, dense[99], 1e-8), "{} vs {}", res.value, dense[99]);

    let tol = power_iteration(&mut op, &PowerOptions { tol: 1e-8, ..Default::default() }).unwrap();
    assert!(tol.converged);
    assert_eq!(tol.products, tol.iterations);
    assert!(tol.residual <= 1e-8 * tol.value.abs());
    assert!(rel_close(tol.value, 10.0, 1e-12));
    // Warm start from the converged vector: converges immediately.
    let warm =
        power_iteration(&mut op, &PowerOptions { tol: 1e-8, start: Some(&tol.vector), ..Default::default() }).unwrap();
    assert_eq!(warm.products, 1);
}

#[test]
fn power_flags_no_gap_plus_minus_one() {
    let mut lambda = vec![1.0, -1.0];
    lambda.extend((0..48).map(|i| 0.5 * (i as f64 / 48.0) - 0.25));
    let (a, _) = with_spectrum(&lambda, 9);
    let mut op = DenseSymmetric::new(a).unwrap();
    let res = power_iteration_reference(&mut op, 200, 0, 1e-6).unwrap();
    assert!(!res.converged, "±1 has no gap, yet value {} residual {}", res.value, res.residual);
    assert!(res.residual > 1e-3);
    let res = power_iteration(&mut op, &PowerOptions { max_iter: 300, ..Default::default() }).unwrap();
    assert!(!res.converged);
    assert_eq!(res.products, 300);
}

#[test]
fn power_returns_negative_dominant_eigenvalue() {
    let mut lambda = vec![-10.0, 5.0];
    lambda.extend((0..58).map(|i| (i as f64 / 58.0) * 4.0 - 2.0));
    let (a, _) = with_spectrum(&lambda, 10);
    let mut op = DenseSymmetric::new(a).unwrap();
    let res = power_iteration_reference(&mut op, 100, 3, 1e-6).unwrap();
    assert!(res.converged);
    assert!(rel_close(res.value, -10.0, 1e-10), "{}", res.value);
    // Bottom of the spectrum of a positive-dominant matrix through a shift.
    let (b, _) = with_spectrum(&[10.0, 4.0, 2.0, 1.0, 0.5], 11);
    let mut shifted = ShiftedOperator::new(DenseSymmetric::new(b).unwrap(), 10.0);
    let res = power_iteration(&mut shifted, &PowerOptions { tol: 1e-10, ..Default::default() }).unwrap();
    assert!(rel_close(10.0 + res.value, 0.5, 1e-8), "{}", 10.0 + res.value);
}

#[test]
fn power_on_zero_operator_returns_zero() {
    let mut op = DenseSymmetric::new(Mat::<f64>::zeros(3, 3)).unwrap();
    let res = power_iteration_reference(&mut op, 10, 0, 1e-6).unwrap();
    assert_eq!(res.value, 0.0);
    assert_eq!(res.products, 1);
}

#[test]
fn slq_density_and_moments() {
    let n = 200;
    let lambda = outlier_spectrum(n, 12);
    let (a, _) = with_spectrum(&lambda, 12);
    let mut op = CountingOperator::new(DenseSymmetric::new(a).unwrap());
    let opts = SlqOptions { probes: 20, steps: 40, seed: 12, ..Default::default() };
    let d = slq_density(&mut op, &opts).unwrap();
    assert_eq!(d.products, op.products());
    assert_eq!(d.products, 20 * 40);
    assert!((d.integral() - 1.0).abs() < 1e-3, "integral {}", d.integral());
    for w in &d.weights {
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    for k in [1, 2] {
        let exact = lambda.iter().map(|l| l.powi(k)).sum::<f64>() / n as f64;
        let est = d.moment(k);
        let se = d.moment_std_error(k);
        assert!(se > 0.0 && se.is_finite());
        assert!((est - exact).abs() <= 4.0 * se, "moment {k}: {est} vs {exact} (se {se})");
    }
    // The extreme nodes resolve the outliers.
    let top = d.nodes.iter().map(|t| t[t.len() - 1]).fold(f64::MIN, f64::max);
    assert!((top - 50.0).abs() < 1e-8);
}

#[test]
fn slq_quadrature_is_exact_per_probe_for_low_moments() {
    // With one probe the k-th moment must equal vᵀAᵏv exactly (Gauss quadrature, k < 2m).
    let (a, _) = with_spectrum(&outlier_spectrum(50, 13), 13);
    let mut op = DenseSymmetric::new(a.clone()).unwrap();
    let d = slq_density(&mut op, &SlqOptions { probes: 1, steps: 5, seed: 13, ..Default::default() }).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let v: Vec<f64> = (0..50).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 } / 50f64.sqrt()).collect();
    let vm = MatRef::from_column_major_slice(&v, 50, 1);
    let a2 = &a * &a;
    let m1 = (vm.transpose() * &a * vm)[(0, 0)];
    let m3 = (vm.transpose() * &a2 * &a * vm)[(0, 0)];
    assert!(rel_close(d.moment(1), m1, 1e-10), "{} vs {m1}", d.moment(1));
    assert!(rel_close(d.moment(3), m3, 1e-10), "{} vs {m3}", d.moment(3));
}

#[test]
fn hutchinson_within_four_standard_errors() {
    let lambda = outlier_spectrum(150, 14);
    let (a, _) = with_spectrum(&lambda, 14);
    let mut op = CountingOperator::new(DenseSymmetric::new(a).unwrap());
    let est = hutchinson_trace(&mut op, 50, 14).unwrap();
    let exact: f64 = lambda.iter().sum();
    assert_eq!(est.products, 50);
    assert_eq!(op.products(), 50, "a block of k columns counts k");
    assert!(est.std_error > 0.0);
    assert!((est.estimate - exact).abs() <= 4.0 * est.std_error, "{} vs {exact} (se {})", est.estimate, est.std_error);
}

#[test]
fn hutchinson_exact_for_diagonal() {
    let d = [3.0, -1.5, 2.25, 7.0, 0.0, 1.0];
    let mut op = DenseSymmetric::new(Mat::from_fn(6, 6, |i, j| if i == j { d[i] } else { 0.0 })).unwrap();
    let est = hutchinson_trace(&mut op, 11, 0).unwrap();
    assert_eq!(est.estimate, d.iter().sum::<f64>());
    assert_eq!(est.std_error, 0.0);
}

#[test]
fn dense_eigen_matches_known_spectrum_with_vectors() {
    let lambda = outlier_spectrum(60, 15);
    let (a, _) = with_spectrum(&lambda, 15);
    let e = dense_eigen(a.as_ref(), true).unwrap();
    let mut asc = lambda.clone();
    asc.sort_by(f64::total_cmp);
    for (x, y) in e.values.iter().zip(&asc) {
        assert!((x - y).abs() < 1e-12 * 50.0);
    }
    let u = e.vectors.unwrap();
    for j in [0, 30, 59] {
        assert!(explicit_residual(a.as_ref(), u.col_as_slice(j), e.values[j]) < 1e-11);
    }
    assert_eq!(
        dense_eigen(Mat::<f64>::zeros(2, 3).as_ref(), false).unwrap_err(),
        SpectraError::NotSquare { rows: 2, cols: 3 }
    );
}

/// The in-place variant must give exactly the same bits as the copying one, on a matrix that is
/// symmetric only up to rounding (as assembled Hessians are), in both precisions, and the same
/// errors on bad input.
#[test]
fn dense_eigen_owned_is_bit_identical_to_dense_eigen() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let b = gaussian_mat(&mut rng, 40, 40);
    let noise = gaussian_mat(&mut rng, 40, 40);
    let a = Mat::from_fn(40, 40, |i, j| b[(i, j)] + b[(j, i)] + 1e-9 * noise[(i, j)]);
    for vectors in [false, true] {
        let copied = dense_eigen(a.as_ref(), vectors).unwrap();
        let owned = dense_eigen_owned(a.clone(), vectors).unwrap();
        assert_eq!(copied, owned, "vectors = {vectors}");
        let a32 = Mat::from_fn(40, 40, |i, j| a[(i, j)] as f32);
        assert_eq!(dense_eigen(a32.as_ref(), vectors).unwrap(), dense_eigen_owned(a32, vectors).unwrap());
    }
    let mut bad = a.clone();
    bad[(3, 5)] = f64::NAN;
    assert_eq!(dense_eigen_owned(bad, false).unwrap_err(), SpectraError::NonFiniteMatrix { row: 3, col: 5 });
    assert_eq!(
        dense_eigen_owned(Mat::<f64>::zeros(2, 3), true).unwrap_err(),
        SpectraError::NotSquare { rows: 2, cols: 3 }
    );
}

#[test]
fn memory_guard() {
    let err = check_dense(30_000, 8, false, MemoryBudget::default()).unwrap_err();
    // The error carries the data; front ends add their own hints.
    assert_eq!(
        err,
        SpectraError::DenseTooLarge {
            p: 30_000,
            elem_bytes: 8,
            with_vectors: false,
            needed_bytes: dense_bytes(30_000, 8, false),
            budget_bytes: MemoryBudget::default().bytes,
        }
    );
    let msg = err.to_string();
    assert_eq!(
        msg,
        "a dense 30000×30000 f64 Hessian needs 23.5 GiB (budget 2.0 GiB); \
         matrix-free Lanczos gives extreme eigenvalues and stochastic Lanczos quadrature the density"
    );
    assert!(check_dense(2_000, 8, true, MemoryBudget::default()).is_ok());
    assert!(check_dense(usize::MAX, 8, true, MemoryBudget::default()).is_err());
    assert!(check_dense(20_000, 4, true, MemoryBudget::from_gib(2.0)).unwrap_err().to_string().contains("f32"));
}

fn random_symmetric(n: usize, seed: u64) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = gaussian_mat(&mut rng, n, n);
    Mat::from_fn(n, n, |i, j| 0.5 * (g[(i, j)] + g[(j, i)]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn lanczos_top1_equals_dense_max(n in 2usize..30, seed in any::<u64>()) {
        let a = random_symmetric(n, seed);
        let dense = dense_eigen(a.as_ref(), false).unwrap().values;
        let mut op = DenseSymmetric::new(a).unwrap();
        let res = lanczos(&mut op, &LanczosOptions { seed: seed ^ 0x5eed, ..Default::default() }).unwrap();
        let scale = dense[0].abs().max(dense[n - 1].abs());
        prop_assert!((res.top[0].value - dense[n - 1]).abs() <= 1e-8 * scale,
            "n={} lanczos {} dense {}", n, res.top[0].value, dense[n - 1]);
        prop_assert!(res.converged_all);
    }
}
