//! Convex-dominance golden tests (spec convex-dominance.md §2.4, §2.6, §7, Appendix A) and
//! the scaling-law fitting helpers.

use noether_theory::TheoryError;
use noether_theory::schedule::{
    GradientBound, Schedule, bootstrap_percentile_interval, cooldown_drop, fit_free_exponent, fit_inverse_sqrt,
    fit_last_iterate_model, fit_peak_lr_model, last_iterate_bound_terms, last_iterate_bound_terms_prefix,
    last_iterate_features, parabolic_min_log_eta, qualifying_exam, table1_closed_form, with_linear_warmup,
};

fn close(label: &str, got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() <= tol, "{label}: got {got}, want {want} (tol {tol})");
}

/// γ*·√T and optimal bound·√T at D = G = 1.
fn optimal_scaled(s: &Schedule, t: usize) -> (f64, f64) {
    let eta = s.shape(t).unwrap();
    let b = last_iterate_bound_terms(&eta, GradientBound::Constant(1.0), 1.0).unwrap();
    let r = (t as f64).sqrt();
    (b.optimal_peak() * r, b.optimal_bound() * r)
}

#[test]
fn appendix_a_reference_code_by_hand() {
    // η = (1, 0.5), G = D = 1: S = 1.5, t1 = 1/3, t2 = 1.25/3,
    // t3 = ½ (η_1/η_2)(Ση²/Ση) = ½·2·(1.25/1.5) = 5/6.
    let b = last_iterate_bound_terms(&[1.0, 0.5], GradientBound::Constant(1.0), 1.0).unwrap();
    close("t1", b.t1, 1.0 / 3.0, 1e-15);
    close("t2", b.t2, 1.25 / 3.0, 1e-15);
    close("t3", b.t3, 5.0 / 6.0, 1e-15);
    // Per-step G_t enters as G_t²η_t²: G = (2, 1) → e² = (4, 0.25).
    let b = last_iterate_bound_terms(&[1.0, 0.5], GradientBound::PerStep(&[2.0, 1.0]), 3.0).unwrap();
    close("t1 D=3", b.t1, 3.0, 1e-15);
    close("t2 G_t", b.t2, 4.25 / 3.0, 1e-15);
    close("t3 G_t", b.t3, 0.5 * 2.0 * (4.25 / 1.5), 1e-15);
    close("averaged", b.averaged_iterate(), 3.0 + 4.25 / 3.0, 1e-15);
    // Prefix τ = 1: t3 is empty.
    let p = last_iterate_bound_terms_prefix(&[1.0, 0.5], GradientBound::Constant(1.0), 1.0, 1).unwrap();
    assert_eq!((p.t1, p.t2, p.t3), (0.5, 0.5, 0.0));
    // A trailing zero learning rate after a positive step makes the bound infinite.
    assert!(matches!(
        last_iterate_bound_terms(&[1.0, 1.0, 0.0], GradientBound::Constant(1.0), 1.0),
        Err(TheoryError::Degenerate(_))
    ));
    assert!(last_iterate_bound_terms(&[1.0, -1.0], GradientBound::Constant(1.0), 1.0).is_err());
}

