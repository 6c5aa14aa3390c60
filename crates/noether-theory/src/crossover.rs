//! Theorem-4/5 spectral-crossover predictor, c_k recipes, and prediction-quality metrics.
//!
//! **Per-mode identity.** For a quadratic loss with Hessian eigenvalues λ_k, GD multiplies the
//! k-th eigencomponent by ρ_k = 1 − ηλ_k every step, so a per-mode contribution to the summed
//! imbalance is c_k·Σ_{t=0}^{T−1} ρ_k^{2t} = c_k·(1 − ρ_k^{2T})/(1 − ρ_k²) with
//! 1 − ρ_k² = ηλ_k(2 − ηλ_k) =: D_k ([`geometric_mode_sum`]). Summing over modes gives the
//! predictor S_pred(η) = Σ_k c_k(1 − ρ_k^{2T})/D_k ([`spectral_crossover_s_pred`]).
//!
//! **Reference rule** (spec E01-E12 §1.8, E13-E23 §1.11), T = 2000 in every experiment:
//! skip modes with λ_k < 0 or |λ_k| < 1e-12; if |ρ| ≥ 1 (ηλ ≥ 2, "unstable") add
//! c_k·T/max(|D|, 1e-12) but only if |D| > 1e-12 (so ηλ = 2 exactly adds nothing); otherwise
//! add c_k(1 − ρ^{2T})/D if |D| ≥ 1e-12. The unstable branch is ad hoc and decides the E8
//! η = 0.3 and E16 t = 0 headlines.
//!
//! **Honest rule**: the same skip rule, the exact geometric sum for every mode with
//! |ρ| ≤ 1 (including the marginal ηλ = 2, whose sum is exactly T, and tiny D), and
//! S_pred = +∞ with `applies = false` as soon as one kept mode has |ρ| > 1: a linearised
//! prediction is meaningless when GD diverges along a mode.
//!
//! **c_k**: [`ck_from_projections`] is the reference's gradient-projection recipe
//! (E01-E12 §1.8, E13-E23 §1.10); [`theoretical_ck_linear`] is E20's "theoretical c_k",
//! replicated literally. [`ck_comparison_sorted`] is the E20/E21 metric and
//! [`ck_comparison_matched`] its mode-matched counterpart.
//!
//! **Prediction quality** [`prediction_quality_r`]: spec E01-E12 §1.9 / E13-E23 §1.12.

use crate::error::{Result, TheoryError, check_finite, check_len, check_min_points};
use crate::fit::{PEARSON_STD_THRESHOLD_E20, pearson_corrcoef, pearson_thresholded};
use crate::linalg::jacobi_eigen_symmetric;
use serde::{Deserialize, Serialize};

/// Number of GD steps the reference predictor always uses (N_STEPS).
pub const REFERENCE_T: usize = 2000;
/// Modes with |λ| below this are skipped (as are negative λ).
pub const LAMBDA_SKIP: f64 = 1e-12;
/// |D| threshold of the reference rule.
pub const D_THRESHOLD: f64 = 1e-12;

/// How modes with |ρ| ≥ 1 are treated by [`spectral_crossover_s_pred`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnstableModeRule {
    /// The reference code: add c_k·T/max(|D|, 1e-12) when |D| > 1e-12; ηλ = 2 adds nothing;
    /// stable modes with |D| < 1e-12 are skipped.
    Reference,
    /// Exact geometric sums for |ρ| ≤ 1; +∞ (and `applies = false`) if any |ρ| > 1.
    Honest,
}

/// Output of [`spectral_crossover_s_pred`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossoverPrediction {
    /// Predicted S(η) (+∞ under the honest rule when a mode is unstable).
    pub s_pred: f64,
    /// Kept modes with ηλ > 2 (|ρ| > 1).
    pub n_unstable: usize,
    /// Kept modes with ηλ = 2 exactly (|ρ| = 1, D = 0).
    pub n_marginal: usize,
    /// Modes skipped because λ < 0 or |λ| < 1e-12.
    pub n_skipped: usize,
    /// False iff the rule is `Honest` and some mode is unstable (formula does not apply).
    /// Always true under `Reference` (which never refuses).
    pub applies: bool,
}

