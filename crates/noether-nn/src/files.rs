//! Data and weights from and to files: NPZ (as numpy writes it) and MNIST IDX.

use std::path::Path;

use noether_io::{NpyArray, NpyData, read_idx_images, read_idx_labels, read_npz};

use crate::{Dataset, Mlp, NnError, Real};

/// A data set from an NPZ file with arrays `x` (n, d) float32/float64 and `y` (n,) integer
/// labels. The number of classes is `classes` if given, else max(y) + 1.
///
/// The headers of `x` and `y` are checked against each other before either payload is read, so
/// a file whose `x` would inflate to gigabytes while `y` holds 4 labels is refused at once.
pub fn dataset_from_npz<T: Real>(path: &Path, classes: Option<usize>) -> Result<Dataset<T>, NnError> {
    let headers = noether_io::read_npz_headers(path)?;
    if let (Some(x), Some(y)) = (headers.get("x"), headers.get("y")) {
        // numpy's spelling: (30,) for one dimension.
        let shape = |s: &[usize]| match s {
            [one] => format!("({one},)"),
            _ => format!("({})", s.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")),
        };
        if x.shape.len() != 2 {
            return Err(NnError::ShapeMismatch(format!(
                "{}: array 'x' has shape {} but (n, d) was expected",
                path.display(),
                shape(&x.shape)
            )));
        }
        if y.shape.len() == 1 && y.shape[0] != x.shape[0] {
            return Err(NnError::ShapeMismatch(format!(
                "{}: 'x' has {} rows but 'y' has {} labels",
                path.display(),
                x.shape[0],
                y.shape[0]
            )));
        }
    }
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

/// The architecture a weights file defines: `w1`..`wL` of shape (out, in) chain
/// d → h_1 → … → K, and `b1`..`bL` are present for every layer or for none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsArchitecture {
    /// [d, h_1, …, h_{L−1}, K].
    pub widths: Vec<usize>,
    /// Whether the file holds biases.
    pub bias: bool,
}

impl WeightsArchitecture {
    /// The hidden widths [h_1, …, h_{L−1}].
    pub fn hidden(&self) -> &[usize] {
        &self.widths[1..self.widths.len() - 1]
    }
}

/// Reads the architecture of a weights file (see [`WeightsArchitecture`]) without a network to
/// check it against: what `noether train --init` and `noether hessian --params` use when no
/// `--hidden` is given.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use noether_io::{NpyArray, write_npz};
/// let dir = std::env::temp_dir().join(format!("noether-doc-arch-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("w.npz");
/// // A 3 → 16 → 2 network without biases.
/// let w1 = NpyArray::matrix(16, 3, vec![0.0f64; 48]).unwrap();
/// let w2 = NpyArray::matrix(2, 16, vec![0.0f64; 32]).unwrap();
/// write_npz(&path, &[("w1", w1), ("w2", w2)])?;
/// let arch = noether_nn::files::architecture_from_npz(&path)?;
/// assert_eq!((arch.widths.clone(), arch.hidden().to_vec(), arch.bias), (vec![3, 16, 2], vec![16], false));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub fn architecture_from_npz(path: &Path) -> Result<WeightsArchitecture, NnError> {
    let npz = read_npz(path)?;
    let bad = |msg: String| NnError::ShapeMismatch(format!("{}: {msg}", path.display()));
    let mut widths: Vec<usize> = Vec::new();
    let mut l = 1;
    while let Some(w) = npz.get(&format!("w{l}")) {
        let &[out, inp] = w.shape.as_slice() else {
            return Err(bad(format!("array 'w{l}' has shape {}; a weight matrix is (out, in)", w.shape_string())));
        };
        match widths.last() {
            None => widths.push(inp),
            Some(&prev) if prev != inp => {
                return Err(bad(format!(
                    "array 'w{l}' has shape {} but 'w{}' has {prev} outputs: the layers do not chain",
                    w.shape_string(),
                    l - 1
                )));
            }
            Some(_) => {}
        }
        if out == 0 || inp == 0 {
            return Err(bad(format!("array 'w{l}' has shape {}: a width of 0", w.shape_string())));
        }
        widths.push(out);
        l += 1;
    }
    if widths.is_empty() {
        return Err(bad(format!("no array 'w1' (found: {})", npz.names().join(", "))));
    }
    let layers = l - 1;
    if let Some(extra) = npz.names().into_iter().find(|n| {
        n.strip_prefix('w')
            .or_else(|| n.strip_prefix('b'))
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i > layers || i == 0)
    }) {
        return Err(bad(format!("array '{extra}' does not belong to the {layers} layers w1..w{layers}")));
    }
    let with_bias: Vec<bool> = (1..=layers).map(|l| npz.get(&format!("b{l}")).is_some()).collect();
    if with_bias.iter().any(|&b| b) && !with_bias.iter().all(|&b| b) {
        let missing = (1..=layers).filter(|&l| !with_bias[l - 1]).map(|l| format!("b{l}")).collect::<Vec<_>>();
        return Err(bad(format!("biases for some layers only (missing {})", missing.join(", "))));
    }
    Ok(WeightsArchitecture { widths, bias: with_bias[0] })
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
