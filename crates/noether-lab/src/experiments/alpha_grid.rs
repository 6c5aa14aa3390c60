//! Shared sweep and fit code of the α-grid experiments E13 (activation × interpolated loss),
//! E14 (width × activation, MSE) and E17 ({linear, ReLU} × {MSE, CE} × width), spec E13–E23
//! §1.5–§1.8.
//!
//! A *cell* is one (width m, activation ε_act, CE weight ε_L) configuration of the problem's
//! bias-free 2-layer net (the problem table gives the data; each experiment sweeps the cells); per cell a learning-rate × seed sweep of plain GD runs (T steps, model
//! drawn before the data, so every cell of a seed shares the data of its width and the initial
//! weights). Per cell: drift = |C(T) − C(0)| per run, seed mean with NaN propagation (`np.mean`:
//! one diverged seed drops the η), α = OLS slope of ln drift̄ on ln η over the points with
//! drift̄ > 1e−15 and finite (≥ 3), for the whole grid (reference protocol) and on the sub-EoS
//! window η ≤ `robust_max_lr` (robust protocol, spec §1.8 "report both").
//!
//! Identical cells of the three experiments are identical [`Job`]s and run once through the
//! cache (spec §3 item 3). MSE runs at `switching_width` (m = 64) record activation switching
//! (an observation; the trajectory is unchanged) so that they are also E11's jobs.

use noether_nn::Precision;
use noether_theory::fit::{FitMask, PowerLawFit};
use noether_train::OptimizerKind;
use serde::{Deserialize, Serialize};

use super::common::{Sweep, abs_drift, identity_violation, imbalance_s, predicted_drift};
use crate::LabError;
use crate::aggregate::{Curve, SeedRule};
use crate::config::{Invalid, positive};
use crate::experiment::{Table, fmt};
use crate::job::{Job, Measure};
use crate::plot::{Axis, Figure, Series};
use crate::problem::{Problem, SweepParams};
use crate::results::Results;

/// The fit mask of every E13–E23 α fit: drift̄ > 1e−15 and finite (spec §1.7).
pub const MASK: FitMask = FitMask::GT_1E15_FINITE;

/// One configuration of the grid.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Cell {
    pub width: usize,
    /// σ_ε: 0 = linear, 1 = ReLU.
    pub act_eps: f64,
    /// Loss (1 − ε_L)·MSE + ε_L·CE.
    pub ce_weight: f64,
}

impl Cell {
    pub fn new(width: usize, act_eps: f64, ce_weight: f64) -> Self {
        Cell { width, act_eps, ce_weight }
    }

    /// "linear"/"ReLU"/"ε = 0.5" and "MSE"/"CE"/"ε_L = 0.2".
    pub fn act_name(&self) -> String {
        match self.act_eps {
            e if e == 0.0 => "linear".into(),
            e if e == 1.0 => "ReLU".into(),
            e => format!("σ_{e}"),
        }
    }
    pub fn loss_name(&self) -> String {
        match self.ce_weight {
            w if w == 0.0 => "MSE".into(),
            w if w == 1.0 => "CE".into(),
            w => format!("{}·MSE+{w}·CE", fmt(1.0 - w)),
        }
    }
    pub fn label(&self) -> String {
        format!("m = {}, {} {}", self.width, self.act_name(), self.loss_name())
    }
}

/// The options common to E13, E14 and E17, flattened into each experiment's table beside the
/// [`SweepParams`] (side by side: serde's flatten cannot nest under `deny_unknown_fields`).
#[derive(Clone, Debug, Deserialize)]
pub struct GridParams {
    /// Upper end of the robust (sub-EoS) window.
    pub robust_max_lr: f64,
    /// MSE runs at this width record activation switching, which makes them E11's jobs.
    #[serde(default)]
    pub switching_width: Option<usize>,
}

