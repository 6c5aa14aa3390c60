//! E10 — "Activation coupling: smooth α transition" (spec E01–E12 §2, E10). **A reconstruction.**
//!
//! The paper's E10 has no script and no results of its own (spec §4.11). Its claim — α moves
//! smoothly from the linear to the ReLU net — matches the α(ε) curve of
//! `exp_interpolated_activation_v1.py`, so E10 re-analyses E11's runs: it plans exactly E11's jobs
//! (from `configs/E11.toml`, same `[full]`/`[quick]` table), which the result cache shares.
//!
//! Reference protocol: α(ε) with E11's reference fit (all η, NaN-propagating seed mean, mask
//! 1e−15 & finite); the claim `E10.alpha_jump_02_05` is the step α(0.5) − α(0.2), which in the
//! reference is the η = 0.3 point entering the fit (it diverges for ε ≤ 0.2).
//! Robust protocol: α(ε) on the common window η ≤ 0.1 (reported as a table and plot; the paper
//! gives no number to compare with). When E11 records switching, the E9 metrics per ε are
//! tabulated too (for ε < 1 a "switch" is a sign change of the pre-activation).

use noether_nn::Precision;
use noether_theory::fit::mean_nan_propagating;
use serde::{Deserialize, Serialize};

use super::e11::{self, EpsFit, Grid, alpha_of, alpha_range_of, opt_fmt};
use crate::LabError;
use crate::config::{Check, Checked, ExperimentConfig, Invalid};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::results::{Results, TrainResult};

/// The experiment.
pub struct E10;

/// The adjacent pair of ε of the claim `E10.alpha_jump_02_05`.
const JUMP: (f64, f64) = (0.2, 0.5);

/// `configs/E10.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// ε values whose activation-switching metrics are tabulated (those in E11's grid).
    switching_eps: Vec<f64>,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        if let Some(e) = self.switching_eps.iter().find(|e| !(0.0..=1.0).contains(*e)) {
            return Err(Invalid::new("switching_eps", format!("ε = {e} is outside [0, 1]")));
        }
        Ok(())
    }
}

/// E10's parameters and E11's runs (planned from configs/E11.toml next to E10's config).
pub struct Plan {
    switching_eps: Vec<f64>,
    grid: Grid,
}

/// The E9 switching metrics at one ε (means over seeds and η ≤ window).
#[derive(Serialize)]
pub struct Switching {
    eps: f64,
    neurons_changed_fraction: f64,
    flip_fraction: f64,
    zero_change_fraction: f64,
    corr_flips_abs_imbalance: f64,
    alpha_window: f64,
}

/// What E10 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    seeds: usize,
    lrs: Vec<f64>,
    robust_max_lr: f64,
    fits: Vec<EpsFit>,
    alpha_full: Vec<f64>,
    alpha_window: Vec<f64>,
    /// Index of the largest η.
    top: usize,
    /// (full-grid step, window step, η_top in the ε = 0.2 fit, in the ε = 0.5 fit).
    jump: Option<(f64, f64, bool, bool)>,
    /// None if E11 ran without the switching probe.
    switching: Option<Vec<Switching>>,
    /// switching_eps values not in E11's grid.
    missing_switching_eps: Vec<f64>,
    reference: e11::Reference,
}

/// The largest |α(ε_k) − α(ε_{k−1})| as a share of max − min of α (1 = one step carries it all).
fn largest_step_share(alphas: &[f64]) -> f64 {
    let steps: Vec<f64> = alphas.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let range = alpha_range_of(alphas);
    steps.iter().copied().fold(0.0, f64::max) / range
}

/// Seed-and-η mean of a switching metric over η ≤ `max_lr` (NaN if not recorded).
fn switching_mean(
    g: &Grid,
    k: usize,
    results: &Results,
    max_lr: f64,
    metric: impl Fn(&TrainResult) -> Option<f64>,
) -> Result<f64, LabError> {
    let m = g.sweeps[k].matrix(results, |r| metric(r).unwrap_or(f64::NAN))?;
    let v: Vec<f64> = m
        .iter()
        .zip(&g.lrs)
        .filter(|(_, eta)| **eta <= max_lr * (1.0 + 1e-12))
        .flat_map(|(row, _)| row.iter().copied())
        .collect();
    Ok(if v.is_empty() { f64::NAN } else { mean_nan_propagating(&v)? })
}

