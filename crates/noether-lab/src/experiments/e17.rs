//! E17 — {linear, ReLU} × {MSE, CE} α at three widths: "CE clamps α ≈ 1"
//! (spec E13–E23 §2 E17; reference script `exp_interaction_width_v1.py`).
//!
//! GM-200 (the problem table gives the data), bias-free 2-layer net, m ∈ {32, 64, 128}, σ_0 / σ_1 × MSE / CE, GD, T = 2000,
//! η ∈ {1e−3, 3e−3, 1e−2, 3e−2, 0.1}, seeds 42/137/256. Per width the 2×2 decomposition
//! δ_act = α(ReLU,MSE) − α(lin,MSE), δ_loss = α(lin,CE) − α(lin,MSE),
//! δ_int = [α(ReLU,CE) − α(ReLU,MSE)] − [α(lin,CE) − α(lin,MSE)], total = α(ReLU,CE) − α(lin,MSE).
//! Reference protocol: all five η (np.mean rule). Robust protocol: η ≤ `robust_max_lr` (0.03),
//! where the reference's twelve α are all 1.01–1.08.
//!
//! This is the data behind Table 1's E13 ("CE α ≈ 1.0 at all widths") and E14 ("CE
//! regularization grows with m") sentences (spec §0, §5 item 1): the claims
//! `E17.alpha_relu_ce_m128` and `E17.delta_loss_m128` check them.
//!
//! The m = 64 cells are E13's (and, for MSE, E11's/E14's) runs at the η ≥ 1e−3 part of their grid.

use noether_nn::Precision;
use serde::{Deserialize, Serialize};

use super::alpha_grid::{
    Cell, CellFit, GridParams, GridSpec, alpha_r2, cells_json, check_cells, diverged_note, drift_figure, drift_table,
    find, identity_note,
};
use crate::LabError;
use crate::aggregate::SeedRule;
use crate::config::{Check, Checked, Invalid};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::Results;

/// The experiment.
pub struct E17;

/// `configs/E17.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    #[serde(flatten)]
    grid: GridParams,
    widths: Vec<usize>,
}

/// The four combos in the reference's order: (activation ε, CE weight).
const COMBOS: [(f64, f64); 4] = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)];

impl Params {
    fn cells(&self) -> Vec<Cell> {
        self.widths.iter().flat_map(|&m| COMBOS.iter().map(move |&(a, w)| Cell::new(m, a, w))).collect()
    }
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.grid.check(&self.sweep)?;
        check_cells(&self.cells())
    }
}

/// data/reference/E17.toml.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    widths: Vec<usize>,
    /// [width][combo].
    alpha: Vec<[f64; 4]>,
    /// [width][(δ_act, δ_loss, δ_int, total)].
    decomposition: Vec<[f64; 4]>,
}

/// The grid and the widths.
pub struct Plan {
    spec: GridSpec,
    widths: Vec<usize>,
    reference: Reference,
}

/// What E17 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    seeds: usize,
    lrs: Vec<f64>,
    widths: Vec<usize>,
    robust_max_lr: f64,
    fits: Vec<CellFit>,
    /// Per width: (δ_act, δ_loss, δ_int, total), all η and window.
    decomposition_full: Vec<[f64; 4]>,
    decomposition_window: Vec<[f64; 4]>,
    reference: Reference,
}

/// (δ_act, δ_loss, δ_int, total) from α of (lin MSE, lin CE, ReLU MSE, ReLU CE).
fn decompose(a: [f64; 4]) -> [f64; 4] {
    let [lm, lc, rm, rc] = a;
    [rm - lm, lc - lm, (rc - rm) - (lc - lm), rc - lm]
}

fn alphas(fits: &[CellFit], m: usize, window: bool) -> [f64; 4] {
    COMBOS.map(|(a, w)| {
        find(fits, Cell::new(m, a, w)).map_or(f64::NAN, |f| if window { f.alpha_window() } else { f.alpha_full() })
    })
}