#[test]
fn table1_constants_at_t_1e5() {
    let t = 100_000;
    let cases = [
        ("linear", Schedule::Linear, 0.9999, 2.0001),
        ("cosine", Schedule::Cosine, 0.9708, 2.0602),
        ("wsd 0.8", Schedule::Wsd { stable_fraction: 0.8 }, 0.5145, 2.1598),
        ("wsd 0.9", Schedule::Wsd { stable_fraction: 0.9 }, 0.4613, 2.2818),
    ];
    for (name, s, peak, bound) in cases {
        let (p, b) = optimal_scaled(&s, t);
        close(&format!("{name} gamma* sqrt T"), p, peak, 6e-5);
        close(&format!("{name} bound sqrt T"), b, bound, 6e-5);
    }
    // Closed forms (Table 1) agree with the discrete sums to the printed precision.
    let cf = table1_closed_form(&Schedule::Wsd { stable_fraction: 0.8 }, t, 1.0, 1.0).unwrap();
    close("WSD closed-form peak", cf.optimal_peak() * (t as f64).sqrt(), 1.0 / 3.777f64.sqrt(), 2e-4);
    close("WSD closed-form bound", cf.optimal_excess() * (t as f64).sqrt(), 2.1595, 2e-4);
    let cf = table1_closed_form(&Schedule::Cosine, t, 1.0, 1.0).unwrap();
    close("cosine closed-form peak", cf.optimal_peak() * (t as f64).sqrt(), 0.9708, 1e-4);
    let cf = table1_closed_form(&Schedule::Linear, t, 2.0, 3.0).unwrap();
    close("linear closed form D/(G sqrt T)", cf.optimal_peak(), 2.0 / (3.0 * (t as f64).sqrt()), 1e-15);
    close("linear closed form 2DG/sqrt T", cf.optimal_excess(), 12.0 / (t as f64).sqrt(), 1e-15);
    let cf = table1_closed_form(&Schedule::Constant, t, 1.0, 1.0).unwrap();
    close("constant closed form", cf.optimal_excess(), ((t as f64).ln() / t as f64).sqrt(), 1e-15);
    let cf = table1_closed_form(&Schedule::InverseSqrt, t, 1.0, 1.0).unwrap();
    close("1/sqrt t closed form", cf.optimal_excess(), ((t as f64).ln() / (4.0 * t as f64)).sqrt(), 1e-15);
    assert!(table1_closed_form(&Schedule::Cyclic { cycles: 4, floor: 0.0 }, t, 1.0, 1.0).is_err());
    // Constant schedule: γ*·√T goes 0.40 → 0.28 over T = 10²..10⁵.
    close("constant peak T=1e2", optimal_scaled(&Schedule::Constant, 100).0, 0.40, 5e-3);
    close("constant peak T=1e5", optimal_scaled(&Schedule::Constant, t).0, 0.28, 5e-3);
}

#[test]
fn optimal_peak_ratios_are_horizon_independent() {
    for t in [1024, 4096, 16384] {
        let lin = optimal_scaled(&Schedule::Linear, t).0;
        let wsd = optimal_scaled(&Schedule::Wsd { stable_fraction: 0.8 }, t).0 / lin;
        let cos = optimal_scaled(&Schedule::Cosine, t).0 / lin;
        assert!((0.513..=0.5145).contains(&wsd), "WSD/linear at T = {t}: {wsd}");
        assert!((0.9705..=0.9725).contains(&cos), "cosine/linear at T = {t}: {cos}");
    }
}

#[test]
fn qualifying_exam_values() {
    let h = [100, 1_000, 10_000, 100_000];
    let cases: [(&str, Schedule, [f64; 4]); 4] = [
        ("constant", Schedule::Constant, [3.59, 4.74, 5.89, 7.05]),
        ("linear", Schedule::Linear, [2.04, 2.01, 2.00, 2.00]),
        ("cosine", Schedule::Cosine, [2.09, 2.06, 2.06, 2.06]),
        // Spec prints 2.66 at T = 1e5; the exact discrete value is 2.6546 (→ 2.65), which is
        // also the T → ∞ limit 1/1.8 + 2.0990 implied by the same table's 2.1598. See report.
        ("wsd(20% cooldown)", Schedule::Wsd { stable_fraction: 0.8 }, [2.77, 2.68, 2.66, 2.66]),
    ];
    for (name, s, want) in cases {
        let ex = qualifying_exam(&s, &h, 1.0, 1.0).unwrap();
        for (p, w) in ex.points.iter().zip(want) {
            let tol = if name.starts_with("wsd") && p.t == 100_000 { 6e-3 } else { 5e-3 };
            close(&format!("{name} T={}", p.t), p.sqrt_t_bound, w, tol);
        }
        if name == "constant" {
            close("constant growth per decade", ex.growth_per_decade, 0.5 * 10f64.ln(), 3e-3);
            assert!(ex.loglog_slope > 0.05, "constant log-log slope {}", ex.loglog_slope);
        } else {
            assert!(ex.loglog_slope.abs() < 0.01, "{name} log-log slope {}", ex.loglog_slope);
            assert!(ex.growth_per_decade.abs() < 0.05);
        }
    }
    // 1/√t fails: √T·bound grows like √T (log-log slope ≈ ½).
    let ex = qualifying_exam(&Schedule::InverseSqrt, &h, 1.0, 1.0).unwrap();
    assert!(ex.loglog_slope > 0.4, "1/sqrt t slope {}", ex.loglog_slope);
}