/// Σ_{t=0}^{T−1} ρ^{2t} with ρ = 1 − x, x = ηλ, for any x: the exact per-mode geometric sum.
/// For |ρ| < 1 it is evaluated as −expm1(T·ln(1−D))/D with D = x(2 − x) (accurate for tiny
/// D, equals T in the limit D → 0); for |ρ| = 1 it is T; for |ρ| > 1 it is
/// (ρ^{2T} − 1)/(ρ² − 1) (may overflow to +∞).
pub fn geometric_mode_sum(eta_lambda: f64, t_steps: usize) -> f64 {
    let x = eta_lambda;
    let tf = t_steps as f64;
    let d = x * (2.0 - x); // 1 − ρ²
    if d == 0.0 {
        return tf;
    }
    if d > 0.0 {
        // 0 < ρ² ≤ 1 (ρ² = 1 − d), including ρ = 0 at x = 1 (ln1p(−1) = −∞ → sum = 1).
        -(tf * (-d).ln_1p()).exp_m1() / d
    } else {
        let r2 = (1.0 - x) * (1.0 - x);
        (tf * r2.ln()).exp_m1() / (r2 - 1.0)
    }
}

/// Theorem-4 spectral crossover S_pred(η) = Σ_k c_k·Σ_{t<T} ρ_k^{2t} under `rule`
/// (see the module docs for both rules). `eigenvalues` and `ck` are paired (same length);
/// `eta` > 0; `t_steps` ≥ 1 (the reference always uses [`REFERENCE_T`] = 2000). Computed in
/// f64. Non-finite inputs are rejected.
pub fn spectral_crossover_s_pred(
    eigenvalues: &[f64],
    ck: &[f64],
    eta: f64,
    t_steps: usize,
    rule: UnstableModeRule,
) -> Result<CrossoverPrediction> {
    check_len("spectral_crossover_s_pred: eigenvalues vs ck", eigenvalues.len(), ck.len())?;
    check_finite("eigenvalues", eigenvalues)?;
    check_finite("ck", ck)?;
    if !(eta.is_finite() && eta > 0.0) {
        return Err(TheoryError::InvalidInput(format!("eta = {eta} must be > 0")));
    }
    check_min_points(1, t_steps)?;
    let tf = t_steps as f64;
    let mut out = CrossoverPrediction { s_pred: 0.0, n_unstable: 0, n_marginal: 0, n_skipped: 0, applies: true };
    for (&lam, &c) in eigenvalues.iter().zip(ck) {
        if lam < 0.0 || lam.abs() < LAMBDA_SKIP {
            out.n_skipped += 1;
            continue;
        }
        let x = eta * lam;
        let rho = 1.0 - x;
        let d = x * (2.0 - x);
        if rho.abs() > 1.0 {
            out.n_unstable += 1;
        } else if rho.abs() == 1.0 {
            out.n_marginal += 1;
        }
        match rule {
            UnstableModeRule::Reference => {
                if rho.abs() >= 1.0 {
                    if d.abs() > D_THRESHOLD {
                        out.s_pred += c * tf / d.abs().max(D_THRESHOLD);
                    }
                } else if d.abs() >= D_THRESHOLD {
                    out.s_pred += c * (1.0 - rho.powf(2.0 * tf)) / d;
                }
            }
            UnstableModeRule::Honest => {
                if rho.abs() <= 1.0 {
                    out.s_pred += c * geometric_mode_sum(x, t_steps);
                }
            }
        }
    }
    if rule == UnstableModeRule::Honest && out.n_unstable > 0 {
        out.s_pred = f64::INFINITY;
        out.applies = false;
    }
    Ok(out)
}

/// Projections p_k = v_kᵀg of a gradient onto eigenvectors given **column-major** in
/// `eigvecs` (column k = v_k, each of length `g.len()`; any number of columns).
pub fn project_onto_columns(eigvecs: &[f64], g: &[f64]) -> Result<Vec<f64>> {
    let p = g.len();
    check_min_points(1, p)?;
    if !eigvecs.len().is_multiple_of(p) {
        return Err(TheoryError::LengthMismatch {
            what: "project_onto_columns: eigvecs length must be a multiple of g.len()",
            left: eigvecs.len(),
            right: p,
        });
    }
    project_onto_column_slices(eigvecs.chunks_exact(p), g)
}

