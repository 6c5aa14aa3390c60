//! Optimisers, the training loop and its probes.
mod optim;
pub mod probes;
pub mod run;
pub mod streaming;
mod trainer;

pub use optim::{Optimizer, OptimizerKind};
pub use trainer::{
    Flow, LrSchedule, MiniBatches, Probe, RunEnd, RunStart, StepView, TrainOutcome, When, train, train_minibatch,
};

/// Per-step learning rates η_1..η_T = peak·s_t (with an optional linear warm-up) of a
/// convex-dominance schedule shape (`noether_theory::schedule`), as an [`LrSchedule`].
pub fn scheduled_lrs(
    schedule: &noether_theory::schedule::Schedule,
    steps: usize,
    peak: f64,
    warmup_steps: usize,
) -> Result<LrSchedule, TrainError> {
    schedule
        .learning_rates(steps, peak, warmup_steps)
        .map(LrSchedule::PerStep)
        .map_err(|e| TrainError::Config(format!("schedule: {e}")))
}

/// Errors of configuring and running training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A run configuration that cannot be trained (unknown optimiser, zero steps, …).
    #[error("{0}")]
    Config(String),
    /// From building or evaluating the network.
    #[error(transparent)]
    Nn(#[from] noether_nn::NnError),
    /// Reading data or writing results.
    #[error(transparent)]
    Io(#[from] noether_io::IoError),
    /// A probe could not take its measurement (e.g. Lanczos failed at a checkpoint).
    #[error("probe: {0}")]
    Probe(String),
}
