//! Small vector kernels shared by the solvers.
//!
//! Everything accumulates in f64, whatever the operator's scalar: with `T = f32` a norm or dot
//! product summed in f32 over 10⁵ parameters would lose several digits and make convergence
//! tests meaningless.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use crate::error::SpectraError;
use crate::operator::SymmetricOperator;
use crate::scalar::Real;

/// Below this norm a product is treated as zero (the reference implementation's threshold).
pub(crate) const ZERO_NORM: f64 = 1e-12;

pub(crate) fn dot<A: Real, B: Real>(a: &[A], b: &[B]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x.to_f64() * y.to_f64()).sum()
}

pub(crate) fn norm<A: Real>(a: &[A]) -> f64 {
    a.iter().map(|&x| x.to_f64() * x.to_f64()).sum::<f64>().sqrt()
}

pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A standard normal vector, drawn in f64 so the stream does not depend on `T`.
pub(crate) fn gaussian(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(rng);
            z
        })
        .collect()
}

/// A vector of independent ±1 entries.
pub(crate) fn rademacher(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect()
}

/// Scales `v` to unit norm, refusing zero or non-finite vectors.
pub(crate) fn normalized(mut v: Vec<f64>) -> Result<Vec<f64>, SpectraError> {
    let nv = norm(&v);
    if !nv.is_finite() || nv <= f64::MIN_POSITIVE {
        return Err(SpectraError::ZeroStartVector);
    }
    v.iter_mut().for_each(|x| *x /= nv);
    Ok(v)
}

/// Applies `op` to an f64 vector through T-valued buffers and checks the result is finite.
///
/// `product` is the 1-based index of this product, reported in the error so a user can tell
/// whether the operator was broken from the start or diverged later.
pub(crate) fn apply_f64<T: Real, O: SymmetricOperator<T> + ?Sized>(
    op: &mut O,
    x: &[f64],
    y: &mut [f64],
    xbuf: &mut [T],
    ybuf: &mut [T],
    product: usize,
) -> Result<(), SpectraError> {
    for (b, &v) in xbuf.iter_mut().zip(x) {
        *b = T::from_f64(v);
    }
    op.apply(xbuf, ybuf);
    for (o, &v) in y.iter_mut().zip(ybuf.iter()) {
        let v = v.to_f64();
        if !v.is_finite() {
            return Err(SpectraError::NonFinite { product });
        }
        *o = v;
    }
    Ok(())
}

/// Checks a T-valued product is finite.
pub(crate) fn check_finite<T: Real>(y: &[T], product: usize) -> Result<(), SpectraError> {
    if y.iter().all(|v| v.is_finite()) { Ok(()) } else { Err(SpectraError::NonFinite { product }) }
}
