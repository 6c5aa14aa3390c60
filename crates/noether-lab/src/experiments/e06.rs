//! E06 — depth dependence of the drift exponent: "α rises from 1.07 (2 layers) to 1.72
//! (8 layers)" (spec E01–E12 §2, E6).
//!
//! The two endpoints come from two reference scripts; both are reproduced:
//! * (a) `exp_universality_v1.py`, depth sweep (`universality_depth`, the 8L = 1.72): GM-200,
//!   bias-free ReLU MLPs of width 64 with L ∈ {2, 3, 4, 6, 8} weight matrices
//!   (hidden = [64; L − 1]), CE, GD, T = 2000, 5 seeds, the ten-η E5 grid 1e−4…1. Drift = mean
//!   over the L − 1 quantities of |C_l(T) − C_l(0)|. Seed mean NaN if any seed diverged (that η
//!   leaves the fit), mask drift̄ > 1e−10, ≥ 3 points.
//! * (b) `exp_depth_imbalance_v1.py` (`depth_imbalance`, the 2L = 1.07): the same models, η ∈
//!   {1e−4, 1e−3, 0.01, 0.1}, 3 seeds; drift as in (a), S = |Σ_t mean_l δ_l(t)|, grad_integral
//!   (trapezoid of Σ_l ‖g_l‖² over t = 0..T−1) and S/grad_integral; mask drift̄ > 1e−15.
//!   Its runs are (a)'s runs for seeds 42/137/256 (identical jobs, shared by the cache), and
//!   (a)'s L = 2 runs are E05's.
//!
//! Reference protocol: each script's own fit; `E06.alpha_L2` from (b), `E06.alpha_L8` from (a)
//! (the paper's headline mixes the two scripts).
//! Robust protocol: one script ((a), 5 seeds) and one window below the instability of the
//! deepest net, η ≤ `robust_max_lr` (0.03: at η = 0.1 the 8L drift already jumps ~400×), for
//! every depth; per-seed α with spread and α of η²S (the exact-GD drift, free of float32
//! rounding). In f32 the small-η drifts of L ≥ 6 are float32 noise (drift ≫ η²S), so the f64
//! robust α is the honest exponent.

use std::collections::HashSet;

use noether_nn::Precision;
use noether_theory::fit::{FitMask, PowerLawFit, local_loglog_slopes};
use noether_train::OptimizerKind;
use serde::{Deserialize, Serialize};

use super::common::{Sweep, gm200, identity_violation};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule, per_seed_alpha};
use crate::experiment::{Protocol, Summary, Table, fmt};
use crate::job::{Job, Measure, NetSpec};
use crate::legacy::{Context, Experiment};
use crate::plot::{Series, xy_plot};
use crate::results::Results;
use crate::results::TrainResult;

pub struct E06;

// ---------------------------------------------------------------------------------------------
// Helpers shared with E07 (drift-vs-η curves of several sweeps, reference columns, fits).

/// Any non-finite value counts as a diverged run (spec §1.9). So does a value beyond
/// `f32::MAX`: the float32 reference would have overflowed to inf/NaN there, while an f64 run
/// can carry a blown-up drift (e.g. 5e172) that would otherwise enter the fit.
pub(super) fn finite(v: f64) -> f64 {
    if v.is_finite() && v.abs() <= f64::from(f32::MAX) { v } else { f64::NAN }
}

/// Index of `eta` in a grid (relative tolerance 1e−9).
fn grid_index(grid: &[f64], eta: f64) -> Option<usize> {
    grid.iter().position(|g| (g / eta - 1.0).abs() < 1e-9)
}

/// A reference value typed in from the spec at `eta` ("—" when the spec lists none).
pub(super) fn ref_cell(grid: &[f64], values: &[Option<f64>], eta: f64) -> String {
    grid_index(grid, eta).and_then(|i| values[i]).map_or("—".into(), fmt)
}

/// The rows of an (η × seed) matrix whose η satisfies `keep`.
pub(super) fn select(etas: &[f64], values: &[Vec<f64>], keep: impl Fn(f64) -> bool) -> (Vec<f64>, Vec<Vec<f64>>) {
    etas.iter().zip(values).filter(|(e, _)| keep(**e)).map(|(e, v)| (*e, v.clone())).unzip()
}

