//! Shared machinery of E08 and E12 (spec E01–E12 §1.7–1.9): one "arm" (an architecture × loss
//! on GM-200) is a full Hessian + c_k at θ0 per seed plus a learning-rate × seed grid of GD
//! runs; [`CrossoverPlan::analyse`] turns them into converged-only seed means of S_meas, S_pred
//! and drift, fits, prediction quality R and relative errors under both predictor rules.
//!
//! * **Reference** (`exp_spectral_prediction_v1.py`, `exp_hessian_4way_v1.py`): a run is
//!   converged iff it did not diverge; seed means of S_meas, S_pred (reference unstable-mode
//!   rule, which adds c_k·T/|D| for modes with ηλ ≥ 2) and drift are over the converged seeds
//!   of each η; an η is dropped only if no seed converged. R = Pearson of the logs over the η
//!   kept (§1.9).
//! * **Robust**: (a) the honest rule — if any seed has a mode with ηλ > 2 at θ0 the linearised
//!   formula does not apply and that η leaves the comparison (counted); (b) the sub-EoS window
//!   η ≤ `robust_max_lr` with the reference rule.

use noether_theory::crossover::{
    UnstableModeRule, null_prediction_quality_r, prediction_quality_r, spectral_crossover_s_pred,
};
use noether_theory::fit::{FitMask, PowerLawFit};
use noether_train::OptimizerKind;
use serde::{Deserialize, Serialize};

use super::common::{Sweep, abs_drift, identity_violation, imbalance_s, predicted_drift};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule};
use crate::experiment::{Table, fmt};
use crate::job::{HessianJob, Job, Measure, ProblemSpec};
use crate::plot::{Axis, Figure, Series};
use crate::problem::Problem;
use crate::results::HessianResult;
use crate::results::Results;

/// One architecture × loss of the comparison.
#[derive(Clone, Copy, Debug)]
pub struct Arm {
    pub name: &'static str,
    /// σ_ε: 0 = linear, 1 = ReLU.
    pub activation_eps: f64,
    /// Loss (1 − w)·MSE + w·CE.
    pub ce_weight: f64,
}

impl Arm {
    /// `base` with this arm's activation and loss.
    pub fn problem(&self, base: &Problem) -> Problem {
        base.with_activation_eps(self.activation_eps).with_ce_weight(self.ce_weight)
    }
}

/// The jobs of one arm: a Hessian (with c_k) at θ0 per seed and the η × seed GD grid.
pub struct CrossoverPlan {
    pub arm: Arm,
    pub hessians: Vec<Job>,
    pub sweep: Sweep,
}

impl CrossoverPlan {
    pub fn new(arm: Arm, lrs: &[f64], seeds: &[u64], steps: usize, problem: impl Fn(u64) -> ProblemSpec) -> Self {
        let hessians = seeds
            .iter()
            .map(|&s| Job::Hessian(HessianJob { problem: problem(s), train_steps: 0, train_lr: 0.0, ck: true }))
            .collect();
        let sweep = Sweep::new(lrs, seeds, steps, OptimizerKind::Gd, &Measure::default(), problem);
        CrossoverPlan { arm, hessians, sweep }
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.hessians.iter().cloned().chain(self.sweep.all_jobs()).collect()
    }

