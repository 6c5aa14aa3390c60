//! E14 — width dependence of the linear-vs-ReLU α gap ("mode coupling"), MSE only
//! (spec E13–E23 §2 E14; reference script `exp_width_mode_coupling_v1.py`).
//!
//! GM-200 (the problem table gives the data), bias-free 2-layer σ_ε net, m ∈ {16, 32, 64, 128, 256}, ε ∈ {0, 0.5, 1}, MSE, GD,
//! T = 2000, η ∈ {1e−4 … 0.3}, seeds 42/137/256. Reference protocol: α per (m, ε) over all η
//! (np.mean rule), Δα(m) = α(ReLU) − α(linear), power law Δα ∝ m^−γ only with ≥ 3 positive Δα
//! (the reference had 2: γ = None); claim Δα(m = 256). Robust protocol: the same on the sub-EoS
//! window η ≤ `robust_max_lr`.
//!
//! Table 1 attaches "CE regularization grows with m" to E14, but this script has no CE (spec §0,
//! §5 item 1): that statement is checked on E17's data (`E17.delta_loss_m128`).
//!
//! The m = 64 row is E13's ε_L = 0 column and E11's ε ∈ {0, 0.5, 1} (shared through the cache).

use noether_nn::Precision;
use noether_theory::fit::{FitMask, power_law_fit};
use serde::{Deserialize, Serialize};

use super::alpha_grid::{
    Cell, CellFit, GridParams, GridSpec, alpha_r2, cells_json, check_cells, diverged_note, drift_figure, drift_table,
    find, identity_note,
};
use crate::LabError;
use crate::config::{Check, Checked, Invalid};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::Results;

/// The experiment.
pub struct E14;

/// `configs/E14.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    #[serde(flatten)]
    grid: GridParams,
    widths: Vec<usize>,
    act_epsilons: Vec<f64>,
}

impl Params {
    fn cells(&self) -> Vec<Cell> {
        self.widths.iter().flat_map(|&m| self.act_epsilons.iter().map(move |&a| Cell::new(m, a, 0.0))).collect()
    }
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.grid.check(&self.sweep)?;
        check_cells(&self.cells())?;
        if !(self.act_epsilons.contains(&0.0) && self.act_epsilons.contains(&1.0)) {
            return Err(Invalid::new("act_epsilons", "must contain 0 and 1 (Δα = α(ReLU) − α(linear))"));
        }
        Ok(())
    }
}

/// data/reference/E14.toml.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    widths: Vec<usize>,
    eps: Vec<f64>,
    /// [width][ε].
    alpha: Vec<Vec<f64>>,
    delta: Vec<f64>,
}

impl Reference {
    fn alpha(&self, m: usize, eps: f64) -> Option<f64> {
        let i = self.widths.iter().position(|&w| w == m)?;
        let j = self.eps.iter().position(|&e| e == eps)?;
        Some(self.alpha[i][j])
    }
    fn delta(&self, m: usize) -> Option<f64> {
        self.widths.iter().position(|&w| w == m).map(|i| self.delta[i])
    }
}

/// The grid and the parameters the analysis reports.
pub struct Plan {
    spec: GridSpec,
    widths: Vec<usize>,
    act_epsilons: Vec<f64>,
    reference: Reference,
}

/// What E14 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    seeds: usize,
    lrs: Vec<f64>,
    widths: Vec<usize>,
    act_epsilons: Vec<f64>,
    robust_max_lr: f64,
    fits: Vec<CellFit>,
    /// Δα = α(ReLU) − α(linear) per width, all η and window.
    delta_full: Vec<f64>,
    delta_window: Vec<f64>,
    /// Δα ∝ m^−γ: (γ, R²).
    gamma_full: Option<(f64, f64)>,
    gamma_window: Option<(f64, f64)>,
    reference: Reference,
}

/// Δα ∝ m^−γ on the positive Δα (≥ 3 needed, as the script): (γ, R²) or None.
fn gamma_fit(widths: &[usize], delta: &[f64]) -> Option<(f64, f64)> {
    let m: Vec<f64> = widths.iter().map(|&w| w as f64).collect();
    let mask = FitMask { min_value: 0.0, require_finite: true };
    power_law_fit(&m, delta, mask).ok().map(|f| (-f.alpha, f.r2))
}

