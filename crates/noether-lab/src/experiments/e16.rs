//! E16 — time-dependent Hessian, MSE vs CE (spec E13–E23 §2-E16, §1.9–1.12, §5.3; reference script
//! `exp_hessian_time_evolution_v1.py`). The paper claims the Theorem-4/5 predictor built from the
//! Hessian at t = 250 predicts S(η) of CE runs with R = 0.988, better than at t = 0.
//!
//! ReLU m = 64 on GM-200, losses {MSE, CE}, 3 seeds. Per (loss, seed) one GD run at η = 0.01 with
//! the full Hessian and c_k (gradient projection) at t ∈ {0, 250, 500, 1000, 2000}; S_pred(η) with
//! T = 2000 on the eval grid 1e−4…0.3; measured S from fresh 2000-step runs per η (the E08/E13
//! runs, shared through the cache). R per checkpoint = Pearson of the logs (§1.12).
//!
//! Reference protocol: R over all eight η with the reference unstable-mode rule (modes with
//! ηλ ≥ 2 add c_k·T/|D|), np.mean over seeds; the "time-averaged" variant (seed 0's sorted
//! spectra averaged over the checkpoints, uniform c_k = 1/P). Robust protocol (§5.3): R without
//! the eval η = 0.3 (η ≤ `robust_max_lr`) — the only η where some mode has ηλ ≥ 2 — and the
//! honest rule (an η where any seed has such a mode leaves the comparison).

use noether_nn::Precision;
use serde::{Deserialize, Serialize};

use super::common::{abs_drift, imbalance_s};
use super::crossover_common::{Arm, ArmAnalysis, CrossoverPlan, EigenStats, fmt_r, identity_note, slash};
use super::hessian_time::{
    CheckpointPrediction, TimePlan, check_checkpoints, hessian_of, lambda_max, predict, predict_along, seed_mean,
};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule};
use crate::config::{Check, Checked, Invalid, positive};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::problem::SweepParams;
use crate::results::{CheckpointResult, Results};

/// The experiment.
pub struct E16;

const MSE: Arm = Arm { name: "relu-mse", activation_eps: 1.0, ce_weight: 0.0 };
const CE: Arm = Arm { name: "relu-ce", activation_eps: 1.0, ce_weight: 1.0 };

/// `configs/E16.toml`: `lrs` are the eval learning rates of the measured runs and of S_pred;
/// `steps` is also the predictor's T (the reference: 2000 for both). The arms set the
/// activation (ReLU) and the loss (MSE, CE).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(flatten)]
    sweep: SweepParams,
    /// Learning rate of the run along which the Hessian is taken.
    train_lr: f64,
    /// Hessian checkpoints (updates applied), ascending, starting at 0.
    checkpoints: Vec<usize>,
    /// The checkpoint of the paper's claim (250).
    claim_t: usize,
    /// Robust protocol: R over η ≤ this (drops the eval η = 0.3).
    robust_max_lr: f64,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        self.sweep.check_grid(2)?;
        self.sweep.require_two_layer(true, "the closed-form Hessian with c_k")?;
        positive("train_lr", self.train_lr)?;
        positive("robust_max_lr", self.robust_max_lr)?;
        check_checkpoints("checkpoints", &self.checkpoints, 1)?;
        if !self.checkpoints.contains(&self.claim_t) {
            return Err(Invalid::new(
                "claim_t",
                format!("{} is not among the checkpoints {:?}", self.claim_t, self.checkpoints),
            ));
        }
        Ok(())
    }
}

/// data/reference/E16.toml: the reference's R and λ_max per checkpoint `t`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    t: Vec<usize>,
    r_mse: Vec<f64>,
    r_ce: Vec<f64>,
    /// R without η = 0.3 (spec E16 pitfall (a)).
    r_window_mse: Vec<f64>,
    r_window_ce: Vec<f64>,
    lambda_max_mse: Vec<String>,
    lambda_max_ce: Vec<String>,
    /// R of the time-averaged spectrum, [MSE, CE].
    r_time_averaged: [String; 2],
}

