//! # noether-theory
//!
//! Every closed-form formula and every fit used to reproduce and audit
//!
//! * "Conservation Law Breaking at the Edge of Stability: A Spectral Theory of Non-Convex
//!   Neural Network Optimization" (experiments E1–E23; specs
//!   `experiments-E01-E12.md` and `experiments-E13-E23.md`), and
//! * "Convex Dominance in Deep Learning I" (spec `convex-dominance.md`).
//!
//! Plain slices in, numbers out: no dependency on any other workspace crate or on a linear
//! algebra library. Each formula exists once, with its spec section and convention in the
//! doc comment. Bad input returns a [`TheoryError`]; nothing panics on user data.
//!
//! | module | contents |
//! |---|---|
//! | [`fit`] | OLS line, power-law fit with explicit mask, quadratic, E18 exp-decay, Pearson variants, local slopes, seed means (np.mean vs nanmean rules), exact small NNLS |
//! | [`conservation`] | C_l, δ_l, drift = η²S, the four drift definitions, EoS diagnostics |
//! | [`crossover`] | Theorem-4 S_pred (reference and honest rules), per-mode geometric sum, c_k recipes, E20 comparison metrics, prediction quality R |
//! | [`compression`] | exact λ_max(diag p − ppᵀ) and the corrected Thm-6 bound |
//! | [`tau`] | E23 τ fits |
//! | [`width`] | E19/E22 γ fit, log model, m* |
//! | [`schedule`] | convex-dominance schedules, bounds (2.3)/(2.4), exam, Table 1, scaling-law fits, bootstrap, parabolic η* |
//! | [`linalg`] | cyclic Jacobi eigensolver, Householder least squares |
//! | [`rng`] | SplitMix64 |

pub mod compression;
pub mod conservation;
pub mod crossover;
pub mod error;
pub mod fit;
pub mod linalg;
pub mod rng;
pub mod schedule;
pub mod tau;
pub mod width;

pub use error::{Result, TheoryError};
