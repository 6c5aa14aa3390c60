//! Stochastic Lanczos quadrature (SLQ): the spectral density of an operator known only
//! through products.
//!
//! For a unit probe v, m Lanczos steps give a tridiagonal T_m whose eigenvalues θ_j and squared
//! first eigenvector components w_j form the m-point Gauss quadrature of the spectral measure
//! `μ_v = Σ_i (u_iᵀv)² δ_{λ_i}`. For a random unit probe `E[μ_v] = (1/dim) Σ_i δ_{λ_i}`, the
//! normalised eigenvalue density. Averaging a few probes and broadening each node with a
//! Gaussian gives the smooth density plotted in the Hessian-spectrum papers.

use serde::{Deserialize, Serialize};

use crate::error::SpectraError;
use crate::lanczos::{lanczos_tridiagonal, tridiagonal_eigen};
use crate::operator::SymmetricOperator;
use crate::scalar::Real;
use crate::vecops;

/// Distribution of the random probe vectors (normalised to unit length either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// Independent ±1 entries: lower variance for the moments than Gaussian probes.
    #[default]
    Rademacher,
    /// Independent standard-normal entries: uniform on the sphere after normalisation.
    Gaussian,
}

/// Options of [`slq_density`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlqOptions {
    /// Number of independent probe vectors.
    pub probes: usize,
    /// Lanczos steps per probe (capped at the dimension); the quadrature is exact for
    /// polynomials of degree < 2·steps.
    pub steps: usize,
    /// Seed of the ChaCha8 stream drawing all probes.
    pub seed: u64,
    /// Width of the Gaussian broadening. `None`: 0.01 × the estimated spectral width
    /// (spread of all quadrature nodes), which resolves features at the 1 % level.
    pub sigma: Option<f64>,
    /// Number of grid points of the density (≥ 2).
    pub grid_points: usize,
    /// Grid interval. `None`: the node range padded by 6σ on each side, so the broadened
    /// density integrates to 1 within ~1e-8.
    pub grid: Option<(f64, f64)>,
    /// Probe distribution.
    pub probe: Probe,
}

impl Default for SlqOptions {
    fn default() -> Self {
        Self { probes: 10, steps: 80, seed: 0, sigma: None, grid_points: 1000, grid: None, probe: Probe::Rademacher }
    }
}

/// A spectral density estimate together with the raw quadrature it was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectralDensity {
    /// Evenly spaced evaluation points.
    pub grid: Vec<f64>,
    /// Estimated eigenvalue density at each grid point (integrates to ≈ 1).
    pub density: Vec<f64>,
    /// Quadrature nodes (Ritz values) per probe.
    pub nodes: Vec<Vec<f64>>,
    /// Quadrature weights per probe: squared first components of T's eigenvectors; each row sums to 1.
    pub weights: Vec<Vec<f64>>,
    /// The broadening width actually used.
    pub sigma: f64,
    /// Operator products spent.
    pub products: usize,
}

impl SpectralDensity {
    /// Trapezoidal integral of the density over the grid; ≈ 1 when the grid covers the spectrum
    /// plus a few σ.
    pub fn integral(&self) -> f64 {
        self.grid.windows(2).zip(self.density.windows(2)).map(|(x, d)| 0.5 * (x[1] - x[0]) * (d[0] + d[1])).sum()
    }

    /// `Σ_j w_j θ_j^k` for every probe: unbiased single-probe estimates of `tr(A^k)/dim`,
    /// exact per probe for `k < 2·steps`. Their spread gives the standard error.
    pub fn probe_moments(&self, k: i32) -> Vec<f64> {
        self.nodes
            .iter()
            .zip(&self.weights)
            .map(|(nodes, weights)| nodes.iter().zip(weights).map(|(t, w)| w * t.powi(k)).sum())
            .collect()
    }

    /// Estimate of `tr(A^k)/dim`: the probe mean of [`probe_moments`](Self::probe_moments),
    /// computed from the nodes and weights, not from the broadened density (which would add σ² bias).
    pub fn moment(&self, k: i32) -> f64 {
        let m = self.probe_moments(k);
        m.iter().sum::<f64>() / m.len() as f64
    }