impl GridParams {
    /// The checks of the grid's sweep and options.
    pub fn check(&self, sweep: &SweepParams) -> Result<(), Invalid> {
        sweep.check_grid(3)?;
        sweep.require_two_layer(true, "the α grid")?;
        if sweep.lrs.windows(2).any(|w| w[1] <= w[0]) {
            return Err(Invalid::new("lrs", "learning rates must be strictly increasing"));
        }
        positive("robust_max_lr", self.robust_max_lr)
    }
}

/// Refuses a cell grid with values outside [0, 1] or a zero width.
pub fn check_cells(cells: &[Cell]) -> Result<(), Invalid> {
    if cells.is_empty() {
        return Err(Invalid::new("lrs", "the cell grid is empty"));
    }
    for c in cells {
        if !(0.0..=1.0).contains(&c.act_eps) || !(0.0..=1.0).contains(&c.ce_weight) {
            return Err(Invalid::new(
                "act_epsilons",
                format!("activation ε and CE weight must lie in [0, 1] ({})", c.label()),
            ));
        }
        if c.width == 0 {
            return Err(Invalid::new("widths", "widths must be ≥ 1"));
        }
    }
    Ok(())
}

/// The sweep definition common to the three experiments, resolved for one precision.
pub struct GridSpec {
    pub seeds: Vec<u64>,
    pub lrs: Vec<f64>,
    pub steps: usize,
    pub robust_max_lr: f64,
    pub switching_width: Option<usize>,
    pub problem: Problem,
    pub precision: Precision,
    pub cells: Vec<Cell>,
}

impl GridSpec {
    /// The grid of `cells` on `problem` (whose data and bias it keeps; each cell sets width,
    /// activation and loss).
    pub fn new(
        sweep: &SweepParams,
        p: &GridParams,
        problem: Problem,
        precision: Precision,
        cells: Vec<Cell>,
    ) -> GridSpec {
        GridSpec {
            seeds: sweep.seeds.clone(),
            lrs: sweep.lrs.clone(),
            steps: sweep.steps,
            robust_max_lr: p.robust_max_lr,
            switching_width: p.switching_width,
            problem,
            precision,
            cells,
        }
    }

    fn measure(&self, cell: &Cell) -> Measure {
        Measure { switching: cell.ce_weight == 0.0 && self.switching_width == Some(cell.width), ..Measure::default() }
    }

    fn sweep(&self, cell: &Cell) -> Sweep {
        let problem =
            self.problem.with_hidden(vec![cell.width]).with_activation_eps(cell.act_eps).with_ce_weight(cell.ce_weight);
        Sweep::new(&self.lrs, &self.seeds, self.steps, OptimizerKind::Gd, &self.measure(cell), |seed| {
            problem.spec(seed, self.precision)
        })
    }

    /// Every cell's runs.
    pub fn jobs(&self) -> Vec<Job> {
        self.cells.iter().flat_map(|c| self.sweep(c).all_jobs()).collect()
    }

    /// Reads and fits every cell.
    pub fn fit(&self, results: &Results) -> Result<Vec<CellFit>, LabError> {
        self.cells
            .iter()
            .map(|c| {
                let s = self.sweep(c);
                let drift = s.matrix(results, abs_drift)?;
                let predicted = s.matrix(results, predicted_drift)?;
                let s_abs = s.matrix(results, imbalance_s)?;
                let curve = Curve::from_seeds(&s.lrs, &drift, SeedRule::NanPropagating);
                let s_curve = Curve::from_seeds(&s.lrs, &s_abs, SeedRule::NanPropagating);
                let window = curve.window(self.robust_max_lr).alpha(MASK);
                let diverged = drift.iter().map(|row| row.iter().filter(|v| !v.is_finite()).count()).collect();
                Ok(CellFit { cell: *c, full: curve.alpha(MASK), window, drift, predicted, curve, s_curve, diverged })
            })
            .collect()
    }
}

