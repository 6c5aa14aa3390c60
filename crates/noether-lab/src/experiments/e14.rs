//! E14 — width dependence of the linear-vs-ReLU α gap ("mode coupling"), MSE only
//! (spec E13–E23 §2 E14; reference script `exp_width_mode_coupling_v1.py`).
//!
//! GM-200, bias-free 2-layer σ_ε net, m ∈ {16, 32, 64, 128, 256}, ε ∈ {0, 0.5, 1}, MSE, GD,
//! T = 2000, η ∈ {1e−4 … 0.3}, seeds 42/137/256. Reference protocol: α per (m, ε) over all η
//! (np.mean rule), Δα(m) = α(ReLU) − α(linear), power law Δα ∝ m^−γ only with ≥ 3 positive Δα
//! (the reference had 2: γ = None); claim Δα(m = 256). Robust protocol: the same on the sub-EoS
//! window η ≤ `robust_max_lr`.
//!
//! Table 1 attaches "CE regularization grows with m" to E14, but this script has no CE (spec §0,
//! §5 item 1): that statement is checked on E17's data (`E17.delta_loss_m128`).
//!
//! The m = 64 row is E13's ε_L = 0 column and E11's ε ∈ {0, 0.5, 1} (shared through the cache).

use noether_theory::fit::{FitMask, power_law_fit};
use serde::Deserialize;

use super::alpha_grid::{
    Cell, GridSpec, alpha_r2, cells_json, diverged_note, drift_plot, drift_table, find, identity_note,
};
use crate::LabError;
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;

pub struct E14;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    seeds: Vec<u64>,
    lrs: Vec<f64>,
    widths: Vec<usize>,
    act_epsilons: Vec<f64>,
    steps: usize,
    robust_max_lr: f64,
    switching_width: Option<usize>,
}

/// Reference α per (m, ε ∈ {0, 0.5, 1}) and Δα (spec E14 table).
const REF_WIDTHS: [usize; 5] = [16, 32, 64, 128, 256];
const REF_ALPHA: [[f64; 3]; 5] = [
    [1.1542, 1.1922, 1.0423],
    [1.1851, 1.1280, 1.1589],
    [1.1078, 1.2435, 1.2928],
    [1.3638, 1.1252, 1.2223],
    [1.1211, 1.5208, 1.6890],
];
const REF_DELTA: [f64; 5] = [-0.1120, -0.0262, 0.1850, -0.1415, 0.5679];

fn ref_alpha(m: usize, eps: f64) -> Option<f64> {
    let i = REF_WIDTHS.iter().position(|&w| w == m)?;
    let j = [0.0, 0.5, 1.0].iter().position(|&e| e == eps)?;
    Some(REF_ALPHA[i][j])
}

fn setup(ctx: &Context<'_>) -> Result<(Params, GridSpec, Vec<Cell>), LabError> {
    let p: Params = ctx.params()?;
    let spec = GridSpec {
        seeds: p.seeds.clone(),
        lrs: p.lrs.clone(),
        steps: p.steps,
        robust_max_lr: p.robust_max_lr,
        switching_width: p.switching_width,
    };
    let cells: Vec<Cell> =
        p.widths.iter().flat_map(|&m| p.act_epsilons.iter().map(move |&a| Cell::new(m, a, 0.0))).collect();
    spec.validate(ctx, &cells)?;
    if !(p.act_epsilons.contains(&0.0) && p.act_epsilons.contains(&1.0)) {
        return Err(LabError::LegacyConfig(format!(
            "{}: act_epsilons must contain 0 and 1 (Δα = α(ReLU) − α(linear))",
            ctx.config.path.display()
        )));
    }
    Ok((p, spec, cells))
}

/// Δα ∝ m^−γ on the positive Δα (≥ 3 needed, as the script): (γ, R²) or None.
fn gamma_fit(widths: &[usize], delta: &[f64]) -> Option<(f64, f64)> {
    let m: Vec<f64> = widths.iter().map(|&w| w as f64).collect();
    let mask = FitMask { min_value: 0.0, require_finite: true };
    power_law_fit(&m, delta, mask).ok().map(|f| (-f.alpha, f.r2))
}

