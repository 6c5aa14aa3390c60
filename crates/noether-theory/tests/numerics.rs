//! Numerical building blocks: Jacobi eigensolver, least squares, fits, statistics, the
//! compression bound (with the paper's false identity), SplitMix64, conservation helpers.

use noether_theory::TheoryError;
use noether_theory::compression::{
    confidence_lambda_max_bound, corrected_lambda_max_bound, e18_softmax_eig_bound, paper_claimed_lambda_max,
    softmax_hessian, softmax_hessian_lambda_max,
};
use noether_theory::conservation::{
    abs_drift_final, drift_eta2_s, drift_from_step1_sum, imbalance_sum_of_layer_mean, imbalance_sum_s, layer_balance,
    layer_balance_with_bias, max_rel_drift, mean_abs_drift_over_layers, rel_drift_final,
};
use noether_theory::fit::{
    FitMask, mean, mean_finite_only, mean_nan_propagating, nonneg_least_squares, ols_line, pearson, pearson_corrcoef,
    pearson_thresholded, power_law_fit, quadratic_fit, std_pop, std_pop_finite_only, trapezoid_unit,
};
use noether_theory::linalg::{jacobi_eigen_symmetric, least_squares};
use noether_theory::rng::SplitMix64;
use proptest::prelude::*;

fn close(label: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{label}: got {got}, want {want} (tol {tol})");
}

#[test]
fn jacobi_tridiagonal_toeplitz_spectrum() {
    // tridiag(−1, 2, −1), n = 40: λ_k = 2 − 2cos(kπ/(n+1)).
    let n = 40;
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        a[i * n + i] = 2.0;
        if i + 1 < n {
            a[i * n + i + 1] = -1.0;
            a[(i + 1) * n + i] = -1.0;
        }
    }
    let e = jacobi_eigen_symmetric(&a, n).unwrap();
    let mut want: Vec<f64> =
        (1..=n).map(|k| 2.0 - 2.0 * (k as f64 * std::f64::consts::PI / (n + 1) as f64).cos()).collect();
    want.sort_by(|x, y| y.total_cmp(x));
    for (g, w) in e.values.iter().zip(&want) {
        close("toeplitz eigenvalue", *g, *w, 1e-12);
    }
    // Residual ‖A v − λ v‖ and orthonormality.
    for k in 0..n {
        let v = e.vector(k);
        for i in 0..n {
            let av: f64 = (0..n).map(|j| a[i * n + j] * v[j]).sum();
            close("residual", av, e.values[k] * v[i], 1e-12);
        }
        for l in 0..n {
            let dot: f64 = v.iter().zip(e.vector(l)).map(|(x, y)| x * y).sum();
            close("orthonormal", dot, if k == l { 1.0 } else { 0.0 }, 1e-12);
        }
    }
}

#[test]
fn jacobi_known_spectrum_from_householder_similarity() {
    // A = Q diag(λ) Qᵀ with Q = I − 2uuᵀ/uᵀu (d = 64, the largest size E20 needs), with a
    // repeated eigenvalue and a negative one.
    let n = 64;
    let lam: Vec<f64> = (0..n)
        .map(|i| {
            if i == 5 {
                7.0
            } else if i == 9 {
                -3.5
            } else {
                (i as f64 * 0.731).sin() * 10.0 + (i % 7) as f64
            }
        })
        .collect();
    let mut lam = lam;
    lam[6] = 7.0;
    let u: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0 + 0.1).collect();
    let uu: f64 = u.iter().map(|x| x * x).sum();
    let q = |i: usize, j: usize| (if i == j { 1.0 } else { 0.0 }) - 2.0 * u[i] * u[j] / uu;
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] = (0..n).map(|k| q(i, k) * lam[k] * q(j, k)).sum();
        }
    }
    // Exact symmetry.
    for i in 0..n {
        for j in 0..i {
            let m = 0.5 * (a[i * n + j] + a[j * n + i]);
            a[i * n + j] = m;
            a[j * n + i] = m;
        }
    }
    let e = jacobi_eigen_symmetric(&a, n).unwrap();
    let mut want = lam.clone();
    want.sort_by(|x, y| y.total_cmp(x));
    for (g, w) in e.values.iter().zip(&want) {
        close("similarity eigenvalue", *g, *w, 1e-12);
    }
    assert!(e.sweeps < 20);
    // Bad input.
    assert!(jacobi_eigen_symmetric(&[1.0, 2.0, 3.0, 1.0], 2).is_err());
    assert!(matches!(jacobi_eigen_symmetric(&[1.0; 3], 2), Err(TheoryError::LengthMismatch { .. })));
    let e2 = jacobi_eigen_symmetric(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
    close("2x2 max", e2.values[0], 3.0, 1e-15);
    close("2x2 min", e2.values[1], 1.0, 1e-15);
}

