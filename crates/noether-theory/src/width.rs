//! E19/E22 width analyses: α with curvature per width, the γ fit of α − 1 against width,
//! the log model α = a + b·ln m, and the transition width m*.
//!
//! Spec E13-E23 §1.8 (quadratic extras), §2-E19 and §2-E22. Caveat from the spec: nearly
//! all of the width trend comes from η = 0.1 crossing 2/λ_max(m); on η ≤ 0.03 every α is
//! 1.01–1.17, and E22's m* sit within ≈0.01 of the 1.1 threshold.

use crate::error::{Result, TheoryError, check_len, check_min_points};
use crate::fit::{FitMask, PowerLawFit, QuadFit, ols_line, pearson_corrcoef, power_law_fit, quadratic_fit};
use serde::{Deserialize, Serialize};

/// E22's `ALPHA_THRESHOLD`.
pub const ALPHA_THRESHOLD: f64 = 1.1;

/// α fit plus the quadratic "curvature" of the same log-log points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlphaWithCurvature {
    /// The power-law fit (α, R², residuals, kept points).
    pub power: PowerLawFit,
    /// Quadratic fit ln y = c2 (ln η)² + c1 ln η + c0 on the kept points; `None` if fewer
    /// than 4 points survived (the reference's guard).
    pub quad: Option<QuadFit>,
}

/// E19/E22 per-width analysis: [`power_law_fit`] with `mask` (reference:
/// [`FitMask::GT_1E15_FINITE`] on nanmean seed means), then, if ≥ 4 points survived, a
/// quadratic in log space whose c2 is the "curvature" and whose R² is `r2_quad`.
pub fn power_law_with_curvature(eta: &[f64], y: &[f64], mask: FitMask) -> Result<AlphaWithCurvature> {
    let power = power_law_fit(eta, y, mask)?;
    let quad = if power.n_points >= 4 {
        let lx: Vec<f64> = power.kept.iter().map(|&i| eta[i].ln()).collect();
        let ly: Vec<f64> = power.kept.iter().map(|&i| y[i].ln()).collect();
        Some(quadratic_fit(&lx, &ly)?)
    } else {
        None
    };
    Ok(AlphaWithCurvature { power, quad })
}

/// Output of [`gamma_fit_alpha_minus_one`]: α − 1 ≈ c·m^γ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GammaFit {
    /// Exponent γ (slope of ln(α − 1) on ln m).
    pub gamma: f64,
    /// Prefactor c = e^intercept.
    pub c: f64,
    /// R² in log space.
    pub r2: f64,
    /// Widths used (those with finite α > 1).
    pub n: usize,
}

/// E19 scaling fit: OLS of ln(α − 1) on ln m over the widths with finite α > 1; needs ≥ 3
/// (E14's Δα power law uses the same rule with its own guard).
pub fn gamma_fit_alpha_minus_one(widths: &[f64], alphas: &[f64]) -> Result<GammaFit> {
    check_len("gamma_fit_alpha_minus_one: widths vs alphas", widths.len(), alphas.len())?;
    let keep: Vec<usize> = (0..widths.len()).filter(|&i| alphas[i].is_finite() && alphas[i] > 1.0).collect();
    check_min_points(3, keep.len())?;
    let lx = log_widths(widths, &keep)?;
    let ly: Vec<f64> = keep.iter().map(|&i| (alphas[i] - 1.0).ln()).collect();
    let f = ols_line(&lx, &ly)?;
    Ok(GammaFit { gamma: f.slope, c: f.intercept.exp(), r2: f.r2, n: keep.len() })
}

fn log_widths(widths: &[f64], keep: &[usize]) -> Result<Vec<f64>> {
    keep.iter()
        .map(|&i| {
            if widths[i].is_finite() && widths[i] > 0.0 {
                Ok(widths[i].ln())
            } else {
                Err(TheoryError::InvalidInput(format!("width[{i}] = {} must be > 0", widths[i])))
            }
        })
        .collect()
}

/// Output of [`log_width_model`]: α = a + b·ln m.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogWidthModel {
    /// Intercept a.
    pub a: f64,
    /// Slope b per unit ln m.
    pub b: f64,
    /// R² in linear α space.
    pub r2: f64,
    /// Widths used (finite α).
    pub n: usize,
}

/// E19 log model: OLS α = a + b·ln m over the widths with finite α; needs ≥ 3.
pub fn log_width_model(widths: &[f64], alphas: &[f64]) -> Result<LogWidthModel> {
    check_len("log_width_model: widths vs alphas", widths.len(), alphas.len())?;
    let keep: Vec<usize> = (0..widths.len()).filter(|&i| alphas[i].is_finite()).collect();
    check_min_points(3, keep.len())?;
    let lx = log_widths(widths, &keep)?;
    let ys: Vec<f64> = keep.iter().map(|&i| alphas[i]).collect();
    let f = ols_line(&lx, &ys)?;
    Ok(LogWidthModel { a: f.intercept, b: f.slope, r2: f.r2, n: keep.len() })
}

/// E19 "R² degradation": Pearson(ln m, R²) over widths with finite R² (NaN on zero variance).
pub fn r2_degradation(widths: &[f64], r2s: &[f64]) -> Result<f64> {
    check_len("r2_degradation", widths.len(), r2s.len())?;
    let keep: Vec<usize> = (0..widths.len()).filter(|&i| r2s[i].is_finite()).collect();
    check_min_points(2, keep.len())?;
    let lx = log_widths(widths, &keep)?;
    let ys: Vec<f64> = keep.iter().map(|&i| r2s[i]).collect();
    pearson_corrcoef(&lx, &ys)
}

/// E22 transition width m*: the smallest width (widths are visited in ascending order) whose
/// α is finite and strictly greater than `threshold` (reference [`ALPHA_THRESHOLD`] = 1.1);
/// `None` if no width qualifies.
pub fn transition_width(widths: &[f64], alphas: &[f64], threshold: f64) -> Result<Option<f64>> {
    check_len("transition_width: widths vs alphas", widths.len(), alphas.len())?;
    crate::error::check_finite("widths", widths)?;
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by(|&i, &j| widths[i].total_cmp(&widths[j]));
    Ok(order.into_iter().find(|&i| alphas[i].is_finite() && alphas[i] > threshold).map(|i| widths[i]))
}
