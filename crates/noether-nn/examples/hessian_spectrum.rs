//! The Hessian spectrum of your own MLP, from NPZ files:
//!
//! ```sh
//! cargo run --release -p noether-nn --example hessian_spectrum -- weights.npz data.npz
//! ```
//!
//! `weights.npz` holds `w1..wL` of shape (out, in) (and optionally `b1..bL`): the file defines
//! the network. `data.npz` holds `x` (n, d) and `y` (n,) integer labels. Without arguments the
//! example writes a small random pair of files first. It prints the top and bottom eigenvalues
//! by Lanczos and checks them against the dense eigendecomposition.

use std::path::{Path, PathBuf};

use noether_nn::files::{architecture_from_npz, dataset_from_npz, params_from_npz};
use noether_nn::spectrum::{SpectrumRequest, analyse};
use noether_nn::{Activation, Evaluator, HessianKind, HessianOperator, Loss, Mlp};

fn spectrum(weights: &Path, data: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let arch = architecture_from_npz(weights)?;
    let net = Mlp::new(arch.widths.clone(), Activation::RELU, arch.bias)?;
    let params = params_from_npz::<f64>(weights, &net)?;
    let data = dataset_from_npz::<f64>(data, None)?;
    let eval = Evaluator::new(&net, Loss::CE, &data)?;
    let mut op = HessianOperator::new(eval, params, HessianKind::Full);
    let dense = noether_spectra::dense_eigen(op.dense().as_ref(), false)?.values;
    let report = analyse(op, &SpectrumRequest { top: 3, bottom: 2, ..SpectrumRequest::default() })?;
    let (top, bottom) = (report.top.expect("asked for"), report.bottom.expect("asked for"));
    println!("network {:?}, P = {}, loss {:.6}", net.widths, report.n_params, report.loss);
    println!("top {:?}\nbottom {:?}\nresiduals {:?}", top.values, bottom.values, top.residuals);
    // Lanczos against the dense spectrum: the largest and smallest values agree.
    let (lmax, lmin) = (dense[dense.len() - 1], dense[0]);
    assert!((top.values[0] - lmax).abs() <= 1e-8 * lmax.abs().max(1.0), "{} vs {lmax}", top.values[0]);
    assert!((bottom.values[0] - lmin).abs() <= 1e-8 * lmax.abs().max(1.0), "{} vs {lmin}", bottom.values[0]);
    Ok(())
}

/// A random 5 → 12 → 3 network and 40 samples, written as NPZ files in `dir`.
fn demo_files(dir: &Path) -> Result<(PathBuf, PathBuf), Box<dyn std::error::Error>> {
    use noether_io::{NpyArray, write_npz};
    let r = |i: usize| (((i * 7919) % 1013) as f64 / 1013.0 - 0.5) * 0.8;
    let (weights, data) = (dir.join("weights.npz"), dir.join("data.npz"));
    let w1 = NpyArray::matrix(12, 5, (0..60).map(r).collect::<Vec<f64>>()).ok_or("shape")?;
    let w2 = NpyArray::matrix(3, 12, (60..96).map(r).collect::<Vec<f64>>()).ok_or("shape")?;
    write_npz(&weights, &[("w1", w1), ("w2", w2)])?;
    let x = NpyArray::matrix(40, 5, (100..300).map(|i| 3.0 * r(i)).collect::<Vec<f64>>()).ok_or("shape")?;
    write_npz(&data, &[("x", x), ("y", NpyArray::vector((0..40).map(|i| (i % 3) as i64).collect::<Vec<i64>>()))])?;
    Ok((weights, data))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [w, d] => spectrum(Path::new(w), Path::new(d)),
        [] => {
            let dir = std::env::temp_dir().join(format!("noether-example-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let (w, d) = demo_files(&dir)?;
            let out = spectrum(&w, &d);
            std::fs::remove_dir_all(&dir)?;
            out
        }
        _ => Err("usage: hessian_spectrum [weights.npz data.npz]".into()),
    }
}

#[test]
fn runs_on_the_demo_files() {
    main().unwrap();
}
