//! Spectral-crossover predictor (both rules), the per-mode geometric identity checked by
//! simulating GD on a diagonal quadratic, c_k recipes and the E20 comparison metrics.

use noether_theory::TheoryError;
use noether_theory::crossover::{
    CrossoverPrediction, EffectiveMap, UnstableModeRule, aggregate_ck_onto_input_modes, ck_comparison_matched,
    ck_comparison_sorted, ck_from_gradient_projection, ck_from_projections, geometric_mode_sum, k_cmp,
    project_onto_column_slices, project_onto_columns, spectral_crossover_s_pred, theoretical_ck_linear,
};
use proptest::prelude::*;

fn close(label: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{label}: got {got}, want {want} (tol {tol})");
}

use UnstableModeRule::{Honest, Reference};

#[test]
fn one_and_two_stable_modes_by_hand() {
    // λ = 10, c = 2, η = 0.01, T = 2: ρ = 0.9, (1 − ρ⁴)/D = 0.3439/0.19 = 1.81 → 3.62.
    for rule in [Reference, Honest] {
        let p = spectral_crossover_s_pred(&[10.0], &[2.0], 0.01, 2, rule).unwrap();
        close("one mode", p.s_pred, 3.62, 1e-13);
        assert!(p.applies);
    }
    // Add λ = 50 (ρ = 0.5 → 1 + 0.25), a negative and a sub-1e-12 eigenvalue (skipped).
    for rule in [Reference, Honest] {
        let p = spectral_crossover_s_pred(&[10.0, 50.0, -1.0, 1e-13], &[2.0, 1.0, 7.0, 7.0], 0.01, 2, rule).unwrap();
        close("two modes", p.s_pred, 3.62 + 1.25, 1e-13);
        assert_eq!(p.n_skipped, 2);
        assert_eq!(p.n_unstable, 0);
    }
    // Negative ρ inside the stable range (ηλ = 1.5, ρ = −0.5): 1 + 0.25 under both rules.
    for rule in [Reference, Honest] {
        let p = spectral_crossover_s_pred(&[150.0], &[1.0], 0.01, 2, rule).unwrap();
        close("negative rho", p.s_pred, 1.25, 1e-13);
    }
    // T = 2000 (the reference T), one mode: c(1 − 0.9^4000)/0.19 ≈ c/0.19.
    let p = spectral_crossover_s_pred(&[10.0], &[0.19], 0.01, 2000, Reference).unwrap();
    close("T=2000", p.s_pred, 1.0, 1e-14);
}

#[test]
fn unstable_branch_reference_vs_honest() {
    // λ = 300, η = 0.01: ηλ = 3, ρ = −2, D = −3. Reference adds c·T/|D| = 2/3 for T = 2.
    let ev = [10.0, 50.0, 300.0];
    let c = [2.0, 1.0, 1.0];
    let r = spectral_crossover_s_pred(&ev, &c, 0.01, 2, Reference).unwrap();
    close("reference with unstable mode", r.s_pred, 4.87 + 2.0 / 3.0, 1e-13);
    assert_eq!(r.n_unstable, 1);
    assert!(r.applies);
    let h = spectral_crossover_s_pred(&ev, &c, 0.01, 2, Honest).unwrap();
    assert_eq!(
        h,
        CrossoverPrediction { s_pred: f64::INFINITY, n_unstable: 1, n_marginal: 0, n_skipped: 0, applies: false }
    );
    // The true geometric sum for that mode is 1 + ρ² = 5, not T/|D|.
    close("geometric sum rho=-2", geometric_mode_sum(3.0, 2), 5.0, 1e-13);
    // With T = 2000 the reference's unstable term is c·2000/3.
    let r = spectral_crossover_s_pred(&[300.0], &[1.0], 0.01, 2000, Reference).unwrap();
    close("reference unstable T=2000", r.s_pred, 2000.0 / 3.0, 1e-10);
}