impl Experiment for E17 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E17"
    }
    fn title(&self) -> &'static str {
        "{linear, ReLU} × {MSE, CE} α at three widths (CE clamps α ≈ 1)"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let problem = ctx.problem(&p.sweep.problem)?;
        Ok(Plan {
            spec: GridSpec::new(&p.sweep, &p.grid, problem, ctx.precision, p.cells()),
            widths: p.widths.clone(),
            reference: ctx.reference()?,
        })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.spec.jobs()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let s = &plan.spec;
        let fits = s.fit(results)?;
        Ok(Analysis {
            precision: s.precision,
            seeds: s.seeds.len(),
            lrs: s.lrs.clone(),
            widths: plan.widths.clone(),
            robust_max_lr: s.robust_max_lr,
            decomposition_full: plan.widths.iter().map(|&m| decompose(alphas(&fits, m, false))).collect(),
            decomposition_window: plan.widths.iter().map(|&m| decompose(alphas(&fits, m, true))).collect(),
            fits,
            reference: plan.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let fits = &a.fits;
        let rf = &a.reference;
        let w = a.robust_max_lr;
        let ns = a.seeds;
        let (dec_full, dec_win) = (&a.decomposition_full, &a.decomposition_window);
        let mut sum = Summary::default();
        if let (Some(k), Some(rc)) = (a.widths.iter().position(|&m| m == 128), find(fits, Cell::new(128, 1.0, 1.0))) {
            if let Some(x) = &rc.full {
                sum.measure(
                    "E17.alpha_relu_ce_m128",
                    Protocol::Reference,
                    x.alpha,
                    format!("ReLU CE, m = 128, all {} η kept, np.mean over {ns} seeds", x.n_points),
                );
            }
            if let Some(x) = &rc.window {
                sum.measure(
                    "E17.alpha_relu_ce_m128",
                    Protocol::Robust,
                    x.alpha,
                    format!("ReLU CE, m = 128, η ≤ {w} ({} points)", x.n_points),
                );
            }
            if dec_full[k][1].is_finite() {
                sum.measure(
                    "E17.delta_loss_m128",
                    Protocol::Reference,
                    dec_full[k][1],
                    "α(lin, CE) − α(lin, MSE) at m = 128, all η",
                );
            }
            if dec_win[k][1].is_finite() {
                sum.measure("E17.delta_loss_m128", Protocol::Robust, dec_win[k][1], format!("same on η ≤ {w}"));
            }
        }

        // α table beside the reference.
        let mut t = Table::new(
            "α (R²) per (m, combo): all η, [ref.] = reference value of spec E17, and the sub-EoS window",
            &["m", "combo", "α (R²), all η", "[ref.]", "α, window", "drift jump at the largest η"],
        );
        for &m in &a.widths {
            let ri = rf.widths.iter().position(|&x| x == m);
            for (c, &(act, ce)) in COMBOS.iter().enumerate() {
                let Some(f) = find(fits, Cell::new(m, act, ce)) else { continue };
                let mm = &f.curve.mean;
                let jump = if mm.len() >= 2 { mm[mm.len() - 1] / mm[mm.len() - 2] } else { f64::NAN };
                t.row(vec![
                    m.to_string(),
                    format!("{} {}", f.cell.act_name(), f.cell.loss_name()),
                    alpha_r2(f.full.as_ref()),
                    ri.map_or("—".into(), |i| fmt(rf.alpha[i][c])),
                    fmt(f.alpha_window()),
                    format!("{}×", fmt(jump)),
                ]);
            }
        }
        sum.tables.push(t);
        let mut t = Table::new(
            "Decomposition per width: δ_act, δ_loss, δ_int, total (all η; [ref.]; η ≤ window)",
            &[
                "m",
                "δ_act",
                "δ_loss",
                "δ_int",
                "total",
                "[ref.] δ_act / δ_loss / δ_int / total",
                "window δ_act / δ_loss / δ_int / total",
            ],
        );
        for (k, &m) in a.widths.iter().enumerate() {
            let d = dec_full[k];
            let ri = rf.widths.iter().position(|&x| x == m);
            t.row(vec![
                m.to_string(),
                fmt(d[0]),
                fmt(d[1]),
                fmt(d[2]),
                fmt(d[3]),
                ri.map_or("—".into(), |i| rf.decomposition[i].map(fmt).join(" / ")),
                dec_win[k].map(fmt).join(" / "),
            ]);
        }
        sum.tables.push(t);
        sum.tables.push(drift_table("Seed-mean drift per (m, combo, η) (np.mean rule)", fits, &a.lrs));

        let ints: Vec<f64> = dec_full.iter().map(|d| d[2]).collect();
        let (im, is) = SeedRule::Strict.mean_std(&ints);
        sum.notes.push(format!(
            "δ_int over widths: mean {}, population std {} (reference 0.0710, 0.0830).",
            fmt(im),
            fmt(is)
        ));
        // Table-1 checks (spec §0): CE α ≈ 1 at all widths; CE effect grows with m.
        let relu_ce: Vec<String> =
            a.widths.iter().map(|&m| format!("m = {m}: {}", fmt(alphas(fits, m, false)[3]))).collect();
        let dloss: Vec<String> =
            a.widths.iter().zip(dec_full).map(|(m, d)| format!("m = {m}: {}", fmt(d[1]))).collect();
        let dloss_w: Vec<String> =
            a.widths.iter().zip(dec_win).map(|(m, d)| format!("m = {m}: {}", fmt(d[1]))).collect();
        sum.notes.push(format!(
            "Table 1 E13 \"CE α ≈ 1.0 at all widths\" (spec §5 item 1: E17's data): ReLU-CE α {} (reference 1.020/1.028/1.045).",
            relu_ce.join(", ")
        ));
        sum.notes.push(format!(
            "Table 1 E14 \"CE regularization grows with m\": δ_loss {} (reference −0.023/−0.102/−0.494); on η ≤ {}: {} — the growth is the \
             linear-MSE η = 0.1 point crossing 2/λ_max (λ_max ≈ 16–18 at m = 64, larger at m = 128), while CE's curvature stays sub-EoS.",
            dloss.join(", "),
            w,
            dloss_w.join(", ")
        ));
        sum.notes.push(diverged_note(fits, &a.lrs, ns));
        let (inote, ijson) = identity_note(fits, &a.lrs, a.precision);
        sum.notes.push(inote);

        // Figures: α vs m per combo (paper Fig 3c), full and window; drift curves at the largest width.
        let prec = a.precision.name();
        let name =
            |act: f64, ce: f64| format!("{} {}", Cell::new(0, act, ce).act_name(), Cell::new(0, act, ce).loss_name());
        let by_width = |c: usize, window: bool| {
            a.widths.iter().map(|&m| (m as f64, alphas(fits, m, window)[c])).collect::<Vec<_>>()
        };
        let mut series: Vec<Series> =
            COMBOS.iter().enumerate().map(|(c, &(act, ce))| Series::line(name(act, ce), by_width(c, false))).collect();
        series.extend(
            COMBOS
                .iter()
                .enumerate()
                .map(|(c, &(act, ce))| Series::points(format!("{}, η ≤ {w}", name(act, ce)), by_width(c, true))),
        );
        sum.figure(
            Figure::xy(
                "alpha_vs_width.svg",
                format!("E17 α vs width per combo ({prec})"),
                Axis::log("width m"),
                Axis::linear("α"),
                series,
            )
            .with_hlines(vec![(1.0, "α = 1".into())]),
        );
        if let Some(&mmax) = a.widths.iter().max() {
            let big: Vec<&CellFit> = fits.iter().filter(|f| f.cell.width == mmax).collect();
            sum.figure(drift_figure(
                "drift_vs_lr_largest_width.svg",
                &format!("E17 drift vs η at m = {mmax}"),
                a.precision,
                &big,
            ));
        }
        sum.data = serde_json::json!({
            "cells": cells_json(fits), "widths": a.widths,
            "decomposition_all": dec_full, "decomposition_window": dec_win, "delta_int_mean_std": [im, is], "identity": ijson,
        });
        sum
    }
}