/// α of the seed-mean curve over the η's satisfying `keep` (NaN-propagating seed means).
pub(super) fn fit_where(
    etas: &[f64],
    values: &[Vec<f64>],
    mask: FitMask,
    keep: impl Fn(f64) -> bool,
) -> Option<PowerLawFit> {
    let (e, v) = select(etas, values, keep);
    Curve::from_seeds(&e, &v, SeedRule::NanPropagating).alpha(mask)
}

/// A seed-mean drift curve with the reference fit (whole grid) and the robust fits
/// (η ≤ window: seed-mean fit and per-seed fits).
#[derive(Serialize)]
pub(super) struct Fits {
    pub curve: Curve,
    pub full: Option<PowerLawFit>,
    pub window: Option<PowerLawFit>,
    /// Per-seed α on the window: (mean, population std, seeds with a fit).
    pub per_seed: (f64, f64, usize),
    /// Local log-log slope from each η to the next.
    pub slopes: Vec<f64>,
    #[serde(skip)]
    mask: FitMask,
}

impl Fits {
    pub(super) fn new(etas: &[f64], values: &[Vec<f64>], mask: FitMask, window_max: f64) -> Fits {
        let curve = Curve::from_seeds(etas, values, SeedRule::NanPropagating);
        let in_window = |e: f64| e <= window_max * (1.0 + 1e-12);
        let (we, wv) = select(etas, values, in_window);
        Fits {
            full: curve.alpha(mask),
            window: fit_where(etas, values, mask, in_window),
            per_seed: per_seed_alpha(&we, &wv, mask),
            slopes: local_loglog_slopes(&curve.etas, &curve.mean).unwrap_or_default(),
            curve,
            mask,
        }
    }

    /// The η's the reference fit dropped, with the reason ("k NaN" seeds, or below the mask).
    pub(super) fn dropped(&self, values: &[Vec<f64>]) -> String {
        let d: Vec<String> = (0..self.curve.etas.len())
            .filter(|&i| !self.mask.keeps(self.curve.mean[i]))
            .map(|i| {
                let nan = values[i].iter().filter(|v| !v.is_finite()).count();
                if nan > 0 {
                    format!("{} ({nan} NaN)", fmt(self.curve.etas[i]))
                } else {
                    format!("{} (≤ {:e})", fmt(self.curve.etas[i]), self.mask.min_value)
                }
            })
            .collect();
        if d.is_empty() { "none".into() } else { d.join(", ") }
    }

    pub(super) fn per_seed_cell(&self) -> String {
        format!("{} ± {} ({} seeds)", fmt(self.per_seed.0), fmt(self.per_seed.1), self.per_seed.2)
    }

    pub(super) fn slopes_cell(&self) -> String {
        self.slopes.iter().map(|s| fmt(*s)).collect::<Vec<_>>().join(", ")
    }

    /// Plot series of the seed means with the reference fit drawn through them.
    pub(super) fn series(&self, label: &str) -> Series {
        Series {
            label: format!("{label}: α = {}", alpha_cell(&self.full)),
            points: self.curve.etas.iter().copied().zip(self.curve.mean.iter().copied()).collect(),
            fit: self.full.as_ref().map(|f| (f.alpha, f.intercept)),
            line: false,
        }
    }
}

pub(super) fn alpha_cell(f: &Option<PowerLawFit>) -> String {
    f.as_ref().map_or("—".into(), |f| fmt(f.alpha))
}

pub(super) fn r2_cell(f: &Option<PowerLawFit>) -> String {
    f.as_ref().map_or("—".into(), |f| format!("{} ({} η)", fmt(f.r2), f.n_points))
}

// ---------------------------------------------------------------------------------------------
// The reference's numbers (spec E6 tables), typed in as reference data.

/// The E5 grid of (a).
const GRID_A: [f64; 10] = [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0];
/// The grid of (b).
const GRID_B: [f64; 4] = [1e-4, 1e-3, 0.01, 0.1];
const NAN: Option<f64> = Some(f64::NAN);

struct DepthRef {
    depth: usize,
    /// (a): α, R², seed-mean drift on GRID_A (None = not listed in the spec).
    alpha_a: f64,
    r2_a: f64,
    drift_a: [Option<f64>; 10],
    /// (b): α, R², seed-mean drift and S on GRID_B, S/grad_integral as the spec gives it.
    alpha_b: f64,
    r2_b: f64,
    drift_b: [f64; 4],
    s_b: [f64; 4],
    ratio_b: &'static str,
}