/// What one cell measured.
#[derive(Clone, Debug, Serialize)]
pub struct CellFit {
    pub cell: Cell,
    /// |ΔC| as an (η × seed) matrix, NaN for diverged runs.
    pub drift: Vec<Vec<f64>>,
    /// η²S of the same runs.
    pub predicted: Vec<Vec<f64>>,
    /// Seed-mean drift (NaN-propagating) and its population std.
    pub curve: Curve,
    /// Seed-mean S = |Σ_t δ(t)|.
    pub s_curve: Curve,
    /// Reference protocol: every η of the grid.
    pub full: Option<PowerLawFit>,
    /// Robust protocol: η ≤ robust_max_lr.
    pub window: Option<PowerLawFit>,
    /// Non-finite runs per η.
    pub diverged: Vec<usize>,
}

impl CellFit {
    pub fn alpha_full(&self) -> f64 {
        alpha_of(self.full.as_ref())
    }
    pub fn alpha_window(&self) -> f64 {
        alpha_of(self.window.as_ref())
    }
    /// α on η ≤ `eta_max` (an extra diagnostic window).
    pub fn alpha_upto(&self, eta_max: f64) -> f64 {
        alpha_of(self.curve.window(eta_max).alpha(MASK).as_ref())
    }
}

/// The fitted cell matching `cell`.
pub fn find<'a>(fits: &'a [CellFit], cell: Cell) -> Option<&'a CellFit> {
    fits.iter().find(|f| f.cell == cell)
}

/// α of a fit, NaN without one.
pub fn alpha_of(f: Option<&PowerLawFit>) -> f64 {
    f.map_or(f64::NAN, |a| a.alpha)
}

/// "1.234 (0.987)" or "—".
pub fn alpha_r2(f: Option<&PowerLawFit>) -> String {
    f.map_or("—".into(), |a| format!("{} ({})", fmt(a.alpha), fmt(a.r2)))
}

pub fn opt_fmt(v: Option<f64>) -> String {
    v.map_or("—".into(), fmt)
}

/// A table of seed-mean drifts, one row per cell (diverged-seed counts beside NaN points).
pub fn drift_table(title: &str, fits: &[CellFit], lrs: &[f64]) -> Table {
    let mut header = vec!["cell".to_string(), "α (R²), all η".into(), "α, window".into()];
    header.extend(lrs.iter().map(|e| format!("η = {e}")));
    let mut t = Table { title: title.into(), header, rows: vec![] };
    for f in fits {
        let mut row = vec![f.cell.label(), alpha_r2(f.full.as_ref()), fmt(f.alpha_window())];
        row.extend(
            f.curve
                .mean
                .iter()
                .zip(&f.diverged)
                .map(|(&v, &d)| if d > 0 { format!("{} ({d} div.)", fmt(v)) } else { fmt(v) }),
        );
        t.row(row);
    }
    t
}

/// One-line note listing the diverged runs (they leave the fits by the NaN-propagating mean).
pub fn diverged_note(fits: &[CellFit], lrs: &[f64], nseeds: usize) -> String {
    let dropped: Vec<String> = fits
        .iter()
        .flat_map(|f| {
            f.diverged
                .iter()
                .enumerate()
                .filter(|(_, d)| **d > 0)
                .map(move |(i, d)| format!("{} at η = {} ({d}/{nseeds})", f.cell.label(), lrs[i]))
        })
        .collect();
    if dropped.is_empty() {
        "No run diverged, so every η enters every fit.".into()
    } else {
        format!(
            "Diverged runs (non-finite loss; np.mean rule: the η leaves that cell's fit if any seed diverged): {}.",
            dropped.join("; ")
        )
    }
}

