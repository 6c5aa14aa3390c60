//! The training loop — one loop for full-batch and mini-batch training. It knows nothing about
//! conservation laws, sharpness or held-out losses: probes observe the state at the steps they
//! ask for and keep their own records (argmin's observer pattern), with start and end hooks,
//! and can fail or declare the run diverged.

use noether_nn::{Dataset, Evaluator, ForwardStats, Real};
use serde::{Deserialize, Serialize};

use crate::{Optimizer, OptimizerKind, TrainError};

/// What a probe sees at step t: the parameters θ_t (t updates applied), the gradient and the
/// loss at θ_t, evaluated *before* update t+1.
pub struct StepView<'a, 'd, T: Real> {
    /// t = number of updates already applied.
    pub step: usize,
    /// θ_t.
    pub params: &'a [T],
    /// ∇L(θ_t).
    pub grad: &'a [T],
    /// Loss and accuracy at θ_t.
    pub stats: ForwardStats,
    /// The evaluator holding this step's forward pass (pre-activations, outputs).
    pub eval: &'a Evaluator<'d, T>,
    /// The learning rate of the update that follows (the last step has none: `None`).
    pub next_lr: Option<f64>,
    /// True at the final step T and at a divergence.
    pub is_last: bool,
}

/// The steps at which a probe observes: a union of "every n steps from step f", "at these
/// steps" and "at the last step" (T, or the step at which the run diverged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct When {
    every: Vec<(usize, usize)>,
    at: Vec<usize>,
    last: bool,
}

impl When {
    /// t = 0, n, 2n, … (n = 0 counts as 1; `every(1)` is every step, the last included).
    pub fn every(n: usize) -> Self {
        Self::every_from(n, 0)
    }

    /// t = first, first + n, first + 2n, … (n = 0 counts as 1).
    pub fn every_from(n: usize, first: usize) -> Self {
        When { every: vec![(n.max(1), first)], ..Self::default() }
    }

    /// Exactly these steps.
    pub fn at_steps(steps: impl IntoIterator<Item = usize>) -> Self {
        let mut at: Vec<usize> = steps.into_iter().collect();
        at.sort_unstable();
        at.dedup();
        When { at, ..Self::default() }
    }

    /// The last evaluated point only.
    pub fn last() -> Self {
        When { last: true, ..Self::default() }
    }

    /// The union of two schedules.
    pub fn and(mut self, other: When) -> Self {
        self.every.extend(other.every);
        self.at.extend(other.at);
        self.at.sort_unstable();
        self.at.dedup();
        self.last |= other.last;
        self
    }

    /// Does the probe observe step t (`is_last`: t is the last evaluated point)?
    pub fn fires(&self, t: usize, is_last: bool) -> bool {
        (is_last && self.last)
            || self.every.iter().any(|&(n, first)| t >= first && (t - first) % n == 0)
            || self.at.binary_search(&t).is_ok()
    }
}

/// What a probe tells the loop after observing a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on training.
    Continue,
    /// The probe found the run diverged (e.g. a non-finite held-out loss): the run ends at
    /// this step and is reported as diverged there.
    Diverged,
}

/// What a probe sees before the first step.
pub struct RunStart<'a, T> {
    /// The horizon T (updates planned).
    pub steps: usize,
    /// θ_0.
    pub params: &'a [T],
}

/// What a probe sees after the last step.
pub struct RunEnd<'a, T> {
    /// How the run ended.
    pub outcome: &'a TrainOutcome,
    /// The parameters at the last evaluated point.
    pub params: &'a [T],
}

/// An observer of the training loop. The loop calls [`Probe::start`], then asks once which
/// steps the probe wants ([`Probe::when`]), calls [`Probe::observe`] at those steps and
/// [`Probe::finish`] at the end. Any hook can fail: the error ends the run and is returned by
/// the loop (a failing measurement is never silently dropped).
pub trait Probe<T: Real> {
    /// The steps to observe (default: every step).
    fn when(&self) -> When {
        When::every(1)
    }

    /// Called once before the first step (default: nothing).
    fn start(&mut self, _run: &RunStart<'_, T>) -> Result<(), TrainError> {
        Ok(())
    }

    /// Called at the evaluated points θ_t of [`Probe::when`], before update t+1.
    fn observe(&mut self, view: &StepView<'_, '_, T>) -> Result<Flow, TrainError>;

    /// Called once after the last evaluated point, also after a divergence (default: nothing).
    fn finish(&mut self, _end: &RunEnd<'_, T>) -> Result<(), TrainError> {
        Ok(())
    }
}

/// The data of each update in mini-batch training: before evaluating the gradient at θ_t the
/// loop lets the source rewrite the evaluator's data (same shapes) with batch t.
pub trait MiniBatches<T: Real> {
    /// Writes the batch of step t (t = 0..=T; the batch at T only evaluates the last point).
    fn fill(&mut self, step: usize, batch: &mut Dataset<T>);
}

