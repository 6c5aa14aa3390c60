//! E23 — softmax concentration timescale τ vs learning rate (spec E13–E23 §2-E23, §5.8; reference
//! script `exp_tau_lr_scaling_v1.py`). The paper claims τ = 1.33/η + 29 with R² = 0.988 (Prop 7,
//! τ = Θ(1/η)).
//!
//! ReLU m = 64, CE, GM-200, η ∈ {0.003, 0.005, 0.01, 0.02, 0.03}, 3000 GD steps, 3 seeds. Per run:
//! 1 − q̄(t) at 17 checkpoints (q_i = softmax(f_i)[y_i]) and the full Hessian eigenvalues (values
//! only) at t ∈ {0, 200, 500, 1000}. Reference protocol: τ per run from OLS of ln(1 − q̄) on t
//! over t ≥ 25 and 0.01 < 1 − q̄ < 0.9; per-η mean; τ̄ = C/η + b (C = "tau_slope", R² in linear
//! space) and ln τ̄ on ln η (γ). Robust check (§5.8): 1 − q̄ as a function of η·t collapses across
//! η (gradient-flow time rescaling), so τ·η ≈ const is an identity; the table shows τ̄·η and 1 − q̄
//! interpolated at fixed η·t.

use noether_nn::Precision;
use noether_theory::tau::{TauFit, TauLrFit, TauWindow, tau_fit, tau_mean_std, tau_vs_lr_fit};
use serde::{Deserialize, Serialize};

use super::crossover_common::slash;
use super::hessian_time::{TimePlan, check_checkpoints, lambda_max, seed_mean};
use crate::LabError;
use crate::config::{Check, Checked, Invalid};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::{CheckpointResult, Results};

/// The experiment.
pub struct E23;

/// `configs/E23.toml`: one GD run per (η, seed) up to the last checkpoint (no `steps`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    /// Softmax checkpoints (the last is the run length).
    checkpoints: Vec<usize>,
    /// Hessian checkpoints (eigenvalues only).
    hessian_at: Vec<usize>,
    /// The τ window: t ≥ t_min, lower < 1 − q̄ < upper.
    t_min: f64,
    lower: f64,
    upper: f64,
    /// η·t values at which 1 − q̄ is compared across η (time-rescaling check).
    collapse_at: Vec<f64>,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.sweep.check()?;
        self.sweep.require_lrs(2)?;
        if self.sweep.steps != 0 {
            return Err(Invalid::new("steps", "E23 runs to the last checkpoint; remove `steps`"));
        }
        self.sweep.require_two_layer(true, "the closed-form Hessian")?;
        check_checkpoints("checkpoints", &self.checkpoints, 2)?;
        if let Some(t) = self.hessian_at.iter().find(|t| !self.checkpoints.contains(t)) {
            return Err(Invalid::new("hessian_at", format!("Hessian checkpoint {t} is not among the checkpoints")));
        }
        if !(self.lower > 0.0 && self.lower < self.upper && self.upper <= 1.0) {
            return Err(Invalid::new(
                "lower",
                format!("the τ window needs 0 < lower < upper ≤ 1, got {} and {}", self.lower, self.upper),
            ));
        }
        Ok(())
    }
}

/// data/reference/E23.toml: per-η mean τ ± std.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    lrs: Vec<f64>,
    tau_mean: Vec<f64>,
    tau_std: Vec<f64>,
}

/// One Hessian/softmax trajectory per (η, seed).
pub struct Plan {
    settings: Settings,
    plans: Vec<TimePlan>,
    reference: Reference,
}

/// The parameters the analysis and the report need (in the plan and, unchanged, in the analysis).
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    precision: Precision,
    seeds: Vec<u64>,
    lrs: Vec<f64>,
    checkpoints: Vec<usize>,
    hessian_at: Vec<usize>,
    /// The τ window (`t_min`, `lower`, `upper`).
    #[serde(flatten)]
    window: TauWindow,
    collapse_at: Vec<f64>,
}

/// What E23 reports.
#[derive(Serialize)]
pub struct Analysis {
    #[serde(flatten)]
    settings: Settings,
    /// τ fit per η and seed.
    fits: Vec<Vec<Option<TauFit>>>,
    /// Checkpoints per η and seed.
    points: Vec<Vec<Vec<CheckpointResult>>>,
    tau_mean: Vec<f64>,
    tau_std: Vec<f64>,
    /// Per η, per checkpoint: seed mean of 1 − q̄.
    omq_mean: Vec<Vec<f64>>,
    lr_fit: Option<TauLrFit>,
    reference: Reference,
}

