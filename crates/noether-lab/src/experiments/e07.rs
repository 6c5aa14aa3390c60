//! E07 — optimizer dependence: "Adam gives α = 0.56 (drift nearly η-independent; conservation
//! destroyed)" (spec E01–E12 §2, E7).
//!
//! Two reference scripts, both reproduced:
//! * (a) `exp_adam_imbalance_v1.py` (`adam_imbalance`, the paper's 0.56): GM-200, 2-layer
//!   bias-free ReLU m = 64, CE, T = 2000, 3 seeds, η ∈ {1e−4, 3e−4, …, 0.1}; GD, Adam (PyTorch
//!   defaults, lr = η) and momentum 0.9 (lr = η). Per run |ΔC|, S = |Σδ|, S_update =
//!   |Σ_t (‖ΔW2‖² − ‖ΔW1‖²)| and the mean ratio ‖ΔW2‖²/‖ΔW1‖². Fit mask drift̄ > 1e−15 and finite.
//! * (b) `exp_universality_v1.py` optimizer sweep (`universality_optimizer`, 0.585): 5 seeds,
//!   the ten-η E5 grid; Adam runs at lr = 0.1·η but is fitted against the nominal η; momentum at
//!   lr = η. NaN-propagating seed means, mask 1e−10. Its GD runs are E05's runs.
//!
//! Reference protocol: the scripts' fits; claims `E07.alpha_adam` and `E07.alpha_sgd` from (a).
//! Robust protocol: the same seed means fitted on η ≤ `robust_max_lr` (0.03, below the point
//! where Adam's weights blow up and GD leaves the slope-1 regime), per-seed α with spread, and
//! the local slopes and piecewise fits below/above `split_lr` that show Adam's drift is not a
//! power law. With momentum or Adam the update is not the gradient, so drift ≠ η²S; the report
//! compares the drift with η²S and with S_update (for GD all three agree exactly in f64).

use noether_nn::Precision;
use noether_theory::fit::FitMask;
use noether_train::OptimizerKind;
use serde::Deserialize;

use super::common::{Sweep, abs_drift, gm200, identity_violation, imbalance_s, predicted_drift};
use super::drift_fits::{Fits, alpha_cell, finite, fit_where, r2_cell, ref_cell};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule};
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::{Job, Measure, NetSpec};
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;

pub struct E07;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Opt {
    Sgd,
    Adam,
    Momentum,
}

const OPTS: [Opt; 3] = [Opt::Sgd, Opt::Adam, Opt::Momentum];

impl Opt {
    fn name(self) -> &'static str {
        match self {
            Opt::Sgd => "SGD",
            Opt::Adam => "Adam",
            Opt::Momentum => "momentum 0.9",
        }
    }
    fn kind(self, momentum: f64) -> OptimizerKind {
        match self {
            Opt::Sgd => OptimizerKind::Gd,
            Opt::Adam => OptimizerKind::ADAM_DEFAULT,
            Opt::Momentum => OptimizerKind::Momentum { beta: momentum },
        }
    }
}

// The reference's numbers (spec E7 tables), typed in as reference data, in OPTS order.
const GRID_A: [f64; 7] = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1];
const GRID_B: [f64; 10] = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0];
const REF_A_DRIFT: [[f64; 7]; 3] = [
    [4.107e-5, 1.633e-4, 5.890e-4, 1.789e-3, 6.023e-3, 1.854e-2, 6.802e-2],
    [4.094, 5.981, 7.938, 10.01, 15.19, 47.15, 345.5],
    [0.01118, 0.03400, 0.1152, 0.3566, 1.228, 3.762, 13.04],
];
const REF_A_FIT: [(f64, f64); 3] = [(1.0554, 0.9990), (0.5618, 0.8310), (1.0225, 1.0000)];
/// (b): GD = E5's runs; Adam at lr = 0.1·η (nominal η); momentum.
const REF_B_DRIFT: [[f64; 10]; 3] = [
    [4.407e-5, 1.745e-4, 6.291e-4, 1.915e-3, 6.440e-3, 1.983e-2, 7.290e-2, 0.3303, 0.8942, 3.656],
    [0.395, 1.896, 4.098, 5.906, 7.711, 9.722, 15.35, 48.09, 101.9, 350.9],
    [0.01197, 0.03635, 0.1232, 0.3817, 1.318, 4.041, 14.01, 46.69, 93.39, 354.7],
];
const REF_B_FIT: [(f64, f64); 3] = [(1.1628, 0.9907), (0.5850, 0.9173), (1.0761, 0.9959)];

