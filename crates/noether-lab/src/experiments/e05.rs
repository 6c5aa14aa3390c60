//! E05 — drift scaling law: drift ∝ η^α with α = 1.16, R² > 0.99 (spec E01–E12 §2, E5).
//!
//! Paper problem: GM-200, 2-layer bias-free ReLU (m = 64), CE, GD, T = 2000, 5 seeds, ten
//! learning rates 1e−4…1. Any other problem runs through the same analysis (the whole `problem`
//! table is used as given; the drift is that of C_1 = ‖W_2‖² − ‖W_1‖²). Reference protocol: OLS
//! of ln(seed-mean |ΔC|) on ln η over all η with mean > 1e−10. Robust protocol: the same fit
//! restricted to η ≤ `robust_max_lr` (below the edge of stability), where the curve is a power
//! law; the full-grid α is a blend of slope ≈ 1 and slope ≈ 2 regimes.

use noether_nn::{Loss, Precision};
use noether_theory::fit::{FitMask, PowerLawFit, local_loglog_slopes};
use noether_train::OptimizerKind;
use serde::{Deserialize, Serialize};

use super::common::{Sweep, abs_drift, identity_violation, predicted_drift};
use crate::LabError;
use crate::aggregate::{Curve, SeedAlpha, SeedRule};
use crate::config::{Check, Checked, Invalid, positive};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::{Job, Measure};
use crate::plot::{Axis, Figure, Series};
use crate::problem::Problem;
use crate::problem::SweepParams;
use crate::results::Results;

/// The experiment.
pub struct E05;

/// `configs/E05.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    /// Upper end of the robust (sub-EoS) window.
    robust_max_lr: f64,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.sweep.check_grid(3)?;
        positive("robust_max_lr", self.robust_max_lr)
    }
}

/// The lr × seed sweep.
pub struct Plan {
    sweep: Sweep,
    problem: Problem,
    robust_max_lr: f64,
    precision: Precision,
}

/// Everything E05 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    problem: String,
    ce_weight: f64,
    lrs: Vec<f64>,
    seeds: usize,
    robust_max_lr: f64,
    /// Seed-mean |ΔC| per η (NaN-propagating, as the reference).
    curve: Curve,
    fit: Option<PowerLawFit>,
    window: Curve,
    window_fit: Option<PowerLawFit>,
    per_seed: SeedAlpha,
    local_slopes: Vec<f64>,
    predicted: Curve,
    relative: Curve,
    final_loss: Curve,
    identity_max_rel_violation: f64,
}