#[test]
fn least_squares_and_quadratic_fit_exact() {
    let x: Vec<f64> = (0..9).map(|i| -9.2 + i as f64 * 1.1).collect();
    let y: Vec<f64> = x.iter().map(|v| 0.29 * v * v - 1.7 * v + 3.25).collect();
    let q = quadratic_fit(&x, &y).unwrap();
    close("c2", q.c2, 0.29, 1e-12);
    close("c1", q.c1, -1.7, 1e-11);
    close("c0", q.c0, 3.25, 1e-10);
    close("R2", q.r2, 1.0, 1e-14);
    assert!(matches!(quadratic_fit(&[1.0, 1.0, 1.0, 2.0], &[1.0, 2.0, 3.0, 4.0]), Err(TheoryError::Degenerate(_))));
    assert!(matches!(least_squares(&[&[1.0, 2.0], &[2.0, 4.0]], &[1.0, 2.0]), Err(TheoryError::Degenerate(_))));
    let b = least_squares(&[&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0]], &[1.0, 3.0, 5.0]).unwrap();
    close("ls intercept", b[0], 1.0, 1e-14);
    close("ls slope", b[1], 2.0, 1e-14);
}

#[test]
fn nnls_enumeration_matches_hand_solution() {
    // y = 1 + 2 f1 − 1 f2 exactly; with f2 ≥ 0 constrained, the optimum clamps f2 and refits.
    let f1 = [0.0, 1.0, 2.0, 3.0, 4.0];
    let f2 = [1.0, 0.0, 1.0, 0.0, 1.0];
    let ones = [1.0; 5];
    let y: Vec<f64> = (0..5).map(|i| 1.0 + 2.0 * f1[i] - f2[i]).collect();
    let free = nonneg_least_squares(&[&ones, &f1, &f2], &[false, false, false], &y).unwrap();
    close("free f2", free.coef[2], -1.0, 1e-13);
    let c = nonneg_least_squares(&[&ones, &f1, &f2], &[false, true, true], &y).unwrap();
    assert_eq!(c.coef[2], 0.0);
    assert!(c.clamped[2] && !c.clamped[1]);
    let line = ols_line(&f1, &y).unwrap();
    close("clamped = OLS on the rest (slope)", c.coef[1], line.slope, 1e-13);
    close("clamped = OLS on the rest (intercept)", c.coef[0], line.intercept, 1e-13);
}