#[test]
fn schedule_shapes() {
    let lin = Schedule::Linear.shape(4).unwrap();
    for (g, w) in lin.iter().zip([0.8, 0.6, 0.4, 0.2]) {
        close("linear shape", *g, w, 1e-15);
    }
    for (g, w) in (Schedule::Wsd { stable_fraction: 0.0 }).shape(4).unwrap().iter().zip(&lin) {
        close("WSD(0) = linear", *g, *w, 1e-15);
    }
    let w = Schedule::Wsd { stable_fraction: 0.5 }.shape(4).unwrap();
    assert_eq!(w, vec![1.0, 1.0, 2.0 / 3.0, 1.0 / 3.0]);
    let c = Schedule::Cosine.shape(3).unwrap();
    close("cosine mid", c[1], 0.5, 1e-15);
    let cy = Schedule::Cyclic { cycles: 2, floor: 0.1 }.shape(7).unwrap();
    // x = 2t/8: t = 2 → u = 0.5 → peak 1; t = 4 → u = 0 → floor.
    close("cyclic peak", cy[1], 1.0, 1e-15);
    close("cyclic floor", cy[3], 0.1, 1e-15);
    let s = Schedule::InverseSqrt.shape(4).unwrap();
    close("1/sqrt(4)", s[3], 0.5, 0.0);
    assert_eq!(with_linear_warmup(&[1.0; 4], 2), vec![0.5, 1.0, 1.0, 1.0]);
    let lr = Schedule::Constant.learning_rates(3, 0.1, 3).unwrap();
    close("warmup lr", lr[0], 0.1 / 3.0, 1e-17);
    assert!(Schedule::Wsd { stable_fraction: 1.0 }.shape(4).is_err());
    assert!(Schedule::Linear.shape(0).is_err());
}

/// Chinchilla Table-2 style check with synthetic data generated from the published
/// (L̃∞, slope) rows: OLS on 1/√tokens must recover them exactly.
#[test]
fn chinchilla_style_inverse_sqrt_recovery() {
    let rows =
        [(0.074, 5, 3.22e4, 2.825), (0.140, 7, 3.04e4, 2.670), (2.007, 8, 3.62e4, 2.178), (12.569, 3, 4.23e4, 2.053)];
    for (n_b, horizons, slope, l_inf) in rows {
        let tokens: Vec<f64> = (0..horizons).map(|i| 20.0 * n_b * 1e9 * 1.6f64.powi(i)).collect();
        let loss: Vec<f64> = tokens.iter().map(|t| l_inf + slope / t.sqrt()).collect();
        let f = fit_inverse_sqrt(&tokens, &loss).unwrap();
        close("L_inf", f.l_inf, l_inf, 1e-12);
        assert!((f.slope - slope).abs() <= 1e-9 * slope, "slope {} vs {slope}", f.slope);
        close("R2", f.r2, 1.0, 1e-12);
        assert_eq!(f.n, horizons as usize);
        let p = f.predict(4.0 * tokens[horizons as usize - 1]);
        close("extrapolation", p.value, l_inf + slope / (4.0 * tokens[horizons as usize - 1]).sqrt(), 1e-12);
    }
    // Noisy data: R² < 1, positive standard errors, larger for extrapolation.
    let t: [f64; 5] = [1e3, 2e3, 4e3, 8e3, 16e3];
    let noise = [0.01, -0.02, 0.015, -0.005, 0.0];
    let l: Vec<f64> = t.iter().zip(noise).map(|(t, e)| 2.0 + 30.0 / t.sqrt() + e).collect();
    let f = fit_inverse_sqrt(&t, &l).unwrap();
    assert!(f.r2 < 1.0 && f.r2 > 0.5);
    let near = f.predict(4e3);
    let far = f.predict(1e6);
    assert!(near.se_mean > 0.0 && far.se_mean > near.se_mean && far.se_prediction > far.se_mean);
    let errs = f.relative_errors(&t, &l).unwrap();
    assert!(errs.iter().all(|e| e.abs() < 0.02));
    assert!(fit_inverse_sqrt(&[1.0, -1.0], &[1.0, 2.0]).is_err());
}