    /// Everything E08/E12 report for this arm; `t_pred` is the predictor's T (the reference
    /// uses its training length, 2000).
    pub fn analyse(&self, results: &Results, t_pred: usize, robust_max_lr: f64) -> Result<ArmAnalysis, LabError> {
        let etas = self.sweep.lrs.clone();
        let hess: Vec<&HessianResult> = self.hessians.iter().map(|j| results.hessian(j)).collect::<Result<_, _>>()?;
        let converged = self.sweep.matrix(results, |_| 1.0)?;
        let s_meas_m = self.sweep.matrix(results, imbalance_s)?;
        let drift_m = self.sweep.matrix(results, abs_drift)?;
        let eta2s_m = self.sweep.matrix(results, predicted_drift)?;
        let mut pred_ref_m = Vec::new();
        let mut pred_honest_m = Vec::new();
        let mut n_unstable = Vec::new();
        let mut honest_applies = Vec::new();
        for (i, &eta) in etas.iter().enumerate() {
            let (mut row_ref, mut row_honest, mut unst) = (Vec::new(), Vec::new(), Vec::new());
            let mut applies = true;
            for (s, h) in hess.iter().enumerate() {
                let ck =
                    h.ck.as_ref().ok_or_else(|| LabError::analysis(self.arm.name, "a θ0 Hessian came without c_k"))?;
                let r = spectral_crossover_s_pred(&h.eigenvalues, ck, eta, t_pred, UnstableModeRule::Reference)?;
                let hon = spectral_crossover_s_pred(&h.eigenvalues, ck, eta, t_pred, UnstableModeRule::Honest)?;
                // The honest rule's verdict is about the formula, so it counts for every seed.
                applies &= hon.applies;
                unst.push(r.n_unstable + r.n_marginal);
                // Converged-only: a diverged seed's prediction leaves the mean with its run.
                let ok = converged[i][s].is_finite();
                row_ref.push(if ok { r.s_pred } else { f64::NAN });
                row_honest.push(if ok { hon.s_pred } else { f64::NAN });
            }
            pred_ref_m.push(row_ref);
            pred_honest_m.push(row_honest);
            n_unstable.push(unst);
            honest_applies.push(applies);
        }
        let s_meas = Curve::from_seeds(&etas, &s_meas_m, SeedRule::FiniteOnly);
        let s_pred = Curve::from_seeds(&etas, &pred_ref_m, SeedRule::FiniteOnly);
        let drift = Curve::from_seeds(&etas, &drift_m, SeedRule::FiniteOnly);
        let eta2s = Curve::from_seeds(&etas, &eta2s_m, SeedRule::FiniteOnly);
        // Honest: exact geometric sums; an η where the formula refuses for some seed is dropped.
        let honest_curve = Curve::from_seeds(&etas, &pred_honest_m, SeedRule::FiniteOnly);
        let s_pred_honest: Vec<f64> =
            honest_curve.mean.iter().zip(&honest_applies).map(|(&p, &ok)| if ok { p } else { f64::NAN }).collect();
        let rel_err: Vec<f64> = s_pred.mean.iter().zip(&s_meas.mean).map(|(p, m)| (p - m).abs() / m).collect();
        let in_window: Vec<bool> = etas.iter().map(|&e| e <= robust_max_lr * (1.0 + 1e-12)).collect();
        let windowed =
            |v: &[f64]| -> Vec<f64> { v.iter().zip(&in_window).map(|(&x, &w)| if w { x } else { f64::NAN }).collect() };
        let r_of = |p: &[f64], m: &[f64]| prediction_quality_r(p, m).ok().map(|q| (q.r, q.kept.len()));
        let n_conv = s_meas.n_used.clone();
        let honest_dropped = (0..etas.len()).filter(|&i| !honest_applies[i] && n_conv[i] > 0).count();
        Ok(ArmAnalysis {
            arm: self.arm.name,
            n_seeds: self.sweep.seeds.len(),
            r_reference: r_of(&s_pred.mean, &s_meas.mean),
            r_honest: r_of(&s_pred_honest, &s_meas.mean),
            r_window: r_of(&windowed(&s_pred.mean), &windowed(&s_meas.mean)),
            r_null: null_prediction_quality_r(&etas, &s_pred.mean, &s_meas.mean).ok().map(|q| (q.r, q.kept.len())),
            alpha_drift: drift.alpha(FitMask::GT_1E15_FINITE),
            alpha_drift_window: drift.window(robust_max_lr).alpha(FitMask::GT_1E15_FINITE),
            fit_s: s_meas.alpha(FitMask::GT_1E15_FINITE),
            fit_s_window: s_meas.window(robust_max_lr).alpha(FitMask::GT_1E15_FINITE),
            identity_violation: identity_violation(&drift_m, &eta2s_m),
            drift_seeds: drift_m,
            spectra: hess.iter().map(|h| EigenStats::of(&h.eigenvalues, h.ck.as_deref())).collect(),
            positive_eigs_seed0: hess
                .first()
                .map(|h| h.eigenvalues.iter().copied().filter(|&l| l > EIG_ZERO).collect())
                .unwrap_or_default(),
            etas,
            s_meas,
            s_pred,
            s_pred_honest,
            honest_applies,
            honest_dropped,
            n_unstable,
            rel_err,
            drift,
            eta2s,
            robust_max_lr,
        })
    }
}

/// Eigenvalues with |λ| ≤ this count as zero (the reference's 1e−8).
pub const EIG_ZERO: f64 = 1e-8;

/// Spectrum statistics of one Hessian (spec E12 "eigen stats").
#[derive(Clone, Debug, Serialize)]
pub struct EigenStats {
    pub n_pos: usize,
    pub n_neg: usize,
    pub n_zero: usize,
    pub max: f64,
    pub min: f64,
    pub median_pos: f64,
    pub mean_pos: f64,
    /// Σλ₊ / λ₊max.
    pub effective_rank: f64,
    /// λ₊max / median(λ₊).
    pub spectral_width: f64,
    /// c_k > 1e−12.
    pub ck_nonzero: Option<usize>,
    /// Σ c_k = |δ(0)|.
    pub ck_total: Option<f64>,
}

