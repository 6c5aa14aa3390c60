//! E05 — drift scaling law: drift ∝ η^α with α = 1.16, R² > 0.99 (spec E01–E12 §2, E5).
//!
//! GM-200, 2-layer bias-free ReLU (m = 64), CE, GD, T = 2000, 5 seeds, ten learning rates
//! 1e−4…1. Reference protocol: OLS of ln(seed-mean |ΔC|) on ln η over all η with mean > 1e−10.
//! Robust protocol: the same fit restricted to η ≤ 0.1 (below the edge of stability), where the
//! curve is a power law; the full-grid α is a blend of slope ≈ 1 and slope ≈ 2 regimes.

use noether_theory::fit::{FitMask, local_loglog_slopes};
use noether_train::OptimizerKind;
use serde::Deserialize;

use super::common::{Sweep, abs_drift, gm200, identity_violation, predicted_drift};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule, per_seed_alpha};
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::{Job, Measure, NetSpec};
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;

pub struct E05;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    seeds: Vec<u64>,
    lrs: Vec<f64>,
    steps: usize,
    width: usize,
    /// Upper end of the robust (sub-EoS) window.
    robust_max_lr: f64,
}

fn sweep(ctx: &Context<'_>) -> Result<(Params, Sweep), LabError> {
    let p: Params = ctx.params()?;
    let precision = ctx.precision;
    let width = p.width;
    let s = Sweep::new(&p.lrs, &p.seeds, p.steps, OptimizerKind::Gd, &Measure::default(), |seed| {
        gm200(seed, precision, NetSpec::two_layer(width, 1.0), 1.0)
    });
    Ok((p, s))
}

impl Experiment for E05 {
    fn id(&self) -> &'static str {
        "E05"
    }
    fn title(&self) -> &'static str {
        "Drift scaling law (drift ∝ η^α)"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        Ok(sweep(ctx)?.1.all_jobs())
    }
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let (p, s) = sweep(ctx)?;
        let drift = s.matrix(results, abs_drift)?;
        let pred = s.matrix(results, predicted_drift)?;
        let rel = s.matrix(results, |r| {
            r.drift.as_ref().map_or(f64::NAN, |d| d.abs_drift_final[0] / d.conserved_initial[0].abs())
        })?;
        let last_loss = s.matrix(results, |r| r.loss_before_last_update)?;
        let curve = Curve::from_seeds(&s.lrs, &drift, SeedRule::NanPropagating);
        let mut sum = Summary::default();
        let fit = curve.alpha(FitMask::GT_1E10);
        let window = curve.window(p.robust_max_lr);
        let wfit = window.alpha(FitMask::GT_1E10);
        if let Some(f) = &fit {
            sum.measure(
                "E05.alpha",
                Protocol::Reference,
                f.alpha,
                format!("OLS ln drift̄ vs ln η, {} η, {} seeds", f.n_points, p.seeds.len()),
            );
            sum.measure("E05.r2", Protocol::Reference, f.r2, "R² of the same fit (log space)");
        }
        if let Some(f) = &wfit {
            sum.measure(
                "E05.alpha",
                Protocol::Robust,
                f.alpha,
                format!("η ≤ {} only ({} points)", p.robust_max_lr, f.n_points),
            );
        }
        let (ps_mean, ps_std, ps_n) = per_seed_alpha(&window.etas, &drift[..window.etas.len()], FitMask::GT_1E10);
        let slopes = local_loglog_slopes(&curve.etas, &curve.mean).unwrap_or_default();
        let pred_curve = Curve::from_seeds(&s.lrs, &pred, SeedRule::NanPropagating);
        let rel_curve = Curve::from_seeds(&s.lrs, &rel, SeedRule::NanPropagating);
        let loss_curve = Curve::from_seeds(&s.lrs, &last_loss, SeedRule::NanPropagating);
        let mut t = Table::new(
            "Seed-mean drift |ΔC| per learning rate",
            &["η", "mean |ΔC|", "std", "mean rel.", "η²S (identity)", "final CE", "local slope"],
        );
        for i in 0..s.lrs.len() {
            t.row(vec![
                fmt(s.lrs[i]),
                fmt(curve.mean[i]),
                fmt(curve.std[i]),
                fmt(rel_curve.mean[i]),
                fmt(pred_curve.mean[i]),
                fmt(loss_curve.mean[i]),
                slopes.get(i).map_or("—".into(), |v| fmt(*v)),
            ]);
        }
        sum.tables.push(t);
        let viol = identity_violation(&drift, &pred);
        sum.notes.push(format!(
            "Identity drift = η²S: largest relative deviation over all runs {} ({}).",
            fmt(viol),
            if ctx.precision == noether_nn::Precision::F64 {
                "f64: exact up to rounding"
            } else {
                "f32: float32 rounding of ‖W‖² dominates at small η"
            }
        ));
        sum.notes.push(format!(
            "Per-seed α on η ≤ {}: {} ± {} over {} seeds.",
            p.robust_max_lr,
            fmt(ps_mean),
            fmt(ps_std),
            ps_n
        ));
        let plot = "drift_vs_lr.svg";
        xy_plot(
            &ctx.out_dir.join(plot),
            &format!("E05 drift vs η ({})", ctx.precision.name()),
            "learning rate η",
            "|C(T) − C(0)|",
            &[
                Series {
                    label: format!("seed mean, α = {}", fit.as_ref().map_or("—".into(), |f| fmt(f.alpha))),
                    points: curve.etas.iter().copied().zip(curve.mean.iter().copied()).collect(),
                    fit: fit.as_ref().map(|f| (f.alpha, f.intercept)),
                    line: false,
                },
                Series {
                    label: format!(
                        "η ≤ {} fit, α = {}",
                        p.robust_max_lr,
                        wfit.as_ref().map_or("—".into(), |f| fmt(f.alpha))
                    ),
                    points: window.etas.iter().copied().zip(window.mean.iter().copied()).collect(),
                    fit: wfit.as_ref().map(|f| (f.alpha, f.intercept)),
                    line: false,
                },
            ],
            &[],
            true,
            true,
        )?;
        sum.plots.push(plot.into());
        sum.data = serde_json::json!({ "curve": curve, "identity_max_rel_violation": viol, "per_seed_alpha": [ps_mean, ps_std, ps_n] });
        Ok(sum)
    }
}
