//! CE spectral compression (Theorem 6), in the corrected form.
//!
//! The CE output-Hessian of one sample is S(p) = diag(p) − ppᵀ (times 1/n), p = softmax(f).
//! The paper's proof of Thm 6 uses λ_max(S) = max_k p_k(1 − p_k), which is **false**
//! (spec E13-E23 §3 item 2 and §5 item 11): for uniform p over K classes λ_max = 1/K while
//! max_k p_k(1−p_k) = (1/K)(1 − 1/K); for p = (0.6, 0.4, 0, …) λ_max = 0.48 against 0.24.
//! What does hold (Gershgorin: row k has diagonal p_k(1−p_k) and off-diagonal mass
//! p_k Σ_{j≠k} p_j = p_k(1−p_k)) is
//!
//!   λ_max(diag p − ppᵀ) ≤ 2·max_k p_k(1 − p_k) ≤ 2(1 − q),
//!
//! where q = p_y is the probability of **any** fixed class y (for k = y, p_y(1−p_y) ≤ 1−q;
//! for k ≠ y, p_k(1−p_k) ≤ p_k ≤ 1 − p_y). So compression as q → 1 survives with a factor-2
//! looser constant. [`softmax_hessian_lambda_max`] computes λ_max exactly.

use crate::error::{Result, TheoryError, check_finite};

/// Tolerance on |Σ_k p_k − 1| accepted by the functions of this module.
pub const PROBABILITY_SUM_TOL: f64 = 1e-9;

fn check_probability(p: &[f64]) -> Result<()> {
    if p.is_empty() {
        return Err(TheoryError::TooFewPoints { needed: 1, got: 0 });
    }
    check_finite("p", p)?;
    if let Some(i) = p.iter().position(|v| *v < 0.0) {
        return Err(TheoryError::InvalidInput(format!("p[{i}] = {} is negative", p[i])));
    }
    let s: f64 = p.iter().sum();
    if (s - 1.0).abs() > PROBABILITY_SUM_TOL {
        return Err(TheoryError::InvalidInput(format!("probabilities sum to {s}, not 1")));
    }
    Ok(())
}

/// The K×K matrix diag(p) − ppᵀ, row-major (per-sample CE output Hessian without the 1/n).
pub fn softmax_hessian(p: &[f64]) -> Result<Vec<f64>> {
    check_probability(p)?;
    let k = p.len();
    let mut h = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            h[i * k + j] = if i == j { p[i] - p[i] * p[i] } else { -p[i] * p[j] };
        }
    }
    Ok(h)
}

/// Exact largest eigenvalue of diag(p) − ppᵀ for a probability vector p.
///
/// Rank-one downdate of a diagonal matrix: the eigenvalues are the roots of the secular
/// equation f(λ) = 1 − Σ_i p_i²/(p_i − λ) and interlace with the p_i, so λ_max lies in
/// [p_(2), p_(1)] (the two largest entries). If p_(1) = p_(2) then λ_max = p_(1); if only one
/// entry is non-zero the matrix is 0. Otherwise f is strictly decreasing on (p_(2), p_(1))
/// and the root is found by bisection to machine precision.
pub fn softmax_hessian_lambda_max(p: &[f64]) -> Result<f64> {
    check_probability(p)?;
    let mut s = p.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let p1 = s[0];
    let p2 = if s.len() > 1 { s[1] } else { 0.0 };
    if p2 <= 0.0 {
        return Ok(0.0);
    }
    if p1 == p2 {
        return Ok(p1);
    }
    let f = |lam: f64| 1.0 - p.iter().map(|&pi| pi * pi / (pi - lam)).sum::<f64>();
    let (mut lo, mut hi) = (p2, p1);
    for _ in 0..2000 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(0.5 * (lo + hi))
}

/// max_k p_k(1 − p_k): the value the paper's proof **claims** equals λ_max(diag p − ppᵀ).
/// It is only a lower bound (the diagonal of the matrix); see the module docs.
pub fn paper_claimed_lambda_max(p: &[f64]) -> Result<f64> {
    check_probability(p)?;
    Ok(p.iter().map(|v| v * (1.0 - v)).fold(0.0, f64::max))
}

/// The corrected (Gershgorin) bound 2·max_k p_k(1 − p_k) ≥ λ_max(diag p − ppᵀ).
pub fn corrected_lambda_max_bound(p: &[f64]) -> Result<f64> {
    Ok(2.0 * paper_claimed_lambda_max(p)?)
}

/// The confidence form of the corrected bound, 2(1 − q) with q = p\[class\] (the E18/E23 q_i
/// uses the true class); valid for any class index.
pub fn confidence_lambda_max_bound(p: &[f64], class: usize) -> Result<f64> {
    check_probability(p)?;
    let q = *p
        .get(class)
        .ok_or_else(|| TheoryError::InvalidInput(format!("class {class} out of range for K = {}", p.len())))?;
    Ok(2.0 * (1.0 - q))
}

/// E18's stored "softmax_eig_bound": the **mean** over samples of q_i(1 − q_i) (not the max
/// used in the theorem). `q` are the true-class probabilities.
pub fn e18_softmax_eig_bound(q: &[f64]) -> Result<f64> {
    check_finite("q", q)?;
    crate::fit::mean(&q.iter().map(|v| v * (1.0 - v)).collect::<Vec<_>>())
}
