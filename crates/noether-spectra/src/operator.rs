//! Matrix-free symmetric operators: the only thing the iterative solvers know about a matrix.
//!
//! A network Hessian is never formed; it is reachable only through Hessian-vector products.
//! Every solver in this crate is therefore written against [`SymmetricOperator`], and a dense
//! matrix is just one more operator ([`DenseSymmetric`]), which is what the tests use as ground truth.

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::error::SpectraError;
use crate::scalar::Real;

/// A real symmetric linear map `y = A x` on `T^dim`, available only through products.
///
/// `apply` takes `&mut self` so that an implementation can own its workspace (activations,
/// scratch buffers of a Hessian-vector product) and keep statistics, without interior mutability.
/// Symmetry is a promise of the implementor; the solvers rely on it (Lanczos would silently
/// produce wrong Ritz values for a non-symmetric map).
pub trait SymmetricOperator<T: Real> {
    /// Dimension of the space the operator acts on.
    fn dim(&self) -> usize;

    /// Overwrites `y` with `A x`. Both slices have length [`dim`](Self::dim).
    fn apply(&mut self, x: &[T], y: &mut [T]);

    /// Overwrites every column of `y` with `A` times the matching column of `x`.
    ///
    /// The default loops over columns through contiguous buffers, because faer views may be
    /// strided. Operators that can batch (one GEMM instead of k GEMVs, one forward pass for k
    /// directions) should override it.
    fn apply_block(&mut self, x: MatRef<'_, T>, mut y: MatMut<'_, T>) {
        let n = self.dim();
        assert_eq!(x.nrows(), n, "apply_block: x has the wrong number of rows");
        assert_eq!(y.nrows(), n, "apply_block: y has the wrong number of rows");
        assert_eq!(x.ncols(), y.ncols(), "apply_block: x and y differ in columns");
        let mut xb = vec![T::ZERO; n];
        let mut yb = vec![T::ZERO; n];
        for j in 0..x.ncols() {
            for (i, xi) in xb.iter_mut().enumerate() {
                *xi = x[(i, j)];
            }
            self.apply(&xb, &mut yb);
            for (i, &yi) in yb.iter().enumerate() {
                y[(i, j)] = yi;
            }
        }
    }
}

/// Lets a solver borrow an operator (`lanczos(&mut op, ..)` or wrappers around `&mut op`)
/// without taking ownership of its workspace.
impl<T: Real, O: SymmetricOperator<T> + ?Sized> SymmetricOperator<T> for &mut O {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn apply(&mut self, x: &[T], y: &mut [T]) {
        (**self).apply(x, y)
    }
    fn apply_block(&mut self, x: MatRef<'_, T>, y: MatMut<'_, T>) {
        (**self).apply_block(x, y)
    }
}

/// A dense symmetric matrix seen as an operator: the ground truth for tests and the fallback
/// for Hessians small enough to assemble.
///
/// Products run sequentially (`Par::Seq`) because callers parallelise over seeds and runs, and
/// nested rayon parallelism inside faer would only add contention on small machines.
#[derive(Debug, Clone)]
pub struct DenseSymmetric<T: Real> {
    matrix: Mat<T>,
}

impl<T: Real> DenseSymmetric<T> {
    /// Wraps a square matrix that the caller asserts is symmetric.
    ///
    /// Only squareness is checked; use [`DenseSymmetric::symmetrized`] when the matrix was
    /// assembled column by column from products and carries rounding asymmetry.
    pub fn new(matrix: Mat<T>) -> Result<Self, SpectraError> {
        if matrix.nrows() != matrix.ncols() {
            return Err(SpectraError::NotSquare { rows: matrix.nrows(), cols: matrix.ncols() });
        }
        Ok(Self { matrix })
    }

    /// Wraps `(A + Aᵀ)/2`, the nearest symmetric matrix, so the solvers' symmetry assumption holds exactly.
    pub fn symmetrized(matrix: MatRef<'_, T>) -> Result<Self, SpectraError> {
        if matrix.nrows() != matrix.ncols() {
            return Err(SpectraError::NotSquare { rows: matrix.nrows(), cols: matrix.ncols() });
        }
        Ok(Self { matrix: symmetrize(matrix) })
    }

    /// The wrapped matrix.
    pub fn matrix(&self) -> MatRef<'_, T> {
        self.matrix.as_ref()
    }

    /// Gives the matrix back.
    pub fn into_inner(self) -> Mat<T> {
        self.matrix
    }
}