#[test]
fn free_exponent_grid_recovers_exponent() {
    let t: Vec<f64> = (0..8).map(|i| 1e3 * 2f64.powi(i)).collect();
    let l: Vec<f64> = t.iter().map(|t| 2.38 + 50.0 * t.powf(-0.45)).collect();
    let f = fit_free_exponent(&t, &l).unwrap();
    close("a", f.a, 0.45, 1e-12);
    close("E", f.e, 2.38, 1e-9);
    close("A", f.amplitude, 50.0, 1e-7);
    close("R2", f.r2, 1.0, 1e-12);
    assert_eq!(f.profile.len(), 146);
    close("grid start", f.profile[0].0, 0.05, 0.0);
    close("grid end", f.profile[145].0, 1.5, 0.0);
    // The intercept depends on the assumed exponent (spec §7).
    let e_at_025 = f.profile.iter().find(|p| (p.0 - 0.25).abs() < 1e-12).unwrap().2;
    assert!(e_at_025 < 2.38);
}

#[test]
fn gen1_and_gen2_nonnegative_fits() {
    // Gen. 1: a loss curve generated exactly by the model on a cosine schedule.
    let eta = Schedule::Cosine.learning_rates(400, 0.3, 0).unwrap();
    let taus: Vec<usize> = (20..=400).step_by(20).collect();
    let feats = last_iterate_features(&eta, &taus).unwrap();
    let (f1, f2): (Vec<f64>, Vec<f64>) = feats.into_iter().unzip();
    let loss: Vec<f64> = f1.iter().zip(&f2).map(|(a, b)| 0.7 + 4.0 * a + 0.25 * b).collect();
    let fit = fit_last_iterate_model(&f1, &f2, &loss).unwrap();
    close("L_inf", fit.l_inf, 0.7, 1e-9);
    close("D2", fit.d2, 4.0, 1e-8);
    close("G2", fit.g2, 0.25, 1e-8);
    // Data that would want a negative G̃²: the constraint binds and G̃² = 0 exactly.
    let loss2: Vec<f64> = f1.iter().zip(&f2).map(|(a, b)| 0.7 + 4.0 * a - 0.25 * b).collect();
    let fit2 = fit_last_iterate_model(&f1, &f2, &loss2).unwrap();
    assert_eq!(fit2.g2, 0.0);
    assert!(fit2.d2 >= 0.0 && fit2.fit.clamped[2]);
    // Gen. 2: L = 1.5 + q1²/(Tη) + q2² η on a (T, η) grid; η* = q1/(q2 √T).
    let mut ts = vec![];
    let mut es = vec![];
    let mut ls = vec![];
    for &t in &[256.0, 1024.0, 4096.0] {
        for &e in &[0.01, 0.02, 0.04, 0.08] {
            ts.push(t);
            es.push(e);
            ls.push(1.5 + 2.0 / (t * e) + 0.5 * e);
        }
    }
    let g2 = fit_peak_lr_model(&ts, &es, &ls).unwrap();
    close("gen2 L_inf", g2.l_inf, 1.5, 1e-10);
    close("gen2 q1^2", g2.q1_sq, 2.0, 1e-10);
    close("gen2 q2^2", g2.q2_sq, 0.5, 1e-10);
    close("gen2 eta*", g2.optimal_peak(1024.0), 2.0 / 32.0, 1e-10);
}

