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
//! Reference protocol: converged-only seed means (η dropped only if no seed converged), the
//! reference's unstable-mode rule (modes with ηλ ≥ 2 add c_k·T/|D|), α = 2 + slope of
//! ln S̄_meas vs ln η, prediction R = Pearson of the logs over all kept η, relative errors per η
//! and their maximum over the η range the paper quotes (linear η ≤ 0.03, ReLU η ≤ 0.1).
//! Robust protocol: the honest rule (an η where some seed has a mode with ηλ > 2 leaves the
//! comparison, counted) and the sub-EoS window η ≤ 0.1.

use serde::Deserialize;

use super::common::gm200;
use super::crossover_common::{
    Analysis, Arm, CrossoverPlan, REF_LRS, RefCurves, fmt_r, identity_note, per_eta_table, plot_pred_vs_meas, slash,
};
use crate::LabError;
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::{HessianJob, Job};
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;

pub struct E08;

const LINEAR: Arm = Arm { name: "linear", activation_eps: 0.0, ce_weight: 0.0 };
const RELU: Arm = Arm { name: "relu", activation_eps: 1.0, ce_weight: 1.0 };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    seeds: Vec<u64>,
    lrs: Vec<f64>,
    /// Training steps, also the predictor's T (the reference uses N_STEPS = 2000 for both).
    steps: usize,
    width: usize,
    /// Upper end of the robust (sub-EoS) window.
    robust_max_lr: f64,
    /// The η range of the paper's quoted error ranges: linear η ≤ 0.03, ReLU η ≤ 0.1.
    paper_window_linear: f64,
    paper_window_relu: f64,
    /// The "mid" Hessian: after `mid_steps` GD steps at `mid_lr`.
    mid_steps: usize,
    mid_lr: f64,
}

/// Reference seed means (spec E8 table); NaN = all seeds diverged.
const REF_LINEAR: RefCurves = RefCurves {
    lrs: &REF_LRS,
    s_meas: &[3923.0, 1396.0, 433.6, 147.4, 45.81, 17.10, 11.23, f64::NAN],
    s_pred: &[3349.0, 1163.0, 357.2, 121.9, 38.38, 14.73, 14.34, f64::NAN],
    drift: &[],
};
const REF_RELU: RefCurves = RefCurves {
    lrs: &REF_LRS,
    s_meas: &[3698.0, 1809.0, 588.2, 198.5, 60.20, 20.60, 6.802, 3.284],
    s_pred: &[2719.0, 1357.0, 453.2, 157.4, 49.54, 17.43, 5.852, 191.7],
    drift: &[],
};

struct Planned {
    p: Params,
    arms: Vec<CrossoverPlan>,
    /// Per arm, per seed.
    mid: Vec<Vec<Job>>,
}

fn planned(ctx: &Context<'_>) -> Result<Planned, LabError> {
    let p: Params = ctx.params()?;
    let precision = ctx.precision;
    let mut arms = Vec::new();
    let mut mid = Vec::new();
    for arm in [LINEAR, RELU] {
        let problem = |seed| gm200(seed, precision, arm.net(p.width), arm.ce_weight);
        mid.push(
            p.seeds
                .iter()
                .map(|&s| {
                    Job::Hessian(HessianJob {
                        problem: problem(s),
                        train_steps: p.mid_steps,
                        train_lr: p.mid_lr,
                        ck: false,
                    })
                })
                .collect(),
        );
        arms.push(CrossoverPlan::new(arm, &p.lrs, &p.seeds, p.steps, problem));
    }
    Ok(Planned { p, arms, mid })
}

