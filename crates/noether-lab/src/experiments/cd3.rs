//! CD3 — direct convexity and Lipschitz diagnostics along the SGD path (spec
//! convex-dominance.md §9 Exp. 3; the measurement the paper does not make, §4).
//!
//! Streaming teacher–student SGD at horizon T for several schedules and seeds; at evenly spaced
//! checkpoints: λ_max and λ_min of the held-out-loss Hessian by Lanczos (on the first
//! `hessian_samples` held-out samples), r_t = max(0, −λ_min)/λ_max, the star-convexity residual
//! towards the final iterate s_t = L(w_t) − L(w_T) − ⟨∇L(w_t), w_t − w_T⟩, iterate-wise
//! convexity over checkpoint pairs, the mini-batch G² and D_eff = ‖w_T − w₀‖. Zero-parameter
//! check: the measured D_eff and mean G² and L̃∞ = σ²/2 (the known noise floor, in place of an
//! Exp. 1 fit) put into the last-iterate bound (2.4) along the run.

use noether_nn::Precision;
use noether_theory::schedule::{GradientBound, Schedule, last_iterate_bound_terms_prefix};
use noether_train::streaming::StreamMeasure;
use serde::{Deserialize, Serialize};

use super::cd_common::{TaskParams, mean, parse_schedule, stream_job, verdict};
use crate::LabError;
use crate::config::{Check, Checked, Invalid, at_least_one, positive};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::results::Results;

/// The experiment.
pub struct CD3;

/// `configs/CD3.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    seeds: Vec<u64>,
    task: TaskParams,
    steps: usize,
    schedules: Vec<String>,
    /// η_peak = eta_ref/√T (from CD1).
    eta_ref: f64,
    checkpoints: usize,
    log_points: usize,
    hessian_samples: usize,
    lanczos_steps: usize,
    /// Burn-in as a fraction of T (spec: "within the first 10 % of training").
    burn_in_fraction: f64,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        at_least_one("seeds", self.seeds.len())?;
        self.task.check()?;
        at_least_one("steps", self.steps)?;
        at_least_one("schedules", self.schedules.len())?;
        for s in &self.schedules {
            parse_schedule(s).map_err(|e| Invalid::new("schedules", e))?;
        }
        positive("eta_ref", self.eta_ref)?;
        at_least_one("checkpoints", self.checkpoints)?;
        at_least_one("lanczos_steps", self.lanczos_steps)?;
        if !(0.0..1.0).contains(&self.burn_in_fraction) {
            return Err(Invalid::new("burn_in_fraction", format!("must be in [0, 1), got {}", self.burn_in_fraction)));
        }
        Ok(())
    }
}

/// One stream job per (schedule, seed).
pub struct Plan {
    precision: Precision,
    steps: usize,
    eta_ref: f64,
    noise_floor: f64,
    burn_in_fraction: f64,
    hessian_samples: usize,
    lanczos_steps: usize,
    runs: Vec<(String, Schedule, Vec<Job>)>,
}

/// The diagnostics of one schedule, one entry per run that did not diverge.
#[derive(Serialize)]
pub struct PerSchedule {
    name: String,
    /// max and median r after burn-in, and its min.
    max_r: Vec<f64>,
    median_r: Vec<f64>,
    min_r: Vec<f64>,
    /// Onset τ_c/T (first r < 0.05; ∞ if never).
    onset: Vec<f64>,
    /// Fraction of post-burn-in checkpoints (t < T) with s_t > 0.
    star_rate: Vec<f64>,
    pair_violation: Vec<f64>,
    d_eff: Vec<f64>,
    grad_sq_mean: Vec<f64>,
    /// Fraction of post-burn-in log points where the zero-parameter bound holds, and the
    /// smallest bound / excess loss.
    bound_ok: Vec<f64>,
    bound_min: Vec<f64>,
    /// The first seed's r_t and s_t along the path (`None` if it diverged).
    r_path: Option<Vec<(f64, f64)>>,
    s_path: Option<Vec<(f64, f64)>>,
}

/// What CD3 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    burn_in_fraction: f64,
    hessian_samples: usize,
    lanczos_steps: usize,
    schedules: Vec<PerSchedule>,
}

