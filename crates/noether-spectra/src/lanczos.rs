//! Lanczos with full reorthogonalisation: extreme eigenpairs and tridiagonal matrices.
//!
//! Plain three-term Lanczos loses orthogonality as soon as a Ritz value converges and then
//! produces spurious copies ("ghosts") of converged eigenvalues. For a Hessian the products
//! dominate the cost by orders of magnitude, so we keep the whole basis (in f64) and
//! re-orthogonalise every new vector against all of it, twice (classical Gram–Schmidt twice is
//! enough for orthogonality to machine precision). That makes the Ritz values trustworthy and
//! the convergence test honest.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self, ComputeEigenvectors};
use faer::linalg::matmul::matmul;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, Col, Mat, MatMut, MatRef, Par};
use rand::rngs::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::SpectraError;
use crate::operator::SymmetricOperator;
use crate::scalar::Real;
use crate::vecops;

/// Relative size of β below which the Krylov space is declared invariant (the Ritz values are
/// then exact eigenvalues of the operator).
const INVARIANT_REL: f64 = 1e-12;

/// Options of [`lanczos`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LanczosOptions {
    /// Number of largest (algebraic) eigenpairs wanted.
    pub k_top: usize,
    /// Number of smallest (algebraic) eigenpairs wanted.
    pub k_bottom: usize,
    /// Maximum Krylov dimension (= products before the residual check). `None` means
    /// `min(dim, 300)`: with full reorthogonalisation the basis costs `dim × max_iter` f64.
    pub max_iter: Option<usize>,
    /// A Ritz pair counts as converged when its residual is `≤ tol · scale`, where `scale` is the
    /// running estimate of ‖A‖ (the largest ‖A q‖ seen). Relative to ‖A‖ rather than |λ|
    /// because eigenvalues near zero can only be resolved to ‖A‖·ε. Keep it above the
    /// operator's own rounding level (≈1e-6 for f32 products). For tracking λ_max, 1e-6 is
    /// plenty: the Ritz value error is ≈ residual²/gap, far below the residual itself.
    pub tol: f64,
    /// Seed of the ChaCha8 stream for the standard-normal start vector (and for restarts).
    pub seed: u64,
    /// Warm start, normalised internally. The previous top eigenvector makes tracking λ_max
    /// along training cost a few products instead of a full cold solve.
    pub start: Option<Vec<f64>>,
    /// Diagonalise the tridiagonal matrix every `check_every` steps (0 is treated as 1).
    /// Checking is O(m²)–O(m³) on an m×m matrix, negligible next to a network's
    /// Hessian-vector product, but worth thinning out for cheap operators and large m.
    pub check_every: usize,
    /// Report explicit residuals `‖Av − λv‖` (one extra product per returned pair). When
    /// false, the Lanczos estimate `β_m·|s_m|` is reported instead — exact in exact arithmetic
    /// with full reorthogonalisation, and the cheap choice when tracking λ_max at many points
    /// of a trajectory, where the extra product would be a large share of a warm-started solve.
    pub explicit_residuals: bool,
}

impl Default for LanczosOptions {
    fn default() -> Self {
        Self {
            k_top: 1,
            k_bottom: 0,
            max_iter: None,
            tol: 1e-10,
            seed: 0,
            start: None,
            check_every: 1,
            explicit_residuals: true,
        }
    }
}

/// One eigenpair estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EigenPair {
    /// Ritz value.
    pub value: f64,
    /// Ritz vector, unit norm.
    pub vector: Vec<f64>,
    /// `‖Av − λv‖`, computed *explicitly* with one extra product per returned pair rather than
    /// taken from the Lanczos estimate `β_m·|s_m|`: the estimate assumes exact arithmetic and an
    /// exactly symmetric operator, the explicit residual does not.
    pub residual: f64,
    /// Whether `residual ≤ tol · scale` (see [`LanczosOptions::tol`]).
    pub converged: bool,
}

/// Outcome of [`lanczos`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LanczosResult {
    /// Largest eigenpairs, in descending order of value.
    pub top: Vec<EigenPair>,
    /// Smallest eigenpairs, in ascending order of value.
    pub bottom: Vec<EigenPair>,
    /// Lanczos steps taken (the final Krylov dimension).
    pub iterations: usize,
    /// Operator products spent, including one per returned pair for the explicit residual.
    pub products: usize,
    /// Every requested pair was returned and has converged.
    pub converged_all: bool,
    /// Estimate of ‖A‖ (largest ‖A q‖ over the basis), the scale of the tolerance.
    pub scale: f64,
}

