//! E22 — transition width vs input dimension: "m*/d varies: 6.0, 3.0, 1.0" for d = 10, 20,
//! 40 (spec E13-E23 §2-E22; reference script exp_width_dim_transition_v1.py).
//!
//! The problem table sets the data (a Gaussian mixture, whose d E22 sweeps), activation and loss
//! (the paper's script: LINEAR 2-layer bias-free net, MSE, GM(n = 200, d, K = 5) with centre
//! radius 2√d); widths
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

use noether_nn::{Activation, Precision};
use noether_theory::fit::{mean, std_pop};
use noether_theory::width::{ALPHA_THRESHOLD, TransitionMargin, transition_margin, transition_width};
use serde::{Deserialize, Serialize};

use super::common::Sweep;
use super::width_common::{WidthAnalysis, drift_sweep, drift_value, lambda_init, lambda_init_job};
use crate::LabError;
use crate::aggregate::SeedRule;
use crate::config::{Check, Checked, Invalid, positive};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::{DataSpec, Job};
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::Results;

/// The experiment.
pub struct E22;

/// `configs/E22.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    dims: Vec<usize>,
    /// Width ratios r: widths = sorted unique max(⌊r·d⌋, 2).
    ratios: Vec<f64>,
    sub_eos_max_lr: f64,
    /// The d of the `E22.mstar_over_d_d20` claim.
    claim_dim: usize,
    lambda_tol: f64,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.sweep.check_grid(3)?;
        if !matches!(self.sweep.problem.data, noether_train::run::DataConfig::GaussianMixture { .. }) {
            return Err(Invalid::new("problem.data", "E22 sweeps the input dimension of a gaussian_mixture"));
        }
        if self.dims.is_empty() || self.ratios.is_empty() {
            return Err(Invalid::new("dims", "E22 needs dims and ratios"));
        }
        if self.dims.contains(&0) {
            return Err(Invalid::new("dims", "input dimension 0"));
        }
        if !self.dims.contains(&self.claim_dim) {
            return Err(Invalid::new("claim_dim", format!("{} is not among the dims", self.claim_dim)));
        }
        if let Some(r) = self.ratios.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            return Err(Invalid::new("ratios", format!("width ratio {r} must be > 0")));
        }
        positive("sub_eos_max_lr", self.sub_eos_max_lr)?;
        positive("lambda_tol", self.lambda_tol)
    }
}

/// The reference's row of one (d, m) (data/reference/E22.toml).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefCell {
    d: usize,
    m: usize,
    alpha: f64,
    per_seed_mean: f64,
    per_seed_std: f64,
}

/// The reference's m* of one d.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefMstar {
    d: usize,
    m: usize,
}

/// data/reference/E22.toml.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    mstar: Vec<RefMstar>,
    cell: Vec<RefCell>,
}