impl EigenStats {
    pub fn of(eigs: &[f64], ck: Option<&[f64]>) -> Self {
        let mut pos: Vec<f64> = eigs.iter().copied().filter(|&l| l > EIG_ZERO).collect();
        pos.sort_by(f64::total_cmp);
        let n_pos = pos.len();
        let n_neg = eigs.iter().filter(|&&l| l < -EIG_ZERO).count();
        let median_pos = match n_pos {
            0 => f64::NAN,
            n if n % 2 == 1 => pos[n / 2],
            n => 0.5 * (pos[n / 2 - 1] + pos[n / 2]),
        };
        let sum_pos: f64 = pos.iter().sum();
        let max_pos = pos.last().copied().unwrap_or(f64::NAN);
        EigenStats {
            n_pos,
            n_neg,
            n_zero: eigs.len() - n_pos - n_neg,
            max: eigs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            min: eigs.iter().copied().fold(f64::INFINITY, f64::min),
            median_pos,
            mean_pos: if n_pos > 0 { sum_pos / n_pos as f64 } else { f64::NAN },
            effective_rank: sum_pos / max_pos,
            spectral_width: max_pos / median_pos,
            ck_nonzero: ck.map(|c| c.iter().filter(|&&v| v > 1e-12).count()),
            ck_total: ck.map(|c| c.iter().sum()),
        }
    }
}

/// What one arm measured.
#[derive(Clone, Debug, Serialize)]
pub struct ArmAnalysis {
    pub arm: &'static str,
    pub n_seeds: usize,
    pub etas: Vec<f64>,
    /// Converged-only seed means.
    pub s_meas: Curve,
    /// Reference-rule prediction, mean over the converged seeds of each η.
    pub s_pred: Curve,
    /// `s_pred` where the honest rule applies for every seed, NaN where it refuses.
    pub s_pred_honest: Vec<f64>,
    pub honest_applies: Vec<bool>,
    /// η with some converged seed that the honest rule drops.
    pub honest_dropped: usize,
    /// Modes with ηλ ≥ 2 at θ0, per η and seed.
    pub n_unstable: Vec<Vec<usize>>,
    /// |S̄_pred − S̄_meas| / S̄_meas (reference rule).
    pub rel_err: Vec<f64>,
    pub drift: Curve,
    /// |ΔC| per η and seed (NaN = diverged), for per-seed fits.
    pub drift_seeds: Vec<Vec<f64>>,
    /// η²S seed means (the exact GD identity's drift).
    pub eta2s: Curve,
    /// (R, number of η) under the reference rule, the honest rule and the window.
    pub r_reference: Option<(f64, usize)>,
    pub r_honest: Option<(f64, usize)>,
    pub r_window: Option<(f64, usize)>,
    /// R of the null predictor S = 1/η on the reference comparison's η.
    pub r_null: Option<(f64, usize)>,
    /// ln drift̄ vs ln η (E12's α) on the full grid and the window.
    pub alpha_drift: Option<PowerLawFit>,
    pub alpha_drift_window: Option<PowerLawFit>,
    /// ln S̄_meas vs ln η (E08's α = 2 + slope, E12's β = slope).
    pub fit_s: Option<PowerLawFit>,
    pub fit_s_window: Option<PowerLawFit>,
    pub identity_violation: f64,
    /// Per seed, at θ0.
    pub spectra: Vec<EigenStats>,
    /// Positive eigenvalues (> 1e−8) of the first seed, ascending (spectral ratios).
    #[serde(skip)]
    pub positive_eigs_seed0: Vec<f64>,
    pub robust_max_lr: f64,
}

impl ArmAnalysis {
    /// Max relative error over the η ≤ `eta_max` with a finite value.
    pub fn max_rel_err_upto(&self, eta_max: f64) -> f64 {
        max_finite(self.etas.iter().zip(&self.rel_err).filter(|(e, _)| **e <= eta_max * (1.0 + 1e-12)).map(|(_, &r)| r))
    }

    /// Max relative error |S̄_pred − S̄_meas|/S̄_meas of the honest prediction over the η it keeps.
    pub fn max_rel_err_honest(&self) -> f64 {
        max_finite(self.s_pred_honest.iter().zip(&self.s_meas.mean).map(|(p, m)| (p - m).abs() / m))
    }

    /// λ_max at θ0 per seed, formatted "a/b/c".
    pub fn lambda_max_per_seed(&self) -> String {
        slash(self.spectra.iter().map(|s| s.max))
    }

    /// η (as text) where the honest rule refuses, with the number of unstable modes per seed.
    pub fn honest_refusals(&self) -> String {
        let v: Vec<String> = (0..self.etas.len())
            .filter(|&i| !self.honest_applies[i])
            .map(|i| {
                format!(
                    "η = {} (modes with ηλ ≥ 2 per seed: {})",
                    self.etas[i],
                    self.n_unstable[i].iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/")
                )
            })
            .collect();
        if v.is_empty() { "none".into() } else { v.join("; ") }
    }
}

