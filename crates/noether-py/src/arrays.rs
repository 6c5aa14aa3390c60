//! Reading numpy arrays: floats in the dtype they came in (borrowed when the layout allows),
//! integer labels, and the precision a computation runs in.

use std::borrow::Cow;

use noether_nn::{Precision, Real};
use numpy::{PyArrayDescrMethods, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::value_error;

/// A float array from Python, in its own dtype: float32 and float64 arrays are borrowed as
/// they are; anything else numpy can turn into floats (lists, integer arrays, a CPU tensor)
/// is converted to float64 once.
pub(crate) enum Floats<'py> {
    /// A float32 array.
    F32(PyReadonlyArrayDyn<'py, f32>),
    /// A float64 array (or a conversion to one).
    F64(PyReadonlyArrayDyn<'py, f64>),
}

/// The two scalar types an array can be borrowed as.
pub(crate) trait Scalar: Real + numpy::Element {
    /// The array's memory as `&[Self]`, if it holds `Self` in C order.
    fn borrow<'a>(a: &'a Floats<'_>) -> Option<&'a [Self]>;
}

impl Scalar for f32 {
    fn borrow<'a>(a: &'a Floats<'_>) -> Option<&'a [f32]> {
        match a {
            Floats::F32(r) => r.as_slice().ok(),
            Floats::F64(_) => None,
        }
    }
}

impl Scalar for f64 {
    fn borrow<'a>(a: &'a Floats<'_>) -> Option<&'a [f64]> {
        match a {
            Floats::F64(r) => r.as_slice().ok(),
            Floats::F32(_) => None,
        }
    }
}

impl<'py> Floats<'py> {
    /// Reads `obj`; `what` names it in errors ("x", "weights[1]", "matvec's result").
    pub(crate) fn extract(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Self> {
        if let Ok(a) = obj.cast::<PyArrayDyn<f64>>() {
            return Ok(Floats::F64(a.readonly()));
        }
        if let Ok(a) = obj.cast::<PyArrayDyn<f32>>() {
            return Ok(Floats::F32(a.readonly()));
        }
        let numpy = obj.py().import("numpy")?;
        let converted = numpy
            .call_method1("asarray", (obj, "float64"))
            .map_err(|e| value_error(format!("{what} must be an array of numbers: {e}")))?;
        let a = converted
            .cast_into::<PyArrayDyn<f64>>()
            .map_err(|_| value_error(format!("{what} must be an array of numbers")))?;
        Ok(Floats::F64(a.readonly()))
    }

    /// The array's shape.
    pub(crate) fn shape(&self) -> &[usize] {
        match self {
            Floats::F32(a) => a.shape(),
            Floats::F64(a) => a.shape(),
        }
    }

    /// Whether the array is float32.
    pub(crate) fn is_f32(&self) -> bool {
        matches!(self, Floats::F32(_))
    }

    /// The values in C (row-major) order as `T`: the array itself when it already is a
    /// C-contiguous array of `T`, a converted copy otherwise.
    pub(crate) fn values<T: Scalar>(&self) -> Cow<'_, [T]> {
        if let Some(s) = T::borrow(self) {
            return Cow::Borrowed(s);
        }
        // ndarray's iterator walks the logical (C) order whatever the strides.
        Cow::Owned(match self {
            Floats::F32(a) => a.as_array().iter().map(|&v| T::from_f64(v as f64)).collect(),
            Floats::F64(a) => a.as_array().iter().map(|&v| T::from_f64(v)).collect(),
        })
    }

    /// The index (in C order) of the first value that is not finite.
    pub(crate) fn first_non_finite(&self) -> Option<usize> {
        match self {
            Floats::F32(a) => a.as_array().iter().position(|v| !v.is_finite()),
            Floats::F64(a) => a.as_array().iter().position(|v| !v.is_finite()),
        }
    }
}

/// numpy's spelling of a shape: `(30,)`, `(16, 8)`.
pub(crate) fn shape_string(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!("({})", shape.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")),
    }
}

/// Class labels: a 1-D array of n non-negative integers (any integer dtype). Float labels
/// are refused rather than truncated.
pub(crate) fn labels(obj: &Bound<'_, PyAny>, n: usize) -> PyResult<Vec<usize>> {
    let numpy = obj.py().import("numpy")?;
    let arr = numpy.call_method1("asarray", (obj,)).map_err(|e| value_error(format!("y: {e}")))?;
    let arr = arr.cast_into::<numpy::PyUntypedArray>().map_err(|_| value_error("y must be an array of labels"))?;
    let kind = arr.dtype().kind();
    if kind != b'i' && kind != b'u' {
        return Err(value_error(format!(
            "y must hold integer class labels 0..K-1, got dtype {}",
            arr.dtype().str().map(|s| s.to_string()).unwrap_or_else(|_| "?".into())
        )));
    }
    if arr.shape() != [n] {
        return Err(value_error(format!(
            "y has shape {} but x has {n} samples: expected ({n},)",
            shape_string(arr.shape())
        )));
    }
    let ints = numpy.call_method1("asarray", (&arr, "int64"))?.cast_into::<PyArrayDyn<i64>>()?;
    let ints = ints.readonly();
    ints.as_array()
        .iter()
        .enumerate()
        .map(|(i, &y)| usize::try_from(y).map_err(|_| value_error(format!("label {y} of sample {i} is negative"))))
        .collect()
}

/// The precision of a computation: the one asked for, else float32 when every float input is
/// float32, else float64.
pub(crate) fn precision(asked: Option<&str>, inputs_f32: bool) -> PyResult<Precision> {
    match asked {
        Some(s) => s.parse::<Precision>().map_err(value_error),
        None if inputs_f32 => Ok(Precision::F32),
        None => Ok(Precision::F64),
    }
}

/// A (rows, cols) numpy array of `T` from a flat row-major vector.
pub(crate) fn matrix<'py, T: Scalar>(
    py: Python<'py>,
    rows: usize,
    cols: usize,
    flat: Vec<T>,
) -> PyResult<Bound<'py, PyAny>> {
    Ok(numpy::PyArray1::from_vec(py, flat).reshape([rows, cols])?.into_any())
}
