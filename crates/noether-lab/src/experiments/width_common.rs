//! Shared by E19 and E22 (and the λ_max probe of E15): linear-network MSE width sweeps and
//! their per-width analysis (spec E13-E23 §1.7 nanmean rule, §1.8 fits, §2-E19, §2-E22).
//!
//! A width cell is an (η × seed) grid of plain GD runs of the problem's bias-free 2-layer net at
//! one width (the paper: σ_0, MSE, GM(n = 200, d, K = 5)). The jobs are built exactly as every other drift sweep
//! builds them (`Measure::default()`, model drawn before the data), so a run that another
//! experiment also needs (e.g. E14/E17's linear-MSE runs at d = 20) is computed once.

use noether_theory::fit::{FitMask, PowerLawFit, mean_finite_only, power_law_fit, std_pop_finite_only};
use noether_theory::width::{AlphaWithCurvature, power_law_with_curvature};
use noether_train::OptimizerKind;
use serde::Serialize;

use super::common::{Sweep, abs_drift};
use super::drift_fits::finite;
use crate::LabError;
use crate::aggregate::{Curve, SeedRule};
use crate::job::{Job, Measure, ProblemSpec, SharpnessMethod, SharpnessSpec, TrainJob};
use crate::results::{Results, TrainResult};

/// The mask of every E13–E23 α fit: drift̄ > 1e−15 and finite (spec §1.7).
pub(super) const MASK: FitMask = FitMask::GT_1E15_FINITE;

/// A GD drift sweep (η × seed) of one width.
pub(super) fn drift_sweep(lrs: &[f64], seeds: &[u64], steps: usize, problem: impl Fn(u64) -> ProblemSpec) -> Sweep {
    Sweep::new(lrs, seeds, steps, OptimizerKind::Gd, &Measure::default(), problem)
}

/// A zero-step job whose only measurement is λ_max at initialisation (Lanczos, top-1, residual
/// tolerance `tol`·‖H‖; the full Hessian, not Gauss–Newton). A few dozen Hessian-vector
/// products: negligible next to a 2000-step run.
pub(super) fn lambda_init_job(problem: ProblemSpec, tol: f64) -> Job {
    Job::Train(TrainJob {
        problem,
        optimizer: OptimizerKind::Gd,
        lr: 0.0,
        steps: 0,
        measure: Measure {
            sharpness: Some(SharpnessSpec { every: 1, method: SharpnessMethod::WarmLanczos { tol } }),
            ..Measure::default()
        },
    })
}

/// λ_max at step `step` of a run that tracked sharpness (NaN if not measured).
pub(super) fn lambda_at(r: &TrainResult, step: usize) -> f64 {
    r.sharpness.iter().find(|p| p.step == step).map_or(f64::NAN, |p| p.lambda_max)
}

/// λ_max at init from a [`lambda_init_job`].
pub(super) fn lambda_init(results: &Results, job: &Job) -> Result<f64, LabError> {
    Ok(lambda_at(results.train(job)?, 0))
}

/// |ΔC| of a run, NaN if it diverged or exceeded the float32 range (spec §1.7).
pub(super) fn drift_value(r: &TrainResult) -> f64 {
    finite(abs_drift(r))
}

/// Everything one width's (η × seed) drift matrix gives.
#[derive(Clone, Debug, Serialize)]
pub struct WidthAnalysis {
    /// nanmean curve (mean over the finite seeds; `n_used` = n_converged).
    pub curve: Curve,
    /// Reference fit on the nanmean curve: α, R², residuals; curvature and R²_quad if ≥ 4 points.
    pub fit: Option<AlphaWithCurvature>,
    /// The same fit restricted to η ≤ the sub-EoS window.
    pub sub_eos: Option<PowerLawFit>,
    /// Each seed's own α (its finite drifts, ≥ 3 points; NaN otherwise), in seed order.
    pub per_seed: Vec<f64>,
    pub per_seed_mean: f64,
    pub per_seed_std: f64,
    pub per_seed_n: usize,
}

impl WidthAnalysis {
    /// `drift[i][s]` = drift of (etas[i], seed s), NaN if the run diverged.
    pub(super) fn new(etas: &[f64], drift: &[Vec<f64>], sub_eos_max: f64) -> WidthAnalysis {
        let curve = Curve::from_seeds(etas, drift, SeedRule::FiniteOnly);
        let fit = power_law_with_curvature(&curve.etas, &curve.mean, MASK).ok();
        let sub_eos = curve.window(sub_eos_max).alpha(MASK);
        let n_seeds = drift.first().map_or(0, Vec::len);
        let per_seed: Vec<f64> = (0..n_seeds)
            .map(|s| {
                let y: Vec<f64> = drift.iter().map(|v| v[s]).collect();
                power_law_fit(etas, &y, MASK).map_or(f64::NAN, |f| f.alpha)
            })
            .collect();
        let (per_seed_mean, per_seed_n) = mean_finite_only(&per_seed);
        let per_seed_std = std_pop_finite_only(&per_seed).0;
        WidthAnalysis { curve, fit, sub_eos, per_seed, per_seed_mean, per_seed_std, per_seed_n }
    }

    /// Reference α (NaN if the fit had < 3 points).
    pub(super) fn alpha(&self) -> f64 {
        self.fit.as_ref().map_or(f64::NAN, |f| f.power.alpha)
    }
    pub(super) fn r2(&self) -> f64 {
        self.fit.as_ref().map_or(f64::NAN, |f| f.power.r2)
    }
    pub(super) fn curvature(&self) -> f64 {
        self.fit.as_ref().and_then(|f| f.quad.as_ref()).map_or(f64::NAN, |q| q.c2)
    }
    pub(super) fn r2_quad(&self) -> f64 {
        self.fit.as_ref().and_then(|f| f.quad.as_ref()).map_or(f64::NAN, |q| q.r2)
    }
    pub(super) fn sub_eos_alpha(&self) -> f64 {
        self.sub_eos.as_ref().map_or(f64::NAN, |f| f.alpha)
    }
    /// "mean ± std (n)" of the per-seed α.
    pub(super) fn per_seed_cell(&self) -> String {
        use crate::experiment::fmt;
        format!("{} ± {} ({})", fmt(self.per_seed_mean), fmt(self.per_seed_std), self.per_seed_n)
    }
    /// Seeds that converged at each η, "5/5/5/5/5/2".
    pub(super) fn n_conv_cell(&self) -> String {
        self.curve.n_used.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nanmean_rule_and_per_seed_alphas() {
        // Two seeds; drift = η (seed 0) and 2η (seed 1), except seed 1 diverged at the top η.
        let etas = [1e-3, 1e-2, 1e-1];
        let drift = vec![vec![1e-3, 2e-3], vec![1e-2, 2e-2], vec![1e-1, f64::NAN]];
        let a = WidthAnalysis::new(&etas, &drift, 0.03);
        // nanmean keeps the top point from the surviving seed only.
        assert_eq!(a.curve.n_used, vec![2, 2, 1]);
        assert!((a.curve.mean[2] - 0.1).abs() < 1e-15);
        assert!(a.fit.is_some() && a.alpha() < 1.0, "survivorship lowers the top point: α = {}", a.alpha());
        assert!(a.sub_eos.is_none(), "only 2 points below 0.03");
        assert!((a.per_seed[0] - 1.0).abs() < 1e-12);
        assert!(a.per_seed[1].is_nan(), "seed 1 has 2 finite points");
        assert_eq!(a.per_seed_n, 1);
        assert!(a.curvature().is_nan(), "3 points: no quadratic");
    }
}