#[test]
fn bootstrap_is_deterministic_and_sensible() {
    let data: Vec<f64> = (0..30).map(|i| (i as f64 * 0.37).sin() + 1.0).collect();
    let stat = |idx: &[usize]| Some(idx.iter().map(|&i| data[i]).sum::<f64>() / idx.len() as f64);
    let a = bootstrap_percentile_interval(data.len(), stat, 2000, 0.95, 42).unwrap();
    let b = bootstrap_percentile_interval(data.len(), stat, 2000, 0.95, 42).unwrap();
    assert_eq!(a, b);
    let c = bootstrap_percentile_interval(data.len(), stat, 2000, 0.95, 43).unwrap();
    assert_ne!(a.lower, c.lower);
    let m = data.iter().sum::<f64>() / 30.0;
    close("estimate", a.estimate, m, 1e-15);
    assert!(a.lower < m && m < a.upper && a.n_valid == 2000);
    // Width ≈ 2·1.96·sd/√n.
    let sd = (data.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 30.0).sqrt();
    let width = a.upper - a.lower;
    assert!((width / (2.0 * 1.96 * sd / 30f64.sqrt()) - 1.0).abs() < 0.15, "width {width}");
    // Failed resamples are dropped; too few valid is an error.
    assert!(bootstrap_percentile_interval(5, |_| None, 100, 0.9, 1).is_err());
    assert!(bootstrap_percentile_interval(5, |_| Some(1.0), 100, 1.5, 1).is_err());
}

#[test]
fn parabolic_minimum_in_log_eta() {
    // Loss = 1 + 0.3 (ln η − ln 0.02)², sampled on a √2 grid (unsorted order).
    let mut etas: Vec<f64> = (0..9).map(|i| 0.005 * 2f64.sqrt().powi(i)).collect();
    etas.reverse();
    let loss: Vec<f64> = etas.iter().map(|e| 1.0 + 0.3 * (e.ln() - 0.02f64.ln()).powi(2)).collect();
    let p = parabolic_min_log_eta(&etas, &loss).unwrap();
    close("eta*", p.eta_star, 0.02, 1e-12);
    close("loss at min", p.loss_at_min, 1.0, 1e-12);
    close("curvature", p.curvature, 0.3, 1e-12);
    // Minimum at the edge → typed error.
    let mono: Vec<f64> = etas.clone();
    assert!(matches!(parabolic_min_log_eta(&etas, &mono), Err(TheoryError::MinimumAtBoundary { index: 0, len: 9 })));
}

