//! E08 — spectral universality: the Theorem-4 crossover formula S_pred(η) = Σ_k c_k(1 − ρ_k^{2T})/D_k
//! against the measured S(η) = |Σ_t δ(t)| (spec E01–E12 §2 E8, §1.7–1.9; reference script
//! `exp_spectral_prediction_v1.py`). The paper claims the formula predicts S within 14–27 %.
//!
//! Two arms on GM-200 (m = 64, P = 1600, model drawn before the data), 3 seeds: "linear"
//! (identity activation, **MSE**) and "relu" (ReLU, **CE**) — the comparison changes the loss as
//! well as the activation. Per (arm, seed): full Hessian at θ0, c_k by gradient projection
//! rescaled to |δ(0)|, S_pred on the η grid with T = 2000, one GD run per η (S_meas, drift),
//! and a "mid" Hessian after 1000 GD steps at η = 0.01 (λ_max only).
//!
//! The problem table sets the data and the width (one hidden layer, no biases: the closed-form
//! Hessian and c_k need it); each arm sets its own activation and loss.
//!
//! Reference protocol: converged-only seed means (η dropped only if no seed converged), the
//! reference's unstable-mode rule (modes with ηλ ≥ 2 add c_k·T/|D|), α = 2 + slope of
//! ln S̄_meas vs ln η, prediction R = Pearson of the logs over all kept η, relative errors per η
//! and their maximum over the η range the paper quotes (linear η ≤ 0.03, ReLU η ≤ 0.1).
//! Robust protocol: the honest rule (an η where some seed has a mode with ηλ > 2 leaves the
//! comparison, counted) and the sub-EoS window η ≤ 0.1.

use noether_nn::Precision;
use serde::{Deserialize, Serialize};

use super::crossover_common::{
    Arm, ArmAnalysis, CrossoverPlan, RefCurves, fmt_r, identity_note, per_eta_table, pred_vs_meas_figure, slash,
};
use crate::LabError;
use crate::config::{Check, Checked, Invalid, positive};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::{HessianJob, Job};
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::Results;

/// The experiment.
pub struct E08;

const LINEAR: Arm = Arm { name: "linear", activation_eps: 0.0, ce_weight: 0.0 };
const RELU: Arm = Arm { name: "relu", activation_eps: 1.0, ce_weight: 1.0 };

/// `configs/E08.toml`; `steps` is also the predictor's T (the reference uses 2000 for both).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    /// Upper end of the robust (sub-EoS) window.
    robust_max_lr: f64,
    /// The η range of the paper's quoted error ranges: linear η ≤ 0.03, ReLU η ≤ 0.1.
    paper_window_linear: f64,
    paper_window_relu: f64,
    /// The "mid" Hessian: after `mid_steps` GD steps at `mid_lr`.
    mid_steps: usize,
    mid_lr: f64,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.sweep.check_grid(2)?;
        self.sweep.require_two_layer(true, "the closed-form Hessian with c_k")?;
        positive("robust_max_lr", self.robust_max_lr)?;
        positive("paper_window_linear", self.paper_window_linear)?;
        positive("paper_window_relu", self.paper_window_relu)?;
        positive("mid_lr", self.mid_lr)
    }
}

/// The reference's per-arm summary values, as the spec states them: [linear, relu].
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefSummary {
    alpha: [String; 2],
    alpha_window: [String; 2],
    r_reference: [String; 2],
    r_honest: [String; 2],
    r_window: [String; 2],
    max_rel_err_paper: [String; 2],
    max_rel_err_honest: [String; 2],
    honest_refused: [String; 2],
    diverged: [String; 2],
    lambda_max: [String; 2],
    lambda_max_mid: [String; 2],
    eig_counts: [String; 2],
    ck_nonzero: [String; 2],
}

/// Per-arm seed-mean curves.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RefArms {
    linear: RefCurves,
    relu: RefCurves,
}

/// data/reference/E08.toml.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    curves: RefArms,
    summary: RefSummary,
}

