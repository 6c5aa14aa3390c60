//! Optimisers, the training loop and its probes.
mod optim;
pub mod probes;
mod trainer;
pub mod run;

pub use optim::{Optimizer, OptimizerKind};
pub use trainer::{train, LrSchedule, Probe, StepView, TrainOutcome};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Nn(#[from] noether_nn::NnError),
    #[error(transparent)]
    Io(#[from] noether_io::IoError),
}
