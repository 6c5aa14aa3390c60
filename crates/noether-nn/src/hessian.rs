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
    /// The Hessian (or Gauss–Newton matrix, per `kind`) of `eval`'s loss at `params`.
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
    /// The point θ.
    pub fn params(&self) -> &[T] {
        &self.params
    }
    /// The evaluator behind the products.
    pub fn evaluator(&self) -> &Evaluator<'d, T> {
        &self.eval
    }
    /// Full Hessian or Gauss–Newton.
    pub fn kind(&self) -> HessianKind {
        self.kind
    }
    /// True when [`HessianOperator::dense`] uses the closed form (no products).
    pub fn has_closed_form(&self) -> bool {
        let layout = self.eval.layout();
        self.kind == HessianKind::Full && layout.n_layers() == 2 && !layout.has_bias()
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

impl<'d, T: Real> HessianOperator<'d, T> {
    /// Gives the evaluator back (to reuse its buffers at other parameters).
    pub fn into_evaluator(self) -> Evaluator<'d, T> {
        self.eval
    }

    /// The dense P×P Hessian (symmetric), by the fastest exact route available: the closed
    /// form for 2-layer bias-free networks (spec E13–E23 §1.9; a few GEMMs), otherwise P
    /// products against the unit vectors. The Gauss–Newton kind always uses products.
    pub fn dense(&mut self) -> Mat<T> {
        if self.has_closed_form() { two_layer_closed_form(&self.eval, &self.params) } else { dense_hessian(self) }
    }
}

