//! Small dense linear algebra written for this crate (no external dependency).
//!
//! * [`jacobi_eigen_symmetric`]: cyclic Jacobi eigensolver for small symmetric matrices
//!   (intended for d×d input covariances with d ≤ 64 in E20/E21 and for K×K softmax
//!   Hessians; cost O(n³) per sweep, typically 6–10 sweeps). Eigenvalues are accurate to a
//!   few ulps of ‖A‖_F.
//! * [`least_squares`]: least squares through Householder QR on the column-scaled design
//!   matrix (what `numpy.polyfit` effectively does through `lstsq` with column scaling);
//!   used by the quadratic fit and by the small non-negative least squares of
//!   [`crate::fit::nonneg_least_squares`]. It never forms the normal equations.
//!
//! Matrices are plain slices; the layout is stated on every function.

use crate::error::{Result, TheoryError, check_finite, check_len};
use serde::{Deserialize, Serialize};

/// Eigen-decomposition of a symmetric matrix, eigenpairs sorted by **descending** eigenvalue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SymmetricEigen {
    /// Matrix dimension n.
    pub n: usize,
    /// Eigenvalues, largest first.
    pub values: Vec<f64>,
    /// Eigenvectors, column-major n×n: column k (`vectors[k*n..(k+1)*n]`) is the unit
    /// eigenvector of `values[k]`. Signs are arbitrary.
    pub vectors: Vec<f64>,
    /// Number of Jacobi sweeps that were needed.
    pub sweeps: usize,
}

impl SymmetricEigen {
    /// Column k (eigenvector of `values[k]`).
    pub fn vector(&self, k: usize) -> &[f64] {
        &self.vectors[k * self.n..(k + 1) * self.n]
    }
}

