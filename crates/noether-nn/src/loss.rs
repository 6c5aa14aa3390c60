//! Losses: MSE on one-hot targets, softmax cross-entropy, and their mixture.

use serde::{Deserialize, Serialize};

use crate::NnError;

/// L = (1 − w)·MSE + w·CE.
///
/// MSE is the mean over the n·K entries of (f − onehot(y))², **without** ½ (PyTorch's
/// `MSELoss`); CE is the mean over n of −log softmax(f)\[y\]. These normalisations set every
/// Hessian eigenvalue and every 2/η threshold, so they are fixed here once.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Loss {
    /// The weight w of cross-entropy, in [0, 1].
    pub ce_weight: f64,
}

impl Loss {
    /// Mean squared error on one-hot targets, mean over n·K entries, no ½ (PyTorch's `MSELoss`).
    pub const MSE: Loss = Loss { ce_weight: 0.0 };
    /// Softmax cross-entropy, mean over samples.
    pub const CE: Loss = Loss { ce_weight: 1.0 };

    /// (1 − w)·MSE + w·CE; `w` must lie in [0, 1].
    pub fn mix(ce_weight: f64) -> Result<Self, NnError> {
        if !(0.0..=1.0).contains(&ce_weight) {
            return Err(NnError::InvalidArgument(format!("loss mixture weight must lie in [0, 1], got {ce_weight}")));
        }
        Ok(Loss { ce_weight })
    }

    /// Parses `mse`, `ce` or `mix:W` (W = weight of CE).
    pub fn parse(s: &str) -> Result<Self, NnError> {
        match s {
            "mse" => Ok(Self::MSE),
            "ce" => Ok(Self::CE),
            _ => match s.strip_prefix("mix:") {
                Some(w) => Self::mix(
                    w.parse::<f64>()
                        .map_err(|_| NnError::InvalidArgument(format!("loss '{s}': '{w}' is not a number")))?,
                ),
                None => Err(NnError::InvalidArgument(format!(
                    "unknown loss '{s}'; allowed: mse, ce, mix:W with W in [0, 1]"
                ))),
            },
        }
    }

    /// `mse`, `ce` or `mix:W` (what [`Loss::parse`] reads).
    pub fn name(&self) -> String {
        if self.ce_weight == 0.0 {
            "mse".into()
        } else if self.ce_weight == 1.0 {
            "ce".into()
        } else {
            format!("mix:{}", self.ce_weight)
        }
    }

    pub(crate) fn mse_weight(&self) -> f64 {
        1.0 - self.ce_weight
    }
}
