//! Convex-dominance toolkit (Bu, Xu & Mao 2026): schedules, the SGD bounds (2.3)/(2.4),
//! optimal peak learning rate, the discrete qualifying exam, Table-1 closed forms, and the
//! scaling-law fits (spec `convex-dominance.md` §2, §7, §8 and Appendix A).
//!
//! **Conventions** (Appendix A): a schedule of horizon T is the unit-peak shape
//! s_1..s_T (index t = 1..T), the learning rate is η_t = γ·s_t with peak γ. The shapes are
//! constant 1; 1/√t; linear 1 − t/(T+1); cosine (1 + cos(π t/(T+1)))/2; WSD(c) = 1 for
//! t ≤ cT, then (T+1−t)/(T+1−cT) (linear to 0 at t = T+1, so WSD(0) = linear); cyclic
//! triangles. Note that "WSD(0.2)" in the spec's exam table means a 20 % cool-down, i.e.
//! stable fraction c = 0.8.
//!
//! **Last-iterate bound (2.4)** (Defazio et al. 2023, Cor. 12; Schaipp's
//! `_compute_refined_rate`), for horizon τ:
//! E L(w_τ) − L* ≤ t1 + t2 + t3 with t1 = D²/(2Ση), t2 = Σ G_t²η_t²/(2Ση),
//! t3 = ½ Σ_{k=1}^{τ−1} [η_k / Σ_{t=k+1}^{τ} η_t]·[Σ_{t=k}^{τ} G_t²η_t² / Σ_{t=k}^{τ} η_t].
//! Suffix sums are accumulated backwards (no cancellation). With terms evaluated at unit
//! peak, the bound at peak γ is t1/γ + γ(t2+t3), minimised at γ* = √(t1/(t2+t3)) with value
//! 2√(t1(t2+t3)).
//!
//! **Averaged-iterate bound (2.3)**: t1 + t2 only.

use crate::error::{Result, TheoryError, check_finite, check_len, check_min_points};
use crate::fit::{ConstrainedFit, LineFit, nonneg_least_squares, ols_line};
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// A unit-peak learning-rate schedule shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// s_t = 1.
    Constant,
    /// s_t = 1/√t.
    InverseSqrt,
    /// s_t = 1 − t/(T+1).
    Linear,
    /// s_t = (1 + cos(π t/(T+1)))/2.
    Cosine,
    /// Warmup-stable-decay without warm-up: s_t = 1 for t ≤ cT, else (T+1−t)/(T+1−cT).
    /// `stable_fraction` c ∈ [0, 1); the cool-down is the last (1 − c)·T steps.
    Wsd {
        /// c, the fraction of the horizon at peak.
        stable_fraction: f64,
    },
    /// `cycles` triangles over the horizon: with x = cycles·t/(T+1) and u = frac(x),
    /// s_t = floor + (1 − floor)·(1 − |2u − 1|) (rises from `floor` to 1 and back).
    Cyclic {
        /// Number of triangles (≥ 1).
        cycles: usize,
        /// Minimum value of the shape, in [0, 1).
        floor: f64,
    },
}

impl Schedule {
    /// The shape s_1..s_T (unit peak) for horizon `t_total` ≥ 1.
    pub fn shape(&self, t_total: usize) -> Result<Vec<f64>> {
        check_min_points(1, t_total)?;
        let tp1 = (t_total + 1) as f64;
        let ts = 1..=t_total;
        Ok(match *self {
            Schedule::Constant => vec![1.0; t_total],
            Schedule::InverseSqrt => ts.map(|t| 1.0 / (t as f64).sqrt()).collect(),
            Schedule::Linear => ts.map(|t| 1.0 - t as f64 / tp1).collect(),
            Schedule::Cosine => ts.map(|t| 0.5 * (1.0 + (PI * t as f64 / tp1).cos())).collect(),
            Schedule::Wsd { stable_fraction: c } => {
                if !(c.is_finite() && (0.0..1.0).contains(&c)) {
                    return Err(TheoryError::InvalidInput(format!("WSD stable fraction {c} not in [0,1)")));
                }
                let ct = c * t_total as f64;
                ts.map(|t| {
                    let t = t as f64;
                    if t <= ct { 1.0 } else { (tp1 - t) / (tp1 - ct) }
                })
                .collect()
            }
            Schedule::Cyclic { cycles, floor } => {
                if cycles == 0 || !(floor.is_finite() && (0.0..1.0).contains(&floor)) {
                    return Err(TheoryError::InvalidInput(format!(
                        "cyclic schedule needs cycles ≥ 1 and floor in [0,1) (got {cycles}, {floor})"
                    )));
                }
                ts.map(|t| {
                    let x = cycles as f64 * t as f64 / tp1;
                    let u = x - x.floor();
                    floor + (1.0 - floor) * (1.0 - (2.0 * u - 1.0).abs())
                })
                .collect()
            }
        })
    }

