//! Hutchinson's stochastic trace estimator.
//!
//! `tr(A) = E[zᵀAz]` for any probe with `E[zzᵀ] = I`. Rademacher probes minimise the variance
//! among such distributions (`Var = 2 Σ_{i≠j} A_ij²`), and make the estimate exact for a
//! diagonal matrix, which is a useful sanity check.

use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

use crate::error::SpectraError;
use crate::operator::SymmetricOperator;
use crate::scalar::Real;
use crate::slq::std_error;
use crate::vecops;

/// Probes applied together through [`SymmetricOperator::apply_block`], so batched operators
/// (one GEMM / one forward pass for many directions) are used as such.
const BLOCK: usize = 8;

/// A trace estimate with its uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TraceEstimate {
    /// Mean of `zᵀAz` over the probes.
    pub estimate: f64,
    /// Standard error of that mean (sample standard deviation / √probes; ∞ for one probe).
    pub std_error: f64,
    /// Number of probes used.
    pub probes: usize,
    /// Operator products spent (= probes).
    pub products: usize,
}

/// Estimates `tr(A)` with `probes` Rademacher probes drawn from ChaCha8(`seed`).
pub fn hutchinson_trace<T: Real, O: SymmetricOperator<T> + ?Sized>(
    op: &mut O,
    probes: usize,
    seed: u64,
) -> Result<TraceEstimate, SpectraError> {
    let n = op.dim();
    if n == 0 {
        return Err(SpectraError::EmptyOperator);
    }
    if probes == 0 {
        return Err(SpectraError::InvalidOption("Hutchinson needs at least one probe".into()));
    }
    let mut rng = vecops::rng(seed);
    let mut samples = Vec::with_capacity(probes);
    while samples.len() < probes {
        let k = BLOCK.min(probes - samples.len());
        let z: Vec<Vec<f64>> = (0..k).map(|_| vecops::rademacher(&mut rng, n)).collect();
        let x = Mat::<T>::from_fn(n, k, |i, j| T::from_f64(z[j][i]));
        let mut y = Mat::<T>::zeros(n, k);
        op.apply_block(x.as_ref(), y.as_mut());
        for (j, zj) in z.iter().enumerate() {
            let product = samples.len() + 1;
            let yj = column(y.as_ref(), j);
            vecops::check_finite(&yj, product)?;
            samples.push(vecops::dot(zj, &yj));
        }
    }
    let estimate = samples.iter().sum::<f64>() / probes as f64;
    Ok(TraceEstimate { estimate, std_error: std_error(&samples), probes, products: probes })
}

fn column<T: Real>(m: MatRef<'_, T>, j: usize) -> Vec<T> {
    (0..m.nrows()).map(|i| m[(i, j)]).collect()
}
