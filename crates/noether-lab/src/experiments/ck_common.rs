//! Shared machinery of E20 and E21 (spec E13–E23 §1.9–1.10, §2-E20, §2-E21, §5 item 6): c_k
//! validation. One [`Job::CkModes`](crate::job::Job::CkModes) computes, at the initial or the
//! trained weights of a 2-layer bias-free MSE network:
//!
//! * the full Hessian (closed form), its eigenpairs and the empirical c_k by gradient
//!   projection (§1.10) — exactly what a Hessian job with `ck: true` records;
//! * the reference's "theoretical c_k" e_k²·λ_{x,k}² from the uncentred data covariance
//!   (literal, no Σ_x⁻¹) and its Σ_x⁻¹-corrected variant ([`theoretical_ck_linear`]), with
//!   W_eff = W2·diag(s̄)·W1 (s̄ = mean activation slope: 1 for linear nets, E21's
//!   activation-averaged W_eff for ReLU);
//! * the **mode matching** of the robust protocol: every Hessian eigenvector v_j is mapped to
//!   the change of W_eff it causes, δW_eff(v_j), resolved along the input eigen-directions u_k
//!   ([`EffectiveMap`]); its c_j is split over the u_k in proportion (soft) or given to the
//!   dominant u_k (hard) ([`aggregate_ck_onto_input_modes`]). The result is an empirical c per
//!   input mode, paired with the prediction for the *same* mode;
//! * E21's probes: active fraction and the one-step zero-target switch rate.

use noether_nn::{Evaluator, Real};
use noether_theory::crossover::{
    EffectiveMap, InputModeCk, aggregate_ck_onto_input_modes, ck_comparison_matched, ck_comparison_sorted, k_cmp,
    theoretical_ck_linear,
};
use noether_theory::fit::{PEARSON_STD_THRESHOLD_E20, pearson_thresholded};
use noether_theory::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::experiment::fmt;
use crate::job::HessianJob;
use crate::plot::{Series, xy_plot};
use crate::runner::{FullHessianEigen, HessianResult, build, full_hessian_eigen, plain_gd};

/// Hessian modes whose δW_eff energy is below this fraction of the largest are "unassigned".
pub const UNASSIGNED_REL_FLOOR: f64 = 1e-10;
/// Eigenvalues > this count as positive (the reference's n_pos).
pub const EIG_POS: f64 = 1e-8;
/// The reference's cap on K_cmp.
pub const K_CAP: usize = 20;

/// The per-input-mode analysis of one Hessian.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CkModes {
    /// λ_{x,k} of Σ_x = XᵀX/n, descending.
    pub lambda_x: Vec<f64>,
    /// The reference's theoretical c_k = e_k²λ_{x,k}² (no Σ_x⁻¹), in the order of `lambda_x`.
    pub ck_th: Vec<f64>,
    /// The Σ_x⁻¹-corrected variant (least-squares target W* = Σ_yx Σ_x⁻¹).
    pub ck_th_ls: Vec<f64>,
    /// Empirical c_j aggregated onto the input modes (order of `lambda_x`).
    pub emp: InputModeCk,
    /// Mean of [h > 0] over the n·m pre-activations.
    pub active_fraction: f64,
    /// E21's one-step zero-target switch probe (None for a linear net).
    pub switch_zero_target: Option<ZeroTargetSwitch>,
}

/// One SGD step at the training lr on MSE against all-zero targets; flips of [X·W1ᵀ > 0].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ZeroTargetSwitch {
    pub switches: usize,
    pub entries: usize,
    pub rate: f64,
}

/// What a `CkModes` job records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CkModesResult {
    pub hessian: HessianResult,
    /// None if the pre-training diverged.
    pub modes: Option<CkModes>,
}

