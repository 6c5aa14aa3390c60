//! `noether.lanczos`: our Lanczos (full reorthogonalisation, explicit residuals) on a Python
//! callable, the bridge to models this engine does not hold (a PyTorch double-backward HVP).

use noether_spectra::{LanczosOptions, SymmetricOperator};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::{Floats, shape_string};
use crate::errors::{spectra, value_error};

/// A symmetric operator whose product is a Python call. Lanczos runs with the GIL released;
/// each product takes it back for the call alone. The first exception the callable raises is
/// kept and re-raised once Lanczos returns (the products after it are NaN, which stops it).
struct Callback {
    matvec: Py<PyAny>,
    dim: usize,
    error: Option<PyErr>,
}

impl Callback {
    fn call(&self, py: Python<'_>, x: &[f64], y: &mut [f64]) -> PyResult<()> {
        let result = self.matvec.bind(py).call1((PyArray1::from_slice(py, x),))?;
        let values = Floats::extract(&result, "matvec's result")?;
        if values.shape() != [self.dim] {
            return Err(value_error(format!(
                "matvec returned shape {} for a vector of shape ({},): it must return the product, shape ({},)",
                shape_string(values.shape()),
                self.dim,
                self.dim
            )));
        }
        y.copy_from_slice(&values.values::<f64>());
        Ok(())
    }
}

impl SymmetricOperator<f64> for Callback {
    fn dim(&self) -> usize {
        self.dim
    }

    fn apply(&mut self, x: &[f64], y: &mut [f64]) {
        if self.error.is_none() {
            match Python::attach(|py| self.call(py, x, y)) {
                Ok(()) => return,
                Err(e) => self.error = Some(e),
            }
        }
        y.fill(f64::NAN);
    }
}

/// Extreme eigenvalues of a symmetric operator given as a Python callable `matvec(v) -> A v`
/// on (dim,) float64 arrays, by Lanczos with full reorthogonalisation.
///
/// Returns a dict: "top" (descending), "bottom" (ascending), "residuals" (the explicit
/// ‖Av − λv‖, top's then bottom's), "converged" (residual ≤ tol·‖A‖), "iterations", "products"
/// (calls of matvec), "scale" (the estimate of ‖A‖); with `vectors=True` also "top_vectors" and
/// "bottom_vectors", shape (k, dim). An exception raised by `matvec` propagates unchanged.
#[pyfunction]
#[pyo3(signature = (matvec, dim, top = 3, bottom = 0, tol = 1e-10, *, max_iter = None, seed = 0, vectors = false))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn lanczos<'py>(
    py: Python<'py>,
    matvec: Bound<'py, PyAny>,
    dim: usize,
    top: usize,
    bottom: usize,
    tol: f64,
    max_iter: Option<usize>,
    seed: u64,
    vectors: bool,
) -> PyResult<Bound<'py, PyDict>> {
    if !matvec.is_callable() {
        return Err(value_error("matvec must be a callable taking a (dim,) array and returning the product"));
    }
    if top + bottom == 0 {
        return Err(value_error("nothing to compute: ask for top=K or bottom=K"));
    }
    if !(tol.is_finite() && tol > 0.0) {
        return Err(value_error(format!("tol must be a positive number, got {tol}")));
    }
    let opts = LanczosOptions { k_top: top, k_bottom: bottom, tol, seed, max_iter, ..LanczosOptions::default() };
    let mut op = Callback { matvec: matvec.unbind(), dim, error: None };
    let result = py.detach(|| noether_spectra::lanczos(&mut op, &opts));
    if let Some(e) = op.error {
        return Err(e);
    }
    let r = result.map_err(spectra)?;
    let out = PyDict::new(py);
    let values = |pairs: &[noether_spectra::EigenPair]| pairs.iter().map(|p| p.value).collect::<Vec<f64>>();
    out.set_item("top", PyArray1::from_vec(py, values(&r.top)))?;
    out.set_item("bottom", PyArray1::from_vec(py, values(&r.bottom)))?;
    let both = || r.top.iter().chain(&r.bottom);
    out.set_item("residuals", PyArray1::from_vec(py, both().map(|p| p.residual).collect::<Vec<f64>>()))?;
    out.set_item("converged", PyArray1::from_vec(py, both().map(|p| p.converged).collect::<Vec<bool>>()))?;
    out.set_item("iterations", r.iterations)?;
    out.set_item("products", r.products)?;
    out.set_item("scale", r.scale)?;
    if vectors {
        for (key, pairs) in [("top_vectors", &r.top), ("bottom_vectors", &r.bottom)] {
            let flat: Vec<f64> = pairs.iter().flat_map(|p| p.vector.iter().copied()).collect();
            out.set_item(key, crate::arrays::matrix(py, pairs.len(), dim, flat)?)?;
        }
    }
    Ok(out)
}