/// [`project_onto_columns`] for eigenvectors held as separate column slices (e.g. the columns
/// of a matrix, without copying them into one vector); every column must have `g.len()` rows.
pub fn project_onto_column_slices<'a>(columns: impl IntoIterator<Item = &'a [f64]>, g: &[f64]) -> Result<Vec<f64>> {
    check_min_points(1, g.len())?;
    columns
        .into_iter()
        .map(|v| {
            if v.len() != g.len() {
                return Err(TheoryError::LengthMismatch {
                    what: "project_onto_column_slices: each column must have g.len() rows",
                    left: v.len(),
                    right: g.len(),
                });
            }
            Ok(v.iter().zip(g).map(|(a, b)| a * b).sum())
        })
        .collect()
}

/// Empirical c_k by gradient projection (spec E01-E12 §1.8, E13-E23 §1.10):
/// c_k = p_k²·|δ0| / Σ_j p_j², or the raw p_k² if Σ_j p_j² ≤ 1e-12, where p_k = v_kᵀg and
/// δ0 = ‖∂L/∂W2‖² − ‖∂L/∂W1‖² at the same parameters. Σ_k c_k = |δ0| when rescaled.
pub fn ck_from_projections(p: &[f64], delta0: f64) -> Result<Vec<f64>> {
    check_finite("projections", p)?;
    if !delta0.is_finite() {
        return Err(TheoryError::InvalidInput(format!("delta0 = {delta0} is not finite")));
    }
    let total: f64 = p.iter().map(|v| v * v).sum();
    Ok(if total > 1e-12 {
        p.iter().map(|v| v * v * delta0.abs() / total).collect()
    } else {
        p.iter().map(|v| v * v).collect()
    })
}

/// [`project_onto_columns`] followed by [`ck_from_projections`].
pub fn ck_from_gradient_projection(eigvecs: &[f64], g: &[f64], delta0: f64) -> Result<Vec<f64>> {
    ck_from_projections(&project_onto_columns(eigvecs, g)?, delta0)
}

/// Output of [`theoretical_ck_linear`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TheoreticalCk {
    /// Eigenvalues λ_{x,k} of Σ_x = XᵀX/n, descending.
    pub lambda_x: Vec<f64>,
    /// Eigenvectors U (column-major d×d, column k ↔ `lambda_x[k]`).
    pub u: Vec<f64>,
    /// e_k² = Σ_{k'} (W_rot − Y*_rot)[k', k]².
    pub e2: Vec<f64>,
    /// c^th_k = e_k²·λ_{x,k}².
    pub ck: Vec<f64>,
    /// The Σ_x⁻¹-corrected ("least-squares target") variant the reference's code comment
    /// describes but does not compute (spec E13-E23 §2-E20 step 2, §5 item 6):
    /// c^LS_k = λ_{x,k}²·‖(W_rot − W*_rot)[:, k]‖² with W* = Σ_yx Σ_x⁻¹, evaluated without the
    /// division as ‖λ_{x,k}·W_rot[:, k] − (Σ_yx U)[:, k]‖² (finite for λ_{x,k} = 0). For a
    /// **linear** net under the reference's MSE (1/(nK) normalisation) this is exactly
    /// (K/2)²·‖(∂L/∂W_eff)·u_k‖², the gradient's energy along input eigen-direction u_k.
    pub ck_ls: Vec<f64>,
}

