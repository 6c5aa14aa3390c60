//! Drift-vs-η curves of several sweeps with the reference's fit over the whole grid and the
//! robust fits on a window (E06, E07; `finite` also serves the width experiments).

use noether_theory::fit::{FitMask, PowerLawFit, local_loglog_slopes};
use serde::Serialize;

use crate::aggregate::{Curve, SeedRule, per_seed_alpha};
use crate::experiment::fmt;
use crate::plot::Series;

/// Any non-finite value counts as a diverged run (spec §1.9). So does a value beyond
/// `f32::MAX`: the float32 reference would have overflowed to inf/NaN there, while an f64 run
/// can carry a blown-up drift (e.g. 5e172) that would otherwise enter the fit.
pub fn finite(v: f64) -> f64 {
    if v.is_finite() && v.abs() <= f64::from(f32::MAX) { v } else { f64::NAN }
}

/// Index of `eta` in a grid (relative tolerance 1e−9).
fn grid_index(grid: &[f64], eta: f64) -> Option<usize> {
    grid.iter().position(|g| (g / eta - 1.0).abs() < 1e-9)
}

/// A reference value typed in from the spec at `eta` ("—" when the spec lists none).
pub fn ref_cell(grid: &[f64], values: &[Option<f64>], eta: f64) -> String {
    grid_index(grid, eta).and_then(|i| values[i]).map_or("—".into(), fmt)
}

/// The rows of an (η × seed) matrix whose η satisfies `keep`.
pub fn select(etas: &[f64], values: &[Vec<f64>], keep: impl Fn(f64) -> bool) -> (Vec<f64>, Vec<Vec<f64>>) {
    etas.iter().zip(values).filter(|(e, _)| keep(**e)).map(|(e, v)| (*e, v.clone())).unzip()
}

/// α of the seed-mean curve over the η's satisfying `keep` (NaN-propagating seed means).
pub fn fit_where(etas: &[f64], values: &[Vec<f64>], mask: FitMask, keep: impl Fn(f64) -> bool) -> Option<PowerLawFit> {
    let (e, v) = select(etas, values, keep);
    Curve::from_seeds(&e, &v, SeedRule::NanPropagating).alpha(mask)
}

/// A seed-mean drift curve with the reference fit (whole grid) and the robust fits
/// (η ≤ window: seed-mean fit and per-seed fits).
#[derive(Serialize)]
pub struct Fits {
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
    pub fn new(etas: &[f64], values: &[Vec<f64>], mask: FitMask, window_max: f64) -> Fits {
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

    /// The η's the reference fit dropped and why.
    pub fn dropped(&self, values: &[Vec<f64>]) -> Dropped {
        let etas = (0..self.curve.etas.len())
            .filter(|&i| !self.mask.keeps(self.curve.mean[i]))
            .map(|i| (self.curve.etas[i], values[i].iter().filter(|v| !v.is_finite()).count()))
            .collect();
        Dropped { etas, mask_min: self.mask.min_value }
    }

    pub fn per_seed_cell(&self) -> String {
        format!("{} ± {} ({} seeds)", fmt(self.per_seed.0), fmt(self.per_seed.1), self.per_seed.2)
    }

    pub fn slopes_cell(&self) -> String {
        self.slopes.iter().map(|s| fmt(*s)).collect::<Vec<_>>().join(", ")
    }

    /// Plot series of the seed means with the reference fit drawn through them.
    pub fn series(&self, label: &str) -> Series {
        Series::points(format!("{label}: α = {}", alpha_cell(&self.full)), self.curve.points())
            .with_fit(self.full.as_ref().map(|f| (f.alpha, f.intercept)))
    }
}

pub fn alpha_cell(f: &Option<PowerLawFit>) -> String {
    f.as_ref().map_or("—".into(), |f| fmt(f.alpha))
}

pub fn r2_cell(f: &Option<PowerLawFit>) -> String {
    f.as_ref().map_or("—".into(), |f| format!("{} ({} η)", fmt(f.r2), f.n_points))
}

/// The η's a fit left out: (η, how many seeds diverged there); none diverged means the seed
/// mean fell below the mask.
#[derive(Clone, Debug, Serialize)]
pub struct Dropped {
    /// (η, number of non-finite seeds).
    pub etas: Vec<(f64, usize)>,
    /// The mask's threshold.
    pub mask_min: f64,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.etas.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self
            .etas
            .iter()
            .map(|&(eta, nan)| {
                if nan > 0 {
                    format!("{} ({nan} NaN)", fmt(eta))
                } else {
                    format!("{} (≤ {:e})", fmt(eta), self.mask_min)
                }
            })
            .collect();
        f.write_str(&parts.join(", "))
    }
}