fn analyse_schedule(
    plan: &Plan,
    name: &str,
    lrs: &[f64],
    js: &[Job],
    results: &Results,
) -> Result<PerSchedule, LabError> {
    let (steps, floor) = (plan.steps, plan.noise_floor);
    let burn = (plan.burn_in_fraction * steps as f64) as usize;
    let mut o = PerSchedule {
        name: name.to_string(),
        max_r: vec![],
        median_r: vec![],
        min_r: vec![],
        onset: vec![],
        star_rate: vec![],
        pair_violation: vec![],
        d_eff: vec![],
        grad_sq_mean: vec![],
        bound_ok: vec![],
        bound_min: vec![],
        r_path: None,
        s_path: None,
    };
    for (k, j) in js.iter().enumerate() {
        let r = results.stream(j)?;
        if r.diverged {
            continue;
        }
        let rs: Vec<(usize, f64)> =
            r.convexity.iter().map(|c| (c.step, (-c.lambda_min).max(0.0) / c.lambda_max)).collect();
        let post: Vec<f64> = rs.iter().filter(|(s, _)| *s >= burn).map(|x| x.1).collect();
        o.max_r.push(post.iter().copied().fold(f64::NAN, f64::max));
        let mut sorted = post.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        o.median_r.push(sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN));
        o.min_r.push(post.iter().copied().fold(f64::NAN, f64::min));
        o.onset.push(rs.iter().find(|x| x.1 < 0.05).map_or(f64::INFINITY, |x| x.0 as f64 / steps as f64));
        // The last checkpoint is w_T itself (s = 0 exactly): excluded.
        let sp: Vec<f64> =
            r.convexity.iter().filter(|c| c.step >= burn && c.step < steps).map(|c| c.star_residual).collect();
        o.star_rate.push(sp.iter().filter(|s| **s > 0.0).count() as f64 / sp.len().max(1) as f64);
        o.pair_violation.push(r.pair_violation_fraction);
        o.d_eff.push(r.d_eff);
        o.grad_sq_mean.push(r.grad_sq_mean);
        // Zero-parameter bound at each post-burn-in log point τ.
        let (mut ok, mut n, mut mn) = (0, 0, f64::INFINITY);
        for lp in r.log.iter().filter(|l| l.step >= burn.max(1)) {
            if let Ok(b) =
                last_iterate_bound_terms_prefix(lrs, GradientBound::Constant(r.grad_sq_mean.sqrt()), r.d_eff, lp.step)
            {
                let bound = b.last_iterate();
                n += 1;
                if lp.loss <= floor + bound {
                    ok += 1;
                }
                mn = mn.min(bound / (lp.loss - floor));
            }
        }
        o.bound_ok.push(ok as f64 / n.max(1) as f64);
        o.bound_min.push(mn);
        if k == 0 {
            o.r_path = Some(rs.iter().map(|(s, v)| (*s as f64, *v)).collect());
            o.s_path = Some(r.convexity.iter().map(|c| (c.step as f64, c.star_residual)).collect());
        }
    }
    Ok(o)
}