impl Experiment for E14 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E14"
    }
    fn title(&self) -> &'static str {
        "Width × activation (MSE): the linear-vs-ReLU α gap vs width"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let problem = ctx.problem(&p.sweep.problem)?;
        Ok(Plan {
            spec: GridSpec::new(&p.sweep, &p.grid, problem, ctx.precision, p.cells()),
            widths: p.widths.clone(),
            act_epsilons: p.act_epsilons.clone(),
            reference: ctx.reference()?,
        })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.spec.jobs()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let s = &plan.spec;
        let fits = s.fit(results)?;
        let alpha = |m: usize, act: f64, window: bool| {
            find(&fits, Cell::new(m, act, 0.0))
                .map_or(f64::NAN, |f| if window { f.alpha_window() } else { f.alpha_full() })
        };
        let delta = |window: bool| -> Vec<f64> {
            plan.widths.iter().map(|&m| alpha(m, 1.0, window) - alpha(m, 0.0, window)).collect()
        };
        let (delta_full, delta_window) = (delta(false), delta(true));
        Ok(Analysis {
            precision: s.precision,
            seeds: s.seeds.len(),
            lrs: s.lrs.clone(),
            widths: plan.widths.clone(),
            act_epsilons: plan.act_epsilons.clone(),
            robust_max_lr: s.robust_max_lr,
            gamma_full: gamma_fit(&plan.widths, &delta_full),
            gamma_window: gamma_fit(&plan.widths, &delta_window),
            delta_full,
            delta_window,
            fits,
            reference: plan.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let fits = &a.fits;
        let rf = &a.reference;
        let w = a.robust_max_lr;
        let mut sum = Summary::default();
        let get = |m: usize, act: f64| find(fits, Cell::new(m, act, 0.0));
        let alpha_at = |m: usize, act: f64, window: bool| {
            get(m, act).map_or(f64::NAN, |f| if window { f.alpha_window() } else { f.alpha_full() })
        };
        if let (Some(i), Some(l), Some(r)) = (a.widths.iter().position(|&m| m == 256), get(256, 0.0), get(256, 1.0)) {
            let pts =
                |f: &CellFit, win: bool| (if win { &f.window } else { &f.full }).as_ref().map_or(0, |x| x.n_points);
            if a.delta_full[i].is_finite() {
                sum.measure(
                    "E14.delta_alpha_m256",
                    Protocol::Reference,
                    a.delta_full[i],
                    format!(
                        "α(ReLU) − α(linear), m = 256, MSE, all η (points kept {}/{}), np.mean over {} seeds",
                        pts(r, false),
                        pts(l, false),
                        a.seeds
                    ),
                );
            }
            if a.delta_window[i].is_finite() {
                sum.measure(
                    "E14.delta_alpha_m256",
                    Protocol::Robust,
                    a.delta_window[i],
                    format!("same on η ≤ {w} ({}/{} points)", pts(r, true), pts(l, true)),
                );
            }
        }

        // α per (m, ε) beside the reference.
        let mut header = vec!["m".to_string()];
        for &e in &a.act_epsilons {
            header.push(format!("ε = {e}: α (R²) all η"));
            header.push(format!("ε = {e}: [ref.]"));
            header.push(format!("ε = {e}: α, η ≤ {w}"));
        }
        header.extend(["Δα all η".into(), "Δα [ref.]".into(), format!("Δα, η ≤ {w}")]);
        let mut t = Table {
            title: "α per (m, ε), MSE, and Δα = α(ReLU) − α(linear); [ref.] = reference values of spec E14".into(),
            header,
            rows: vec![],
        };
        for (k, &m) in a.widths.iter().enumerate() {
            let mut row = vec![m.to_string()];
            for &e in &a.act_epsilons {
                let f = get(m, e);
                row.push(alpha_r2(f.and_then(|f| f.full.as_ref())));
                row.push(rf.alpha(m, e).map_or("—".into(), fmt));
                row.push(fmt(alpha_at(m, e, true)));
            }
            row.push(fmt(a.delta_full[k]));
            row.push(rf.delta(m).map_or("—".into(), fmt));
            row.push(fmt(a.delta_window[k]));
            t.row(row);
        }
        sum.tables.push(t);
        sum.tables.push(drift_table("Seed-mean drift per (m, ε, η) (np.mean rule)", fits, &a.lrs));

        let npos = a.delta_full.iter().filter(|d| **d > 0.0).count();
        let gamma_cell =
            |g: Option<(f64, f64)>| g.map_or("γ = None".into(), |(g, r2)| format!("γ = {} (R² {})", fmt(g), fmt(r2)));
        sum.notes.push(format!(
            "Δα ∝ m^−γ (fitted only with ≥ 3 positive Δα, as the script): all η {} positive → {}; η ≤ {} {} positive → {}. Reference: 2 positive, γ = None. \
             The perturbative m^−1/2 shrinking of the gap is {}.",
            npos,
            gamma_cell(a.gamma_full),
            w,
            a.delta_window.iter().filter(|d| **d > 0.0).count(),
            gamma_cell(a.gamma_window),
            if a.gamma_full.is_some_and(|(g, _)| g > 0.0) {
                "consistent with a decreasing gap on the full grid"
            } else {
                "not seen: the sign of Δα is set by which cells keep their η = 0.1/0.3 points"
            }
        ));
        let win_alphas: Vec<f64> = fits.iter().map(|f| f.alpha_window()).filter(|x| x.is_finite()).collect();
        let (lo, hi) = win_alphas.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(x, y), &v| (x.min(v), y.max(v)));
        sum.notes.push(format!(
            "On η ≤ {w} every (m, ε) has α in {}–{} (reference: 0.90–1.19; spec §5 item 2), so Δα there is small at every width.",
            fmt(lo),
            fmt(hi)
        ));
        sum.notes.push(
            "Table 1's \"CE regularization grows with m\" describes E17's data (this script has no CE; spec §0/§5 item 1): see E17.delta_loss_m128.".into(),
        );
        sum.notes.push(diverged_note(fits, &a.lrs, a.seeds));
        let (inote, ijson) = identity_note(fits, &a.lrs, a.precision);
        sum.notes.push(inote);

        // Figures: α vs m per ε, Δα vs m, drift curves of the linear and ReLU cells.
        let prec = a.precision.name();
        let by_width = |f: &dyn Fn(usize) -> f64| a.widths.iter().map(|&m| (m as f64, f(m))).collect::<Vec<_>>();
        let mut series: Vec<Series> = a
            .act_epsilons
            .iter()
            .map(|&e| Series::line(format!("ε = {e}, all η"), by_width(&|m| alpha_at(m, e, false))))
            .collect();
        series.push(Series::line(format!("ReLU, η ≤ {w}"), by_width(&|m| alpha_at(m, 1.0, true))));
        series.push(Series::line(format!("linear, η ≤ {w}"), by_width(&|m| alpha_at(m, 0.0, true))));
        sum.figure(Figure::xy(
            "alpha_vs_width.svg",
            format!("E14 α vs width, MSE ({prec})"),
            Axis::log("width m"),
            Axis::linear("α"),
            series,
        ));
        let zs = |d: &[f64]| a.widths.iter().zip(d).map(|(&m, &v)| (m as f64, v)).collect();
        sum.figure(
            Figure::xy(
                "delta_alpha_vs_width.svg",
                format!("E14 Δα = α(ReLU) − α(linear) vs width ({prec})"),
                Axis::log("width m"),
                Axis::linear("Δα"),
                vec![
                    Series::line("all η (reference protocol)", zs(&a.delta_full)),
                    Series::line(format!("η ≤ {w} (robust)"), zs(&a.delta_window)),
                    Series::points(
                        "[ref.] spec E14",
                        rf.widths.iter().zip(&rf.delta).map(|(&m, &d)| (m as f64, d)).collect(),
                    ),
                ],
            )
            .with_hlines(vec![(0.0, "Δα = 0".into())]),
        );
        let lr_fits: Vec<&CellFit> = fits.iter().filter(|f| f.cell.act_eps == 0.0 || f.cell.act_eps == 1.0).collect();
        sum.figure(drift_figure(
            "drift_vs_lr.svg",
            "E14 drift vs η, linear and ReLU per width (MSE)",
            a.precision,
            &lr_fits,
        ));
        sum.data = serde_json::json!({
            "cells": cells_json(fits), "widths": a.widths, "delta_alpha_all": a.delta_full, "delta_alpha_window": a.delta_window,
            "gamma_all": a.gamma_full, "gamma_window": a.gamma_window, "identity": ijson,
        });
        sum
    }
}
