//! `noether.Mlp`: a fully connected network whose weights define its widths.

use std::path::PathBuf;

use noether_nn::files::{architecture_from_npz, params_from_npz, params_to_arrays};
use noether_nn::{Activation, Mlp};
use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::arrays::{Floats, Scalar, shape_string};
use crate::errors::{io, nn, value_error};

/// A fully connected network: weight matrices W_l of shape (out, in), optional biases, the
/// activation on every hidden layer and a linear last layer. Immutable: training returns a
/// new network.
///
/// Mlp(weights, activation="relu", biases=None): the shapes of `weights` define the widths
/// [d, h_1, …, K]; `activation` is "relu", "linear" or "interp:ε" (as the CLI spells it).
/// Mlp.from_npz(path) reads w1..wL (and b1..bL) as `noether train --init` does.
#[pyclass(module = "noether", name = "Mlp", frozen)]
pub(crate) struct PyMlp {
    pub(crate) net: Mlp,
    /// Flat parameters in the engine's order (W_1 … W_L row-major, then b_1 … b_L), in f64:
    /// float32 weights are held exactly.
    pub(crate) params: Vec<f64>,
    /// Whether the weights came as float32 (the default precision of computations on them).
    pub(crate) f32: bool,
}

impl PyMlp {
    /// A network of the same architecture with other parameters (the result of training).
    pub(crate) fn with_params(&self, params: Vec<f64>, f32: bool) -> PyMlp {
        PyMlp { net: self.net.clone(), params, f32 }
    }

    fn arrays<'py, T: Scalar>(&self, py: Python<'py>, biases: bool) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let layout = self.net.layout();
        let cast = |r: std::ops::Range<usize>| self.params[r].iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>();
        (0..self.net.n_layers())
            .filter_map(|l| {
                if biases {
                    layout.bias_range(l).map(|r| Ok(PyArray1::from_vec(py, cast(r)).into_any()))
                } else {
                    let (out, inp) = layout.weight_shape(l);
                    Some(crate::arrays::matrix(py, out, inp, cast(layout.weight_range(l))))
                }
            })
            .collect()
    }

    fn list<'py>(&self, py: Python<'py>, biases: bool) -> PyResult<Bound<'py, PyList>> {
        let items = if self.f32 { self.arrays::<f32>(py, biases)? } else { self.arrays::<f64>(py, biases)? };
        PyList::new(py, items)
    }
}

#[pymethods]
impl PyMlp {
    #[new]
    #[pyo3(signature = (weights, activation = "relu", biases = None))]
    fn new(weights: Vec<Bound<'_, PyAny>>, activation: &str, biases: Option<Vec<Bound<'_, PyAny>>>) -> PyResult<Self> {
        let activation = Activation::parse(activation).map_err(nn)?;
        if weights.is_empty() {
            return Err(value_error("weights is empty: give one (out, in) matrix per layer"));
        }
        let weights = weights
            .iter()
            .enumerate()
            .map(|(l, w)| Floats::extract(w, &format!("weights[{l}]")))
            .collect::<PyResult<Vec<_>>>()?;
        let mut widths: Vec<usize> = Vec::with_capacity(weights.len() + 1);
        for (l, w) in weights.iter().enumerate() {
            let &[out, inp] = w.shape() else {
                return Err(value_error(format!(
                    "weights[{l}] has shape {}; a weight matrix is (out, in)",
                    shape_string(w.shape())
                )));
            };
            if out == 0 || inp == 0 {
                return Err(value_error(format!("weights[{l}] has shape {}: a width of 0", shape_string(w.shape()))));
            }
            match widths.last() {
                None => widths.push(inp),
                Some(&prev) if prev != inp => {
                    return Err(value_error(format!(
                        "weights[{l}] has shape {} but weights[{}] has {prev} outputs: the layers do not chain",
                        shape_string(w.shape()),
                        l - 1
                    )));
                }
                Some(_) => {}
            }
            widths.push(out);
        }
        let biases = match biases {
            None => None,
            Some(b) if b.len() != weights.len() => {
                return Err(value_error(format!(
                    "{} weight matrices but {} bias vectors: give one bias per layer or none",
                    weights.len(),
                    b.len()
                )));
            }
            Some(b) => Some(
                b.iter()
                    .enumerate()
                    .map(|(l, v)| Floats::extract(v, &format!("biases[{l}]")))
                    .collect::<PyResult<Vec<_>>>()?,
            ),
        };
        if let Some(b) = &biases {
            for (l, v) in b.iter().enumerate() {
                if v.shape() != [widths[l + 1]] {
                    return Err(value_error(format!(
                        "biases[{l}] has shape {} but weights[{l}] has {} outputs: expected ({},)",
                        shape_string(v.shape()),
                        widths[l + 1],
                        widths[l + 1]
                    )));
                }
            }
        }
        let net = Mlp::new(widths, activation, biases.is_some()).map_err(nn)?;
        let mut params = Vec::with_capacity(net.n_params());
        let named = weights.iter().enumerate().map(|(l, w)| (format!("weights[{l}]"), w));
        let named_b = biases.iter().flatten().enumerate().map(|(l, b)| (format!("biases[{l}]"), b));
        for (name, a) in named.chain(named_b) {
            if let Some(i) = a.first_non_finite() {
                return Err(value_error(format!("{name} holds a value that is not finite (flat index {i})")));
            }
            params.extend_from_slice(&a.values::<f64>());
        }
        let f32 = weights.iter().chain(biases.iter().flatten()).all(Floats::is_f32);
        Ok(PyMlp { net, params, f32 })
    }