#[test]
fn constant_schedule_optimal_bound_grows_like_sqrt_ln_t() {
    // Spec §2.4 table: optimal bound·√T of the constant schedule 2.49 → 3.62 over T = 10²..10⁵
    // (Appendix A reference code: 2.4854, 3.6180).
    close("constant T=1e2", optimal_scaled(&Schedule::Constant, 100).1, 2.49, 5e-3);
    close("constant T=1e5", optimal_scaled(&Schedule::Constant, 100_000).1, 3.62, 5e-3);
    // Cosine constant 1.061 = (γ*√T)^−2 and WSD(0.8) 3.777 = (1+c)(1 + ½ ln((1+c)/(1−c))).
    let p = optimal_scaled(&Schedule::Cosine, 100_000).0;
    close("cosine 1.061", 1.0 / (p * p), 1.061, 1e-3);
    let p = optimal_scaled(&Schedule::Wsd { stable_fraction: 0.8 }, 100_000).0;
    close("WSD 3.777", 1.0 / (p * p), 3.777, 2e-3);
    // Optimal excess relative to linear: cosine 1.03×, WSD(0.8) 1.08× (spec §2.4).
    let lin = optimal_scaled(&Schedule::Linear, 4096).1;
    close("cos/lin excess", optimal_scaled(&Schedule::Cosine, 4096).1 / lin, 1.03, 5e-3);
    close("wsd/lin excess", optimal_scaled(&Schedule::Wsd { stable_fraction: 0.8 }, 4096).1 / lin, 1.08, 5e-3);
}

#[test]
fn log_symmetry_ratio_of_cosh_is_zero() {
    use noether_theory::schedule::{interp_linear, log_symmetry_ratio};
    let q = |e: f64| 1.0 + (e / 0.02f64).ln().cosh();
    close("cosh symmetric", log_symmetry_ratio(q, 0.02, 2.0), 0.0, 1e-12);
    // L = (ln η)² + ln η around η* = e^{-1/2}... use an asymmetric curve: steeper on the right.
    let asym = |e: f64| {
        let x = (e / 0.02f64).ln();
        if x > 0.0 { 3.0 * x * x } else { x * x }
    };
    // (3 − 1)/(3 + 1) = 0.5.
    close("asymmetric", log_symmetry_ratio(asym, 0.02, 4.0), 0.5, 1e-12);
    assert!(log_symmetry_ratio(|_| 1.0, 0.02, 2.0).is_nan());
    let xs = [0.0, 1.0, 2.0];
    let ys = [1.0, 3.0, 2.0];
    close("interp", interp_linear(&xs, &ys, 1.5), 2.5, 1e-15);
    assert!(interp_linear(&xs, &ys, 2.5).is_nan());
}

#[test]
fn cyclic_four_triangles_by_hand() {
    // CD2/CD3's "cyclic with 4 triangles", floor 0: x = 4t/(T+1), s = 1 − |2 frac(x) − 1|.
    // T = 7: x = t/2, so s = 1, 0, 1, 0, 1, 0, 1.
    let s = Schedule::Cyclic { cycles: 4, floor: 0.0 }.shape(7).unwrap();
    assert_eq!(s, vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]);
    // T = 15: x = t/4: t = 1 → u = ¼ → ½; t = 2 → 1; t = 3 → ½; t = 4 → 0.
    let s = Schedule::Cyclic { cycles: 4, floor: 0.0 }.shape(15).unwrap();
    for (g, w) in s[..4].iter().zip([0.5, 1.0, 0.5, 0.0]) {
        close("cyclic T=15", *g, w, 1e-15);
    }
    assert_eq!(s[..7], s[8..]);
    // Zero learning rates inside the horizon are allowed in the bound (skipped in t3).
    let eta: Vec<f64> = Schedule::Cyclic { cycles: 4, floor: 0.0 }.shape(7).unwrap();
    let b = last_iterate_bound_terms(&eta, GradientBound::Constant(1.0), 1.0).unwrap();
    // Σ η = 4, Σ η² = 4: t1 = 1/8, t2 = 4/8; t3 = ½ Σ_k (η_k/S_{k+1})(S²_k/S_k) over the
    // non-zero k = 1, 3, 5 with suffix sums S_2 = 3, S_4 = 2, S_6 = 1 and S²_k = S_k (η ∈ {0, 1}):
    // ½(1/3 + 1/2 + 1/1).
    close("t1", b.t1, 0.125, 1e-15);
    close("t2", b.t2, 0.5, 1e-15);
    close("t3", b.t3, 0.5 * (1.0 / 3.0 + 0.5 + 1.0), 1e-15);
}