/// A learning-rate schedule: η_{t+1} for the update from θ_t to θ_{t+1}.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LrSchedule {
    /// The same learning rate at every update.
    Constant(f64),
    /// One learning rate per update (length = number of steps).
    PerStep(Vec<f64>),
}

impl LrSchedule {
    /// η_{t+1}, the learning rate of the update from θ_t.
    pub fn at(&self, t: usize) -> f64 {
        match self {
            LrSchedule::Constant(lr) => *lr,
            LrSchedule::PerStep(v) => v[t],
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// Number of updates applied.
    pub steps_completed: usize,
    /// The step t at which the loss at θ_t was not finite, if it happened.
    pub diverged_at: Option<usize>,
    /// Loss and accuracy at the last evaluated point.
    pub final_loss: f64,
    /// The accuracy there.
    pub final_accuracy: f64,
}

impl TrainOutcome {
    /// The loss became non-finite.
    pub fn diverged(&self) -> bool {
        self.diverged_at.is_some()
    }
}

/// Runs `steps` full-batch updates from `params` (modified in place).
///
/// Step t evaluates loss and gradient at θ_t, lets every probe observe, then updates. After the
/// last update θ_T is evaluated and observed once more, so probes see t = 0..=T. A non-finite
/// loss ends the run (observed with `is_last = true`) and is reported as divergence: never a
/// panic. `on_step` is called after each update (progress bars). The error of a failing probe
/// ends the run and is returned.
pub fn train<T: Real>(
    eval: &mut Evaluator<'_, T>,
    params: &mut [T],
    optimizer: OptimizerKind,
    schedule: &LrSchedule,
    steps: usize,
    probes: &mut [&mut dyn Probe<T>],
    on_step: &mut dyn FnMut(usize),
) -> Result<TrainOutcome, TrainError> {
    run_loop(eval, None, params, (optimizer, schedule, steps), probes, on_step)
}

/// [`train`] with a fresh batch of data per update: `batches` rewrites the evaluator's data
/// (an owning evaluator, [`Evaluator::owning`]) before the gradient at every θ_t, so the
/// update t+1 follows the gradient of batch t. Probes see the batch's loss and gradient.
pub fn train_minibatch<T: Real>(
    eval: &mut Evaluator<'_, T>,
    batches: &mut dyn MiniBatches<T>,
    params: &mut [T],
    optimizer: OptimizerKind,
    schedule: &LrSchedule,
    steps: usize,
    probes: &mut [&mut dyn Probe<T>],
    on_step: &mut dyn FnMut(usize),
) -> Result<TrainOutcome, TrainError> {
    run_loop(eval, Some(batches), params, (optimizer, schedule, steps), probes, on_step)
}

/// The one training loop behind [`train`] and [`train_minibatch`].
fn run_loop<T: Real>(
    eval: &mut Evaluator<'_, T>,
    mut batches: Option<&mut dyn MiniBatches<T>>,
    params: &mut [T],
    (optimizer, schedule, steps): (OptimizerKind, &LrSchedule, usize),
    probes: &mut [&mut dyn Probe<T>],
    on_step: &mut dyn FnMut(usize),
) -> Result<TrainOutcome, TrainError> {
    if let LrSchedule::PerStep(v) = schedule
        && v.len() < steps
    {
        return Err(TrainError::Config(format!("{} learning rates for {steps} steps", v.len())));
    }
    for p in probes.iter_mut() {
        p.start(&RunStart { steps, params })?;
    }
    let when: Vec<When> = probes.iter().map(|p| p.when()).collect();
    let mut opt = Optimizer::new(optimizer, params.len());
    let mut grad = vec![T::ZERO; params.len()];
    let mut t = 0;
    let outcome = loop {
        if let Some(b) = batches.as_mut() {
            eval.refill(|data| b.fill(t, data));
        }
        let stats = eval.loss_and_grad(params, &mut grad);
        let finite = stats.loss.is_finite();
        let is_last = t == steps || !finite;
        let view = StepView {
            step: t,
            params,
            grad: &grad,
            stats,
            eval,
            next_lr: (!is_last).then(|| schedule.at(t)),
            is_last,
        };
        let mut stopped = false;
        for (p, w) in probes.iter_mut().zip(&when) {
            if w.fires(t, is_last) {
                stopped |= p.observe(&view)? == Flow::Diverged;
            }
        }
        if is_last || stopped {
            break TrainOutcome {
                steps_completed: t,
                diverged_at: (!finite || stopped).then_some(t),
                final_loss: stats.loss,
                final_accuracy: stats.accuracy,
            };
        }
        opt.step(params, &grad, schedule.at(t));
        t += 1;
        on_step(t);
    };
    for p in probes.iter_mut() {
        p.finish(&RunEnd { outcome: &outcome, params })?;
    }
    Ok(outcome)
}