/// The reference's width grid of one d.
fn widths_of(d: usize, ratios: &[f64]) -> Vec<usize> {
    let mut w: Vec<usize> = ratios.iter().map(|r| ((r * d as f64).floor() as usize).max(2)).collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// One (d, m) cell: its sweep and its λ_max(init) jobs per seed.
pub struct Cell {
    d: usize,
    m: usize,
    sweep: Sweep,
    lambda: Vec<Job>,
}

/// Every (d, m) cell.
pub struct Plan {
    precision: Precision,
    activation: String,
    dims: Vec<usize>,
    lrs: Vec<f64>,
    seeds: usize,
    sub_eos_max_lr: f64,
    claim_dim: usize,
    cells: Vec<Cell>,
    reference: Reference,
}

/// m* of one d for several α definitions.
#[derive(Serialize)]
pub struct DimResult {
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

/// One (d, m) cell measured.
#[derive(Serialize)]
pub struct CellResult {
    d: usize,
    m: usize,
    analysis: WidthAnalysis,
    lambda_init_mean_std: (f64, f64),
}

/// What E22 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    activation: String,
    lrs: Vec<f64>,
    seeds: usize,
    sub_eos_max_lr: f64,
    claim_dim: usize,
    cells: Vec<CellResult>,
    dims: Vec<DimResult>,
    mstar_over_d_mean: f64,
    mstar_over_d_std: f64,
    reference: Reference,
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
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E22"
    }
    fn title(&self) -> &'static str {
        "Transition width vs input dimension (linear network)"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let problem = ctx.problem(&p.sweep.problem)?;
        let s = &p.sweep;
        let mut cells = Vec::new();
        for &d in &p.dims {
            let data = match &problem.data {
                DataSpec::GaussianMixture { n, classes, separation, n_test, .. } => {
                    DataSpec::GaussianMixture { n: *n, d, classes: *classes, separation: *separation, n_test: *n_test }
                }
                _ => return Err(ctx.invalid("problem.data", "E22 sweeps the input dimension of a gaussian_mixture")),
            };
            for m in widths_of(d, &p.ratios) {
                let at = crate::problem::Problem { data: data.clone(), ..problem.with_hidden(vec![m]) };
                cells.push(Cell {
                    d,
                    m,
                    sweep: drift_sweep(&s.lrs, &s.seeds, s.steps, |seed| at.spec(seed, ctx.precision)),
                    lambda: s
                        .seeds
                        .iter()
                        .map(|&seed| lambda_init_job(at.spec(seed, ctx.precision), p.lambda_tol))
                        .collect(),
                });
            }
        }
        Ok(Plan {
            precision: ctx.precision,
            activation: Activation { eps: problem.net.activation_eps }.name(),
            dims: p.dims.clone(),
            lrs: s.lrs.clone(),
            seeds: s.seeds.len(),
            sub_eos_max_lr: p.sub_eos_max_lr,
            claim_dim: p.claim_dim,
            cells,
            reference: ctx.reference()?,
        })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.cells.iter().flat_map(|c| c.sweep.all_jobs().into_iter().chain(c.lambda.iter().cloned())).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let mut cells = Vec::new();
        for c in &plan.cells {
            let analysis = WidthAnalysis::new(&plan.lrs, &c.sweep.matrix(results, drift_value)?, plan.sub_eos_max_lr);
            let l: Vec<f64> = c.lambda.iter().map(|j| lambda_init(results, j)).collect::<Result<_, _>>()?;
            cells.push(CellResult {
                d: c.d,
                m: c.m,
                analysis,
                lambda_init_mean_std: SeedRule::FiniteOnly.mean_std(&l),
            });
        }
        let mut dims = Vec::new();
        for &d in &plan.dims {
            let of_d: Vec<&CellResult> = cells.iter().filter(|c| c.d == d).collect();
            let wf: Vec<f64> = of_d.iter().map(|c| c.m as f64).collect();
            let col = |f: &dyn Fn(&WidthAnalysis) -> f64| of_d.iter().map(|c| f(&c.analysis)).collect::<Vec<f64>>();
            let per_seed_mstar: Vec<Option<f64>> = (0..plan.seeds)
                .map(|s| transition_width(&wf, &col(&|a| a.per_seed[s]), ALPHA_THRESHOLD))
                .collect::<Result<_, _>>()?;
            dims.push(DimResult {
                d,
                widths: of_d.iter().map(|c| c.m).collect(),
                reference: transition_margin(&wf, &col(&|a| a.alpha()), ALPHA_THRESHOLD)?,
                sub_eos_mstar: transition_width(&wf, &col(&|a| a.sub_eos_alpha()), ALPHA_THRESHOLD)?,
                per_seed_mean_mstar: transition_width(&wf, &col(&|a| a.per_seed_mean), ALPHA_THRESHOLD)?,
                per_seed_median_ratio: median_ratio(&per_seed_mstar, d as f64),
                per_seed_mstar,
            });
        }
        let ratios: Vec<f64> =
            dims.iter().filter_map(|r| r.reference.as_ref().map(|t| t.m_star / r.d as f64)).collect();
        let (rm, rs) = if ratios.is_empty() { (f64::NAN, f64::NAN) } else { (mean(&ratios)?, std_pop(&ratios)?) };
        Ok(Analysis {
            precision: plan.precision,
            activation: plan.activation.clone(),
            lrs: plan.lrs.clone(),
            seeds: plan.seeds,
            sub_eos_max_lr: plan.sub_eos_max_lr,
            claim_dim: plan.claim_dim,
            cells,
            dims,
            mstar_over_d_mean: rm,
            mstar_over_d_std: rs,
            reference: plan.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let w = a.sub_eos_max_lr;
        let rf = &a.reference;
        let eta_top = a.lrs.iter().copied().fold(f64::NAN, f64::max);
        let mut sum = Summary::default();
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
        for c in &a.cells {
            let x = &c.analysis;
            let l = c.lambda_init_mean_std;
            let r = rf.cell.iter().find(|r| r.d == c.d && r.m == c.m);
            t.row(vec![
                c.d.to_string(),
                c.m.to_string(),
                fmt(c.m as f64 / c.d as f64),
                fmt(x.alpha()),
                fmt(x.r2()),
                fmt(x.curvature()),
                x.per_seed_cell(),
                fmt(x.sub_eos_alpha()),
                x.n_conv_cell(),
                format!("{} ± {}; {}", fmt(l.0), fmt(l.1), fmt(eta_top * l.0)),
                r.map_or("—".into(), |r| fmt(r.alpha)),
                r.map_or("—".into(), |r| format!("{} ± {}", fmt(r.per_seed_mean), fmt(r.per_seed_std))),
            ]);
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
        for r in &a.dims {
            let refm = rf.mstar.iter().find(|x| x.d == r.d).map_or("—".into(), |x| fmt(x.m as f64 / x.d as f64));
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
        let crossings = a.dims.iter().filter(|r| r.reference.is_some()).count();
        sum.notes.push(format!(
            "m*/d over the {crossings} d with a crossing: mean {}, population std {} (reference 6.0, 3.0, 1.0: mean 3.333, std 2.055).",
            fmt(a.mstar_over_d_mean),
            fmt(a.mstar_over_d_std)
        ));
        let fragile: Vec<String> = a
            .dims
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
        let spread =
            SeedRule::FiniteOnly.mean_std(&a.cells.iter().map(|c| c.analysis.per_seed_std).collect::<Vec<_>>()).0;
        sum.notes.push(format!(
            "Threshold fragility (spec §5 item 7): {}; the mean per-seed α spread is {}, so a margin below it is not a resolved crossing.",
            if fragile.is_empty() { "no crossings".into() } else { fragile.join("; ") },
            fmt(spread)
        ));
        sum.notes.push(if a.activation == "linear" {
            "Network is LINEAR (ε = 0), as in the reference script; the paper frames E22 as the ReLU dichotomy. A width losing all seeds at η = 0.1 drops its top point and α falls (reference d = 40, m = 240: non-monotone α is an exclusion artefact).".to_string()
        } else {
            format!("Network activation: {} (the reference script used a linear network).", a.activation)
        });
        sum.tables.extend([tm, t]);

        // Claims.
        if let Some(r) = a.dims.iter().find(|r| r.d == a.claim_dim) {
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
                        a.seeds,
                        r.per_seed_mstar.iter().map(|m| opt(*m)).collect::<Vec<_>>().join(", ")
                    ),
                ),
                None => sum.notes.push(format!(
                    "d = {}: most seeds never cross α = 1.1 on their own, so the robust m*/d is not measured.",
                    r.d
                )),
            }
        }

        // Figures: α(m) per d with the threshold and the m* crossings, against m and against m/d.
        let mut series = Vec::new();
        let mut series_ratio = Vec::new();
        for r in &a.dims {
            let d = r.d;
            let pts: Vec<(f64, f64)> =
                a.cells.iter().filter(|c| c.d == d).map(|c| (c.m as f64, c.analysis.alpha())).collect();
            series_ratio.push(Series::line(format!("d = {d}"), pts.iter().map(|(m, x)| (m / d as f64, *x)).collect()));
            series.push(Series::line(format!("d = {d}"), pts));
        }
        let crossings: Vec<(f64, f64)> =
            a.dims.iter().filter_map(|r| r.reference.as_ref().map(|t| (t.m_star, t.alpha_at))).collect();
        let crossings_ratio: Vec<(f64, f64)> =
            a.dims.iter().filter_map(|r| r.reference.as_ref().map(|t| (t.m_star / r.d as f64, t.alpha_at))).collect();
        series.push(Series::points("m* (first α > 1.1)", crossings));
        series_ratio.push(Series::points("m*/d", crossings_ratio));
        let hl = vec![(ALPHA_THRESHOLD, "threshold 1.1".to_string())];
        let prec = a.precision.name();
        sum.figure(
            Figure::xy(
                "alpha_vs_width.svg",
                format!("E22 α vs width per d, linear MSE ({prec})"),
                Axis::log("width m"),
                Axis::linear("α"),
                series,
            )
            .with_hlines(hl.clone()),
        );
        sum.figure(
            Figure::xy(
                "alpha_vs_width_over_d.svg",
                format!("E22 α vs m/d ({prec})"),
                Axis::log("m/d"),
                Axis::linear("α"),
                series_ratio,
            )
            .with_hlines(hl),
        );
        sum.data = serde_json::json!({
            "lrs": a.lrs,
            "cells": a.cells,
            "mstar": a.dims, "mstar_over_d_mean": a.mstar_over_d_mean, "mstar_over_d_std": a.mstar_over_d_std,
        });
        sum
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