#[test]
fn fit_errors_and_masks() {
    // Mask rule: NaN fails `> min`, +inf passes unless finiteness is required.
    let eta = [1e-3, 1e-2, 1e-1, 1.0];
    let y = [1e-3, 1e-2, f64::NAN, f64::INFINITY];
    assert_eq!(
        power_law_fit(&eta, &y, FitMask::GT_1E15_FINITE).unwrap_err(),
        TheoryError::TooFewPoints { needed: 3, got: 2 }
    );
    assert!(matches!(power_law_fit(&eta, &y, FitMask::GT_1E10), Err(TheoryError::InvalidInput(_))));
    let y2 = [1e-11, 1e-2, 1e-1, 1.0];
    assert_eq!(power_law_fit(&eta, &y2, FitMask::GT_1E10).unwrap().n_points, 3);
    assert_eq!(power_law_fit(&eta, &y2, FitMask::GT_1E15).unwrap().n_points, 4);
    assert!(matches!(power_law_fit(&eta[..3], &y2, FitMask::GT_1E10), Err(TheoryError::LengthMismatch { .. })));
    assert!(matches!(ols_line(&[1.0, 1.0], &[1.0, 2.0]), Err(TheoryError::Degenerate(_))));
    let f = ols_line(&[0.0, 1.0, 2.0], &[5.0, 5.0, 5.0]).unwrap();
    assert!(f.r2.is_nan() && f.slope == 0.0);
    // Exact power law.
    let p = power_law_fit(
        &[0.1, 0.2, 0.4, 0.8],
        &[3.0 * 0.1f64.powf(1.3), 3.0 * 0.2f64.powf(1.3), 3.0 * 0.4f64.powf(1.3), 3.0 * 0.8f64.powf(1.3)],
        FitMask::GT_1E15_FINITE,
    )
    .unwrap();
    close("alpha", p.alpha, 1.3, 1e-13);
    close("prefactor", p.intercept.exp(), 3.0, 1e-12);
}

#[test]
fn pearson_conventions_and_stats() {
    assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).unwrap(), 0.0);
    assert!(pearson_corrcoef(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).unwrap().is_nan());
    // std = 1e-13 ≤ 1e-12 → 0 for the E9 convention, but a real correlation at 1e-15.
    let x = [0.0, 2e-13, 0.0, 2e-13];
    let y = [0.0, 1.0, 0.0, 1.0];
    assert_eq!(pearson(&x, &y).unwrap(), 0.0);
    close("thresholded", pearson_thresholded(&x, &y, 1e-15).unwrap(), 1.0, 1e-12);
    close("anti", pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap(), -1.0, 1e-15);
    assert_eq!(std_pop(&[1.0, 3.0]).unwrap(), 1.0);
    assert_eq!(mean(&[1.0, 2.0]).unwrap(), 1.5);
    assert!(mean(&[]).is_err());
    // np.mean rule vs nanmean rule.
    assert!(mean_nan_propagating(&[1.0, f64::NAN, 3.0]).unwrap().is_nan());
    assert!(mean_nan_propagating(&[1.0, f64::INFINITY]).unwrap().is_nan());
    assert_eq!(mean(&[1.0, f64::INFINITY]).unwrap(), f64::INFINITY);
    assert_eq!(mean_finite_only(&[1.0, f64::NAN, 3.0, f64::INFINITY]), (2.0, 2));
    let (m, n) = mean_finite_only(&[f64::NAN]);
    assert!(m.is_nan() && n == 0);
    assert_eq!(std_pop_finite_only(&[1.0, f64::NAN, 3.0]), (1.0, 2));
    assert_eq!(trapezoid_unit(&[1.0, 2.0, 3.0]), 4.0);
}