#[test]
fn eta_lambda_exactly_two_adds_nothing_under_reference() {
    // η = 0.5, λ = 4: ηλ = 2 exactly, ρ = −1, D = 0.
    let r = spectral_crossover_s_pred(&[4.0], &[3.0], 0.5, 2000, Reference).unwrap();
    assert_eq!(r.s_pred, 0.0);
    assert_eq!(r.n_marginal, 1);
    // Honest rule: the marginal mode oscillates with constant amplitude, Σρ^{2t} = T.
    let h = spectral_crossover_s_pred(&[4.0], &[3.0], 0.5, 2000, Honest).unwrap();
    close("honest marginal", h.s_pred, 3.0 * 2000.0, 1e-9);
    assert!(h.applies);
}

#[test]
fn tiny_d_stable_mode() {
    // λ = 1e-11 is kept (≥ 1e-12) but D = 2e-14 < 1e-12: the reference skips it, the exact
    // sum is ≈ T.
    let r = spectral_crossover_s_pred(&[1e-11], &[1.0], 1e-3, 2000, Reference).unwrap();
    assert_eq!(r.s_pred, 0.0);
    let h = spectral_crossover_s_pred(&[1e-11], &[1.0], 1e-3, 2000, Honest).unwrap();
    close("honest tiny D", h.s_pred, 2000.0, 1e-6);
}

#[test]
fn bad_inputs_are_errors() {
    assert!(matches!(
        spectral_crossover_s_pred(&[1.0, 2.0], &[1.0], 0.1, 10, Reference),
        Err(TheoryError::LengthMismatch { .. })
    ));
    assert!(spectral_crossover_s_pred(&[1.0], &[1.0], -0.1, 10, Reference).is_err());
    assert!(spectral_crossover_s_pred(&[f64::NAN], &[1.0], 0.1, 10, Reference).is_err());
    assert!(spectral_crossover_s_pred(&[1.0], &[1.0], 0.1, 0, Reference).is_err());
}

/// GD on L(θ) = ½ Σ_k λ_k θ_k²: the k-th gradient component is λ_k θ_k(t) with
/// θ_k(t+1) = (1 − ηλ_k) θ_k(t). Summing the squared gradient over t = 0..T−1 must equal
/// g_k(0)²·Σ_t ρ_k^{2t} = g_k(0)²(1 − ρ^{2T})/(1 − ρ²) — checked mode by mode to 1e-12.
#[test]
fn gd_on_diagonal_quadratic_matches_geometric_sum() {
    let lambdas = [0.3, 1.0, 4.0, 9.5, 17.9, 19.99];
    let theta0 = [1.0, -0.7, 0.25, 2.0, -1.3, 0.05];
    for &eta in &[1e-3, 0.01, 0.05, 0.1] {
        for &t_steps in &[1usize, 7, 200, 2000] {
            let mut total_sim = 0.0;
            let mut ck = vec![];
            for (&lam, &th0) in lambdas.iter().zip(&theta0) {
                let mut th: f64 = th0;
                let mut sum = 0.0;
                for _ in 0..t_steps {
                    let g = lam * th;
                    sum += g * g;
                    th -= eta * g;
                }
                let g0 = lam * th0;
                let pred = g0 * g0 * geometric_mode_sum(eta * lam, t_steps);
                assert!(
                    (sum - pred).abs() <= 1e-12 * sum.abs().max(1e-300),
                    "eta {eta} T {t_steps} lambda {lam}: simulated {sum} vs formula {pred}"
                );
                total_sim += sum;
                ck.push(g0 * g0);
            }
            // All modes stable (ηλ ≤ 1.999): the honest predictor equals the simulated total.
            let h = spectral_crossover_s_pred(&lambdas, &ck, eta, t_steps, Honest).unwrap();
            assert!((h.s_pred - total_sim).abs() <= 1e-12 * total_sim, "honest total");
        }
    }
    // An unstable mode (ηλ = 2.1) for a short horizon: the geometric identity still holds.
    let (lam, eta, t_steps) = (21.0, 0.1, 30);
    let mut th: f64 = 1.0;
    let mut sum = 0.0;
    for _ in 0..t_steps {
        let g = lam * th;
        sum += g * g;
        th -= eta * g;
    }
    let pred = lam * lam * geometric_mode_sum(eta * lam, t_steps);
    assert!((sum - pred).abs() <= 1e-12 * sum, "unstable mode: {sum} vs {pred}");
}

