//! Line, power-law, quadratic and exponential-decay fits; correlations; seed statistics.
//!
//! These are the fits shared by all experiments of both specs:
//!
//! * [`ols_line`]: ordinary least squares y = slope·x + intercept (`numpy.polyfit(deg=1)`),
//!   R² = 1 − SS_res/SS_tot in the space that was fitted (spec E01-E12 §1.9,
//!   E13-E23 §1.8).
//! * [`power_law_fit`]: the drift-exponent fit `fit_power_law` — OLS of ln y on ln η over the
//!   points that survive an explicit [`FitMask`] (the rule differs per script, E01-E12 §1.9
//!   table and E13-E23 §1.7), at least 3 points.
//! * [`quadratic_fit`]: y = c2·x² + c1·x + c0 by Householder least squares (E19/E22
//!   "curvature" = c2 of ln drift against ln η).
//! * [`exp_decay_fit`]: the E18 λ_max(t) decay fit.
//! * [`pearson`], [`pearson_thresholded`], [`pearson_corrcoef`]: correlation with the
//!   reference's zero-variance conventions.
//! * [`local_loglog_slopes`]: slopes between consecutive points of a log-log curve (E5 table).
//! * Seed statistics: [`mean`], [`std_pop`] (ddof 0, as every reference script), and the two
//!   NaN rules for seed means: [`mean_nan_propagating`] ("np.mean rule", E11/E13–E18) and
//!   [`mean_finite_only`] ("nanmean rule", E19/E22).
//! * [`nonneg_least_squares`]: exact small NNLS by active-set enumeration (convex-dominance
//!   spec §2.8: the Gen. 1 model L = L∞ + D̃²·f1 + G̃²·f2 and Gen. 2 are linear with
//!   non-negative coefficients).

use crate::error::{Result, TheoryError, check_finite, check_len, check_min_points};
use crate::linalg::least_squares;
use serde::{Deserialize, Serialize};

/// Coefficient of determination R² = 1 − SS_res/SS_tot of `pred` against `y`, in whatever
/// space `y` lives. NaN when SS_tot = 0 (like NumPy's 0/0).
pub fn r_squared(y: &[f64], pred: &[f64]) -> Result<f64> {
    check_len("r_squared: y vs pred", y.len(), pred.len())?;
    check_min_points(1, y.len())?;
    let ybar = y.iter().sum::<f64>() / y.len() as f64;
    let ss_res: f64 = y.iter().zip(pred).map(|(a, b)| (a - b) * (a - b)).sum();
    let ss_tot: f64 = y.iter().map(|a| (a - ybar) * (a - ybar)).sum();
    Ok(if ss_tot == 0.0 { f64::NAN } else { 1.0 - ss_res / ss_tot })
}

/// Result of an ordinary-least-squares line fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineFit {
    /// Slope of y on x.
    pub slope: f64,
    /// Intercept.
    pub intercept: f64,
    /// R² = 1 − SS_res/SS_tot in the fitted (x, y) space; NaN if all y are equal.
    pub r2: f64,
    /// Number of points used.
    pub n: usize,
    /// Residual sum of squares SS_res.
    pub ss_res: f64,
    /// Σ(x − x̄)², needed for prediction standard errors.
    pub sxx: f64,
    /// Mean of x.
    pub x_mean: f64,
}

impl LineFit {
    /// Fitted value slope·x + intercept.
    pub fn predict(&self, x: f64) -> f64 {
        self.slope * x + self.intercept
    }
}

