//! Power iteration for the eigenvalue of largest magnitude.
//!
//! Two flavours: [`power_iteration_reference`] reproduces the fixed-iteration loop of the
//! reference implementation (so numbers can be compared with the papers' code), and
//! [`power_iteration`] stops on a residual tolerance. Both report the residual `‖Hv − λv‖`
//! and say when they did not converge: power iteration silently returns garbage when the two
//! largest |λ| are equal (e.g. `+λ` and `−λ`) or close, and a Hessian of a trained network
//! often has exactly that shape.

use serde::{Deserialize, Serialize};

use crate::error::SpectraError;
use crate::operator::SymmetricOperator;
use crate::scalar::Real;
use crate::vecops::{self, ZERO_NORM};

/// Options of the tolerance-controlled [`power_iteration`].
#[derive(Debug, Clone, Copy)]
pub struct PowerOptions<'a, T> {
    /// Maximum number of products (each iteration costs one).
    pub max_iter: usize,
    /// Stop when `‖Hv − λv‖ ≤ tol·|λ|`.
    pub tol: f64,
    /// Seed of the ChaCha8 stream drawing the standard-normal start vector.
    pub seed: u64,
    /// Warm start (normalised internally); overrides `seed`. Reusing the previous eigenvector
    /// makes tracking λ_max along a training trajectory cheap.
    pub start: Option<&'a [T]>,
}

impl<T> Default for PowerOptions<'_, T> {
    fn default() -> Self {
        Self { max_iter: 1000, tol: 1e-6, seed: 0, start: None }
    }
}

/// Outcome of a power iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerResult<T> {
    /// Estimate of the eigenvalue of largest magnitude, with its sign (Rayleigh quotient).
    pub value: f64,
    /// The final iterate (unit norm up to `T`'s rounding), usable as the next warm start.
    pub vector: Vec<T>,
    /// Power steps taken.
    pub iterations: usize,
    /// Operator products spent.
    pub products: usize,
    /// `‖Hv − λv‖` for the returned `(value, vector)`, from a product already made.
    pub residual: f64,
    /// Whether `residual ≤ tol·|value|` (or the product vanished below 1e-12, in which case
    /// `(0, v)` is an eigenpair to that accuracy).
    pub converged: bool,
}

fn is_converged(residual: f64, value: f64, tol: f64) -> bool {
    residual <= tol * value.abs() || residual < ZERO_NORM
}

/// `‖y − λx‖`, accumulated in f64.
fn residual_norm<T: Real>(y: &[T], x: &[T], lambda: f64) -> f64 {
    y.iter()
        .zip(x)
        .map(|(&yi, &xi)| {
            let r = yi.to_f64() - lambda * xi.to_f64();
            r * r
        })
        .sum::<f64>()
        .sqrt()
}

fn start_vector<T: Real>(n: usize, seed: u64, start: Option<&[T]>) -> Result<Vec<T>, SpectraError> {
    let v = match start {
        Some(s) => {
            if s.len() != n {
                return Err(SpectraError::DimensionMismatch { expected: n, got: s.len() });
            }
            s.iter().map(|x| x.to_f64()).collect()
        }
        None => vecops::gaussian(&mut vecops::rng(seed), n),
    };
    Ok(vecops::normalized(v)?.into_iter().map(T::from_f64).collect())
}

/// `v ← y/‖y‖`, dividing in f64 so an f32 iterate stays as close to unit norm as f32 allows.
fn assign_normalized<T: Real>(v: &mut [T], y: &[T], norm: f64) {
    for (vi, &yi) in v.iter_mut().zip(y) {
        *vi = T::from_f64(yi.to_f64() / norm);
    }
}