/// E20's "theoretical c_k", replicated literally (spec E13-E23 §2-E20):
/// 1. Σ_x = XᵀX/n (**uncentred**), eigen-decomposed by the crate's Jacobi solver and sorted
///    descending → λ_{x,k}, U;
/// 2. Y*_rot = Yᵀ·X·U/n (K×d; **no Σ_x⁻¹**, exactly as the reference code);
/// 3. W_rot = W_eff·U with W_eff = W2·W1 (or E21's activation-averaged W_eff);
/// 4. e_k² = Σ_{k'} (W_rot − Y*_rot)[k', k]², c^th_k = e_k²·λ_{x,k}².
///
/// Layouts (row-major): `x` n×d, `y_onehot` n×K, `w_eff` K×d. Within a degenerate
/// eigenspace of Σ_x the split of e_k² among the tied modes is basis dependent.
pub fn theoretical_ck_linear(
    x: &[f64],
    y_onehot: &[f64],
    w_eff: &[f64],
    n: usize,
    d: usize,
    k: usize,
) -> Result<TheoreticalCk> {
    check_len("theoretical_ck_linear: x vs n*d", x.len(), n * d)?;
    check_len("theoretical_ck_linear: y vs n*K", y_onehot.len(), n * k)?;
    check_len("theoretical_ck_linear: w_eff vs K*d", w_eff.len(), k * d)?;
    check_min_points(1, n)?;
    check_finite("x", x)?;
    check_finite("y_onehot", y_onehot)?;
    check_finite("w_eff", w_eff)?;
    let nf = n as f64;
    let mut sigma = vec![0.0; d * d];
    for i in 0..n {
        let row = &x[i * d..(i + 1) * d];
        for a in 0..d {
            for b in 0..d {
                sigma[a * d + b] += row[a] * row[b];
            }
        }
    }
    sigma.iter_mut().for_each(|v| *v /= nf);
    let eig = jacobi_eigen_symmetric(&sigma, d)?;
    // Σ_yx = YᵀX/n (K×d), then rotate: (Σ_yx U)[k', j] and (W_eff U)[k', j].
    let mut syx = vec![0.0; k * d];
    for i in 0..n {
        for kk in 0..k {
            let yv = y_onehot[i * k + kk];
            if yv != 0.0 {
                for a in 0..d {
                    syx[kk * d + a] += yv * x[i * d + a];
                }
            }
        }
    }
    syx.iter_mut().for_each(|v| *v /= nf);
    let mut e2 = Vec::with_capacity(d);
    let mut ck_ls = Vec::with_capacity(d);
    for j in 0..d {
        let u = eig.vector(j);
        let lam = eig.values[j];
        let (mut lit, mut ls) = (0.0, 0.0);
        for kk in 0..k {
            let w_rot: f64 = (0..d).map(|a| w_eff[kk * d + a] * u[a]).sum();
            let y_rot: f64 = (0..d).map(|a| syx[kk * d + a] * u[a]).sum();
            lit += (w_rot - y_rot) * (w_rot - y_rot);
            ls += (lam * w_rot - y_rot) * (lam * w_rot - y_rot);
        }
        e2.push(lit);
        ck_ls.push(ls);
    }
    let ck = e2.iter().zip(&eig.values).map(|(e, l)| e * l * l).collect();
    Ok(TheoreticalCk { lambda_x: eig.values.clone(), u: eig.vectors.clone(), e2, ck, ck_ls })
}

/// The map θ ↦ δW_eff from a parameter direction of a 2-layer bias-free net
/// f(x) = W2·σ(W1 x) to the change of its (activation-averaged) effective linear map
/// W_eff = W2·diag(s̄)·W1, linearised at fixed activation pattern:
/// δW_eff(v) = V2·diag(s̄)·W1 + W2·diag(s̄)·V1, where v = (vec V1, vec V2) in the spec's
/// flattening order (§1.3: W1 row-major m×d, then W2 row-major K×m) and s̄_j = mean_i σ'(h_ij)
/// (s̄ = 1 for a linear net, the active fraction of unit j for ReLU; E21's W_eff).
/// [`EffectiveMap::energies`] resolves δW_eff(v) along the input eigen-directions u_k of Σ_x:
/// a_k(v) = ‖δW_eff(v)·u_k‖². This is how E20/E21's robust protocol pairs each Hessian mode
/// with the input mode(s) its c_k is predicted from (spec E13-E23 §2-E20 pitfall (a)).
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveMap {
    m: usize,
    d: usize,
    k: usize,
    /// diag(s̄)·W1, row-major m×d.
    a: Vec<f64>,
    /// W2·diag(s̄), row-major K×m.
    b: Vec<f64>,
    /// U, column-major d×d (column j = u_j).
    u: Vec<f64>,
}