/// The tridiagonal matrix (and optionally the basis) of an m-step Lanczos run; see [`lanczos_tridiagonal`].
#[derive(Debug, Clone, PartialEq)]
pub struct LanczosTridiagonal {
    /// Diagonal of T (length = steps actually taken).
    pub alpha: Vec<f64>,
    /// Off-diagonal of T (length = steps − 1).
    pub beta: Vec<f64>,
    /// The β that would couple the next Lanczos vector; zero when an invariant subspace was hit.
    pub beta_next: f64,
    /// The orthonormal Lanczos vectors as columns (dim × steps), if requested.
    pub basis: Option<Mat<f64>>,
    /// Operator products spent (= steps).
    pub products: usize,
}

/// Outcome of one Lanczos step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// A new basis vector was appended.
    Extended,
    /// β vanished: the basis spans an invariant subspace.
    Invariant,
}

/// A growing Lanczos factorisation `A V_m = V_m T_m + β_m q_{m+1} e_mᵀ` with a fully
/// reorthogonalised basis.
struct Krylov<T> {
    n: usize,
    /// Column-major basis q_0, q_1, … (one column ahead of `alpha` unless invariant).
    basis: Vec<f64>,
    alpha: Vec<f64>,
    /// `beta[j]` couples q_j and q_{j+1}; zero at invariant-subspace restarts.
    beta: Vec<f64>,
    scale: f64,
    products: usize,
    w: Vec<f64>,
    h: Vec<f64>,
    xbuf: Vec<T>,
    ybuf: Vec<T>,
}

impl<T: Real> Krylov<T> {
    /// Starts from a unit vector `q0`, reserving room for `max_cols` basis vectors.
    fn new(q0: Vec<f64>, max_cols: usize) -> Self {
        let n = q0.len();
        let mut basis = Vec::with_capacity(n * max_cols.max(1));
        basis.extend_from_slice(&q0);
        Self {
            n,
            basis,
            alpha: Vec::new(),
            beta: Vec::new(),
            scale: 0.0,
            products: 0,
            w: vec![0.0; n],
            h: Vec::new(),
            xbuf: vec![T::ZERO; n],
            ybuf: vec![T::ZERO; n],
        }
    }

    fn cols(&self) -> usize {
        if self.n == 0 { 0 } else { self.basis.len() / self.n }
    }

    fn steps(&self) -> usize {
        self.alpha.len()
    }

    /// `w ← w − V Vᵀ w` over all stored columns, twice; the summed coefficients go to `h`.
    fn orthogonalize(&mut self) {
        let k = self.cols();
        let n = self.n;
        self.h.clear();
        self.h.resize(k, 0.0);
        let mut coef = vec![0.0; k];
        let v = MatRef::from_column_major_slice(&self.basis, n, k);
        for _ in 0..2 {
            let mut w = MatMut::from_column_major_slice_mut(&mut self.w, n, 1);
            let c = MatMut::from_column_major_slice_mut(&mut coef, k, 1);
            matmul(c, Accum::Replace, v.transpose(), w.rb(), 1.0, Par::Seq);
            let c = MatRef::from_column_major_slice(&coef, k, 1);
            matmul(w.rb_mut(), Accum::Add, v, c, -1.0, Par::Seq);
            for (h, &c) in self.h.iter_mut().zip(&coef) {
                *h += c;
            }
        }
    }

    /// One Lanczos step on the last basis vector.
    fn step<O: SymmetricOperator<T> + ?Sized>(&mut self, op: &mut O) -> Result<Step, SpectraError> {
        let j = self.alpha.len();
        let n = self.n;
        self.products += 1;
        let q = &self.basis[j * n..(j + 1) * n];
        vecops::apply_f64(op, q, &mut self.w, &mut self.xbuf, &mut self.ybuf, self.products)?;
        self.scale = self.scale.max(vecops::norm(&self.w));
        // Projecting against *all* columns subsumes the three-term recurrence; the coefficient on
        // q_j is α_j, the one on q_{j-1} reproduces β_{j-1}, the rest are rounding noise.
        self.orthogonalize();
        self.alpha.push(self.h[j]);
        let b = vecops::norm(&self.w);
        if b <= INVARIANT_REL * self.scale {
            self.beta.push(0.0);
            return Ok(Step::Invariant);
        }
        self.beta.push(b);
        let w = &self.w;
        self.basis.extend(w.iter().map(|x| x / b));
        Ok(Step::Extended)
    }