/// Power iteration with the reference implementation's exact semantics.
///
/// Start from a normalised standard-normal vector (ChaCha8 seeded with `rng_seed`), do
/// `n_iter` steps `v ← Hv/‖Hv‖` (returning 0 as soon as `‖Hv‖ < 1e-12`), then spend ONE extra
/// product on the Rayleigh quotient `vᵀHv`: `n_iter + 1` products in total. The result is the
/// eigenvalue of largest magnitude *with its sign*.
///
/// The reference never checks convergence; here the last product also gives the residual
/// `‖Hv − λv‖` for free, and `converged = residual ≤ tol·|λ|`, so a run that stopped before
/// converging (no spectral gap, `±λ` pair) is flagged instead of trusted.
pub fn power_iteration_reference<T: Real, O: SymmetricOperator<T> + ?Sized>(
    op: &mut O,
    n_iter: usize,
    rng_seed: u64,
    tol: f64,
) -> Result<PowerResult<T>, SpectraError> {
    let n = op.dim();
    if n == 0 {
        return Err(SpectraError::EmptyOperator);
    }
    let mut v = start_vector::<T>(n, rng_seed, None)?;
    let mut hv = vec![T::ZERO; n];
    let mut products = 0;
    for iteration in 0..n_iter {
        op.apply(&v, &mut hv);
        products += 1;
        vecops::check_finite(&hv, products)?;
        let nrm = vecops::norm(&hv);
        if nrm < ZERO_NORM {
            return Ok(PowerResult {
                value: 0.0,
                vector: v,
                iterations: iteration,
                products,
                residual: nrm,
                converged: true,
            });
        }
        assign_normalized(&mut v, &hv, nrm);
    }
    op.apply(&v, &mut hv);
    products += 1;
    vecops::check_finite(&hv, products)?;
    let value = vecops::dot(&v, &hv);
    let residual = residual_norm(&hv, &v, value);
    Ok(PowerResult {
        value,
        vector: v,
        iterations: n_iter,
        products,
        residual,
        converged: is_converged(residual, value, tol),
    })
}

/// Power iteration stopped by the relative residual `‖Hv − λv‖/|λ| ≤ tol`.
///
/// Each iteration costs one product, which yields both the Rayleigh quotient and the residual
/// of the current iterate, so checking convergence is free. Converges at rate |λ₂/λ₁|; prefer
/// [`lanczos`](crate::lanczos()) when the gap is small, which needs far fewer products.
pub fn power_iteration<T: Real, O: SymmetricOperator<T> + ?Sized>(
    op: &mut O,
    options: &PowerOptions<'_, T>,
) -> Result<PowerResult<T>, SpectraError> {
    let n = op.dim();
    if n == 0 {
        return Err(SpectraError::EmptyOperator);
    }
    if options.max_iter == 0 {
        return Err(SpectraError::InvalidOption("power iteration needs max_iter ≥ 1".into()));
    }
    let mut v = start_vector(n, options.seed, options.start)?;
    let mut hv = vec![T::ZERO; n];
    let mut value = 0.0;
    let mut residual = f64::INFINITY;
    for iteration in 1..=options.max_iter {
        op.apply(&v, &mut hv);
        vecops::check_finite(&hv, iteration)?;
        let nrm = vecops::norm(&hv);
        if nrm < ZERO_NORM {
            return Ok(PowerResult {
                value: 0.0,
                vector: v,
                iterations: iteration,
                products: iteration,
                residual: nrm,
                converged: true,
            });
        }
        // Divide by vᵀv: with T = f32 the stored iterate is unit only to ~1e-7.
        value = vecops::dot(&v, &hv) / vecops::dot(&v, &v);
        residual = residual_norm(&hv, &v, value);
        if is_converged(residual, value, options.tol) {
            return Ok(PowerResult {
                value,
                vector: v,
                iterations: iteration,
                products: iteration,
                residual,
                converged: true,
            });
        }
        if iteration < options.max_iter {
            assign_normalized(&mut v, &hv, nrm);
        }
    }
    Ok(PowerResult {
        value,
        vector: v,
        iterations: options.max_iter,
        products: options.max_iter,
        residual,
        converged: false,
    })
}