    /// Reads `w1`..`wL` (shape (out, in)) and, if present, `b1`..`bL` from an NPZ file: the
    /// file defines the widths and whether there are biases.
    #[staticmethod]
    #[pyo3(signature = (path, activation = "relu"))]
    fn from_npz(py: Python<'_>, path: PathBuf, activation: &str) -> PyResult<Self> {
        let activation = Activation::parse(activation).map_err(nn)?;
        py.detach(|| {
            let arch = architecture_from_npz(&path).map_err(nn)?;
            let net = Mlp::new(arch.widths, activation, arch.bias).map_err(nn)?;
            let params = params_from_npz::<f64>(&path, &net).map_err(nn)?;
            let headers = noether_io::read_npz_headers(&path).map_err(io)?;
            let f32 = headers.iter().filter(|(k, _)| k.starts_with(['w', 'b'])).all(|(_, h)| h.dtype == "float32");
            Ok(PyMlp { net, params, f32 })
        })
    }

    /// Writes the network as `w1`..`wL` (and `b1`..`bL`) to an NPZ file, in the dtype of its
    /// weights; `Mlp.from_npz` and `noether train --init` read it back.
    fn save_npz(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| {
            let arrays = if self.f32 {
                let p: Vec<f32> = self.params.iter().map(|&v| v as f32).collect();
                params_to_arrays(&self.net, &p)
            } else {
                params_to_arrays(&self.net, &self.params)
            };
            let (names, arrays): (Vec<String>, Vec<noether_io::NpyArray>) = arrays.into_iter().unzip();
            let named: Vec<(&str, noether_io::NpyArray)> = names.iter().map(String::as_str).zip(arrays).collect();
            noether_io::write_npz(&path, &named).map_err(io)?;
            Ok(())
        })
    }

    /// [d, h_1, …, h_{L−1}, K].
    #[getter]
    fn widths(&self) -> Vec<usize> {
        self.net.widths.clone()
    }

    /// The activation, spelled as the constructor reads it.
    #[getter]
    fn activation(&self) -> String {
        self.net.activation.name()
    }

    /// Whether every layer has a bias.
    #[getter]
    fn bias(&self) -> bool {
        self.net.bias
    }

    /// Number of parameters P (the length of gradients and Hessian-vector products).
    #[getter]
    fn n_params(&self) -> usize {
        self.params.len()
    }

    /// The weight matrices, each (out, in), in the dtype they were given.
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.list(py, false)
    }

    /// The bias vectors, or None.
    #[getter]
    fn biases<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        if self.net.bias { self.list(py, true).map(Some) } else { Ok(None) }
    }

    /// The flat parameter vector θ (P,): W_1 … W_L row-major, then b_1 … b_L; the order of
    /// `gradient`, `hvp` and the Hessian's rows.
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, &self.params)
    }

    /// Splits a flat vector of length P (a gradient, an eigenvector) into per-layer arrays:
    /// (list of (out, in) matrices, list of bias vectors or None).
    fn split<'py>(
        &self,
        py: Python<'py>,
        vector: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Option<Bound<'py, PyList>>)> {
        let v = Floats::extract(vector, "vector")?;
        if v.shape() != [self.params.len()] {
            return Err(value_error(format!(
                "vector has shape {} but the network has P = {} parameters",
                shape_string(v.shape()),
                self.params.len()
            )));
        }
        let view = PyMlp { net: self.net.clone(), params: v.values::<f64>().into_owned(), f32: v.is_f32() };
        Ok((view.list(py, false)?, if self.net.bias { Some(view.list(py, true)?) } else { None }))
    }

    fn __repr__(&self) -> String {
        format!(
            "Mlp(widths={:?}, activation='{}', bias={}, P={}, dtype={})",
            self.net.widths,
            self.net.activation.name(),
            if self.net.bias { "True" } else { "False" },
            self.params.len(),
            if self.f32 { "float32" } else { "float64" }
        )
    }
}
