//! The one error type of the crate.

/// Everything that can go wrong in a spectral computation.
///
/// Numerical non-convergence is *not* an error: the solvers return their best estimate together
/// with an honest `converged` flag and residual, because a slightly unconverged eigenvalue is
/// still useful to an experiment. Errors are reserved for requests that cannot be answered at
/// all (bad sizes, zero start vectors, an operator that produced NaN/∞).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpectraError {
    /// The operator or matrix has dimension zero, so there is no spectrum to compute.
    #[error("the operator has dimension 0")]
    EmptyOperator,

    /// More eigenpairs were requested from one end of the spectrum than the operator has.
    #[error("requested {requested} eigenpairs but the operator has dimension {dim}")]
    TooManyEigenpairs {
        /// Pairs requested from one end.
        requested: usize,
        /// Dimension of the operator.
        dim: usize,
    },

    /// A supplied vector (start vector, probe) does not have the operator's dimension.
    #[error("vector has length {got}, but the operator has dimension {expected}")]
    DimensionMismatch {
        /// Dimension of the operator.
        expected: usize,
        /// Length of the vector supplied.
        got: usize,
    },

    /// A supplied start vector is zero (or so small that normalising it is meaningless) or not finite.
    #[error("the start vector is zero or contains a non-finite value")]
    ZeroStartVector,

    /// The operator returned NaN or ±∞; `product` is the 1-based index of the offending product.
    #[error("operator produced a non-finite value at product {product}")]
    NonFinite {
        /// 1-based index of the product, counted from the start of the call.
        product: usize,
    },

    /// A dense matrix handed to the dense solver is not square.
    #[error("matrix is {rows}×{cols}, expected a square matrix")]
    NotSquare {
        /// Number of rows.
        rows: usize,
        /// Number of columns.
        cols: usize,
    },

    /// A dense matrix handed to the dense solver contains NaN or ±∞.
    #[error("matrix contains a non-finite entry at ({row}, {col})")]
    NonFiniteMatrix {
        /// Row of the first offending entry (column-major scan).
        row: usize,
        /// Column of the first offending entry.
        col: usize,
    },

    /// faer's dense symmetric eigensolver hit its iteration limit.
    #[error("dense symmetric eigendecomposition did not converge")]
    DenseNoConvergence,

    /// Building the dense matrix would exceed the memory budget. The error carries the sizes;
    /// the message names the matrix-free alternatives, and a front end adds its own spelling of
    /// them (the CLI: `--method lanczos`, `--density`, `--memory-gib`).
    #[error(
        "a dense {p}×{p} {} Hessian{} needs {:.1} GiB (budget {:.1} GiB); matrix-free Lanczos gives extreme eigenvalues and stochastic Lanczos quadrature the density",
        elem_label(*.elem_bytes),
        if *.with_vectors { " with eigenvectors" } else { "" },
        gib(*.needed_bytes),
        gib(*.budget_bytes)
    )]
    DenseTooLarge {
        /// Matrix dimension.
        p: usize,
        /// Bytes per element (4 for f32, 8 for f64).
        elem_bytes: usize,
        /// Whether the eigenvector matrix was requested too.
        with_vectors: bool,
        /// Estimated bytes needed.
        needed_bytes: u64,
        /// The budget that was exceeded.
        budget_bytes: u64,
    },

    /// An option is outside its meaningful range (e.g. zero probes, non-positive width).
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

fn elem_label(elem_bytes: usize) -> String {
    match elem_bytes {
        4 => "f32".to_owned(),
        8 => "f64".to_owned(),
        b => format!("{b}-byte"),
    }
}

/// Bytes to GiB, for human-readable messages.
pub(crate) fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}
