//! Dense vs matrix-free eigen-analysis of a random symmetric 1600×1600 f64 matrix.
//!
//! Run once with `cargo bench -p noether-spectra --bench eigen`; the dense decompositions take
//! about half a second each, so the sample counts are kept small.
//!
//! Measured on the 2-core dev machine (faer's global parallelism, Rayon(2)):
//! values+vectors ≈ 600 ms, values only ≈ 370 ms, Lanczos top-1 ≈ 190 ms with 120 products
//! (119 steps + 1 explicit residual; the semicircle spectrum has no gap at its edge).

use divan::Bencher;
use faer::Mat;
use noether_spectra::{CountingOperator, DenseSymmetric, LanczosOptions, dense_eigen, lanczos};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

const N: usize = 1600;

fn main() {
    // Products are the cost unit that matters for Hessians; print them once, outside the timed
    // loop and before divan's table so the table stays readable.
    let options = LanczosOptions { k_top: 1, ..Default::default() };
    let mut op = CountingOperator::new(DenseSymmetric::new(random_symmetric(N)).expect("square"));
    match lanczos(&mut op, &options) {
        Ok(r) => eprintln!(
            "lanczos top-1 on {N}×{N}: λ = {:.6}, {} products, {} iterations, residual {:.1e}, converged {}",
            r.top[0].value, r.products, r.iterations, r.top[0].residual, r.converged_all
        ),
        Err(e) => eprintln!("lanczos failed: {e}"),
    }
    divan::main();
}

fn random_symmetric(n: usize) -> Mat<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let a = Mat::<f64>::from_fn(n, n, |_, _| {
        let z: f64 = StandardNormal.sample(&mut rng);
        z
    });
    Mat::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]))
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn dense_values_and_vectors(bencher: Bencher) {
    let a = random_symmetric(N);
    bencher.bench(|| dense_eigen(divan::black_box(a.as_ref()), true));
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn dense_values_only(bencher: Bencher) {
    let a = random_symmetric(N);
    bencher.bench(|| dense_eigen(divan::black_box(a.as_ref()), false));
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn lanczos_top1(bencher: Bencher) {
    let a = random_symmetric(N);
    let options = LanczosOptions { k_top: 1, ..Default::default() };
    let mut op = DenseSymmetric::new(a).expect("square");
    bencher.bench_local(|| lanczos(&mut op, divan::black_box(&options)));
}