impl Experiment for E10 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E10"
    }
    fn title(&self) -> &'static str {
        "Smooth α transition over σ_ε (reconstruction from E11's runs)"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let path = ctx.config.base_dir().join("E11.toml");
        if !path.exists() {
            return Err(LabError::config(
                &ctx.config.path,
                None,
                None,
                format!("E10 re-analyses E11's runs, but {} was not found", path.display()),
            ));
        }
        let cfg = ExperimentConfig::load(&path)?;
        if cfg.id != "E11" {
            return Err(LabError::config(&path, None, Some("id"), format!("id = \"{}\", expected E11", cfg.id)));
        }
        let e11_params = cfg.params::<e11::Params>(ctx.quick)?;
        let e11_ctx = Context { id: "E11", config: &cfg, ..*ctx };
        Ok(Plan { switching_eps: p.switching_eps.clone(), grid: e11::grid(&e11_params, &e11_ctx)? })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.grid.sweeps.iter().flat_map(|s| s.all_jobs()).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let g = &plan.grid;
        let fs: Vec<EpsFit> = e11::fits(g, results)?;
        let w = g.robust_max_lr;
        let full: Vec<f64> = fs.iter().map(|f| alpha_of(f.full.as_ref())).collect();
        let win: Vec<f64> = fs.iter().map(|f| alpha_of(f.window.as_ref())).collect();
        let top = (0..g.lrs.len()).max_by(|&a, &b| g.lrs[a].total_cmp(&g.lrs[b])).unwrap_or(0);
        let at = |eps: f64| fs.iter().position(|f| (f.eps - eps).abs() < 1e-9);
        let in_fit = |k: usize| fs[k].full.as_ref().is_some_and(|a| a.kept.contains(&top));
        let jump = match (at(JUMP.0), at(JUMP.1)) {
            (Some(a), Some(b)) => Some((full[b] - full[a], win[b] - win[a], in_fit(a), in_fit(b))),
            _ => None,
        };
        let mut missing_switching_eps = Vec::new();
        let switching = if g.switching {
            let mut rows = Vec::new();
            for &eps in &plan.switching_eps {
                let Some(k) = at(eps) else {
                    missing_switching_eps.push(eps);
                    continue;
                };
                let sw = |m: fn(&TrainResult) -> Option<f64>| switching_mean(g, k, results, w, m);
                rows.push(Switching {
                    eps,
                    neurons_changed_fraction: sw(|r| {
                        r.switching.as_ref().map(|s| s.summary.mean_neurons_changed_fraction)
                    })?,
                    flip_fraction: sw(|r| r.switching.as_ref().map(|s| s.summary.mean_flip_fraction))?,
                    zero_change_fraction: sw(|r| r.switching.as_ref().map(|s| s.summary.zero_change_fraction))?,
                    corr_flips_abs_imbalance: sw(|r| r.switching.as_ref().map(|s| s.corr_flips_abs_imbalance))?,
                    alpha_window: win[k],
                });
            }
            Some(rows)
        } else {
            None
        };
        Ok(Analysis {
            precision: g.precision,
            seeds: g.seeds.len(),
            lrs: g.lrs.clone(),
            robust_max_lr: w,
            fits: fs,
            alpha_full: full,
            alpha_window: win,
            top,
            jump,
            switching,
            missing_switching_eps,
            reference: g.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let (fs, full, win) = (&a.fits, &a.alpha_full, &a.alpha_window);
        let rf = &a.reference;
        let w = a.robust_max_lr;
        let top = a.top;
        let eta_top = a.lrs[top];
        let mut sum = Summary::default();
        match a.jump {
            Some((jf, jw, top_a, top_b)) => {
                sum.measure(
                    "E10.alpha_jump_02_05",
                    Protocol::Reference,
                    jf,
                    format!("reconstruction: α(ε = {}) − α(ε = {}) with E11's reference fit (all η)", JUMP.1, JUMP.0),
                );
                sum.notes.push(format!(
                    "Reconstruction (no E10 script exists): the step α(ε = {}) − α(ε = {}) is {} on the full grid \
                     (reference 1.2435 − 1.0780 = 0.1655) and {} on η ≤ {w} (reference 1.0593 − 1.0780 = −0.0187). \
                     η = {eta_top} is {} the ε = {} fit and {} the ε = {} fit{}.",
                    JUMP.1,
                    JUMP.0,
                    fmt(jf),
                    fmt(jw),
                    if top_a { "in" } else { "not in" },
                    JUMP.0,
                    if top_b { "in" } else { "not in" },
                    JUMP.1,
                    if !top_a && top_b { ": the full-grid step is that point entering the fit" } else { "" }
                ));
            }
            None => sum.notes.push(format!(
                "E11's grid lacks ε = {} or ε = {}, so E10.alpha_jump_02_05 is not measured.",
                JUMP.0, JUMP.1
            )),
        }
        let in_fit_col = format!("η = {eta_top} in fit");
        let mut t = Table::new(
            "Reconstruction: α(ε) from E11's runs, both fits, ours vs the reference's (spec E11)",
            &[
                "ε",
                "α (all η)",
                "step",
                "ref α (all η)",
                in_fit_col.as_str(),
                "R²",
                "α (η ≤ window)",
                "step (window)",
                "ref α (η ≤ 0.1)",
            ],
        );
        for (k, f) in fs.iter().enumerate() {
            let r = rf.index(f.eps);
            let step = |v: &[f64]| if k == 0 { "—".to_string() } else { fmt(v[k] - v[k - 1]) };
            let top_in_fit = f.full.as_ref().is_some_and(|x| x.kept.contains(&top));
            t.row(vec![
                f.eps.to_string(),
                fmt(full[k]),
                step(full),
                opt_fmt(r.map(|i| rf.alpha[i])),
                if top_in_fit { "yes".into() } else { format!("no ({}/{} seeds diverged)", f.diverged[top], a.seeds) },
                opt_fmt(f.full.as_ref().map(|x| x.r2)),
                fmt(win[k]),
                step(win),
                opt_fmt(r.map(|i| rf.alpha_window[i])),
            ]);
        }
        sum.tables.push(t);
        sum.notes.push(format!(
            "Reconstruction: the largest single step between adjacent ε carries {} of the α range on the full grid \
             (range {}) and {} on η ≤ {w} (range {}); reference: {} of {} and {} of {}.",
            fmt(largest_step_share(full)),
            fmt(alpha_range_of(full)),
            fmt(largest_step_share(win)),
            fmt(alpha_range_of(win)),
            fmt(largest_step_share(&rf.alpha)),
            fmt(alpha_range_of(&rf.alpha)),
            fmt(largest_step_share(&rf.alpha_window)),
            fmt(alpha_range_of(&rf.alpha_window))
        ));
        match &a.switching {
            Some(rows) => {
                let mut t = Table::new(
                    &format!(
                        "Reconstruction: activation switching per ε on E11's MSE runs (mean over seeds and η ≤ {w}; a switch = sign change of the pre-activation)"
                    ),
                    &[
                        "ε",
                        "neurons changed / m",
                        "flip fraction per (neuron, sample)",
                        "zero-change fraction",
                        "corr(flips, |δ|)",
                        "α (η ≤ window)",
                    ],
                );
                for eps in &a.missing_switching_eps {
                    sum.notes.push(format!("switching_eps contains ε = {eps}, which is not in E11's grid; skipped."));
                }
                for r in rows {
                    t.row(vec![
                        r.eps.to_string(),
                        fmt(r.neurons_changed_fraction),
                        fmt(r.flip_fraction),
                        fmt(r.zero_change_fraction),
                        fmt(r.corr_flips_abs_imbalance),
                        fmt(r.alpha_window),
                    ]);
                }
                sum.tables.push(t);
                sum.notes.push(
                    "Reconstruction: switching is recorded on E11's MSE runs (E09 measures it on CE runs, so the ε = 1 row is \
                     not E09's number). For ε < 1 the net is still 1-homogeneous and a \"switch\" changes σ_ε′ from 1 to 1 − ε; at \
                     ε = 0 it changes nothing (linear control)."
                        .into(),
                );
            }
            None => sum.notes.push(
                "E11 ran without the switching probe (switching = false in configs/E11.toml), so no switching table."
                    .into(),
            ),
        }
        let eps: Vec<f64> = fs.iter().map(|f| f.eps).collect();
        let pts = |v: &[f64]| eps.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
        let refpts = |v: &[f64]| rf.eps.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
        sum.figure(Figure::xy(
            "alpha_vs_eps.svg",
            format!("E10 (reconstruction) α vs ε ({})", a.precision.name()),
            Axis::linear("ε (0 = linear, 1 = ReLU)"),
            Axis::linear("α"),
            vec![
                Series::line("ours, all η", pts(full)),
                Series::line(format!("ours, η ≤ {w}"), pts(win)),
                Series::points("reference, all η", refpts(&rf.alpha)),
                Series::points("reference, η ≤ 0.1", refpts(&rf.alpha_window)),
            ],
        ));
        sum.data = serde_json::json!({
            "reconstruction": true,
            "epsilons": eps,
            "alpha_all": full,
            "alpha_window": win,
            "jump": a.jump.map(|(x, y, _, _)| [x, y]),
        });
        sum
    }
}