impl Experiment for E05 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E05"
    }
    fn title(&self) -> &'static str {
        "Drift scaling law (drift ∝ η^α)"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let problem = ctx.problem(&p.sweep.problem)?;
        let sweep = Sweep::of(&p.sweep, &problem, ctx.precision, OptimizerKind::Gd, &Measure::default());
        Ok(Plan { sweep, problem, robust_max_lr: p.robust_max_lr, precision: ctx.precision })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.sweep.all_jobs()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let s = &plan.sweep;
        let drift = s.matrix(results, abs_drift)?;
        let pred = s.matrix(results, predicted_drift)?;
        let rel = s.matrix(results, |r| {
            r.drift.as_ref().map_or(f64::NAN, |d| d.abs_drift_final[0] / d.conserved_initial[0].abs())
        })?;
        let last_loss = s.matrix(results, |r| r.loss_before_last_update)?;
        let curve = Curve::from_seeds(&s.lrs, &drift, SeedRule::NanPropagating);
        let window = curve.window(plan.robust_max_lr);
        let per_seed = SeedAlpha::fit(&window.etas, &drift[..window.etas.len()], FitMask::GT_1E10);
        Ok(Analysis {
            precision: plan.precision,
            problem: plan.problem.describe(),
            ce_weight: plan.problem.ce_weight,
            lrs: s.lrs.clone(),
            seeds: s.seeds.len(),
            robust_max_lr: plan.robust_max_lr,
            fit: curve.alpha(FitMask::GT_1E10),
            window_fit: window.alpha(FitMask::GT_1E10),
            local_slopes: local_loglog_slopes(&curve.etas, &curve.mean).unwrap_or_default(),
            predicted: Curve::from_seeds(&s.lrs, &pred, SeedRule::NanPropagating),
            relative: Curve::from_seeds(&s.lrs, &rel, SeedRule::NanPropagating),
            final_loss: Curve::from_seeds(&s.lrs, &last_loss, SeedRule::NanPropagating),
            identity_max_rel_violation: identity_violation(&drift, &pred),
            curve,
            window,
            per_seed,
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let mut sum = Summary::default();
        if let Some(f) = &a.fit {
            sum.measure(
                "E05.alpha",
                Protocol::Reference,
                f.alpha,
                format!("OLS ln drift̄ vs ln η, {} η, {} seeds", f.n_points, a.seeds),
            );
            sum.measure("E05.r2", Protocol::Reference, f.r2, "R² of the same fit (log space)");
        }
        if let Some(f) = &a.window_fit {
            sum.measure(
                "E05.alpha",
                Protocol::Robust,
                f.alpha,
                format!("η ≤ {} only ({} points)", a.robust_max_lr, f.n_points),
            );
        }
        let loss = Loss { ce_weight: a.ce_weight, ..Loss::MSE }.name().to_uppercase();
        let final_loss = format!("final {loss}");
        let mut t = Table::new(
            "Seed-mean drift |ΔC| per learning rate",
            &["η", "mean |ΔC|", "std", "mean rel.", "η²S (identity)", &final_loss, "local slope"],
        );
        for i in 0..a.lrs.len() {
            t.row(vec![
                fmt(a.lrs[i]),
                fmt(a.curve.mean[i]),
                fmt(a.curve.std[i]),
                fmt(a.relative.mean[i]),
                fmt(a.predicted.mean[i]),
                fmt(a.final_loss.mean[i]),
                a.local_slopes.get(i).map_or("—".into(), |v| fmt(*v)),
            ]);
        }
        sum.tables.push(t);
        sum.notes.push(format!(
            "Identity drift = η²S: largest relative deviation over all runs {} ({}).",
            fmt(a.identity_max_rel_violation),
            if a.precision == Precision::F64 {
                "f64: exact up to rounding"
            } else {
                "f32: float32 rounding of ‖W‖² dominates at small η"
            }
        ));
        sum.notes.push(format!(
            "Per-seed α on η ≤ {}: {} ± {} over {} seeds.",
            a.robust_max_lr,
            fmt(a.per_seed.mean),
            fmt(a.per_seed.std),
            a.per_seed.n
        ));
        let alpha = |f: &Option<PowerLawFit>| f.as_ref().map_or("—".into(), |f| fmt(f.alpha));
        let line = |f: &Option<PowerLawFit>| f.as_ref().map(|f| (f.alpha, f.intercept));
        sum.figure(Figure::xy(
            "drift_vs_lr.svg",
            format!("E05 drift vs η ({})", a.precision.name()),
            Axis::log("learning rate η"),
            Axis::log("|C(T) − C(0)|"),
            vec![
                Series::points(format!("seed mean, α = {}", alpha(&a.fit)), a.curve.points()).with_fit(line(&a.fit)),
                Series::points(format!("η ≤ {} fit, α = {}", a.robust_max_lr, alpha(&a.window_fit)), a.window.points())
                    .with_fit(line(&a.window_fit)),
            ],
        ));
        sum.data = serde_json::json!({
            "curve": a.curve,
            "identity_max_rel_violation": a.identity_max_rel_violation,
            "per_seed_alpha": [a.per_seed.mean, a.per_seed.std, a.per_seed.n],
        });
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::JobResult;
    use crate::testing::train_with_drift;

    /// A synthetic drift curve |ΔC| = 1e−3·η^1.5 below η = 0.1 and 1e−3·0.1^1.5·(η/0.1)² above:
    /// the robust window must recover 1.5 exactly, the full grid a blend between 1.5 and 2.
    #[test]
    fn analyse_recovers_the_exponent_of_a_synthetic_drift_curve() {
        let p = Checked::<Params>::from_toml(
            "seeds = [1, 2]\nlrs = [1e-3, 1e-2, 0.1, 0.3, 1.0]\nsteps = 10\nrobust_max_lr = 0.1",
        )
        .unwrap();
        let problem = p.sweep.problem.resolve(std::path::Path::new(".")).unwrap();
        let sweep = Sweep::of(&p.sweep, &problem, Precision::F64, OptimizerKind::Gd, &Measure::default());
        let plan = Plan { sweep, problem, robust_max_lr: 0.1, precision: Precision::F64 };
        let jobs = E05.jobs(&plan);
        let results = Results::from_fn(&jobs, |job| {
            let Job::Train(t) = job else { unreachable!() };
            let drift =
                if t.lr <= 0.1 { 1e-3 * t.lr.powf(1.5) } else { 1e-3 * 0.1f64.powf(1.5) * (t.lr / 0.1).powi(2) };
            JobResult::Train(train_with_drift(-20.0, drift, drift))
        });
        let a = E05.analyse(&plan, &results).unwrap();
        let w = a.window_fit.as_ref().unwrap();
        assert!((w.alpha - 1.5).abs() < 1e-12 && w.n_points == 3, "{w:?}");
        let f = a.fit.as_ref().unwrap();
        assert!(f.alpha > 1.5 && f.alpha < 2.0 && f.r2 < 1.0, "{f:?}");
        assert_eq!(a.identity_max_rel_violation, 0.0);
        let sum = E05.render(&a);
        assert_eq!(sum.measured.len(), 3);
        assert_eq!(sum.plots, ["drift_vs_lr.svg"]);
    }
}