const REFERENCE: [DepthRef; 5] = [
    DepthRef {
        depth: 2,
        alpha_a: 1.1628,
        r2_a: 0.9907,
        // Same runs as E5, whose table lists every η.
        drift_a: [
            Some(4.407e-5),
            Some(1.745e-4),
            Some(6.291e-4),
            Some(1.915e-3),
            Some(6.440e-3),
            Some(1.983e-2),
            Some(7.290e-2),
            Some(0.3303),
            Some(0.8942),
            Some(3.656),
        ],
        alpha_b: 1.0667,
        r2_b: 0.9992,
        drift_b: [4.11e-5, 5.89e-4, 6.02e-3, 0.0680],
        s_b: [3698.0, 588.0, 60.2, 6.80],
        ratio_b: "0.42 / 0.37 / 0.38 / 0.46",
    },
    DepthRef {
        depth: 3,
        alpha_a: 1.0982,
        r2_a: 0.9957,
        drift_a: [
            Some(7.97e-6),
            None,
            Some(2.13e-4),
            None,
            Some(2.13e-3),
            None,
            Some(0.0220),
            Some(0.0727),
            Some(0.142),
            NAN,
        ],
        alpha_b: 1.1211,
        r2_b: 0.9932,
        drift_b: [8.31e-6, 2.04e-4, 2.04e-3, 0.0211],
        s_b: [282.0, 142.0, 14.7, 1.52],
        ratio_b: "≈ 0.09–0.11",
    },
    DepthRef {
        depth: 4,
        alpha_a: 1.1346,
        r2_a: 0.9860,
        drift_a: [
            Some(7.35e-6),
            None,
            Some(7.50e-5),
            None,
            Some(9.27e-4),
            None,
            Some(9.34e-3),
            Some(0.0288),
            Some(0.194),
            NAN,
        ],
        alpha_b: 1.0268,
        r2_b: 0.9991,
        drift_b: [7.85e-6, 6.81e-5, 8.80e-4, 8.85e-3],
        s_b: [20.2, 39.8, 5.08, 0.52],
        ratio_b: "≈ 0.03–0.04",
    },
    DepthRef {
        depth: 6,
        alpha_a: 1.4411,
        r2_a: 0.8314,
        drift_a: [
            Some(2.42e-5),
            None,
            Some(7.19e-6),
            None,
            Some(5.05e-4),
            None,
            Some(5.08e-3),
            Some(0.201),
            Some(12.56),
            NAN,
        ],
        alpha_b: 0.8324,
        r2_b: 0.7563,
        drift_b: [3.12e-5, 8.11e-6, 4.76e-4, 4.78e-3],
        s_b: [0.16, 0.35, 2.67, 0.27],
        ratio_b: "0.007–0.017",
    },
    DepthRef {
        depth: 8,
        alpha_a: 1.7182,
        r2_a: 0.7127,
        drift_a: [
            Some(3.06e-5),
            Some(2.95e-5),
            Some(2.01e-5),
            Some(1.14e-5),
            Some(8.04e-5),
            Some(1.32e-3),
            Some(0.512),
            Some(69.9),
            NAN,
            NAN,
        ],
        alpha_b: 1.0562,
        r2_b: 0.6888,
        drift_b: [3.32e-5, 2.31e-5, 8.42e-5, 0.0715],
        s_b: [0.0011, 0.0012, 0.43, 2.28],
        ratio_b: "0.002–0.022",
    },
];

fn reference(depth: usize) -> Option<&'static DepthRef> {
    REFERENCE.iter().find(|r| r.depth == depth)
}

fn opt_cell(v: Option<f64>) -> String {
    v.map_or("—".into(), fmt)
}

// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Numbers of weight matrices L (hidden = [width; L − 1]).
    depths: Vec<usize>,
    width: usize,
    steps: usize,
    /// (a) the depth sweep of exp_universality_v1.py.
    seeds_a: Vec<u64>,
    lrs_a: Vec<f64>,
    /// (b) exp_depth_imbalance_v1.py.
    seeds_b: Vec<u64>,
    lrs_b: Vec<f64>,
    /// Upper end of the robust window (below the instability of the deepest net).
    robust_max_lr: f64,
}