    /// η_1..η_T = peak·s_t, optionally multiplied by a linear warm-up min(1, t/warmup).
    pub fn learning_rates(&self, t_total: usize, peak: f64, warmup_steps: usize) -> Result<Vec<f64>> {
        if warmup_steps > t_total {
            return Err(TheoryError::InvalidInput(format!(
                "a warm-up of {warmup_steps} steps is longer than the horizon T = {t_total}: \
                 the learning rate would never reach its peak {peak}"
            )));
        }
        let s = self.shape(t_total)?;
        Ok(with_linear_warmup(&s, warmup_steps).into_iter().map(|v| peak * v).collect())
    }
}

/// Multiplies a schedule by a linear warm-up factor min(1, t/w) for t = 1..T (w = 0: none).
pub fn with_linear_warmup(shape: &[f64], warmup_steps: usize) -> Vec<f64> {
    shape
        .iter()
        .enumerate()
        .map(|(i, s)| if warmup_steps == 0 { *s } else { s * ((i + 1) as f64 / warmup_steps as f64).min(1.0) })
        .collect()
}

/// The gradient second-moment bound G (constant) or a per-step profile G_1..G_T.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GradientBound<'a> {
    /// E‖g‖² ≤ G² at every step.
    Constant(f64),
    /// G_t for t = 1..T (length must equal the schedule's).
    PerStep(&'a [f64]),
}

/// The three terms of (2.4) (t1 + t2 are the terms of (2.3)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundTerms {
    /// D²/(2Ση): the 1/η_peak term.
    pub t1: f64,
    /// ΣG²η²/(2Ση).
    pub t2: f64,
    /// The last-iterate correction ½Σ_k (η_k/Σ_{t>k}η_t)(Σ_{t≥k}G²η²/Σ_{t≥k}η_t).
    pub t3: f64,
}

impl BoundTerms {
    /// t1 + t2 + t3: bound on E L(w_τ) − L* for the η that was passed.
    pub fn last_iterate(&self) -> f64 {
        self.t1 + self.t2 + self.t3
    }
    /// t1 + t2: the averaged-iterate bound (2.3) minus L*.
    pub fn averaged_iterate(&self) -> f64 {
        self.t1 + self.t2
    }
    /// If the terms were computed at unit peak: bound at peak γ = t1/γ + γ(t2 + t3).
    pub fn last_iterate_at_peak(&self, gamma: f64) -> f64 {
        self.t1 / gamma + gamma * (self.t2 + self.t3)
    }
    /// Optimal peak γ* = √(t1/(t2 + t3)) (terms at unit peak; Schaipp `compute_optimal_base`).
    pub fn optimal_peak(&self) -> f64 {
        (self.t1 / (self.t2 + self.t3)).sqrt()
    }
    /// Optimal last-iterate bound 2√(t1(t2 + t3)) (terms at unit peak).
    pub fn optimal_bound(&self) -> f64 {
        2.0 * (self.t1 * (self.t2 + self.t3)).sqrt()
    }
    /// Optimal peak of the averaged-iterate bound, √(t1/t2).
    pub fn optimal_peak_averaged(&self) -> f64 {
        (self.t1 / self.t2).sqrt()
    }
}

/// Terms of the last-iterate bound (2.4) for the full horizon of `eta` (η_1..η_T), O(T).
/// `eta` must be finite and ≥ 0 with Σ η > 0; `d` = ‖w_0 − w_*‖. If a step with η_k > 0 is
/// followed only by zero learning rates the bound is infinite and an error is returned.
pub fn last_iterate_bound_terms(eta: &[f64], g: GradientBound<'_>, d: f64) -> Result<BoundTerms> {
    last_iterate_bound_terms_prefix(eta, g, d, eta.len())
}

