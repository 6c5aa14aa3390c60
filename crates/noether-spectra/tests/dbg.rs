use faer::Mat;
use noether_spectra::*;
use rand::{RngExt, SeedableRng};
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
#[test]
fn dbg() {
    let n = 60;
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let g = Mat::<f64>::from_fn(n, n, |_, _| { let z: f64 = StandardNormal.sample(&mut rng); z });
    let q = g.qr().compute_Q();
    let mut rng2 = ChaCha8Rng::seed_from_u64(6);
    let mut lambda = vec![50.0, 40.0, 31.0, 25.0, 20.0, 15.0, -8.0, -6.0];
    while lambda.len() < n { lambda.push(rng2.random_range(-1.0..5.0)); }
    let ql = Mat::from_fn(n, n, |i, j| q[(i, j)] * lambda[j]);
    let a = &ql * q.transpose();
    eprintln!("a00 {} a01 {} a10 {}", a[(0,0)], a[(0,1)], a[(1,0)]);
    let mut op = DenseSymmetric::new(a.clone()).unwrap();
    let start: Vec<f64> = (0..n).map(|_| StandardNormal.sample(&mut rng)).collect();
    let mut y = vec![0.0; n];
    op.apply(&start, &mut y);
    eprintln!("start {:?}\ny {:?}", &start[..4], &y[..4]);
    let tri = lanczos_tridiagonal(&mut op, 5, &start, true).unwrap();
    eprintln!("{:?} {:?} {}", tri.alpha, tri.beta, tri.beta_next);
}