fn max_finite(it: impl Iterator<Item = f64>) -> f64 {
    it.filter(|v| v.is_finite()).fold(f64::NAN, |a, b| if a.is_nan() { b } else { a.max(b) })
}

/// "a/b/c" of numbers formatted by [`fmt`].
pub fn slash(it: impl Iterator<Item = f64>) -> String {
    it.map(fmt).collect::<Vec<_>>().join("/")
}

/// "R (n η)" or "—".
pub fn fmt_r(r: Option<(f64, usize)>) -> String {
    r.map_or("—".into(), |(r, n)| format!("{} ({n} η)", fmt(r)))
}

pub fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("—".into(), fmt)
}

/// The reference's seed means per η (spec tables), NaN where the spec gives none.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefCurves {
    /// The η grid of the spec's table.
    pub lrs: Vec<f64>,
    pub s_meas: Vec<f64>,
    pub s_pred: Vec<f64>,
    #[serde(default)]
    pub drift: Vec<f64>,
}

impl RefCurves {
    fn at(&self, v: &[f64], eta: f64) -> Option<f64> {
        self.lrs
            .iter()
            .position(|&e| (e - eta).abs() <= 1e-9 * eta)
            .and_then(|i| v.get(i).copied())
            .filter(|x| x.is_finite())
    }
}

/// Per-η table of one arm, with the reference's seed means beside ours.
pub fn per_eta_table(a: &ArmAnalysis, reference: &RefCurves) -> Table {
    let mut t = Table::new(
        &format!(
            "{}: converged-only seed means per η (reference columns = the reference implementation's values from the spec)",
            a.arm
        ),
        &[
            "η",
            "converged",
            "S̄_meas",
            "S̄_pred (ref. rule)",
            "rel. err",
            "honest rule",
            "drift̄ |ΔC|",
            "η²S̄",
            "ref S̄_meas",
            "ref S̄_pred",
            "ref rel. err",
            "ref drift̄",
        ],
    );
    for i in 0..a.etas.len() {
        let e = a.etas[i];
        let rm = reference.at(&reference.s_meas, e);
        let rp = reference.at(&reference.s_pred, e);
        let honest = if a.honest_applies[i] {
            "applies".to_string()
        } else {
            format!(
                "refuses ({} modes ηλ ≥ 2)",
                a.n_unstable[i].iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/")
            )
        };
        t.row(vec![
            e.to_string(),
            format!("{}/{}", a.s_meas.n_used[i], a.n_seeds),
            fmt(a.s_meas.mean[i]),
            fmt(a.s_pred.mean[i]),
            fmt(a.rel_err[i]),
            honest,
            fmt(a.drift.mean[i]),
            fmt(a.eta2s.mean[i]),
            fmt_opt(rm),
            fmt_opt(rp),
            match (rm, rp) {
                (Some(m), Some(p)) => fmt((p - m).abs() / m),
                _ => "—".into(),
            },
            fmt_opt(reference.at(&reference.drift, e)),
        ]);
    }
    t
}

/// Log-log figure of S̄_meas and S̄_pred (both rules) over η for one arm.
pub fn pred_vs_meas_figure(file: &str, title: String, a: &ArmAnalysis) -> Figure {
    let pts = |v: &[f64]| -> Vec<(f64, f64)> { a.etas.iter().copied().zip(v.iter().copied()).collect() };
    Figure::xy(
        file,
        title,
        Axis::log("learning rate η"),
        Axis::log("S(η) = |Σ_t δ(t)|"),
        vec![
            Series::points("S̄ measured (converged seeds)", pts(&a.s_meas.mean)),
            Series::line(format!("S̄ predicted, reference rule (R = {})", fmt_r(a.r_reference)), pts(&a.s_pred.mean)),
            Series::points(format!("S̄ predicted, honest rule (R = {})", fmt_r(a.r_honest)), pts(&a.s_pred_honest)),
        ],
    )
}

/// Note for the f64 identity check drift = η²S (bias-free nets under plain GD).
pub fn identity_note(analyses: &[ArmAnalysis], precision: noether_nn::Precision) -> String {
    let worst = analyses.iter().map(|a| a.identity_violation).fold(0.0, f64::max);
    let per: Vec<String> = analyses.iter().map(|a| format!("{} {}", a.arm, fmt(a.identity_violation))).collect();
    format!(
        "Identity drift = η²S (bias-free 2-layer nets, plain GD): largest relative deviation over the converged runs {} ({}) — {}.",
        fmt(worst),
        per.join(", "),
        if precision == noether_nn::Precision::F64 {
            "f64: exact up to rounding"
        } else {
            "f32: float32 rounding of ‖W‖² dominates at small η (spec §1.10)"
        }
    )
}