/// Terms of (2.4) at horizon τ ≤ T, i.e. using only η_1..η_τ (and G_1..G_τ).
pub fn last_iterate_bound_terms_prefix(eta: &[f64], g: GradientBound<'_>, d: f64, tau: usize) -> Result<BoundTerms> {
    check_finite("eta", eta)?;
    if tau == 0 || tau > eta.len() {
        return Err(TheoryError::InvalidInput(format!("horizon {tau} not in 1..={}", eta.len())));
    }
    if eta.iter().any(|v| *v < 0.0) {
        return Err(TheoryError::InvalidInput("negative learning rate".into()));
    }
    if !d.is_finite() {
        return Err(TheoryError::InvalidInput(format!("D = {d} is not finite")));
    }
    let eta = &eta[..tau];
    let e2: Vec<f64> = match g {
        GradientBound::Constant(gc) => {
            if !gc.is_finite() {
                return Err(TheoryError::InvalidInput(format!("G = {gc} is not finite")));
            }
            eta.iter().map(|e| e * e * gc * gc).collect()
        }
        GradientBound::PerStep(gs) => {
            if gs.len() < tau {
                return Err(TheoryError::LengthMismatch { what: "G_t profile vs horizon", left: gs.len(), right: tau });
            }
            check_finite("G_t", &gs[..tau])?;
            eta.iter().zip(gs).map(|(e, gt)| e * e * gt * gt).collect()
        }
    };
    // Backward suffix sums: suf[k] = Σ_{t≥k} η_t, suf2[k] = Σ_{t≥k} G_t²η_t² (0-based k).
    let mut suf = vec![0.0; tau + 1];
    let mut suf2 = vec![0.0; tau + 1];
    for k in (0..tau).rev() {
        suf[k] = suf[k + 1] + eta[k];
        suf2[k] = suf2[k + 1] + e2[k];
    }
    let s = suf[0];
    if s.is_nan() || s <= 0.0 {
        return Err(TheoryError::InvalidInput("sum of learning rates is zero".into()));
    }
    let t1 = d * d / (2.0 * s);
    let t2 = suf2[0] / (2.0 * s);
    let mut t3 = 0.0;
    for k in 0..tau.saturating_sub(1) {
        if eta[k] == 0.0 {
            continue;
        }
        if suf[k + 1] <= 0.0 {
            return Err(TheoryError::Degenerate(format!(
                "step {} has η > 0 but all later learning rates are 0: the last-iterate bound is infinite",
                k + 1
            )));
        }
        t3 += 0.5 * (eta[k] / suf[k + 1]) * (suf2[k] / suf[k]);
    }
    Ok(BoundTerms { t1, t2, t3 })
}

/// Features of the Gen. 1 model (3.1) at horizons `taus` (each in 1..=T), O(T) per horizon:
/// f1(τ) = 1/(2Σ_{t≤τ}η_t) and f2(τ) = (t2 + t3)(τ) with G = 1, so that
/// L(τ) ≈ L̃∞ + D̃²·f1 + G̃²·f2 (spec §2.8; fit with [`fit_last_iterate_model`]).
pub fn last_iterate_features(eta: &[f64], taus: &[usize]) -> Result<Vec<(f64, f64)>> {
    taus.iter()
        .map(|&tau| {
            let b = last_iterate_bound_terms_prefix(eta, GradientBound::Constant(1.0), 1.0, tau)?;
            Ok((b.t1, b.t2 + b.t3))
        })
        .collect()
}

/// One row of the discrete qualifying exam.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExamPoint {
    /// Horizon T.
    pub t: usize,
    /// √T · (t1 + t2 + t3) with η_t = s_t/√T (η_ref = 1).
    pub sqrt_t_bound: f64,
}

/// Result of [`qualifying_exam`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamResult {
    /// √T·bound per horizon.
    pub points: Vec<ExamPoint>,
    /// OLS slope of ln(√T·bound) on ln T: ≈ 0 for a qualified schedule (bound = O(1/√T)).
    pub loglog_slope: f64,
    /// OLS slope of √T·bound on log10 T: the growth per decade (½ ln 10 ≈ 1.151 for the
    /// constant schedule, whose bound carries a ln T factor).
    pub growth_per_decade: f64,
}