    /// After an invariant subspace, continues with a fresh random direction orthogonal to the
    /// basis (T becomes block diagonal). Returns false when the basis already spans the space.
    fn restart(&mut self, rng: &mut ChaCha8Rng) -> bool {
        if self.cols() >= self.n {
            return false;
        }
        self.w = vecops::gaussian(rng, self.n);
        let before = vecops::norm(&self.w);
        self.orthogonalize();
        let after = vecops::norm(&self.w);
        if !(after > 1e-8 * before) {
            return false;
        }
        let w = &self.w;
        self.basis.extend(w.iter().map(|x| x / after));
        true
    }

    /// Eigen-decomposition of the current T (ascending), with the estimated residual
    /// `|β_m · s_{m,i}|` of every Ritz pair.
    fn ritz(&self) -> Result<Ritz, SpectraError> {
        let m = self.steps();
        let (values, vectors) = tridiagonal_eigen(&self.alpha, &self.beta[..m.saturating_sub(1)])?;
        let last = self.beta.last().copied().unwrap_or(0.0);
        let estimates = (0..m).map(|i| (last * vectors[(m - 1, i)]).abs()).collect();
        Ok(Ritz { values, vectors, estimates })
    }

    /// `V_m S` for the chosen columns of S: Ritz vectors, one per column.
    fn ritz_vectors(&self, s: MatRef<'_, f64>) -> Mat<f64> {
        let m = self.steps();
        let v = MatRef::from_column_major_slice(&self.basis[..self.n * m], self.n, m);
        let mut y = Mat::zeros(self.n, s.ncols());
        matmul(y.as_mut(), Accum::Replace, v, s, 1.0, Par::Seq);
        y
    }
}

struct Ritz {
    values: Vec<f64>,
    vectors: Mat<f64>,
    estimates: Vec<f64>,
}

/// Eigenvalues (ascending) and eigenvectors of the symmetric tridiagonal matrix with diagonal
/// `alpha` and off-diagonal `beta` (`beta.len() == alpha.len() − 1`).
///
/// Uses faer's tridiagonal solver directly (O(m²) for values, no dense m×m reduction), which
/// keeps frequent convergence checks cheap.
pub fn tridiagonal_eigen(alpha: &[f64], beta: &[f64]) -> Result<(Vec<f64>, Mat<f64>), SpectraError> {
    let m = alpha.len();
    if m == 0 {
        return Ok((Vec::new(), Mat::zeros(0, 0)));
    }
    if beta.len() + 1 != m {
        return Err(SpectraError::InvalidOption(format!(
            "tridiagonal matrix with {m} diagonal entries needs {} off-diagonal entries, got {}",
            m - 1,
            beta.len()
        )));
    }
    let diag = Col::from_fn(m, |i| alpha[i]);
    // faer wants a length-m subdiagonal and ignores its last entry.
    let sub = Col::from_fn(m, |i| if i + 1 < m { beta[i] } else { 0.0 });
    let mut s = Col::<f64>::zeros(m);
    let mut u = Mat::<f64>::zeros(m, m);
    let req = evd::self_adjoint_evd_scratch::<f64>(m, ComputeEigenvectors::Yes, Par::Seq, Default::default());
    let mut buf = MemBuffer::new(req);
    evd::tridiagonal_self_adjoint_evd(
        diag.as_diagonal(),
        sub.as_diagonal(),
        s.as_mut().as_diagonal_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|_| SpectraError::DenseNoConvergence)?;
    // Sort explicitly: the ordering of the tridiagonal solver's output is not part of its contract.
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
    let values = order.iter().map(|&i| s[i]).collect();
    let vectors = Mat::from_fn(m, m, |i, j| u[(i, order[j])]);
    Ok((values, vectors))
}

