//! Conserved quantities, drift definitions, the drift = η²·S identity and EoS diagnostics.
//!
//! Spec E01-E12 §1.6 and E13-E23 §1.6. For a bias-free, positively 1-homogeneous network
//! the layer-balance quantities C_l = ‖W_{l+1}‖²_F − ‖W_l‖²_F (weights only) are conserved
//! by gradient flow; plain GD changes them by exactly η²·δ_l(t) per step, where
//! δ_l(t) = ‖∂L/∂W_{l+1}‖² − ‖∂L/∂W_l‖² is evaluated before the update. Hence
//! drift = η²·S with S = |Σ_t δ(t)| (absolute value of the *signed* sum).
//!
//! "Drift" means different things in different reference scripts; each definition is its own
//! function here (names say exactly what is measured):
//!
//! | function | used in |
//! |---|---|
//! | [`max_rel_drift`] | E1–E3 (`conservation_laws`) |
//! | [`abs_drift_final`] | E5, E7a, E8, E9, E11, E12, E13–E22 (single 2-layer C) |
//! | [`drift_from_step1_sum`] | E4 (`eos_deep`), baseline after the first update |
//! | [`mean_abs_drift_over_layers`] | E6 (`universality_depth`, `depth_imbalance`), E7b |
//!
//! Trajectory convention (unless stated otherwise): `traj[i]` is C after i updates, so
//! `traj[0]` = C(0) before any update and the last element is C(T).

use crate::error::{Result, TheoryError, check_len, check_min_points};
use serde::{Deserialize, Serialize};

/// C_l = ‖W_{l+1}‖² − ‖W_l‖² for l = 1..L−1 from the squared Frobenius norms of the L
/// weight matrices (input layer first). Biases are ignored, as in every reference script.
/// The same formula applied to squared *gradient* norms gives the imbalances δ_l.
pub fn layer_balance(sq_norms: &[f64]) -> Vec<f64> {
    sq_norms.windows(2).map(|w| w[1] - w[0]).collect()
}

/// The true gradient-flow invariant with biases (spec E01-E12 §1.6 and E2 note 3):
/// ‖W_{l+1}‖² − ‖W_l‖² − ‖b_l‖², l = 1..L−1 (`bias_sq_norms[l-1]` = ‖b_l‖², one per layer;
/// the output layer's bias does not enter). Lengths must match.
pub fn layer_balance_with_bias(weight_sq_norms: &[f64], bias_sq_norms: &[f64]) -> Result<Vec<f64>> {
    check_len("layer_balance_with_bias", weight_sq_norms.len(), bias_sq_norms.len())?;
    Ok(weight_sq_norms.windows(2).zip(bias_sq_norms).map(|(w, b)| w[1] - w[0] - b).collect())
}

/// S = |Σ_t δ(t)|: absolute value of the signed sum of the per-step gradient imbalance.
pub fn imbalance_sum_s(deltas: &[f64]) -> f64 {
    deltas.iter().sum::<f64>().abs()
}

/// The exact GD identity (spec E01-E12 §1.6): drift = η²·S with S = |Σ_t δ(t)|.
pub fn drift_eta2_s(eta: f64, deltas: &[f64]) -> f64 {
    eta * eta * imbalance_sum_s(deltas)
}

/// `depth_imbalance`'s S for depth > 2 (E6b): |Σ_t mean_l δ_l(t)|, with
/// `deltas_by_layer[l][t]`. (It is not drift/η² for L > 2.)
pub fn imbalance_sum_of_layer_mean(deltas_by_layer: &[&[f64]]) -> Result<f64> {
    check_min_points(1, deltas_by_layer.len())?;
    let t = deltas_by_layer[0].len();
    for d in deltas_by_layer {
        check_len("imbalance_sum_of_layer_mean: layer lengths", d.len(), t)?;
    }
    let l = deltas_by_layer.len() as f64;
    Ok((0..t).map(|s| deltas_by_layer.iter().map(|d| d[s]).sum::<f64>() / l).sum::<f64>().abs())
}

/// Threshold below which |C_l(0)| is treated as zero and the drift is reported in absolute
/// terms (E1–E3).
pub const REL_DRIFT_ABS_THRESHOLD: f64 = 1e-10;

