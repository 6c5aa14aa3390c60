//! Optimisers with PyTorch semantics (the reference ran `torch.optim.SGD` and `torch.optim.Adam`).

use noether_nn::Real;
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// Which optimiser and its hyper-parameters (the learning rate is passed per step, so that
/// schedules live outside the optimiser).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Plain gradient descent θ ← θ − η·g.
    Gd,
    /// `torch.optim.SGD(momentum=μ)`, dampening 0, no Nesterov: b₁ = g₁, b_t = μ·b_{t−1} + g_t,
    /// θ ← θ − η·b_t.
    Momentum {
        /// μ.
        beta: f64,
    },
    /// `torch.optim.Adam` (no weight decay, no AMSGrad), with bias correction.
    Adam {
        /// β₁ (first-moment decay).
        beta1: f64,
        /// β₂ (second-moment decay).
        beta2: f64,
        /// ε added to √v̂.
        eps: f64,
    },
}

impl OptimizerKind {
    /// PyTorch's Adam defaults: β = (0.9, 0.999), ε = 1e−8.
    pub const ADAM_DEFAULT: OptimizerKind = OptimizerKind::Adam { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

    /// Parses `gd`, `momentum:B` or `adam` (PyTorch defaults β = (0.9, 0.999), ε = 1e−8).
    pub fn parse(s: &str) -> Result<Self, TrainError> {
        let bad =
            || TrainError::Config(format!("unknown optimizer '{s}'; allowed: gd, momentum:B with B in [0, 1), adam"));
        match s {
            "gd" | "sgd" => Ok(OptimizerKind::Gd),
            "adam" => Ok(Self::ADAM_DEFAULT),
            _ => {
                let b = s.strip_prefix("momentum:").ok_or_else(bad)?;
                let beta: f64 = b.parse().map_err(|_| bad())?;
                OptimizerKind::Momentum { beta }.validated()
            }
        }
    }

    /// Checks the hyper-parameters.
    pub fn validated(self) -> Result<Self, TrainError> {
        let ok = match self {
            OptimizerKind::Gd => true,
            OptimizerKind::Momentum { beta } => (0.0..1.0).contains(&beta),
            OptimizerKind::Adam { beta1, beta2, eps } => {
                (0.0..1.0).contains(&beta1) && (0.0..1.0).contains(&beta2) && eps > 0.0
            }
        };
        if ok { Ok(self) } else { Err(TrainError::Config(format!("invalid optimizer hyper-parameters: {self:?}"))) }
    }

    /// `gd`, `momentum:B` or `adam` (what [`OptimizerKind::parse`] reads; Adam's constants are
    /// in the record, not the name).
    pub fn name(&self) -> String {
        match self {
            OptimizerKind::Gd => "gd".into(),
            OptimizerKind::Momentum { beta } => format!("momentum:{beta}"),
            OptimizerKind::Adam { .. } => "adam".into(),
        }
    }
}

/// An optimiser's state: buffers sized once, no allocation per step.
pub struct Optimizer<T: Real> {
    kind: OptimizerKind,
    step: u64,
    buf1: Vec<T>,
    buf2: Vec<T>,
}

impl<T: Real> Optimizer<T> {
    /// Zeroed state for `n_params` parameters.
    pub fn new(kind: OptimizerKind, n_params: usize) -> Self {
        let (b1, b2) = match kind {
            OptimizerKind::Gd => (0, 0),
            OptimizerKind::Momentum { .. } => (n_params, 0),
            OptimizerKind::Adam { .. } => (n_params, n_params),
        };
        Optimizer { kind, step: 0, buf1: vec![T::ZERO; b1], buf2: vec![T::ZERO; b2] }
    }

    /// The optimiser and its constants.
    pub fn kind(&self) -> OptimizerKind {
        self.kind
    }

    /// One update of `params` with gradient `grad` and learning rate `lr`.
    pub fn step(&mut self, params: &mut [T], grad: &[T], lr: f64) {
        self.step += 1;
        let lr_t = T::from_f64(lr);
        match self.kind {
            OptimizerKind::Gd => {
                for (p, &g) in params.iter_mut().zip(grad) {
                    *p -= lr_t * g;
                }
            }
            OptimizerKind::Momentum { beta } => {
                let mu = T::from_f64(beta);
                let first = self.step == 1;
                for ((p, &g), b) in params.iter_mut().zip(grad).zip(self.buf1.iter_mut()) {
                    // PyTorch initialises the buffer with the first gradient (not μ·0 + g,
                    // which is the same number, but keep the semantics explicit).
                    *b = if first { g } else { mu * *b + g };
                    *p -= lr_t * *b;
                }
            }
            OptimizerKind::Adam { beta1, beta2, eps } => {
                // Follows torch.optim.adam's single-tensor path operation by operation:
                // exp_avg.lerp_(g, 1−β₁); exp_avg_sq.mul_(β₂).addcmul_(g, g, 1−β₂);
                // denom = sqrt(exp_avg_sq)/sqrt(bc₂) + ε; p −= (lr/bc₁)·exp_avg/denom.
                let t = self.step as i32;
                let bc1 = 1.0 - beta1.powi(t);
                let bc2 = 1.0 - beta2.powi(t);
                let step_size = T::from_f64(lr / bc1);
                let bc2_sqrt = T::from_f64(bc2.sqrt());
                let w1 = T::from_f64(1.0 - beta1);
                let b2 = T::from_f64(beta2);
                let w2 = T::from_f64(1.0 - beta2);
                let e = T::from_f64(eps);
                for (((p, &g), m), v) in params.iter_mut().zip(grad).zip(self.buf1.iter_mut()).zip(self.buf2.iter_mut())
                {
                    *m += w1 * (g - *m);
                    *v = *v * b2 + w2 * g * g;
                    let denom = v.sqrt() / bc2_sqrt + e;
                    *p -= step_size * (*m / denom);
                }
            }
        }
    }
}