fn start_vector(n: usize, start: Option<&[f64]>, rng: &mut ChaCha8Rng) -> Result<Vec<f64>, SpectraError> {
    match start {
        Some(s) if s.len() != n => Err(SpectraError::DimensionMismatch { expected: n, got: s.len() }),
        Some(s) => vecops::normalized(s.to_vec()),
        None => vecops::normalized(vecops::gaussian(rng, n)),
    }
}

/// Extreme eigenpairs of a symmetric operator by Lanczos with full reorthogonalisation.
///
/// Grows the Krylov space one product at a time until every wanted Ritz pair has estimated
/// residual `β_m·|s_m| ≤ tol·scale`, the Krylov dimension reaches `max_iter`, or β vanishes
/// (invariant subspace: the Ritz values are then exact). When an invariant subspace is found
/// before `max(k_top, k_bottom)` Ritz values exist (a start vector inside a small invariant
/// subspace, a tiny operator), the run continues from a fresh random direction orthogonal to
/// the basis, so enough pairs are always returned.
///
/// Limits inherent to single-vector Krylov methods: a repeated eigenvalue is generically seen
/// once (its multiplicity is not resolved; use [`dense_eigen`](crate::dense_eigen) for that),
/// and a warm start lying exactly in an invariant subspace that misses the extreme eigenvector
/// returns the extreme pair *of that subspace* — still an exact eigenpair, with a true
/// residual, but not the global one. A random start avoids the latter with probability one.
///
/// The returned residuals are explicit (`‖Av − λv‖`, one extra product per pair), so
/// `converged` can be trusted even when the operator is only approximately symmetric.
///
/// ```
/// use faer::Mat;
/// use noether_spectra::{DenseSymmetric, LanczosOptions, lanczos};
/// // diag(1, 2, …, 50): λ_max = 50, λ_min = 1.
/// let mut op = DenseSymmetric::new(Mat::<f64>::from_fn(50, 50, |i, j| if i == j { (i + 1) as f64 } else { 0.0 }))?;
/// let r = lanczos(&mut op, &LanczosOptions { k_top: 2, k_bottom: 1, ..LanczosOptions::default() })?;
/// assert!((r.top[0].value - 50.0).abs() < 1e-9 && (r.top[1].value - 49.0).abs() < 1e-9);
/// assert!((r.bottom[0].value - 1.0).abs() < 1e-9 && r.converged_all);
/// # Ok::<(), noether_spectra::SpectraError>(())
/// ```
pub fn lanczos<T: Real, O: SymmetricOperator<T> + ?Sized>(
    op: &mut O,
    options: &LanczosOptions,
) -> Result<LanczosResult, SpectraError> {
    let n = op.dim();
    if n == 0 {
        return Err(SpectraError::EmptyOperator);
    }
    let k_want = options.k_top.max(options.k_bottom);
    if k_want > n {
        return Err(SpectraError::TooManyEigenpairs { requested: k_want, dim: n });
    }
    if !(options.tol >= 0.0) {
        return Err(SpectraError::InvalidOption(format!("tol must be ≥ 0, got {}", options.tol)));
    }
    let max_iter = options.max_iter.unwrap_or(n.min(300)).min(n);
    if max_iter < k_want {
        return Err(SpectraError::InvalidOption(format!(
            "max_iter {max_iter} is smaller than the {k_want} eigenpairs requested"
        )));
    }
    if k_want == 0 {
        return Ok(LanczosResult {
            top: vec![],
            bottom: vec![],
            iterations: 0,
            products: 0,
            converged_all: true,
            scale: 0.0,
        });
    }
    let check_every = options.check_every.max(1);
    let mut rng = vecops::rng(options.seed);
    let q0 = start_vector(n, options.start.as_deref(), &mut rng)?;
    let mut krylov = Krylov::<T>::new(q0, max_iter + 1);

    let wanted_converged = |ritz: &Ritz, scale: f64| {
        let m = ritz.values.len();
        let top = (m - options.k_top..m).map(|i| ritz.estimates[i]);
        let bottom = (0..options.k_bottom).map(|i| ritz.estimates[i]);
        top.chain(bottom).all(|e| e <= options.tol * scale)
    };

    let ritz = loop {
        let step = krylov.step(op)?;
        let m = krylov.steps();
        let exhausted = m >= max_iter;
        if step == Step::Invariant {
            if m < k_want && !exhausted && krylov.restart(&mut rng) {
                continue;
            }
            break krylov.ritz()?;
        }
        if exhausted {
            break krylov.ritz()?;
        }
        if m >= k_want && m % check_every == 0 {
            let ritz = krylov.ritz()?;
            if wanted_converged(&ritz, krylov.scale) {
                break ritz;
            }
        }
    };

    let m = ritz.values.len();
    let top_idx: Vec<usize> = (0..options.k_top.min(m)).map(|i| m - 1 - i).collect();
    let bottom_idx: Vec<usize> = (0..options.k_bottom.min(m)).collect();
    let scale = krylov.scale;
    let mut products = krylov.products;
    let mut pairs_for = |idx: &[usize], krylov: &mut Krylov<T>| -> Result<Vec<EigenPair>, SpectraError> {
        let s = Mat::from_fn(m, idx.len(), |i, j| ritz.vectors[(i, idx[j])]);
        let y = krylov.ritz_vectors(s.as_ref());
        let mut ay = vec![0.0; n];
        idx.iter()
            .enumerate()
            .map(|(c, &i)| {
                let value = ritz.values[i];
                let vector = y.col_as_slice(c).to_vec();
                if !options.explicit_residuals {
                    let residual = ritz.estimates[i];
                    return Ok(EigenPair { value, vector, residual, converged: residual <= options.tol * scale });
                }
                products += 1;
                vecops::apply_f64(op, &vector, &mut ay, &mut krylov.xbuf, &mut krylov.ybuf, products)?;
                let residual = ay.iter().zip(&vector).map(|(a, v)| (a - value * v).powi(2)).sum::<f64>().sqrt();
                Ok(EigenPair { value, vector, residual, converged: residual <= options.tol * scale })
            })
            .collect()
    };
    let top = pairs_for(&top_idx, &mut krylov)?;
    let bottom = pairs_for(&bottom_idx, &mut krylov)?;
    let converged_all = top.len() == options.k_top
        && bottom.len() == options.k_bottom
        && top.iter().chain(&bottom).all(|p| p.converged);
    Ok(LanczosResult { top, bottom, iterations: m, products, converged_all, scale })
}

