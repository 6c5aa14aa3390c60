//! Lanczos on your own operator: implement [`SymmetricOperator`] (a dimension and a
//! matrix-vector product) and ask for extreme eigenpairs with residuals.
//!
//! ```sh
//! cargo run --release -p noether-spectra --example own_operator
//! ```
//!
//! The operator here is the 1-D discrete Laplacian (tridiagonal 2, −1), whose eigenvalues are
//! known in closed form, λ_k = 2 − 2cos(kπ/(n+1)); the example checks Lanczos against them.

use noether_spectra::{LanczosOptions, SymmetricOperator, lanczos};

/// A matrix-free operator: y = A x without ever storing A.
struct Laplacian1d {
    n: usize,
}

impl SymmetricOperator<f64> for Laplacian1d {
    fn dim(&self) -> usize {
        self.n
    }
    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        for i in 0..self.n {
            let left = if i > 0 { x[i - 1] } else { 0.0 };
            let right = if i + 1 < self.n { x[i + 1] } else { 0.0 };
            y[i] = 2.0 * x[i] - left - right;
        }
    }
}

fn main() -> Result<(), noether_spectra::SpectraError> {
    let n = 400;
    let mut op = Laplacian1d { n };
    let opts = LanczosOptions { k_top: 3, k_bottom: 2, tol: 1e-10, max_iter: Some(n), ..LanczosOptions::default() };
    let r = lanczos(&mut op, &opts)?;
    let exact = |k: usize| 2.0 - 2.0 * (k as f64 * std::f64::consts::PI / (n as f64 + 1.0)).cos();
    println!("{} Lanczos steps, {} products, all converged: {}", r.iterations, r.products, r.converged_all);
    for (i, p) in r.top.iter().enumerate() {
        println!("top {i}: {:.12} (exact {:.12}), residual {:.1e}", p.value, exact(n - i), p.residual);
        assert!((p.value - exact(n - i)).abs() < 1e-8);
    }
    for (i, p) in r.bottom.iter().enumerate() {
        println!("bottom {i}: {:.12} (exact {:.12}), residual {:.1e}", p.value, exact(i + 1), p.residual);
        assert!((p.value - exact(i + 1)).abs() < 1e-8);
    }
    Ok(())
}

#[test]
fn agrees_with_the_closed_form() {
    main().unwrap();
}
