//! Data and weights from and to files: NPZ (as numpy writes it) and MNIST IDX.

use std::path::Path;

use noether_io::{NpyArray, NpyData, read_idx_images, read_idx_labels, read_npz};

use crate::{Dataset, Mlp, NnError, Real};

/// A data set from an NPZ file with arrays `x` (n, d) float32/float64 and `y` (n,) integer
/// labels. The number of classes is `classes` if given, else max(y) + 1.
pub fn dataset_from_npz<T: Real>(path: &Path, classes: Option<usize>) -> Result<Dataset<T>, NnError> {
    let npz = read_npz(path)?;
    let (n, d, rows) = npz.require("x")?.as_matrix_f64("(n, d)")?;
    let y_arr = npz.require("y")?;
    if y_arr.shape.len() != 1 {
        return Err(NnError::ShapeMismatch(format!(
            "{}: array 'y' has shape {} but (n,) = ({n},) was expected",
            path.display(),
            y_arr.shape_string()
        )));
    }
    let labels = y_arr.to_labels()?;
    if labels.len() != n {
        return Err(NnError::ShapeMismatch(format!(
            "{}: 'x' has {n} rows but 'y' has {} labels",
            path.display(),
            labels.len()
        )));
    }
    let k = classes.unwrap_or_else(|| labels.iter().max().map_or(1, |m| m + 1));
    Dataset::from_rows(n, d, &rows, labels, k).map_err(|e| match e {
        NnError::InvalidArgument(m) => NnError::InvalidArgument(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// The first `n` MNIST digits of the IDX files in `dir` (`images-idx3-ubyte[.gz]`,
/// `labels-idx1-ubyte[.gz]`), pixels scaled to [0, 1] (byte/255), flattened to 784, 10 classes.
pub fn mnist<T: Real>(dir: &Path, n: usize) -> Result<Dataset<T>, NnError> {
    let find = |stem: &str| {
        let gz = dir.join(format!("{stem}.gz"));
        if gz.exists() { gz } else { dir.join(stem) }
    };
    let images = read_idx_images(&find("images-idx3-ubyte"))?;
    let labels = read_idx_labels(&find("labels-idx1-ubyte"))?;
    if n > images.n || n > labels.len() {
        return Err(NnError::InvalidArgument(format!(
            "{}: asked for {n} MNIST digits but the files hold {} images and {} labels",
            dir.display(),
            images.n,
            labels.len()
        )));
    }
    let d = images.rows * images.cols;
    let rows: Vec<f64> = images.pixels[..n * d].iter().map(|&b| f64::from(b) / 255.0).collect();
    let labels: Vec<usize> = labels[..n].iter().map(|&l| usize::from(l)).collect();
    Dataset::from_rows(n, d, &rows, labels, 10)
}

/// Parameters of `net` from an NPZ file with arrays `w1`..`wL` of shape (out, in) and, if the
/// network has biases, `b1`..`bL` of shape (out,).
pub fn params_from_npz<T: Real>(path: &Path, net: &Mlp) -> Result<Vec<T>, NnError> {
    let npz = read_npz(path)?;
    let layout = net.layout();
    let mut params = vec![T::ZERO; layout.n_params()];
    for l in 0..net.n_layers() {
        let name = format!("w{}", l + 1);
        let (out, inp) = layout.weight_shape(l);
        let arr = npz.require(&name)?;
        if arr.shape != [out, inp] {
            return Err(NnError::ShapeMismatch(format!(
                "{}: array '{name}' has shape {} but the network {:?} needs ({out}, {inp})",
                path.display(),
                arr.shape_string(),
                net.widths
            )));
        }
        copy_into(&mut params[layout.weight_range(l)], &arr.to_f64_vec()?);
        if let Some(r) = layout.bias_range(l) {
            let name = format!("b{}", l + 1);
            let arr = npz.require(&name)?;
            if arr.shape != [out] {
                return Err(NnError::ShapeMismatch(format!(
                    "{}: array '{name}' has shape {} but ({out},) was expected",
                    path.display(),
                    arr.shape_string()
                )));
            }
            copy_into(&mut params[r], &arr.to_f64_vec()?);
        }
    }
    if let Some(i) = params.iter().position(|v| !v.is_finite()) {
        return Err(NnError::InvalidArgument(format!("{}: parameter {i} is not finite", path.display())));
    }
    Ok(params)
}

/// The arrays `w1`..`wL` (and `b1`..`bL`) of `params`, in the precision `T` they hold, ready
/// for `noether_io::write_npz`; the inverse of [`params_from_npz`].
pub fn params_to_arrays<T: Real>(net: &Mlp, params: &[T]) -> Vec<(String, NpyArray)> {
    let layout = net.layout();
    let to_data = |s: &[T]| -> NpyData {
        if T::NAME == "f32" {
            NpyData::F32(s.iter().map(|v| v.to_f64() as f32).collect())
        } else {
            NpyData::F64(s.iter().map(|v| v.to_f64()).collect())
        }
    };
    let mut out = Vec::new();
    for l in 0..net.n_layers() {
        let (o, i) = layout.weight_shape(l);
        let arr = NpyArray::new(vec![o, i], to_data(layout.weight(params, l))).expect("shape matches layout");
        out.push((format!("w{}", l + 1), arr));
    }
    for l in 0..net.n_layers() {
        if let Some(r) = layout.bias_range(l) {
            out.push((format!("b{}", l + 1), NpyArray::vector(to_data(&params[r]))));
        }
    }
    out
}

fn copy_into<T: Real>(dst: &mut [T], src: &[f64]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = T::from_f64(s);
    }
}