/// Cyclic Jacobi eigensolver for a symmetric n×n matrix given **row-major** in `a`.
///
/// Rotations use Rutishauser's stable formulas (t = sgn(θ)/(|θ|+√(θ²+1)),
/// θ = (a_qq − a_pp)/(2a_pq)); sweeps stop when the off-diagonal Frobenius norm falls below
/// 1e-3·ε_mach·‖A‖_F (or is exactly zero), at most 100 sweeps.
/// The input must be symmetric to within 1e-10·max|a_ij| (then the mean of the two
/// triangles is used) and finite.
pub fn jacobi_eigen_symmetric(a: &[f64], n: usize) -> Result<SymmetricEigen> {
    check_len("jacobi_eigen_symmetric: a vs n*n", a.len(), n * n)?;
    check_finite("matrix", a)?;
    if n == 0 {
        return Ok(SymmetricEigen { n, values: vec![], vectors: vec![], sweeps: 0 });
    }
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let (x, y) = (a[i * n + j], a[j * n + i]);
            if (x - y).abs() > 1e-10 * scale.max(f64::MIN_POSITIVE) {
                return Err(TheoryError::InvalidInput(format!(
                    "matrix is not symmetric: a[{i},{j}] = {x} vs a[{j},{i}] = {y}"
                )));
            }
            m[i * n + j] = 0.5 * (x + y);
        }
    }
    let mut v = vec![0.0; n * n]; // row-major during iteration: v[r*n + k]
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    let fro = m.iter().map(|x| x * x).sum::<f64>().sqrt();
    let tol = 1e-3 * f64::EPSILON * fro;
    let off = |m: &[f64]| -> f64 {
        let mut s = 0.0;
        for p in 0..n {
            for q in (p + 1)..n {
                s += m[p * n + q] * m[p * n + q];
            }
        }
        (2.0 * s).sqrt()
    };
    let mut sweeps = 0;
    loop {
        let o = off(&m);
        if o == 0.0 || o <= tol {
            break;
        }
        if sweeps >= 100 {
            return Err(TheoryError::NoConvergence(format!(
                "Jacobi: off-diagonal norm {o:e} after 100 sweeps (tolerance {tol:e})"
            )));
        }
        sweeps += 1;
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let app = m[p * n + p];
                let aqq = m[q * n + q];
                let theta = (aqq - app) / (2.0 * apq);
                let t = if theta.abs() > 1e150 {
                    0.5 / theta
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                let tau = s / (1.0 + c);
                m[p * n + p] = app - t * apq;
                m[q * n + q] = aqq + t * apq;
                m[p * n + q] = 0.0;
                m[q * n + p] = 0.0;
                for r in 0..n {
                    if r != p && r != q {
                        let g = m[r * n + p];
                        let h = m[r * n + q];
                        let gp = g - s * (h + g * tau);
                        let hq = h + s * (g - h * tau);
                        m[r * n + p] = gp;
                        m[p * n + r] = gp;
                        m[r * n + q] = hq;
                        m[q * n + r] = hq;
                    }
                }
                for r in 0..n {
                    let g = v[r * n + p];
                    let h = v[r * n + q];
                    v[r * n + p] = g - s * (h + g * tau);
                    v[r * n + q] = h + s * (g - h * tau);
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[j * n + j].total_cmp(&m[i * n + i]));
    let values: Vec<f64> = order.iter().map(|&k| m[k * n + k]).collect();
    let mut vectors = vec![0.0; n * n];
    for (col, &k) in order.iter().enumerate() {
        for r in 0..n {
            vectors[col * n + r] = v[r * n + k];
        }
    }
    Ok(SymmetricEigen { n, values, vectors, sweeps })
}

/// Least-squares solution of `min_β ‖Σ_j β_j·columns[j] − y‖²` by Householder QR.
///
/// `columns` are the design-matrix columns (each of length n = `y.len()`). Each column is
/// scaled to unit norm before the factorisation and the coefficients are unscaled
/// afterwards. Fails with [`TheoryError::Degenerate`] if the design is (numerically) rank
/// deficient (|R_jj| ≤ 1e-12·max|R_ii| after scaling) and with `TooFewPoints` if n < #columns.
pub fn least_squares(columns: &[&[f64]], y: &[f64]) -> Result<Vec<f64>> {
    let n = y.len();
    let p = columns.len();
    for c in columns {
        check_len("least_squares: column vs y", c.len(), n)?;
        check_finite("design column", c)?;
    }
    check_finite("y", y)?;
    if p == 0 {
        return Ok(vec![]);
    }
    if n < p {
        return Err(TheoryError::TooFewPoints { needed: p, got: n });
    }
    // Column-major working copy, scaled to unit column norms.
    let mut a = vec![0.0; n * p];
    let mut norms = vec![0.0; p];
    for (j, c) in columns.iter().enumerate() {
        let nrm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        if nrm == 0.0 {
            return Err(TheoryError::Degenerate(format!("design column {j} is identically zero")));
        }
        norms[j] = nrm;
        for i in 0..n {
            a[j * n + i] = c[i] / nrm;
        }
    }
    let mut b = y.to_vec();
    let mut rdiag = vec![0.0; p];
    for k in 0..p {
        // Householder vector for column k, rows k..n.
        let col = &mut a[k * n..(k + 1) * n];
        let alpha_norm = col[k..].iter().map(|x| x * x).sum::<f64>().sqrt();
        if alpha_norm == 0.0 {
            return Err(TheoryError::Degenerate(format!("design is rank deficient at column {k}")));
        }
        let alpha = if col[k] > 0.0 { -alpha_norm } else { alpha_norm };
        col[k] -= alpha;
        let vnorm2 = col[k..].iter().map(|x| x * x).sum::<f64>();
        rdiag[k] = alpha;
        let vk: Vec<f64> = col[k..].to_vec();
        // Apply H = I − 2vvᵀ/(vᵀv) to the remaining columns and to b.
        for j in (k + 1)..p {
            let cj = &mut a[j * n..(j + 1) * n];
            let dot: f64 = vk.iter().zip(&cj[k..]).map(|(x, y)| x * y).sum();
            let f = 2.0 * dot / vnorm2;
            for (x, v) in cj[k..].iter_mut().zip(&vk) {
                *x -= f * v;
            }
        }
        let dot: f64 = vk.iter().zip(&b[k..]).map(|(x, y)| x * y).sum();
        let f = 2.0 * dot / vnorm2;
        for (x, v) in b[k..].iter_mut().zip(&vk) {
            *x -= f * v;
        }
    }
    let rmax = rdiag.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if let Some(j) = rdiag.iter().position(|r| r.abs() <= 1e-12 * rmax) {
        return Err(TheoryError::Degenerate(format!("design is numerically rank deficient at column {j}")));
    }
    // Back substitution R β' = (Qᵀb)[..p]; R's strict upper part lives in a[j*n + i], i < j.
    let mut beta = vec![0.0; p];
    for i in (0..p).rev() {
        let mut s = b[i];
        for j in (i + 1)..p {
            s -= a[j * n + i] * beta[j];
        }
        beta[i] = s / rdiag[i];
    }
    for j in 0..p {
        beta[j] /= norms[j];
    }
    Ok(beta)
}
