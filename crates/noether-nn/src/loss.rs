//! Losses: MSE on one-hot targets, softmax cross-entropy, and their mixture.

use serde::{Deserialize, Serialize};

use crate::NnError;

/// L = (1 − w)·s·MSE + w·CE.
///
/// MSE is the mean over the n·K entries of (f − onehot(y))² (or (f − y)² with real targets),
/// **without** ½ (PyTorch's `MSELoss`), times a scale s that is 1 except for
/// [`Loss::HALF_MSE`], the ½·mean (f − y)² of regression theory; CE is the mean over n of −log softmax(f)\[y\]. These normalisations set every
/// Hessian eigenvalue and every 2/η threshold, so they are fixed here once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    /// The weight w of cross-entropy, in [0, 1].
    pub ce_weight: f64,
    /// The scale s of the MSE term (1 = PyTorch's `MSELoss`, ½ for [`Loss::HALF_MSE`]).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub mse_scale: f64,
}

fn one() -> f64 {
    1.0
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

impl Loss {
    /// Mean squared error on one-hot targets, mean over n·K entries, no ½ (PyTorch's `MSELoss`).
    pub const MSE: Loss = Loss { ce_weight: 0.0, mse_scale: 1.0 };
    /// ½·mean over the n·K entries of (f − y)²: with one output and label noise σ its
    /// population minimum is σ²/2 (the convex-dominance experiments' normalisation).
    pub const HALF_MSE: Loss = Loss { ce_weight: 0.0, mse_scale: 0.5 };
    /// Softmax cross-entropy, mean over samples.
    pub const CE: Loss = Loss { ce_weight: 1.0, mse_scale: 1.0 };

    /// (1 − w)·MSE + w·CE; `w` must lie in [0, 1].
    pub fn mix(ce_weight: f64) -> Result<Self, NnError> {
        if !(0.0..=1.0).contains(&ce_weight) {
            return Err(NnError::InvalidArgument(format!("loss mixture weight must lie in [0, 1], got {ce_weight}")));
        }
        Ok(Loss { ce_weight, mse_scale: 1.0 })
    }

    /// Parses `mse`, `half-mse`, `ce` or `mix:W` (W = weight of CE).
    pub fn parse(s: &str) -> Result<Self, NnError> {
        match s {
            "mse" => Ok(Self::MSE),
            "half-mse" => Ok(Self::HALF_MSE),
            "ce" => Ok(Self::CE),
            _ => match s.strip_prefix("mix:") {
                Some(w) => Self::mix(
                    w.parse::<f64>()
                        .map_err(|_| NnError::InvalidArgument(format!("loss '{s}': '{w}' is not a number")))?,
                ),
                None => Err(NnError::InvalidArgument(format!(
                    "unknown loss '{s}'; allowed: mse, half-mse, ce, mix:W with W in [0, 1]"
                ))),
            },
        }
    }

    /// `mse`, `half-mse`, `ce` or `mix:W` (what [`Loss::parse`] reads).
    pub fn name(&self) -> String {
        if *self == Self::HALF_MSE {
            "half-mse".into()
        } else if self.mse_scale != 1.0 {
            format!("{}·{}", self.mse_scale, Loss { mse_scale: 1.0, ..*self }.name())
        } else if self.ce_weight == 0.0 {
            "mse".into()
        } else if self.ce_weight == 1.0 {
            "ce".into()
        } else {
            format!("mix:{}", self.ce_weight)
        }
    }

    /// The factor (1 − w)·s of the MSE term.
    pub(crate) fn mse_weight(&self) -> f64 {
        (1.0 - self.ce_weight) * self.mse_scale
    }
}
