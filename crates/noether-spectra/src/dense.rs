//! Full dense eigendecomposition, with a memory guard.
//!
//! For small networks the whole Hessian can be assembled (one product per basis vector) and
//! diagonalised exactly; this is the ground truth the iterative methods are checked against.
//! The cost grows as p² memory and p³ time, so [`check_dense`] refuses sizes that would exhaust
//! the machine and points to the matrix-free alternatives instead.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::{Col, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

use crate::error::SpectraError;
use crate::operator::{symmetrize, symmetrize_in_place};
use crate::scalar::Real;

/// Memory allowed for dense eigen-analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryBudget {
    /// Budget in bytes.
    pub bytes: u64,
}

impl Default for MemoryBudget {
    /// 2 GiB for the decomposition itself ([`dense_bytes`] includes faer's workspace): p ≤ 6400
    /// with eigenvectors in f64, p ≤ 8700 values only.
    fn default() -> Self {
        Self { bytes: 2 << 30 }
    }
}

impl MemoryBudget {
    /// A budget of `gib` gibibytes.
    pub fn from_gib(gib: f64) -> Self {
        Self { bytes: (gib * (1u64 << 30) as f64) as u64 }
    }
}

/// Bytes a dense `p×p` eigen-analysis holds at its peak, as p×p matrices of `elem_bytes`:
/// the caller's matrix, its symmetrised copy and faer's workspace (≈ p² for values only, ≈ 3p²
/// with vectors, measured with heaptrack at p = 1600), plus the eigenvector matrix when
/// requested: 3p² values only, 6p² with vectors, plus p²/2 for faer's smaller buffers (they
/// measure 0.06–0.35 p² for p = 100…1000). `tests/dense_memory.rs` checks this bound against
/// the allocator's own count.
pub fn dense_bytes(p: usize, elem_bytes: usize, with_vectors: bool) -> u64 {
    let half_matrices: u128 = if with_vectors { 13 } else { 7 };
    let bytes = (p as u128) * (p as u128) * (elem_bytes as u128) * half_matrices / 2;
    u64::try_from(bytes).unwrap_or(u64::MAX)
}

/// Refuses a dense `p×p` eigen-analysis that would not fit in `budget`.
///
/// The error message names the size, the budget and the matrix-free alternatives (Lanczos for
/// extreme eigenvalues, SLQ for the density), because the person who hits it is usually about
/// to launch a long run with the wrong method.
pub fn check_dense(p: usize, elem_bytes: usize, with_vectors: bool, budget: MemoryBudget) -> Result<(), SpectraError> {
    let needed = dense_bytes(p, elem_bytes, with_vectors);
    if needed > budget.bytes {
        return Err(SpectraError::DenseTooLarge {
            p,
            elem_bytes,
            with_vectors,
            needed_bytes: needed,
            budget_bytes: budget.bytes,
        });
    }
    Ok(())
}

/// A full symmetric eigendecomposition.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseEigen {
    /// All eigenvalues, ascending.
    pub values: Vec<f64>,
    /// Orthonormal eigenvectors as columns, matching `values`, if requested.
    pub vectors: Option<Mat<f64>>,
}

/// All eigenvalues (ascending) and optionally eigenvectors of a symmetric matrix.
///
/// The matrix is first symmetrised as `(A + Aᵀ)/2`, since a Hessian assembled from products is
/// symmetric only to rounding and faer reads one triangle only. The decomposition runs in `T`'s
/// precision (so f32 results reflect f32 arithmetic) and is returned as f64. Values-only is
/// about twice as fast; the two paths differ at the 1e-13 level, so do not mix them in
/// regression comparisons. The caller is expected to have passed [`check_dense`].
///
/// Runs sequentially (`Par::Seq`), whatever faer's global setting: callers parallelise over
/// runs, and a result must not depend on the thread count. [`dense_eigen_par`] takes the
/// parallelism as an argument.
pub fn dense_eigen<T: Real>(mat: MatRef<'_, T>, vectors: bool) -> Result<DenseEigen, SpectraError> {
    dense_eigen_par(mat, vectors, Par::Seq)
}

/// [`dense_eigen`] with faer's parallelism `par` (`Par::rayon(0)`: all cores). With
/// `Par::Seq` it is [`dense_eigen`].
pub fn dense_eigen_par<T: Real>(mat: MatRef<'_, T>, vectors: bool, par: Par) -> Result<DenseEigen, SpectraError> {
    check_square_finite(mat)?;
    eigen_of_symmetric(symmetrize(mat), vectors, par)
}

/// [`dense_eigen`] of a matrix the caller no longer needs: it is symmetrised in place, so the
/// decomposition holds one p×p input fewer (for a 1600×1600 f64 Hessian with vectors, ≈ 100 MB
/// at peak instead of ≈ 120 MB). The result is bit-identical to [`dense_eigen`]'s.
pub fn dense_eigen_owned<T: Real>(mat: Mat<T>, vectors: bool) -> Result<DenseEigen, SpectraError> {
    dense_eigen_owned_par(mat, vectors, Par::Seq)
}

/// [`dense_eigen_owned`] with faer's parallelism `par`.
pub fn dense_eigen_owned_par<T: Real>(mut mat: Mat<T>, vectors: bool, par: Par) -> Result<DenseEigen, SpectraError> {
    check_square_finite(mat.as_ref())?;
    symmetrize_in_place(&mut mat);
    eigen_of_symmetric(mat, vectors, par)
}

fn check_square_finite<T: Real>(mat: MatRef<'_, T>) -> Result<(), SpectraError> {
    let (rows, cols) = (mat.nrows(), mat.ncols());
    if rows != cols {
        return Err(SpectraError::NotSquare { rows, cols });
    }
    for j in 0..cols {
        for i in 0..rows {
            if !mat[(i, j)].is_finite() {
                return Err(SpectraError::NonFiniteMatrix { row: i, col: j });
            }
        }
    }
    Ok(())
}

/// Decomposes `sym`, which is exactly symmetric; consumes it so that it is freed as early as
/// possible. faer's low-level solver with an explicit `par` (its high-level `self_adjoint_eigen`
/// would read the process-wide parallelism); values ascending, as faer returns them.
fn eigen_of_symmetric<T: Real>(sym: Mat<T>, vectors: bool, par: Par) -> Result<DenseEigen, SpectraError> {
    let n = sym.nrows();
    if n == 0 {
        return Ok(DenseEigen { values: Vec::new(), vectors: vectors.then(|| Mat::zeros(0, 0)) });
    }
    let want = if vectors { ComputeEigenvectors::Yes } else { ComputeEigenvectors::No };
    let mut s = Col::<T>::zeros(n);
    let mut u = if vectors { Mat::<T>::zeros(n, n) } else { Mat::<T>::zeros(0, 0) };
    let mut buf = MemBuffer::new(evd::self_adjoint_evd_scratch::<T>(n, want, par, Default::default()));
    evd::self_adjoint_evd(
        sym.as_ref(),
        s.as_mut().as_diagonal_mut(),
        vectors.then(|| u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|_| SpectraError::DenseNoConvergence)?;
    drop(sym); // before the f64 copy of the vectors below
    Ok(DenseEigen {
        values: (0..n).map(|i| s[i].to_f64()).collect(),
        vectors: vectors.then(|| Mat::from_fn(n, n, |i, j| u[(i, j)].to_f64())),
    })
}
