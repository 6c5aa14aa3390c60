//! Building blocks shared by the experiments: the GM-200 problem, learning-rate × seed sweeps,
//! and reading per-run metrics back as (η × seed) matrices.

use noether_nn::Precision;
use noether_train::OptimizerKind;

use crate::LabError;
use crate::job::{DataSpec, Job, Measure, NetSpec, ProblemSpec, RngOrder, TrainJob};
use crate::problem::{Problem, SweepParams};
use crate::results::Results;
use crate::results::TrainResult;

/// The default problem of the paper for one seed: GM-200, model drawn before the data.
pub fn gm200(seed: u64, precision: Precision, net: NetSpec, ce_weight: f64) -> ProblemSpec {
    ProblemSpec { seed, precision, net, data: DataSpec::gm200(), rng_order: RngOrder::ModelThenData, ce_weight }
}

/// A learning-rate × seed grid of GD-like runs of one problem template; `jobs[i][s]` is
/// (`lrs[i]`, `seeds[s]`).
pub struct Sweep {
    pub(crate) lrs: Vec<f64>,
    pub(crate) seeds: Vec<u64>,
    pub(crate) jobs: Vec<Vec<Job>>,
}

impl Sweep {
    pub(crate) fn new(
        lrs: &[f64],
        seeds: &[u64],
        steps: usize,
        optimizer: OptimizerKind,
        measure: &Measure,
        problem: impl Fn(u64) -> ProblemSpec,
    ) -> Sweep {
        Sweep::with_lr_map(lrs, seeds, steps, optimizer, measure, problem, |lr| lr)
    }

    /// Like [`Sweep::new`], but the optimiser runs at `actual_lr(η)` while η stays the nominal
    /// grid value (E7b runs Adam at 0.1·η and fits against η).
    pub(crate) fn with_lr_map(
        lrs: &[f64],
        seeds: &[u64],
        steps: usize,
        optimizer: OptimizerKind,
        measure: &Measure,
        problem: impl Fn(u64) -> ProblemSpec,
        actual_lr: impl Fn(f64) -> f64,
    ) -> Sweep {
        let jobs = lrs
            .iter()
            .map(|&lr| {
                seeds
                    .iter()
                    .map(|&seed| {
                        Job::Train(TrainJob {
                            problem: problem(seed),
                            optimizer,
                            lr: actual_lr(lr),
                            steps,
                            measure: measure.clone(),
                        })
                    })
                    .collect()
            })
            .collect();
        Sweep { lrs: lrs.to_vec(), seeds: seeds.to_vec(), jobs }
    }

    /// Runs of `problem` over the lrs × seeds of `p`, each for `p.steps` steps.
    pub(crate) fn of(
        p: &SweepParams,
        problem: &Problem,
        precision: Precision,
        optimizer: OptimizerKind,
        measure: &Measure,
    ) -> Sweep {
        Sweep::new(&p.lrs, &p.seeds, p.steps, optimizer, measure, |seed| problem.spec(seed, precision))
    }

    pub(crate) fn all_jobs(&self) -> Vec<Job> {
        self.jobs.iter().flatten().cloned().collect()
    }

    /// `metric` of every run as an (η × seed) matrix; diverged runs give NaN.
    pub(crate) fn matrix(
        &self,
        results: &Results,
        metric: impl Fn(&TrainResult) -> f64,
    ) -> Result<Vec<Vec<f64>>, LabError> {
        self.jobs
            .iter()
            .map(|row| {
                row.iter()
                    .map(|j| {
                        let r = results.train(j)?;
                        Ok(if r.diverged { f64::NAN } else { metric(r) })
                    })
                    .collect()
            })
            .collect()
    }
}

/// |C_1(T) − C_1(0)| of the first conserved quantity (2-layer experiments).
pub fn abs_drift(r: &TrainResult) -> f64 {
    r.drift.as_ref().map_or(f64::NAN, |d| d.abs_drift_final[0])
}

/// S = |Σ_t δ_1(t)| of the first pair of layers.
pub fn imbalance_s(r: &TrainResult) -> f64 {
    r.drift.as_ref().map_or(f64::NAN, |d| d.s[0])
}

/// η²S predicted by the exact GD identity for the first pair of layers.
pub fn predicted_drift(r: &TrainResult) -> f64 {
    r.drift.as_ref().map_or(f64::NAN, |d| d.predicted_drift_eta2_s[0])
}

/// Largest relative deviation |drift − η²S| / η²S over the finite runs of a matrix pair (the
/// identity check the spec asks for in every GD experiment).
pub fn identity_violation(drift: &[Vec<f64>], predicted: &[Vec<f64>]) -> f64 {
    drift
        .iter()
        .flatten()
        .zip(predicted.iter().flatten())
        .filter(|(d, p)| d.is_finite() && p.is_finite() && **p > 0.0)
        .map(|(d, p)| (d - p).abs() / p)
        .fold(0.0, f64::max)
}