    /// Standard error of [`moment`](Self::moment) across probes (∞ with a single probe).
    pub fn moment_std_error(&self, k: i32) -> f64 {
        std_error(&self.probe_moments(k))
    }
}

/// Standard error of the mean of `xs` (∞ when fewer than two samples).
pub(crate) fn std_error(xs: &[f64]) -> f64 {
    let p = xs.len();
    if p < 2 {
        return f64::INFINITY;
    }
    let mean = xs.iter().sum::<f64>() / p as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (p - 1) as f64;
    (var / p as f64).sqrt()
}

/// Estimates the eigenvalue density of `op` by stochastic Lanczos quadrature.
///
/// `density(x) = mean over probes of Σ_j w_j N(x; θ_j, σ²)`. Costs `probes × min(steps, dim)`
/// products at most (fewer when a probe's Krylov space becomes invariant).
pub fn slq_density<T: Real, O: SymmetricOperator<T> + ?Sized>(
    op: &mut O,
    options: &SlqOptions,
) -> Result<SpectralDensity, SpectraError> {
    let n = op.dim();
    if n == 0 {
        return Err(SpectraError::EmptyOperator);
    }
    if options.probes == 0 || options.steps == 0 {
        return Err(SpectraError::InvalidOption("SLQ needs at least one probe and one step".into()));
    }
    if options.grid_points < 2 {
        return Err(SpectraError::InvalidOption("SLQ needs at least two grid points".into()));
    }
    if let Some(s) = options.sigma {
        if !(s > 0.0 && s.is_finite()) {
            return Err(SpectraError::InvalidOption(format!("sigma must be positive, got {s}")));
        }
    }
    if let Some((lo, hi)) = options.grid {
        if !(lo < hi && lo.is_finite() && hi.is_finite()) {
            return Err(SpectraError::InvalidOption(format!("grid ({lo}, {hi}) is not an interval")));
        }
    }

    let mut rng = vecops::rng(options.seed);
    let mut nodes = Vec::with_capacity(options.probes);
    let mut weights = Vec::with_capacity(options.probes);
    let mut products = 0;
    for _ in 0..options.probes {
        let probe = match options.probe {
            Probe::Rademacher => vecops::rademacher(&mut rng, n),
            Probe::Gaussian => vecops::gaussian(&mut rng, n),
        };
        let tri = lanczos_tridiagonal(op, options.steps, &probe, false).map_err(|e| offset_product(e, products))?;
        products += tri.products;
        let (theta, s) = tridiagonal_eigen(&tri.alpha, &tri.beta)?;
        weights.push((0..theta.len()).map(|j| s[(0, j)].powi(2)).collect());
        nodes.push(theta);
    }

    let (lo, hi) =
        nodes.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &t| (lo.min(t), hi.max(t)));
    let sigma = options.sigma.unwrap_or_else(|| {
        let width = hi - lo;
        let width = if width > 0.0 { width } else { lo.abs().max(hi.abs()).max(1.0) };
        0.01 * width
    });
    let (g0, g1) = options.grid.unwrap_or((lo - 6.0 * sigma, hi + 6.0 * sigma));
    let step = (g1 - g0) / (options.grid_points - 1) as f64;
    let grid: Vec<f64> = (0..options.grid_points).map(|i| g0 + step * i as f64).collect();

    let norm = 1.0 / (options.probes as f64 * sigma * (2.0 * std::f64::consts::PI).sqrt());
    let density = grid
        .iter()
        .map(|&x| {
            let total: f64 = nodes
                .iter()
                .zip(&weights)
                .flat_map(|(t, w): (&Vec<f64>, &Vec<f64>)| t.iter().zip(w))
                .map(|(t, w)| w * (-0.5 * ((x - t) / sigma).powi(2)).exp())
                .sum();
            total * norm
        })
        .collect();

    Ok(SpectralDensity { grid, density, nodes, weights, sigma, products })
}

/// Per-probe runs count products from 1; report the global product index instead.
fn offset_product(e: SpectraError, done: usize) -> SpectraError {
    match e {
        SpectraError::NonFinite { product } => SpectraError::NonFinite { product: product + done },
        e => e,
    }
}