/// The discrete qualifying exam (Condition 2.5 with sums instead of integrals, spec §2.6):
/// for each horizon T, η_t = s_t(T)/√T (η_ref = 1) and the value √T·(t1 + t2 + t3) of (2.4)
/// with the given D and G; plus the log-log slope and the per-decade growth across horizons
/// (needs ≥ 2 horizons).
pub fn qualifying_exam(schedule: &Schedule, horizons: &[usize], d: f64, g: f64) -> Result<ExamResult> {
    check_min_points(2, horizons.len())?;
    let mut points = Vec::with_capacity(horizons.len());
    for &t in horizons {
        let r = (t as f64).sqrt();
        let eta: Vec<f64> = schedule.shape(t)?.into_iter().map(|s| s / r).collect();
        let b = last_iterate_bound_terms(&eta, GradientBound::Constant(g), d)?;
        points.push(ExamPoint { t, sqrt_t_bound: r * b.last_iterate() });
    }
    let lt: Vec<f64> = points.iter().map(|p| (p.t as f64).ln()).collect();
    let lv: Vec<f64> = points.iter().map(|p| p.sqrt_t_bound.ln()).collect();
    let l10: Vec<f64> = points.iter().map(|p| (p.t as f64).log10()).collect();
    let v: Vec<f64> = points.iter().map(|p| p.sqrt_t_bound).collect();
    Ok(ExamResult { loglog_slope: ols_line(&lt, &lv)?.slope, growth_per_decade: ols_line(&l10, &v)?.slope, points })
}

/// Table-1 closed form of a schedule: excess bound a/η + b·η in the peak η.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClosedForm {
    /// Coefficient of 1/η_peak.
    pub a: f64,
    /// Coefficient of η_peak.
    pub b: f64,
}

impl ClosedForm {
    /// Excess bound a/η + bη at peak η.
    pub fn excess_at(&self, eta: f64) -> f64 {
        self.a / eta + self.b * eta
    }
    /// Optimal peak √(a/b).
    pub fn optimal_peak(&self) -> f64 {
        (self.a / self.b).sqrt()
    }
    /// Optimal excess 2√(ab).
    pub fn optimal_excess(&self) -> f64 {
        2.0 * (self.a * self.b).sqrt()
    }
}

/// The paper's cosine constant (Table 1), printed as 1.061.
pub const COSINE_CONSTANT: f64 = 1.061;

/// Table 1 of the paper (spec §2.4), bound on E L(w_T) − L* = a/η + bη:
/// constant a = D²/(2T), b = G² ln T/2; 1/√t a = D²/(4√T), b = G² ln T/(4√T);
/// linear a = D²/T, b = G²; cosine a = D²/T, b = 1.061 G²; WSD(c) a = D²/((1+c)T),
/// b = G²[1 + ½ ln((1+c)/(1−c))]. Optimal peak √(a/b), optimal excess 2√(ab). Cyclic
/// schedules have no closed form (error).
pub fn table1_closed_form(schedule: &Schedule, t_total: usize, d: f64, g: f64) -> Result<ClosedForm> {
    check_min_points(2, t_total)?;
    let t = t_total as f64;
    let (d2, g2) = (d * d, g * g);
    Ok(match *schedule {
        Schedule::Constant => ClosedForm { a: d2 / (2.0 * t), b: g2 * t.ln() / 2.0 },
        Schedule::InverseSqrt => ClosedForm { a: d2 / (4.0 * t.sqrt()), b: g2 * t.ln() / (4.0 * t.sqrt()) },
        Schedule::Linear => ClosedForm { a: d2 / t, b: g2 },
        Schedule::Cosine => ClosedForm { a: d2 / t, b: COSINE_CONSTANT * g2 },
        Schedule::Wsd { stable_fraction: c } => {
            if !(c.is_finite() && (0.0..1.0).contains(&c)) {
                return Err(TheoryError::InvalidInput(format!("WSD stable fraction {c} not in [0,1)")));
            }
            ClosedForm { a: d2 / ((1.0 + c) * t), b: g2 * (1.0 + 0.5 * ((1.0 + c) / (1.0 - c)).ln()) }
        }
        Schedule::Cyclic { .. } => {
            return Err(TheoryError::InvalidInput("Table 1 has no closed form for cyclic schedules".into()));
        }
    })
}

/// Gen. 3 / Gen. 4 fit: OLS of the final loss on x = 1/√T.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InverseSqrtFit {
    /// Intercept L̃∞ (a fit-dependent number, not an observable; spec §7).
    pub l_inf: f64,
    /// Slope (2q̃₁q̃₂ for Gen. 3, Q̃(η_ref) for Gen. 4).
    pub slope: f64,
    /// R² in linear loss space.
    pub r2: f64,
    /// Number of horizons.
    pub n: usize,
    /// The underlying line fit in x = 1/√T.
    pub line: LineFit,
}

/// A prediction of the 1/√T model with its standard errors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Predicted loss.
    pub value: f64,
    /// Standard error of the fitted mean at that T: s·√(1/n + (x0 − x̄)²/Sxx),
    /// s² = SS_res/(n − 2) (NaN if n ≤ 2).
    pub se_mean: f64,
    /// Standard error for a new observation: s·√(1 + 1/n + (x0 − x̄)²/Sxx).
    pub se_prediction: f64,
}

