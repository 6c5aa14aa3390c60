//! Network architecture, activation and the flat parameter layout.

use serde::{Deserialize, Serialize};

use crate::NnError;

/// The hidden-layer activation σ_ε(z) = (1−ε)·z + ε·relu(z).
///
/// ε = 1 is ReLU, ε = 0 the identity (a linear network). σ_ε is positively 1-homogeneous for
/// every ε, which is what makes C_l = ‖W_{l+1}‖² − ‖W_l‖² a gradient-flow invariant of
/// bias-free networks. Its derivative is s(z) = (1−ε) + ε·\[z > 0\] (PyTorch's convention
/// relu'(0) = 0) and its second derivative is zero almost everywhere, so no σ'' term appears
/// in the Hessian.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activation {
    /// Weight of the ReLU part, in [0, 1].
    pub eps: f64,
}

impl Activation {
    /// ReLU (ε = 1).
    pub const RELU: Activation = Activation { eps: 1.0 };
    /// The identity (ε = 0): a deep linear network.
    pub const LINEAR: Activation = Activation { eps: 0.0 };

    /// σ_ε with ε in [0, 1]; anything else is refused.
    pub fn interpolated(eps: f64) -> Result<Self, NnError> {
        if !(0.0..=1.0).contains(&eps) {
            return Err(NnError::InvalidArgument(format!("activation interpolation ε must lie in [0, 1], got {eps}")));
        }
        Ok(Activation { eps })
    }

    /// Parses `relu`, `linear` or `interp:E`.
    pub fn parse(s: &str) -> Result<Self, NnError> {
        match s {
            "relu" => Ok(Self::RELU),
            "linear" | "identity" => Ok(Self::LINEAR),
            _ => match s.strip_prefix("interp:") {
                Some(e) => Self::interpolated(
                    e.parse::<f64>()
                        .map_err(|_| NnError::InvalidArgument(format!("activation '{s}': '{e}' is not a number")))?,
                ),
                None => Err(NnError::InvalidArgument(format!(
                    "unknown activation '{s}'; allowed: relu, linear, interp:E with E in [0, 1]"
                ))),
            },
        }
    }

    /// The inverse of [`Activation::parse`].
    pub fn name(&self) -> String {
        if self.eps == 1.0 {
            "relu".into()
        } else if self.eps == 0.0 {
            "linear".into()
        } else {
            format!("interp:{}", self.eps)
        }
    }
}

/// A fully connected network: `widths = [d, h_1, …, h_{L−1}, K]`, L weight matrices, the
/// activation on every hidden layer, the last layer linear, optional biases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// [d, h_1, …, h_{L−1}, K].
    pub widths: Vec<usize>,
    /// σ_ε on every hidden layer.
    pub activation: Activation,
    /// Biases on every layer.
    pub bias: bool,
}

/// Where each layer's parameters live in the flat parameter vector.
///
/// Flat order (PyTorch's `parameters()` order of our golden files): W_1 … W_L, each of shape
/// (out, in) stored row-major, then b_1 … b_L. A row-major (out, in) block is exactly a
/// column-major (in, out) matrix, i.e. W_lᵀ, which is the view the evaluator multiplies with.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// The network's widths, [d, …, K].
    pub widths: Vec<usize>,
    weight_offsets: Vec<usize>,
    bias_offsets: Option<Vec<usize>>,
    n_weights: usize,
    n_params: usize,
}

impl Mlp {
    /// Validates the widths (at least two, all positive).
    pub fn new(widths: Vec<usize>, activation: Activation, bias: bool) -> Result<Self, NnError> {
        if widths.len() < 2 {
            return Err(NnError::InvalidArgument(format!(
                "a network needs at least an input and an output width, got {widths:?}"
            )));
        }
        if let Some(i) = widths.iter().position(|&w| w == 0) {
            return Err(NnError::InvalidArgument(format!("width {i} of {widths:?} is zero")));
        }
        Activation::interpolated(activation.eps)?;
        Ok(Mlp { widths, activation, bias })
    }

    /// Number of weight matrices L.
    pub fn n_layers(&self) -> usize {
        self.widths.len() - 1
    }

    /// Input dimension d.
    pub fn input_dim(&self) -> usize {
        self.widths[0]
    }

    /// Output dimension K (classes).
    pub fn output_dim(&self) -> usize {
        *self.widths.last().expect("validated: at least two widths")
    }

    /// Offsets of every weight matrix and bias in the flat parameter vector.
    pub fn layout(&self) -> Layout {
        let mut weight_offsets = Vec::with_capacity(self.n_layers());
        let mut off = 0;
        for l in 0..self.n_layers() {
            weight_offsets.push(off);
            off += self.widths[l] * self.widths[l + 1];
        }
        let n_weights = off;
        let bias_offsets = self.bias.then(|| {
            (0..self.n_layers())
                .map(|l| {
                    let o = off;
                    off += self.widths[l + 1];
                    o
                })
                .collect()
        });
        Layout { widths: self.widths.clone(), weight_offsets, bias_offsets, n_weights, n_params: off }
    }

    /// Parameters P (weights and biases).
    pub fn n_params(&self) -> usize {
        self.layout().n_params
    }
}

impl Layout {
    /// Weight matrices L.
    pub fn n_layers(&self) -> usize {
        self.widths.len() - 1
    }
    /// Parameters P (weights and biases).
    pub fn n_params(&self) -> usize {
        self.n_params
    }
    /// Number of weight entries (the parameters before the biases).
    pub fn n_weights(&self) -> usize {
        self.n_weights
    }
    /// Whether the layout carries biases.
    pub fn has_bias(&self) -> bool {
        self.bias_offsets.is_some()
    }
    /// (out, in) of W_l, l = 0-based layer index.
    pub fn weight_shape(&self, l: usize) -> (usize, usize) {
        (self.widths[l + 1], self.widths[l])
    }
    /// The range of W_l (row-major (out, in)) in the flat vector.
    pub fn weight_range(&self, l: usize) -> std::ops::Range<usize> {
        let (o, i) = self.weight_shape(l);
        self.weight_offsets[l]..self.weight_offsets[l] + o * i
    }
    /// The range of b_l, if the network has biases.
    pub fn bias_range(&self, l: usize) -> Option<std::ops::Range<usize>> {
        self.bias_offsets.as_ref().map(|b| b[l]..b[l] + self.widths[l + 1])
    }
    /// W_l as a slice of `params` (row-major (out, in)).
    pub fn weight<'a, T>(&self, params: &'a [T], l: usize) -> &'a [T] {
        &params[self.weight_range(l)]
    }
    /// W_l as a mutable slice of `params`.
    pub fn weight_mut<'a, T>(&self, params: &'a mut [T], l: usize) -> &'a mut [T] {
        &mut params[self.weight_range(l)]
    }
}
