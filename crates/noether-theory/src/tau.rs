//! E23: softmax concentration timescale τ and its learning-rate dependence.
//!
//! Spec E13-E23 §2-E23. Per run, 1 − q̄(t) (q̄ = mean true-class softmax probability) is
//! recorded at checkpoints; τ is the e-folding time of an exponential fitted in log space
//! over a window; across learning rates the paper fits τ = C/η + b (linear space) and the
//! log also fits τ ∝ η^γ. Note (spec pitfall (a)): 1 − q̄ is essentially a function of η·t,
//! so τ ∝ 1/η is a time-rescaling identity; the intercept and γ ≠ −1 come from the window.

use crate::error::{Result, TheoryError, check_finite, check_len, check_min_points};
use crate::fit::{mean, ols_line, std_pop};
use serde::{Deserialize, Serialize};

/// The checkpoint window of the τ fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TauWindow {
    /// Keep checkpoints with t ≥ this.
    pub t_min: f64,
    /// Keep checkpoints with 1 − q̄ strictly greater than this.
    pub lower: f64,
    /// Keep checkpoints with 1 − q̄ strictly less than this.
    pub upper: f64,
}

impl TauWindow {
    /// The reference window: t ≥ 25 and 0.01 < 1 − q̄ < 0.9.
    pub const REFERENCE: TauWindow = TauWindow { t_min: 25.0, lower: 0.01, upper: 0.9 };
}

/// Per-run τ fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TauFit {
    /// τ = −1/slope if slope < 0, else NaN.
    pub tau: f64,
    /// Slope of ln(1 − q̄) on t.
    pub slope: f64,
    /// a = e^intercept.
    pub a: f64,
    /// R² in log space.
    pub r2: f64,
    /// Number of checkpoints in the window.
    pub n_points: usize,
}

/// The E23 τ fit: keep checkpoints with t ≥ t_min and lower < 1 − q̄ < upper (reference
/// [`TauWindow::REFERENCE`]), need ≥ 3; OLS of ln(1 − q̄) on t; τ = −1/slope if slope < 0
/// else NaN; a = e^intercept; R² in log space. `one_minus_qbar[i]` belongs to checkpoint
/// `t[i]` (non-finite values simply fail the window test).
pub fn tau_fit(t: &[f64], one_minus_qbar: &[f64], window: TauWindow) -> Result<TauFit> {
    check_len("tau_fit: t vs 1-q", t.len(), one_minus_qbar.len())?;
    check_finite("t", t)?;
    let (xs, ys): (Vec<f64>, Vec<f64>) = t
        .iter()
        .zip(one_minus_qbar)
        .filter(|(tt, v)| **tt >= window.t_min && **v > window.lower && **v < window.upper)
        .map(|(tt, v)| (*tt, v.ln()))
        .unzip();
    check_min_points(3, xs.len())?;
    let f = ols_line(&xs, &ys)?;
    Ok(TauFit {
        tau: if f.slope < 0.0 { -1.0 / f.slope } else { f64::NAN },
        slope: f.slope,
        a: f.intercept.exp(),
        r2: f.r2,
        n_points: xs.len(),
    })
}

/// Per-lr aggregation of τ: mean and population std over the finite, positive τ of the
/// seeds, with their count. None finite & positive → (NaN, NaN, 0).
pub fn tau_mean_std(taus: &[f64]) -> (f64, f64, usize) {
    let v: Vec<f64> = taus.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
    match (mean(&v), std_pop(&v)) {
        (Ok(m), Ok(s)) => (m, s, v.len()),
        _ => (f64::NAN, f64::NAN, 0),
    }
}

/// Across-lr τ fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TauLrFit {
    /// C of τ = C/η + b.
    pub c: f64,
    /// b of τ = C/η + b.
    pub b: f64,
    /// R² of that fit in linear space.
    pub r2_inverse: f64,
    /// γ = slope of ln τ on ln η.
    pub gamma: f64,
    /// Intercept of the log-log fit.
    pub log_intercept: f64,
    /// R² of the log-log fit (log space).
    pub r2_power: f64,
    /// Number of learning rates used.
    pub n: usize,
}

/// E23 across-lr fits: OLS τ̄ = C·(1/η) + b with R² in linear space, and OLS ln τ̄ on ln η
/// → γ with R² in log space. Learning rates with a non-finite or non-positive τ̄ are
/// dropped; need ≥ 3 (reference: 5 lrs).
pub fn tau_vs_lr_fit(etas: &[f64], tau_means: &[f64]) -> Result<TauLrFit> {
    check_len("tau_vs_lr_fit: etas vs tau", etas.len(), tau_means.len())?;
    let keep: Vec<usize> = (0..etas.len()).filter(|&i| tau_means[i].is_finite() && tau_means[i] > 0.0).collect();
    check_min_points(3, keep.len())?;
    for &i in &keep {
        if !(etas[i].is_finite() && etas[i] > 0.0) {
            return Err(TheoryError::InvalidInput(format!("eta[{i}] = {} must be > 0", etas[i])));
        }
    }
    let inv: Vec<f64> = keep.iter().map(|&i| 1.0 / etas[i]).collect();
    let tau: Vec<f64> = keep.iter().map(|&i| tau_means[i]).collect();
    let lin = ols_line(&inv, &tau)?;
    let le: Vec<f64> = keep.iter().map(|&i| etas[i].ln()).collect();
    let lt: Vec<f64> = tau.iter().map(|v| v.ln()).collect();
    let pw = ols_line(&le, &lt)?;
    Ok(TauLrFit {
        c: lin.slope,
        b: lin.intercept,
        r2_inverse: lin.r2,
        gamma: pw.slope,
        log_intercept: pw.intercept,
        r2_power: pw.r2,
        n: keep.len(),
    })
}