#[test]
fn ck_gradient_projection() {
    // Orthonormal basis of R² (rotation by 30°), column-major.
    let (c, s) = (3f64.sqrt() / 2.0, 0.5);
    let v = [c, s, -s, c];
    let g = [1.0, 2.0];
    let ck = ck_from_gradient_projection(&v, &g, -0.5).unwrap();
    let p = [c + 2.0 * s, -s + 2.0 * c];
    let total = p[0] * p[0] + p[1] * p[1]; // = ‖g‖² = 5
    close("sum c_k = |delta0|", ck.iter().sum::<f64>(), 0.5, 1e-15);
    close("c_1", ck[0], p[0] * p[0] * 0.5 / total, 1e-15);
    // Σp² ≤ 1e-12: raw p².
    let raw = ck_from_projections(&[1e-7, 2e-7], 5.0).unwrap();
    close("raw", raw[1], 4e-14, 1e-28);
    assert!(ck_from_gradient_projection(&[1.0, 0.0, 0.0], &g, 1.0).is_err());
    // The same projections from separate column slices; a column of the wrong length is an error.
    let cols = project_onto_column_slices([&v[..2], &v[2..]], &g).unwrap();
    assert_eq!(cols, project_onto_columns(&v, &g).unwrap());
    close("p_2", cols[1], p[1], 1e-15);
    assert!(project_onto_column_slices([&v[..2], &v[2..3]], &g).is_err());
}

#[test]
fn theoretical_ck_hand_example() {
    // X rows (2,0), (−2,0), (0,1), (0,−1); classes 0,1,0,1; W_eff = I₂.
    // Σ_x = diag(2, 0.5); Y*_rot = [[0.5, 0.25], [−0.5, −0.25]];
    // e² = (0.5, 1.625); c^th = (0.5·4, 1.625·0.25) = (2, 0.40625).
    let x = [2.0, 0.0, -2.0, 0.0, 0.0, 1.0, 0.0, -1.0];
    let y = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
    let w = [1.0, 0.0, 0.0, 1.0];
    let t = theoretical_ck_linear(&x, &y, &w, 4, 2, 2).unwrap();
    close("lambda_x 1", t.lambda_x[0], 2.0, 1e-14);
    close("lambda_x 2", t.lambda_x[1], 0.5, 1e-14);
    close("e2 1", t.e2[0], 0.5, 1e-14);
    close("e2 2", t.e2[1], 1.625, 1e-14);
    close("c 1", t.ck[0], 2.0, 1e-13);
    close("c 2", t.ck[1], 0.40625, 1e-14);
    assert!(theoretical_ck_linear(&x, &y, &w, 4, 3, 2).is_err());
}

