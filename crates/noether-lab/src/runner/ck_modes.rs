//! The `CkModes` job of E20/E21 (spec E13–E23 §1.9–1.10, §2-E20, §2-E21): at the initial or
//! the trained weights of a 2-layer bias-free MSE network, the full Hessian with eigenvectors
//! and c_k by gradient projection (what a Hessian job with `ck: true` records), plus
//!
//! * the reference's "theoretical c_k" e_k²·λ_{x,k}² from the uncentred data covariance
//!   (literal, no Σ_x⁻¹) and its Σ_x⁻¹-corrected variant ([`theoretical_ck_linear`]), with
//!   W_eff = W2·diag(s̄)·W1 (s̄ = mean activation slope: 1 for linear nets, E21's
//!   activation-averaged W_eff for ReLU);
//! * the **mode matching** of the robust protocol: every Hessian eigenvector v_j is mapped to
//!   the change of W_eff it causes, δW_eff(v_j), resolved along the input eigen-directions u_k
//!   ([`EffectiveMap`]); its c_j is split over the u_k in proportion (soft) or given to the
//!   dominant u_k (hard) ([`aggregate_ck_onto_input_modes`]);
//! * E21's probes: active fraction and the one-step zero-target switch rate.
//!
//! The comparisons of these numbers live in `experiments/ck_common.rs`.

use noether_nn::{Evaluator, Real};
use noether_theory::crossover::{EffectiveMap, aggregate_ck_onto_input_modes, theoretical_ck_linear};

use super::{FullHessianEigen, build, full_hessian_eigen, plain_gd};
use crate::LabError;
use crate::job::HessianJob;
use crate::results::{CkModes, CkModesResult, HessianResult, ZeroTargetSwitch};

/// Hessian modes whose δW_eff energy is below this fraction of the largest are "unassigned".
pub const UNASSIGNED_REL_FLOOR: f64 = 1e-10;

/// Runs a `CkModes` job in precision `T` (the Hessian, eigenpairs and c_k exactly as the runner's
/// Hessian job computes them, with eigenvectors).
pub(crate) fn run_ck_modes<T: Real>(job: &HessianJob) -> Result<CkModesResult, LabError> {
    let p = &job.problem;
    if p.net.hidden.len() != 1 || p.net.bias || p.ce_weight != 0.0 {
        return Err(LabError::Job {
            job: p.data.describe(),
            reason: "a c_k-modes job needs a 2-layer bias-free network trained with MSE (E20/E21)".into(),
        });
    }
    let (net, data, mut params, loss) = build::<T>(p)?;
    if job.train_steps > 0 {
        let mut eval = Evaluator::new(&net, loss, &data)?;
        if plain_gd(&mut eval, &mut params, job.train_lr, job.train_steps)?.is_some() {
            let hessian =
                HessianResult { eigenvalues: Vec::new(), ck: None, delta0: f64::NAN, loss: f64::NAN, finite: false };
            return Ok(CkModesResult { hessian, modes: None });
        }
    }
    let layout = net.layout();
    let FullHessianEigen { values, vectors, ck, delta0, loss: loss_value } =
        full_hessian_eigen(&net, loss, &data, params.clone(), true)?;
    let (v, ck) = match (vectors, ck) {
        (Some(v), Some(ck)) => (v, ck),
        _ => {
            return Err(LabError::Job {
                job: p.data.describe(),
                reason: "c_k-modes: the Hessian came back without eigenvectors".into(),
            });
        }
    };

    // Data (row-major f64), one-hot targets, weights.
    let (n, d, k) = (data.n, data.d, data.classes);
    let m = p.net.hidden[0];
    let x_rm: Vec<f64> = (0..n * d).map(|i| data.get(i / d, i % d).to_f64()).collect();
    let mut y = vec![0.0; n * k];
    for (i, &c) in data.labels.iter().enumerate() {
        y[i * k + c] = 1.0;
    }
    let w1t: &[T] = layout.weight(&params, 0);
    let w2t: &[T] = layout.weight(&params, 1);
    let w1: Vec<f64> = w1t.iter().map(|v| v.to_f64()).collect();
    let w2: Vec<f64> = w2t.iter().map(|v| v.to_f64()).collect();
    let eps = p.net.activation_eps;
    // Pre-activations in T; s̄_j = mean_i σ'(h_ij), active fraction = mean [h > 0].
    let pre = preactivations(&data, w1t, m);
    let mut sbar = vec![0.0; m];
    let mut active = 0usize;
    for i in 0..n {
        for j in 0..m {
            let on = pre[i * m + j] > T::ZERO;
            active += usize::from(on);
            sbar[j] += (1.0 - eps) + if on { eps } else { 0.0 };
        }
    }
    sbar.iter_mut().for_each(|s| *s /= n as f64);
    let mut w_eff = vec![0.0; k * d];
    for r in 0..k {
        for j in 0..m {
            let c = w2[r * m + j] * sbar[j];
            for l in 0..d {
                w_eff[r * d + l] += c * w1[j * d + l];
            }
        }
    }
    let th = theoretical_ck_linear(&x_rm, &y, &w_eff, n, d, k)?;
    let map = EffectiveMap::new(&w1, &w2, &sbar, &th.u, m, d, k)?;
    let mut energies = Vec::with_capacity(v.ncols() * d);
    for k in 0..v.ncols() {
        energies.extend(map.energies(v.col_as_slice(k))?);
    }
    drop(v);
    let emp = aggregate_ck_onto_input_modes(&energies, d, &ck, UNASSIGNED_REL_FLOOR)?;
    let switch_zero_target = (eps != 0.0).then(|| zero_target_switch(&data, w1t, w2t, m, k, eps, job.train_lr, &pre));
    let modes = CkModes {
        lambda_x: th.lambda_x,
        ck_th: th.ck,
        ck_th_ls: th.ck_ls,
        emp,
        active_fraction: active as f64 / (n * m) as f64,
        switch_zero_target,
    };
    let hessian = HessianResult { eigenvalues: values, ck: Some(ck), delta0, loss: loss_value, finite: true };
    Ok(CkModesResult { hessian, modes: Some(modes) })
}