/// Runs `m` Lanczos steps from `start` (normalised internally) and returns the tridiagonal
/// matrix `T_m = V_mᵀ A V_m`, and the basis `V_m` if `keep_basis`.
///
/// This is the kernel of stochastic Lanczos quadrature: the eigenvalues of `T_m` and the
/// squared first components of its eigenvectors form the m-point Gauss quadrature of the
/// spectral measure seen from `start`. It stops early, without restarting, when the Krylov space
/// becomes invariant — the quadrature is then exact for that start vector. The basis is always
/// stored internally because full reorthogonalisation needs it.
pub fn lanczos_tridiagonal<T: Real, O: SymmetricOperator<T> + ?Sized>(
    op: &mut O,
    m: usize,
    start: &[f64],
    keep_basis: bool,
) -> Result<LanczosTridiagonal, SpectraError> {
    let n = op.dim();
    if n == 0 {
        return Err(SpectraError::EmptyOperator);
    }
    if start.len() != n {
        return Err(SpectraError::DimensionMismatch { expected: n, got: start.len() });
    }
    if m == 0 {
        return Err(SpectraError::InvalidOption("lanczos_tridiagonal needs m ≥ 1 steps".into()));
    }
    let m = m.min(n);
    let mut krylov = Krylov::<T>::new(vecops::normalized(start.to_vec())?, m + 1);
    while krylov.steps() < m {
        if krylov.step(op)? == Step::Invariant {
            break;
        }
    }
    let steps = krylov.steps();
    let beta_next = krylov.beta.last().copied().unwrap_or(0.0);
    let basis = keep_basis.then(|| {
        let v = MatRef::from_column_major_slice(&krylov.basis[..n * steps], n, steps);
        v.to_owned()
    });
    let mut beta = krylov.beta;
    beta.truncate(steps.saturating_sub(1));
    Ok(LanczosTridiagonal { alpha: krylov.alpha, beta, beta_next, basis, products: krylov.products })
}