#[test]
fn sorted_metric_cannot_fail_but_matched_can() {
    // Mode-matched predictions that are exactly backwards.
    let c_emp = [1.0, 2.0, 3.0, 4.0, 5.0];
    let c_th = [5.0, 4.0, 3.0, 2.0, 1.0];
    let sorted = ck_comparison_sorted(&c_emp, &c_th, 5, false).unwrap();
    close("sorted R of reversed predictions", sorted.r, 1.0, 1e-12);
    let matched = ck_comparison_matched(&c_emp, &c_th, 5, false).unwrap();
    assert!(matched.r < -0.85, "matched R = {}", matched.r);
    // Normalisation is over all entries, truncation afterwards.
    let s = ck_comparison_sorted(&[4.0, 3.0, 2.0, 1.0], &[1.0, 1.0, 1.0, 1.0], 2, false).unwrap();
    assert_eq!(s.a_top, vec![0.4, 0.3]);
    // Constant sequence → std ≤ 1e-15 → R = 0 (reference convention).
    assert_eq!(s.r, 0.0);
    // E21 mask: entries ≤ 1e-20 dropped, ≥ 3 needed.
    let m = ck_comparison_sorted(&[3.0, 2.0, 1.0, 0.0], &[3.0, 2.0, 1.0, 0.5], 4, true).unwrap();
    assert_eq!(m.n_compared, 3);
    assert!(matches!(
        ck_comparison_sorted(&[3.0, 0.0, 0.0], &[3.0, 2.0, 1.0], 3, true),
        Err(TheoryError::TooFewPoints { needed: 3, got: 1 })
    ));
    assert_eq!(k_cmp(20, 762, 20), 20);
    assert_eq!(k_cmp(20, 5, 20), 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Chebyshev's sum inequality: two independently sorted sequences never correlate
    /// negatively, whatever the "prediction" is.
    #[test]
    fn sorted_metric_is_never_negative(a in prop::collection::vec(1e-6f64..10.0, 20..40),
                                       b in prop::collection::vec(1e-6f64..10.0, 20)) {
        let r = ck_comparison_sorted(&a, &b, 20, false).unwrap().r;
        prop_assert!(r >= -1e-12, "r = {}", r);
    }
}

#[test]
fn least_squares_corrected_ck_hand_example() {
    // Same data as `theoretical_ck_hand_example`: Σ_x = diag(2, 0.5), Σ_yx U = [[0.5, 0.25], [−0.5, −0.25]],
    // W_eff = I₂. c^LS_k = ‖λ_k·W_rot[:, k] − (Σ_yx U)[:, k]‖²:
    // k = 1: (2·1 − 0.5)² + (0 + 0.5)² = 2.5; k = 2: (0 − 0.25)² + (0.5 + 0.25)² = 0.625.
    let x = [2.0, 0.0, -2.0, 0.0, 0.0, 1.0, 0.0, -1.0];
    let y = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0];
    let w = [1.0, 0.0, 0.0, 1.0];
    let t = theoretical_ck_linear(&x, &y, &w, 4, 2, 2).unwrap();
    close("c_ls 1", t.ck_ls[0], 2.5, 1e-13);
    close("c_ls 2", t.ck_ls[1], 0.625, 1e-13);
    // It is (K/2)²‖(∂L/∂W)u_k‖² with ∂L/∂W = (2/(nK))Σ_i (W x_i − y_i) x_iᵀ (reference MSE).
    let (n, d, k) = (4usize, 2usize, 2usize);
    let mut grad = [0.0; 4];
    for i in 0..n {
        for r in 0..k {
            let f: f64 = (0..d).map(|a| w[r * d + a] * x[i * d + a]).sum();
            for a in 0..d {
                grad[r * d + a] += 2.0 / (n * k) as f64 * (f - y[i * k + r]) * x[i * d + a];
            }
        }
    }
    for j in 0..d {
        let u = &t.u[j * d..(j + 1) * d];
        let e: f64 = (0..k).map(|r| (grad[r * d] * u[0] + grad[r * d + 1] * u[1]).powi(2)).sum();
        close("c_ls = (K/2)²‖G u‖²", t.ck_ls[j], e * (k as f64 / 2.0).powi(2), 1e-13);
    }
}