impl InverseSqrtFit {
    /// Predicted loss L̃∞ + slope/√T with standard errors.
    pub fn predict(&self, t: f64) -> Prediction {
        let x0 = 1.0 / t.sqrt();
        let n = self.line.n as f64;
        let s = if self.line.n > 2 { (self.line.ss_res / (n - 2.0)).sqrt() } else { f64::NAN };
        let h = 1.0 / n + (x0 - self.line.x_mean).powi(2) / self.line.sxx;
        Prediction { value: self.line.predict(x0), se_mean: s * h.sqrt(), se_prediction: s * (1.0 + h).sqrt() }
    }
    /// Relative prediction errors (pred − L)/L at held-out horizons.
    pub fn relative_errors(&self, horizons: &[f64], losses: &[f64]) -> Result<Vec<f64>> {
        check_len("relative_errors: horizons vs losses", horizons.len(), losses.len())?;
        Ok(horizons.iter().zip(losses).map(|(t, l)| (self.predict(*t).value - l) / l).collect())
    }
}

fn check_horizons(h: &[f64]) -> Result<()> {
    check_finite("horizons", h)?;
    if let Some(i) = h.iter().position(|v| *v <= 0.0) {
        return Err(TheoryError::InvalidInput(format!("horizon[{i}] = {} must be > 0", h[i])));
    }
    Ok(())
}

/// Gen. 3/4 and the Chinchilla Table-2 procedure (spec §7, Appendix A): OLS of the loss on
/// 1/√T (T = tokens = FLOP/(6N) for Chinchilla). Intercept = L̃∞, slope = 2q̃₁q̃₂.
/// Needs ≥ 2 distinct horizons.
pub fn fit_inverse_sqrt(horizons: &[f64], losses: &[f64]) -> Result<InverseSqrtFit> {
    check_len("fit_inverse_sqrt: horizons vs losses", horizons.len(), losses.len())?;
    check_horizons(horizons)?;
    let x: Vec<f64> = horizons.iter().map(|t| 1.0 / t.sqrt()).collect();
    let line = ols_line(&x, losses)?;
    Ok(InverseSqrtFit { l_inf: line.intercept, slope: line.slope, r2: line.r2, n: line.n, line })
}

/// Result of [`fit_free_exponent`]: L = E + A·T^{−a}.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreeExponentFit {
    /// Best exponent on the grid.
    pub a: f64,
    /// Intercept E at that exponent.
    pub e: f64,
    /// Amplitude A at that exponent.
    pub amplitude: f64,
    /// R² (linear loss space) at that exponent.
    pub r2: f64,
    /// The profile (a, R², E) over the whole grid, to show how E depends on a.
    pub profile: Vec<(f64, f64, f64)>,
}

/// Free-exponent fit (spec §7): for a on the grid 0.05, 0.06, …, 1.50 (a_i = (5+i)/100,
/// i = 0..=145), OLS of L on T^{−a}; keep the a with the highest R² (first on ties).
/// Needs ≥ 3 horizons.
pub fn fit_free_exponent(horizons: &[f64], losses: &[f64]) -> Result<FreeExponentFit> {
    check_len("fit_free_exponent: horizons vs losses", horizons.len(), losses.len())?;
    check_min_points(3, horizons.len())?;
    check_horizons(horizons)?;
    let mut profile = Vec::with_capacity(146);
    let mut best: Option<(f64, LineFit)> = None;
    for i in 0..=145 {
        let a = (5 + i) as f64 / 100.0;
        let x: Vec<f64> = horizons.iter().map(|t| t.powf(-a)).collect();
        let f = ols_line(&x, losses)?;
        profile.push((a, f.r2, f.intercept));
        if best.as_ref().is_none_or(|(_, b)| f.r2 > b.r2) {
            best = Some((a, f));
        }
    }
    let (a, f) = best.ok_or_else(|| TheoryError::Degenerate("empty exponent grid".into()))?;
    Ok(FreeExponentFit { a, e: f.intercept, amplitude: f.slope, r2: f.r2, profile })
}

impl FreeExponentFit {
    /// The fitted curve E + A·t^{−a} at `t` (> 0); used as the schedule-agnostic baseline
    /// L(t) = E + A·t^{−a} of spec §9 Exp. 2, with t the step.
    pub fn predict(&self, t: f64) -> f64 {
        self.e + self.amplitude * t.powf(-self.a)
    }
}

