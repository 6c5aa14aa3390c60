//! The loss Hessian as an operator (for Lanczos and friends) and as a dense matrix.

use faer::Mat;
use noether_spectra::SymmetricOperator;

use crate::{Evaluator, ForwardStats, Real};

/// Which curvature matrix an operator applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HessianKind {
    /// The exact Hessian of the loss (indefinite; includes the residual terms).
    Full,
    /// The Gauss–Newton matrix Jᵀ H_f J (positive semi-definite).
    GaussNewton,
}

/// The Hessian (or Gauss–Newton matrix) of the training loss at fixed parameters, applied by
/// exact R-operator products. The forward and backward pass at θ are computed once, at
/// construction; each product then costs only the tangent passes.
pub struct HessianOperator<'d, T: Real> {
    eval: Evaluator<'d, T>,
    params: Vec<T>,
    kind: HessianKind,
    stats: ForwardStats,
    grad: Vec<T>,
}

impl<'d, T: Real> HessianOperator<'d, T> {
    pub fn new(mut eval: Evaluator<'d, T>, params: Vec<T>, kind: HessianKind) -> Self {
        let mut grad = vec![T::ZERO; params.len()];
        let stats = eval.prepare(&params, &mut grad);
        HessianOperator { eval, params, kind, stats, grad }
    }

    /// Loss and accuracy at the operator's point.
    pub fn stats(&self) -> ForwardStats {
        self.stats
    }
    /// Gradient at the operator's point.
    pub fn gradient(&self) -> &[T] {
        &self.grad
    }
    pub fn params(&self) -> &[T] {
        &self.params
    }
    pub fn evaluator(&self) -> &Evaluator<'d, T> {
        &self.eval
    }
}

impl<T: Real> SymmetricOperator<T> for HessianOperator<'_, T> {
    fn dim(&self) -> usize {
        self.params.len()
    }
    fn apply(&mut self, x: &[T], y: &mut [T]) {
        match self.kind {
            HessianKind::Full => self.eval.hvp_cached(&self.params, x, y),
            HessianKind::GaussNewton => self.eval.gnvp_cached(&self.params, x, y),
        }
    }
}

/// The dense P×P matrix of an operator (the Hessian, for [`HessianOperator`]) by P exact
/// products against the unit vectors, symmetrised.
///
/// The caller is responsible for the memory guard (see `noether_spectra::check_dense`).
pub fn dense_hessian<T: Real, O: SymmetricOperator<T> + ?Sized>(op: &mut O) -> Mat<T> {
    let p = op.dim();
    let mut h = Mat::<T>::zeros(p, p);
    let mut e = vec![T::ZERO; p];
    let mut col = vec![T::ZERO; p];
    for j in 0..p {
        e[j] = T::ONE;
        op.apply(&e, &mut col);
        e[j] = T::ZERO;
        for i in 0..p {
            h[(i, j)] = col[i];
        }
    }
    let half = T::from_f64(0.5);
    for j in 0..p {
        for i in j + 1..p {
            let s = (h[(i, j)] + h[(j, i)]) * half;
            h[(i, j)] = s;
            h[(j, i)] = s;
        }
    }
    h
}
