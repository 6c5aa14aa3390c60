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

use noether_theory::schedule::{GradientBound, last_iterate_bound_terms_prefix};
use noether_train::streaming::StreamMeasure;
use serde::Deserialize;

use super::cd_common::{TaskParams, mean, parse_schedule, record, stream_job, verdict};
use crate::LabError;
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;

pub struct CD3;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
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

fn jobs(ctx: &Context<'_>) -> Result<(Params, Vec<(String, Vec<Job>)>), LabError> {
    let p: Params = ctx.params()?;
    let peak = p.eta_ref / (p.steps as f64).sqrt();
    let m = StreamMeasure {
        log_points: p.log_points,
        checkpoints: p.checkpoints,
        hessian_samples: p.hessian_samples,
        lanczos_steps: p.lanczos_steps,
    };
    let mut out = vec![];
    for s in &p.schedules {
        let sched = parse_schedule(s)?;
        out.push((
            s.clone(),
            p.seeds
                .iter()
                .map(|&seed| stream_job(p.task.spec(seed), ctx.precision, sched, peak, p.steps, m.clone()))
                .collect(),
        ));
    }
    Ok((p, out))
}

impl Experiment for CD3 {
    fn id(&self) -> &'static str {
        "CD3"
    }
    fn title(&self) -> &'static str {
        "Convex dominance: convexity and Lipschitz diagnostics along the SGD path"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        Ok(jobs(ctx)?.1.into_iter().flat_map(|j| j.1).collect())
    }
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let (p, runs) = jobs(ctx)?;
        let floor = p.task.noise_floor();
        let burn = (p.burn_in_fraction * p.steps as f64) as usize;
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
        let mut plot_r = vec![];
        let mut plot_s = vec![];
        for (name, js) in &runs {
            let (mut max_r, mut med_r, mut onset, mut srate, mut pv, mut deff, mut g2, mut bok, mut bmin) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            let lrs = parse_schedule(name)?
                .learning_rates(p.steps, p.eta_ref / (p.steps as f64).sqrt(), 0)
                .map_err(|e| LabError::LegacyRun(e.to_string()))?;
            for (k, j) in js.iter().enumerate() {
                let r = record(results, j)?;
                if r.diverged {
                    continue;
                }
                let rs: Vec<(usize, f64)> =
                    r.convexity.iter().map(|c| (c.step, (-c.lambda_min).max(0.0) / c.lambda_max)).collect();
                let post: Vec<f64> = rs.iter().filter(|(s, _)| *s >= burn).map(|x| x.1).collect();
                max_r.push(post.iter().copied().fold(f64::NAN, f64::max));
                let mut sorted = post.clone();
                sorted.sort_by(|a, b| a.total_cmp(b));
                med_r.push(sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN));
                all_min_r.push(post.iter().copied().fold(f64::NAN, f64::min));
                onset.push(rs.iter().find(|x| x.1 < 0.05).map_or(f64::INFINITY, |x| x.0 as f64 / p.steps as f64));
                // The last checkpoint is w_T itself (s = 0 exactly): excluded.
                let sp: Vec<f64> = r
                    .convexity
                    .iter()
                    .filter(|c| c.step >= burn && c.step < p.steps)
                    .map(|c| c.star_residual)
                    .collect();
                srate.push(sp.iter().filter(|s| **s > 0.0).count() as f64 / sp.len().max(1) as f64);
                pv.push(r.pair_violation_fraction);
                deff.push(r.d_eff);
                g2.push(r.grad_sq_mean);
                // Zero-parameter bound at each post-burn-in log point τ.
                let (mut ok, mut n, mut mn) = (0, 0, f64::INFINITY);
                for lp in r.log.iter().filter(|l| l.step >= burn.max(1)) {
                    if let Ok(b) = last_iterate_bound_terms_prefix(
                        &lrs,
                        GradientBound::Constant(r.grad_sq_mean.sqrt()),
                        r.d_eff,
                        lp.step,
                    ) {
                        let bound = b.last_iterate();
                        n += 1;
                        if lp.loss <= floor + bound {
                            ok += 1;
                        }
                        mn = mn.min(bound / (lp.loss - floor));
                    }
                }
                bok.push(ok as f64 / n.max(1) as f64);
                bmin.push(mn);
                if k == 0 {
                    plot_r.push(Series {
                        label: name.clone(),
                        points: rs.iter().map(|(s, v)| (*s as f64, *v)).collect(),
                        fit: None,
                        line: true,
                    });
                    plot_s.push(Series {
                        label: name.clone(),
                        points: r.convexity.iter().map(|c| (c.step as f64, c.star_residual)).collect(),
                        fit: None,
                        line: true,
                    });
                }
            }
            let on = mean(&onset);
            t.row(vec![
                name.clone(),
                fmt(mean(&max_r)),
                fmt(mean(&med_r)),
                fmt(on),
                fmt(mean(&srate)),
                fmt(mean(&pv)),
                fmt(mean(&deff)),
                fmt(mean(&g2)),
                fmt(mean(&bok)),
                fmt(mean(&bmin)),
            ]);
            all_max_r.extend(max_r);
            all_star_rate.extend(srate);
            all_onset.extend(onset);
            all_bound_ok.extend(bok);
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
        let dir = &ctx.out_dir;
        xy_plot(
            &dir.join("r_t.svg"),
            "CD3: r_t = max(0,−λ_min)/λ_max along the path (seed 1)",
            "step",
            "r_t",
            &plot_r,
            &[(0.05, "0.05".into())],
            false,
            false,
        )?;
        sum.plots.push("r_t.svg".into());
        xy_plot(
            &dir.join("star_residual.svg"),
            "CD3: star-convexity residual s_t towards w_T (≤ 0: star-convex)",
            "step",
            "s_t",
            &plot_s,
            &[(0.0, "0".into())],
            false,
            false,
        )?;
        sum.plots.push("star_residual.svg".into());
        sum.data = serde_json::json!({"max_r": max_r, "star_violation": star_rate, "onset_max": onset_max, "bound_ok": bound_ok, "verdict": verdict(confirm, refute)});
        Ok(sum)
    }
}
