//! CD2 — sequence-to-sequence prediction (Gen. 1) and a schedule-agnostic baseline (spec
//! convex-dominance.md §9 Exp. 2).
//!
//! Streaming teacher–student SGD (the CD1 task) at one horizon T for the schedules linear,
//! cosine, WSD (20 % cool-down), cyclic (4 triangles) and constant, 3 seeds, population loss
//! logged every `log_every` steps. Each schedule runs at its best η_ref (η_peak = η_ref/√T)
//! among a few points of CD1's η_ref grid: the candidate with the lowest seed-mean final loss
//! at this T (CD1's selection rule on its own grid, restricted to grid points so the logged
//! curve is exactly a run that was made; the plan cannot depend on CD1's results).
//!
//! Gen. 1 (eq. 3.1): L(τ) = L̃∞ + D̃²·f1(τ) + G̃²·f2(τ) with the features of the last-iterate
//! bound (2.4) of the schedule actually run (spec §2.8: linear in (L̃∞, D̃², G̃²), NNLS with
//! D̃², G̃² ≥ 0), fitted on the log points τ₀ ≤ τ ≤ T/2 and used to predict τ > T/2 (R² over
//! the second half). Baseline: L = E + A·τ^−a (free exponent on a grid, OLS inside) on the same
//! window, which ignores the learning rate. Extension: (L̃∞, D̃², G̃²) fitted on the whole
//! cosine run (τ ≥ τ₀) predict the WSD and cyclic runs with no refit. The burn-in τ₀ is
//! scanned; τ_fit is the earliest scanned τ₀ from which (for it and every later scanned τ₀)
//! the second-half R² is ≥ 0.95. The criteria are evaluated at the reference burn-in
//! τ₀ = `burn_in_fraction`·T (fixed before looking at the data; CD3 uses the same 10 %).
//!
//! Protocols: *reference* = the paper's procedure, one fit per run (per seed), statistics
//! averaged over seeds (seed pairs for the cross-schedule fit: every schedule of a seed sees
//! the same data stream); *robust* = the same fits on the seed-mean curve (SGD noise averaged
//! before fitting).

use noether_nn::Precision;
use noether_theory::fit::r_squared;
use noether_theory::schedule::{
    CooldownDrop, FreeExponentFit, LastIterateModelFit, Schedule, cooldown_drop, fit_free_exponent,
    fit_last_iterate_model, last_iterate_features,
};
use noether_train::streaming::StreamMeasure;
use serde::{Deserialize, Serialize};

use super::cd_common::{TaskParams, eta_ref_grid, mean, parse_schedule, record, stream_job, verdict};
use crate::LabError;
use crate::config::{Check, Checked, Invalid, at_least_one, positive};
use crate::experiment::{Context, Experiment, Protocol, Summary, Table, fmt};
use crate::job::Job;
use crate::plot::{Axis, Figure, Series};
use crate::results::Results;

/// The experiment.
pub struct CD2;

/// `configs/CD2.toml`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    seeds: Vec<u64>,
    task: TaskParams,
    steps: usize,
    schedules: Vec<String>,
    /// CD1's η_ref grid (centre, number of points; 2^{1/2} spacing) …
    eta_ref_centre: f64,
    n_eta: usize,
    /// … and the indices of the grid points every schedule is run at (best one is used).
    eta_candidates: Vec<usize>,
    /// Log the population loss every this many steps (must divide `steps`).
    log_every: usize,
    /// Reference burn-in τ₀ as a fraction of T.
    burn_in_fraction: f64,
    /// Burn-ins τ₀ (steps) scanned for τ_fit (each < T/2).
    tau0_scan: Vec<usize>,
    /// WSD drop: the loss level before the cool-down is the mean over this fraction of T
    /// before it (observed and predicted curves alike).
    drop_level_window_fraction: f64,
    /// The schedule whose fit predicts the others in the cross-schedule extension.
    cross_source: String,
    cross_targets: Vec<String>,
}

impl Check for Params {
    fn check(&self) -> Result<(), Invalid> {
        at_least_one("seeds", self.seeds.len())?;
        self.task.check()?;
        at_least_one("schedules", self.schedules.len())?;
        for s in &self.schedules {
            parse_schedule(s).map_err(|e| Invalid::new("schedules", e))?;
        }
        at_least_one("eta_candidates", self.eta_candidates.len())?;
        positive("eta_ref_centre", self.eta_ref_centre)?;
        if let Some(i) = self.eta_candidates.iter().find(|&&i| i >= self.n_eta) {
            return Err(Invalid::new(
                "eta_candidates",
                format!("index {i} is outside CD1's grid of n_eta = {} points", self.n_eta),
            ));
        }
        if self.log_every == 0 || self.steps % self.log_every != 0 || self.steps / self.log_every < 8 {
            return Err(Invalid::new(
                "log_every",
                format!("{} must divide steps = {} into ≥ 8 intervals", self.log_every, self.steps),
            ));
        }
        if !(0.0..0.5).contains(&self.burn_in_fraction) {
            return Err(Invalid::new("burn_in_fraction", "must lie in [0, 0.5): the burn-in is in the first half"));
        }
        if let Some(t) = self.tau0_scan.iter().find(|&&t| 2 * t >= self.steps) {
            return Err(Invalid::new("tau0_scan", format!("τ₀ = {t} is not in the first half of the run")));
        }
        if !(0.0..0.5).contains(&self.drop_level_window_fraction) {
            return Err(Invalid::new("drop_level_window_fraction", "must be in [0, 0.5)"));
        }
        for n in std::iter::once(&self.cross_source).chain(&self.cross_targets) {
            if !self.schedules.contains(n) {
                return Err(Invalid::new("cross_source", format!("schedule '{n}' is not among the schedules")));
            }
        }
        Ok(())
    }
}

