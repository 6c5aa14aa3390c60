//! E15 — activation switch rate vs width: "per-neuron rate m-independent at EoS" (Thm 8, paper
//! Fig 4c; spec E13-E23 §2-E15; reference script exp_width_switch_rate_v1.py).
//!
//! The problem table sets data, activation and loss (the paper: GM-200, ReLU, MSE); E15 sweeps
//! the width m ∈ {16, 32, 64, 128, 256}, η ∈ {0.001, 0.01, 0.1}, T = 2000, seeds
//! {42, 137, 256}: 45 runs. After every update the pattern [X·W1ᵀ > 0] is compared with the
//! previous one (`SwitchProbe`); rate = flips/(n·m) per step, averaged over the steps of a run.
//!
//! Reference protocol: width summary = mean over all (η, seed) runs of the per-run mean rate
//! (it averages over learning rates); β = −slope of ln(summary rate) on ln m ("pooled").
//! Also per-lr β on the seed means, γ_total on the flips (= 1 − β), and the Pearson
//! correlation of the summary flips with E14's Δα, which the reference hard-codes (typed in
//! here as reference values).
//! Measured instead of assumed: λ_max at initialisation and after the last update of every run
//! (Lanczos top-1 on the full Hessian, two solves per run), so each (m, η) carries a measured
//! regime label: EoS when η·λ_max(T) ≥ `eos_fraction`·2.
//! Robust protocol: β of the seed-mean rate at η = max grid lr over the widths whose runs are
//! measured at EoS (the claim is about the EoS regime, and the pooled β mixes three η's whose
//! rates differ by 20×).

use noether_nn::Precision;
use noether_theory::fit::{mean_finite_only, pearson_corrcoef};
use noether_theory::width::{SwitchRateFit, switch_rate_exponent};
use noether_train::OptimizerKind;
use serde::{Deserialize, Serialize};

use super::common::Sweep;
use super::width_common::lambda_at;
use crate::LabError;
use crate::config::{Check, Checked, Invalid};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::{Job, Measure, SharpnessMethod, SharpnessSpec};
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::{Results, TrainResult};

/// The experiment.
pub struct E15;

/// `configs/E15.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    widths: Vec<usize>,
    /// Lanczos residual tolerance (relative to ‖H‖) of the two λ_max solves per run.
    lambda_tol: f64,
    /// A run is labelled EoS when η·λ_max(T) ≥ eos_fraction · 2.
    eos_fraction: f64,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.sweep.check_grid(1)?;
        if self.widths.len() < 3 || self.widths.contains(&0) {
            return Err(Invalid::new("widths", "E15 needs ≥ 3 widths, each ≥ 1"));
        }
        if !(self.eos_fraction > 0.0 && self.eos_fraction <= 1.0) {
            return Err(Invalid::new("eos_fraction", format!("{} must be in (0, 1]", self.eos_fraction)));
        }
        crate::config::positive("lambda_tol", self.lambda_tol)
    }
}

/// data/reference/E15.toml.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    e14_widths: Vec<usize>,
    e14_delta_alpha: Vec<f64>,
    lrs: Vec<f64>,
    widths: Vec<usize>,
    rate: Vec<Vec<f64>>,
    flips: Vec<Vec<f64>>,
    beta_per_lr: Vec<f64>,
    beta_pooled: String,
    gamma_total: String,
    corr_e14: String,
}

impl Reference {
    fn delta_alpha(&self, m: usize) -> Option<f64> {
        self.e14_widths.iter().position(|&w| w == m).map(|i| self.e14_delta_alpha[i])
    }
    fn lr_index(&self, eta: f64) -> Option<usize> {
        self.lrs.iter().position(|e| (e / eta - 1.0).abs() < 1e-9)
    }
    fn cell(&self, table: &[Vec<f64>], m: usize, eta: f64) -> String {
        let w = self.widths.iter().position(|&x| x == m);
        w.zip(self.lr_index(eta)).map_or("—".into(), |(w, k)| fmt(table[w][k]))
    }
}