impl EffectiveMap {
    /// `w1` row-major m×d, `w2` row-major K×m, `sbar` length m, `u` column-major d×d.
    pub fn new(w1: &[f64], w2: &[f64], sbar: &[f64], u: &[f64], m: usize, d: usize, k: usize) -> Result<Self> {
        check_len("EffectiveMap: w1 vs m*d", w1.len(), m * d)?;
        check_len("EffectiveMap: w2 vs K*m", w2.len(), k * m)?;
        check_len("EffectiveMap: sbar vs m", sbar.len(), m)?;
        check_len("EffectiveMap: u vs d*d", u.len(), d * d)?;
        check_finite("w1", w1)?;
        check_finite("w2", w2)?;
        check_finite("sbar", sbar)?;
        check_finite("u", u)?;
        let a = (0..m * d).map(|i| sbar[i / d] * w1[i]).collect();
        let b = (0..k * m).map(|i| w2[i] * sbar[i % m]).collect();
        Ok(EffectiveMap { m, d, k, a, b, u: u.to_vec() })
    }

    /// Number of parameters a direction must have (m·d + K·m).
    pub fn n_params(&self) -> usize {
        self.m * self.d + self.k * self.m
    }

    /// δW_eff(v), row-major K×d.
    pub fn delta_w_eff(&self, v: &[f64]) -> Result<Vec<f64>> {
        check_len("EffectiveMap: direction length", v.len(), self.n_params())?;
        let (m, d, k) = (self.m, self.d, self.k);
        let (v1, v2) = v.split_at(m * d);
        let mut out = vec![0.0; k * d];
        for r in 0..k {
            let row = &mut out[r * d..(r + 1) * d];
            for j in 0..m {
                let c2 = v2[r * m + j];
                let c1 = self.b[r * m + j];
                let a_j = &self.a[j * d..(j + 1) * d];
                let v1_j = &v1[j * d..(j + 1) * d];
                for l in 0..d {
                    row[l] += c2 * a_j[l] + c1 * v1_j[l];
                }
            }
        }
        Ok(out)
    }

    /// a_k(v) = ‖δW_eff(v)·u_k‖² for k = 0..d (in the column order of U).
    pub fn energies(&self, v: &[f64]) -> Result<Vec<f64>> {
        let dw = self.delta_w_eff(v)?;
        let (d, k) = (self.d, self.k);
        Ok((0..d)
            .map(|c| {
                let u = &self.u[c * d..(c + 1) * d];
                (0..k)
                    .map(|r| {
                        let p: f64 = dw[r * d..(r + 1) * d].iter().zip(u).map(|(x, y)| x * y).sum();
                        p * p
                    })
                    .sum()
            })
            .collect())
    }
}

/// Empirical c_k aggregated onto input eigen-directions (output of
/// [`aggregate_ck_onto_input_modes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputModeCk {
    /// Soft assignment: Σ_j c_j·a_jk / Σ_k' a_jk' (length d).
    pub soft: Vec<f64>,
    /// Hard assignment: Σ of c_j over the Hessian modes whose largest a_jk is at k.
    pub hard: Vec<f64>,
    /// Σ c_j of the modes left unassigned (Σ_k a_jk ≤ `rel_floor`·max_j Σ_k a_jk: directions
    /// that do not move W_eff).
    pub unassigned: f64,
    /// Number of unassigned modes.
    pub n_unassigned: usize,
}