/// The exact GD identity drift = η²S (spec §1.6, §3 item 1): the worst relative deviation over
/// all runs, the worst over η ≥ 1e−3, and the seed-mean ratio drift̄ / (η²·S̄) at the smallest η
/// (range over cells), as a note and its numbers.
pub fn identity_note(fits: &[CellFit], lrs: &[f64], precision: Precision) -> (String, serde_json::Value) {
    let viol = fits.iter().map(|f| identity_violation(&f.drift, &f.predicted)).fold(0.0, f64::max);
    let viol_1e3 = fits
        .iter()
        .flat_map(|f| {
            lrs.iter()
                .enumerate()
                .filter(|(_, e)| **e >= 1e-3 * (1.0 - 1e-12))
                .map(move |(i, _)| identity_violation(&f.drift[i..=i], &f.predicted[i..=i]))
        })
        .fold(0.0, f64::max);
    let eta0 = lrs[0];
    let ratios: Vec<f64> =
        fits.iter().map(|f| f.curve.mean[0] / (eta0 * eta0 * f.s_curve.mean[0])).filter(|r| r.is_finite()).collect();
    let (rlo, rhi) = ratios.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let note = format!(
        "Identity drift = η²S: largest relative deviation over all finite runs {}, {} over η ≥ 1e−3; seed-mean ratio drift̄/(η²S̄) at η = {eta0}: {}–{} over the cells ({}).",
        fmt(viol),
        fmt(viol_1e3),
        fmt(rlo),
        fmt(rhi),
        if precision == Precision::F64 {
            "f64: exact up to rounding, so α from drift and from η²S agree"
        } else {
            "f32: the reference's f32 ratio is 1.03–1.27 at η = 1e−4 and within 0.5 % for η ≥ 3e−3 (spec §3 item 1): float32 rounding of ‖W1‖² ≈ 21 at small η"
        }
    );
    (
        note,
        serde_json::json!({ "max_rel_violation": viol, "max_rel_violation_eta_ge_1e-3": viol_1e3, "ratio_at_smallest_eta": [rlo, rhi] }),
    )
}

/// Drift vs η per cell (log–log) with the full-grid fits.
pub fn drift_figure(file: &str, title: &str, precision: Precision, fits: &[&CellFit]) -> Figure {
    Figure::xy(
        file,
        format!("{title} ({})", precision.name()),
        Axis::log("learning rate η"),
        Axis::log("|C(T) − C(0)|"),
        fits.iter()
            .map(|f| {
                Series::points(
                    format!("{}: α = {}", f.cell.label(), opt_fmt(f.full.as_ref().map(|a| a.alpha))),
                    f.curve.points(),
                )
                .with_fit(f.full.as_ref().map(|a| (a.alpha, a.intercept)))
            })
            .collect(),
    )
}