/// The parameters the analysis and the report need.
#[derive(Clone, Debug, Serialize)]
pub struct Settings {
    seeds: Vec<u64>,
    steps: usize,
    noise_floor: f64,
    /// The η_ref candidates.
    etas: Vec<f64>,
    burn_in_fraction: f64,
    tau0_scan: Vec<usize>,
    drop_level_window_fraction: f64,
    cross_source: String,
    cross_targets: Vec<String>,
}

/// (name, schedule, jobs[candidate][seed]) per schedule.
pub struct Plan {
    precision: Precision,
    settings: Settings,
    runs: Vec<(String, Schedule, Vec<Vec<Job>>)>,
}

/// The η_ref choice of one schedule.
#[derive(Serialize)]
pub struct Selection {
    name: String,
    /// Seed-mean final loss per candidate.
    finals: Vec<f64>,
    /// The candidate with the lowest finite one (`None`: all diverged).
    chosen: Option<usize>,
}

/// The fits, when some schedule has a non-diverged run.
#[derive(Serialize)]
pub struct Fitted {
    curves: Vec<Curves>,
    /// The reference burn-in on the log grid.
    tau0: f64,
    reference: ProtocolAnalysis,
    robust: ProtocolAnalysis,
    /// Per schedule, per candidate: mean second-half R² of Gen. 1 / baseline (`None`: diverged).
    sensitivity: Vec<(String, Vec<Option<(f64, f64)>>)>,
    /// Gen. 1 on each schedule's seed-mean curve (the figures).
    mean_fits: Vec<Gen1>,
    /// The cross-schedule source's model fitted on its seed-mean curve.
    cross_model: Option<LastIterateModelFit>,
}

/// What CD2 reports.
#[derive(Serialize)]
pub struct Analysis {
    precision: Precision,
    settings: Settings,
    selection: Vec<Selection>,
    fitted: Option<Fitted>,
}

/// One schedule at its chosen η_ref: log steps (τ ≥ 1), Gen. 1 features, per-seed curves.
#[derive(Serialize)]
pub struct Curves {
    name: String,
    sched: Schedule,
    eta_ref: f64,
    steps: Vec<f64>,
    feats: Vec<(f64, f64)>,
    seeds: Vec<Vec<f64>>,
    mean: Vec<f64>,
}

impl Curves {
    /// The curves a protocol fits: every seed (reference) or the seed mean (robust).
    fn curves(&self, proto: Protocol) -> Vec<&[f64]> {
        match proto {
            Protocol::Reference => self.seeds.iter().map(|c| c.as_slice()).collect(),
            Protocol::Robust => vec![self.mean.as_slice()],
        }
    }
}

/// Gen. 1 fit on τ₀ ≤ τ ≤ split of one curve, the prediction of the whole curve, and the
/// baseline on the same window.
#[derive(Serialize)]
pub struct Gen1 {
    model: LastIterateModelFit,
    pred: Vec<f64>,
    r2_second: f64,
    base: FreeExponentFit,
    base_pred: Vec<f64>,
    base_r2_second: f64,
}

fn gen1(steps: &[f64], loss: &[f64], feats: &[(f64, f64)], tau0: f64, split: f64) -> Result<Gen1, LabError> {
    let fit_idx: Vec<usize> = (0..steps.len()).filter(|&i| steps[i] >= tau0 && steps[i] <= split).collect();
    let test_idx: Vec<usize> = (0..steps.len()).filter(|&i| steps[i] > split).collect();
    let pick = |v: &[f64], idx: &[usize]| -> Vec<f64> { idx.iter().map(|&i| v[i]).collect() };
    let f1: Vec<f64> = feats.iter().map(|f| f.0).collect();
    let f2: Vec<f64> = feats.iter().map(|f| f.1).collect();
    let model = fit_last_iterate_model(&pick(&f1, &fit_idx), &pick(&f2, &fit_idx), &pick(loss, &fit_idx))?;
    let pred: Vec<f64> = feats.iter().map(|f| model.predict(f.0, f.1)).collect();
    let base = fit_free_exponent(&pick(steps, &fit_idx), &pick(loss, &fit_idx))?;
    let base_pred: Vec<f64> = steps.iter().map(|t| base.predict(*t)).collect();
    let obs2 = pick(loss, &test_idx);
    let r2_second = r_squared(&obs2, &pick(&pred, &test_idx))?;
    let base_r2_second = r_squared(&obs2, &pick(&base_pred, &test_idx))?;
    Ok(Gen1 { model, pred, r2_second, base, base_pred, base_r2_second })
}

/// R² of `pred` against `obs` over the points with step ≥ lo (and ≤ hi).
fn r2_window(steps: &[f64], obs: &[f64], pred: &[f64], lo: f64, hi: f64) -> Result<f64, LabError> {
    let idx: Vec<usize> = (0..steps.len()).filter(|&i| steps[i] >= lo && steps[i] <= hi).collect();
    Ok(r_squared(&idx.iter().map(|&i| obs[i]).collect::<Vec<_>>(), &idx.iter().map(|&i| pred[i]).collect::<Vec<_>>())?)
}