/// OLS line y = slope·x + intercept (two-pass centred sums; same estimator as
/// `numpy.polyfit(x, y, 1)`). Needs ≥ 2 finite points and non-constant x.
pub fn ols_line(x: &[f64], y: &[f64]) -> Result<LineFit> {
    check_len("ols_line: x vs y", x.len(), y.len())?;
    check_min_points(2, x.len())?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    let n = x.len() as f64;
    let xm = x.iter().sum::<f64>() / n;
    let ym = y.iter().sum::<f64>() / n;
    let mut sxx = 0.0;
    let mut sxy = 0.0;
    for (a, b) in x.iter().zip(y) {
        sxx += (a - xm) * (a - xm);
        sxy += (a - xm) * (b - ym);
    }
    if sxx == 0.0 {
        return Err(TheoryError::Degenerate("ols_line: all x are equal".into()));
    }
    let slope = sxy / sxx;
    let intercept = ym - slope * xm;
    let pred: Vec<f64> = x.iter().map(|a| slope * a + intercept).collect();
    let ss_res = y.iter().zip(&pred).map(|(a, b)| (a - b) * (a - b)).sum();
    let r2 = r_squared(y, &pred)?;
    Ok(LineFit { slope, intercept, r2, n: x.len(), ss_res, sxx, x_mean: xm })
}

/// Which points enter a power-law fit. A point i is kept iff `y[i] > min_value` (a NaN fails
/// this comparison, exactly as in NumPy) and, if `require_finite`, `y[i]` is finite.
///
/// The reference scripts use three different rules (spec E01-E12 §1.9, E13-E23 §1.7); the
/// associated constants name them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FitMask {
    /// Keep only values strictly greater than this (1e-10 or 1e-15 in the reference).
    pub min_value: f64,
    /// Additionally require the value to be finite (drops +inf, which passes `> min_value`).
    pub require_finite: bool,
}

impl FitMask {
    /// `drift_scaling` (E5) and `exp_universality_v1.py` (E6a, E7b): `drift̄ > 1e-10`
    /// (NaN fails the comparison; no explicit finiteness test).
    pub const GT_1E10: FitMask = FitMask { min_value: 1e-10, require_finite: false };
    /// `depth_imbalance` (E6b): `drift̄ > 1e-15` only.
    pub const GT_1E15: FitMask = FitMask { min_value: 1e-15, require_finite: false };
    /// `adam_imbalance` (E7a), `interpolated_*` (E11, E12-grid) and every E13–E23 α fit:
    /// `drift̄ > 1e-15` and finite.
    pub const GT_1E15_FINITE: FitMask = FitMask { min_value: 1e-15, require_finite: true };

    /// Whether a value survives the mask.
    pub fn keeps(&self, v: f64) -> bool {
        v > self.min_value && (!self.require_finite || v.is_finite())
    }
}

/// Result of [`power_law_fit`]: y ∝ η^α.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerLawFit {
    /// Exponent α = slope of ln y on ln η.
    pub alpha: f64,
    /// Intercept of the log-log line (ln of the prefactor).
    pub intercept: f64,
    /// R² in log space.
    pub r2: f64,
    /// Number of points that survived the mask.
    pub n_points: usize,
    /// Indices (into the input) of the points used.
    pub kept: Vec<usize>,
    /// Residuals ln y − (α ln η + intercept) of the kept points (E19 stores them).
    pub residuals: Vec<f64>,
}

impl PowerLawFit {
    /// β = slope of ln(y/η²) on ln η, which equals α − 2 identically for the same points
    /// (E11/E13 report it; E6b reports −β).
    pub fn beta_over_eta_squared(&self) -> f64 {
        self.alpha - 2.0
    }
}

/// The drift-exponent fit (`fit_power_law`, spec E01-E12 §1.9, E13-E23 §1.8): OLS of
/// ln y on ln η over the points kept by `mask`, R² in log space. Needs ≥ 3 surviving
/// points (else `TooFewPoints` with the surviving count). Every η of a kept point must be
/// finite and > 0; a value that passes a mask without `require_finite` but is +inf is
/// rejected as invalid input (the reference never produced one).
pub fn power_law_fit(eta: &[f64], y: &[f64], mask: FitMask) -> Result<PowerLawFit> {
    check_len("power_law_fit: eta vs y", eta.len(), y.len())?;
    let kept: Vec<usize> = (0..y.len()).filter(|&i| mask.keeps(y[i])).collect();
    check_min_points(3, kept.len())?;
    let mut lx = Vec::with_capacity(kept.len());
    let mut ly = Vec::with_capacity(kept.len());
    for &i in &kept {
        if !(eta[i].is_finite() && eta[i] > 0.0) {
            return Err(TheoryError::InvalidInput(format!("eta[{i}] = {} must be > 0", eta[i])));
        }
        if !y[i].is_finite() {
            return Err(TheoryError::InvalidInput(format!(
                "y[{i}] = {} passed the mask but is not finite; use require_finite",
                y[i]
            )));
        }
        lx.push(eta[i].ln());
        ly.push(y[i].ln());
    }
    let f = ols_line(&lx, &ly)?;
    let residuals = lx.iter().zip(&ly).map(|(x, y)| y - f.predict(*x)).collect();
    Ok(PowerLawFit { alpha: f.slope, intercept: f.intercept, r2: f.r2, n_points: kept.len(), kept, residuals })
}