fn ref_drift(grid: &[f64], values: &[f64], eta: f64) -> String {
    let v: Vec<Option<f64>> = values.iter().map(|x| Some(*x)).collect();
    ref_cell(grid, &v, eta)
}

/// Range (min, max) of the finite ratios a[i]/b[i].
fn ratio_range(a: &[f64], b: &[f64]) -> (f64, f64) {
    a.iter()
        .zip(b)
        .map(|(x, y)| x / y)
        .filter(|r| r.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), r| (l.min(r), h.max(r)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    width: usize,
    steps: usize,
    momentum: f64,
    /// (a) exp_adam_imbalance_v1.py.
    seeds_a: Vec<u64>,
    lrs_a: Vec<f64>,
    /// (b) the optimizer sweep of exp_universality_v1.py.
    seeds_b: Vec<u64>,
    lrs_b: Vec<f64>,
    /// (b) runs Adam at this multiple of the nominal η (0.1 in the reference).
    adam_lr_scale_b: f64,
    /// Upper end of the robust window.
    robust_max_lr: f64,
    /// Piecewise fits below and above this η (Adam's flat and steep regimes).
    split_lr: f64,
}

struct Plan {
    p: Params,
    /// One sweep per optimiser, in OPTS order.
    a: Vec<Sweep>,
    b: Vec<Sweep>,
}

fn plan_of(ctx: &Context<'_>) -> Result<Plan, LabError> {
    let p: Params = ctx.params()?;
    let precision = ctx.precision;
    let problem = |seed| gm200(seed, precision, NetSpec::two_layer(p.width, 1.0), 1.0);
    let with_updates = Measure { update_norms: true, ..Measure::default() };
    let a = OPTS
        .iter()
        .map(|o| Sweep::new(&p.lrs_a, &p.seeds_a, p.steps, o.kind(p.momentum), &with_updates, problem))
        .collect();
    let scale = p.adam_lr_scale_b;
    let b = OPTS
        .iter()
        .map(|&o| {
            Sweep::with_lr_map(
                &p.lrs_b,
                &p.seeds_b,
                p.steps,
                o.kind(p.momentum),
                &Measure::default(),
                problem,
                move |lr| {
                    if o == Opt::Adam { scale * lr } else { lr }
                },
            )
        })
        .collect();
    Ok(Plan { p, a, b })
}

impl Experiment for E07 {
    fn id(&self) -> &'static str {
        "E07"
    }
    fn title(&self) -> &'static str {
        "Optimizer dependence of the drift (GD, Adam, momentum)"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        let plan = plan_of(ctx)?;
        Ok(plan.a.iter().chain(&plan.b).flat_map(Sweep::all_jobs).collect())
    }

    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let Plan { p, a, b } = plan_of(ctx)?;
        let (w, split) = (p.robust_max_lr, p.split_lr);
        let is_f64 = ctx.precision == Precision::F64;
        let mask_a = FitMask::GT_1E15_FINITE;
        let mut sum = Summary::default();

        // (a) adam_imbalance.
        let drift_a: Vec<Vec<Vec<f64>>> =
            a.iter().map(|s| s.matrix(results, |r| finite(abs_drift(r)))).collect::<Result<_, _>>()?;
        let fits_a: Vec<Fits> = drift_a.iter().map(|d| Fits::new(&p.lrs_a, d, mask_a, w)).collect();
        let mean_of = |s: &crate::results::Results, sw: &Sweep, f: &dyn Fn(&crate::results::TrainResult) -> f64| {
            sw.matrix(s, |r| finite(f(r))).map(|m| Curve::from_seeds(&p.lrs_a, &m, SeedRule::NanPropagating))
        };
        let mut t_drift = Table::new(
            "(a) adam_imbalance: seed-mean drift |ΔC| per η (reference values typed in from the spec)",
            &["η", "SGD", "reference", "Adam (lr = η)", "reference", "momentum", "reference"],
        );
        for (k, &eta) in p.lrs_a.iter().enumerate() {
            let mut row = vec![fmt(eta)];
            for (o, f) in fits_a.iter().enumerate() {
                row.push(fmt(f.curve.mean[k]));
                row.push(ref_drift(&GRID_A, &REF_A_DRIFT[o], eta));
            }
            t_drift.row(row);
        }
        let below = format!("α η ≤ {split}");
        let above = format!("α η ≥ {split}");
        let win = format!("α η ≤ {w}");
        let mut t_fit = Table::new(
            "(a) adam_imbalance: fits (reference protocol: all η, mask 1e−15 and finite)",
            &[
                "optimiser",
                "α",
                "R²",
                "reference α (R²)",
                win.as_str(),
                "per-seed α (η ≤ w)",
                below.as_str(),
                above.as_str(),
                "local slopes",
            ],
        );
        let mut t_id = Table::new(
            "(a) drift vs η²S and vs S_update (seed means): the GD identity and its failure for momentum/Adam",
            &["optimiser", "η", "drift̄", "η²S̄", "S̄_update", "drift̄/η²S̄", "drift̄/S̄_update", "mean ‖ΔW2‖²/‖ΔW1‖²"],
        );
        let mut identity = Vec::new();
        let mut identity_updates = Vec::new();
        for (o, opt) in OPTS.iter().enumerate() {
            let f = &fits_a[o];
            t_fit.row(vec![
                opt.name().into(),
                alpha_cell(&f.full),
                r2_cell(&f.full),
                format!("{} ({})", fmt(REF_A_FIT[o].0), fmt(REF_A_FIT[o].1)),
                alpha_cell(&f.window),
                f.per_seed_cell(),
                alpha_cell(&fit_where(&p.lrs_a, &drift_a[o], mask_a, |e| e <= split * (1.0 + 1e-12))),
                alpha_cell(&fit_where(&p.lrs_a, &drift_a[o], mask_a, |e| e >= split * (1.0 - 1e-12))),
                f.slopes_cell(),
            ]);
            let pred = a[o].matrix(results, |r| finite(predicted_drift(r)))?;
            let eta2s = Curve::from_seeds(&p.lrs_a, &pred, SeedRule::NanPropagating);
            let s_upd = mean_of(results, &a[o], &|r| r.update.as_ref().map_or(f64::NAN, |u| u.s_update))?;
            let ratio = mean_of(results, &a[o], &|r| r.update.as_ref().map_or(f64::NAN, |u| u.mean_ratio))?;
            let d = &f.curve.mean;
            for (k, &eta) in p.lrs_a.iter().enumerate() {
                t_id.row(vec![
                    opt.name().into(),
                    fmt(eta),
                    fmt(d[k]),
                    fmt(eta2s.mean[k]),
                    fmt(s_upd.mean[k]),
                    fmt(d[k] / eta2s.mean[k]),
                    fmt(d[k] / s_upd.mean[k]),
                    fmt(ratio.mean[k]),
                ]);
            }
            let (lo, hi) = ratio_range(d, &eta2s.mean);
            identity.push((opt.name(), identity_violation(&drift_a[o], &pred), lo, hi));
            identity_updates.push(ratio_range(d, &s_upd.mean));
        }

        // (b) universality_optimizer.
        let drift_b: Vec<Vec<Vec<f64>>> =
            b.iter().map(|s| s.matrix(results, |r| finite(abs_drift(r)))).collect::<Result<_, _>>()?;
        let fits_b: Vec<Fits> = drift_b.iter().map(|d| Fits::new(&p.lrs_b, d, FitMask::GT_1E10, w)).collect();
        let mut t_b = Table::new(
            "(b) universality optimizer sweep: seed-mean drift per nominal η (Adam at lr = 0.1·η)",
            &["η (nominal)", "SGD", "reference", "Adam", "reference", "momentum", "reference"],
        );
        for (k, &eta) in p.lrs_b.iter().enumerate() {
            let mut row = vec![fmt(eta)];
            for (o, f) in fits_b.iter().enumerate() {
                row.push(fmt(f.curve.mean[k]));
                row.push(ref_drift(&GRID_B, &REF_B_DRIFT[o], eta));
            }
            t_b.row(row);
        }
        let mut t_bfit = Table::new(
            "(b) universality optimizer sweep: fits (NaN-propagating, mask 1e−10)",
            &[
                "optimiser",
                "α",
                "R²",
                "η dropped",
                "reference α (R²)",
                win.as_str(),
                "per-seed α (η ≤ w)",
                "local slopes",
            ],
        );
        for (o, opt) in OPTS.iter().enumerate() {
            let f = &fits_b[o];
            t_bfit.row(vec![
                opt.name().into(),
                alpha_cell(&f.full),
                r2_cell(&f.full),
                f.dropped(&drift_b[o]).to_string(),
                format!("{} ({})", fmt(REF_B_FIT[o].0), fmt(REF_B_FIT[o].1)),
                alpha_cell(&f.window),
                f.per_seed_cell(),
                f.slopes_cell(),
            ]);
        }
        sum.tables.extend([t_drift, t_fit, t_id, t_b, t_bfit]);

        // Claims (from (a), the paper's 0.56).
        for (o, claim) in [(1, "E07.alpha_adam"), (0, "E07.alpha_sgd")] {
            let f = &fits_a[o];
            if let Some(fit) = &f.full {
                let how = format!(
                    "(a) adam_imbalance {}: OLS over {} η, {} seeds, mask 1e−15 & finite (R² {})",
                    OPTS[o].name(),
                    fit.n_points,
                    p.seeds_a.len(),
                    fmt(fit.r2)
                );
                sum.measure(claim, Protocol::Reference, fit.alpha, how);
            }
            if let Some(fit) = &f.window {
                let how =
                    format!("(a) η ≤ {w} ({} η, R² {}); per-seed α {}", fit.n_points, fmt(fit.r2), f.per_seed_cell());
                sum.measure(claim, Protocol::Robust, fit.alpha, how);
            }
        }

        // Notes.
        let adam = &fits_a[1];
        sum.notes.push(format!(
            "Adam's drift is not a power law: local slopes {} over η = {:?}; fits below/above η = {split}: {} / {} \
             (reference: slopes 0.2–0.35 up to 3e−3, then 1.0 → 1.8; R² 0.83). A single α is a window-dependent average of the two regimes.",
            adam.slopes_cell(),
            p.lrs_a,
            alpha_cell(&fit_where(&p.lrs_a, &drift_a[1], mask_a, |e| e <= split * (1.0 + 1e-12))),
            alpha_cell(&fit_where(&p.lrs_a, &drift_a[1], mask_a, |e| e >= split * (1.0 - 1e-12))),
        ));
        sum.notes.push(format!(
            "Identity drift = η²S ({}): {}. For momentum and Adam the update is not −η·g, the O(η) terms 2⟨W,ΔW⟩ no longer cancel \
             between layers, and drift ≠ η²S — expected, and the reason their \"α\" is only a slope, not the exponent of η²S.",
            if is_f64 { "f64" } else { "f32" },
            identity
                .iter()
                .map(|(n, v, lo, hi)| format!("{n}: max rel. deviation {}, drift̄/η²S̄ ∈ [{}, {}]", fmt(*v), fmt(*lo), fmt(*hi)))
                .collect::<Vec<_>>()
                .join("; ")
        ));
        let mom = &identity_updates;
        sum.notes.push(format!(
            "Momentum {}: drift̄/S̄_update ∈ [{}, {}] at every η, i.e. (1 + β)/(1 − β) = {} — the cross terms 2⟨W_l, ΔW_l⟩ do not \
             cancel but add a fixed multiple of the update imbalance. Adam: drift̄/S̄_update falls from {} to {} with η (no fixed relation).",
            p.momentum,
            fmt(mom[2].0),
            fmt(mom[2].1),
            fmt((1.0 + p.momentum) / (1.0 - p.momentum)),
            fmt(mom[1].1),
            fmt(mom[1].0),
        ));
        // (b) Adam at nominal η runs at lr = scale·η: the same run as (a) Adam at that lr.
        let mut pairs = Vec::new();
        for (kb, &eb) in p.lrs_b.iter().enumerate() {
            let Some(ka) = p.lrs_a.iter().position(|&ea| (ea / (p.adam_lr_scale_b * eb) - 1.0).abs() < 1e-9) else {
                continue;
            };
            for (sb, seed) in p.seeds_b.iter().enumerate() {
                if let Some(sa) = p.seeds_a.iter().position(|s| s == seed) {
                    let (x, y) = (drift_b[1][kb][sb], drift_a[1][ka][sa]);
                    pairs.push((x - y).abs() / y.abs());
                }
            }
        }
        if !pairs.is_empty() {
            sum.notes.push(format!(
                "Consistency: (b) Adam at nominal η equals (a) Adam at lr = {}·η for the shared seeds ({} run pairs, largest relative difference {}).",
                p.adam_lr_scale_b,
                pairs.len(),
                fmt(pairs.iter().copied().fold(0.0, f64::max))
            ));
        }
        sum.notes.push(
            "The paper's 0.56 is (a) (3 seeds, Adam lr = η); the session-3 value 0.585 is (b) (5 seeds, Adam lr = 0.1·η, fitted against the \
             nominal η, ten η up to 1). The paper gives no SGD exponent for E7; (a)'s SGD fit (1.0554) is below E05's 1.16 because (a)'s grid stops at η = 0.1."
                .into(),
        );

        // Plots.
        let pname = ctx.precision.name();
        let mut series_a: Vec<Series> = OPTS.iter().zip(&fits_a).map(|(o, f)| f.series(o.name())).collect();
        for o in [1, 2] {
            let pred = Curve::from_seeds(
                &p.lrs_a,
                &a[o].matrix(results, |r| finite(predicted_drift(r)))?,
                SeedRule::NanPropagating,
            );
            series_a.push(Series {
                label: format!("η²S ({})", OPTS[o].name()),
                points: pred.etas.iter().copied().zip(pred.mean.iter().copied()).collect(),
                fit: None,
                line: true,
            });
        }
        let plot_a = "drift_vs_lr_adam_imbalance.svg";
        xy_plot(
            &ctx.out_dir.join(plot_a),
            &format!("E07 (a) drift vs η per optimiser ({pname})"),
            "learning rate η",
            "|C(T) − C(0)|",
            &series_a,
            &[],
            true,
            true,
        )?;
        let plot_b = "drift_vs_lr_universality_optimizer.svg";
        let series_b: Vec<Series> = OPTS.iter().zip(&fits_b).map(|(o, f)| f.series(o.name())).collect();
        xy_plot(
            &ctx.out_dir.join(plot_b),
            &format!("E07 (b) drift vs nominal η (Adam at 0.1·η) ({pname})"),
            "nominal learning rate η",
            "|C(T) − C(0)|",
            &series_b,
            &[],
            true,
            true,
        )?;
        sum.plots.extend([plot_a.to_string(), plot_b.to_string()]);

        let imb: Vec<Curve> = a
            .iter()
            .map(|s| {
                s.matrix(results, |r| finite(imbalance_s(r)))
                    .map(|m| Curve::from_seeds(&p.lrs_a, &m, SeedRule::NanPropagating))
            })
            .collect::<Result<_, _>>()?;
        sum.data = serde_json::json!({
            "optimisers": OPTS.iter().map(|o| o.name()).collect::<Vec<_>>(),
            "a": fits_a, "a_s": imb, "b": fits_b,
            "identity": identity.iter().map(|(n, v, lo, hi)| serde_json::json!({"optimiser": n, "max_rel_violation": v, "drift_over_eta2s": [lo, hi]})).collect::<Vec<_>>(),
        });
        Ok(sum)
    }
}
