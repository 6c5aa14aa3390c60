//! The training loop. It knows nothing about conservation laws or sharpness: probes observe
//! the state after each evaluation and keep their own records (argmin's observer pattern).

use noether_nn::{Evaluator, ForwardStats, Real};
use serde::{Deserialize, Serialize};

use crate::{Optimizer, OptimizerKind};

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

/// An observer of the training loop.
pub trait Probe<T: Real> {
    /// Called at every evaluated point θ_t, before update t+1.
    fn observe(&mut self, view: &StepView<'_, '_, T>);
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
/// panic. `on_step` is called after each update (progress bars).
pub fn train<T: Real>(
    eval: &mut Evaluator<'_, T>,
    params: &mut [T],
    optimizer: OptimizerKind,
    schedule: &LrSchedule,
    steps: usize,
    probes: &mut [&mut dyn Probe<T>],
    on_step: &mut dyn FnMut(usize),
) -> TrainOutcome {
    let mut opt = Optimizer::new(optimizer, params.len());
    let mut grad = vec![T::ZERO; params.len()];
    let mut t = 0;
    loop {
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
        for p in probes.iter_mut() {
            p.observe(&view);
        }
        if is_last {
            return TrainOutcome {
                steps_completed: t,
                diverged_at: (!finite).then_some(t),
                final_loss: stats.loss,
                final_accuracy: stats.accuracy,
            };
        }
        opt.step(params, &grad, schedule.at(t));
        t += 1;
        on_step(t);
    }
}
