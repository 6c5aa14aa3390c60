//! E18 — CE Hessian compression vs training-set size (spec E13–E23 §2-E18, §1.9–1.12, §5.4,
//! §5.11; reference script `exp_ce_hessian_evolution_v1.py`). The paper claims λ_max of the CE
//! Hessian compresses 24× during training, independently of n (Thm 6).
//!
//! ReLU m = 64, CE, n ∈ {100, 200, 400} (same init and class centres per seed), 3 seeds. Per
//! (n, seed): one GD run at η = 0.01 with the full Hessian, c_k and softmax statistics at
//! t ∈ {0, 50, …, 1000}; S_pred(η) on the eval grid 1e−4…0.1 (no 0.3) with T = 2000; measured S
//! from fresh 2000-step runs (n = 200: the E08/E16 runs).
//!
//! Reference protocol: compression = λ̄_max(0)/λ̄_max(last checkpoint) (seed means), the
//! reference's exponential fit of λ̄_max(t) (y_min = 0.9·min, OLS of ln(λ − y_min) on t) and
//! the ratio of its rates b(400)/b(100). Robust protocol: a power law λ̄_max ∝ t^−p fitted on
//! t ≥ `power_t_min` (the decay is ≈ 1/t, §5.4) and the ratio p(400)/p(100).

use noether_theory::fit::{ExpDecayFit, FitMask, PowerLawFit, exp_decay_fit, power_law_fit};
use noether_train::OptimizerKind;
use serde::Deserialize;

use super::common::{Sweep, imbalance_s};
use super::crossover_common::{fmt_r, slash};
use super::hessian_time::{CheckpointPrediction, TimePlan, hessian_of, lambda_max, predict, relu_problem, seed_mean};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule};
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::{Job, Measure};
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::CheckpointResult;
use crate::results::Results;

pub struct E18;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    ns: Vec<usize>,
    seeds: Vec<u64>,
    lrs: Vec<f64>,
    /// Steps of the measured runs, also the predictor's T.
    steps: usize,
    width: usize,
    train_lr: f64,
    checkpoints: Vec<usize>,
    /// Robust power-law fit of λ̄_max(t) on t ≥ this.
    power_t_min: usize,
}

/// Reference seed means (spec E18 table): t, λ̄_max for n = 100/200/400.
const REF_T: [usize; 11] = [0, 50, 100, 150, 200, 250, 300, 400, 500, 750, 1000];
const REF_LMAX: [[f64; 11]; 3] = [
    [7.180, 4.918, 2.989, 2.074, 1.571, 1.260, 1.047, 0.782, 0.622, 0.410, 0.305],
    [7.243, 4.962, 3.020, 2.098, 1.599, 1.289, 1.080, 0.814, 0.653, 0.436, 0.327],
    [7.197, 4.873, 2.926, 2.032, 1.554, 1.257, 1.056, 0.799, 0.643, 0.434, 0.328],
];
const REF_R: [[f64; 11]; 3] = [
    [1.0, 0.9994, 0.9976, 0.9944, 0.9908, 0.9872, 0.9836, 0.9768, 0.9706, 0.9574, 0.9463],
    [1.0, 0.9994, 0.9977, 0.9945, 0.9909, 0.9873, 0.9837, 0.9769, 0.9708, 0.9575, 0.9465],
    [1.0, 0.9995, 0.9976, 0.9944, 0.9908, 0.9871, 0.9835, 0.9767, 0.9705, 0.9572, 0.9461],
];
const REF_NS: [usize; 3] = [100, 200, 400];

struct Planned {
    p: Params,
    time: Vec<TimePlan>,
    sweeps: Vec<Sweep>,
}

fn planned(ctx: &Context<'_>) -> Result<Planned, LabError> {
    let p: Params = ctx.params()?;
    if p.checkpoints.first() != Some(&0) || p.checkpoints.len() < 3 {
        return Err(LabError::LegacyConfig("E18: checkpoints must start at 0 and have at least 3 entries".into()));
    }
    let (mut time, mut sweeps) = (Vec::new(), Vec::new());
    for &n in &p.ns {
        let problem = |seed| relu_problem(seed, ctx.precision, p.width, 1.0, n);
        time.push(TimePlan::new(&p.seeds, problem, p.train_lr, &p.checkpoints, &p.checkpoints, true)?);
        sweeps.push(Sweep::new(&p.lrs, &p.seeds, p.steps, OptimizerKind::Gd, &Measure::default(), problem));
    }
    Ok(Planned { p, time, sweeps })
}