/// Result of [`quadratic_fit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuadFit {
    /// Coefficient of x² (the E19/E22 "curvature").
    pub c2: f64,
    /// Coefficient of x.
    pub c1: f64,
    /// Constant term.
    pub c0: f64,
    /// R² in the fitted space.
    pub r2: f64,
    /// Number of points.
    pub n: usize,
}

/// Least-squares parabola y = c2·x² + c1·x + c0 (`numpy.polyfit(deg=2)`), solved by
/// Householder QR on the column-scaled design [x², x, 1] (no normal equations). Needs ≥ 3
/// finite points with at least 3 distinct x. (E19/E22 additionally require ≥ 4 points; see
/// [`crate::width::power_law_with_curvature`].)
pub fn quadratic_fit(x: &[f64], y: &[f64]) -> Result<QuadFit> {
    check_len("quadratic_fit: x vs y", x.len(), y.len())?;
    check_min_points(3, x.len())?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    let x2: Vec<f64> = x.iter().map(|v| v * v).collect();
    let ones = vec![1.0; x.len()];
    let beta = least_squares(&[&x2, x, &ones], y)?;
    let pred: Vec<f64> = x.iter().map(|v| beta[0] * v * v + beta[1] * v + beta[2]).collect();
    Ok(QuadFit { c2: beta[0], c1: beta[1], c0: beta[2], r2: r_squared(y, &pred)?, n: x.len() })
}

/// Result of [`exp_decay_fit`]: y ≈ a·e^{−b t} + c.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpDecayFit {
    /// Amplitude a = e^intercept.
    pub a: f64,
    /// Rate b = −slope.
    pub b: f64,
    /// Offset c = y_min = 0.9·min(y).
    pub c: f64,
    /// R² computed in **linear** space on a·e^{−bt} + c.
    pub r2: f64,
    /// Number of points.
    pub n: usize,
}

/// The E18 decay fit of mean λ_max(t), replicated literally (spec E13-E23 §2-E18):
/// y_min = 0.9·min_t y; OLS of ln(max(y − y_min, 1e-15)) on t → b = −slope,
/// a = e^intercept, c = y_min; R² in linear space of a·e^{−bt} + c against y.
/// Needs ≥ 2 finite points.
pub fn exp_decay_fit(t: &[f64], y: &[f64]) -> Result<ExpDecayFit> {
    check_len("exp_decay_fit: t vs y", t.len(), y.len())?;
    check_min_points(2, t.len())?;
    check_finite("t", t)?;
    check_finite("y", y)?;
    let y_min = 0.9 * y.iter().copied().fold(f64::INFINITY, f64::min);
    let z: Vec<f64> = y.iter().map(|v| (v - y_min).max(1e-15).ln()).collect();
    let f = ols_line(t, &z)?;
    let a = f.intercept.exp();
    let b = -f.slope;
    let pred: Vec<f64> = t.iter().map(|s| a * (-b * s).exp() + y_min).collect();
    Ok(ExpDecayFit { a, b, c: y_min, r2: r_squared(y, &pred)?, n: t.len() })
}

/// Standard-deviation threshold of the E9/E15 correlations (`exp_activation_coupling`):
/// the correlation is reported as 0 if either population std is ≤ 1e-12.
pub const PEARSON_STD_THRESHOLD_E9: f64 = 1e-12;
/// Threshold used by the E20/E21 c_k comparison (0 if either std ≤ 1e-15).
pub const PEARSON_STD_THRESHOLD_E20: f64 = 1e-15;

