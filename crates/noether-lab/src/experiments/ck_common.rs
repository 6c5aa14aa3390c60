//! Shared analysis of E20 and E21 (spec E13–E23 §1.9–1.10, §2-E20, §2-E21, §5 item 6): c_k
//! validation. A [`Job::CkModes`](crate::job::Job::CkModes) (run by `runner/ck_modes.rs`)
//! records the full Hessian with c_k by gradient projection, the theoretical c_k of the input
//! modes (literal and Σ_x⁻¹-corrected) and the empirical c aggregated onto the same input modes;
//! this module compares them: the reference's sorted-list correlation, the robust mode-matched
//! correlation, and null models that show what a comparison can detect.

use noether_theory::crossover::{ck_comparison_matched, ck_comparison_sorted, k_cmp};
use noether_theory::fit::{PEARSON_STD_THRESHOLD_E20, pearson_thresholded};
use noether_theory::rng::SplitMix64;
use serde::Serialize;

use crate::LabError;
use crate::experiment::fmt;
use crate::plot::{Axis, Figure, Series};
use crate::results::{CkModesResult, ZeroTargetSwitch};

/// Eigenvalues > this count as positive (the reference's n_pos).
pub const EIG_POS: f64 = 1e-8;
/// The reference's cap on K_cmp.
pub const K_CAP: usize = 20;

/// Every comparison of one Hessian (one seed, or one (η, seed) of E21).
#[derive(Clone, Debug, Serialize)]
pub struct CkAnalysis {
    pub(crate) seed: u64,
    /// Number of Hessian modes (P).
    pub(crate) n_modes: usize,
    pub(crate) n_pos: usize,
    pub(crate) k_cmp: usize,
    pub(crate) lambda_max: f64,
    pub(crate) loss: f64,
    pub(crate) delta0: f64,
    /// Reference metric: sorted |c^emp| (all Hessian modes) vs sorted c^th (literal).
    pub(crate) r_sorted: f64,
    /// Reference R_spectrum: top-K_cmp Hessian eigenvalues vs top-K_cmp λ_x (logs).
    pub(crate) r_spectrum: f64,
    /// Sorted metric with the Σ_x⁻¹-corrected c^th.
    pub(crate) r_sorted_ls: f64,
    /// Robust: mode-matched (soft assignment) vs literal c^th.
    pub(crate) r_matched: f64,
    /// Mode-matched (soft) vs corrected c^th.
    pub(crate) r_matched_ls: f64,
    /// Mode-matched (hard assignment) vs literal / corrected c^th.
    pub(crate) r_matched_hard: f64,
    pub(crate) r_matched_hard_ls: f64,
    /// Null models: sorted metric against sorted λ_x² and mean over random decreasing sequences;
    /// matched metric against λ_x² of the same mode (does c^th add anything beyond λ_x?).
    pub(crate) r_null_sorted_lambda2: f64,
    pub(crate) r_null_sorted_random: f64,
    pub(crate) r_null_matched_lambda2: f64,
    /// Fraction of Σ c_j on Hessian modes that do not move W_eff.
    pub(crate) unassigned_fraction: f64,
    pub(crate) active_fraction: f64,
    pub(crate) switch: Option<ZeroTargetSwitch>,
    /// Normalised sequences for plots: sorted top-K_cmp (emp, th), matched (soft emp, th, th_ls).
    pub(crate) sorted_emp: Vec<f64>,
    pub(crate) sorted_th: Vec<f64>,
    pub(crate) matched_emp: Vec<f64>,
    pub(crate) matched_th: Vec<f64>,
    pub(crate) matched_th_ls: Vec<f64>,
    /// Normalised c^th top 5 and sorted c^emp top 3 (the spec's table columns).
    pub(crate) th_top5: Vec<f64>,
    pub(crate) emp_top3: Vec<f64>,
    pub(crate) lambda_x_top5: Vec<f64>,
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
    let ck = h.ck.as_ref().ok_or_else(|| LabError::analysis("c_k", "a c_k-modes result without c_k"))?;
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
pub fn ck_scatter(file: &str, title: &str, sets: &[(String, Vec<f64>, Vec<f64>)]) -> Figure {
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
    Figure::xy(file, title, Axis::log("predicted c_k (normalised)"), Axis::log("measured c_k (normalised)"), series)
}