impl Experiment for E14 {
    fn id(&self) -> &'static str {
        "E14"
    }
    fn title(&self) -> &'static str {
        "Width × activation (MSE): the linear-vs-ReLU α gap vs width"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        let (_, spec, cells) = setup(ctx)?;
        Ok(spec.jobs(&cells, ctx.precision))
    }
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let (p, spec, cells) = setup(ctx)?;
        let fits = spec.fit(&cells, ctx.precision, results)?;
        let mut sum = Summary::default();
        let get = |m: usize, a: f64| find(&fits, Cell::new(m, a, 0.0)).expect("validated");
        let delta_full: Vec<f64> =
            p.widths.iter().map(|&m| get(m, 1.0).alpha_full() - get(m, 0.0).alpha_full()).collect();
        let delta_win: Vec<f64> =
            p.widths.iter().map(|&m| get(m, 1.0).alpha_window() - get(m, 0.0).alpha_window()).collect();
        if let Some(i) = p.widths.iter().position(|&m| m == 256) {
            let (l, r) = (get(256, 0.0), get(256, 1.0));
            let pts = |f: &super::alpha_grid::CellFit, w: bool| {
                (if w { &f.window } else { &f.full }).as_ref().map_or(0, |a| a.n_points)
            };
            if delta_full[i].is_finite() {
                sum.measure(
                    "E14.delta_alpha_m256",
                    Protocol::Reference,
                    delta_full[i],
                    format!(
                        "α(ReLU) − α(linear), m = 256, MSE, all η (points kept {}/{}), np.mean over {} seeds",
                        pts(r, false),
                        pts(l, false),
                        p.seeds.len()
                    ),
                );
            }
            if delta_win[i].is_finite() {
                sum.measure(
                    "E14.delta_alpha_m256",
                    Protocol::Robust,
                    delta_win[i],
                    format!("same on η ≤ {} ({}/{} points)", p.robust_max_lr, pts(r, true), pts(l, true)),
                );
            }
        }

        // α per (m, ε) beside the reference.
        let mut header = vec!["m".to_string()];
        for &a in &p.act_epsilons {
            header.push(format!("ε = {a}: α (R²) all η"));
            header.push(format!("ε = {a}: [ref.]"));
            header.push(format!("ε = {a}: α, η ≤ {}", p.robust_max_lr));
        }
        header.extend(["Δα all η".into(), "Δα [ref.]".into(), format!("Δα, η ≤ {}", p.robust_max_lr)]);
        let mut t = Table {
            title: "α per (m, ε), MSE, and Δα = α(ReLU) − α(linear); [ref.] = reference values of spec E14".into(),
            header,
            rows: vec![],
        };
        for (k, &m) in p.widths.iter().enumerate() {
            let mut row = vec![m.to_string()];
            for &a in &p.act_epsilons {
                let f = get(m, a);
                row.push(alpha_r2(f.full.as_ref()));
                row.push(ref_alpha(m, a).map_or("—".into(), fmt));
                row.push(fmt(f.alpha_window()));
            }
            row.push(fmt(delta_full[k]));
            row.push(REF_WIDTHS.iter().position(|&w| w == m).map_or("—".into(), |i| fmt(REF_DELTA[i])));
            row.push(fmt(delta_win[k]));
            t.row(row);
        }
        sum.tables.push(t);
        sum.tables.push(drift_table("Seed-mean drift per (m, ε, η) (np.mean rule)", &fits, &p.lrs));

        let gamma = gamma_fit(&p.widths, &delta_full);
        let gamma_w = gamma_fit(&p.widths, &delta_win);
        let npos = delta_full.iter().filter(|d| **d > 0.0).count();
        sum.notes.push(format!(
            "Δα ∝ m^−γ (fitted only with ≥ 3 positive Δα, as the script): all η {} positive → {}; η ≤ {} {} positive → {}. Reference: 2 positive, γ = None. \
             The perturbative m^−1/2 shrinking of the gap is {}.",
            npos,
            gamma.map_or("γ = None".into(), |(g, r2)| format!("γ = {} (R² {})", fmt(g), fmt(r2))),
            p.robust_max_lr,
            delta_win.iter().filter(|d| **d > 0.0).count(),
            gamma_w.map_or("γ = None".into(), |(g, r2)| format!("γ = {} (R² {})", fmt(g), fmt(r2))),
            if gamma.is_some_and(|(g, _)| g > 0.0) { "consistent with a decreasing gap on the full grid" } else { "not seen: the sign of Δα is set by which cells keep their η = 0.1/0.3 points" }
        ));
        let win_alphas: Vec<f64> = fits.iter().map(|f| f.alpha_window()).filter(|a| a.is_finite()).collect();
        let (lo, hi) = win_alphas.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
        sum.notes.push(format!(
            "On η ≤ {} every (m, ε) has α in {}–{} (reference: 0.90–1.19; spec §5 item 2), so Δα there is small at every width.",
            p.robust_max_lr,
            fmt(lo),
            fmt(hi)
        ));
        sum.notes.push(
            "Table 1's \"CE regularization grows with m\" describes E17's data (this script has no CE; spec §0/§5 item 1): see E17.delta_loss_m128.".into(),
        );
        sum.notes.push(diverged_note(&fits, &p.lrs, p.seeds.len()));
        let (inote, ijson) = identity_note(&fits, &p.lrs, ctx.precision);
        sum.notes.push(inote);

        // Plots: α vs m per ε, Δα vs m, drift curves of the linear and ReLU cells.
        let prec = ctx.precision.name();
        let mut series: Vec<Series> = p
            .act_epsilons
            .iter()
            .map(|&a| Series {
                label: format!("ε = {a}, all η"),
                points: p.widths.iter().map(|&m| (m as f64, get(m, a).alpha_full())).collect(),
                fit: None,
                line: true,
            })
            .collect();
        series.push(Series {
            label: format!("ReLU, η ≤ {}", p.robust_max_lr),
            points: p.widths.iter().map(|&m| (m as f64, get(m, 1.0).alpha_window())).collect(),
            fit: None,
            line: true,
        });
        series.push(Series {
            label: format!("linear, η ≤ {}", p.robust_max_lr),
            points: p.widths.iter().map(|&m| (m as f64, get(m, 0.0).alpha_window())).collect(),
            fit: None,
            line: true,
        });
        xy_plot(
            &ctx.out_dir.join("alpha_vs_width.svg"),
            &format!("E14 α vs width, MSE ({prec})"),
            "width m",
            "α",
            &series,
            &[],
            true,
            false,
        )?;
        sum.plots.push("alpha_vs_width.svg".into());
        let zs = |d: &[f64]| p.widths.iter().zip(d).map(|(&m, &v)| (m as f64, v)).collect();
        xy_plot(
            &ctx.out_dir.join("delta_alpha_vs_width.svg"),
            &format!("E14 Δα = α(ReLU) − α(linear) vs width ({prec})"),
            "width m",
            "Δα",
            &[
                Series { label: "all η (reference protocol)".into(), points: zs(&delta_full), fit: None, line: true },
                Series {
                    label: format!("η ≤ {} (robust)", p.robust_max_lr),
                    points: zs(&delta_win),
                    fit: None,
                    line: true,
                },
                Series {
                    label: "[ref.] spec E14".into(),
                    points: REF_WIDTHS.iter().zip(REF_DELTA).map(|(&m, d)| (m as f64, d)).collect(),
                    fit: None,
                    line: false,
                },
            ],
            &[(0.0, "Δα = 0".into())],
            true,
            false,
        )?;
        sum.plots.push("delta_alpha_vs_width.svg".into());
        let lr_fits: Vec<_> = fits.iter().filter(|f| f.cell.act_eps == 0.0 || f.cell.act_eps == 1.0).collect();
        drift_plot(ctx, "drift_vs_lr.svg", "E14 drift vs η, linear and ReLU per width (MSE)", &lr_fits)?;
        sum.plots.push("drift_vs_lr.svg".into());
        sum.data = serde_json::json!({
            "cells": cells_json(&fits), "widths": p.widths, "delta_alpha_all": delta_full, "delta_alpha_window": delta_win,
            "gamma_all": gamma, "gamma_window": gamma_w, "identity": ijson,
        });
        Ok(sum)
    }
}