#[test]
fn conservation_drift_definitions() {
    assert_eq!(layer_balance(&[21.0, 1.5, 0.5]), vec![-19.5, -1.0]);
    assert_eq!(layer_balance_with_bias(&[21.0, 1.5], &[0.5, 9.0]).unwrap(), vec![-20.0]);
    // E1–E3: max over t ≥ 1 of |ΔC|/|C0|, absolute if |C0| ≤ 1e-10, mean over l.
    let c1 = [-20.0, -20.0002, -20.0006, -20.0004];
    let c2 = [0.0, 1e-4, -3e-4, 2e-4];
    let d = max_rel_drift(&[&c1, &c2]).unwrap();
    close("max rel drift", d, 0.5 * (0.0006 / 20.0 + 3e-4), 1e-15);
    assert!(max_rel_drift(&[&[1.0, f64::NAN, 1.0]]).unwrap().is_nan());
    assert!(max_rel_drift(&[&[1.0]]).is_err());
    close("abs final", abs_drift_final(&c1).unwrap(), 0.0004, 1e-13);
    close("rel final", rel_drift_final(&c1).unwrap(), 0.00002, 1e-15);
    // E4: records start at step 1; Σ_l |last − first|.
    let e4 = drift_from_step1_sum(&[&[-0.223, -11.213], &[0.224, -0.246]]).unwrap();
    close("E4 sum", e4, 10.99 + 0.47, 1e-12);
    close(
        "E6 mean",
        mean_abs_drift_over_layers(&[&[-0.223, -11.213], &[0.224, -0.246]]).unwrap(),
        0.5 * (10.99 + 0.47),
        1e-12,
    );
    assert_eq!(imbalance_sum_s(&[1.0, -3.0, 0.5]), 1.5);
    close("depth-imbalance S", imbalance_sum_of_layer_mean(&[&[1.0, 2.0], &[3.0, -10.0]]).unwrap(), 2.0, 0.0);
}

/// Exact identity C(t+1) − C(t) = η²·δ(t) for a bias-free linear 2-layer net under plain GD
/// (spec E01-E12 §1.6, E13-E23 §3 item 1), checked in f64 through the crate's functions.
#[test]
fn drift_equals_eta2_s_on_a_linear_two_layer_net() {
    let (n, d, m, k) = (6usize, 3usize, 4usize, 2usize);
    let mut rng = SplitMix64::new(7);
    let mut u = || rng.next_f64() * 2.0 - 1.0;
    let x: Vec<f64> = (0..n * d).map(|_| u()).collect();
    let y: Vec<f64> = (0..n * k).map(|_| u()).collect();
    let mut w1: Vec<f64> = (0..m * d).map(|_| u()).collect();
    let mut w2: Vec<f64> = (0..k * m).map(|_| u() * 0.5).collect();
    let eta = 0.05;
    let sq = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>();
    let mut traj = vec![layer_balance(&[sq(&w1), sq(&w2)])[0]];
    let mut deltas = vec![];
    for _ in 0..300 {
        let mut g1 = vec![0.0; m * d];
        let mut g2 = vec![0.0; k * m];
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            let h: Vec<f64> = (0..m).map(|j| (0..d).map(|l| w1[j * d + l] * xi[l]).sum()).collect();
            for kk in 0..k {
                let f: f64 = (0..m).map(|j| w2[kk * m + j] * h[j]).sum();
                let r = 2.0 * (f - y[i * k + kk]) / (n * k) as f64;
                for j in 0..m {
                    g2[kk * m + j] += r * h[j];
                    for l in 0..d {
                        g1[j * d + l] += r * w2[kk * m + j] * xi[l];
                    }
                }
            }
        }
        deltas.push(layer_balance(&[sq(&g1), sq(&g2)])[0]);
        w1.iter_mut().zip(&g1).for_each(|(w, g)| *w -= eta * g);
        w2.iter_mut().zip(&g2).for_each(|(w, g)| *w -= eta * g);
        traj.push(layer_balance(&[sq(&w1), sq(&w2)])[0]);
    }
    let drift = abs_drift_final(&traj).unwrap();
    let pred = drift_eta2_s(eta, &deltas);
    assert!(pred > 1e-6);
    assert!((drift - pred).abs() <= 1e-9 * pred, "drift {drift} vs eta^2 S {pred}");
}