/// E1–E3 drift (`conservation_laws`): for each quantity l, the maximum over t = 1..T of
/// |C_l(t) − C_l(0)| / |C_l(0)| (absolute |C_l(t) − C_l(0)| if |C_l(0)| ≤ 1e-10), then the
/// mean over l. `trajectories[l][t]` must contain C_l(0) at index 0 and at least one later
/// step. Any NaN in a trajectory makes the result NaN (divergence is not hidden).
pub fn max_rel_drift(trajectories: &[&[f64]]) -> Result<f64> {
    check_min_points(1, trajectories.len())?;
    let mut acc = 0.0;
    for traj in trajectories {
        check_min_points(2, traj.len())?;
        let c0 = traj[0];
        let denom = if c0.abs() <= REL_DRIFT_ABS_THRESHOLD { 1.0 } else { c0.abs() };
        let mut m = 0.0f64;
        for &c in &traj[1..] {
            let r = (c - c0).abs() / denom;
            if r.is_nan() {
                return Ok(f64::NAN);
            }
            m = m.max(r);
        }
        if c0.is_nan() {
            return Ok(f64::NAN);
        }
        acc += m;
    }
    Ok(acc / trajectories.len() as f64)
}

/// |C(T) − C(0)| of a single quantity: last minus first element of the trajectory
/// (E5, E7a, E8, E9, E11, E12 and E13–E22).
pub fn abs_drift_final(traj: &[f64]) -> Result<f64> {
    check_min_points(1, traj.len())?;
    Ok((traj[traj.len() - 1] - traj[0]).abs())
}

/// E4 (`eos_deep`) drift: Σ_l |C_l(T) − C_l(1)|, baseline **after the first update**.
/// Here `trajectories[l]` are the logged records, which in `eos_deep` start at step 1
/// (records at steps 1, 25, 50, …, 5000; C(0) is not logged): element 0 is C_l(1) and the
/// last element is C_l(T).
pub fn drift_from_step1_sum(trajectories: &[&[f64]]) -> Result<f64> {
    check_min_points(1, trajectories.len())?;
    let mut s = 0.0;
    for traj in trajectories {
        s += abs_drift_final(traj)?;
    }
    Ok(s)
}

/// E6/E7b drift: mean over l of |C_l(T) − C_l(0)| (trajectory convention of the module).
pub fn mean_abs_drift_over_layers(trajectories: &[&[f64]]) -> Result<f64> {
    Ok(drift_from_step1_sum(trajectories)? / trajectories.len() as f64)
}

/// Relative final drift |C(T) − C(0)|/|C(0)| (E5 "mean rel."), absolute if |C(0)| ≤ 1e-10.
pub fn rel_drift_final(traj: &[f64]) -> Result<f64> {
    let d = abs_drift_final(traj)?;
    let c0 = traj[0].abs();
    Ok(if c0 <= REL_DRIFT_ABS_THRESHOLD { d } else { d / c0 })
}

/// Stability threshold of GD on a quadratic: 2/η (a mode with λ > 2/η is unstable).
pub fn stability_threshold(eta: f64) -> Result<f64> {
    if !(eta.is_finite() && eta > 0.0) {
        return Err(TheoryError::InvalidInput(format!("eta = {eta} must be > 0")));
    }
    Ok(2.0 / eta)
}

/// E4 edge-of-stability diagnostics (script printout of `exp_eos_deep_v1.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EosDiagnostics {
    /// 2/η.
    pub threshold: f64,
    /// Maximum of the logged λ_max values.
    pub max_lambda: f64,
    /// Mean of the last 20 logged λ_max values (all of them if fewer than 20).
    pub last20_mean: f64,
    /// max λ ≥ 0.8·2/η.
    pub reached_80: bool,
    /// mean of the last 20 λ ≥ 0.6·2/η.
    pub eos_detected: bool,
}

/// E4 diagnostics from the logged λ_max series: reached_80 = max λ ≥ 0.8·(2/η);
/// eos_detected = mean of the last 20 records ≥ 0.6·(2/η) (`lam[-20:]`, so all records if
/// fewer than 20). λ values must be finite.
pub fn eos_diagnostics(lambdas: &[f64], eta: f64) -> Result<EosDiagnostics> {
    check_min_points(1, lambdas.len())?;
    crate::error::check_finite("lambdas", lambdas)?;
    let threshold = stability_threshold(eta)?;
    let max_lambda = lambdas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = &lambdas[lambdas.len().saturating_sub(20)..];
    let last20_mean = tail.iter().sum::<f64>() / tail.len() as f64;
    Ok(EosDiagnostics {
        threshold,
        max_lambda,
        last20_mean,
        reached_80: max_lambda >= 0.8 * threshold,
        eos_detected: last20_mean >= 0.6 * threshold,
    })
}