struct Plan {
    p: Params,
    /// One sweep per depth, in `p.depths` order.
    a: Vec<Sweep>,
    b: Vec<Sweep>,
}

fn net(width: usize, depth: usize) -> NetSpec {
    NetSpec { hidden: vec![width; depth - 1], activation_eps: 1.0, bias: false }
}

fn plan_of(ctx: &Context<'_>) -> Result<Plan, LabError> {
    let p: Params = ctx.params()?;
    if let Some(l) = p.depths.iter().find(|&&l| l < 2) {
        return Err(LabError::LegacyConfig(format!(
            "{}: depth {l} < 2 (L counts weight matrices)",
            ctx.config.path.display()
        )));
    }
    let precision = ctx.precision;
    let sweep = |lrs: &[f64], seeds: &[u64], depth: usize| {
        Sweep::new(lrs, seeds, p.steps, OptimizerKind::Gd, &Measure::default(), |seed| {
            gm200(seed, precision, net(p.width, depth), 1.0)
        })
    };
    let a = p.depths.iter().map(|&l| sweep(&p.lrs_a, &p.seeds_a, l)).collect();
    let b = p.depths.iter().map(|&l| sweep(&p.lrs_b, &p.seeds_b, l)).collect();
    Ok(Plan { p, a, b })
}

/// Mean over l of |C_l(T) − C_l(0)|.
fn drift_mean_l(r: &TrainResult) -> f64 {
    r.drift.as_ref().map_or(f64::NAN, |d| finite(d.mean_abs_drift_over_layers))
}

/// Mean over l of η²|Σ_t δ_l(t)|: what the exact per-layer GD identity predicts for the drift.
fn eta2s_mean_l(r: &TrainResult) -> f64 {
    r.drift.as_ref().map_or(f64::NAN, |d| {
        finite(d.predicted_drift_eta2_s.iter().sum::<f64>() / d.predicted_drift_eta2_s.len() as f64)
    })
}

fn n_params(width: usize, depth: usize) -> usize {
    let (d, k) = (20, 5);
    d * width + width * width * (depth - 2) + width * k
}