impl<T: Real> SymmetricOperator<T> for DenseSymmetric<T> {
    fn dim(&self) -> usize {
        self.matrix.nrows()
    }

    fn apply(&mut self, x: &[T], y: &mut [T]) {
        let n = self.dim();
        let x = MatRef::from_column_major_slice(x, n, 1);
        let y = MatMut::from_column_major_slice_mut(y, n, 1);
        matmul(y, Accum::Replace, self.matrix.as_ref(), x, T::ONE, Par::Seq);
    }

    fn apply_block(&mut self, x: MatRef<'_, T>, y: MatMut<'_, T>) {
        matmul(y, Accum::Replace, self.matrix.as_ref(), x, T::ONE, Par::Seq);
    }
}

/// Counts the matrix-vector products made through it.
///
/// Products are the cost unit of every experiment (one Hessian-vector product ≈ 2–3 gradients),
/// so comparisons such as "warm-started Lanczos needs 5× fewer products" are measured with this.
#[derive(Debug, Clone)]
pub struct CountingOperator<O> {
    inner: O,
    products: usize,
}

impl<O> CountingOperator<O> {
    /// Wraps `inner` with a zero count.
    pub fn new(inner: O) -> Self {
        Self { inner, products: 0 }
    }

    /// Number of products so far; a block of `k` columns counts `k`.
    pub fn products(&self) -> usize {
        self.products
    }

    /// Sets the count back to zero.
    pub fn reset(&mut self) {
        self.products = 0;
    }

    /// The wrapped operator.
    pub fn inner(&self) -> &O {
        &self.inner
    }

    /// Unwraps the operator, dropping the count.
    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<T: Real, O: SymmetricOperator<T>> SymmetricOperator<T> for CountingOperator<O> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn apply(&mut self, x: &[T], y: &mut [T]) {
        self.products += 1;
        self.inner.apply(x, y);
    }
    fn apply_block(&mut self, x: MatRef<'_, T>, y: MatMut<'_, T>) {
        self.products += x.ncols();
        self.inner.apply_block(x, y);
    }
}

/// The shifted operator `A − σI`.
///
/// Power iteration only finds the eigenvalue of largest magnitude; shifting by `σ = λ_max`
/// makes the bottom of the spectrum the largest in magnitude, so
/// `λ_min = σ + power(A − σI)`. (Lanczos gets both ends directly and does not need it.)
#[derive(Debug, Clone)]
pub struct ShiftedOperator<O> {
    inner: O,
    sigma: f64,
}

impl<O> ShiftedOperator<O> {
    /// Wraps `inner` as `inner − sigma·I`.
    pub fn new(inner: O, sigma: f64) -> Self {
        Self { inner, sigma }
    }

    /// The shift σ.
    pub fn sigma(&self) -> f64 {
        self.sigma
    }

    /// Unwraps the operator.
    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<T: Real, O: SymmetricOperator<T>> SymmetricOperator<T> for ShiftedOperator<O> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn apply(&mut self, x: &[T], y: &mut [T]) {
        self.inner.apply(x, y);
        let s = T::from_f64(self.sigma);
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi = (-s).mul_add(xi, *yi);
        }
    }
    fn apply_block(&mut self, x: MatRef<'_, T>, mut y: MatMut<'_, T>) {
        self.inner.apply_block(x, y.rb_mut());
        let s = T::from_f64(self.sigma);
        for j in 0..x.ncols() {
            for i in 0..x.nrows() {
                y[(i, j)] = (-s).mul_add(x[(i, j)], y[(i, j)]);
            }
        }
    }
}

/// `(A + Aᵀ)/2`: removes the rounding asymmetry of matrices assembled from products.
pub(crate) fn symmetrize<T: Real>(a: MatRef<'_, T>) -> Mat<T> {
    let half = T::from_f64(0.5);
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| half * (a[(i, j)] + a[(j, i)]))
}

/// [`symmetrize`] in place, entry for entry the same arithmetic (addition commutes exactly).
pub(crate) fn symmetrize_in_place<T: Real>(a: &mut Mat<T>) {
    let half = T::from_f64(0.5);
    for j in 0..a.ncols() {
        for i in j..a.nrows() {
            let s = half * (a[(i, j)] + a[(j, i)]);
            a[(i, j)] = s;
            a[(j, i)] = s;
        }
    }
}