/// The exact Hessian of f(x) = W2·σ_ε(W1·x) (no biases) under (1−w)·MSE + w·CE, assembled in
/// closed form. With h_i = W1x_i, a_i = σ(h_i), s_i = σ'(h_i), per-sample output Hessian Hℓ_i
/// and output gradient g_i = ∂L/∂f_i (both including the 1/n, 1/(nK) factors):
///
/// * W2–W2: H[(k,j),(k',j')] = Σ_i Hℓ_i[k,k'] a_ij a_ij'
/// * W1–W1: H[(j,l),(j',l')] = Σ_i M_i[j,j'] x_il x_il', M_i = diag(s_i) W2ᵀ Hℓ_i W2 diag(s_i)
/// * W2–W1: H[(k,j),(j',l)] = Σ_i (Hℓ_i W2)[k,j'] a_ij s_ij' x_il + [j = j'] Σ_i g_ik s_ij x_il
///
/// (σ'' = 0, so there is no second-order activation term; the last sum is the residual term
/// that makes the Hessian indefinite.) Each block is one GEMM over the samples; the W1–W1 block,
/// the largest, is Σ_i vec(M_i)·vec(x_i x_iᵀ)ᵀ, an (m² × n)·(n × d²) product.
fn two_layer_closed_form<T: Real>(eval: &Evaluator<'_, T>, params: &[T]) -> Mat<T> {
    let par = eval.parallelism();
    use faer::linalg::matmul::matmul;
    use faer::{Accum, MatRef};
    assert!(eval.is_prepared(), "closed-form Hessian needs a prepared evaluator");
    let layout = eval.layout();
    let data = eval.data();
    let (n, d, m, k) = (data.n, layout.widths[0], layout.widths[1], layout.widths[2]);
    let p = m * d + k * m;
    let loss = eval.loss_kind();
    let c_mse = T::from_f64(loss.mse_weight() * 2.0 / (n * k) as f64);
    let c_ce = T::from_f64(loss.ce_weight / n as f64);
    let use_ce = loss.ce_weight > 0.0;
    let x = &data.x; // n×d column-major
    let z = eval.preactivation(0); // n×m
    let a = eval.hidden_activation(0); // n×m
    let g = eval.output_gradient(); // n×k
    let probs = eval.probabilities();
    let w2 = layout.weight(params, 1); // k×m row-major: W2[k,j] at k*m + j
    let slope = eval.negative_slope();
    let s = |i: usize, j: usize| if z[i + n * j] > T::ZERO { T::ONE } else { slope };

    // Per-sample output Hessians Hℓ_i (k×k, row-major), stored contiguously.
    let mut hl = vec![T::ZERO; n * k * k];
    for i in 0..n {
        let h = &mut hl[i * k * k..(i + 1) * k * k];
        for r in 0..k {
            h[r * k + r] = c_mse;
        }
        if use_ce {
            for r in 0..k {
                let pr = probs[i + n * r];
                for c in 0..k {
                    let pc = probs[i + n * c];
                    let delta = if r == c { pr } else { T::ZERO };
                    h[r * k + c] += c_ce * (delta - pr * pc);
                }
            }
        }
    }
    // Q_i = Hℓ_i W2 (k×m), row-major per sample.
    let mut q = vec![T::ZERO; n * k * m];
    for i in 0..n {
        let h = &hl[i * k * k..(i + 1) * k * k];
        let qi = &mut q[i * k * m..(i + 1) * k * m];
        for r in 0..k {
            for c in 0..k {
                let hrc = h[r * k + c];
                if hrc != T::ZERO {
                    for j in 0..m {
                        qi[r * m + j] += hrc * w2[c * m + j];
                    }
                }
            }
        }
    }

    let mut hess = Mat::<T>::zeros(p, p);

    // W1–W1: R (m² × d²) = Mmat (m² × n) · Xk (n × d²).
    {
        let mut mmat = vec![T::ZERO; m * m * n]; // column i = vec(M_i), index j + m j'
        for i in 0..n {
            let qi = &q[i * k * m..(i + 1) * k * m];
            let col = &mut mmat[i * m * m..(i + 1) * m * m];
            for jp in 0..m {
                let sjp = s(i, jp);
                for j in 0..m {
                    let mut acc = T::ZERO;
                    for r in 0..k {
                        acc += w2[r * m + j] * qi[r * m + jp];
                    }
                    col[j + m * jp] = s(i, j) * acc * sjp;
                }
            }
        }
        let mut xk = vec![T::ZERO; n * d * d]; // n × d² column-major: column (l + d l')
        for lp in 0..d {
            for l in 0..d {
                let c = &mut xk[(l + d * lp) * n..(l + d * lp + 1) * n];
                for i in 0..n {
                    c[i] = x[i + n * l] * x[i + n * lp];
                }
            }
        }
        let mut r = vec![T::ZERO; m * m * d * d];
        matmul(
            faer::MatMut::from_column_major_slice_mut(&mut r, m * m, d * d),
            Accum::Replace,
            MatRef::from_column_major_slice(&mmat, m * m, n),
            MatRef::from_column_major_slice(&xk, n, d * d),
            T::ONE,
            par,
        );
        crate::eval::clear_upper_simd_state();
        for lp in 0..d {
            for l in 0..d {
                let c = &r[(l + d * lp) * m * m..(l + d * lp + 1) * m * m];
                for jp in 0..m {
                    for j in 0..m {
                        hess[(j * d + l, jp * d + lp)] = c[j + m * jp];
                    }
                }
            }
        }
    }

    // W2–W2: for each (k, k'), Aᵀ·diag(Hℓ[k,k'])·A (m×m).
    {
        let mut scaled = vec![T::ZERO; n * m];
        let mut block = vec![T::ZERO; m * m];
        for r in 0..k {
            for c in r..k {
                for j in 0..m {
                    for i in 0..n {
                        scaled[i + n * j] = hl[i * k * k + r * k + c] * a[i + n * j];
                    }
                }
                matmul(
                    faer::MatMut::from_column_major_slice_mut(&mut block, m, m),
                    Accum::Replace,
                    MatRef::from_column_major_slice(a, n, m).transpose(),
                    MatRef::from_column_major_slice(&scaled, n, m),
                    T::ONE,
                    par,
                );
                crate::eval::clear_upper_simd_state();
                let off = m * d;
                for jp in 0..m {
                    for j in 0..m {
                        let v = block[j + m * jp];
                        hess[(off + r * m + j, off + c * m + jp)] = v;
                        hess[(off + c * m + jp, off + r * m + j)] = v;
                    }
                }
            }
        }
    }

    // W2–W1: T1 (m × k·m·d) = Aᵀ (m × n) · V (n × k·m·d), V[i,(r,j',l)] = Q_i[r,j'] s_ij' x_il;
    // plus the residual term on j = j'.
    {
        let cols = k * m * d;
        let mut v = vec![T::ZERO; n * cols]; // column (l + d (j' + m r))
        for r in 0..k {
            for jp in 0..m {
                for l in 0..d {
                    let col = &mut v[(l + d * (jp + m * r)) * n..(l + d * (jp + m * r) + 1) * n];
                    for i in 0..n {
                        col[i] = q[i * k * m + r * m + jp] * s(i, jp) * x[i + n * l];
                    }
                }
            }
        }
        let mut t1 = vec![T::ZERO; m * cols];
        matmul(
            faer::MatMut::from_column_major_slice_mut(&mut t1, m, cols),
            Accum::Replace,
            MatRef::from_column_major_slice(a, n, m).transpose(),
            MatRef::from_column_major_slice(&v, n, cols),
            T::ONE,
            par,
        );
        crate::eval::clear_upper_simd_state();
        let off = m * d;
        for r in 0..k {
            for jp in 0..m {
                for l in 0..d {
                    let c = l + d * (jp + m * r);
                    for j in 0..m {
                        let mut val = t1[j + m * c];
                        if j == jp {
                            let mut res = T::ZERO;
                            for i in 0..n {
                                res += g[i + n * r] * s(i, j) * x[i + n * l];
                            }
                            val += res;
                        }
                        hess[(off + r * m + j, jp * d + l)] = val;
                        hess[(jp * d + l, off + r * m + j)] = val;
                    }
                }
            }
        }
    }
    hess
}
