//! Synthetic results for testing analyses without running anything.

use noether_train::probes::DriftSummary;

use crate::results::TrainResult;

/// A converged 2-layer training run whose conserved quantity starts at `c0` and drifts by
/// `abs_drift`, with η²S = `predicted`.
pub fn train_with_drift(c0: f64, abs_drift: f64, predicted: f64) -> TrainResult {
    TrainResult {
        steps_completed: 10,
        diverged: false,
        final_loss: 0.1,
        final_accuracy: 1.0,
        loss_before_last_update: 0.1,
        drift: Some(DriftSummary {
            conserved_initial: vec![c0],
            conserved_final: vec![c0 + abs_drift],
            abs_drift_final: vec![abs_drift],
            mean_abs_drift_over_layers: abs_drift,
            max_rel_drift: abs_drift / c0.abs(),
            max_rel_drift_per_layer: vec![abs_drift / c0.abs()],
            drift_from_step1_sum: abs_drift,
            imbalance_sum: vec![predicted],
            s: vec![predicted],
            predicted_drift_eta2_s: vec![predicted],
            max_rel_drift_with_bias: None,
            abs_drift_final_with_bias: None,
        }),
        s_layer_mean: 0.0,
        grad_integral: 0.0,
        switching: None,
        sharpness: vec![],
        sharpness_products: 0,
        checkpoints: vec![],
        update: None,
    }
}

/// A diverged training run.
pub fn diverged_train() -> TrainResult {
    TrainResult { diverged: true, drift: None, final_loss: f64::NAN, ..train_with_drift(1.0, 0.0, 0.0) }
}
