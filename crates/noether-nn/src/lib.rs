//! Fully connected networks over a flat parameter vector, generic over `f32`/`f64`, with exact
//! loss, gradient, Hessian-vector product (R-operator) and dense Hessian; data sets and their
//! seeded generation.
//!
//! Start reading at [`Evaluator`]: it owns the work buffers of one (network, loss, data)
//! triple and computes everything else.

mod arch;
mod data;
mod eval;
pub mod files;
mod hessian;
mod init;
mod loss;
pub mod norms;
mod sparse;
pub mod spectrum;

pub use arch::{Activation, Layout, Mlp};
pub use data::{Dataset, GaussianMixture, concentric_spheres, flip_labels, permutation, xor_2d};
pub use eval::{Evaluator, ForwardStats, InputKernel, clear_upper_simd_state};
pub use hessian::{HessianKind, HessianOperator, dense_hessian};
pub use init::Init;
pub use loss::Loss;
pub use noether_spectra::{Precision, Real};

/// The run's random generator: ChaCha8, portable and reproducible across platforms.
pub type Rng = rand::rngs::ChaCha8Rng;

/// A generator seeded the way every run of noether seeds it.
pub fn seeded_rng(seed: u64) -> Rng {
    use rand::SeedableRng;
    Rng::seed_from_u64(seed)
}

/// Errors of network construction and evaluation.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// An argument outside its domain (an unknown activation name, a mixture weight > 1, …).
    #[error("{0}")]
    InvalidArgument(String),
    /// Arrays whose shapes do not fit the network or each other.
    #[error("{0}")]
    ShapeMismatch(String),
    /// Reading or writing NPY/NPZ/IDX files.
    #[error(transparent)]
    Io(#[from] noether_io::IoError),
    /// From the eigen-analysis (e.g. the dense-Hessian memory guard).
    #[error(transparent)]
    Spectra(#[from] noether_spectra::SpectraError),
}
