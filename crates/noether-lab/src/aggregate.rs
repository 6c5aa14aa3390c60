//! Seed aggregation and the drift-vs-η fits shared by the drift-scaling experiments.

use noether_theory::fit::{
    FitMask, PowerLawFit, mean_finite_only, mean_nan_propagating, power_law_fit, std_pop_finite_only,
};
use serde::{Deserialize, Serialize};

/// How the seeds of one learning rate are averaged (the rules differ between reference
/// scripts and move α by up to 0.2; spec §1.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeedRule {
    /// `np.mean`: one diverged seed makes the point NaN, and the point leaves the fit.
    NanPropagating,
    /// `np.nanmean` / converged-only: mean over the seeds that stayed finite.
    FiniteOnly,
    /// `np.mean` and `np.std` of the whole vector: one non-finite value makes the mean *and*
    /// the spread NaN (summaries over fitted exponents, where a missing fit must show).
    Strict,
}

impl SeedRule {
    /// The seed mean of `v` under this rule (non-finite = a diverged seed).
    pub fn mean(self, v: &[f64]) -> f64 {
        match self {
            SeedRule::NanPropagating | SeedRule::Strict => mean_nan_propagating(v).unwrap_or(f64::NAN),
            SeedRule::FiniteOnly => mean_finite_only(v).0,
        }
    }

    /// The mean under this rule and the population standard deviation: of the finite values
    /// (the seeds that did not diverge) under `NanPropagating` and `FiniteOnly`, NaN under
    /// `Strict` when any value is non-finite.
    pub fn mean_std(self, v: &[f64]) -> (f64, f64) {
        let std = std_pop_finite_only(v).0;
        match self {
            SeedRule::Strict if v.iter().any(|x| !x.is_finite()) => (f64::NAN, f64::NAN),
            _ => (self.mean(v), std),
        }
    }
}

/// Seed-mean curve over a learning-rate grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// The learning rates, ascending as the grid was given.
    pub etas: Vec<f64>,
    /// The seed mean at each learning rate (under the curve's [`SeedRule`]).
    pub mean: Vec<f64>,
    /// Population standard deviation over the seeds used.
    pub std: Vec<f64>,
    /// Seeds that entered each mean.
    pub n_used: Vec<usize>,
}

impl Curve {
    /// `values[i]` are the per-seed values at `etas[i]` (non-finite = diverged).
    pub fn from_seeds(etas: &[f64], values: &[Vec<f64>], rule: SeedRule) -> Curve {
        let mut c = Curve { etas: etas.to_vec(), mean: vec![], std: vec![], n_used: vec![] };
        for v in values {
            let n = std_pop_finite_only(v).1;
            let (mean, std) = rule.mean_std(v);
            let n = if rule != SeedRule::FiniteOnly && !mean.is_finite() { 0 } else { n };
            c.mean.push(mean);
            c.std.push(std);
            c.n_used.push(n);
        }
        c
    }

    /// (η, seed mean) pairs, for plots.
    pub fn points(&self) -> Vec<(f64, f64)> {
        self.etas.iter().copied().zip(self.mean.iter().copied()).collect()
    }

    /// The curve restricted to η ≤ `eta_max`.
    pub fn window(&self, eta_max: f64) -> Curve {
        let keep: Vec<usize> = (0..self.etas.len()).filter(|&i| self.etas[i] <= eta_max * (1.0 + 1e-12)).collect();
        Curve {
            etas: keep.iter().map(|&i| self.etas[i]).collect(),
            mean: keep.iter().map(|&i| self.mean[i]).collect(),
            std: keep.iter().map(|&i| self.std[i]).collect(),
            n_used: keep.iter().map(|&i| self.n_used[i]).collect(),
        }
    }

    /// OLS of ln(mean) on ln η over the points the mask keeps; `None` with fewer than 3.
    pub fn alpha(&self, mask: FitMask) -> Option<PowerLawFit> {
        power_law_fit(&self.etas, &self.mean, mask).ok()
    }
}

/// Per-seed α fits: their mean, population std and how many seeds had a fit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeedAlpha {
    /// Mean of the per-seed exponents.
    pub mean: f64,
    /// Their population standard deviation.
    pub std: f64,
    /// Seeds with a fit (≥ 3 finite points under the mask).
    pub n: usize,
}

impl SeedAlpha {
    /// Fits each seed's own values (`values_by_eta[i][s]` at `etas[i]`).
    pub fn fit(etas: &[f64], values_by_eta: &[Vec<f64>], mask: FitMask) -> SeedAlpha {
        let (mean, std, n) = per_seed_alpha(etas, values_by_eta, mask);
        SeedAlpha { mean, std, n }
    }
}

/// Per-seed α fits (each seed's own finite values, ≥ 3 points): mean and population std.
pub fn per_seed_alpha(etas: &[f64], values_by_eta: &[Vec<f64>], mask: FitMask) -> (f64, f64, usize) {
    let n_seeds = values_by_eta.first().map_or(0, |v| v.len());
    let alphas: Vec<f64> = (0..n_seeds)
        .filter_map(|s| {
            let y: Vec<f64> = values_by_eta.iter().map(|v| v[s]).collect();
            power_law_fit(etas, &y, mask).ok().map(|f| f.alpha)
        })
        .collect();
    let (mean, n) = mean_finite_only(&alphas);
    (mean, std_pop_finite_only(&alphas).0, n)
}