#[test]
fn effective_map_hand_example() {
    // m = 2, d = 2, K = 1: W1 = [[1,2],[3,4]], W2 = [5,6], s̄ = (1, 0.5).
    // v: V1 = [[1,0],[0,0]], V2 = [0,1] → δW_eff = V2·diag(s̄)·W1 + W2·diag(s̄)·V1 = [1.5,2] + [5,0].
    let w1 = [1.0, 2.0, 3.0, 4.0];
    let w2 = [5.0, 6.0];
    let s = [1.0, 0.5];
    let v = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    let id = EffectiveMap::new(&w1, &w2, &s, &[1.0, 0.0, 0.0, 1.0], 2, 2, 1).unwrap();
    assert_eq!(id.delta_w_eff(&v).unwrap(), vec![6.5, 2.0]);
    assert_eq!(id.energies(&v).unwrap(), vec![42.25, 4.0]);
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let rot = EffectiveMap::new(&w1, &w2, &s, &[h, h, h, -h], 2, 2, 1).unwrap();
    let e = rot.energies(&v).unwrap();
    close("rotated a_1", e[0], 36.125, 1e-12);
    close("rotated a_2", e[1], 10.125, 1e-12);
    // Linear net (s̄ = 1): δW_eff is the derivative of W2·W1 along v (central difference, exact
    // for a quadratic up to rounding).
    let one = [1.0, 1.0];
    let lin = EffectiveMap::new(&w1, &w2, &one, &[1.0, 0.0, 0.0, 1.0], 2, 2, 1).unwrap();
    let v = [0.3, -0.2, 0.7, 0.1, -0.4, 0.9];
    let weff = |t: f64| -> Vec<f64> {
        let a: Vec<f64> = w1.iter().zip(&v[..4]).map(|(w, x)| w + t * x).collect();
        let b: Vec<f64> = w2.iter().zip(&v[4..]).map(|(w, x)| w + t * x).collect();
        (0..2).map(|l| b[0] * a[l] + b[1] * a[2 + l]).collect()
    };
    let (p, m) = (weff(1e-3), weff(-1e-3));
    let dw = lin.delta_w_eff(&v).unwrap();
    for l in 0..2 {
        close("δW_eff vs finite difference", dw[l], (p[l] - m[l]) / 2e-3, 1e-9);
    }
    assert!(EffectiveMap::new(&w1, &w2, &s, &[1.0], 2, 2, 1).is_err());
    assert!(id.energies(&[1.0]).is_err());
}

#[test]
fn aggregate_onto_input_modes_hand_example() {
    // Mode 0: a = (3, 1), c = 4 → soft (3, 1), hard → 0. Mode 1: no W_eff image → unassigned 5.
    // Mode 2: a = (1, 1), c = 2 → soft (1, 1), hard (tie) → the first index.
    let e = [3.0, 1.0, 0.0, 0.0, 1.0, 1.0];
    let agg = aggregate_ck_onto_input_modes(&e, 2, &[4.0, 5.0, 2.0], 1e-12).unwrap();
    assert_eq!(agg.soft, vec![4.0, 2.0]);
    assert_eq!(agg.hard, vec![6.0, 0.0]);
    assert_eq!(agg.unassigned, 5.0);
    assert_eq!(agg.n_unassigned, 1);
    assert!(aggregate_ck_onto_input_modes(&e, 2, &[1.0], 1e-12).is_err());
}

#[test]
fn the_null_predictor_scores_one_on_a_pure_inverse_law_and_uses_the_predictors_eta_set() {
    use noether_theory::crossover::null_prediction_quality_r;
    let etas = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3];
    // S_meas = 7/η exactly: the null predictor is perfect (R = 1), whatever the constant.
    let s_meas: Vec<f64> = etas.iter().map(|e| 7.0 / e).collect();
    let all = [1.0; 6];
    let q = null_prediction_quality_r(&etas, &all, &s_meas).unwrap();
    assert!((q.r - 1.0).abs() < 1e-12 && q.kept.len() == 6, "{}", q.r);
    // An η the predictor cannot use (NaN, ≤ 0) leaves the null comparison too.
    let some = [1.0, f64::NAN, 1.0, 0.0, 1.0, 1.0];
    assert_eq!(null_prediction_quality_r(&etas, &some, &s_meas).unwrap().kept, vec![0, 2, 4, 5]);
    // A measured S that rises with η anti-correlates with 1/η.
    let rising: Vec<f64> = etas.iter().map(|e| e * e).collect();
    assert!((null_prediction_quality_r(&etas, &all, &rising).unwrap().r + 1.0).abs() < 1e-12);
    // Lengths must agree.
    assert!(null_prediction_quality_r(&etas[..3], &all, &s_meas).is_err());
}
