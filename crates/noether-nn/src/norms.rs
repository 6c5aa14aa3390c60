//! Per-layer norms of flat parameter (or gradient) vectors, accumulated in f64.
//!
//! These feed the conserved quantities C_l = ‖W_{l+1}‖² − ‖W_l‖² and the gradient imbalance
//! δ_l = ‖∂L/∂W_{l+1}‖² − ‖∂L/∂W_l‖², which are defined on the weights only (biases excluded,
//! as in the reference).

use crate::{Layout, Real};

/// ‖W_l‖²_F for every layer l, from a flat vector in `layout`'s order.
pub fn weight_sq_norms<T: Real>(layout: &Layout, flat: &[T]) -> Vec<f64> {
    (0..layout.n_layers())
        .map(|l| layout.weight(flat, l).iter().map(|v| v.to_f64() * v.to_f64()).sum())
        .collect()
}

/// Consecutive differences x_{l+1} − x_l (C_l from weight norms, δ_l from gradient norms).
pub fn consecutive_differences(sq_norms: &[f64]) -> Vec<f64> {
    sq_norms.windows(2).map(|w| w[1] - w[0]).collect()
}