fn pearson_parts(x: &[f64], y: &[f64]) -> Result<(f64, f64, f64)> {
    check_len("pearson: x vs y", x.len(), y.len())?;
    check_min_points(2, x.len())?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    let n = x.len() as f64;
    let xm = x.iter().sum::<f64>() / n;
    let ym = y.iter().sum::<f64>() / n;
    let (mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxx += (a - xm) * (a - xm);
        syy += (b - ym) * (b - ym);
        sxy += (a - xm) * (b - ym);
    }
    Ok(((sxx / n).sqrt(), (syy / n).sqrt(), sxy / (sxx.sqrt() * syy.sqrt())))
}

/// Pearson correlation with the reference's guard: returns 0 if either population std is
/// ≤ `std_threshold` (E9 uses 1e-12 = [`PEARSON_STD_THRESHOLD_E9`], E20/E21 use 1e-15 =
/// [`PEARSON_STD_THRESHOLD_E20`]). Needs ≥ 2 finite points.
pub fn pearson_thresholded(x: &[f64], y: &[f64], std_threshold: f64) -> Result<f64> {
    let (sx, sy, r) = pearson_parts(x, y)?;
    if sx <= std_threshold || sy <= std_threshold {
        return Ok(0.0);
    }
    Ok(r)
}

/// Pearson correlation as the reference's E9 helper computes it: 0 if either std ≤ 1e-12.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64> {
    pearson_thresholded(x, y, PEARSON_STD_THRESHOLD_E9)
}

/// Pearson correlation as `numpy.corrcoef` computes it: NaN if either std is exactly 0.
/// Used for the prediction quality R (E8/E12/E16/E18) and E19's corr(ln m, R²).
pub fn pearson_corrcoef(x: &[f64], y: &[f64]) -> Result<f64> {
    let (sx, sy, r) = pearson_parts(x, y)?;
    Ok(if sx == 0.0 || sy == 0.0 { f64::NAN } else { r })
}

/// Local slopes of a log-log curve between consecutive points:
/// (ln y_{i+1} − ln y_i)/(ln x_{i+1} − ln x_i), length n − 1 (E5 "local slope to next η").
/// A slope involving a non-positive or non-finite value is NaN.
pub fn local_loglog_slopes(x: &[f64], y: &[f64]) -> Result<Vec<f64>> {
    check_len("local_loglog_slopes: x vs y", x.len(), y.len())?;
    check_min_points(2, x.len())?;
    Ok(x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| {
            if xs.iter().chain(ys).all(|v| v.is_finite() && *v > 0.0) {
                (ys[1].ln() - ys[0].ln()) / (xs[1].ln() - xs[0].ln())
            } else {
                f64::NAN
            }
        })
        .collect())
}

/// Arithmetic mean with plain IEEE semantics (NaN/inf propagate as arithmetic does).
/// Errors on empty input.
pub fn mean(x: &[f64]) -> Result<f64> {
    check_min_points(1, x.len())?;
    Ok(x.iter().sum::<f64>() / x.len() as f64)
}

/// Population standard deviation (ddof = 0, what every reference script reports — not a
/// standard error). Errors on empty input.
pub fn std_pop(x: &[f64]) -> Result<f64> {
    let m = mean(x)?;
    Ok((x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / x.len() as f64).sqrt())
}

/// The "np.mean rule" for seed means (E11, E13, E14, E16, E17, E18, universality): if
/// **any** value is non-finite (a diverged seed; spec: treat any non-finite value as NaN)
/// the mean is NaN, so that η point is later dropped by the fit mask.
pub fn mean_nan_propagating(x: &[f64]) -> Result<f64> {
    check_min_points(1, x.len())?;
    if x.iter().any(|v| !v.is_finite()) {
        return Ok(f64::NAN);
    }
    mean(x)
}

/// The "nanmean rule" for seed means (E19, E22): mean over the finite values only, together
/// with their count (`n_converged`). All non-finite → (NaN, 0).
pub fn mean_finite_only(x: &[f64]) -> (f64, usize) {
    let fin: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    if fin.is_empty() {
        return (f64::NAN, 0);
    }
    (fin.iter().sum::<f64>() / fin.len() as f64, fin.len())
}