/// Gen. 1 fit result: L(τ) = L̃∞ + D̃²·f1(τ) + G̃²·f2(τ) with D̃², G̃² ≥ 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastIterateModelFit {
    /// L̃∞ (free).
    pub l_inf: f64,
    /// D̃² ≥ 0.
    pub d2: f64,
    /// G̃² ≥ 0.
    pub g2: f64,
    /// The underlying constrained fit (SSE, R², active set).
    pub fit: ConstrainedFit,
}

/// Gen. 1 (eq. 3.1) as the 3-variable non-negative least squares of spec §2.8: the model is
/// linear in (L̃∞, D̃², G̃²) with features (1, f1, f2) from [`last_iterate_features`];
/// solved exactly by active-set enumeration.
pub fn fit_last_iterate_model(f1: &[f64], f2: &[f64], losses: &[f64]) -> Result<LastIterateModelFit> {
    check_len("fit_last_iterate_model: f1 vs losses", f1.len(), losses.len())?;
    check_len("fit_last_iterate_model: f2 vs losses", f2.len(), losses.len())?;
    let ones = vec![1.0; losses.len()];
    let fit = nonneg_least_squares(&[&ones, f1, f2], &[false, true, true], losses)?;
    Ok(LastIterateModelFit { l_inf: fit.coef[0], d2: fit.coef[1], g2: fit.coef[2], fit })
}

impl LastIterateModelFit {
    /// The model L̃∞ + D̃²·f1 + G̃²·f2 at features (f1, f2) of [`last_iterate_features`] — of
    /// the schedule the fit came from (prediction of later iterates, spec §9 Exp. 2) or of
    /// another schedule on the same problem (the cross-schedule extension, no refit).
    pub fn predict(&self, f1: f64, f2: f64) -> f64 {
        self.l_inf + self.d2 * f1 + self.g2 * f2
    }
}

/// The loss drop of a cool-down (WSD) on a loss curve, spec §9 Exp. 2 ("the WSD drop is at
/// the right time and of the right size").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CooldownDrop {
    /// Step of the curve point where the drop is measured from: the last point at or before
    /// the cool-down start.
    pub start_step: f64,
    /// Loss level before the cool-down: the mean loss over the points with
    /// `start_step − level_window ≤ step ≤ start_step` (the loss at `start_step` alone when the
    /// window is 0).
    pub start_loss: f64,
    /// Loss at the last point of the curve.
    pub end_loss: f64,
    /// Size of the drop, `start_loss − end_loss` (negative if the loss rose).
    pub size: f64,
    /// Half-drop time: the first step ≥ `start_step` whose loss is ≤ start_loss − size/2
    /// (NaN if the drop is not positive).
    pub half_step: f64,
}

/// Measures the drop of a loss curve (points `(steps[i], losses[i])`, steps increasing) after
/// a cool-down that starts at step `start`: size = (level before the cool-down) − L(last point)
/// and the half-drop time (first point at or after the last pre-cool-down point at which half
/// of the drop is reached). The level is the mean over the points within `level_window` steps
/// before the last point ≤ `start` (0: that point alone); averaging keeps the SGD noise of a
/// single point at peak learning rate out of the level. The same function applied to an
/// observed and a predicted curve gives the time and size errors of Exp. 2. Needs a point at
/// or before `start` and one after it; all losses finite; `level_window` ≥ 0.
pub fn cooldown_drop(steps: &[f64], losses: &[f64], start: f64, level_window: f64) -> Result<CooldownDrop> {
    if !(level_window.is_finite() && level_window >= 0.0) {
        return Err(TheoryError::InvalidInput(format!("cooldown_drop: level window {level_window} must be ≥ 0")));
    }
    check_len("cooldown_drop: steps vs losses", steps.len(), losses.len())?;
    check_finite("steps", steps)?;
    check_finite("losses", losses)?;
    if steps.windows(2).any(|w| w[1] <= w[0]) {
        return Err(TheoryError::InvalidInput("cooldown_drop: steps must increase".into()));
    }
    let i0 = steps.partition_point(|s| *s <= start);
    if i0 == 0 || i0 == steps.len() {
        return Err(TheoryError::InvalidInput(format!(
            "cooldown_drop: start {start} needs curve points before and after it"
        )));
    }
    let i0 = i0 - 1;
    let lo = steps[i0] - level_window;
    let level: Vec<f64> = (0..=i0).filter(|&i| steps[i] >= lo).map(|i| losses[i]).collect();
    let start_loss = level.iter().sum::<f64>() / level.len() as f64;
    let end_loss = losses[losses.len() - 1];
    let size = start_loss - end_loss;
    let half_step = if size > 0.0 {
        let target = start_loss - 0.5 * size;
        (i0..steps.len()).find(|&i| losses[i] <= target).map_or(f64::NAN, |i| steps[i])
    } else {
        f64::NAN
    };
    Ok(CooldownDrop { start_step: steps[i0], start_loss, end_loss, size, half_step })
}

