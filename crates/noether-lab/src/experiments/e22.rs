//! E22 — transition width vs input dimension: "m*/d varies: 6.0, 3.0, 1.0" for d = 10, 20,
//! 40 (spec E13-E23 §2-E22; reference script exp_width_dim_transition_v1.py).
//!
//! LINEAR 2-layer bias-free net, MSE, GM(n = 200, d, K = 5) with centre radius 2√d, widths
//! max(⌊r·d⌋, 2) for r ∈ {0.5, 1, 1.5, 2, 3, 4, 6} (sorted, unique), η ∈ {3e−4 … 0.1},
//! T = 2000, 5 seeds: 630 runs.
//!
//! Reference protocol: α per (d, m) from nanmean seed means as in E19; m* = smallest width
//! with finite α > 1.1; m*/d, its mean and population std over d.
//! Robust protocol (the threshold fragility of spec pitfall (a) and §5 item 7): every seed's own
//! α(m) curve gives its own m*; the claim's robust value is the median over seeds of m*/d. The
//! report also gives, per d, the margins by which α(m*) and the largest α below m* clear the
//! threshold (the range of thresholds with the same m*), and m* on the sub-EoS α (η ≤ 0.03).
//! λ_max at initialisation per (d, m, seed) is measured (Lanczos) to show where η = 0.1 crosses
//! 2/λ_max. The d = 20 runs are GM-200 runs, shared with any other experiment that needs them.

use noether_theory::fit::{mean, std_pop};
use noether_theory::width::{ALPHA_THRESHOLD, TransitionMargin, transition_margin, transition_width};
use serde::{Deserialize, Serialize};

use super::common::Sweep;
use super::width_common::{
    WidthAnalysis, drift_sweep, drift_value, lambda_init, lambda_init_job, mean_std, mse_problem,
};
use crate::LabError;
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;

pub struct E22;

/// The spec's E22 table (reference values): (d, m, α, per-seed α mean, std).
const REFERENCE: [(usize, usize, f64, f64, f64); 21] = [
    (10, 5, 1.0658, 1.349, 0.476),
    (10, 10, 1.0374, 1.045, 0.034),
    (10, 15, 1.0577, 1.154, 0.216),
    (10, 20, 1.0573, 1.057, 0.006),
    (10, 30, 1.0740, 1.069, 0.018),
    (10, 40, 1.0997, 1.097, 0.035),
    (10, 60, 1.1012, 1.101, 0.009),
    (20, 10, 1.0579, 1.059, 0.007),
    (20, 20, 1.0629, 1.050, 0.039),
    (20, 30, 1.0717, 1.063, 0.013),
    (20, 40, 1.0886, 1.089, 0.015),
    (20, 60, 1.1522, 1.146, 0.034),
    (20, 80, 1.2327, 1.213, 0.072),
    (20, 120, 1.4399, 1.436, 0.041),
    (40, 20, 1.0870, 1.091, 0.034),
    (40, 40, 1.1126, 1.143, 0.115),
    (40, 60, 1.2177, 1.211, 0.053),
    (40, 80, 1.2082, 1.197, 0.039),
    (40, 120, 1.4519, 1.457, 0.050),
    (40, 160, 1.5133, 1.511, 0.031),
    (40, 240, 1.1654, 1.164, 0.033),
];
/// Reference m* per d.
const REFERENCE_MSTAR: [(usize, usize); 3] = [(10, 60), (20, 60), (40, 40)];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    seeds: Vec<u64>,
    dims: Vec<usize>,
    /// Width ratios r: widths = sorted unique max(⌊r·d⌋, 2).
    ratios: Vec<f64>,
    lrs: Vec<f64>,
    steps: usize,
    sub_eos_max_lr: f64,
    /// The d of the `E22.mstar_over_d_d20` claim.
    claim_dim: usize,
    lambda_tol: f64,
}

/// The reference's width grid of one d.
fn widths_of(d: usize, ratios: &[f64]) -> Vec<usize> {
    let mut w: Vec<usize> = ratios.iter().map(|r| ((r * d as f64).floor() as usize).max(2)).collect();
    w.sort_unstable();
    w.dedup();
    w
}

struct Cell {
    d: usize,
    m: usize,
    sweep: Sweep,
    lambda: Vec<Job>,
}

