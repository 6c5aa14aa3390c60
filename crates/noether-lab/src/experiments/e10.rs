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

use noether_theory::fit::mean_nan_propagating;
use serde::Deserialize;

use super::e11::{
    self, EpsFit, Grid, REF_ALPHA, REF_ALPHA_WINDOW, REF_EPS, alpha_of, alpha_range_of, opt_fmt, ref_index,
};
use crate::LabError;
use crate::config::ExperimentConfig;
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;
use crate::results::TrainResult;

pub struct E10;

/// The adjacent pair of ε of the claim `E10.alpha_jump_02_05`.
const JUMP: (f64, f64) = (0.2, 0.5);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// ε values whose activation-switching metrics are tabulated (those in E11's grid).
    switching_eps: Vec<f64>,
}

/// E10's parameters and E11's runs (planned from configs/E11.toml next to E10's config).
fn setup(ctx: &Context<'_>) -> Result<(Params, Grid), LabError> {
    let p: Params = ctx.params()?;
    let path = ctx.config.path.with_file_name("E11.toml");
    if !path.exists() {
        return Err(LabError::LegacyConfig(format!(
            "E10 re-analyses E11's runs, but {} was not found",
            path.display()
        )));
    }
    let cfg = ExperimentConfig::load(&path)?;
    if cfg.id != "E11" {
        return Err(LabError::LegacyConfig(format!("{}: id = \"{}\", expected E11", path.display(), cfg.id)));
    }
    let e11_ctx = Context { config: &cfg, precision: ctx.precision, quick: ctx.quick, out_dir: ctx.out_dir.clone() };
    Ok((p, e11::grid(&e11_ctx)?))
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
        .zip(&g.p.lrs)
        .filter(|(_, eta)| **eta <= max_lr * (1.0 + 1e-12))
        .flat_map(|(row, _)| row.iter().copied())
        .collect();
    Ok(if v.is_empty() { f64::NAN } else { mean_nan_propagating(&v)? })
}