/// The parameters the analysis and the report need (in the plan and, unchanged, in the analysis).
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    precision: Precision,
    seeds: Vec<u64>,
    lrs: Vec<f64>,
    steps: usize,
    train_lr: f64,
    checkpoints: Vec<usize>,
    claim_t: usize,
    robust_max_lr: f64,
}

/// Per loss: the measured-S grid (+ θ0 Hessians) and the Hessian trajectories.
pub struct Plan {
    settings: Settings,
    cross: Vec<CrossoverPlan>,
    time: Vec<TimePlan>,
    reference: Reference,
}

/// Everything one loss measured.
#[derive(Serialize)]
pub struct LossResult {
    name: &'static str,
    s_meas: Curve,
    /// Per seed, the checkpoints of the Hessian run.
    points: Vec<Vec<CheckpointResult>>,
    preds: Vec<CheckpointPrediction>,
    time_avg: CheckpointPrediction,
    crossover: ArmAnalysis,
    /// |drift| per η and seed of the measured runs.
    drift_per_seed: Vec<Vec<f64>>,
}

/// What E16 reports.
#[derive(Serialize)]
pub struct Analysis {
    #[serde(flatten)]
    settings: Settings,
    /// MSE, CE.
    losses: Vec<LossResult>,
    reference: Reference,
}

fn analyse_loss(
    plan: &Settings,
    cross: &CrossoverPlan,
    time: &TimePlan,
    results: &Results,
) -> Result<LossResult, LabError> {
    let (lrs, steps, window) = (&plan.lrs, plan.steps, plan.robust_max_lr);
    // np.mean over seeds (spec §1.7: E16 propagates NaN).
    let s_meas = Curve::from_seeds(lrs, &cross.sweep.matrix(results, imbalance_s)?, SeedRule::NanPropagating);
    let points = time.all_points(results)?;
    let preds = predict_along(&points, &plan.checkpoints, lrs, steps, &s_meas.mean, window)?;
    // Time-averaged: element-wise mean of seed 0's sorted spectra over the checkpoints, c_k = 1/P.
    let s0: Vec<&[f64]> =
        plan.checkpoints.iter().filter_map(|&t| hessian_of(&points[0], t).map(|h| h.eigenvalues.as_slice())).collect();
    let np = s0.first().map_or(0, |v| v.len());
    let avg: Vec<f64> = (0..np).map(|k| s0.iter().map(|v| v[k]).sum::<f64>() / s0.len() as f64).collect();
    let uniform = vec![1.0 / np.max(1) as f64; np];
    let spectra: Vec<(&[f64], &[f64])> =
        if s0.len() == plan.checkpoints.len() { vec![(&avg, &uniform)] } else { Vec::new() };
    let time_avg = predict(usize::MAX, &spectra, lrs, steps, &s_meas.mean, window)?;
    let crossover = cross.analyse(results, steps, window)?;
    let drift_per_seed = cross.sweep.matrix(results, abs_drift)?;
    Ok(LossResult { name: cross.arm.name, s_meas, points, preds, time_avg, crossover, drift_per_seed })
}

fn r_val(r: Option<(f64, usize)>) -> f64 {
    r.map_or(f64::NAN, |r| r.0)
}

fn ref_at(ts: &[usize], v: &[f64], t: usize) -> String {
    ts.iter().position(|&x| x == t).map_or("—".into(), |i| fmt(v[i]))
}

