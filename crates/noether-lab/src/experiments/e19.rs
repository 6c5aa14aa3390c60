//! E19 — MSE α vs width, fine sweep: "α − 1 ∼ m^1.18" (spec E13-E23 §2-E19; reference
//! script exp_mse_fine_width_v1.py).
//!
//! The problem table sets data, activation and loss (the paper's script: a LINEAR 2-layer
//! bias-free net, ε = 0, although Thm 8 talks about ReLU; MSE; GM-200); E19 sweeps the width
//! m ∈ {16, 24, 32, 48, 64, 96, 128, 192}, η ∈ {3e−4 … 0.1}, T = 2000, 5 seeds.
//!
//! Reference protocol: per width the nanmean seed-mean drift (a diverged seed leaves that η's
//! mean; the point goes only if every seed diverged), OLS of ln drift̄ on ln η (mask > 1e−15,
//! finite) → α, R², curvature; across widths OLS ln(α − 1) on ln m over α > 1 → γ.
//! Robust protocol: the same γ fit on α restricted to the sub-EoS window η ≤ 0.03 (the whole
//! width effect comes from η = 0.1 crossing 2/λ_max(m), spec pitfall (c)); α(m = 192) as the
//! mean of per-seed fits (each seed its own finite drifts), which removes the survivorship of
//! the nanmean top point (2 of 5 seeds in the reference, spec §5 item 5).
//! Extra: λ_max at initialisation per (m, seed) by Lanczos, to put η·λ_max next to 2.
//!
//! The 3-seed d = 20 subsets of E14's and E17's linear-MSE runs are the same jobs as here
//! (m = 16/32/64/128, seeds 42/137/256) and are computed once through the cache.

use noether_nn::{Activation, Precision};
use noether_theory::fit::mean_finite_only;
use noether_theory::width::{GammaFit, LogWidthModel, gamma_fit_alpha_minus_one, log_width_model, r2_degradation};
use serde::{Deserialize, Serialize};

use super::common::Sweep;
use super::width_common::{WidthAnalysis, drift_sweep, drift_value, lambda_init, lambda_init_job};
use crate::LabError;
use crate::aggregate::SeedRule;
use crate::config::{Check, Checked, Invalid, positive};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::Results;

/// The experiment.
pub struct E19;

/// `configs/E19.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    widths: Vec<usize>,
    /// Upper end of the sub-EoS window of the robust protocol (spec §1.8: 0.03).
    sub_eos_max_lr: f64,
    /// The width of the `E19.alpha_m192` claim.
    claim_width: usize,
    /// Lanczos residual tolerance of the λ_max(init) probe.
    lambda_tol: f64,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.sweep.check_grid(3)?;
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err(Invalid::new("widths", "E19 needs widths, each ≥ 1"));
        }
        if !self.widths.contains(&self.claim_width) {
            return Err(Invalid::new("claim_width", format!("{} is not among the widths", self.claim_width)));
        }
        positive("sub_eos_max_lr", self.sub_eos_max_lr)?;
        positive("lambda_tol", self.lambda_tol)
    }
}

/// The reference's row of one width (data/reference/E19.toml).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefWidth {
    m: usize,
    alpha: f64,
    r2: f64,
    curvature: f64,
    r2_quad: f64,
    per_seed_mean: f64,
    per_seed_std: f64,
}

/// The reference's width-scaling fits, as the spec states them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefFits {
    gamma: String,
    gamma_sub_eos: String,
    log_model: String,
    r2_degradation: String,
}

/// data/reference/E19.toml.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    width: Vec<RefWidth>,
    fits: RefFits,
}

/// One sweep and one λ_max(init) job per (width, seed).
pub struct Plan {
    settings: Settings,
    sweeps: Vec<Sweep>,
    /// λ_max(init) jobs, `[width][seed]`.
    lambda: Vec<Vec<Job>>,
    reference: Reference,
}

/// The parameters the analysis and the report need (in the plan and, unchanged, in the analysis).
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    precision: Precision,
    activation: String,
    widths: Vec<usize>,
    lrs: Vec<f64>,
    seeds: usize,
    sub_eos_max_lr: f64,
    claim_width: usize,
}