/// Per-schedule results of one protocol at the reference τ₀ (statistics averaged over the
/// protocol's curves).
#[derive(Serialize)]
pub struct SchedStats {
    r2_second: f64,
    base_r2_second: f64,
    base_a: f64,
    l_inf: f64,
    d2: f64,
    g2: f64,
    r2_fit: f64,
    /// Second-half R² at each scanned τ₀.
    scan: Vec<f64>,
    tau_fit: f64,
}

#[derive(Serialize)]
pub struct ProtocolAnalysis {
    per: Vec<SchedStats>,
    /// (time error / T, size error) of the WSD drop, averaged over curves.
    wsd_drop: Option<(f64, f64)>,
    /// (observed, predicted) drop of every WSD curve.
    wsd_drops: Vec<(CooldownDrop, CooldownDrop)>,
    /// Cross-schedule R² per target (whole run τ ≥ τ₀, second half), averaged over curve pairs.
    cross: Vec<(String, f64, f64)>,
}

fn analyse_protocol(cs: &[Curves], p: &Settings, proto: Protocol, tau0: f64) -> Result<ProtocolAnalysis, LabError> {
    let t_total = p.steps as f64;
    let split = t_total / 2.0;
    let mut per = vec![];
    let mut wsd_drop = None;
    let mut wsd_drops = vec![];
    for c in cs {
        let fits =
            c.curves(proto).iter().map(|l| gen1(&c.steps, l, &c.feats, tau0, split)).collect::<Result<Vec<_>, _>>()?;
        let avg = |f: &dyn Fn(&Gen1) -> f64| mean(&fits.iter().map(f).collect::<Vec<_>>());
        let mut scan = vec![];
        for &t0 in &p.tau0_scan {
            let v = c
                .curves(proto)
                .iter()
                .map(|l| gen1(&c.steps, l, &c.feats, t0 as f64, split).map(|g| g.r2_second))
                .collect::<Result<Vec<_>, _>>()?;
            scan.push(mean(&v));
        }
        // Earliest scanned τ₀ from which every later scanned τ₀ also reaches R² ≥ 0.95.
        let mut order: Vec<usize> = (0..p.tau0_scan.len()).collect();
        order.sort_by_key(|&i| p.tau0_scan[i]);
        let mut tau_fit = f64::NAN;
        for &i in order.iter().rev() {
            if scan[i] >= 0.95 {
                tau_fit = p.tau0_scan[i] as f64;
            } else {
                break;
            }
        }
        if matches!(c.sched, Schedule::Wsd { .. }) {
            let Schedule::Wsd { stable_fraction } = c.sched else { unreachable!() };
            let start = stable_fraction * t_total;
            let mut errs = vec![];
            for (l, g) in c.curves(proto).iter().zip(&fits) {
                let w = p.drop_level_window_fraction * t_total;
                let obs = cooldown_drop(&c.steps, l, start, w)?;
                let pre = cooldown_drop(&c.steps, &g.pred, start, w)?;
                errs.push((
                    (pre.half_step - obs.half_step).abs() / t_total,
                    (pre.size - obs.size).abs() / obs.size.abs(),
                ));
                wsd_drops.push((obs, pre));
            }
            wsd_drop = Some((
                mean(&errs.iter().map(|e| e.0).collect::<Vec<_>>()),
                mean(&errs.iter().map(|e| e.1).collect::<Vec<_>>()),
            ));
        }
        per.push(SchedStats {
            r2_second: avg(&|g| g.r2_second),
            base_r2_second: avg(&|g| g.base_r2_second),
            base_a: avg(&|g| g.base.a),
            l_inf: avg(&|g| g.model.l_inf),
            d2: avg(&|g| g.model.d2),
            g2: avg(&|g| g.model.g2),
            r2_fit: avg(&|g| g.model.fit.r2),
            scan,
            tau_fit,
        });
    }
    // Cross-schedule: fit on the whole source run (τ ≥ τ₀), predict each target with its own
    // features, no refit.
    let mut cross = vec![];
    if let Some(src) = cs.iter().find(|c| c.name == p.cross_source) {
        let f1: Vec<f64> = src.feats.iter().map(|f| f.0).collect();
        let f2: Vec<f64> = src.feats.iter().map(|f| f.1).collect();
        let idx: Vec<usize> = (0..src.steps.len()).filter(|&i| src.steps[i] >= tau0).collect();
        let pick = |v: &[f64]| -> Vec<f64> { idx.iter().map(|&i| v[i]).collect() };
        let models = src
            .curves(proto)
            .iter()
            .map(|l| fit_last_iterate_model(&pick(&f1), &pick(&f2), &pick(l)))
            .collect::<Result<Vec<_>, _>>()?;
        for name in &p.cross_targets {
            let Some(tg) = cs.iter().find(|c| &c.name == name) else { continue };
            let (mut all, mut second) = (vec![], vec![]);
            for (m, l) in models.iter().zip(tg.curves(proto)) {
                let pred: Vec<f64> = tg.feats.iter().map(|f| m.predict(f.0, f.1)).collect();
                all.push(r2_window(&tg.steps, l, &pred, tau0, t_total)?);
                second.push(r2_window(&tg.steps, l, &pred, split + 0.5, t_total)?);
            }
            cross.push((name.clone(), mean(&all), mean(&second)));
        }
    }
    Ok(ProtocolAnalysis { per, wsd_drop, wsd_drops, cross })
}