impl Experiment for E10 {
    fn id(&self) -> &'static str {
        "E10"
    }
    fn title(&self) -> &'static str {
        "Smooth α transition over σ_ε (reconstruction from E11's runs)"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        let (_, g) = setup(ctx)?;
        Ok(g.sweeps.iter().flat_map(|s| s.all_jobs()).collect())
    }
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let (p, g) = setup(ctx)?;
        let fs: Vec<EpsFit> = e11::fits(&g, results)?;
        let w = g.p.robust_max_lr;
        let mut sum = Summary::default();
        let full: Vec<f64> = fs.iter().map(|f| alpha_of(f.full.as_ref())).collect();
        let win: Vec<f64> = fs.iter().map(|f| alpha_of(f.window.as_ref())).collect();
        let top = (0..g.p.lrs.len()).max_by(|&a, &b| g.p.lrs[a].total_cmp(&g.p.lrs[b])).unwrap_or(0);
        let eta_top = g.p.lrs[top];

        // The claim: the step between ε = 0.2 and 0.5.
        let at = |eps: f64| fs.iter().position(|f| (f.eps - eps).abs() < 1e-9);
        let in_fit = |k: usize| fs[k].full.as_ref().is_some_and(|a| a.kept.contains(&top));
        let jump = match (at(JUMP.0), at(JUMP.1)) {
            (Some(a), Some(b)) => Some((full[b] - full[a], win[b] - win[a], in_fit(a), in_fit(b))),
            _ => None,
        };
        match jump {
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

        // α(ε) table.
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
            let r = ref_index(f.eps);
            let step = |v: &[f64]| if k == 0 { "—".to_string() } else { fmt(v[k] - v[k - 1]) };
            let top_in_fit = in_fit(k);
            t.row(vec![
                f.eps.to_string(),
                fmt(full[k]),
                step(&full),
                opt_fmt(r.map(|i| REF_ALPHA[i])),
                if top_in_fit {
                    "yes".into()
                } else {
                    format!("no ({}/{} seeds diverged)", f.diverged[top], g.p.seeds.len())
                },
                opt_fmt(f.full.as_ref().map(|a| a.r2)),
                fmt(win[k]),
                step(&win),
                opt_fmt(r.map(|i| REF_ALPHA_WINDOW[i])),
            ]);
        }
        sum.tables.push(t);
        sum.notes.push(format!(
            "Reconstruction: the largest single step between adjacent ε carries {} of the α range on the full grid \
             (range {}) and {} on η ≤ {w} (range {}); reference: {} of {} and {} of {}.",
            fmt(largest_step_share(&full)),
            fmt(alpha_range_of(&full)),
            fmt(largest_step_share(&win)),
            fmt(alpha_range_of(&win)),
            fmt(largest_step_share(&REF_ALPHA)),
            fmt(alpha_range_of(&REF_ALPHA)),
            fmt(largest_step_share(&REF_ALPHA_WINDOW)),
            fmt(alpha_range_of(&REF_ALPHA_WINDOW))
        ));

        // Switching per ε (E9 metrics on the MSE runs).
        if g.p.switching {
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
            for &eps in &p.switching_eps {
                let Some(k) = at(eps) else {
                    sum.notes.push(format!("switching_eps contains ε = {eps}, which is not in E11's grid; skipped."));
                    continue;
                };
                let sw = |m: fn(&TrainResult) -> Option<f64>| switching_mean(&g, k, results, w, m);
                t.row(vec![
                    eps.to_string(),
                    fmt(sw(|r| r.switching.as_ref().map(|s| s.summary.mean_neurons_changed_fraction))?),
                    fmt(sw(|r| r.switching.as_ref().map(|s| s.summary.mean_flip_fraction))?),
                    fmt(sw(|r| r.switching.as_ref().map(|s| s.summary.zero_change_fraction))?),
                    fmt(sw(|r| r.switching.as_ref().map(|s| s.corr_flips_abs_imbalance))?),
                    fmt(win[k]),
                ]);
            }
            sum.tables.push(t);
            sum.notes.push(
                "Reconstruction: switching is recorded on E11's MSE runs (E09 measures it on CE runs, so the ε = 1 row is \
                 not E09's number). For ε < 1 the net is still 1-homogeneous and a \"switch\" changes σ_ε′ from 1 to 1 − ε; at \
                 ε = 0 it changes nothing (linear control)."
                    .into(),
            );
        } else {
            sum.notes.push(
                "E11 ran without the switching probe (switching = false in configs/E11.toml), so no switching table."
                    .into(),
            );
        }

        // Plot α vs ε.
        let eps: Vec<f64> = fs.iter().map(|f| f.eps).collect();
        let pts = |v: &[f64]| eps.iter().copied().zip(v.iter().copied()).collect::<Vec<_>>();
        let plot = "alpha_vs_eps.svg";
        xy_plot(
            &ctx.out_dir.join(plot),
            &format!("E10 (reconstruction) α vs ε ({})", ctx.precision.name()),
            "ε (0 = linear, 1 = ReLU)",
            "α",
            &[
                Series { label: "ours, all η".into(), points: pts(&full), fit: None, line: true },
                Series { label: format!("ours, η ≤ {w}"), points: pts(&win), fit: None, line: true },
                Series {
                    label: "reference, all η".into(),
                    points: REF_EPS.iter().copied().zip(REF_ALPHA).collect(),
                    fit: None,
                    line: false,
                },
                Series {
                    label: "reference, η ≤ 0.1".into(),
                    points: REF_EPS.iter().copied().zip(REF_ALPHA_WINDOW).collect(),
                    fit: None,
                    line: false,
                },
            ],
            &[],
            false,
            false,
        )?;
        sum.plots.push(plot.into());
        sum.data = serde_json::json!({
            "reconstruction": true,
            "epsilons": eps,
            "alpha_all": full,
            "alpha_window": win,
            "jump": jump.map(|(a, b, _, _)| [a, b]),
        });
        Ok(sum)
    }
}
