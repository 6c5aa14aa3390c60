//! Parallelism is an argument, not a process-wide setting: `dense_eigen` gives the same bits
//! whatever faer's global parallelism is, and `dense_eigen_par` with several threads agrees with
//! it to rounding. (Its own test binary: it changes the global setting.)

use faer::{Mat, Par};
use noether_spectra::{dense_eigen, dense_eigen_owned, dense_eigen_par};

fn symmetric(n: usize) -> Mat<f64> {
    let a = Mat::<f64>::from_fn(n, n, |i, j| (((i * 31 + j * 17) % 23) as f64 - 11.0) / 7.0);
    Mat::from_fn(n, n, |i, j| a[(i, j)] + a[(j, i)])
}

#[test]
fn dense_eigen_ignores_the_global_parallelism() {
    let m = symmetric(300);
    faer::set_global_parallelism(Par::rayon(2));
    let under_rayon = dense_eigen(m.as_ref(), true).unwrap();
    let owned_under_rayon = dense_eigen_owned(m.clone(), false).unwrap();
    faer::set_global_parallelism(Par::Seq);
    let under_seq = dense_eigen(m.as_ref(), true).unwrap();
    let owned_under_seq = dense_eigen_owned(m.clone(), false).unwrap();
    assert_eq!(under_rayon.values, under_seq.values);
    assert_eq!(under_rayon.vectors, under_seq.vectors);
    assert_eq!(owned_under_rayon.values, owned_under_seq.values);

    let threaded = dense_eigen_par(m.as_ref(), false, Par::rayon(2)).unwrap();
    let scale = under_seq.values.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    for (a, b) in threaded.values.iter().zip(&under_seq.values) {
        assert!((a - b).abs() <= 1e-12 * scale, "{a} vs {b}");
    }
}