/// H = X·W1ᵀ (row-major n×m) in precision T.
fn preactivations<T: Real>(data: &noether_nn::Dataset<T>, w1: &[T], m: usize) -> Vec<T> {
    let (n, d) = (data.n, data.d);
    let mut h = vec![T::ZERO; n * m];
    for i in 0..n {
        for j in 0..m {
            let mut acc = T::ZERO;
            for l in 0..d {
                acc = acc + data.get(i, l) * w1[j * d + l];
            }
            h[i * m + j] = acc;
        }
    }
    h
}

/// Spec §2-E21 step 1: copy the model, one SGD step at `lr` on MSE (1/(nK) mean) against an
/// all-zero target, count the entries of [X·W1ᵀ > 0] that changed. Computed in precision T.
#[allow(clippy::too_many_arguments)]
fn zero_target_switch<T: Real>(
    data: &noether_nn::Dataset<T>,
    w1: &[T],
    w2: &[T],
    m: usize,
    k: usize,
    eps: f64,
    lr: f64,
    pre: &[T],
) -> ZeroTargetSwitch {
    let (n, d) = (data.n, data.d);
    let e = T::from_f64(eps);
    let one_m_e = T::from_f64(1.0 - eps);
    let scale = T::from_f64(2.0 / (n * k) as f64);
    let mut gw1 = vec![T::ZERO; m * d];
    let mut act = vec![T::ZERO; m];
    let mut back = vec![T::ZERO; m];
    for i in 0..n {
        let h = &pre[i * m..(i + 1) * m];
        for j in 0..m {
            act[j] = if h[j] > T::ZERO { h[j] } else { one_m_e * h[j] };
        }
        back.iter_mut().for_each(|b| *b = T::ZERO);
        for r in 0..k {
            let mut f = T::ZERO;
            for j in 0..m {
                f = f + w2[r * m + j] * act[j];
            }
            let go = scale * f; // ∂L/∂f_ir with target 0
            for j in 0..m {
                back[j] = back[j] + go * w2[r * m + j];
            }
        }
        for j in 0..m {
            let s = if h[j] > T::ZERO { one_m_e + e } else { one_m_e };
            let dh = back[j] * s;
            for l in 0..d {
                gw1[j * d + l] = gw1[j * d + l] + dh * data.get(i, l);
            }
        }
    }
    let eta = T::from_f64(lr);
    let w1_new: Vec<T> = w1.iter().zip(&gw1).map(|(&w, &g)| w - eta * g).collect();
    let after = preactivations(data, &w1_new, m);
    let switches = pre.iter().zip(&after).filter(|(a, b)| (**a > T::ZERO) != (**b > T::ZERO)).count();
    ZeroTargetSwitch { switches, entries: n * m, rate: switches as f64 / (n * m) as f64 }
}