/// Is the schedule one of the paper's Gen. 1 cases (linear, cosine, cyclic, WSD; Figs. 2–5)?
fn paper_schedule(s: &Schedule) -> bool {
    matches!(s, Schedule::Linear | Schedule::Cosine | Schedule::Wsd { .. } | Schedule::Cyclic { .. })
}

fn decaying(s: &Schedule) -> bool {
    matches!(s, Schedule::Linear | Schedule::Cosine | Schedule::Wsd { .. })
}

fn min_finite(v: impl IntoIterator<Item = f64>) -> f64 {
    v.into_iter().fold(f64::NAN, f64::min)
}

/// Criteria of spec §9 Exp. 2 for one protocol's analysis.
struct Criteria {
    n_r2_ok: usize,
    n_sched: usize,
    min_r2_paper: f64,
    min_r2_decaying: f64,
    drop_time: f64,
    drop_size: f64,
    beats: Vec<(String, f64, f64)>,
    cross_min: f64,
    coef_ratio: (f64, f64),
    confirm: [bool; 4],
    refute: [bool; 2],
}

fn criteria(cs: &[Curves], a: &ProtocolAnalysis) -> Criteria {
    let n_r2_ok = a.per.iter().filter(|s| s.r2_second >= 0.95).count();
    let min_r2_paper =
        min_finite(cs.iter().zip(&a.per).filter(|(c, _)| paper_schedule(&c.sched)).map(|(_, s)| s.r2_second));
    let min_r2_decaying =
        min_finite(cs.iter().zip(&a.per).filter(|(c, _)| decaying(&c.sched)).map(|(_, s)| s.r2_second));
    let (drop_time, drop_size) = a.wsd_drop.unwrap_or((f64::NAN, f64::NAN));
    let beats: Vec<(String, f64, f64)> = cs
        .iter()
        .zip(&a.per)
        .filter(|(c, _)| matches!(c.sched, Schedule::Wsd { .. } | Schedule::Cyclic { .. }))
        .map(|(c, s)| (c.name.clone(), s.r2_second, s.base_r2_second))
        .collect();
    let cross_min = min_finite(a.cross.iter().map(|c| c.1));
    let ratio = |v: Vec<f64>| -> f64 {
        let mx = v.iter().copied().fold(f64::NAN, f64::max);
        let mn = v.iter().copied().fold(f64::NAN, f64::min);
        if mn > 0.0 { mx / mn } else { f64::INFINITY }
    };
    let coef_ratio = (ratio(a.per.iter().map(|s| s.d2).collect()), ratio(a.per.iter().map(|s| s.g2).collect()));
    let confirm = [
        n_r2_ok >= 4.min(cs.len()),
        drop_time <= 0.05 && drop_size <= 0.2,
        !beats.is_empty() && beats.iter().all(|b| b.1 > b.2),
        cross_min >= 0.9,
    ];
    let refute = [min_r2_decaying < 0.8, coef_ratio.0 > 3.0 || coef_ratio.1 > 3.0];
    Criteria {
        n_r2_ok,
        n_sched: cs.len(),
        min_r2_paper,
        min_r2_decaying,
        drop_time,
        drop_size,
        beats,
        cross_min,
        coef_ratio,
        confirm,
        refute,
    }
}

impl Experiment for CD2 {
    type Params = Params;
    type Plan = Plan;
    type Analysis = Analysis;