impl Experiment for E06 {
    fn id(&self) -> &'static str {
        "E06"
    }
    fn title(&self) -> &'static str {
        "Depth dependence of the drift exponent"
    }
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError> {
        let plan = plan_of(ctx)?;
        Ok(plan.a.iter().chain(&plan.b).flat_map(Sweep::all_jobs).collect())
    }

    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError> {
        let Plan { p, a, b } = plan_of(ctx)?;
        let w = p.robust_max_lr;
        let is_f64 = ctx.precision == Precision::F64;
        let mut sum = Summary::default();

        let win = format!("α (η ≤ {w})");
        let mut t_a = Table::new(
            "(a) exp_universality_v1.py depth sweep: α per depth (reference protocol, then robust)",
            &[
                "L",
                "params",
                "α",
                "R²",
                "η dropped",
                "reference α",
                "reference R²",
                win.as_str(),
                "R²",
                "per-seed α (η ≤ w)",
                "α of η²S (η ≤ w)",
                "max drift̄/η²S̄",
            ],
        );
        let mut t_b = Table::new(
            "(b) exp_depth_imbalance_v1.py: α per depth (reference protocol, mask 1e−15)",
            &["L", "α", "R²", "β = 2 − α", "reference α", "reference R²", "reference S/grad_int"],
        );
        let mut t_b_eta = Table::new(
            "(b) seed means per depth and η (reference values typed in from the spec)",
            &["L", "η", "drift̄", "reference drift̄", "drift̄/η²", "S̄", "reference S̄", "S/grad_int"],
        );
        let mut drift_header = vec!["η".to_string()];
        for l in &p.depths {
            drift_header.push(format!("L = {l}"));
            drift_header.push("reference".into());
        }
        let dh: Vec<&str> = drift_header.iter().map(String::as_str).collect();
        let mut t_drift = Table::new("(a) seed-mean drift (mean over l of |ΔC_l|) per η and depth", &dh);
        let mut slope_header = vec!["η".to_string()];
        for l in &p.depths {
            slope_header.push(format!("slope L = {l}"));
            slope_header.push(format!("final CE L = {l}"));
        }
        let sh: Vec<&str> = slope_header.iter().map(String::as_str).collect();
        let mut t_slope = Table::new(
            "(a) local log-log slope to the next η and seed-mean final CE (loss before the last update)",
            &sh,
        );

        let mut fits_a = Vec::new();
        let mut fits_b = Vec::new();
        let mut fits_eta2s = Vec::new();
        let mut losses = Vec::new();
        let mut identity = Vec::new();
        let mut data = Vec::new();
        for (i, &depth) in p.depths.iter().enumerate() {
            let reference = reference(depth);
            // (a)
            let drift = a[i].matrix(results, drift_mean_l)?;
            let eta2s = a[i].matrix(results, eta2s_mean_l)?;
            let fa = Fits::new(&p.lrs_a, &drift, FitMask::GT_1E10, w);
            let fe = Fits::new(&p.lrs_a, &eta2s, FitMask::GT_1E10, w);
            let loss = Curve::from_seeds(
                &p.lrs_a,
                &a[i].matrix(results, |r| finite(r.loss_before_last_update))?,
                SeedRule::NanPropagating,
            );
            let excess = fa
                .curve
                .mean
                .iter()
                .zip(&fe.curve.mean)
                .map(|(d, s)| d / s)
                .filter(|r| r.is_finite())
                .fold(f64::NAN, f64::max);
            identity.push((depth, identity_violation(&drift, &eta2s)));
            t_a.row(vec![
                depth.to_string(),
                n_params(p.width, depth).to_string(),
                alpha_cell(&fa.full),
                r2_cell(&fa.full),
                fa.dropped(&drift),
                opt_cell(reference.map(|r| r.alpha_a)),
                opt_cell(reference.map(|r| r.r2_a)),
                alpha_cell(&fa.window),
                r2_cell(&fa.window),
                fa.per_seed_cell(),
                alpha_cell(&fe.window),
                fmt(excess),
            ]);
            // (b)
            let drift_b = b[i].matrix(results, drift_mean_l)?;
            let s_b = Curve::from_seeds(
                &p.lrs_b,
                &b[i].matrix(results, |r| finite(r.s_layer_mean))?,
                SeedRule::NanPropagating,
            );
            let ratio_b = Curve::from_seeds(
                &p.lrs_b,
                &b[i].matrix(results, |r| finite(r.s_layer_mean / r.grad_integral))?,
                SeedRule::NanPropagating,
            );
            let fb = Fits::new(&p.lrs_b, &drift_b, FitMask::GT_1E15, w);
            t_b.row(vec![
                depth.to_string(),
                alpha_cell(&fb.full),
                r2_cell(&fb.full),
                fb.full.as_ref().map_or("—".into(), |f| fmt(-f.beta_over_eta_squared())),
                opt_cell(reference.map(|r| r.alpha_b)),
                opt_cell(reference.map(|r| r.r2_b)),
                reference.map_or("—".into(), |r| r.ratio_b.to_string()),
            ]);
            let b_opt =
                |f: fn(&DepthRef) -> [f64; 4]| reference.map(|r| f(r).iter().map(|v| Some(*v)).collect::<Vec<_>>());
            let (rd, rs) = (b_opt(|r| r.drift_b), b_opt(|r| r.s_b));
            for (k, &eta) in p.lrs_b.iter().enumerate() {
                let cell =
                    |v: &Option<Vec<Option<f64>>>| v.as_ref().map_or("—".into(), |v| ref_cell(&GRID_B, v, eta));
                t_b_eta.row(vec![
                    depth.to_string(),
                    fmt(eta),
                    fmt(fb.curve.mean[k]),
                    cell(&rd),
                    fmt(fb.curve.mean[k] / (eta * eta)),
                    fmt(s_b.mean[k]),
                    cell(&rs),
                    fmt(ratio_b.mean[k]),
                ]);
            }
            data.push(serde_json::json!({
                "depth": depth, "a": fa, "a_eta2s": fe, "b": fb, "b_s": s_b, "b_s_over_grad_integral": ratio_b, "a_final_ce": loss,
            }));
            fits_a.push(fa);
            fits_b.push(fb);
            fits_eta2s.push(fe);
            losses.push(loss);
        }
        for (k, &eta) in p.lrs_a.iter().enumerate() {
            let mut row = vec![fmt(eta)];
            let mut srow = vec![fmt(eta)];
            for (i, &depth) in p.depths.iter().enumerate() {
                row.push(fmt(fits_a[i].curve.mean[k]));
                row.push(reference(depth).map_or("—".into(), |r| ref_cell(&GRID_A, &r.drift_a, eta)));
                srow.push(fits_a[i].slopes.get(k).map_or("—".into(), |s| fmt(*s)));
                srow.push(fmt(losses[i].mean[k]));
            }
            t_drift.row(row);
            t_slope.row(srow);
        }
        sum.tables.extend([t_a, t_b, t_drift, t_slope, t_b_eta]);

        // Claims.
        let idx = |depth: usize| p.depths.iter().position(|&l| l == depth);
        let robust_how = |fa: &Fits, f: &PowerLawFit| {
            format!(
                "(a) {} seeds, η ≤ {w} ({} η), NaN-propagating, mask 1e−10; per-seed α {}",
                p.seeds_a.len(),
                f.n_points,
                fa.per_seed_cell()
            )
        };
        if let Some(i) = idx(8) {
            if let Some(f) = &fits_a[i].full {
                let how = format!(
                    "(a) depth sweep L = 8: OLS over {} η of the {}-seed NaN-propagating mean, mask 1e−10 (R² {})",
                    f.n_points,
                    p.seeds_a.len(),
                    fmt(f.r2)
                );
                sum.measure("E06.alpha_L8", Protocol::Reference, f.alpha, how);
            }
            if let Some(f) = &fits_a[i].window {
                sum.measure("E06.alpha_L8", Protocol::Robust, f.alpha, robust_how(&fits_a[i], f));
            }
        }
        if let Some(i) = idx(2) {
            if let Some(f) = &fits_b[i].full {
                let how = format!(
                    "(b) depth_imbalance L = 2: OLS over {} η of the {}-seed mean, mask 1e−15 (R² {})",
                    f.n_points,
                    p.seeds_b.len(),
                    fmt(f.r2)
                );
                sum.measure("E06.alpha_L2", Protocol::Reference, f.alpha, how);
            }
            if let Some(f) = &fits_a[i].window {
                sum.measure("E06.alpha_L2", Protocol::Robust, f.alpha, robust_how(&fits_a[i], f));
            }
        }

        // Notes.
        let (first, last) = (0, p.depths.len() - 1);
        let (l0, l1) = (p.depths[first], p.depths[last]);
        sum.notes.push(format!(
            "Headline: the paper's \"1.07 (2L) → 1.72 (8L)\" takes 2L from (b) and 8L from (a). Within one script: \
             (a) α(L = {l0}) = {} → α(L = {l1}) = {} (reference 1.16 → 1.72); (b) {} → {} (reference 1.07 → 1.06, non-monotone); \
             robust, (a) on η ≤ {w}: {} → {} (drift) and {} → {} (η²S).",
            alpha_cell(&fits_a[first].full),
            alpha_cell(&fits_a[last].full),
            alpha_cell(&fits_b[first].full),
            alpha_cell(&fits_b[last].full),
            alpha_cell(&fits_a[first].window),
            alpha_cell(&fits_a[last].window),
            alpha_cell(&fits_eta2s[first].window),
            alpha_cell(&fits_eta2s[last].window),
        ));
        sum.notes.push(format!(
            "Identity drift = η²S per layer (mean over l of |ΔC_l| vs mean over l of η²|Σ_t δ_l(t)|), largest relative deviation per depth: {} ({}).",
            identity.iter().map(|(l, v)| format!("L = {l}: {}", fmt(*v))).collect::<Vec<_>>().join(", "),
            if is_f64 {
                "f64: exact up to rounding, so the f64 drifts are the true η²S"
            } else {
                "f32: float32 rounding of ‖W_l‖² dominates wherever η²S is below ~1e−5, i.e. small η and deep nets; \
                 the column max drift̄/η²S̄ shows the excess"
            }
        ));
        let deepest = &fits_a[last];
        sum.notes.push(format!(
            "The reference-protocol α of the deepest net (L = {l1}) is decided by which unstable η survive the NaN-propagating mean: \
             ours kept {} η (dropped: {}); the reference kept 8 η including η = 0.3 (seed-mean drift 69.9), which pulls its slope \
             up to 1.72 (R² 0.71). Whether a seed diverges at η ≥ 0.3 depends on the random stream, so this α is not reproducible \
             across ports beyond the spec's ±0.2.",
            deepest.full.as_ref().map_or(0, |f| f.n_points),
            deepest.dropped(&a[last].matrix(results, drift_mean_l)?),
        ));
        sum.notes.push(format!(
            "Robust window η ≤ {w} for every depth: the deepest nets are unstable above it (the reference 8L drift jumps \
             from 1.3e−3 at 0.03 to 0.51 at 0.1 and diverges at 0.5), and the same window is used for all depths so that \
             α(L) compares like with like. For L ≥ 6 the nets barely leave the initial plateau at η ≤ 3e−3 (final CE ≈ ln 5 = 1.61), \
             so even the sub-EoS drift is not a scaling law of a trained network: in f32 it is a float32 noise floor (flat or \
             decreasing in η), in f64 it is η²S with an S that grows with η as training starts."
        ));
        let a_keys: HashSet<String> = a.iter().flat_map(|s| s.all_jobs()).map(|j| j.key()).collect();
        let b_jobs: Vec<Job> = b.iter().flat_map(|s| s.all_jobs()).collect();
        let shared = b_jobs.iter().filter(|j| a_keys.contains(&j.key())).count();
        sum.notes.push(format!(
            "{shared} of (b)'s {} runs are (a)'s runs (identical jobs, computed once via the cache); (a)'s L = 2 runs are E05's.",
            b_jobs.len()
        ));

        // Plots.
        let pname = ctx.precision.name();
        let plot_a = "drift_vs_lr_depth.svg";
        let series_a: Vec<Series> = p.depths.iter().zip(&fits_a).map(|(l, f)| f.series(&format!("L = {l}"))).collect();
        xy_plot(
            &ctx.out_dir.join(plot_a),
            &format!("E06 (a) depth sweep: drift vs η ({pname})"),
            "learning rate η",
            "mean_l |C_l(T) − C_l(0)|",
            &series_a,
            &[],
            true,
            true,
        )?;
        let plot_b = "drift_vs_lr_depth_imbalance.svg";
        let series_b: Vec<Series> = p.depths.iter().zip(&fits_b).map(|(l, f)| f.series(&format!("L = {l}"))).collect();
        xy_plot(
            &ctx.out_dir.join(plot_b),
            &format!("E06 (b) depth_imbalance: drift vs η ({pname})"),
            "learning rate η",
            "mean_l |C_l(T) − C_l(0)|",
            &series_b,
            &[],
            true,
            true,
        )?;
        let plot_alpha = "alpha_vs_depth.svg";
        let depth_series = |label: &str, v: Vec<f64>| Series {
            label: label.into(),
            points: p.depths.iter().map(|&l| l as f64).zip(v).collect(),
            fit: None,
            line: true,
        };
        let alphas = |fits: &[Fits], window: bool| -> Vec<f64> {
            fits.iter()
                .map(|f| (if window { &f.window } else { &f.full }).as_ref().map_or(f64::NAN, |f| f.alpha))
                .collect()
        };
        let refs =
            |f: fn(&DepthRef) -> f64| p.depths.iter().map(|&l| reference(l).map_or(f64::NAN, f)).collect::<Vec<_>>();
        xy_plot(
            &ctx.out_dir.join(plot_alpha),
            &format!("E06 drift exponent vs depth ({pname})"),
            "L (weight matrices)",
            "α",
            &[
                depth_series("(a) reference protocol", alphas(&fits_a, false)),
                depth_series("(b) reference protocol", alphas(&fits_b, false)),
                depth_series(&format!("(a) robust, η ≤ {w}"), alphas(&fits_a, true)),
                depth_series(&format!("(a) η²S, η ≤ {w}"), alphas(&fits_eta2s, true)),
                depth_series("reference script (a), spec", refs(|r| r.alpha_a)),
                depth_series("reference script (b), spec", refs(|r| r.alpha_b)),
            ],
            &[],
            false,
            false,
        )?;
        sum.plots.extend([plot_a.to_string(), plot_b.to_string(), plot_alpha.to_string()]);
        sum.data = serde_json::json!({ "depths": data, "identity_max_rel_violation": identity });
        Ok(sum)
    }
}