impl Experiment for CD3 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "CD3"
    }
    fn title(&self) -> &'static str {
        "Convex dominance: convexity and Lipschitz diagnostics along the SGD path"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let peak = p.eta_ref / (p.steps as f64).sqrt();
        let m = StreamMeasure {
            log_points: p.log_points,
            checkpoints: p.checkpoints,
            hessian_samples: p.hessian_samples,
            lanczos_steps: p.lanczos_steps,
        };
        let mut runs = vec![];
        for s in &p.schedules {
            let sched = parse_schedule(s).map_err(|e| ctx.invalid("schedules", e))?;
            let jobs = p
                .seeds
                .iter()
                .map(|&seed| stream_job(p.task.spec(seed), ctx.precision, sched, peak, p.steps, m.clone()))
                .collect();
            runs.push((s.clone(), sched, jobs));
        }
        Ok(Plan {
            precision: ctx.precision,
            steps: p.steps,
            eta_ref: p.eta_ref,
            noise_floor: p.task.noise_floor(),
            burn_in_fraction: p.burn_in_fraction,
            hessian_samples: p.hessian_samples,
            lanczos_steps: p.lanczos_steps,
            runs,
        })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.runs.iter().flat_map(|r| r.2.iter().cloned()).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let mut schedules = Vec::new();
        for (name, sched, js) in &plan.runs {
            let lrs = sched
                .learning_rates(plan.steps, plan.eta_ref / (plan.steps as f64).sqrt(), 0)
                .map_err(|e| LabError::analysis("CD3", format!("schedule {name}: {e}")))?;
            schedules.push(analyse_schedule(plan, name, &lrs, js, results)?);
        }
        Ok(Analysis {
            precision: plan.precision,
            burn_in_fraction: plan.burn_in_fraction,
            hessian_samples: plan.hessian_samples,
            lanczos_steps: plan.lanczos_steps,
            schedules,
        })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let p = a;
        let mut sum = Summary::default();
        let mut t = Table::new(
            "Per schedule (mean over seeds): r = max(0,−λ_min)/λ_max after burn-in, onset τ_c (first r < 0.05), star residual s_t > 0 rate after burn-in, pair-violation rate, D_eff, mean G², zero-parameter bound",
            &[
                "schedule",
                "max r (post burn-in)",
                "median r",
                "τ_c / T",
                "s_t > 0 rate",
                "pair viol.",
                "D_eff",
                "mean G²",
                "bound holds (frac. log pts)",
                "min bound/excess",
            ],
        );
        let (mut all_max_r, mut all_star_rate, mut all_onset, mut all_bound_ok, mut all_min_r) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut plot_r, mut plot_s) = (vec![], vec![]);
        for o in &a.schedules {
            t.row(vec![
                o.name.clone(),
                fmt(mean(&o.max_r)),
                fmt(mean(&o.median_r)),
                fmt(mean(&o.onset)),
                fmt(mean(&o.star_rate)),
                fmt(mean(&o.pair_violation)),
                fmt(mean(&o.d_eff)),
                fmt(mean(&o.grad_sq_mean)),
                fmt(mean(&o.bound_ok)),
                fmt(mean(&o.bound_min)),
            ]);
            all_max_r.extend(o.max_r.iter().copied());
            all_star_rate.extend(o.star_rate.iter().copied());
            all_onset.extend(o.onset.iter().copied());
            all_bound_ok.extend(o.bound_ok.iter().copied());
            all_min_r.extend(o.min_r.iter().copied());
            if let (Some(r), Some(s)) = (&o.r_path, &o.s_path) {
                plot_r.push(Series::line(o.name.clone(), r.clone()));
                plot_s.push(Series::line(o.name.clone(), s.clone()));
            }
        }
        sum.tables.push(t);
        let max_r = mean(&all_max_r);
        let star_rate = mean(&all_star_rate);
        let onset_max = all_onset.iter().copied().fold(f64::NAN, f64::max);
        let min_r = all_min_r.iter().copied().fold(f64::NAN, f64::max);
        let bound_ok = all_bound_ok.iter().all(|v| *v >= 1.0);
        sum.measure("CD3.min_eig_fraction_negative", Protocol::Reference, max_r, format!("max over checkpoints after {} % of T of max(0,−λ_min)/λ_max, mean over {} runs; Lanczos {} steps on {} held-out samples", p.burn_in_fraction * 100.0, all_max_r.len(), p.lanczos_steps, p.hessian_samples));
        sum.measure(
            "CD3.star_violation_fraction",
            Protocol::Reference,
            star_rate,
            "fraction of post-burn-in checkpoints (t < T) with s_t > 0, mean over runs",
        );
        let confirm = onset_max <= p.burn_in_fraction && star_rate <= 0.1;
        let refute = min_r >= 0.2 || star_rate > 0.25 || !bound_ok;
        let mut tc = Table::new("Spec §9 Exp. 3 criteria", &["criterion", "value", "met?"]);
        tc.row(vec![
            "confirm: r_t < 0.05 within the first 10 % of training (every run)".into(),
            format!("latest onset τ_c/T = {}", fmt(onset_max)),
            (onset_max <= p.burn_in_fraction).to_string(),
        ]);
        tc.row(vec![
            "confirm: s_t ≤ 0 at ≥ 90 % of post-burn-in checkpoints".into(),
            format!("violation rate {}", fmt(star_rate)),
            (star_rate <= 0.1).to_string(),
        ]);
        tc.row(vec![
            "confirm: τ_c agrees with τ_fit of Exp. 2 within 2×".into(),
            "not evaluated (CD2 not implemented)".into(),
            "—".into(),
        ]);
        tc.row(vec![
            "refute: r_t stays ≥ 0.2 after burn-in (some run)".into(),
            format!("largest per-run min r = {}", fmt(min_r)),
            (min_r >= 0.2).to_string(),
        ]);
        tc.row(vec![
            "refute: s_t > 0 at > 25 % of post-burn-in checkpoints".into(),
            fmt(star_rate),
            (star_rate > 0.25).to_string(),
        ]);
        tc.row(vec![
            "refute: zero-parameter bound (D_eff, mean G², σ²/2) violated".into(),
            format!("holds at all post-burn-in log points: {bound_ok}"),
            (!bound_ok).to_string(),
        ]);
        tc.row(vec!["VERDICT (without the Exp. 2 cross-check)".into(), "".into(), verdict(confirm, refute).into()]);
        sum.tables.push(tc);
        sum.notes.push(format!(
            "Exp. 3 verdict: {} (the refutation needs the Gen. 1/4 fits to succeed at the same time; see CD1).",
            verdict(confirm, refute)
        ));
        sum.notes.push(
            "No full-batch run: the streaming task has no finite training set; CD4 covers full-batch GD on GM-200."
                .into(),
        );
        sum.figure(
            Figure::xy(
                "r_t.svg",
                "CD3: r_t = max(0,−λ_min)/λ_max along the path (seed 1)",
                Axis::linear("step"),
                Axis::linear("r_t"),
                plot_r.to_vec(),
            )
            .with_hlines(vec![(0.05, "0.05".into())]),
        );
        sum.figure(
            Figure::xy(
                "star_residual.svg",
                "CD3: star-convexity residual s_t towards w_T (≤ 0: star-convex)",
                Axis::linear("step"),
                Axis::linear("s_t"),
                plot_s.to_vec(),
            )
            .with_hlines(vec![(0.0, "0".into())]),
        );
        sum.data = serde_json::json!({"max_r": max_r, "star_violation": star_rate, "onset_max": onset_max, "bound_ok": bound_ok, "verdict": verdict(confirm, refute)});
        sum
    }
}