/// One sweep per width.
pub struct Plan {
    precision: Precision,
    widths: Vec<usize>,
    lrs: Vec<f64>,
    seeds: usize,
    eos_fraction: f64,
    sweeps: Vec<Sweep>,
    reference: Reference,
}

/// One run's numbers (the switch summary of a diverged run covers the steps before divergence,
/// as the reference's loop records them).
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    rate: f64,
    flips: f64,
    neurons_changed: f64,
    zero_frac: f64,
    lambda0: f64,
    lambda_t: f64,
    diverged: bool,
}

fn run_of(r: &TrainResult) -> Run {
    let s = r.switching.as_ref().map(|s| &s.summary);
    Run {
        rate: s.map_or(f64::NAN, |s| s.mean_flip_fraction),
        flips: s.map_or(f64::NAN, |s| s.mean_flips),
        neurons_changed: s.map_or(f64::NAN, |s| s.mean_neurons_changed),
        zero_frac: s.map_or(f64::NAN, |s| s.zero_change_fraction),
        lambda0: lambda_at(r, 0),
        lambda_t: if r.diverged { f64::NAN } else { lambda_at(r, r.steps_completed) },
        diverged: r.diverged,
    }
}

/// Seed means of one (m, η) cell and its measured regime.
#[derive(Clone, Debug, Serialize)]
pub struct CellStats {
    rate: f64,
    flips: f64,
    neurons_changed: f64,
    zero_frac: f64,
    /// Seed-mean η·λ_max at init and at the end.
    eta_lambda0: f64,
    eta_lambda_t: f64,
    /// Runs with η·λ_max(T) ≥ 2·eos_fraction.
    n_eos: usize,
    regime: &'static str,
    diverged: usize,
}

/// What E15 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    widths: Vec<usize>,
    lrs: Vec<f64>,
    seeds: usize,
    eos_fraction: f64,
    /// runs[w][i][s].
    runs: Vec<Vec<Vec<Run>>>,
    /// cells[w][i].
    cells: Vec<Vec<CellStats>>,
    summary_rate: Vec<f64>,
    summary_flips: Vec<f64>,
    beta: Option<SwitchRateFit>,
    gamma_total: Option<SwitchRateFit>,
    per_lr: Vec<Option<SwitchRateFit>>,
    corr_e14: f64,
    /// Index of the largest η, the widths at EoS there, and β over them.
    top: usize,
    eos_widths: Vec<usize>,
    robust: Option<SwitchRateFit>,
    reference: Reference,
}

fn beta_cell(f: &Option<SwitchRateFit>) -> String {
    f.as_ref().map_or("—".into(), |f| format!("{} (R² {}, {} widths)", fmt(f.beta), fmt(f.r2), f.n))
}