    fn id(&self) -> &'static str {
        "CD2"
    }
    fn title(&self) -> &'static str {
        "Convex dominance: Gen. 1 sequence-to-sequence prediction of loss curves vs a schedule-agnostic baseline"
    }

    fn plan(&self, p: &Checked<Params>, ctx: &Context<'_>) -> Result<Plan, LabError> {
        let grid = eta_ref_grid(p.eta_ref_centre, p.n_eta);
        let etas: Vec<f64> = p.eta_candidates.iter().map(|&i| grid[i]).collect(); // indices checked
        let measure = StreamMeasure { log_points: p.steps / p.log_every, ..StreamMeasure::default() };
        let sqrt_t = (p.steps as f64).sqrt();
        let mut runs = vec![];
        for name in &p.schedules {
            let sched = parse_schedule(name).map_err(|e| ctx.invalid("schedules", e))?;
            let jobs = etas
                .iter()
                .map(|&e| {
                    p.seeds
                        .iter()
                        .map(|&s| {
                            stream_job(p.task.spec(s), ctx.precision, sched, e / sqrt_t, p.steps, measure.clone())
                        })
                        .collect()
                })
                .collect();
            runs.push((name.clone(), sched, jobs));
        }
        let settings = Settings {
            seeds: p.seeds.clone(),
            steps: p.steps,
            noise_floor: p.task.noise_floor(),
            etas,
            burn_in_fraction: p.burn_in_fraction,
            tau0_scan: p.tau0_scan.clone(),
            drop_level_window_fraction: p.drop_level_window_fraction,
            cross_source: p.cross_source.clone(),
            cross_targets: p.cross_targets.clone(),
        };
        Ok(Plan { precision: ctx.precision, settings, runs })
    }

    fn jobs(&self, plan: &Plan) -> Vec<Job> {
        plan.runs.iter().flat_map(|r| r.2.iter().flatten().cloned()).collect()
    }

    fn analyse(&self, plan: &Plan, results: &Results) -> Result<Analysis, LabError> {
        let p = &plan.settings;
        let t_total = p.steps as f64;
        let sqrt_t = t_total.sqrt();
        let mut selection = vec![];
        let mut cs: Vec<Curves> = vec![];
        for (name, sched, jobs) in &plan.runs {
            let finals: Vec<f64> = jobs
                .iter()
                .map(|js| {
                    js.iter()
                        .map(|j| Ok(record(results, j)?.final_loss))
                        .collect::<Result<Vec<f64>, LabError>>()
                        .map(|v| mean(&v))
                })
                .collect::<Result<_, _>>()?;
            let best =
                (0..finals.len()).filter(|&i| finals[i].is_finite()).min_by(|&a, &b| finals[a].total_cmp(&finals[b]));
            selection.push(Selection { name: name.clone(), finals, chosen: best });
            let Some(b) = best else { continue };
            let recs = jobs[b].iter().map(|j| record(results, j)).collect::<Result<Vec<_>, _>>()?;
            let steps: Vec<f64> = recs[0].log.iter().filter(|l| l.step >= 1).map(|l| l.step as f64).collect();
            let seeds: Vec<Vec<f64>> =
                recs.iter().map(|r| r.log.iter().filter(|l| l.step >= 1).map(|l| l.loss).collect()).collect();
            if seeds.iter().any(|s| s.len() != steps.len()) {
                return Err(LabError::analysis("CD2", format!("{name}: the seeds logged different steps")));
            }
            let mean_curve: Vec<f64> =
                (0..steps.len()).map(|i| mean(&seeds.iter().map(|s| s[i]).collect::<Vec<_>>())).collect();
            let lrs = sched.learning_rates(p.steps, p.etas[b] / sqrt_t, 0)?;
            let taus: Vec<usize> = steps.iter().map(|s| *s as usize).collect();
            let feats = last_iterate_features(&lrs, &taus)?;
            cs.push(Curves {
                name: name.clone(),
                sched: *sched,
                eta_ref: p.etas[b],
                steps,
                feats,
                seeds,
                mean: mean_curve,
            });
        }
        let fitted = if cs.is_empty() {
            None
        } else {
            // Reference burn-in on the log grid.
            let tau0 =
                cs[0].steps.iter().copied().find(|s| *s >= p.burn_in_fraction * t_total).unwrap_or(cs[0].steps[0]);
            let reference = analyse_protocol(&cs, p, Protocol::Reference, tau0)?;
            let robust = analyse_protocol(&cs, p, Protocol::Robust, tau0)?;
            // Sensitivity to the η_ref choice (the runs at the other candidates exist anyway).
            let mut sensitivity = vec![];
            for (name, sched, jobs) in &plan.runs {
                let lr0 = sched.learning_rates(p.steps, 1.0, 0)?;
                let mut row = vec![];
                for (k, js) in jobs.iter().enumerate() {
                    let recs = js.iter().map(|j| record(results, j)).collect::<Result<Vec<_>, _>>()?;
                    if recs.iter().any(|r| r.diverged) {
                        row.push(None);
                        continue;
                    }
                    let steps: Vec<f64> = recs[0].log.iter().filter(|l| l.step >= 1).map(|l| l.step as f64).collect();
                    let peak = p.etas[k] / sqrt_t;
                    let lrs: Vec<f64> = lr0.iter().map(|v| v * peak).collect();
                    let feats = last_iterate_features(&lrs, &steps.iter().map(|s| *s as usize).collect::<Vec<_>>())?;
                    let (mut rm, mut rb) = (vec![], vec![]);
                    for r in &recs {
                        let l: Vec<f64> = r.log.iter().filter(|l| l.step >= 1).map(|l| l.loss).collect();
                        let g = gen1(&steps, &l, &feats, tau0, t_total / 2.0)?;
                        rm.push(g.r2_second);
                        rb.push(g.base_r2_second);
                    }
                    row.push(Some((mean(&rm), mean(&rb))));
                }
                sensitivity.push((name.clone(), row));
            }
            let split = t_total / 2.0;
            let mean_fits =
                cs.iter().map(|c| gen1(&c.steps, &c.mean, &c.feats, tau0, split)).collect::<Result<Vec<_>, _>>()?;
            let cross_model = match cs.iter().find(|c| c.name == p.cross_source) {
                Some(src) => {
                    let f1: Vec<f64> = src.feats.iter().map(|f| f.0).collect();
                    let f2: Vec<f64> = src.feats.iter().map(|f| f.1).collect();
                    let idx: Vec<usize> = (0..src.steps.len()).filter(|&i| src.steps[i] >= tau0).collect();
                    let pick = |v: &[f64]| -> Vec<f64> { idx.iter().map(|&i| v[i]).collect() };
                    Some(fit_last_iterate_model(&pick(&f1), &pick(&f2), &pick(&src.mean))?)
                }
                None => None,
            };
            Some(Fitted { curves: cs, tau0, reference, robust, sensitivity, mean_fits, cross_model })
        };
        Ok(Analysis { precision: plan.precision, settings: p.clone(), selection, fitted })
    }

    fn render(&self, a: &Analysis) -> Summary {
        let p = &a.settings;
        let floor = p.noise_floor;
        let t_total = p.steps as f64;
        let mut sum = Summary::default();

        // η_ref per schedule: lowest seed-mean final loss among the candidates.
        let mut head = vec!["schedule".to_string()];
        head.extend(p.etas.iter().map(|e| format!("η_ref={}", fmt(*e))));
        head.push("chosen η_ref".into());
        let mut tsel = Table {
            title: format!(
                "Seed-mean final population loss at T = {} per η_ref candidate (CD1 grid points; NaN = a seed diverged)",
                p.steps
            ),
            header: head,
            rows: vec![],
        };
        for sel in &a.selection {
            let mut row = vec![sel.name.clone()];
            row.extend(sel.finals.iter().map(|v| fmt(*v)));
            let Some(b) = sel.chosen else {
                row.push("all diverged".into());
                tsel.row(row);
                sum.notes.push(format!(
                    "{}: every η_ref candidate diverged for some seed; schedule left out of the analysis.",
                    sel.name
                ));
                continue;
            };
            let edge = sel.finals.len() > 1 && (b == 0 || b + 1 == sel.finals.len());
            row.push(format!("{}{}", fmt(p.etas[b]), if edge { " (edge)" } else { "" }));
            tsel.row(row);
        }
        sum.tables.push(tsel);
        let Some(f) = &a.fitted else {
            sum.notes.push("No schedule has a non-diverged run: nothing to fit.".into());
            return sum;
        };
        let (cs, tau0, an_ref, an_rob) = (&f.curves, f.tau0, &f.reference, &f.robust);

        for (proto, an, label) in [
            (Protocol::Reference, an_ref, "per-seed fits, mean over seeds"),
            (Protocol::Robust, an_rob, "fit on the seed-mean curve"),
        ] {
            let mut t = Table::new(
                &format!(
                    "Gen. 1 (3.1) fitted on τ₀ = {} ≤ τ ≤ T/2, predicted τ > T/2 ({label}); baseline E + A·τ^−a on the same window",
                    fmt(tau0)
                ),
                &[
                    "schedule",
                    "η_ref",
                    "L̃∞",
                    "D̃²",
                    "G̃²",
                    "R² fit",
                    "R² 2nd half",
                    "baseline a",
                    "baseline R² 2nd half",
                    "τ_fit",
                ],
            );
            for (c, s) in cs.iter().zip(&an.per) {
                t.row(vec![
                    c.name.clone(),
                    fmt(c.eta_ref),
                    fmt(s.l_inf),
                    fmt(s.d2),
                    fmt(s.g2),
                    fmt(s.r2_fit),
                    fmt(s.r2_second),
                    fmt(s.base_a),
                    fmt(s.base_r2_second),
                    if s.tau_fit.is_finite() { fmt(s.tau_fit) } else { "never".into() },
                ]);
            }
            sum.tables.push(t);
            let mut head = vec!["schedule".to_string()];
            head.extend(p.tau0_scan.iter().map(|t0| format!("τ₀={t0}")));
            let mut ts = Table {
                title: format!(
                    "Burn-in scan: second-half R² of Gen. 1 per τ₀ ({label}); τ_fit = earliest τ₀ from which R² ≥ 0.95 for every later τ₀"
                ),
                header: head,
                rows: vec![],
            };
            for (c, s) in cs.iter().zip(&an.per) {
                let mut r = vec![c.name.clone()];
                r.extend(s.scan.iter().map(|v| fmt(*v)));
                ts.row(r);
            }
            sum.tables.push(ts);
            if !an.cross.is_empty() {
                let mut tx = Table::new(
                    &format!(
                        "Extension (not in the paper): (L̃∞, D̃², G̃²) fitted on the whole {} run (τ ≥ τ₀) predict other schedules, no refit ({label})",
                        p.cross_source
                    ),
                    &["target", "R² (τ ≥ τ₀)", "R² (second half)"],
                );
                for (n, a, b) in &an.cross {
                    tx.row(vec![n.clone(), fmt(*a), fmt(*b)]);
                }
                sum.tables.push(tx);
            }
            if !an.wsd_drops.is_empty() {
                let mut td = Table::new(
                    &format!(
                        "WSD cool-down drop, observed vs Gen. 1 predicted from the first half ({label}): level L before the cool-down (mean over the last {} % of T before it), drop = level − L(T), half-drop step",
                        100.0 * p.drop_level_window_fraction
                    ),
                    &[
                        "curve",
                        "last step before",
                        "level obs",
                        "level pred",
                        "drop obs",
                        "drop pred",
                        "half-drop step obs",
                        "half-drop step pred",
                    ],
                );
                for (i, (o, q)) in an.wsd_drops.iter().enumerate() {
                    let curve =
                        if an.wsd_drops.len() == 1 { "seed mean".to_string() } else { format!("seed {}", p.seeds[i]) };
                    td.row(vec![
                        curve,
                        fmt(o.start_step),
                        fmt(o.start_loss),
                        fmt(q.start_loss),
                        fmt(o.size),
                        fmt(q.size),
                        fmt(o.half_step),
                        fmt(q.half_step),
                    ]);
                }
                sum.tables.push(td);
            }
            let cr = criteria(cs, an);
            let paper_set: Vec<&str> =
                cs.iter().filter(|c| paper_schedule(&c.sched)).map(|c| c.name.as_str()).collect();
            sum.measure(
                "CD2.r2_second_half",
                proto,
                cr.min_r2_paper,
                format!(
                    "min over {} of the second-half R² of Gen. 1 fitted on τ ∈ [{}, T/2], T = {} ({label})",
                    paper_set.join(", "),
                    fmt(tau0),
                    p.steps
                ),
            );
            if an.wsd_drop.is_some() {
                sum.measure("CD2.wsd_drop_time_err", proto, cr.drop_time, format!("|half-drop step predicted − observed|/T after the WSD cool-down start, Gen. 1 fitted on the first half ({label})"));
                sum.measure("CD2.wsd_drop_size_err", proto, cr.drop_size, format!("|predicted − observed drop (level over the last {} % of T before the cool-down) − L(T)| / observed drop ({label})", 100.0 * p.drop_level_window_fraction));
            }
            if !an.cross.is_empty() {
                sum.measure(
                    "CD2.cross_schedule_r2",
                    proto,
                    cr.cross_min,
                    format!(
                        "min over {} of R² (τ ≥ τ₀) of the {} fit's prediction with no refit ({label})",
                        p.cross_targets.join(", "),
                        p.cross_source
                    ),
                );
            }
        }

        // Sensitivity to the η_ref choice (the runs at the other candidates exist anyway).
        let mut head = vec!["schedule".to_string()];
        head.extend(p.etas.iter().map(|e| format!("η_ref={}: model / baseline", fmt(*e))));
        let mut tsens = Table {
            title: format!(
                "Sensitivity (not a criterion): second-half R² of Gen. 1 / baseline at every η_ref candidate, τ₀ = {}, per-seed fits, mean over seeds",
                fmt(tau0)
            ),
            header: head,
            rows: vec![],
        };
        for (name, cells) in &f.sensitivity {
            let mut row = vec![name.clone()];
            row.extend(cells.iter().map(|c| c.map_or("diverged".into(), |(m, b)| format!("{} / {}", fmt(m), fmt(b)))));
            tsens.row(row);
        }
        sum.tables.push(tsens);

        // Criteria table (reference protocol decides; robust shown alongside).
        let cr = criteria(cs, an_ref);
        let cb = criteria(cs, an_rob);
        let beats_txt = |c: &Criteria| {
            c.beats.iter().map(|b| format!("{}: {} vs {}", b.0, fmt(b.1), fmt(b.2))).collect::<Vec<_>>().join("; ")
        };
        let mut tc = Table::new(
            "Spec §9 Exp. 2 criteria (reference protocol decides the verdict; robust = seed-mean curve)",
            &["criterion", "value", "met?", "robust value", "robust met?"],
        );
        let row = |tc: &mut Table, name: &str, v: String, m: bool, vr: String, mr: bool| {
            tc.row(vec![name.into(), v, m.to_string(), vr, mr.to_string()])
        };
        row(
            &mut tc,
            "confirm: second-half R² ≥ 0.95 for ≥ 4 of the 5 schedules",
            format!("{} of {}", cr.n_r2_ok, cr.n_sched),
            cr.confirm[0],
            format!("{} of {}", cb.n_r2_ok, cb.n_sched),
            cb.confirm[0],
        );
        row(
            &mut tc,
            "confirm: WSD drop within 5 % of T (half-drop time) and within 20 % in size",
            format!("time {}, size {}", fmt(cr.drop_time), fmt(cr.drop_size)),
            cr.confirm[1],
            format!("time {}, size {}", fmt(cb.drop_time), fmt(cb.drop_size)),
            cb.confirm[1],
        );
        row(
            &mut tc,
            "confirm: model beats the baseline on WSD and cyclic (second-half R², model vs baseline)",
            beats_txt(&cr),
            cr.confirm[2],
            beats_txt(&cb),
            cb.confirm[2],
        );
        row(
            &mut tc,
            "confirm: cross-schedule R² ≥ 0.9",
            fmt(cr.cross_min),
            cr.confirm[3],
            fmt(cb.cross_min),
            cb.confirm[3],
        );
        row(
            &mut tc,
            "refute: second-half R² < 0.8 on a decaying schedule (linear, cosine, WSD)",
            format!("min {}", fmt(cr.min_r2_decaying)),
            cr.refute[0],
            format!("min {}", fmt(cb.min_r2_decaying)),
            cb.refute[0],
        );
        row(
            &mut tc,
            "refute: fitted D̃² or G̃² differ by > 3× between schedules",
            format!("max/min D̃² {}, G̃² {}", fmt(cr.coef_ratio.0), fmt(cr.coef_ratio.1)),
            cr.refute[1],
            format!("max/min D̃² {}, G̃² {}", fmt(cb.coef_ratio.0), fmt(cb.coef_ratio.1)),
            cb.refute[1],
        );
        let v_ref = verdict(cr.confirm.iter().all(|c| *c), cr.refute.iter().any(|r| *r));
        let v_rob = verdict(cb.confirm.iter().all(|c| *c), cb.refute.iter().any(|r| *r));
        tc.row(vec!["VERDICT".into(), "".into(), v_ref.into(), "".into(), v_rob.into()]);
        sum.tables.push(tc);
        let tau_fits: Vec<String> = cs
            .iter()
            .zip(&an_ref.per)
            .map(|(c, s)| {
                format!(
                    "{}: {}",
                    c.name,
                    if s.tau_fit.is_finite() {
                        format!("{} ({} T)", fmt(s.tau_fit), fmt(s.tau_fit / t_total))
                    } else {
                        "never".into()
                    }
                )
            })
            .collect();
        sum.notes.push(format!("Exp. 2 verdict: {v_ref} (robust protocol: {v_rob})."));
        sum.notes.push(format!(
            "τ_fit (earliest scanned burn-in from which the second-half R² stays ≥ 0.95, per-seed fits): {}.",
            tau_fits.join(", ")
        ));
        sum.notes.push(format!(
            "η_ref per schedule = the CD1-grid candidate with the lowest seed-mean final loss at T = {} (CD1's rule, on grid points); noise floor σ²/2 = {}; L̃∞, D̃², G̃² are fitted numbers, not observables.",
            p.steps,
            fmt(floor)
        ));

        // Plots: per schedule, the seed-mean curve with the robust fit / prediction / baseline.
        let split = t_total / 2.0;
        for (c, g) in cs.iter().zip(&f.mean_fits) {
            let pts = |v: &[f64], keep: &dyn Fn(f64) -> bool| -> Vec<(f64, f64)> {
                c.steps.iter().zip(v).filter(|(s, _)| keep(**s)).map(|(s, l)| (*s, *l)).collect()
            };
            let series = vec![
                Series {
                    label: "observed (seed mean)".into(),
                    points: pts(&c.mean, &|s| s >= tau0),
                    fit: None,
                    line: true,
                },
                Series {
                    label: format!("Gen. 1 fit (τ₀..T/2), R² fit {}", fmt(g.model.fit.r2)),
                    points: pts(&g.pred, &|s| s >= tau0 && s <= split),
                    fit: None,
                    line: true,
                },
                Series {
                    label: format!("Gen. 1 prediction (> T/2), R² {}", fmt(g.r2_second)),
                    points: pts(&g.pred, &|s| s > split),
                    fit: None,
                    line: true,
                },
                Series {
                    label: format!("baseline E+A·τ^−{}, R² {}", fmt(g.base.a), fmt(g.base_r2_second)),
                    points: pts(&g.base_pred, &|s| s >= tau0),
                    fit: None,
                    line: true,
                },
            ];
            let file = format!("curve_{}.svg", c.name.replace(':', "_"));
            sum.figure(
                Figure::xy(
                    &file,
                    &format!("CD2: {} (η_ref = {}), fit on first half, predict second half", c.name, fmt(c.eta_ref)),
                    Axis::linear("step τ"),
                    Axis::linear("population loss"),
                    series.to_vec(),
                )
                .with_hlines(vec![(floor, "σ²/2".into())]),
            );
        }
        if let (Some(src), Some(m)) = (cs.iter().find(|c| c.name == p.cross_source), &f.cross_model) {
            let mut series = vec![];
            for tg in cs.iter().filter(|c| p.cross_targets.contains(&c.name)) {
                let keep: Vec<usize> = (0..tg.steps.len()).filter(|&i| tg.steps[i] >= tau0).collect();
                series.push(Series {
                    label: format!("{} observed", tg.name),
                    points: keep.iter().map(|&i| (tg.steps[i], tg.mean[i])).collect(),
                    fit: None,
                    line: true,
                });
                series.push(Series {
                    label: format!("{} predicted from {}", tg.name, src.name),
                    points: keep.iter().map(|&i| (tg.steps[i], m.predict(tg.feats[i].0, tg.feats[i].1))).collect(),
                    fit: None,
                    line: true,
                });
            }
            sum.figure(
                Figure::xy(
                    "cross_schedule.svg",
                    &format!("CD2: {} fit (no refit) predicts other schedules (seed means)", src.name),
                    Axis::linear("step τ"),
                    Axis::linear("population loss"),
                    series.to_vec(),
                )
                .with_hlines(vec![(floor, "σ²/2".into())]),
            );
        }

        sum.data = serde_json::json!({
            "steps": p.steps, "tau0": tau0, "tau0_scan": p.tau0_scan,
            "schedules": cs.iter().zip(an_ref.per.iter().zip(&an_rob.per)).map(|(c, (r, b))| serde_json::json!({
                "name": c.name, "eta_ref": c.eta_ref,
                "reference": {"r2_second": r.r2_second, "baseline_r2_second": r.base_r2_second, "l_inf": r.l_inf, "d2": r.d2, "g2": r.g2, "scan": r.scan, "tau_fit": r.tau_fit},
                "robust": {"r2_second": b.r2_second, "baseline_r2_second": b.base_r2_second, "l_inf": b.l_inf, "d2": b.d2, "g2": b.g2, "scan": b.scan, "tau_fit": b.tau_fit},
            })).collect::<Vec<_>>(),
            "wsd_drop": {"reference": an_ref.wsd_drop, "robust": an_rob.wsd_drop},
            "cross": {"reference": an_ref.cross, "robust": an_rob.cross},
            "verdict": v_ref, "verdict_robust": v_rob,
        });
        sum
    }
}