/// Runs a `CkModes` job in precision `T` (the Hessian, eigenpairs and c_k exactly as the runner's
/// Hessian job computes them, with eigenvectors).
pub fn run_ck_modes<T: Real>(job: &HessianJob) -> Result<CkModesResult, LabError> {
    let p = &job.problem;
    if p.net.hidden.len() != 1 || p.net.bias || p.ce_weight != 0.0 {
        return Err(LabError::Config(
            "a c_k-modes job needs a 2-layer bias-free network trained with MSE (E20/E21)".into(),
        ));
    }
    let (net, data, mut params, loss) = build::<T>(p)?;
    if job.train_steps > 0 {
        let mut eval = Evaluator::new(&net, loss, &data)?;
        if plain_gd(&mut eval, &mut params, job.train_lr, job.train_steps).is_some() {
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
        _ => return Err(LabError::Run("c_k-modes job: the Hessian came back without eigenvectors".into())),
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

/// Every comparison of one Hessian (one seed, or one (η, seed) of E21).
#[derive(Clone, Debug, Serialize)]
pub struct CkAnalysis {
    pub seed: u64,
    /// Number of Hessian modes (P).
    pub n_modes: usize,
    pub n_pos: usize,
    pub k_cmp: usize,
    pub lambda_max: f64,
    pub loss: f64,
    pub delta0: f64,
    /// Reference metric: sorted |c^emp| (all Hessian modes) vs sorted c^th (literal).
    pub r_sorted: f64,
    /// Reference R_spectrum: top-K_cmp Hessian eigenvalues vs top-K_cmp λ_x (logs).
    pub r_spectrum: f64,
    /// Sorted metric with the Σ_x⁻¹-corrected c^th.
    pub r_sorted_ls: f64,
    /// Robust: mode-matched (soft assignment) vs literal c^th.
    pub r_matched: f64,
    /// Mode-matched (soft) vs corrected c^th.
    pub r_matched_ls: f64,
    /// Mode-matched (hard assignment) vs literal / corrected c^th.
    pub r_matched_hard: f64,
    pub r_matched_hard_ls: f64,
    /// Null models: sorted metric against sorted λ_x² and mean over random decreasing sequences;
    /// matched metric against λ_x² of the same mode (does c^th add anything beyond λ_x?).
    pub r_null_sorted_lambda2: f64,
    pub r_null_sorted_random: f64,
    pub r_null_matched_lambda2: f64,
    /// Fraction of Σ c_j on Hessian modes that do not move W_eff.
    pub unassigned_fraction: f64,
    pub active_fraction: f64,
    pub switch: Option<ZeroTargetSwitch>,
    /// Normalised sequences for plots: sorted top-K_cmp (emp, th), matched (soft emp, th, th_ls).
    pub sorted_emp: Vec<f64>,
    pub sorted_th: Vec<f64>,
    pub matched_emp: Vec<f64>,
    pub matched_th: Vec<f64>,
    pub matched_th_ls: Vec<f64>,
    /// Normalised c^th top 5 and sorted c^emp top 3 (the spec's table columns).
    pub th_top5: Vec<f64>,
    pub emp_top3: Vec<f64>,
    pub lambda_x_top5: Vec<f64>,
}

fn r_or_nan(r: Result<noether_theory::crossover::CkComparison, noether_theory::TheoryError>) -> f64 {
    r.map_or(f64::NAN, |c| c.r)
}

fn normalised(v: &[f64]) -> Vec<f64> {
    let t: f64 = v.iter().map(|x| x.abs()).sum();
    v.iter().map(|x| x.abs() / t).collect()
}

/// All comparisons for one `CkModes` result; `mask_tiny` is E21's extra mask; `null_draws`
/// random decreasing sequences (log-uniform on [1e−6, 1], sorted) seeded by `seed`.
pub fn analyse(
    seed: u64,
    r: &CkModesResult,
    mask_tiny: bool,
    null_draws: usize,
) -> Result<Option<CkAnalysis>, LabError> {
    let (h, modes) = match (&r.hessian, &r.modes) {
        (h, Some(m)) if h.finite => (h, m),
        _ => return Ok(None),
    };
    let ck = h.ck.as_ref().ok_or_else(|| LabError::Run("c_k-modes result without c_k".into()))?;
    let d = modes.lambda_x.len();
    let n_pos = h.eigenvalues.iter().filter(|&&l| l > EIG_POS).count();
    let kc = k_cmp(d, n_pos, K_CAP);
    let sorted = ck_comparison_sorted(ck, &modes.ck_th, kc, mask_tiny);
    let top_h: Vec<f64> = h.eigenvalues.iter().rev().take(kc).map(|l| (l.abs() + 1e-20).ln()).collect();
    let top_x: Vec<f64> = modes.lambda_x.iter().take(kc).map(|l| (l + 1e-20).ln()).collect();
    let r_spectrum = pearson_thresholded(&top_h, &top_x, PEARSON_STD_THRESHOLD_E20).unwrap_or(f64::NAN);
    let lam2: Vec<f64> = modes.lambda_x.iter().map(|l| l * l).collect();
    let mut rng = SplitMix64::new(seed ^ 0x0c6b_5eed);
    let mut acc = 0.0;
    let mut cnt = 0usize;
    for _ in 0..null_draws {
        let seq: Vec<f64> = (0..d).map(|_| (rng.next_f64() * (1e-6f64).ln()).exp()).collect();
        if let Ok(c) = ck_comparison_sorted(ck, &seq, kc, mask_tiny) {
            acc += c.r;
            cnt += 1;
        }
    }
    let soft = &modes.emp.soft;
    let hard = &modes.emp.hard;
    let total: f64 = ck.iter().sum();
    let (sorted_emp, sorted_th) = sorted.as_ref().map_or((vec![], vec![]), |c| (c.a_top.clone(), c.b_top.clone()));
    let mut th_sorted = modes.ck_th.clone();
    th_sorted.sort_by(|a, b| b.total_cmp(a));
    let mut emp_sorted: Vec<f64> = ck.iter().map(|c| c.abs()).collect();
    emp_sorted.sort_by(|a, b| b.total_cmp(a));
    Ok(Some(CkAnalysis {
        seed,
        n_modes: h.eigenvalues.len(),
        n_pos,
        k_cmp: kc,
        lambda_max: h.eigenvalues.last().copied().unwrap_or(f64::NAN),
        loss: h.loss,
        delta0: h.delta0,
        r_sorted: r_or_nan(sorted),
        r_spectrum,
        r_sorted_ls: r_or_nan(ck_comparison_sorted(ck, &modes.ck_th_ls, kc, mask_tiny)),
        r_matched: r_or_nan(ck_comparison_matched(soft, &modes.ck_th, d, mask_tiny)),
        r_matched_ls: r_or_nan(ck_comparison_matched(soft, &modes.ck_th_ls, d, mask_tiny)),
        r_matched_hard: r_or_nan(ck_comparison_matched(hard, &modes.ck_th, d, mask_tiny)),
        r_matched_hard_ls: r_or_nan(ck_comparison_matched(hard, &modes.ck_th_ls, d, mask_tiny)),
        r_null_sorted_lambda2: r_or_nan(ck_comparison_sorted(ck, &lam2, kc, mask_tiny)),
        r_null_sorted_random: if cnt > 0 { acc / cnt as f64 } else { f64::NAN },
        r_null_matched_lambda2: r_or_nan(ck_comparison_matched(soft, &lam2, d, mask_tiny)),
        unassigned_fraction: if total > 0.0 { modes.emp.unassigned / total } else { f64::NAN },
        active_fraction: modes.active_fraction,
        switch: modes.switch_zero_target.clone(),
        sorted_emp,
        sorted_th,
        matched_emp: normalised(soft),
        matched_th: normalised(&modes.ck_th),
        matched_th_ls: normalised(&modes.ck_th_ls),
        th_top5: normalised(&th_sorted).into_iter().take(5).collect(),
        emp_top3: normalised(&emp_sorted).into_iter().take(3).collect(),
        lambda_x_top5: modes.lambda_x.iter().take(5).copied().collect(),
    }))
}

/// Mean of the finite values (NaN if none).
pub fn mean_finite(v: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = v.into_iter().filter(|x| x.is_finite()).fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Population std (ddof 0) of the finite values (NaN if none).
pub fn std_finite(v: impl IntoIterator<Item = f64> + Clone) -> f64 {
    let m = mean_finite(v.clone());
    let (s, n) =
        v.into_iter().filter(|x| x.is_finite()).fold((0.0, 0usize), |(s, n), x| (s + (x - m) * (x - m), n + 1));
    if n == 0 { f64::NAN } else { (s / n as f64).sqrt() }
}

/// "a / b / c" of numbers formatted by [`fmt`].
pub fn slash(v: impl IntoIterator<Item = f64>) -> String {
    v.into_iter().map(fmt).collect::<Vec<_>>().join(" / ")
}

/// Log-log scatter of predicted (x) vs measured (y) normalised c_k, one series per entry of
/// `sets` (label, x, y), with the line y = x.
pub fn ck_scatter(path: &std::path::Path, title: &str, sets: &[(String, Vec<f64>, Vec<f64>)]) -> Result<(), LabError> {
    let mut series: Vec<Series> = sets
        .iter()
        .map(|(label, x, y)| Series {
            label: label.clone(),
            points: x.iter().copied().zip(y.iter().copied()).collect(),
            fit: None,
            line: false,
        })
        .collect();
    let lo = sets
        .iter()
        .flat_map(|(_, x, y)| x.iter().chain(y.iter()).copied())
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold(1.0f64, f64::min);
    series.push(Series { label: "y = x".into(), points: vec![(lo, lo), (1.0, 1.0)], fit: None, line: true });
    xy_plot(path, title, "predicted c_k (normalised)", "measured c_k (normalised)", &series, &[], true, true)
}