impl Experiment for E08 {
    fn id(&self) -> &'static str {
        "E08"
    }
    fn title(&self) -> &'static str {
        "Spectral universality: crossover formula vs measured S(η)"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        let pl = planned(ctx)?;
        Ok(pl.arms.iter().flat_map(|a| a.jobs()).chain(pl.mid.into_iter().flatten()).collect())
    }
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let Planned { p, arms, mid } = planned(ctx)?;
        let an: Vec<Analysis> =
            arms.iter().map(|a| a.analyse(results, p.steps, p.robust_max_lr)).collect::<Result<_, _>>()?;
        let mut mid_lmax = Vec::new();
        for jobs in &mid {
            let mut v = Vec::new();
            for j in jobs {
                let h =
                    results.get(j)?.hessian().ok_or_else(|| LabError::LegacyRun("expected a Hessian result".into()))?;
                v.push(if h.finite { h.eigenvalues.last().copied().unwrap_or(f64::NAN) } else { f64::NAN });
            }
            mid_lmax.push(v);
        }
        let (lin, relu) = (&an[0], &an[1]);
        let mut sum = Summary::default();
        let nseeds = p.seeds.len();
        let r_how = |r: Option<(f64, usize)>, rule: &str| {
            format!("{rule}; converged-only means over {nseeds} seeds; R = {}", fmt_r(r))
        };
        for (claim, a) in [("E08.R_relu", relu), ("E08.R_linear", lin)] {
            sum.measure(
                claim,
                Protocol::Reference,
                a.r_reference.map_or(f64::NAN, |r| r.0),
                r_how(a.r_reference, "reference rule"),
            );
            sum.measure(
                claim,
                Protocol::Robust,
                a.r_honest.map_or(f64::NAN, |r| r.0),
                format!(
                    "{}; η dropped because some seed has ηλ > 2: {}",
                    r_how(a.r_honest, "honest rule"),
                    a.honest_dropped
                ),
            );
        }
        for (claim, a, win) in [
            ("E08.rel_err_relu_max", relu, p.paper_window_relu),
            ("E08.rel_err_linear_max", lin, p.paper_window_linear),
        ] {
            sum.measure(
                claim,
                Protocol::Reference,
                a.max_rel_err_upto(win),
                format!("max over η ≤ {win} (the paper's range) of |S̄_pred − S̄_meas|/S̄_meas"),
            );
            sum.measure(
                claim,
                Protocol::Robust,
                a.max_rel_err_honest(),
                format!(
                    "max over every η where the honest formula applies ({} of {} η dropped)",
                    a.honest_dropped,
                    a.etas.len()
                ),
            );
        }
        // Summary table: ours beside the reference, per arm.
        let mut t = Table::new(
            "Per-arm summary (ref = the reference implementation's values from the spec)",
            &["quantity", "linear (MSE)", "ref linear", "relu (CE)", "ref relu"],
        );
        let alpha = |a: &Analysis, w: bool| {
            let f = if w { &a.fit_s_window } else { &a.fit_s };
            f.as_ref().map_or("—".into(), |f| format!("{} (R² {}, {} η)", fmt(2.0 + f.alpha), fmt(f.r2), f.n_points))
        };
        let mut row =
            |q: &str, l: String, lr: &str, r: String, rr: &str| t.row(vec![q.into(), l, lr.into(), r, rr.into()]);
        row(
            "α = 2 + slope ln S̄_meas (all η with a converged seed)",
            alpha(lin, false),
            "1.1126 (R² 0.9892)",
            alpha(relu, false),
            "1.0842 (R² 0.9976)",
        );
        row(
            &format!("same on η ≤ {}", p.robust_max_lr),
            alpha(lin, true),
            "1.1126",
            alpha(relu, true),
            "1.0653 (R² 0.9977)",
        );
        row("prediction R, reference rule", fmt_r(lin.r_reference), "0.9980", fmt_r(relu.r_reference), "0.8081");
        row(
            "prediction R, honest rule",
            fmt_r(lin.r_honest),
            "0.9980 (η = 0.3 diverged anyway)",
            fmt_r(relu.r_honest),
            "0.99999 (without η = 0.3)",
        );
        row(
            &format!("prediction R, η ≤ {}", p.robust_max_lr),
            fmt_r(lin.r_window),
            "0.9980",
            fmt_r(relu.r_window),
            "0.99999",
        );
        row(
            "max rel. error, paper's η range",
            format!("{} (η ≤ {})", fmt(lin.max_rel_err_upto(p.paper_window_linear)), p.paper_window_linear),
            "0.176 (η ≤ 0.03)",
            format!("{} (η ≤ {})", fmt(relu.max_rel_err_upto(p.paper_window_relu)), p.paper_window_relu),
            "0.265 (η ≤ 0.1)",
        );
        row(
            "max rel. error, honest rule",
            fmt(lin.max_rel_err_honest()),
            "0.276 (η = 0.1)",
            fmt(relu.max_rel_err_honest()),
            "0.265",
        );
        row(
            "η refused by the honest rule",
            lin.honest_refusals(),
            "η = 0.3 (all runs diverged)",
            relu.honest_refusals(),
            "η = 0.3 (seeds 137, 256)",
        );
        row("runs diverged (η: count)", diverged(lin), "η = 0.3: 3", diverged(relu), "none");
        row(
            "λ_max at θ0 per seed",
            lin.lambda_max_per_seed(),
            "18.34/16.16/17.93",
            relu.lambda_max_per_seed(),
            "5.78/8.80/7.15",
        );
        row(
            &format!("λ_max after {} GD steps at η = {} per seed", p.mid_steps, p.mid_lr),
            slash(mid_lmax[0].iter().copied()),
            "17.6/15.2/16.2",
            slash(mid_lmax[1].iter().copied()),
            "0.28/0.33/0.37",
        );
        let counts = |a: &Analysis| {
            a.spectra.first().map_or("—".into(), |s| format!("{} / {} (min {})", s.n_pos, s.n_neg, fmt(s.min)))
        };
        row(
            "seed 0: #λ > 1e−8 / #λ < −1e−8",
            counts(lin),
            "762 / 676 (min −2.52)",
            counts(relu),
            "1104 / 320 (min −2.30)",
        );
        let ck = |a: &Analysis| a.spectra.first().and_then(|s| s.ck_nonzero).map_or("—".into(), |n| n.to_string());
        row("seed 0: #c_k > 1e−12", ck(lin), "315", ck(relu), "≈ 1290");
        sum.tables.push(t);
        sum.tables.push(per_eta_table(lin, &REF_LINEAR));
        sum.tables.push(per_eta_table(relu, &REF_RELU));
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
        sum.notes.push(identity_note(&an, ctx.precision));
        let pname = ctx.precision.name();
        for a in &an {
            let file = format!("pred_vs_meas_{}.svg", a.arm);
            plot_pred_vs_meas(
                &ctx.out_dir.join(&file),
                &format!("E08 {}: predicted vs measured S(η) ({pname})", a.arm),
                a,
            )?;
            sum.plots.push(file);
        }
        let spec_series: Vec<Series> = an
            .iter()
            .map(|a| Series {
                label: format!("{} (seed {})", a.arm, p.seeds.first().copied().unwrap_or(0)),
                points: a.positive_eigs_seed0.iter().rev().enumerate().map(|(k, &l)| ((k + 1) as f64, l)).collect(),
                fit: None,
                line: true,
            })
            .collect();
        let file = "hessian_spectrum.svg";
        xy_plot(
            &ctx.out_dir.join(file),
            &format!("E08 positive Hessian eigenvalues at θ0 ({pname})"),
            "rank k",
            "λ_k",
            &spec_series,
            &[],
            true,
            true,
        )?;
        sum.plots.push(file.into());
        sum.data =
            serde_json::json!({ "analyses": an, "mid_lambda_max": { "linear": mid_lmax[0], "relu": mid_lmax[1] } });
        Ok(sum)
    }
}

/// "η: n diverged" for the η with a diverged seed.
fn diverged(a: &Analysis) -> String {
    let v: Vec<String> = (0..a.etas.len())
        .filter(|&i| a.s_meas.n_used[i] < a.n_seeds)
        .map(|i| format!("η = {}: {}", a.etas[i], a.n_seeds - a.s_meas.n_used[i]))
        .collect();
    if v.is_empty() { "none".into() } else { v.join(", ") }
}
