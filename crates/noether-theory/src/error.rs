//! The crate's single error type.
//!
//! Every public function validates its input and returns a [`TheoryError`] instead of
//! panicking: wrong lengths, too few usable points after a mask, non-finite values where
//! finite ones are required, degenerate designs (all x equal, singular systems).

use thiserror::Error;

/// Result alias used by every fallible function of the crate.
pub type Result<T> = std::result::Result<T, TheoryError>;

/// What can go wrong when a formula or fit is fed bad input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TheoryError {
    /// Fewer usable points than the fit or statistic needs (counted *after* masking).
    #[error("too few usable points: needed {needed}, got {got} (after masking)")]
    TooFewPoints {
        /// Minimum number of points required.
        needed: usize,
        /// Number of points that survived the mask / were supplied.
        got: usize,
    },
    /// Two inputs that must have matching lengths do not.
    #[error("length mismatch in {what}: {left} vs {right}")]
    LengthMismatch {
        /// Which pair of inputs.
        what: &'static str,
        /// Length of the first input.
        left: usize,
        /// Length of the second input (or the length it had to be).
        right: usize,
    },
    /// A value is outside the domain of the formula (negative learning rate, NaN where a
    /// finite number is required, probability vector not summing to one, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The problem is degenerate: zero variance in the regressor, singular least-squares
    /// system, no feasible active set, …
    #[error("degenerate problem: {0}")]
    Degenerate(String),
    /// An iterative routine (Jacobi eigensolver) did not converge.
    #[error("no convergence: {0}")]
    NoConvergence(String),
    /// A parabolic minimum was requested but the best grid point is at the edge of the grid
    /// (index given), so it has no two neighbours.
    #[error("minimum at the boundary of the grid (index {index} of {len})")]
    MinimumAtBoundary {
        /// Index of the best grid point.
        index: usize,
        /// Grid length.
        len: usize,
    },
}

pub(crate) fn check_len(what: &'static str, a: usize, b: usize) -> Result<()> {
    if a != b {
        return Err(TheoryError::LengthMismatch { what, left: a, right: b });
    }
    Ok(())
}

pub(crate) fn check_finite(what: &str, xs: &[f64]) -> Result<()> {
    if let Some(i) = xs.iter().position(|v| !v.is_finite()) {
        return Err(TheoryError::InvalidInput(format!("{what}[{i}] = {} is not finite", xs[i])));
    }
    Ok(())
}

pub(crate) fn check_min_points(needed: usize, got: usize) -> Result<()> {
    if got < needed {
        return Err(TheoryError::TooFewPoints { needed, got });
    }
    Ok(())
}