fn plan_of(ctx: &Context<'_>) -> Result<(Params, Vec<Cell>), LabError> {
    let p: Params = ctx.params()?;
    let path = ctx.config.path.display();
    if p.dims.is_empty() || p.seeds.is_empty() || p.ratios.is_empty() || p.lrs.len() < 3 {
        return Err(LabError::LegacyConfig(format!("{path}: E22 needs dims, ratios, seeds and ≥ 3 learning rates")));
    }
    if !p.dims.contains(&p.claim_dim) {
        return Err(LabError::LegacyConfig(format!("{path}: claim_dim {} is not among the dims", p.claim_dim)));
    }
    if let Some(r) = p.ratios.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
        return Err(LabError::LegacyConfig(format!("{path}: width ratio {r} must be > 0")));
    }
    if let Some(lr) = p.lrs.iter().find(|lr| !(lr.is_finite() && **lr > 0.0)) {
        return Err(LabError::LegacyConfig(format!("{path}: learning rate {lr} must be > 0")));
    }
    if p.dims.contains(&0) {
        return Err(LabError::LegacyConfig(format!("{path}: input dimension 0")));
    }
    let prec = ctx.precision;
    let mut cells = Vec::new();
    for &d in &p.dims {
        for m in widths_of(d, &p.ratios) {
            cells.push(Cell {
                d,
                m,
                sweep: drift_sweep(&p.lrs, &p.seeds, p.steps, |s| mse_problem(s, prec, m, 0.0, d)),
                lambda: p
                    .seeds
                    .iter()
                    .map(|&s| lambda_init_job(mse_problem(s, prec, m, 0.0, d), p.lambda_tol))
                    .collect(),
            });
        }
    }
    Ok((p, cells))
}

/// m* of one d for several α definitions.
#[derive(Serialize)]
struct DimResult {
    d: usize,
    widths: Vec<usize>,
    reference: Option<TransitionMargin>,
    sub_eos_mstar: Option<f64>,
    per_seed_mean_mstar: Option<f64>,
    /// m* of each seed's own α(m) curve (None = that seed never crosses).
    per_seed_mstar: Vec<Option<f64>>,
    /// Median over seeds of m*/d (a non-crossing seed counts as +∞); None if the median is ∞.
    per_seed_median_ratio: Option<f64>,
}

fn median_ratio(mstars: &[Option<f64>], d: f64) -> Option<f64> {
    let mut v: Vec<f64> = mstars.iter().map(|m| m.map_or(f64::INFINITY, |m| m / d)).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) };
    med.is_finite().then_some(med)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("none".into(), fmt)
}