/// Pairs Hessian modes with input modes: `energies` is row-major n_modes×d (row j = a_j·
/// from [`EffectiveMap::energies`] of eigenvector v_j), `ck` the empirical c_j of the same
/// modes. Each mode's c_j is split over the input modes in proportion to a_jk (soft) or given
/// to its dominant input mode (hard). Σ soft + unassigned = Σ hard + unassigned = Σ c_j.
pub fn aggregate_ck_onto_input_modes(energies: &[f64], d: usize, ck: &[f64], rel_floor: f64) -> Result<InputModeCk> {
    check_min_points(1, d)?;
    check_len("aggregate_ck_onto_input_modes: energies vs modes*d", energies.len(), ck.len() * d)?;
    check_finite("energies", energies)?;
    check_finite("ck", ck)?;
    let totals: Vec<f64> = energies.chunks_exact(d).map(|r| r.iter().sum()).collect();
    let floor = rel_floor * totals.iter().fold(0.0f64, |a, &b| a.max(b));
    let mut out = InputModeCk { soft: vec![0.0; d], hard: vec![0.0; d], unassigned: 0.0, n_unassigned: 0 };
    for ((row, &tot), &c) in energies.chunks_exact(d).zip(&totals).zip(ck) {
        if tot <= floor || tot <= 0.0 {
            out.unassigned += c;
            out.n_unassigned += 1;
            continue;
        }
        let mut best = 0;
        for (kk, &a) in row.iter().enumerate() {
            out.soft[kk] += c * a / tot;
            if a > row[best] {
                best = kk;
            }
        }
        out.hard[best] += c;
    }
    Ok(out)
}

/// K_cmp of E20/E21: min(d, number of Hessian eigenvalues > 1e-8, cap) with cap = 20 in the
/// reference.
pub fn k_cmp(d: usize, n_positive_hessian: usize, cap: usize) -> usize {
    d.min(n_positive_hessian).min(cap)
}

/// Output of the c_k comparisons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CkComparison {
    /// Pearson correlation of ln(a + 1e-20) and ln(b + 1e-20) over the compared entries
    /// (0 if either std ≤ 1e-15, as the reference).
    pub r: f64,
    /// Number of entries compared.
    pub n_compared: usize,
    /// The normalised first sequence that was compared (top K_cmp).
    pub a_top: Vec<f64>,
    /// The normalised second sequence that was compared (top K_cmp).
    pub b_top: Vec<f64>,
}

fn normalise(v: &[f64]) -> Result<Vec<f64>> {
    let total: f64 = v.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return Err(TheoryError::Degenerate("c_k sequence has zero total".into()));
    }
    Ok(v.iter().map(|x| x / total).collect())
}

fn log_pearson(a: &[f64], b: &[f64], mask_tiny: bool) -> Result<CkComparison> {
    let (a, b): (Vec<f64>, Vec<f64>) = if mask_tiny {
        a.iter().zip(b).filter(|(x, y)| **x > 1e-20 && **y > 1e-20).map(|(x, y)| (*x, *y)).unzip()
    } else {
        (a.to_vec(), b.to_vec())
    };
    check_min_points(if mask_tiny { 3 } else { 2 }, a.len())?;
    let la: Vec<f64> = a.iter().map(|v| (v + 1e-20).ln()).collect();
    let lb: Vec<f64> = b.iter().map(|v| (v + 1e-20).ln()).collect();
    let r = pearson_thresholded(&la, &lb, PEARSON_STD_THRESHOLD_E20)?;
    Ok(CkComparison { r, n_compared: a.len(), a_top: a, b_top: b })
}

/// The E20/E21 comparison metric, replicated literally: sort |c^emp| descending and divide
/// by its total (over **all** entries); sort c^th descending and divide by its total; keep
/// the top `k_cmp` of each; R = Pearson(ln(c^emp_top + 1e-20), ln(c^th_top + 1e-20)), 0 if
/// either std ≤ 1e-15. `mask_tiny` adds E21's extra mask (keep entries where both normalised
/// values > 1e-20, need ≥ 3).
///
/// **This metric cannot fail in the usual sense** (spec E13-E23 §2-E20 pitfall (a), §5
/// item 6): both sequences are sorted independently, so no mode is matched with any other;
/// two similarly ordered sequences always have a non-negative correlation (Chebyshev's sum
/// inequality), and a "5 large + 15 tiny" profile correlates strongly with any smoothly
/// decaying one. Use [`ck_comparison_matched`] for a test that can fail.
pub fn ck_comparison_sorted(c_emp: &[f64], c_th: &[f64], k_cmp: usize, mask_tiny: bool) -> Result<CkComparison> {
    check_finite("c_emp", c_emp)?;
    check_finite("c_th", c_th)?;
    let mut a: Vec<f64> = c_emp.iter().map(|v| v.abs()).collect();
    let mut b: Vec<f64> = c_th.to_vec();
    a.sort_by(|x, y| y.total_cmp(x));
    b.sort_by(|x, y| y.total_cmp(x));
    let a = normalise(&a)?;
    let b = normalise(&b)?;
    let kk = k_cmp.min(a.len()).min(b.len());
    log_pearson(&a[..kk], &b[..kk], mask_tiny)
}

