//! Python bindings of noether (the `noether` package): numpy arrays in, exact Hessian spectra,
//! gradients, Hessian-vector products and training trajectories out, and our residual-checked
//! Lanczos on a user's own matrix-vector product.
//!
//! Every entry point reads its arguments while it holds the GIL, releases the GIL for the
//! computation ([`Python::detach`]) and builds numpy results afterwards. The Lanczos callback
//! is the one place that takes the GIL back, for the duration of each Python call. Errors are
//! Python exceptions carrying the CLI's one-line messages (see [`errors`]); nothing here panics
//! on user input.

mod arrays;
mod compute;
mod errors;
mod lanczos;
mod mlp;

use pyo3::prelude::*;

/// The extension module `noether._noether`, re-exported by the package's `__init__.py`.
#[pymodule]
fn _noether(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<mlp::PyMlp>()?;
    m.add_function(wrap_pyfunction!(compute::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(compute::gradient, m)?)?;
    m.add_function(wrap_pyfunction!(compute::hvp, m)?)?;
    m.add_function(wrap_pyfunction!(compute::hessian, m)?)?;
    m.add_function(wrap_pyfunction!(compute::train, m)?)?;
    m.add_function(wrap_pyfunction!(lanczos::lanczos, m)?)?;
    Ok(())
}