/// Population std (ddof 0) over the finite values only, with their count. All non-finite →
/// (NaN, 0).
pub fn std_pop_finite_only(x: &[f64]) -> (f64, usize) {
    let fin: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    match std_pop(&fin) {
        Ok(s) => (s, fin.len()),
        Err(_) => (f64::NAN, 0),
    }
}

/// Trapezoid rule with unit spacing (NumPy `trapz(y)`): Σy − (y_0 + y_{n−1})/2; 0 for fewer
/// than 2 points. (E6b `grad_integral`.)
pub fn trapezoid_unit(y: &[f64]) -> f64 {
    if y.len() < 2 {
        return 0.0;
    }
    y.iter().sum::<f64>() - 0.5 * (y[0] + y[y.len() - 1])
}

/// Result of [`nonneg_least_squares`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstrainedFit {
    /// Coefficients, one per design column (0 for columns clamped to the bound).
    pub coef: Vec<f64>,
    /// Residual sum of squares.
    pub sse: f64,
    /// R² in the fitted space (NaN if y is constant).
    pub r2: f64,
    /// `clamped[j]` is true if column j was held at 0 (the active constraint set).
    pub clamped: Vec<bool>,
}

/// Exact least squares with sign constraints `coef[j] ≥ 0` for every j with `nonneg[j]`
/// (other coefficients are free), by enumerating all 2^k active sets of the k constrained
/// columns (k ≤ 10): for each set, solve the unconstrained problem with those coefficients
/// fixed at 0; keep the feasible solution (all constrained free coefficients ≥ 0) with the
/// smallest SSE. Because the problem is convex, the KKT point is one of the enumerated
/// candidates, so this is the exact NNLS optimum (not an iterative approximation).
/// Active sets whose reduced design is rank deficient are skipped.
pub fn nonneg_least_squares(columns: &[&[f64]], nonneg: &[bool], y: &[f64]) -> Result<ConstrainedFit> {
    check_len("nonneg_least_squares: columns vs nonneg", columns.len(), nonneg.len())?;
    for c in columns {
        check_len("nonneg_least_squares: column vs y", c.len(), y.len())?;
        check_finite("design column", c)?;
    }
    check_finite("y", y)?;
    check_min_points(columns.len().max(1), y.len())?;
    let constrained: Vec<usize> = (0..columns.len()).filter(|&j| nonneg[j]).collect();
    if constrained.len() > 10 {
        return Err(TheoryError::InvalidInput(format!(
            "{} constrained columns: active-set enumeration is limited to 10",
            constrained.len()
        )));
    }
    let mut best: Option<ConstrainedFit> = None;
    for mask in 0u32..(1u32 << constrained.len()) {
        let mut clamped = vec![false; columns.len()];
        for (b, &j) in constrained.iter().enumerate() {
            if mask & (1 << b) != 0 {
                clamped[j] = true;
            }
        }
        let free: Vec<usize> = (0..columns.len()).filter(|&j| !clamped[j]).collect();
        let cols: Vec<&[f64]> = free.iter().map(|&j| columns[j]).collect();
        let sol = match least_squares(&cols, y) {
            Ok(s) => s,
            Err(TheoryError::Degenerate(_)) => continue,
            Err(e) => return Err(e),
        };
        let mut coef = vec![0.0; columns.len()];
        for (k, &j) in free.iter().enumerate() {
            coef[j] = sol[k];
        }
        if free.iter().any(|&j| nonneg[j] && coef[j] < 0.0) {
            continue;
        }
        let pred: Vec<f64> = (0..y.len()).map(|i| columns.iter().zip(&coef).map(|(c, b)| c[i] * b).sum()).collect();
        let sse: f64 = y.iter().zip(&pred).map(|(a, b)| (a - b) * (a - b)).sum();
        if best.as_ref().is_none_or(|b| sse < b.sse) {
            best = Some(ConstrainedFit { coef, sse, r2: r_squared(y, &pred)?, clamped });
        }
    }
    best.ok_or_else(|| TheoryError::Degenerate("no feasible active set (design rank deficient)".into()))
}
