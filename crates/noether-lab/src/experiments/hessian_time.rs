//! Shared by E16, E18 and E23 (spec E13–E23 §1.9–1.12): the full Hessian and softmax statistics
//! at several checkpoints of ONE GD run per seed, and the Theorem-4/5 predictor S_pred(η)
//! evaluated at each checkpoint against measured S(η).
//!
//! Jobs per seed: the θ0 Hessian is a [`HessianJob`] with c_k (the very job E08 uses, so the
//! suite computes it once), every later checkpoint comes from one [`TrajectoryJob`] (trained
//! once, analysed at each checkpoint; the closed-form dense Hessian and a faer
//! eigendecomposition, eigenvalues only unless c_k is needed).

use noether_theory::crossover::{
    UnstableModeRule, null_prediction_quality_r, prediction_quality_r, spectral_crossover_s_pred,
};
use serde::Serialize;

use crate::LabError;
use crate::config::Invalid;
use crate::job::{HessianJob, Job, ProblemSpec, TrajectoryJob};
use crate::results::Results;
use crate::results::{CheckpointResult, HessianResult};

/// Checks a checkpoint list of a config (`key`): strictly ascending, starting at 0, at least
/// `min_len` entries.
pub fn check_checkpoints(key: &str, checkpoints: &[usize], min_len: usize) -> Result<(), Invalid> {
    if checkpoints.first() != Some(&0) {
        return Err(Invalid::new(key, format!("must start at 0 (the initial Hessian), got {checkpoints:?}")));
    }
    if checkpoints.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Invalid::new(key, format!("must be strictly ascending, got {checkpoints:?}")));
    }
    if checkpoints.len() < min_len {
        return Err(Invalid::new(key, format!("at least {min_len} checkpoints are needed, got {}", checkpoints.len())));
    }
    Ok(())
}

/// One trajectory per seed: the θ0 Hessian job (if 0 is a Hessian checkpoint) and the run.
pub struct TimePlan {
    pub seeds: Vec<u64>,
    pub t0: Vec<Option<Job>>,
    pub runs: Vec<Job>,
}

impl TimePlan {
    /// `checkpoints` ascending (softmax statistics at each), Hessians at `hessian_at` (a subset,
    /// checked by the caller's [`check_checkpoints`]). The θ0
    /// Hessian always carries c_k (so it is the job E08 runs) even where only values are used.
    pub fn new(
        seeds: &[u64],
        problem: impl Fn(u64) -> ProblemSpec,
        lr: f64,
        checkpoints: &[usize],
        hessian_at: &[usize],
        ck: bool,
    ) -> TimePlan {
        let mut t0 = Vec::new();
        let mut runs = Vec::new();
        for &s in seeds {
            let p = problem(s);
            t0.push(
                hessian_at
                    .contains(&0)
                    .then(|| Job::Hessian(HessianJob { problem: p.clone(), train_steps: 0, train_lr: 0.0, ck: true })),
            );
            runs.push(Job::Trajectory(TrajectoryJob {
                problem: p,
                lr,
                checkpoints: checkpoints.to_vec(),
                hessian_at: hessian_at.iter().copied().filter(|&t| t > 0).collect(),
                ck,
            }));
        }
        TimePlan { seeds: seeds.to_vec(), t0, runs }
    }

    pub fn jobs(&self) -> Vec<Job> {
        self.t0.iter().flatten().cloned().chain(self.runs.iter().cloned()).collect()
    }

    /// The checkpoints of seed index `s`, with the θ0 Hessian filled in. A run that diverged
    /// has fewer points.
    pub fn points(&self, results: &Results, s: usize) -> Result<Vec<CheckpointResult>, LabError> {
        let mut pts = results.trajectory(&self.runs[s])?.points.clone();
        if let Some(j) = &self.t0[s] {
            let h = results.hessian(j)?;
            if let Some(p) = pts.iter_mut().find(|p| p.t == 0) {
                p.hessian = Some(h.clone());
            }
        }
        Ok(pts)
    }

    /// Per seed, the checkpoint list (see [`TimePlan::points`]).
    pub fn all_points(&self, results: &Results) -> Result<Vec<Vec<CheckpointResult>>, LabError> {
        (0..self.seeds.len()).map(|s| self.points(results, s)).collect()
    }
}

/// The Hessian of checkpoint `t` in a seed's point list.
pub fn hessian_of(points: &[CheckpointResult], t: usize) -> Option<&HessianResult> {
    points.iter().find(|p| p.t == t).and_then(|p| p.hessian.as_ref())
}