/// Both arms and, per arm and seed, the "mid" Hessian job.
pub struct Plan {
    precision: Precision,
    seeds: Vec<u64>,
    steps: usize,
    robust_max_lr: f64,
    paper_windows: (f64, f64),
    mid: (usize, f64),
    arms: Vec<CrossoverPlan>,
    mid_jobs: Vec<Vec<Job>>,
    reference: Reference,
}

/// What E08 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    seeds: Vec<u64>,
    robust_max_lr: f64,
    /// The paper's η ranges (linear, relu).
    paper_windows: (f64, f64),
    /// (steps, lr) of the mid Hessian.
    mid: (usize, f64),
    /// linear, relu.
    arms: Vec<ArmAnalysis>,
    /// λ_max of the mid Hessian per arm and seed.
    mid_lambda_max: Vec<Vec<f64>>,
    reference: Reference,
}

impl Experiment for E08 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E08"
    }
    fn title(&self) -> &'static str {
        "Spectral universality: crossover formula vs measured S(η)"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let base = ctx.problem(&p.sweep.problem)?;
        let s = &p.sweep;
        let mut arms = Vec::new();
        let mut mid_jobs = Vec::new();
        for arm in [LINEAR, RELU] {
            let problem = arm.problem(&base);
            let spec = |seed| problem.spec(seed, ctx.precision);
            mid_jobs.push(
                s.seeds
                    .iter()
                    .map(|&seed| {
                        Job::Hessian(HessianJob {
                            problem: spec(seed),
                            train_steps: p.mid_steps,
                            train_lr: p.mid_lr,
                            ck: false,
                        })
                    })
                    .collect(),
            );
            arms.push(CrossoverPlan::new(arm, &s.lrs, &s.seeds, s.steps, spec));
        }
        Ok(Plan {
            precision: ctx.precision,
            seeds: s.seeds.clone(),
            steps: s.steps,
            robust_max_lr: p.robust_max_lr,
            paper_windows: (p.paper_window_linear, p.paper_window_relu),
            mid: (p.mid_steps, p.mid_lr),
            arms,
            mid_jobs,
            reference: ctx.reference()?,
        })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.arms.iter().flat_map(|a| a.jobs()).chain(plan.mid_jobs.iter().flatten().cloned()).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let arms =
            plan.arms.iter().map(|a| a.analyse(results, plan.steps, plan.robust_max_lr)).collect::<Result<_, _>>()?;
        let mid_lambda_max = plan
            .mid_jobs
            .iter()
            .map(|jobs| {
                jobs.iter()
                    .map(|j| {
                        let h = results.hessian(j)?;
                        Ok(if h.finite { h.eigenvalues.last().copied().unwrap_or(f64::NAN) } else { f64::NAN })
                    })
                    .collect::<Result<Vec<f64>, LabError>>()
            })
            .collect::<Result<_, _>>()?;
        Ok(Analysis {
            precision: plan.precision,
            seeds: plan.seeds.clone(),
            robust_max_lr: plan.robust_max_lr,
            paper_windows: plan.paper_windows,
            mid: plan.mid,
            arms,
            mid_lambda_max,
            reference: plan.reference.clone(),
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let (lin, relu) = (&a.arms[0], &a.arms[1]);
        let (win_linear, win_relu) = a.paper_windows;
        let rs = &a.reference.summary;
        let mut sum = Summary::default();
        let nseeds = a.seeds.len();
        let r_how = |r: Option<(f64, usize)>, rule: &str| {
            format!("{rule}; converged-only means over {nseeds} seeds; R = {}", fmt_r(r))
        };
        for (claim, x) in [("E08.R_relu", relu), ("E08.R_linear", lin)] {
            sum.measure(
                claim,
                Protocol::Reference,
                x.r_reference.map_or(f64::NAN, |r| r.0),
                r_how(x.r_reference, "reference rule"),
            );
            sum.measure(
                claim,
                Protocol::Robust,
                x.r_honest.map_or(f64::NAN, |r| r.0),
                format!(
                    "{}; η dropped because some seed has ηλ > 2: {}",
                    r_how(x.r_honest, "honest rule"),
                    x.honest_dropped
                ),
            );
        }
        sum.notes.push(format!(
            "Null predictor S = 1/η (no Hessian, no c_k) on the same η: R = {} (linear), {} (relu), against the formula's {} and {} (reference rule). R is a correlation of logs over η, and S̄_meas falls with η whatever the spectrum: where the null predictor scores as high, agreement in R carries no evidence.",
            fmt_r(lin.r_null),
            fmt_r(relu.r_null),
            fmt_r(lin.r_reference),
            fmt_r(relu.r_reference)
        ));
        for (claim, x, win) in [("E08.rel_err_relu_max", relu, win_relu), ("E08.rel_err_linear_max", lin, win_linear)] {
            sum.measure(
                claim,
                Protocol::Reference,
                x.max_rel_err_upto(win),
                format!("max over η ≤ {win} (the paper's range) of |S̄_pred − S̄_meas|/S̄_meas"),
            );
            sum.measure(
                claim,
                Protocol::Robust,
                x.max_rel_err_honest(),
                format!(
                    "max over every η where the honest formula applies ({} of {} η dropped)",
                    x.honest_dropped,
                    x.etas.len()
                ),
            );
        }
        // Summary table: ours beside the reference, per arm.
        let mut t = Table::new(
            "Per-arm summary (ref = the reference implementation's values from the spec)",
            &["quantity", "linear (MSE)", "ref linear", "relu (CE)", "ref relu"],
        );
        let alpha = |x: &ArmAnalysis, w: bool| {
            let f = if w { &x.fit_s_window } else { &x.fit_s };
            f.as_ref().map_or("—".into(), |f| format!("{} (R² {}, {} η)", fmt(2.0 + f.alpha), fmt(f.r2), f.n_points))
        };
        let mut row = |q: &str, l: String, r: String, reference: &[String; 2]| {
            t.row(vec![q.into(), l, reference[0].clone(), r, reference[1].clone()])
        };
        row("α = 2 + slope ln S̄_meas (all η with a converged seed)", alpha(lin, false), alpha(relu, false), &rs.alpha);
        row(&format!("same on η ≤ {}", a.robust_max_lr), alpha(lin, true), alpha(relu, true), &rs.alpha_window);
        row("prediction R, reference rule", fmt_r(lin.r_reference), fmt_r(relu.r_reference), &rs.r_reference);
        row("prediction R, honest rule", fmt_r(lin.r_honest), fmt_r(relu.r_honest), &rs.r_honest);
        row(&format!("prediction R, η ≤ {}", a.robust_max_lr), fmt_r(lin.r_window), fmt_r(relu.r_window), &rs.r_window);
        row(
            "max rel. error, paper's η range",
            format!("{} (η ≤ {})", fmt(lin.max_rel_err_upto(win_linear)), win_linear),
            format!("{} (η ≤ {})", fmt(relu.max_rel_err_upto(win_relu)), win_relu),
            &rs.max_rel_err_paper,
        );
        row(
            "max rel. error, honest rule",
            fmt(lin.max_rel_err_honest()),
            fmt(relu.max_rel_err_honest()),
            &rs.max_rel_err_honest,
        );
        row("η refused by the honest rule", lin.honest_refusals(), relu.honest_refusals(), &rs.honest_refused);
        row("runs diverged (η: count)", diverged(lin), diverged(relu), &rs.diverged);
        row("λ_max at θ0 per seed", lin.lambda_max_per_seed(), relu.lambda_max_per_seed(), &rs.lambda_max);
        row(
            &format!("λ_max after {} GD steps at η = {} per seed", a.mid.0, a.mid.1),
            slash(a.mid_lambda_max[0].iter().copied()),
            slash(a.mid_lambda_max[1].iter().copied()),
            &rs.lambda_max_mid,
        );
        let counts = |x: &ArmAnalysis| {
            x.spectra.first().map_or("—".into(), |s| format!("{} / {} (min {})", s.n_pos, s.n_neg, fmt(s.min)))
        };
        row("seed 0: #λ > 1e−8 / #λ < −1e−8", counts(lin), counts(relu), &rs.eig_counts);
        let ck = |x: &ArmAnalysis| x.spectra.first().and_then(|s| s.ck_nonzero).map_or("—".into(), |n| n.to_string());
        row("seed 0: #c_k > 1e−12", ck(lin), ck(relu), &rs.ck_nonzero);
        sum.tables.push(t);
        sum.tables.push(per_eta_table(lin, &a.reference.curves.linear));
        sum.tables.push(per_eta_table(relu, &a.reference.curves.relu));
        sum.notes.push(format!(
            "Reference rule vs honest rule: the reference adds c_k·T/|D| for every mode with ηλ ≥ 2, which makes S_pred explode where \
             the linearisation no longer holds (spec: relu η = 0.3 predicts 191.7 vs 3.28 measured and R drops to 0.81). The honest \
             rule refuses such η. Refused here — linear: {}; relu: {}. At the largest η the relu arm measures S̄ = {} against \
             S̄_pred = {} (reference rule); whether R collapses depends only on how many seeds have λ_max(θ0) ≥ 2/η \
             (reference: 2 of 3; here λ_max = {}).",
            lin.honest_refusals(),
            relu.honest_refusals(),
            relu.s_meas.mean.last().map_or("—".into(), |v| fmt(*v)),
            relu.s_pred.mean.last().map_or("—".into(), |v| fmt(*v)),
            relu.lambda_max_per_seed()
        ));
        sum.notes.push(
            "The paper's error ranges (14–18 % linear, 14–27 % ReLU) silently exclude η = 0.1 for linear (27.6 % in the reference) and \
             η = 0.3 for ReLU (5700 %); the reference-protocol maxima use exactly those ranges, the robust maxima every η the formula \
             applies to. The linear arm is MSE and the ReLU arm CE, so 'linear vs ReLU' also swaps the loss."
                .into(),
        );
        sum.notes.push(
            "Eigenvalue counts near 0 depend on float32 vs float64 and on the eigensolver (spec E8 note 4): compare λ_max and the \
             prediction, not the counts."
                .into(),
        );
        sum.notes.push(identity_note(&a.arms, a.precision));
        let pname = a.precision.name();
        for x in &a.arms {
            sum.figure(pred_vs_meas_figure(
                &format!("pred_vs_meas_{}.svg", x.arm),
                format!("E08 {}: predicted vs measured S(η) ({pname})", x.arm),
                x,
            ));
        }
        let seed0 = a.seeds.first().copied().unwrap_or(0);
        sum.figure(Figure::xy(
            "hessian_spectrum.svg",
            format!("E08 positive Hessian eigenvalues at θ0 ({pname})"),
            Axis::log("rank k"),
            Axis::log("λ_k"),
            a.arms
                .iter()
                .map(|x| {
                    Series::line(
                        format!("{} (seed {seed0})", x.arm),
                        x.positive_eigs_seed0.iter().rev().enumerate().map(|(k, &l)| ((k + 1) as f64, l)).collect(),
                    )
                })
                .collect(),
        ));
        sum.data = serde_json::json!({
            "analyses": a.arms,
            "mid_lambda_max": { "linear": a.mid_lambda_max[0], "relu": a.mid_lambda_max[1] },
        });
        sum
    }
}

/// "η: n diverged" for the η with a diverged seed.
fn diverged(a: &ArmAnalysis) -> String {
    let v: Vec<String> = (0..a.etas.len())
        .filter(|&i| a.s_meas.n_used[i] < a.n_seeds)
        .map(|i| format!("η = {}: {}", a.etas[i], a.n_seeds - a.s_meas.n_used[i]))
        .collect();
    if v.is_empty() { "none".into() } else { v.join(", ") }
}
