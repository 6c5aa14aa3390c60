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

/// Output of [`switch_rate_exponent`]: rate ≈ e^intercept · m^(−β).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchRateFit {
    /// β = −(slope of ln rate on ln m); β = 0 means an m-independent rate.
    pub beta: f64,
    /// Intercept of the log-log line.
    pub intercept: f64,
    /// R² in log space.
    pub r2: f64,
    /// Widths used (finite rate > 0).
    pub n: usize,
}

/// E15 width exponent of the activation switch rate (spec E13-E23 §2-E15): OLS of ln(rate)
/// on ln m over the widths with finite rate > 0, β = −slope, R² in log space; needs ≥ 3.
/// The reference applies it to the width summary (mean over all (η, seed) runs of each run's
/// mean rate: the "pooled" β) and to the seed means of each η ("per-lr β"). Fitting the total
/// flips n·m·rate instead gives slope 1 − β identically.
pub fn switch_rate_exponent(widths: &[f64], rates: &[f64]) -> Result<SwitchRateFit> {
    check_len("switch_rate_exponent: widths vs rates", widths.len(), rates.len())?;
    let keep: Vec<usize> = (0..widths.len()).filter(|&i| rates[i].is_finite() && rates[i] > 0.0).collect();
    check_min_points(3, keep.len())?;
    let lx = log_widths(widths, &keep)?;
    let ly: Vec<f64> = keep.iter().map(|&i| rates[i].ln()).collect();
    let f = ols_line(&lx, &ly)?;
    Ok(SwitchRateFit { beta: -f.slope, intercept: f.intercept, r2: f.r2, n: keep.len() })
}

/// How close the E22 transition width sits to its threshold (spec E13-E23 §2-E22 pitfall (a),
/// §5 item 7): the same m* is returned for every threshold in `[threshold_low, alpha_at)`,
/// where `threshold_low` is the largest finite α at a smaller width (−∞ if none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionMargin {
    /// m* as [`transition_width`] finds it.
    pub m_star: f64,
    /// α(m*).
    pub alpha_at: f64,
    /// α(m*) − threshold (> 0).
    pub above: f64,
    /// The width just below m* (ascending order) with a finite α, and that α.
    pub previous: Option<(f64, f64)>,
    /// threshold − max finite α over the widths below m* (∞ if there are none).
    pub below: f64,
    /// min(above, below): a threshold moved by more than this changes m*.
    pub margin: f64,
}

/// [`transition_width`] with its margins; `None` if no width crosses the threshold.
pub fn transition_margin(widths: &[f64], alphas: &[f64], threshold: f64) -> Result<Option<TransitionMargin>> {
    let Some(m_star) = transition_width(widths, alphas, threshold)? else { return Ok(None) };
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by(|&i, &j| widths[i].total_cmp(&widths[j]));
    let below_idx: Vec<usize> =
        order.iter().copied().filter(|&i| widths[i] < m_star && alphas[i].is_finite()).collect();
    let at = order
        .iter()
        .copied()
        .find(|&i| widths[i] == m_star && alphas[i].is_finite() && alphas[i] > threshold)
        .expect("m* has a qualifying α");
    let alpha_at = alphas[at];
    let previous = below_idx.last().map(|&i| (widths[i], alphas[i]));
    let max_below = below_idx.iter().map(|&i| alphas[i]).fold(f64::NEG_INFINITY, f64::max);
    let above = alpha_at - threshold;
    let below = threshold - max_below;
    Ok(Some(TransitionMargin { m_star, alpha_at, above, previous, below, margin: above.min(below) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b}");
    }

    #[test]
    fn switch_rate_exponent_by_hand() {
        // m = 1, 2, 4 → x = (0, a, 2a) with a = ln 2; rates 1, 2^(−1/2), 1/2 → ln rate =
        // (0, −a/2, −a): slope −1/2 exactly, β = 1/2, intercept 0, R² = 1.
        let f = switch_rate_exponent(&[1.0, 2.0, 4.0], &[1.0, 2f64.powf(-0.5), 0.5]).unwrap();
        close(f.beta, 0.5, 1e-12);
        close(f.r2, 1.0, 1e-12);
        close(f.intercept, 0.0, 1e-12);
        // Non-collinear: x = (0, a, 2a), y = (0, a, 0) with a = ln 2. x̄ = a, ȳ = a/3,
        // Sxy = (−a)(−a/3) + 0 + a(−a/3) = 0 → slope 0, β = 0, intercept ȳ = ln2/3, R² = 0.
        let f = switch_rate_exponent(&[1.0, 2.0, 4.0, 8.0], &[1.0, 2.0, 1.0, 0.0]).unwrap();
        assert_eq!(f.n, 3, "the zero rate is dropped");
        close(f.beta, 0.0, 1e-12);
        close(f.intercept, 2f64.ln() / 3.0, 1e-12);
        close(f.r2, 0.0, 1e-12);
        assert!(switch_rate_exponent(&[1.0, 2.0], &[1.0, 0.5]).is_err());
    }

    #[test]
    fn transition_margin_by_hand() {
        // E22 d = 10 reference α (spec table): crossing at m = 60 with 1.1012, previous
        // width 40 with 1.0997 → above = 0.0012, below = 0.0003, margin 0.0003.
        let w = [5., 10., 15., 20., 30., 40., 60.];
        let a = [1.0658, 1.0374, 1.0577, 1.0573, 1.0740, 1.0997, 1.1012];
        let t = transition_margin(&w, &a, ALPHA_THRESHOLD).unwrap().unwrap();
        assert_eq!(t.m_star, 60.0);
        assert_eq!(t.previous, Some((40.0, 1.0997)));
        close(t.above, 0.0012, 1e-12);
        close(t.below, 0.0003, 1e-12);
        close(t.margin, 0.0003, 1e-12);
        // Non-monotone below m*: the largest α below, not the neighbour's, sets `below`; a NaN
        // below m* is skipped. d = 40-like: 1.0870 at 20, crossing at 40 (1.1126).
        let t = transition_margin(&[20., 30., 40., 60.], &[1.09, f64::NAN, 1.2, 1.0], 1.1).unwrap().unwrap();
        assert_eq!(t.m_star, 40.0);
        assert_eq!(t.previous, Some((20.0, 1.09)));
        close(t.above, 0.1, 1e-12);
        close(t.below, 0.01, 1e-12);
        close(t.margin, 0.01, 1e-12);
        // Crossing at the smallest width: nothing below → below = ∞, margin = above.
        let t = transition_margin(&[10., 20.], &[1.3, 1.0], 1.1).unwrap().unwrap();
        assert_eq!(t.previous, None);
        assert!(t.below.is_infinite());
        close(t.margin, 0.2, 1e-12);
        assert_eq!(transition_margin(&[10., 20.], &[1.0, 1.05], 1.1).unwrap(), None);
    }
}