#[test]
fn gen1_prediction_and_baseline_predict() {
    let eta = Schedule::Wsd { stable_fraction: 0.5 }.learning_rates(64, 0.1, 0).unwrap();
    let taus: Vec<usize> = (4..=64).step_by(4).collect();
    let feats = last_iterate_features(&eta, &taus).unwrap();
    let (f1, f2): (Vec<f64>, Vec<f64>) = feats.iter().copied().unzip();
    let loss: Vec<f64> = f1.iter().zip(&f2).map(|(a, b)| 0.2 + 3.0 * a + 0.5 * b).collect();
    // Fit on the first half only, predict the second half exactly.
    let h = taus.iter().filter(|t| **t <= 32).count();
    let fit = fit_last_iterate_model(&f1[..h], &f2[..h], &loss[..h]).unwrap();
    for i in h..taus.len() {
        close("gen1 second half", fit.predict(f1[i], f2[i]), loss[i], 1e-10);
    }
    // Baseline E + A t^-a evaluated at the fitted exponent.
    let ts: Vec<f64> = (1..=20).map(|i| 10.0 * i as f64).collect();
    let ls: Vec<f64> = ts.iter().map(|t| 0.3 + 2.0 * t.powf(-0.5)).collect();
    let b = fit_free_exponent(&ts, &ls).unwrap();
    close("baseline a", b.a, 0.5, 1e-12);
    close("baseline at 400", b.predict(400.0), 0.3 + 2.0 / 20.0, 1e-10);
}

#[test]
fn cooldown_drop_by_hand() {
    let steps = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0];
    let loss = [1.0, 0.9, 0.88, 0.8, 0.7, 0.68];
    // Cool-down starts at 25: measured from the point at 20 (0.88) to the end (0.68);
    // size 0.2, half-way target 0.78, first reached at step 40.
    let d = cooldown_drop(&steps, &loss, 25.0, 0.0).unwrap();
    assert_eq!(d.start_step, 20.0);
    close("size", d.size, 0.2, 1e-15);
    assert_eq!(d.half_step, 40.0);
    // Level averaged over the points in [20 − 10, 20]: (0.9 + 0.88)/2 = 0.89; size 0.21, target
    // 0.785, first reached at step 40.
    let d = cooldown_drop(&steps, &loss, 25.0, 10.0).unwrap();
    close("level", d.start_loss, 0.89, 1e-15);
    close("size (window)", d.size, 0.21, 1e-15);
    assert_eq!(d.half_step, 40.0);
    // Start exactly on a point uses that point.
    assert_eq!(cooldown_drop(&steps, &loss, 30.0, 0.0).unwrap().start_step, 30.0);
    // A rising tail has no half-drop time.
    let up = [1.0, 0.9, 0.8, 0.85, 0.9, 0.95];
    let d = cooldown_drop(&steps, &up, 20.0, 0.0).unwrap();
    assert!(d.size < 0.0 && d.half_step.is_nan());
    assert!(cooldown_drop(&steps, &loss, 50.0, 0.0).is_err());
    assert!(cooldown_drop(&steps, &loss, -1.0, 0.0).is_err());
    assert!(cooldown_drop(&steps, &loss, 25.0, -1.0).is_err());
}

/// A warm-up longer than the horizon is refused, not silently a schedule that never peaks.
#[test]
fn a_warmup_longer_than_the_horizon_is_refused() {
    use noether_theory::schedule::Schedule;
    let e = Schedule::Linear.learning_rates(100, 0.1, 101).unwrap_err().to_string();
    assert!(e.contains("warm-up of 101 steps") && e.contains("T = 100"), "{e}");
    let lrs = Schedule::Linear.learning_rates(100, 0.1, 100).unwrap();
    assert_eq!(lrs.len(), 100);
    assert!(lrs.iter().all(|v| v.is_finite() && *v > 0.0));
}
