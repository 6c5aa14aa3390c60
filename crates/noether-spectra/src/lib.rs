//! Symmetric eigen-analysis on faer, knowing nothing about networks.
//!
//! Everything here works on a [`SymmetricOperator`]: a symmetric matrix reachable only through
//! matrix-vector products (for the experiments, Hessian-vector products of a network). On top of
//! it the crate provides
//! - [`power_iteration_reference`] / [`power_iteration`]: eigenvalue of largest magnitude,
//!   with an honest convergence flag;
//! - [`lanczos`]: extreme eigenpairs by Lanczos with full reorthogonalisation, warm-startable;
//! - [`slq_density`]: spectral density by stochastic Lanczos quadrature;
//! - [`hutchinson_trace`]: stochastic trace;
//! - [`dense_eigen`] with the [`check_dense`] memory guard: exact spectra of small matrices.
//!
//! All reductions accumulate in f64, even for f32 operators, so convergence tests mean the same
//! thing at both precisions.
mod dense;
mod error;
mod lanczos;
mod operator;
mod power;
mod scalar;
mod slq;
mod trace;
mod vecops;

pub use dense::{DenseEigen, MemoryBudget, check_dense, dense_bytes, dense_eigen};
pub use error::SpectraError;
pub use lanczos::{
    EigenPair, LanczosOptions, LanczosResult, LanczosTridiagonal, lanczos, lanczos_tridiagonal, tridiagonal_eigen,
};
pub use operator::{CountingOperator, DenseSymmetric, ShiftedOperator, SymmetricOperator};
pub use power::{PowerOptions, PowerResult, power_iteration, power_iteration_reference};
pub use scalar::Real;
pub use slq::{Probe, SlqOptions, SpectralDensity, slq_density};
pub use trace::{TraceEstimate, hutchinson_trace};