/// Log-log interpolation of y(x) at x0 (x ascending, y > 0); NaN outside the range.
fn loglog_interp(x: &[f64], y: &[f64], x0: f64) -> f64 {
    for i in 1..x.len() {
        if x[i - 1] > 0.0 && x[i - 1] <= x0 && x0 <= x[i] && y[i - 1] > 0.0 && y[i] > 0.0 {
            let w = (x0.ln() - x[i - 1].ln()) / (x[i].ln() - x[i - 1].ln());
            return (y[i - 1].ln() * (1.0 - w) + y[i].ln() * w).exp();
        }
    }
    f64::NAN
}

impl Experiment for E23 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E23"
    }
    fn title(&self) -> &'static str {
        "Softmax concentration timescale τ vs learning rate"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let problem = ctx.problem(&p.sweep.problem)?;
        let s = &p.sweep;
        let plans = s
            .lrs
            .iter()
            .map(|&eta| {
                TimePlan::new(
                    &s.seeds,
                    |seed| problem.spec(seed, ctx.precision),
                    eta,
                    &p.checkpoints,
                    &p.hessian_at,
                    false,
                )
            })
            .collect();
        let settings = Settings {
            precision: ctx.precision,
            seeds: s.seeds.clone(),
            lrs: s.lrs.clone(),
            checkpoints: p.checkpoints.clone(),
            hessian_at: p.hessian_at.clone(),
            window: TauWindow { t_min: p.t_min, lower: p.lower, upper: p.upper },
            collapse_at: p.collapse_at.clone(),
        };
        Ok(Plan { settings, plans, reference: ctx.reference()? })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.plans.iter().flat_map(|p| p.jobs()).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let set = &plan.settings;
        let (mut fits, mut points, mut tau_mean, mut tau_std, mut omq_mean) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for tp in &plan.plans {
            let pts = tp.all_points(results)?;
            let f: Vec<Option<TauFit>> = pts
                .iter()
                .map(|run| {
                    let t: Vec<f64> = run.iter().map(|c| c.t as f64).collect();
                    let y: Vec<f64> = run.iter().map(|c| 1.0 - c.q_mean).collect();
                    tau_fit(&t, &y, set.window).ok()
                })
                .collect();
            let taus: Vec<f64> = f.iter().map(|x| x.as_ref().map_or(f64::NAN, |x| x.tau)).collect();
            let (m, s, _) = tau_mean_std(&taus);
            tau_mean.push(m);
            tau_std.push(s);
            omq_mean.push(set.checkpoints.iter().map(|&t| seed_mean(&pts, t, |c| Some(1.0 - c.q_mean))).collect());
            fits.push(f);
            points.push(pts);
        }
        let lr_fit = tau_vs_lr_fit(&set.lrs, &tau_mean).ok();
        Ok(Analysis {
            settings: set.clone(),
            fits,
            points,
            tau_mean,
            tau_std,
            omq_mean,
            lr_fit,
            reference: plan.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let p = &a.settings;
        let Analysis { fits, points, tau_mean, tau_std, omq_mean, lr_fit, reference: rf, .. } = a;
        let mut sum = Summary::default();
        let nseeds = p.seeds.len();
        let how = format!(
            "τ per run: OLS of ln(1 − q̄) on t over t ≥ {} and {} < 1 − q̄ < {}; mean over {nseeds} seeds per η; OLS τ̄ = C/η + b over {} η",
            p.window.t_min,
            p.window.lower,
            p.window.upper,
            lr_fit.as_ref().map_or(0, |f| f.n)
        );
        sum.measure("E23.tau_slope", Protocol::Reference, lr_fit.as_ref().map_or(f64::NAN, |f| f.c), how.clone());
        sum.measure(
            "E23.r2",
            Protocol::Reference,
            lr_fit.as_ref().map_or(f64::NAN, |f| f.r2_inverse),
            format!("{how}; R² in linear space"),
        );
        // Per-η table.
        let mut t = Table::new(
            "τ per η ([ref.] = the reference implementation's values from the spec)",
            &[
                "η",
                "τ per seed",
                "fit R² per seed",
                "n_points per seed",
                "τ̄ ± std",
                "[ref.] τ̄ ± std",
                "τ̄·η",
                "final accuracy (seed mean)",
            ],
        );
        for (i, &eta) in p.lrs.iter().enumerate() {
            let f = &fits[i];
            let reference = rf
                .lrs
                .iter()
                .position(|r| (r - eta).abs() < 1e-12)
                .map_or("—".into(), |j| format!("{} ± {}", rf.tau_mean[j], rf.tau_std[j]));
            let tl = p.checkpoints.last().copied().unwrap_or(0); // checked: ≥ 2 checkpoints
            t.row(vec![
                eta.to_string(),
                slash(f.iter().map(|x| x.as_ref().map_or(f64::NAN, |x| x.tau))),
                slash(f.iter().map(|x| x.as_ref().map_or(f64::NAN, |x| x.r2))),
                f.iter()
                    .map(|x| x.as_ref().map_or("—".into(), |x| x.n_points.to_string()))
                    .collect::<Vec<_>>()
                    .join("/"),
                format!("{} ± {}", fmt(tau_mean[i]), fmt(tau_std[i])),
                reference,
                fmt(tau_mean[i] * eta),
                fmt(seed_mean(&points[i], tl, |c| Some(c.accuracy))),
            ]);
        }
        sum.tables.push(t);
        let mut t = Table::new(
            "Across-η fits ([ref.] C = 1.3290, b = 28.52, R² = 0.9883; γ = −0.7973, R² = 0.9906)",
            &["C (τ̄ = C/η + b)", "b", "R² (linear)", "γ (τ̄ ∝ η^γ)", "R² (log)", "η used"],
        );
        if let Some(f) = &lr_fit {
            t.row(vec![fmt(f.c), fmt(f.b), fmt(f.r2_inverse), fmt(f.gamma), fmt(f.r2_power), f.n.to_string()]);
        }
        sum.tables.push(t);
        // Time-rescaling collapse.
        let mut hdr = vec!["η".to_string()];
        hdr.extend(p.collapse_at.iter().map(|s| format!("1 − q̄ at η·t = {s}")));
        hdr.extend(p.hessian_at.iter().filter(|&&t| t > 0).map(|t| format!("λ̄_max·η·t at t = {t}")));
        hdr.push("λ̄_max at t = 0".into());
        let h: Vec<&str> = hdr.iter().map(|s| s.as_str()).collect();
        let mut t = Table::new(
            "Time-rescaling check (§5.8): 1 − q̄ and λ_max as functions of η·t (seed means; [ref.] 1 − q̄ at η·t = 3: 0.0292/0.0289/0.0291/0.0290 for η = 0.003/0.03/0.01/0.02; λ_max ≈ 3.25/(η·t) late)",
            &h,
        );
        let mut collapse_cv = Vec::new();
        for (i, &eta) in p.lrs.iter().enumerate() {
            let s: Vec<f64> = p.checkpoints.iter().map(|&t| eta * t as f64).collect();
            let mut row = vec![eta.to_string()];
            for &x0 in &p.collapse_at {
                row.push(fmt(loglog_interp(&s, &omq_mean[i], x0)));
            }
            for &th in p.hessian_at.iter().filter(|&&t| t > 0) {
                row.push(fmt(seed_mean(&points[i], th, lambda_max) * eta * th as f64));
            }
            row.push(fmt(seed_mean(&points[i], 0, lambda_max)));
            t.row(row);
        }
        for &x0 in &p.collapse_at {
            let v: Vec<f64> = (0..p.lrs.len())
                .map(|i| {
                    loglog_interp(
                        &p.checkpoints.iter().map(|&t| p.lrs[i] * t as f64).collect::<Vec<_>>(),
                        &omq_mean[i],
                        x0,
                    )
                })
                .filter(|v| v.is_finite())
                .collect();
            if v.len() >= 2 {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let sd = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt();
                collapse_cv.push(format!("η·t = {x0}: CV {} over {} η", fmt(sd / m), v.len()));
            }
        }
        sum.tables.push(t);
        let te: Vec<f64> = tau_mean.iter().zip(&p.lrs).map(|(t, e)| t * e).collect();
        sum.notes.push(format!(
            "§5.8: 1 − q̄ depends on η·t alone (small-step GD ≈ gradient flow): across η its spread at fixed η·t is {}. So τ ∝ 1/η is a \
             time-rescaling identity; τ̄·η = {} is not constant only because the fit window is fixed in steps (t ≥ {}) and in 1 − q̄ on a \
             sparse checkpoint grid (n_points differ per η), which also makes b ≠ 0 and γ ≠ −1.",
            if collapse_cv.is_empty() { "—".into() } else { collapse_cv.join("; ") },
            slash(te.iter().copied()),
            p.window.t_min,
        ));
        let uneven: Vec<String> = p
            .lrs
            .iter()
            .zip(fits)
            .filter(|(_, f)| {
                let n: Vec<usize> = f.iter().map(|x| x.as_ref().map_or(0, |x| x.n_points)).collect();
                n.iter().any(|&k| k != n[0])
            })
            .map(|(e, f)| {
                format!(
                    "η = {e}: τ {} with {} points",
                    slash(f.iter().map(|x| x.as_ref().map_or(f64::NAN, |x| x.tau))),
                    f.iter()
                        .map(|x| x.as_ref().map_or("—".into(), |x| x.n_points.to_string()))
                        .collect::<Vec<_>>()
                        .join("/")
                )
            })
            .collect();
        sum.notes.push(format!(
            "C and b hinge on the window: a seed whose 1 − q̄ crosses a window edge between two checkpoints gains or loses a point and \
             its τ jumps. η with unequal point counts across seeds: {}. The reference's per-seed counts were equal except at η = 0.01 (10/9/10).",
            if uneven.is_empty() { "none".into() } else { uneven.join("; ") }
        ));
        sum.notes.push(
            "The decay of 1 − q̄ is closer to a power law in η·t than to an exponential, so per-run exponential R² stays ≈ 0.85–0.91 \
             ([ref.]); τ is a window-dependent effective rate."
                .into(),
        );
        // Plots.
        let pname = p.precision.name();
        let mut series = vec![Series {
            label: "τ̄ (seed mean)".into(),
            points: p.lrs.iter().zip(tau_mean).map(|(e, t)| (1.0 / e, *t)).collect(),
            fit: None,
            line: false,
        }];
        if let Some(f) = &lr_fit {
            let xs: Vec<f64> = p.lrs.iter().map(|e| 1.0 / e).collect();
            let (a, b) = xs.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
            series.push(Series {
                label: format!("τ = {}/η + {} (R² {})", fmt(f.c), fmt(f.b), fmt(f.r2_inverse)),
                points: vec![(a, f.c * a + f.b), (b, f.c * b + f.b)],
                fit: None,
                line: true,
            });
        }
        let file = "tau_vs_inv_eta.svg";
        sum.figure(Figure::xy(
            &file,
            &format!("E23 τ vs 1/η ({pname})"),
            Axis::linear("1/η"),
            Axis::linear("τ (steps)"),
            series.to_vec(),
        ));
        let cs: Vec<Series> = p
            .lrs
            .iter()
            .enumerate()
            .map(|(i, &eta)| Series {
                label: format!("η = {eta}"),
                points: p
                    .checkpoints
                    .iter()
                    .zip(&omq_mean[i])
                    .filter(|(t, _)| **t > 0)
                    .map(|(&t, &y)| (eta * t as f64, y))
                    .collect(),
                fit: None,
                line: true,
            })
            .collect();
        let file = "one_minus_q_vs_eta_t.svg";
        sum.figure(Figure::xy(
            &file,
            &format!("E23 1 − q̄ vs rescaled time η·t: the curves collapse ({pname})"),
            Axis::log("η·t"),
            Axis::log("1 − q̄"),
            cs.to_vec(),
        ));
        sum.data = serde_json::json!({
            "lrs": p.lrs, "tau_mean": tau_mean, "tau_std": tau_std, "fits": fits, "lr_fit": lr_fit,
            "checkpoints": p.checkpoints, "one_minus_qbar_mean": omq_mean,
        });
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::loglog_interp;

    #[test]
    fn loglog_interp_is_exact_on_power_laws() {
        let x = [1.0, 2.0, 4.0, 8.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| 3.0 / v).collect();
        assert!((loglog_interp(&x, &y, 3.0) - 1.0).abs() < 1e-12);
        assert!(loglog_interp(&x, &y, 9.0).is_nan());
    }
}