/// The predictor at one checkpoint against the measured S̄(η).
#[derive(Clone, Debug, Serialize)]
pub struct CheckpointPrediction {
    pub t: usize,
    /// Seed mean (np.mean: NaN if a seed is missing) of S_pred under the reference rule.
    pub s_pred: Vec<f64>,
    /// Seed mean under the honest rule; NaN where some seed has a mode with ηλ > 2.
    pub s_pred_honest: Vec<f64>,
    /// Modes with ηλ ≥ 2, per η and seed.
    pub n_unstable: Vec<Vec<usize>>,
    /// S̄_pred / S̄_meas per η (the level the scale-free R ignores).
    pub ratio: Vec<f64>,
    /// (R, number of η) — reference rule on all η, on η ≤ window, and honest rule.
    pub r_reference: Option<(f64, usize)>,
    pub r_window: Option<(f64, usize)>,
    pub r_honest: Option<(f64, usize)>,
    /// R of the null predictor S = 1/η on the reference comparison's η (what R alone cannot
    /// tell apart from the formula; see [`noether_theory::crossover::null_prediction_quality_r`]).
    pub r_null: Option<(f64, usize)>,
}

/// S_pred(η) of every seed's (λ, c_k) at one checkpoint, seed means, and R against `s_meas`
/// (spec §1.11–1.12); `window` is the robust protocol's largest η.
pub fn predict(
    t: usize,
    spectra: &[(&[f64], &[f64])],
    etas: &[f64],
    t_pred: usize,
    s_meas: &[f64],
    window: f64,
) -> Result<CheckpointPrediction, LabError> {
    let ns = spectra.len() as f64;
    let mut s_pred = Vec::new();
    let mut s_pred_honest = Vec::new();
    let mut n_unstable = Vec::new();
    for &eta in etas {
        let (mut r, mut h, mut u, mut applies) = (0.0, 0.0, Vec::new(), true);
        for (l, c) in spectra {
            let a = spectral_crossover_s_pred(l, c, eta, t_pred, UnstableModeRule::Reference)?;
            let b = spectral_crossover_s_pred(l, c, eta, t_pred, UnstableModeRule::Honest)?;
            r += a.s_pred / ns;
            h += b.s_pred / ns;
            applies &= b.applies;
            u.push(a.n_unstable + a.n_marginal);
        }
        if spectra.is_empty() {
            r = f64::NAN;
            h = f64::NAN;
        }
        s_pred.push(r);
        s_pred_honest.push(if applies { h } else { f64::NAN });
        n_unstable.push(u);
    }
    let r_of = |p: &[f64], m: &[f64]| prediction_quality_r(p, m).ok().map(|q| (q.r, q.kept.len()));
    let win = |v: &[f64]| -> Vec<f64> {
        v.iter().zip(etas).map(|(&x, &e)| if e <= window * (1.0 + 1e-12) { x } else { f64::NAN }).collect()
    };
    Ok(CheckpointPrediction {
        t,
        ratio: s_pred.iter().zip(s_meas).map(|(p, m)| p / m).collect(),
        r_reference: r_of(&s_pred, s_meas),
        r_window: r_of(&win(&s_pred), &win(s_meas)),
        r_honest: r_of(&s_pred_honest, s_meas),
        r_null: null_prediction_quality_r(etas, &s_pred, s_meas).ok().map(|q| (q.r, q.kept.len())),
        s_pred,
        s_pred_honest,
        n_unstable,
    })
}

/// [`predict`] at every checkpoint of `checkpoints` from the seeds' Hessians along the runs
/// (`points[s]`, see [`TimePlan::all_points`]). Where some seed has no Hessian at t (it diverged
/// before), the seed mean is NaN (np.mean).
pub fn predict_along(
    points: &[Vec<CheckpointResult>],
    checkpoints: &[usize],
    etas: &[f64],
    t_pred: usize,
    s_meas: &[f64],
    window: f64,
) -> Result<Vec<CheckpointPrediction>, LabError> {
    checkpoints
        .iter()
        .map(|&t| {
            let hs: Vec<_> = points.iter().filter_map(|pts| hessian_of(pts, t)).collect();
            let spectra: Vec<(&[f64], &[f64])> = if hs.len() == points.len() {
                hs.iter().map(|h| (h.eigenvalues.as_slice(), h.ck.as_deref().unwrap_or(&[]))).collect()
            } else {
                Vec::new()
            };
            predict(t, &spectra, etas, t_pred, s_meas, window)
        })
        .collect()
}

/// Mean over seeds of a per-checkpoint value (NaN if some seed lacks the checkpoint).
pub fn seed_mean(points: &[Vec<CheckpointResult>], t: usize, f: impl Fn(&CheckpointResult) -> Option<f64>) -> f64 {
    let v: Vec<f64> = points.iter().map(|p| p.iter().find(|c| c.t == t).and_then(&f).unwrap_or(f64::NAN)).collect();
    if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// λ_max of a checkpoint's Hessian.
pub fn lambda_max(c: &CheckpointResult) -> Option<f64> {
    c.hessian.as_ref().and_then(|h| h.eigenvalues.last().copied())
}