/// What E19 reports.
#[derive(Serialize)]
pub struct Analysis {
    #[serde(flatten)]
    settings: Settings,
    per_width: Vec<WidthAnalysis>,
    /// λ_max(init) mean and std over seeds, per width.
    lambda_init: Vec<(f64, f64)>,
    gamma_reference: Option<GammaFit>,
    gamma_sub_eos: Option<GammaFit>,
    gamma_per_seed: Option<GammaFit>,
    log_model: Option<LogWidthModel>,
    r2_degradation: f64,
    reference: Reference,
}

fn gamma_cell(g: &Option<GammaFit>) -> String {
    g.as_ref().map_or("— (< 3 widths with α > 1)".into(), |g| {
        format!("γ = {}, c = {}, R² = {} ({} widths)", fmt(g.gamma), fmt(g.c), fmt(g.r2), g.n)
    })
}

impl Experiment for E19 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E19"
    }
    fn title(&self) -> &'static str {
        "MSE α vs width, fine sweep (linear network)"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let problem = ctx.problem(&p.sweep.problem)?;
        let s = &p.sweep;
        let at = |m: usize| problem.with_hidden(vec![m]);
        Ok(Plan {
            settings: Settings {
                precision: ctx.precision,
                activation: Activation { eps: problem.net.activation_eps }.name(),
                widths: p.widths.clone(),
                lrs: s.lrs.clone(),
                seeds: s.seeds.len(),
                sub_eos_max_lr: p.sub_eos_max_lr,
                claim_width: p.claim_width,
            },
            sweeps: p
                .widths
                .iter()
                .map(|&m| drift_sweep(&s.lrs, &s.seeds, s.steps, |seed| at(m).spec(seed, ctx.precision)))
                .collect(),
            lambda: p
                .widths
                .iter()
                .map(|&m| {
                    s.seeds.iter().map(|&seed| lambda_init_job(at(m).spec(seed, ctx.precision), p.lambda_tol)).collect()
                })
                .collect(),
            reference: ctx.reference()?,
        })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.sweeps.iter().flat_map(Sweep::all_jobs).chain(plan.lambda.iter().flatten().cloned()).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let widths: Vec<f64> = plan.settings.widths.iter().map(|&m| m as f64).collect();
        let mut per_width = Vec::new();
        let mut lam = Vec::new();
        for (sw, lj) in plan.sweeps.iter().zip(&plan.lambda) {
            per_width.push(WidthAnalysis::new(
                &plan.settings.lrs,
                &sw.matrix(results, drift_value)?,
                plan.settings.sub_eos_max_lr,
            ));
            let l: Vec<f64> = lj.iter().map(|j| lambda_init(results, j)).collect::<Result<_, _>>()?;
            lam.push(SeedRule::FiniteOnly.mean_std(&l));
        }
        let alphas: Vec<f64> = per_width.iter().map(WidthAnalysis::alpha).collect();
        let sub: Vec<f64> = per_width.iter().map(WidthAnalysis::sub_eos_alpha).collect();
        let per_seed: Vec<f64> = per_width.iter().map(|a| a.per_seed_mean).collect();
        let r2s: Vec<f64> = per_width.iter().map(WidthAnalysis::r2).collect();
        Ok(Analysis {
            settings: plan.settings.clone(),
            gamma_reference: gamma_fit_alpha_minus_one(&widths, &alphas).ok(),
            gamma_sub_eos: gamma_fit_alpha_minus_one(&widths, &sub).ok(),
            gamma_per_seed: gamma_fit_alpha_minus_one(&widths, &per_seed).ok(),
            log_model: log_width_model(&widths, &alphas).ok(),
            r2_degradation: r2_degradation(&widths, &r2s).unwrap_or(f64::NAN),
            per_width,
            lambda_init: lam,
            reference: plan.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let an = &a.per_width;
        let lam = &a.lambda_init;
        let rf = &a.reference;
        let w = a.settings.sub_eos_max_lr;
        let eta_top = a.settings.lrs.iter().copied().fold(f64::NAN, f64::max);
        let widths: Vec<f64> = a.settings.widths.iter().map(|&m| m as f64).collect();
        let alphas: Vec<f64> = an.iter().map(WidthAnalysis::alpha).collect();
        let sub: Vec<f64> = an.iter().map(WidthAnalysis::sub_eos_alpha).collect();
        let per_seed: Vec<f64> = an.iter().map(|x| x.per_seed_mean).collect();
        let mut sum = Summary::default();
        let sub_head = format!("α (η ≤ {w})");
        let lam_head = format!("λ_max(0) mean ± std; {}·λ_max", fmt(eta_top));
        let mut t = Table::new(
            "α per width (reference protocol: nanmean seed means, all η), with the spec's values [ref.]",
            &[
                "m",
                "α",
                "R²",
                "curvature",
                "R²_quad",
                "per-seed α",
                sub_head.as_str(),
                "n_conv per η",
                lam_head.as_str(),
                "α [ref.]",
                "R² [ref.]",
                "curv. [ref.]",
                "per-seed α [ref.]",
            ],
        );
        for (i, &m) in a.settings.widths.iter().enumerate() {
            let x = &an[i];
            let r = rf.width.iter().find(|r| r.m == m);
            let rc = |f: fn(&RefWidth) -> f64| r.map_or("—".into(), |r| fmt(f(r)));
            t.row(vec![
                m.to_string(),
                fmt(x.alpha()),
                fmt(x.r2()),
                fmt(x.curvature()),
                fmt(x.r2_quad()),
                x.per_seed_cell(),
                fmt(x.sub_eos_alpha()),
                x.n_conv_cell(),
                format!("{} ± {}; {}", fmt(lam[i].0), fmt(lam[i].1), fmt(eta_top * lam[i].0)),
                rc(|r| r.alpha),
                rc(|r| r.r2),
                rc(|r| r.curvature),
                r.map_or("—".into(), |r| format!("{} ± {}", fmt(r.per_seed_mean), fmt(r.per_seed_std))),
            ]);
        }
        let mut head = vec!["m".to_string()];
        head.extend(a.settings.lrs.iter().map(|e| format!("η = {}", fmt(*e))));
        head.push("residuals of the linear fit".into());
        let hr: Vec<&str> = head.iter().map(String::as_str).collect();
        let mut td = Table::new("nanmean seed-mean drift |ΔC| per width and η (n_converged in brackets)", &hr);
        for (i, &m) in a.settings.widths.iter().enumerate() {
            let x = &an[i];
            let mut row = vec![m.to_string()];
            row.extend((0..a.settings.lrs.len()).map(|k| format!("{} ({})", fmt(x.curve.mean[k]), x.curve.n_used[k])));
            row.push(
                x.fit
                    .as_ref()
                    .map_or("—".into(), |f| f.power.residuals.iter().map(|r| fmt(*r)).collect::<Vec<_>>().join(", ")),
            );
            td.row(row);
        }
        let mut ts = Table::new("Width scaling across widths", &["fit", "value", "reference [ref.]"]);
        ts.row(vec![
            "γ: ln(α − 1) on ln m (reference α)".into(),
            gamma_cell(&a.gamma_reference),
            rf.fits.gamma.clone(),
        ]);
        ts.row(vec![format!("γ on sub-EoS α (η ≤ {w})"), gamma_cell(&a.gamma_sub_eos), rf.fits.gamma_sub_eos.clone()]);
        ts.row(vec!["γ on per-seed mean α".into(), gamma_cell(&a.gamma_per_seed), "—".into()]);
        ts.row(vec![
            "log model α = a + b·ln m".into(),
            a.log_model
                .as_ref()
                .map_or("—".into(), |l| format!("a = {}, b = {}, R² = {}", fmt(l.a), fmt(l.b), fmt(l.r2))),
            rf.fits.log_model.clone(),
        ]);
        ts.row(vec!["R² degradation: Pearson(ln m, R²)".into(), fmt(a.r2_degradation), rf.fits.r2_degradation.clone()]);
        sum.tables.extend([t, ts, td]);

        // Claims.
        if let Some(g) = &a.gamma_reference {
            sum.measure(
                "E19.gamma",
                Protocol::Reference,
                g.gamma,
                format!(
                    "OLS ln(α − 1) on ln m over {} widths with α > 1; α from nanmean {}-seed drifts over all η (R² {})",
                    g.n,
                    a.settings.seeds,
                    fmt(g.r2)
                ),
            );
        }
        if let Some(g) = &a.gamma_sub_eos {
            sum.measure(
                "E19.gamma",
                Protocol::Robust,
                g.gamma,
                format!("same γ fit on α restricted to η ≤ {w} (sub-EoS), {} widths, R² {}", g.n, fmt(g.r2)),
            );
        }
        if let Some(i) = a.settings.widths.iter().position(|&m| m == a.settings.claim_width) {
            let x = &an[i];
            if let Some(f) = &x.fit {
                let top = x.curve.n_used.last().copied().unwrap_or(0);
                sum.measure(
                    "E19.alpha_m192",
                    Protocol::Reference,
                    f.power.alpha,
                    format!(
                        "m = {}: OLS over {} η of nanmean drifts; η = {} mean over {}/{} converged seeds",
                        a.settings.claim_width,
                        f.power.n_points,
                        fmt(eta_top),
                        top,
                        a.settings.seeds
                    ),
                );
            }
            if x.per_seed_n > 0 {
                sum.measure(
                    "E19.alpha_m192",
                    Protocol::Robust,
                    x.per_seed_mean,
                    format!(
                        "m = {}: mean of per-seed α (each seed its own finite drifts) = {} over {} seeds",
                        a.settings.claim_width,
                        x.per_seed_cell(),
                        x.per_seed_n
                    ),
                );
            }
            let frac = x.curve.n_used.last().copied().unwrap_or(0);
            sum.notes.push(format!(
                "m = {}: {}/{} seeds converged at η = {}; per-seed α {:?} (spec: 2/5 survive, per-seed 1.33 ± 0.26, survivorship).",
                a.settings.claim_width,
                frac,
                a.settings.seeds,
                fmt(eta_top),
                x.per_seed.iter().map(|v| fmt(*v)).collect::<Vec<_>>()
            ));
        }
        let cross: Vec<String> = a
            .settings
            .widths
            .iter()
            .zip(lam)
            .filter(|(_, l)| eta_top * l.0 >= 2.0)
            .map(|(m, _)| m.to_string())
            .collect();
        let network = if a.settings.activation == "linear" {
            "Network is LINEAR (ε = 0), as in the reference script, although Thm 8 and the paper's Fig 4 speak of ReLU."
                .to_string()
        } else {
            format!("Network activation: {} (the reference script used a linear network).", a.settings.activation)
        };
        sum.notes.push(format!(
            "{network} η = {} exceeds 2/λ_max(init) at m ∈ {{{}}}; below that window (η ≤ {w}) α stays {}–{}.",
            fmt(eta_top),
            cross.join(", "),
            fmt(sub.iter().copied().filter(|v| v.is_finite()).fold(f64::INFINITY, f64::min)),
            fmt(sub.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max)),
        ));
        sum.notes.push(format!(
            "Per-seed α spread (mean std over widths {}) is comparable to the α differences between neighbouring widths; small-width α − 1 ≈ 0.05 dominates ln(α − 1) noise in the γ fit.",
            fmt(mean_finite_only(&an.iter().map(|x| x.per_seed_std).collect::<Vec<_>>()).0)
        ));

        // Figure: α − 1 vs m on log-log with the γ fits.
        let series = |label: &str, v: &[f64], g: &Option<GammaFit>| {
            Series::points(
                format!("{label}: γ = {}", g.as_ref().map_or("—".into(), |g| fmt(g.gamma))),
                widths.iter().copied().zip(v.iter().map(|x| x - 1.0)).collect(),
            )
            .with_fit(g.as_ref().map(|g| (g.gamma, g.c.ln())))
        };
        let reference_pts: Vec<(f64, f64)> = rf.width.iter().map(|r| (r.m as f64, r.alpha - 1.0)).collect();
        sum.figure(Figure::xy(
            "alpha_vs_width.svg",
            format!("E19 α − 1 vs width, linear MSE ({})", a.settings.precision.name()),
            Axis::log("width m"),
            Axis::log("α − 1"),
            vec![
                series("nanmean α (reference protocol)", &alphas, &a.gamma_reference),
                series(&format!("sub-EoS α (η ≤ {w})"), &sub, &a.gamma_sub_eos),
                series("per-seed mean α", &per_seed, &a.gamma_per_seed),
                Series::line("reference α [ref.]", reference_pts),
            ],
        ));
        sum.data = serde_json::json!({
            "widths": a.settings.widths, "lrs": a.settings.lrs, "per_width": an, "lambda_init_mean_std": lam,
            "gamma_reference": a.gamma_reference, "gamma_sub_eos": a.gamma_sub_eos, "gamma_per_seed": a.gamma_per_seed,
            "log_model": a.log_model, "r2_degradation": a.r2_degradation,
        });
        sum
    }
}