struct PerN {
    n: usize,
    points: Vec<Vec<CheckpointResult>>,
    s_meas: Curve,
    preds: Vec<CheckpointPrediction>,
    lmax: Vec<f64>,
    exp_fit: Option<ExpDecayFit>,
    power_fit: Option<PowerLawFit>,
    compression: f64,
    t_star: usize,
}

fn analyse(p: &Params, time: &TimePlan, sweep: &Sweep, n: usize, results: &Results) -> Result<PerN, LabError> {
    let s_meas = Curve::from_seeds(&p.lrs, &sweep.matrix(results, imbalance_s)?, SeedRule::NanPropagating);
    let points = time.all_points(results)?;
    let mut preds = Vec::new();
    for &t in &p.checkpoints {
        let hs: Vec<_> = points.iter().filter_map(|pts| hessian_of(pts, t)).collect();
        let spectra: Vec<(&[f64], &[f64])> = if hs.len() == points.len() {
            hs.iter().map(|h| (h.eigenvalues.as_slice(), h.ck.as_deref().unwrap_or(&[]))).collect()
        } else {
            Vec::new()
        };
        preds.push(predict(t, &spectra, &p.lrs, p.steps, &s_meas.mean, f64::INFINITY)?);
    }
    let lmax: Vec<f64> = p.checkpoints.iter().map(|&t| seed_mean(&points, t, lambda_max)).collect();
    let ts: Vec<f64> = p.checkpoints.iter().map(|&t| t as f64).collect();
    let exp_fit = exp_decay_fit(&ts, &lmax).ok();
    let tw: Vec<f64> = ts.iter().map(|&t| if t >= p.power_t_min as f64 { t } else { f64::NAN }).collect();
    let yw: Vec<f64> = lmax.iter().zip(&tw).map(|(&y, t)| if t.is_finite() { y } else { f64::NAN }).collect();
    let power_fit = power_law_fit(&tw, &yw, FitMask::GT_1E15_FINITE).ok();
    let compression = lmax[0] / lmax[lmax.len() - 1];
    let t_star = preds
        .iter()
        .filter_map(|c| c.r_reference.map(|r| (c.t, r.0)))
        .fold((0usize, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
        .0;
    Ok(PerN { n, points, s_meas, preds, lmax, exp_fit, power_fit, compression, t_star })
}

impl Experiment for E18 {
    fn id(&self) -> &'static str {
        "E18"
    }
    fn title(&self) -> &'static str {
        "CE Hessian compression along training vs training-set size"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        let pl = planned(ctx)?;
        Ok(pl.time.iter().flat_map(|t| t.jobs()).chain(pl.sweeps.iter().flat_map(|s| s.all_jobs())).collect())
    }
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let Planned { p, time, sweeps } = planned(ctx)?;
        let per: Vec<PerN> =
            p.ns.iter()
                .zip(time.iter().zip(&sweeps))
                .map(|(&n, (t, s))| analyse(&p, t, s, n, results))
                .collect::<Result<_, _>>()?;
        let mut sum = Summary::default();
        let last = *p.checkpoints.last().expect("validated");
        let find = |n: usize| per.iter().find(|x| x.n == n);
        let (lo, hi) = (per.first().expect("ns"), per.last().expect("ns"));
        let n100 = find(100).unwrap_or(lo);
        sum.measure(
            "E18.compression_n100",
            Protocol::Reference,
            n100.compression,
            format!(
                "n = {}: λ̄_max(0)/λ̄_max({last}), seed means over {} seeds, GD η = {}",
                n100.n,
                p.seeds.len(),
                p.train_lr
            ),
        );
        let b = |x: &PerN| x.exp_fit.as_ref().map_or(f64::NAN, |f| f.b);
        let pw = |x: &PerN| x.power_fit.as_ref().map_or(f64::NAN, |f| -f.alpha);
        sum.measure(
            "E18.decay_rate_ratio_n400_n100",
            Protocol::Reference,
            b(hi) / b(lo),
            format!(
                "b(n = {})/b(n = {}) of the reference exponential fit a·e^(−bt) + 0.9·min over t = 0…{last}",
                hi.n, lo.n
            ),
        );
        sum.measure(
            "E18.decay_rate_ratio_n400_n100",
            Protocol::Robust,
            pw(hi) / pw(lo),
            format!(
                "p(n = {})/p(n = {}) of the power law λ̄_max ∝ t^−p fitted on t ≥ {} (the decay is ≈ 1/t)",
                hi.n, lo.n, p.power_t_min
            ),
        );
        // Per-checkpoint table.
        let mut header = vec!["t".to_string()];
        for x in &per {
            header.push(format!("R n={}", x.n));
            header.push(format!("λ̄_max n={}", x.n));
            header.push(format!("q̄ n={}", x.n));
        }
        header.push("[ref.] R (n=100/200/400)".into());
        header.push("[ref.] λ̄_max".into());
        let hdr: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
        let mut t = Table::new("Seed means per checkpoint (R: all eval η, reference rule)", &hdr);
        for (k, &tk) in p.checkpoints.iter().enumerate() {
            let mut row = vec![tk.to_string()];
            for x in &per {
                row.push(fmt_r(x.preds[k].r_reference));
                row.push(fmt(x.lmax[k]));
                row.push(fmt(seed_mean(&x.points, tk, |c| Some(c.q_mean))));
            }
            let ri = REF_T.iter().position(|&r| r == tk);
            row.push(ri.map_or("—".into(), |i| slash((0..3).map(|j| REF_R[j][i]))));
            row.push(ri.map_or("—".into(), |i| slash((0..3).map(|j| REF_LMAX[j][i]))));
            t.row(row);
        }
        sum.tables.push(t);
        // Fits side by side.
        let mut t = Table::new(
            "Decay of λ̄_max(t): the reference's exponential fit vs a power law ([ref.] exp fits: n=100 a 4.473 b 0.005043 c 0.2743 R² 0.837; n=200 4.459/0.004977/0.2947/0.831; n=400 4.321/0.004957/0.2950/0.817; compression 23.6/22.1/22.0; t* = 0)",
            &[
                "n",
                "compression λ̄(0)/λ̄(last)",
                "exp: a",
                "exp: b",
                "exp: c",
                "exp: R² (linear)",
                "power: p (λ ∝ t^−p)",
                "power: prefactor",
                "power: R² (log)",
                "t·λ̄_max at last",
                "t* (max R)",
            ],
        );
        for x in &per {
            let e = x.exp_fit.as_ref();
            let f = x.power_fit.as_ref();
            t.row(vec![
                x.n.to_string(),
                fmt(x.compression),
                e.map_or("—".into(), |e| fmt(e.a)),
                e.map_or("—".into(), |e| fmt(e.b)),
                e.map_or("—".into(), |e| fmt(e.c)),
                e.map_or("—".into(), |e| fmt(e.r2)),
                f.map_or("—".into(), |f| fmt(-f.alpha)),
                f.map_or("—".into(), |f| fmt(f.intercept.exp())),
                f.map_or("—".into(), |f| fmt(f.r2)),
                fmt(last as f64 * x.lmax[x.lmax.len() - 1]),
                x.t_star.to_string(),
            ]);
        }
        sum.tables.push(t);
        // Softmax statistics vs the Hessian (§5.11).
        let mut t = Table::new(
            &format!(
                "Softmax statistics, seed means (n = {}): q_i = p_i[y_i]; 'stored bound' is the reference's mean_i q_i(1 − q_i); Thm 6's proof uses max_k p_k(1 − p_k) for λ_max(diag p − ppᵀ), which is only a lower bound (§5.11); 2·max_k p_k(1 − p_k) is a valid upper bound",
                lo.n
            ),
            &[
                "t",
                "q̄",
                "min q",
                "accuracy",
                "stored bound mean q(1−q)",
                "max_i λ_max(S_i) exact",
                "max_i max_k p(1−p) (paper)",
                "max_i 2·max_k p(1−p) (corrected)",
                "λ̄_max(H)",
            ],
        );
        for (k, &tk) in p.checkpoints.iter().enumerate() {
            let m = |f: fn(&CheckpointResult) -> f64| fmt(seed_mean(&lo.points, tk, |c| Some(f(c))));
            t.row(vec![
                tk.to_string(),
                m(|c| c.q_mean),
                m(|c| c.q_min),
                m(|c| c.accuracy),
                m(|c| c.softmax_bound_mean),
                m(|c| c.softmax_lambda_max),
                m(|c| c.softmax_paper_claimed),
                m(|c| c.softmax_corrected_bound),
                fmt(lo.lmax[k]),
            ]);
        }
        sum.tables.push(t);
        let violations: usize = per
            .iter()
            .flat_map(|x| x.points.iter().flatten())
            .filter(|c| {
                c.softmax_lambda_max > c.softmax_corrected_bound * (1.0 + 1e-12)
                    || c.softmax_paper_claimed > c.softmax_lambda_max * (1.0 + 1e-12)
            })
            .count();
        let under: usize = per
            .iter()
            .flat_map(|x| x.points.iter().flatten())
            .filter(|c| c.softmax_lambda_max > c.softmax_paper_claimed * (1.0 + 1e-9))
            .count();
        let total: usize = per.iter().map(|x| x.points.iter().map(|v| v.len()).sum::<usize>()).sum();
        sum.notes.push(format!(
            "§5.4, power law vs exponential: λ̄_max ∝ t^−p on t ≥ {} gives p = {} (1/t ⇒ p = 1; [ref.] t·λ̄_max ≈ 322, 326, 327 at t = 250/500/1000) with log-space R² {}; the reference's exponential fit has linear-space R² {} ([ref.] 0.837/0.831/0.817) (n = {}). \
             The paper's '24× over 2000 steps' is the n = 100 ratio at t = {last} ([ref.] 23.6/22.1/22.0): here {}.",
            p.power_t_min,
            slash(per.iter().map(pw)),
            slash(per.iter().map(|x| x.power_fit.as_ref().map_or(f64::NAN, |f| f.r2))),
            slash(per.iter().map(|x| x.exp_fit.as_ref().map_or(f64::NAN, |f| f.r2))),
            per.iter().map(|x| x.n.to_string()).collect::<Vec<_>>().join("/"),
            slash(per.iter().map(|x| x.compression)),
        ));
        sum.notes.push(format!(
            "§5.11: over all {total} checkpoints the exact max_i λ_max(diag p_i − p_i p_iᵀ) exceeds the paper's max_i max_k p(1 − p) at {under}; \
             the corrected bound 2·max_k p(1 − p) (and the ordering paper ≤ exact) failed at {violations} (must be 0)."
        ));
        sum.notes.push(
            "n-independence is partly by construction (§2-E18 pitfall (c)): same init and class centres for every n at a seed, mean-reduced loss. \
             R = 1.000 at t = 0 here (unlike E16's 0.81) only because η = 0.3 is not an eval η."
                .into(),
        );
        // Plot: λ̄_max(t) on log axes with both fits.
        let pname = ctx.precision.name();
        let mut series = Vec::new();
        for x in &per {
            let pts: Vec<(f64, f64)> =
                p.checkpoints.iter().zip(&x.lmax).filter(|(t, _)| **t > 0).map(|(&t, &y)| (t as f64, y)).collect();
            let (t0, t1) = (pts.first().map_or(1.0, |q| q.0), last as f64);
            let grid: Vec<f64> = (0..=40).map(|k| t0 * (t1 / t0).powf(k as f64 / 40.0)).collect();
            series.push(Series { label: format!("n = {} λ̄_max", x.n), points: pts, fit: None, line: false });
            if let Some(f) = &x.power_fit {
                series.push(Series {
                    label: format!(
                        "n = {}: power law {}·t^−{} (t ≥ {})",
                        x.n,
                        fmt(f.intercept.exp()),
                        fmt(-f.alpha),
                        p.power_t_min
                    ),
                    points: grid.iter().map(|&t| (t, (f.intercept + f.alpha * t.ln()).exp())).collect(),
                    fit: None,
                    line: true,
                });
            }
            if let Some(e) = &x.exp_fit {
                series.push(Series {
                    label: format!("n = {}: exp fit {}·e^(−{}t) + {}", x.n, fmt(e.a), fmt(e.b), fmt(e.c)),
                    points: grid.iter().map(|&t| (t, e.a * (-e.b * t).exp() + e.c)).collect(),
                    fit: None,
                    line: true,
                });
            }
        }
        let file = "lambda_max_decay.svg";
        xy_plot(
            &ctx.out_dir.join(file),
            &format!("E18 CE λ̄_max(t) with power-law and exponential fits ({pname})"),
            "t (updates applied)",
            "λ̄_max",
            &series,
            &[],
            true,
            true,
        )?;
        sum.plots.push(file.into());
        let rs: Vec<Series> = per
            .iter()
            .map(|x| Series {
                label: format!("n = {}", x.n),
                points: x.preds.iter().map(|c| (c.t as f64, c.r_reference.map_or(f64::NAN, |r| r.0))).collect(),
                fit: None,
                line: true,
            })
            .collect();
        let file = "r_vs_checkpoint.svg";
        xy_plot(
            &ctx.out_dir.join(file),
            &format!("E18 prediction R vs checkpoint ({pname})"),
            "t",
            "R",
            &rs,
            &[],
            false,
            false,
        )?;
        sum.plots.push(file.into());
        sum.data = serde_json::json!({
            "per_n": per.iter().map(|x| serde_json::json!({
                "n": x.n, "lambda_max_mean": x.lmax, "compression": x.compression, "exp_fit": x.exp_fit, "power_fit": x.power_fit,
                "t_star": x.t_star, "s_meas": x.s_meas, "predictions": x.preds,
                "lambda_max_per_seed": x.points.iter().map(|pts| pts.iter().map(lambda_max).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "reference_ns": REF_NS,
        });
        Ok(sum)
    }
}
