//! Per-layer norms of flat parameter (or gradient) vectors, accumulated in f64.
//!
//! These feed the conserved quantities C_l = ‖W_{l+1}‖² − ‖W_l‖² and the gradient imbalance
//! δ_l = ‖∂L/∂W_{l+1}‖² − ‖∂L/∂W_l‖² (`noether_theory::conservation::layer_balance`), which are
//! defined on the weights only (biases excluded, as in the reference).

use crate::{Layout, Real};

/// ‖W_l‖²_F for every layer l, from a flat vector in `layout`'s order.
pub fn weight_sq_norms<T: Real>(layout: &Layout, flat: &[T]) -> Vec<f64> {
    (0..layout.n_layers()).map(|l| layout.weight(flat, l).iter().map(|v| v.to_f64() * v.to_f64()).sum()).collect()
}

/// ‖b_l‖² for every layer l (empty without biases).
pub fn bias_sq_norms<T: Real>(layout: &Layout, flat: &[T]) -> Vec<f64> {
    (0..layout.n_layers())
        .filter_map(|l| layout.bias_range(l))
        .map(|r| flat[r].iter().map(|v| v.to_f64() * v.to_f64()).sum())
        .collect()
}