/// Per-cell numbers for summary.json.
pub fn cells_json(fits: &[CellFit]) -> serde_json::Value {
    serde_json::Value::Array(
        fits.iter()
            .map(|f| {
                serde_json::json!({
                    "width": f.cell.width, "act_eps": f.cell.act_eps, "ce_weight": f.cell.ce_weight,
                    "curve": f.curve, "s_curve": f.s_curve, "fit_all": f.full, "fit_window": f.window, "diverged": f.diverged,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use noether_theory::fit::power_law_fit;

    use super::MASK;

    const ETAS8: [f64; 8] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3];

    /// Spec §3 item 5: the fit code reproduces the reference α from the reference drift tables
    /// (E13 ReLU rows, 4 significant digits in the spec, so α to ~1e−3).
    #[test]
    fn reference_alpha_from_reference_drifts_e13() {
        let rows: [([f64; 8], f64, f64); 3] = [
            ([2.439e-5, 6.903e-5, 2.351e-4, 7.130e-4, 2.456e-3, 7.925e-3, 3.933e-2, 2.708], 1.2928, 0.9347),
            ([2.403e-5, 9.492e-5, 3.122e-4, 9.356e-4, 3.158e-3, 9.808e-3, 3.819e-2, 1.480], 1.2297, 0.9561),
            ([4.107e-5, 1.633e-4, 5.890e-4, 1.789e-3, 6.023e-3, 1.854e-2, 6.802e-2, 0.2956], 1.0765, 0.9986),
        ];
        for (d, alpha, r2) in rows {
            let f = power_law_fit(&ETAS8, &d, MASK).unwrap();
            assert!((f.alpha - alpha).abs() < 1e-3, "α {} vs {alpha}", f.alpha);
            assert!((f.r2 - r2).abs() < 1e-3, "R² {} vs {r2}", f.r2);
        }
    }

    /// E14 m = 64 linear: the NaN at η = 0.3 leaves the fit (7 points), α = 1.1078.
    #[test]
    fn nan_point_is_dropped() {
        let d = [4.10e-5, 1.26e-4, 4.39e-4, 1.33e-3, 4.58e-3, 1.54e-2, 0.1123, f64::NAN];
        let f = power_law_fit(&ETAS8, &d, MASK).unwrap();
        assert_eq!(f.n_points, 7);
        assert!((f.alpha - 1.1078).abs() < 2e-3, "α {}", f.alpha);
    }

    /// E17 m = 128 linear MSE and linear CE on the five-η grid: δ_loss = −0.4939.
    #[test]
    fn e17_delta_loss_from_reference_drifts() {
        let etas = [1e-3, 3e-3, 1e-2, 3e-2, 0.1];
        let lin_mse = power_law_fit(&etas, &[4.849e-4, 1.498e-3, 5.292e-3, 1.962e-2, 1.547], MASK).unwrap();
        let lin_ce = power_law_fit(&etas, &[1.246e-3, 3.799e-3, 1.314e-2, 4.397e-2, 0.2519], MASK).unwrap();
        assert!((lin_mse.alpha - 1.6297).abs() < 1e-3, "{}", lin_mse.alpha);
        assert!((lin_ce.alpha - 1.1358).abs() < 1e-3, "{}", lin_ce.alpha);
        assert!((lin_ce.alpha - lin_mse.alpha + 0.4939).abs() < 2e-3);
    }

    /// Spec §3 item 3 (paired design, shared runs): with the paper-scale configs, E17's m = 64
    /// cells and E14's m = 64 row are E13's jobs, E17's MSE cells are E14's, the MSE ones are E11's, and E13's ReLU-CE cell
    /// is part of E05's sweep — identical [`Job`] values, so the cache runs them once.
    #[test]
    fn paper_scale_runs_are_shared() {
        use std::collections::HashSet;

        use noether_nn::Precision;

        use crate::job::Job;

        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let keys = |id: &str, precision: Precision| -> HashSet<String> {
            crate::suite::planned_jobs(&root, id, precision, false).unwrap().iter().map(Job::key).collect()
        };
        for precision in [Precision::F32, Precision::F64] {
            let (e05, e11, e13, e14, e17) = (
                keys("E05", precision),
                keys("E11", precision),
                keys("E13", precision),
                keys("E14", precision),
                keys("E17", precision),
            );
            assert_eq!(e13.len(), 360);
            assert_eq!(e14.len(), 360);
            assert_eq!(e17.len(), 180);
            assert_eq!(e14.intersection(&e13).count(), 72, "E14's m = 64 row is E13's ε_L = 0 column");
            assert_eq!(e14.intersection(&e11).count(), 72, "E14's m = 64 row is E11's ε ∈ {{0, 0.5, 1}}");
            assert_eq!(e17.intersection(&e13).count(), 60, "E17's m = 64 cells are E13's runs at η ≥ 1e−3");
            assert_eq!(e13.intersection(&e05).count(), 24, "E13's ReLU-CE cell is in E05's sweep");
            let union: HashSet<&String> = e13.iter().chain(&e14).chain(&e17).collect();
            assert_eq!(
                e17.intersection(&e14).count(),
                90,
                "E17's MSE cells (m = 32, 64, 128) are E14's runs at η ≥ 1e−3"
            );
            assert_eq!(union.len(), 360 + 288 + 60);
        }
    }
}