impl Experiment for E16 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "E16"
    }
    fn title(&self) -> &'static str {
        "Time-dependent Hessian: S_pred from Hessians along training, MSE vs CE"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let base = ctx.problem(&p.sweep.problem)?;
        let s = &p.sweep;
        let (mut cross, mut time) = (Vec::new(), Vec::new());
        for arm in [MSE, CE] {
            let problem = arm.problem(&base);
            let spec = |seed| problem.spec(seed, ctx.precision);
            cross.push(CrossoverPlan::new(arm, &s.lrs, &s.seeds, s.steps, spec));
            time.push(TimePlan::new(&s.seeds, spec, p.train_lr, &p.checkpoints, &p.checkpoints, true));
        }
        let settings = Settings {
            precision: ctx.precision,
            seeds: s.seeds.clone(),
            lrs: s.lrs.clone(),
            steps: s.steps,
            train_lr: p.train_lr,
            checkpoints: p.checkpoints.clone(),
            claim_t: p.claim_t,
            robust_max_lr: p.robust_max_lr,
        };
        Ok(Plan { settings, cross, time, reference: ctx.reference()? })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.cross.iter().flat_map(|c| c.jobs()).chain(plan.time.iter().flat_map(|t| t.jobs())).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let losses = plan
            .cross
            .iter()
            .zip(&plan.time)
            .map(|(c, t)| analyse_loss(&plan.settings, c, t, results))
            .collect::<Result<_, _>>()?;
        Ok(Analysis { settings: plan.settings.clone(), losses, reference: plan.reference.clone() })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let p = &a.settings;
        let res = &a.losses;
        let rf = &a.reference;
        let (mse, ce) = (&res[0], &res[1]);
        let mut sum = Summary::default();
        let ci = |t: usize| p.checkpoints.iter().position(|&x| x == t).unwrap_or(0); // both checked in Params
        let (i0, ic) = (ci(0), ci(p.claim_t));
        let nseeds = p.seeds.len();
        let top = p.lrs.iter().copied().fold(f64::NAN, f64::max);
        let how = |t: usize, r: Option<(f64, usize)>, what: &str| {
            format!(
                "CE, Hessian + c_k at t = {t} of the η = {} run, T = {}, {what}, np.mean over {nseeds} seeds; R = {}",
                p.train_lr,
                p.steps,
                fmt_r(r)
            )
        };
        sum.notes.push(format!(
            "Null predictor S = 1/η (no Hessian, no c_k) on the same eval η: R = {} against the CE formula's {} at t = {} and {} at t = {} (reference rule); where it scores as high, agreement in R carries no evidence.",
            fmt_r(ce.preds[ic].r_null),
            fmt_r(ce.preds[ic].r_reference),
            ce.preds[ic].t,
            fmt_r(ce.preds[i0].r_reference),
            ce.preds[i0].t
        ));
        for (claim, i) in [("E16.R_ce_t250", ic), ("E16.R_ce_t0", i0)] {
            let pr = &ce.preds[i];
            sum.measure(
                claim,
                Protocol::Reference,
                r_val(pr.r_reference),
                how(pr.t, pr.r_reference, "all eval η, reference unstable-mode rule"),
            );
            sum.measure(
                claim,
                Protocol::Robust,
                r_val(pr.r_window),
                how(
                    pr.t,
                    pr.r_window,
                    &format!(
                        "eval η ≤ {} (drops η = {top}, where modes with ηλ ≥ 2 trigger the c_k·T/|D| branch)",
                        p.robust_max_lr
                    ),
                ),
            );
        }
        // R per checkpoint, both losses.
        let mut t = Table::new(
            "Prediction R per checkpoint ([ref.] = the reference implementation's values from the spec)",
            &[
                "t",
                "loss",
                "R (all η, ref. rule)",
                "[ref.] R",
                &format!("R (η ≤ {})", p.robust_max_lr),
                "[ref.] R w/o 0.3",
                "R (honest rule)",
                "λ_max per seed",
                "[ref.] λ_max",
                "S̄_pred/S̄_meas at η = 0.01",
            ],
        );
        for lr in [mse, ce] {
            let (rr, rw, rl) = if lr.name == MSE.name {
                (&rf.r_mse, &rf.r_window_mse, &rf.lambda_max_mse)
            } else {
                (&rf.r_ce, &rf.r_window_ce, &rf.lambda_max_ce)
            };
            for (k, pr) in lr.preds.iter().enumerate() {
                let tk = p.checkpoints[k];
                let lmax = slash(
                    lr.points.iter().map(|pts| pts.iter().find(|c| c.t == tk).and_then(lambda_max).unwrap_or(f64::NAN)),
                );
                let i01 = p.lrs.iter().position(|&e| (e - 0.01).abs() < 1e-12);
                t.row(vec![
                    tk.to_string(),
                    lr.name.into(),
                    fmt_r(pr.r_reference),
                    ref_at(&rf.t, rr, tk),
                    fmt_r(pr.r_window),
                    ref_at(&rf.t, rw, tk),
                    fmt_r(pr.r_honest),
                    lmax,
                    rf.t.iter().position(|&x| x == tk).map_or("—".into(), |i| rl[i].clone()),
                    i01.map_or("—".into(), |i| fmt(pr.ratio[i])),
                ]);
            }
            t.row(vec![
                "time-avg".into(),
                lr.name.into(),
                fmt_r(lr.time_avg.r_reference),
                rf.r_time_averaged[if lr.name == MSE.name { 0 } else { 1 }].clone(),
                fmt_r(lr.time_avg.r_window),
                "—".into(),
                fmt_r(lr.time_avg.r_honest),
                "seed 0, sorted spectra averaged, c_k = 1/P".into(),
                "—".into(),
                "—".into(),
            ]);
        }
        sum.tables.push(t);
        // Seed-0 spectrum statistics per checkpoint.
        let mut t = Table::new(
            &format!(
                "Seed {} spectrum per checkpoint (eff. rank = Σλ₊/λ₊max; [ref.] CE s42: λ_min −2.302/−0.079/−0.031/−0.013/−0.006, eff. rank 46.7/14.2/12.5/11.3/10.5; MSE λ_min −1.592 at t = 0; n₊ MSE 1287→1281, CE 1104→1038; loss t = 250/2000: MSE 0.0249/0.0083, CE 0.0382/0.0029)",
                p.seeds[0]
            ),
            &["t", "loss", "training loss", "λ_max", "λ_min", "n(λ > 1e−8)", "median λ₊", "eff. rank", "|δ(θ_t)|"],
        );
        for lr in [mse, ce] {
            for c in &lr.points[0] {
                if let Some(h) = &c.hessian {
                    let st = EigenStats::of(&h.eigenvalues, h.ck.as_deref());
                    t.row(vec![
                        c.t.to_string(),
                        lr.name.into(),
                        fmt(c.loss),
                        fmt(st.max),
                        fmt(st.min),
                        st.n_pos.to_string(),
                        fmt(st.median_pos),
                        fmt(st.effective_rank),
                        fmt(h.delta0.abs()),
                    ]);
                }
            }
        }
        sum.tables.push(t);
        // Per-η: measured vs predicted at t = 0 and the claim checkpoint.
        let mut t = Table::new(
            "Per eval η: measured S̄ (np.mean over seeds) and S̄_pred at t = 0 and the claim checkpoint ([ref.] CE S̄_meas 3698…3.284, S̄_pred(t=0) 2719…191.7)",
            &[
                "η",
                "loss",
                "S̄_meas",
                &format!("S̄_pred t = 0"),
                "modes ηλ ≥ 2 per seed (t = 0)",
                &format!("S̄_pred t = {}", p.claim_t),
                "ratio t = 0",
                &format!("ratio t = {}", p.claim_t),
            ],
        );
        for lr in [mse, ce] {
            for (i, &e) in p.lrs.iter().enumerate() {
                t.row(vec![
                    e.to_string(),
                    lr.name.into(),
                    fmt(lr.s_meas.mean[i]),
                    fmt(lr.preds[i0].s_pred[i]),
                    lr.preds[i0].n_unstable[i].iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/"),
                    fmt(lr.preds[ic].s_pred[i]),
                    fmt(lr.preds[i0].ratio[i]),
                    fmt(lr.preds[ic].ratio[i]),
                ]);
            }
        }
        sum.tables.push(t);
        let alpha = |a: &ArmAnalysis| {
            a.alpha_drift
                .as_ref()
                .map_or("—".into(), |f| format!("{} (R² {}, {} η)", fmt(f.alpha), fmt(f.r2), f.n_points))
        };
        let unstable_etas = |lr: &LossResult| -> String {
            let v: Vec<String> = p
                .lrs
                .iter()
                .zip(&lr.preds[i0].n_unstable)
                .filter(|(_, u)| u.iter().any(|&n| n > 0))
                .map(|(e, u)| {
                    format!("η = {e} ({} per seed)", u.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/"))
                })
                .collect();
            if v.is_empty() { "none".into() } else { v.join(", ") }
        };
        sum.notes.push(format!(
            "§5.3: eval η where some seed has a mode with ηλ ≥ 2 at t = 0 (the reference rule adds c_k·T/|D| there): MSE {}, CE {}. \
             At η = {top}: S̄_pred(t = 0) = {} (MSE) / {} (CE) against measured {} / {} ([ref.] 847 / 192 vs 30 / 3.3). R(t = 0) over all η \
             {} (MSE) / {} (CE); without η > {}: {} / {} ([ref.] 1.000 / 1.000). CE R at t = {}: {} (all η), {} (η ≤ {}). Whether t = {} \
             'beats' t = 0 is decided by the η = {top} point alone.",
            unstable_etas(mse),
            unstable_etas(ce),
            fmt(*mse.preds[i0].s_pred.last().unwrap_or(&f64::NAN)),
            fmt(*ce.preds[i0].s_pred.last().unwrap_or(&f64::NAN)),
            fmt(*mse.s_meas.mean.last().unwrap_or(&f64::NAN)),
            fmt(*ce.s_meas.mean.last().unwrap_or(&f64::NAN)),
            fmt_r(mse.preds[i0].r_reference),
            fmt_r(ce.preds[i0].r_reference),
            p.robust_max_lr,
            fmt_r(mse.preds[i0].r_window),
            fmt_r(ce.preds[i0].r_window),
            p.claim_t,
            fmt_r(ce.preds[ic].r_reference),
            fmt_r(ce.preds[ic].r_window),
            p.robust_max_lr,
            p.claim_t,
        ));
        let last = p.checkpoints.len() - 1;
        sum.notes.push(format!(
            "R is scale-free: at η = 0.01 the level S̄_pred/S̄_meas is {} (MSE) / {} (CE) at t = 0 but {} / {} at t = {} and {} / {} at t = {} \
             ([ref.] MSE 1.01 → 0.024 → 0.0016, CE 0.82 → 0.0057 → 0.00022): later-checkpoint predictions are orders of magnitude off.",
            ratio_at(&mse.preds[i0], &p.lrs, 0.01),
            ratio_at(&ce.preds[i0], &p.lrs, 0.01),
            ratio_at(&mse.preds[ic], &p.lrs, 0.01),
            ratio_at(&ce.preds[ic], &p.lrs, 0.01),
            p.claim_t,
            ratio_at(&mse.preds[last], &p.lrs, 0.01),
            ratio_at(&ce.preds[last], &p.lrs, 0.01),
            p.checkpoints[last],
        ));
        let tl: Vec<String> = p
            .checkpoints
            .iter()
            .filter(|&&t| t > 0)
            .map(|&t| format!("{t}: {}", fmt(t as f64 * seed_mean(&ce.points, t, lambda_max))))
            .collect();
        sum.notes.push(format!(
            "CE λ_max vs 1/t (§5.4; constant t·λ̄_max = 1/t decay): t·λ̄_max = {} ([ref.] seed 42: 283, 283, 281, 280 at t = 250…2000). \
             MSE λ̄_max from t = 0 to t = {}: {} → {} ([ref.] seed 42: 8.975 → 8.286). α of mean drift vs eval η: MSE {}, CE {} ([ref.] 1.293 / 1.076).",
            tl.join(", "),
            p.checkpoints[last],
            fmt(seed_mean(&mse.points, 0, lambda_max)),
            fmt(seed_mean(&mse.points, p.checkpoints[last], lambda_max)),
            alpha(&mse.crossover),
            alpha(&ce.crossover),
        ));
        sum.notes.push(identity_note(&[mse.crossover.clone(), ce.crossover.clone()], p.precision));
        // Plots.
        let pname = p.precision.name();
        let rser = |lr: &LossResult, win: bool| Series {
            label: format!(
                "{} {}",
                lr.name,
                if win { format!("η ≤ {}", p.robust_max_lr) } else { "all η (reference)".into() }
            ),
            points: lr
                .preds
                .iter()
                .map(|c| (c.t as f64, r_val(if win { c.r_window } else { c.r_reference })))
                .collect(),
            fit: None,
            line: true,
        };
        let file = "r_vs_checkpoint.svg";
        sum.figure(Figure::xy(
            &file,
            &format!("E16 prediction R vs Hessian checkpoint ({pname})"),
            Axis::linear("checkpoint t (updates applied)"),
            Axis::linear("R (Pearson of ln S_pred vs ln S_meas)"),
            vec![rser(mse, false), rser(mse, true), rser(ce, false), rser(ce, true)],
        ));
        let lser = |lr: &LossResult| Series {
            label: format!("{} λ̄_max", lr.name),
            points: p.checkpoints.iter().map(|&t| (t.max(1) as f64, seed_mean(&lr.points, t, lambda_max))).collect(),
            fit: None,
            line: true,
        };
        let file = "lambda_max_vs_t.svg";
        sum.figure(Figure::xy(
            &file,
            &format!("E16 seed-mean λ_max along training (t = 0 drawn at 1; {pname})"),
            Axis::log("t"),
            Axis::log("λ_max"),
            vec![lser(mse), lser(ce)],
        ));
        for lr in [mse, ce] {
            let mut series = vec![Series {
                label: "S̄ measured".into(),
                points: p.lrs.iter().copied().zip(lr.s_meas.mean.iter().copied()).collect(),
                fit: None,
                line: false,
            }];
            for pr in &lr.preds {
                series.push(Series {
                    label: format!("S̄_pred t = {} (R = {})", pr.t, fmt_r(pr.r_reference)),
                    points: p.lrs.iter().copied().zip(pr.s_pred.iter().copied()).collect(),
                    fit: None,
                    line: true,
                });
            }
            let file = format!("pred_vs_meas_{}.svg", lr.name);
            sum.figure(Figure::xy(
                &file,
                &format!("E16 {}: S_pred from Hessians along training vs measured S ({pname})", lr.name),
                Axis::log("eval η"),
                Axis::log("S(η)"),
                series.to_vec(),
            ));
        }
        sum.data = serde_json::json!({
            "losses": res.iter().map(|l| serde_json::json!({
                "loss": l.name,
                "s_meas": l.s_meas,
                "predictions": l.preds,
                "time_averaged": l.time_avg,
                "drift_mean": l.crossover.drift.mean,
                "drift_per_seed": l.drift_per_seed,
                "checkpoints_seed0": l.points[0].iter().map(|c| serde_json::json!({"t": c.t, "loss": c.loss, "lambda_max": lambda_max(c)})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        sum
    }
}

fn ratio_at(pr: &CheckpointPrediction, lrs: &[f64], eta: f64) -> String {
    lrs.iter().position(|&e| (e - eta).abs() < 1e-12).map_or("—".into(), |i| fmt(pr.ratio[i]))
}
