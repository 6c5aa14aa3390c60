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
//! ```
//! use faer::Mat;
//! use noether_spectra::{DenseSymmetric, LanczosOptions, lanczos};
//!
//! let a = Mat::from_fn(50, 50, |i, j| if i == j { i as f64 } else { 0.0 });
//! let mut op = DenseSymmetric::new(a)?;
//! let res = lanczos(&mut op, &LanczosOptions { k_top: 2, k_bottom: 1, ..Default::default() })?;
//! assert!((res.top[0].value - 49.0).abs() < 1e-9 && res.converged_all);
//! assert!(res.bottom[0].value.abs() < 1e-9);
//! # Ok::<(), noether_spectra::SpectraError>(())
//! ```
//!
//! All reductions accumulate in f64, even for f32 operators, so convergence tests mean the same
//! thing at both precisions.
#![warn(missing_docs)]
mod dense;
mod error;
mod lanczos;
mod operator;
mod power;
#[allow(missing_docs)]
mod scalar;
mod slq;
mod trace;
mod vecops;

pub use dense::{
    DenseEigen, MemoryBudget, check_dense, dense_bytes, dense_eigen, dense_eigen_owned, dense_eigen_owned_par,
    dense_eigen_par,
};
pub use error::SpectraError;
pub use lanczos::{
    EigenPair, LanczosOptions, LanczosResult, LanczosTridiagonal, lanczos, lanczos_tridiagonal, tridiagonal_eigen,
};
pub use operator::{CountingOperator, DenseSymmetric, ShiftedOperator, SymmetricOperator};
pub use power::{PowerOptions, PowerResult, power_iteration, power_iteration_reference};
pub use scalar::{Precision, Real};
pub use slq::{Probe, SlqOptions, SpectralDensity, slq_density};
pub use trace::{TraceEstimate, hutchinson_trace};