#[test]
fn softmax_lambda_max_counterexamples_to_the_paper() {
    // Uniform p over K: λ_max = 1/K, but the paper's identity gives (1/K)(1 − 1/K).
    for k in [2usize, 5, 10] {
        let p = vec![1.0 / k as f64; k];
        let lam = softmax_hessian_lambda_max(&p).unwrap();
        let claimed = paper_claimed_lambda_max(&p).unwrap();
        close("uniform lambda_max", lam, 1.0 / k as f64, 1e-15);
        assert!(lam > claimed + 1e-3, "paper identity would hold for K = {k}");
        assert!(lam <= corrected_lambda_max_bound(&p).unwrap());
    }
    // p = (0.6, 0.4, 0, 0, 0): λ_max = 0.48 vs q(1−q) = 0.24.
    let p = [0.6, 0.4, 0.0, 0.0, 0.0];
    let lam = softmax_hessian_lambda_max(&p).unwrap();
    close("(0.6,0.4) lambda_max", lam, 0.48, 1e-15);
    close("paper value", paper_claimed_lambda_max(&p).unwrap(), 0.24, 1e-15);
    assert!(lam > paper_claimed_lambda_max(&p).unwrap());
    close("corrected bound is tight here", corrected_lambda_max_bound(&p).unwrap(), 0.48, 1e-15);
    // Degenerate cases and bad input.
    assert_eq!(softmax_hessian_lambda_max(&[1.0, 0.0, 0.0]).unwrap(), 0.0);
    assert!(softmax_hessian_lambda_max(&[0.5, 0.6]).is_err());
    assert!(softmax_hessian_lambda_max(&[1.5, -0.5]).is_err());
    assert!(confidence_lambda_max_bound(&p, 7).is_err());
    close("E18 mean bound", e18_softmax_eig_bound(&[0.5, 1.0]).unwrap(), 0.125, 1e-16);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// λ_max(diag p − ppᵀ) from the secular equation equals the Jacobi value and obeys the
    /// corrected bound λ_max ≤ 2·max p_k(1−p_k) ≤ 2(1 − p_y) for every class y; it is never
    /// below the paper's value (the diagonal).
    #[test]
    fn corrected_compression_bound_holds(w in prop::collection::vec(0.0f64..1.0, 2..12), sharp in 0.1f64..8.0, y in 0usize..12) {
        let e: Vec<f64> = w.iter().map(|v| (sharp * v * 3.0).exp()).collect();
        let z: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / z).collect();
        let lam = softmax_hessian_lambda_max(&p).unwrap();
        let h = softmax_hessian(&p).unwrap();
        let jac = jacobi_eigen_symmetric(&h, p.len()).unwrap().values[0];
        prop_assert!((lam - jac).abs() <= 1e-12, "secular {} vs jacobi {}", lam, jac);
        let bound = corrected_lambda_max_bound(&p).unwrap();
        prop_assert!(lam <= bound + 1e-15);
        prop_assert!(lam >= paper_claimed_lambda_max(&p).unwrap() - 1e-15);
        let cls = y % p.len();
        prop_assert!(bound <= confidence_lambda_max_bound(&p, cls).unwrap() + 1e-15);
    }

    /// OLS recovers an exact line.
    #[test]
    fn ols_recovers_lines(a in -5.0f64..5.0, b in -5.0f64..5.0, n in 3usize..30) {
        let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.37 - 2.0).collect();
        let y: Vec<f64> = x.iter().map(|v| a * v + b).collect();
        let f = ols_line(&x, &y).unwrap();
        prop_assert!((f.slope - a).abs() < 1e-10 && (f.intercept - b).abs() < 1e-10);
    }
}

#[test]
fn splitmix64_reference_vectors() {
    let mut r = SplitMix64::new(0);
    assert_eq!(r.next_u64(), 0xe220a8397b1dcdaf);
    assert_eq!(r.next_u64(), 0x6e789e6aa1b965f4);
    let mut r = SplitMix64::new(1234567);
    assert_eq!(
        [r.next_u64(), r.next_u64(), r.next_u64()],
        [6457827717110365317, 3203168211198807973, 9817491932198370423]
    );
    let mut r = SplitMix64::new(9);
    let mut counts = [0usize; 5];
    for _ in 0..50_000 {
        counts[r.below(5) as usize] += 1;
    }
    assert!(counts.iter().all(|c| (*c as f64 - 10_000.0).abs() < 500.0), "{counts:?}");
    assert!((0..1000).all(|_| (0.0..1.0).contains(&r.next_f64())));
}