/// Gen. 2 fit result: L = L̃∞ + q̃₁²/(Tη) + q̃₂²·η.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeakLrModelFit {
    /// L̃∞ (free).
    pub l_inf: f64,
    /// q̃₁² ≥ 0.
    pub q1_sq: f64,
    /// q̃₂² ≥ 0.
    pub q2_sq: f64,
    /// The underlying constrained fit.
    pub fit: ConstrainedFit,
}

impl PeakLrModelFit {
    /// Predicted optimal peak at horizon T: q̃₁/(q̃₂√T).
    pub fn optimal_peak(&self, t: f64) -> f64 {
        (self.q1_sq / self.q2_sq).sqrt() / t.sqrt()
    }
}

/// Gen. 2 (eq. 4.1) with features (1, 1/(Tη), η) and non-negative q̃₁², q̃₂² (spec §2.8).
pub fn fit_peak_lr_model(horizons: &[f64], peaks: &[f64], losses: &[f64]) -> Result<PeakLrModelFit> {
    check_len("fit_peak_lr_model: horizons vs losses", horizons.len(), losses.len())?;
    check_len("fit_peak_lr_model: peaks vs losses", peaks.len(), losses.len())?;
    check_horizons(horizons)?;
    check_horizons(peaks)?;
    let ones = vec![1.0; losses.len()];
    let f1: Vec<f64> = horizons.iter().zip(peaks).map(|(t, e)| 1.0 / (t * e)).collect();
    let fit = nonneg_least_squares(&[&ones, &f1, peaks], &[false, true, true], losses)?;
    Ok(PeakLrModelFit { l_inf: fit.coef[0], q1_sq: fit.coef[1], q2_sq: fit.coef[2], fit })
}

/// Percentile bootstrap interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootstrapInterval {
    /// Statistic on the original sample (identity resample); NaN if it returned `None`.
    pub estimate: f64,
    /// Lower percentile (1 − level)/2.
    pub lower: f64,
    /// Upper percentile (1 + level)/2.
    pub upper: f64,
    /// Number of resamples whose statistic was finite (failed resamples are dropped).
    pub n_valid: usize,
}

/// Percentile bootstrap over `n_items` units (e.g. seeds): each of `n_resamples` resamples
/// draws `n_items` indices with replacement from [`SplitMix64`] seeded with `seed` (fully
/// reproducible), evaluates `statistic(indices)`, and the interval is given by the
/// (1 ∓ level)/2 percentiles of the finite results (linear interpolation between order
/// statistics, NumPy's default). Resamples where the statistic returns `None` or a
/// non-finite value are dropped; fewer than 2 valid resamples is an error.
pub fn bootstrap_percentile_interval<F>(
    n_items: usize,
    mut statistic: F,
    n_resamples: usize,
    level: f64,
    seed: u64,
) -> Result<BootstrapInterval>
where
    F: FnMut(&[usize]) -> Option<f64>,
{
    check_min_points(1, n_items)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(TheoryError::InvalidInput(format!("confidence level {level} not in (0,1)")));
    }
    let identity: Vec<usize> = (0..n_items).collect();
    let estimate = statistic(&identity).unwrap_or(f64::NAN);
    let mut rng = SplitMix64::new(seed);
    let mut idx = vec![0usize; n_items];
    let mut vals = Vec::with_capacity(n_resamples);
    for _ in 0..n_resamples {
        for v in idx.iter_mut() {
            *v = rng.below(n_items as u64) as usize;
        }
        if let Some(s) = statistic(&idx).filter(|s| s.is_finite()) {
            vals.push(s);
        }
    }
    check_min_points(2, vals.len())?;
    vals.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| {
        let pos = p * (vals.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        vals[lo] + (vals[hi] - vals[lo]) * (pos - lo as f64)
    };
    Ok(BootstrapInterval {
        estimate,
        lower: q((1.0 - level) / 2.0),
        upper: q((1.0 + level) / 2.0),
        n_valid: vals.len(),
    })
}