impl Experiment for E15 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E15"
    }
    fn title(&self) -> &'static str {
        "Activation switch rate vs width"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let problem = ctx.problem(&p.sweep.problem)?;
        let s = &p.sweep;
        let measure = Measure {
            switching: true,
            // every = T: λ_max at step 0 and at the final step (the probe also measures at the last step).
            sharpness: Some(SharpnessSpec {
                every: s.steps,
                method: SharpnessMethod::WarmLanczos { tol: p.lambda_tol },
            }),
            ..Measure::default()
        };
        let sweeps = p
            .widths
            .iter()
            .map(|&m| {
                let problem = problem.with_hidden(vec![m]);
                Sweep::new(&s.lrs, &s.seeds, s.steps, OptimizerKind::Gd, &measure, |seed| {
                    problem.spec(seed, ctx.precision)
                })
            })
            .collect();
        Ok(Plan {
            precision: ctx.precision,
            widths: p.widths.clone(),
            lrs: s.lrs.clone(),
            seeds: s.seeds.len(),
            eos_fraction: p.eos_fraction,
            sweeps,
            reference: ctx.reference()?,
        })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.sweeps.iter().flat_map(Sweep::all_jobs).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let widths: Vec<f64> = plan.widths.iter().map(|&m| m as f64).collect();
        let eos_at = 2.0 * plan.eos_fraction;
        let runs: Vec<Vec<Vec<Run>>> = plan
            .sweeps
            .iter()
            .map(|sw| {
                sw.jobs
                    .iter()
                    .map(|row| row.iter().map(|j| results.train(j).map(run_of)).collect::<Result<Vec<_>, _>>())
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let seed_mean =
            |w: usize, i: usize, f: fn(&Run) -> f64| mean_finite_only(&runs[w][i].iter().map(f).collect::<Vec<_>>()).0;
        let pooled =
            |w: usize, f: fn(&Run) -> f64| mean_finite_only(&runs[w].iter().flatten().map(f).collect::<Vec<_>>()).0;
        let summary_rate: Vec<f64> = (0..widths.len()).map(|w| pooled(w, |r| r.rate)).collect();
        let summary_flips: Vec<f64> = (0..widths.len()).map(|w| pooled(w, |r| r.flips)).collect();
        let per_lr: Vec<Option<SwitchRateFit>> = (0..plan.lrs.len())
            .map(|i| {
                let rates: Vec<f64> = (0..widths.len()).map(|w| seed_mean(w, i, |r| r.rate)).collect();
                switch_rate_exponent(&widths, &rates).ok()
            })
            .collect();
        // EoS labels by measurement: seed-mean η·λ_max at init and at the end.
        let cells: Vec<Vec<CellStats>> = (0..widths.len())
            .map(|w| {
                (0..plan.lrs.len())
                    .map(|i| {
                        let eta = plan.lrs[i];
                        let lt = eta * seed_mean(w, i, |r| r.lambda_t);
                        CellStats {
                            rate: seed_mean(w, i, |r| r.rate),
                            flips: seed_mean(w, i, |r| r.flips),
                            neurons_changed: seed_mean(w, i, |r| r.neurons_changed),
                            zero_frac: seed_mean(w, i, |r| r.zero_frac),
                            eta_lambda0: eta * seed_mean(w, i, |r| r.lambda0),
                            eta_lambda_t: lt,
                            n_eos: runs[w][i].iter().filter(|r| eta * r.lambda_t >= eos_at).count(),
                            regime: if lt >= eos_at {
                                "EoS"
                            } else if lt.is_nan() {
                                "diverged"
                            } else {
                                "sub-EoS"
                            },
                            diverged: runs[w][i].iter().filter(|r| r.diverged).count(),
                        }
                    })
                    .collect()
            })
            .collect();
        let rf = &plan.reference;
        let corr_e14 = if plan.widths.len() >= 3 && plan.widths.iter().all(|&m| rf.delta_alpha(m).is_some()) {
            let da: Vec<f64> = plan.widths.iter().map(|&m| rf.delta_alpha(m).unwrap_or(f64::NAN)).collect();
            pearson_corrcoef(&summary_flips, &da).unwrap_or(f64::NAN)
        } else {
            f64::NAN
        };
        // Robust: β at the largest η over the widths measured at EoS there.
        let top = (0..plan.lrs.len()).max_by(|&a, &b| plan.lrs[a].total_cmp(&plan.lrs[b])).unwrap_or(0);
        let eos_widths: Vec<usize> = (0..widths.len()).filter(|&w| cells[w][top].regime == "EoS").collect();
        let robust = switch_rate_exponent(
            &eos_widths.iter().map(|&w| widths[w]).collect::<Vec<_>>(),
            &eos_widths.iter().map(|&w| cells[w][top].rate).collect::<Vec<_>>(),
        )
        .ok();
        Ok(Analysis {
            precision: plan.precision,
            widths: plan.widths.clone(),
            lrs: plan.lrs.clone(),
            seeds: plan.seeds,
            eos_fraction: plan.eos_fraction,
            beta: switch_rate_exponent(&widths, &summary_rate).ok(),
            gamma_total: switch_rate_exponent(&widths, &summary_flips).ok(),
            runs,
            cells,
            summary_rate,
            summary_flips,
            per_lr,
            corr_e14,
            top,
            eos_widths,
            robust,
            reference: plan.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let rf = &a.reference;
        let eos_at = 2.0 * a.eos_fraction;
        let widths: Vec<f64> = a.widths.iter().map(|&m| m as f64).collect();
        let mut t = Table::new(
            "Seed means per (m, η): switch rate per (neuron, sample) and step, flips/step, neurons changed, zero-flip steps; measured η·λ_max at init and end [ref. = spec]",
            &[
                "m",
                "η",
                "rate",
                "rate [ref.]",
                "flips/step",
                "flips [ref.]",
                "neurons changed",
                "zero-step frac",
                "η·λ_max(0)",
                "η·λ_max(T)",
                "regime (runs at EoS)",
            ],
        );
        for (w, &m) in a.widths.iter().enumerate() {
            for (i, &eta) in a.lrs.iter().enumerate() {
                let c = &a.cells[w][i];
                t.row(vec![
                    m.to_string(),
                    fmt(eta),
                    fmt(c.rate),
                    rf.cell(&rf.rate, m, eta),
                    fmt(c.flips),
                    rf.cell(&rf.flips, m, eta),
                    fmt(c.neurons_changed),
                    fmt(c.zero_frac),
                    fmt(c.eta_lambda0),
                    fmt(c.eta_lambda_t),
                    format!(
                        "{} ({}/{}{})",
                        c.regime,
                        c.n_eos,
                        a.seeds,
                        if c.diverged > 0 { format!(", {} diverged", c.diverged) } else { String::new() }
                    ),
                ]);
            }
        }
        let mut ts = Table::new(
            "Width summary (mean over all η and seeds) and fits",
            &["m", "summary rate", "summary flips", "E14 Δα [ref., hard-coded]"],
        );
        for (w, &m) in a.widths.iter().enumerate() {
            ts.row(vec![
                m.to_string(),
                fmt(a.summary_rate[w]),
                fmt(a.summary_flips[w]),
                rf.delta_alpha(m).map_or("—".into(), fmt),
            ]);
        }
        let mut tf = Table::new("Exponents", &["fit", "measured", "reference [ref.]"]);
        tf.row(vec!["β pooled: −slope ln(summary rate) on ln m".into(), beta_cell(&a.beta), rf.beta_pooled.clone()]);
        tf.row(vec![
            "γ_total: slope ln(summary flips) on ln m (= 1 − β)".into(),
            a.gamma_total.as_ref().map_or("—".into(), |f| format!("{} (R² {})", fmt(-f.beta), fmt(f.r2))),
            rf.gamma_total.clone(),
        ]);
        for (i, &eta) in a.lrs.iter().enumerate() {
            let r = rf.lr_index(eta).map_or("—".into(), |k| fmt(rf.beta_per_lr[k]));
            tf.row(vec![format!("per-lr β at η = {}", fmt(eta)), beta_cell(&a.per_lr[i]), r]);
        }
        tf.row(vec!["Pearson(summary flips, E14 Δα [ref.])".into(), fmt(a.corr_e14), rf.corr_e14.clone()]);
        let top_lr = a.lrs[a.top];
        tf.row(vec![
            format!(
                "robust: β at η = {} over widths measured at EoS ({{{}}})",
                fmt(top_lr),
                a.eos_widths.iter().map(|&w| a.widths[w].to_string()).collect::<Vec<_>>().join(", ")
            ),
            beta_cell(&a.robust),
            "— (the reference never measured λ_max)".into(),
        ]);
        let mut sum = Summary::default();
        sum.tables.extend([tf, ts, t]);
        if let Some(f) = &a.beta {
            sum.measure(
                "E15.beta_pooled",
                Protocol::Reference,
                f.beta,
                format!(
                    "−slope of ln(mean over {} η × {} seeds of the per-run mean rate) on ln m, {} widths (R² {})",
                    a.lrs.len(),
                    a.seeds,
                    f.n,
                    fmt(f.r2)
                ),
            );
        }
        match &a.robust {
            Some(f) => sum.measure(
                "E15.beta_pooled",
                Protocol::Robust,
                f.beta,
                format!(
                    "η = {} only, seed-mean rate over the {} widths measured at EoS (η·λ_max(T) ≥ {}), R² {}",
                    fmt(top_lr),
                    f.n,
                    fmt(eos_at),
                    fmt(f.r2)
                ),
            ),
            None => sum.notes.push(format!(
                "Robust β not measured: only {} width(s) are at EoS (η·λ_max(T) ≥ {}) at η = {}; a width exponent needs ≥ 3.",
                a.eos_widths.len(),
                fmt(eos_at),
                fmt(top_lr)
            )),
        }
        sum.notes.push(format!(
            "EoS is measured, not assumed: λ_max of the full Hessian by Lanczos at step 0 and after the last update; a (m, η) cell is 'EoS' when the seed-mean η·λ_max(T) ≥ {} ({} × 2).",
            fmt(eos_at),
            fmt(a.eos_fraction)
        ));
        sum.notes.push("The pooled β averages rates over three η that differ by ~20×, so the η = 0.1 rows dominate it (spec pitfall (b)); the E14 correlation uses 5 points and hard-coded Δα (pitfall (c)).".into());

        // Figures: rate vs width (log-log, pooled and per-η fits); measured η·λ_max vs width.
        let fit_of = |f: &Option<SwitchRateFit>| f.as_ref().map(|f| (-f.beta, f.intercept));
        let mut series = vec![
            Series::points(
                format!("all η pooled: β = {}", a.beta.as_ref().map_or("—".into(), |f| fmt(f.beta))),
                widths.iter().copied().zip(a.summary_rate.iter().copied()).collect(),
            )
            .with_fit(fit_of(&a.beta)),
        ];
        for (i, &eta) in a.lrs.iter().enumerate() {
            series.push(
                Series::points(
                    format!("η = {}: β = {}", fmt(eta), a.per_lr[i].as_ref().map_or("—".into(), |f| fmt(f.beta))),
                    (0..widths.len()).map(|w| (widths[w], a.cells[w][i].rate)).collect(),
                )
                .with_fit(fit_of(&a.per_lr[i])),
            );
        }
        let prec = a.precision.name();
        sum.figure(Figure::xy(
            "switch_rate_vs_width.svg",
            format!("E15 switch rate vs width, ReLU MSE ({prec})"),
            Axis::log("width m"),
            Axis::log("flips / (n·m) per step"),
            series,
        ));
        let mut lam_series = Vec::new();
        for (i, &eta) in a.lrs.iter().enumerate() {
            lam_series.push(Series::line(
                format!("η = {}: end", fmt(eta)),
                (0..widths.len()).map(|w| (widths[w], a.cells[w][i].eta_lambda_t)).collect(),
            ));
            lam_series.push(Series::points(
                format!("η = {}: init", fmt(eta)),
                (0..widths.len()).map(|w| (widths[w], a.cells[w][i].eta_lambda0)).collect(),
            ));
        }
        sum.figure(
            Figure::xy(
                "eta_lambda_vs_width.svg",
                format!("E15 measured η·λ_max at init and end ({prec})"),
                Axis::log("width m"),
                Axis::log("η·λ_max"),
                lam_series,
            )
            .with_hlines(vec![(2.0, "2 (edge of stability)".into())]),
        );
        sum.data = serde_json::json!({
            "widths": a.widths, "lrs": a.lrs, "runs": a.runs, "summary_rate": a.summary_rate, "summary_flips": a.summary_flips,
            "beta_pooled": a.beta, "gamma_total": a.gamma_total, "beta_per_lr": a.per_lr, "corr_e14": a.corr_e14, "beta_eos_robust": a.robust,
        });
        sum
    }
}