/// Mode-matched variant of [`ck_comparison_sorted`]: `c_a[k]` and `c_b[k]` must refer to the
/// **same** mode k (the caller does the matching, e.g. aggregates empirical c_k onto the
/// input eigen-directions u_k in the order of `lambda_x`). Each sequence is made absolute,
/// normalised by its total, truncated to the first `k_cmp` entries **without sorting**, and
/// correlated in log space as in the reference metric. Unlike the sorted metric this can be
/// negative or near zero when the per-mode predictions are wrong.
pub fn ck_comparison_matched(c_a: &[f64], c_b: &[f64], k_cmp: usize, mask_tiny: bool) -> Result<CkComparison> {
    check_len("ck_comparison_matched", c_a.len(), c_b.len())?;
    check_finite("c_a", c_a)?;
    check_finite("c_b", c_b)?;
    let a = normalise(&c_a.iter().map(|v| v.abs()).collect::<Vec<_>>())?;
    let b = normalise(&c_b.iter().map(|v| v.abs()).collect::<Vec<_>>())?;
    let kk = k_cmp.min(a.len());
    log_pearson(&a[..kk], &b[..kk], mask_tiny)
}

/// Output of [`prediction_quality_r`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictionQuality {
    /// Pearson R of ln(S_pred + 1e-20) vs ln(S_meas + 1e-20) over the kept η
    /// (NaN if either log sequence is constant, like `numpy.corrcoef`).
    pub r: f64,
    /// Indices of the kept η.
    pub kept: Vec<usize>,
}

/// Prediction quality R (spec E01-E12 §1.9, E13-E23 §1.12): keep η with S_pred > 0 and
/// S_meas > 1e-12 (NaN fails both tests; +∞ S_pred from the honest rule is also dropped);
/// need ≥ 3; R = Pearson(ln(S_pred + 1e-20), ln(S_meas + 1e-20)). R is scale-free.
pub fn prediction_quality_r(s_pred: &[f64], s_meas: &[f64]) -> Result<PredictionQuality> {
    check_len("prediction_quality_r: s_pred vs s_meas", s_pred.len(), s_meas.len())?;
    let kept: Vec<usize> = (0..s_pred.len())
        .filter(|&i| s_pred[i] > 0.0 && s_pred[i].is_finite() && s_meas[i] > 1e-12 && s_meas[i].is_finite())
        .collect();
    check_min_points(3, kept.len())?;
    let a: Vec<f64> = kept.iter().map(|&i| (s_pred[i] + 1e-20).ln()).collect();
    let b: Vec<f64> = kept.iter().map(|&i| (s_meas[i] + 1e-20).ln()).collect();
    Ok(PredictionQuality { r: pearson_corrcoef(&a, &b)?, kept })
}

/// R of the null predictor S_null(η) = 1/η — no Hessian, no c_k, only "the bigger the step, the
/// sooner it converges" — on the η where `s_pred` is usable (the η set of the predictor it is
/// compared with). A predictor whose R does not beat this one's carries no evidence in R.
pub fn null_prediction_quality_r(etas: &[f64], s_pred: &[f64], s_meas: &[f64]) -> Result<PredictionQuality> {
    check_len("null_prediction_quality_r: etas vs s_pred", etas.len(), s_pred.len())?;
    let null: Vec<f64> = etas
        .iter()
        .zip(s_pred)
        .map(|(&e, &p)| if p > 0.0 && p.is_finite() && e > 0.0 { 1.0 / e } else { f64::NAN })
        .collect();
    prediction_quality_r(&null, s_meas)
}