/// Parabolic location of a minimum in log η.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ParabolicMin {
    /// η* = exp(vertex).
    pub eta_star: f64,
    /// Vertex in ln η.
    pub log_eta_star: f64,
    /// Loss of the parabola at the vertex.
    pub loss_at_min: f64,
    /// Second-derivative coefficient of the parabola in ln η (> 0).
    pub curvature: f64,
    /// Index (in ascending-η order of the finite points) of the best grid point.
    pub best_index: usize,
}

/// η* by a parabola through the best grid point and its two neighbours in x = ln η (spec
/// §8/§9 Exp. 1). Points with non-finite loss are ignored; the grid is sorted by η. Errors:
/// best point at either end of the grid ([`TheoryError::MinimumAtBoundary`]), or a
/// non-convex triple (`Degenerate`).
pub fn parabolic_min_log_eta(etas: &[f64], losses: &[f64]) -> Result<ParabolicMin> {
    check_len("parabolic_min_log_eta: etas vs losses", etas.len(), losses.len())?;
    check_horizons(etas)?;
    let mut pts: Vec<(f64, f64)> =
        etas.iter().zip(losses).filter(|(_, l)| l.is_finite()).map(|(e, l)| (e.ln(), *l)).collect();
    check_min_points(3, pts.len())?;
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let best = (0..pts.len()).min_by(|&i, &j| pts[i].1.total_cmp(&pts[j].1)).unwrap_or(0);
    if best == 0 || best + 1 == pts.len() {
        return Err(TheoryError::MinimumAtBoundary { index: best, len: pts.len() });
    }
    let (x0, y0) = pts[best - 1];
    let (x1, y1) = pts[best];
    let (x2, y2) = pts[best + 1];
    if x0 == x1 || x1 == x2 {
        return Err(TheoryError::Degenerate("duplicate learning rates around the minimum".into()));
    }
    // Newton divided differences: y = y0 + d1 (x − x0) + c (x − x0)(x − x1).
    let d01 = (y1 - y0) / (x1 - x0);
    let d12 = (y2 - y1) / (x2 - x1);
    let c = (d12 - d01) / (x2 - x0);
    if c.is_nan() || c <= 0.0 {
        return Err(TheoryError::Degenerate("the three points around the minimum are not convex".into()));
    }
    let xv = 0.5 * (x0 + x1) - d01 / (2.0 * c);
    let yv = y0 + d01 * (xv - x0) + c * (xv - x0) * (xv - x1);
    Ok(ParabolicMin { eta_star: xv.exp(), log_eta_star: xv, loss_at_min: yv, curvature: c, best_index: best })
}

/// Log-symmetry ratio of a learning-rate curve around its optimum (spec §9 Exp. 1 (d)):
/// r_k = [L(kη*) − L(η*/k)] / [L(kη*) + L(η*/k) − 2L(η*)]. Gen. 2's Q(η) = 2q₁q₂cosh(ln η/η*)
/// is symmetric in ln η, so it predicts r_k = 0; |r_k| > 0.5 is strong asymmetry (positive:
/// the large-η side is worse). `loss_at` evaluates the curve (e.g. a fitted interpolant); NaN
/// if the denominator is not positive.
pub fn log_symmetry_ratio(loss_at: impl Fn(f64) -> f64, eta_star: f64, k: f64) -> f64 {
    let (hi, lo, mid) = (loss_at(k * eta_star), loss_at(eta_star / k), loss_at(eta_star));
    let den = hi + lo - 2.0 * mid;
    if den.is_finite() && den > 0.0 { (hi - lo) / den } else { f64::NAN }
}

/// Piecewise-linear interpolation of (x, y) points sorted by x at `x0` (NaN outside the range
/// or if either neighbour is not finite). Used with x = ln η for [`log_symmetry_ratio`].
pub fn interp_linear(xs: &[f64], ys: &[f64], x0: f64) -> f64 {
    if xs.len() != ys.len() || xs.is_empty() || !(x0 >= xs[0] && x0 <= xs[xs.len() - 1]) {
        return f64::NAN;
    }
    let i = xs.partition_point(|x| *x < x0);
    if i == 0 {
        return ys[0];
    }
    let (x_a, x_b, y_a, y_b) = (xs[i - 1], xs[i], ys[i - 1], ys[i]);
    if x_b == x_a {
        return y_b;
    }
    y_a + (y_b - y_a) * (x0 - x_a) / (x_b - x_a)
}