impl Experiment for E22 {
    fn id(&self) -> &'static str {
        "E22"
    }
    fn title(&self) -> &'static str {
        "Transition width vs input dimension (linear network)"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        let (_, cells) = plan_of(ctx)?;
        Ok(cells.iter().flat_map(|c| c.sweep.all_jobs().into_iter().chain(c.lambda.iter().cloned())).collect())
    }

    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let (p, cells) = plan_of(ctx)?;
        let w = p.sub_eos_max_lr;
        let eta_top = p.lrs.iter().copied().fold(f64::NAN, f64::max);
        let mut sum = Summary::default();
        let mut an = Vec::new();
        let mut lam = Vec::new();
        for c in &cells {
            an.push(WidthAnalysis::new(&p.lrs, &c.sweep.matrix(results, drift_value)?, w));
            let l: Vec<f64> = c.lambda.iter().map(|j| lambda_init(results, j)).collect::<Result<_, _>>()?;
            lam.push(mean_std(&l));
        }
        let sub_head = format!("α (η ≤ {w})");
        let lam_head = format!("λ_max(0); {}·λ_max", fmt(eta_top));
        let mut t = Table::new(
            "α per (d, m) (reference protocol: nanmean seed means, all η), with the spec's values [ref.]",
            &[
                "d",
                "m",
                "m/d",
                "α",
                "R²",
                "curvature",
                "per-seed α",
                sub_head.as_str(),
                "n_conv per η",
                lam_head.as_str(),
                "α [ref.]",
                "per-seed α [ref.]",
            ],
        );
        for (c, (a, l)) in cells.iter().zip(an.iter().zip(&lam)) {
            let r = REFERENCE.iter().find(|r| r.0 == c.d && r.1 == c.m);
            t.row(vec![
                c.d.to_string(),
                c.m.to_string(),
                fmt(c.m as f64 / c.d as f64),
                fmt(a.alpha()),
                fmt(a.r2()),
                fmt(a.curvature()),
                a.per_seed_cell(),
                fmt(a.sub_eos_alpha()),
                a.n_conv_cell(),
                format!("{} ± {}; {}", fmt(l.0), fmt(l.1), fmt(eta_top * l.0)),
                r.map_or("—".into(), |r| fmt(r.2)),
                r.map_or("—".into(), |r| format!("{} ± {}", fmt(r.3), fmt(r.4))),
            ]);
        }
        // m* per d.
        let mut dims = Vec::new();
        for &d in &p.dims {
            let idx: Vec<usize> = (0..cells.len()).filter(|&i| cells[i].d == d).collect();
            let wf: Vec<f64> = idx.iter().map(|&i| cells[i].m as f64).collect();
            let col = |f: &dyn Fn(&WidthAnalysis) -> f64| idx.iter().map(|&i| f(&an[i])).collect::<Vec<f64>>();
            let reference = transition_margin(&wf, &col(&|a| a.alpha()), ALPHA_THRESHOLD)?;
            let sub_eos_mstar = transition_width(&wf, &col(&|a| a.sub_eos_alpha()), ALPHA_THRESHOLD)?;
            let per_seed_mean_mstar = transition_width(&wf, &col(&|a| a.per_seed_mean), ALPHA_THRESHOLD)?;
            let per_seed_mstar: Vec<Option<f64>> = (0..p.seeds.len())
                .map(|s| transition_width(&wf, &col(&|a| a.per_seed[s]), ALPHA_THRESHOLD))
                .collect::<Result<_, _>>()?;
            let per_seed_median_ratio = median_ratio(&per_seed_mstar, d as f64);
            dims.push(DimResult {
                d,
                widths: idx.iter().map(|&i| cells[i].m).collect(),
                reference,
                sub_eos_mstar,
                per_seed_mean_mstar,
                per_seed_mstar,
                per_seed_median_ratio,
            });
        }
        let mut tm = Table::new(
            "Transition width m* (α > 1.1) per d: reference protocol with its margins, and the robust variants",
            &[
                "d",
                "m*",
                "m*/d",
                "α(m*) − 1.1",
                "1.1 − max α below m*",
                "thresholds giving this m*",
                "m*/d [ref.]",
                "m* per seed",
                "median per-seed m*/d",
                "m* (per-seed mean α)",
                "m* (η ≤ w)",
            ],
        );
        for r in &dims {
            let refm =
                REFERENCE_MSTAR.iter().find(|x| x.0 == r.d).map_or("—".into(), |x| fmt(x.1 as f64 / x.0 as f64));
            let (ms, ratio, above, below, range) = match &r.reference {
                Some(t) => (
                    fmt(t.m_star),
                    fmt(t.m_star / r.d as f64),
                    fmt(t.above),
                    if t.below.is_finite() { fmt(t.below) } else { "— (smallest width)".into() },
                    format!(
                        "[{}, {})",
                        if t.below.is_finite() { fmt(ALPHA_THRESHOLD - t.below) } else { "−∞".into() },
                        fmt(t.alpha_at)
                    ),
                ),
                None => ("none".into(), "—".into(), "—".into(), "—".into(), "—".into()),
            };
            tm.row(vec![
                r.d.to_string(),
                ms,
                ratio,
                above,
                below,
                range,
                refm,
                r.per_seed_mstar.iter().map(|m| opt(*m)).collect::<Vec<_>>().join(", "),
                opt(r.per_seed_median_ratio),
                opt(r.per_seed_mean_mstar),
                opt(r.sub_eos_mstar),
            ]);
        }
        let ratios: Vec<f64> =
            dims.iter().filter_map(|r| r.reference.as_ref().map(|t| t.m_star / r.d as f64)).collect();
        let (rm, rs) = if ratios.is_empty() { (f64::NAN, f64::NAN) } else { (mean(&ratios)?, std_pop(&ratios)?) };
        sum.notes.push(format!(
            "m*/d over the {} d with a crossing: mean {}, population std {} (reference 6.0, 3.0, 1.0: mean 3.333, std 2.055).",
            ratios.len(),
            fmt(rm),
            fmt(rs)
        ));
        let fragile: Vec<String> = dims
            .iter()
            .filter_map(|r| r.reference.as_ref().map(|t| (r.d, t)))
            .map(|(d, t)| {
                format!(
                    "d = {d}: α crosses by {} (nearest α below by {})",
                    fmt(t.above),
                    if t.below.is_finite() { fmt(t.below) } else { "—".into() }
                )
            })
            .collect();
        let spread = mean_std(&an.iter().map(|a| a.per_seed_std).collect::<Vec<_>>()).0;
        sum.notes.push(format!(
            "Threshold fragility (spec §5 item 7): {}; the mean per-seed α spread is {}, so a margin below it is not a resolved crossing.",
            if fragile.is_empty() { "no crossings".into() } else { fragile.join("; ") },
            fmt(spread)
        ));
        sum.notes.push("Network is LINEAR (ε = 0), as in the reference script; the paper frames E22 as the ReLU dichotomy. A width losing all seeds at η = 0.1 drops its top point and α falls (reference d = 40, m = 240: non-monotone α is an exclusion artefact).".into());
        sum.tables.extend([tm, t]);

        // Claims.
        if let Some(r) = dims.iter().find(|r| r.d == p.claim_dim) {
            if let Some(t) = &r.reference {
                sum.measure(
                    "E22.mstar_over_d_d20",
                    Protocol::Reference,
                    t.m_star / r.d as f64,
                    format!(
                        "d = {}: smallest width with nanmean-α > 1.1 is m* = {} (α {}, margin {} above / {} below)",
                        r.d,
                        t.m_star,
                        fmt(t.alpha_at),
                        fmt(t.above),
                        fmt(t.below)
                    ),
                );
            } else {
                sum.notes.push(format!(
                    "d = {}: no width has α > 1.1, so E22.mstar_over_d_d20 is not measured (reference protocol).",
                    r.d
                ));
            }
            match r.per_seed_median_ratio {
                Some(v) => sum.measure(
                    "E22.mstar_over_d_d20",
                    Protocol::Robust,
                    v,
                    format!(
                        "d = {}: median over {} seeds of each seed's own m*/d (per-seed α curves); seed m* = {}",
                        r.d,
                        p.seeds.len(),
                        r.per_seed_mstar.iter().map(|m| opt(*m)).collect::<Vec<_>>().join(", ")
                    ),
                ),
                None => sum.notes.push(format!(
                    "d = {}: most seeds never cross α = 1.1 on their own, so the robust m*/d is not measured.",
                    r.d
                )),
            }
        }

        // Plot: α(m) per d with the threshold and the m* crossings, against m and against m/d.
        let mut series = Vec::new();
        let mut series_ratio = Vec::new();
        for &d in &p.dims {
            let pts: Vec<(f64, f64)> =
                cells.iter().zip(&an).filter(|(c, _)| c.d == d).map(|(c, a)| (c.m as f64, a.alpha())).collect();
            series_ratio.push(Series {
                label: format!("d = {d}"),
                points: pts.iter().map(|(m, a)| (m / d as f64, *a)).collect(),
                fit: None,
                line: true,
            });
            series.push(Series { label: format!("d = {d}"), points: pts, fit: None, line: true });
        }
        let crossings: Vec<(f64, f64)> =
            dims.iter().filter_map(|r| r.reference.as_ref().map(|t| (t.m_star, t.alpha_at))).collect();
        let crossings_ratio: Vec<(f64, f64)> =
            dims.iter().filter_map(|r| r.reference.as_ref().map(|t| (t.m_star / r.d as f64, t.alpha_at))).collect();
        series.push(Series { label: "m* (first α > 1.1)".into(), points: crossings, fit: None, line: false });
        series_ratio.push(Series { label: "m*/d".into(), points: crossings_ratio, fit: None, line: false });
        let hl = [(ALPHA_THRESHOLD, "threshold 1.1".to_string())];
        let prec = ctx.precision.name();
        xy_plot(
            &ctx.out_dir.join("alpha_vs_width.svg"),
            &format!("E22 α vs width per d, linear MSE ({prec})"),
            "width m",
            "α",
            &series,
            &hl,
            true,
            false,
        )?;
        xy_plot(
            &ctx.out_dir.join("alpha_vs_width_over_d.svg"),
            &format!("E22 α vs m/d ({prec})"),
            "m/d",
            "α",
            &series_ratio,
            &hl,
            true,
            false,
        )?;
        sum.plots.extend(["alpha_vs_width.svg".into(), "alpha_vs_width_over_d.svg".into()]);
        sum.data = serde_json::json!({
            "lrs": p.lrs,
            "cells": cells.iter().zip(an.iter().zip(&lam)).map(|(c, (a, l))| serde_json::json!({"d": c.d, "m": c.m, "analysis": a, "lambda_init_mean_std": l})).collect::<Vec<_>>(),
            "mstar": dims, "mstar_over_d_mean": rm, "mstar_over_d_std": rs,
        });
        Ok(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_width_grids() {
        let r = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];
        assert_eq!(widths_of(10, &r), vec![5, 10, 15, 20, 30, 40, 60]);
        assert_eq!(widths_of(20, &r), vec![10, 20, 30, 40, 60, 80, 120]);
        assert_eq!(widths_of(40, &r), vec![20, 40, 60, 80, 120, 160, 240]);
        assert_eq!(widths_of(2, &r), vec![2, 3, 4, 6, 8, 12]);
    }

    #[test]
    fn median_of_per_seed_ratios() {
        assert_eq!(median_ratio(&[Some(60.0), None, Some(40.0)], 20.0), Some(3.0));
        assert_eq!(median_ratio(&[Some(60.0), None, None], 20.0), None);
        assert_eq!(median_ratio(&[Some(40.0), Some(60.0)], 20.0), Some(2.5));
    }
}
