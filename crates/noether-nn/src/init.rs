//! Parameter initialisation.
//!
//! RNG order (part of the reproducibility contract): layers in forward order, and within a
//! layer the weight matrix row-major (PyTorch's element order), then its bias. Data are drawn
//! from the same generator afterwards.

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

use crate::{Mlp, NnError, Real};

/// How to draw initial parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's `nn.Linear` default: weights and biases U(−1/√fan_in, 1/√fan_in).
    PytorchDefault,
    /// The PyTorch default multiplied by `scale` (all layers).
    Scaled {
        /// The factor.
        scale: f64,
    },
    /// The PyTorch default, then rescaled layer by layer so that every ‖W_l‖_F equals their
    /// geometric mean. For a bias-free network this leaves the function unchanged (σ_ε is
    /// positively homogeneous) and sets every C_l to zero: the balanced manifold.
    Balanced,
}

impl Init {
    /// Draws a flat parameter vector for `net` (see [`crate::Layout`] for the order).
    pub fn draw<T: Real, R: Rng>(&self, net: &Mlp, rng: &mut R) -> Result<Vec<T>, NnError> {
        let layout = net.layout();
        let mut p = vec![0.0f64; layout.n_params()];
        for l in 0..net.n_layers() {
            let fan_in = net.widths[l] as f64;
            let bound = 1.0 / fan_in.sqrt();
            for v in &mut p[layout.weight_range(l)] {
                *v = uniform(bound, rng);
            }
            if let Some(r) = layout.bias_range(l) {
                for v in &mut p[r] {
                    *v = uniform(bound, rng);
                }
            }
        }
        match *self {
            Init::PytorchDefault => {}
            Init::Scaled { scale } => {
                if !scale.is_finite() {
                    return Err(NnError::InvalidArgument(format!("init scale {scale} is not finite")));
                }
                p.iter_mut().for_each(|v| *v *= scale);
            }
            Init::Balanced => {
                if net.bias {
                    return Err(NnError::InvalidArgument(
                        "balanced initialisation preserves the function only without biases".into(),
                    ));
                }
                let norms: Vec<f64> = (0..net.n_layers())
                    .map(|l| p[layout.weight_range(l)].iter().map(|v| v * v).sum::<f64>().sqrt())
                    .collect();
                let log_mean = norms.iter().map(|v| v.ln()).sum::<f64>() / norms.len() as f64;
                let target = log_mean.exp();
                for (l, nrm) in norms.iter().enumerate() {
                    let c = target / nrm;
                    p[layout.weight_range(l)].iter_mut().for_each(|v| *v *= c);
                }
            }
        }
        Ok(p.into_iter().map(T::from_f64).collect())
    }
}

fn uniform<R: Rng>(bound: f64, rng: &mut R) -> f64 {
    let u: f64 = rng.random();
    bound * (2.0 * u - 1.0)
}
