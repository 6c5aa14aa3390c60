//! Hot paths of the default problem GM-200 (n = 200, d = 20, width 64, K = 5, P = 1600), one
//! core: a full-batch GD step (forward + backward + update), one Hessian-vector product at a
//! prepared point, and the dense 1600×1600 Hessian. Run with `cargo xtask bench`.

use divan::{Bencher, black_box};
use noether_nn::{
    Activation, Dataset, Evaluator, GaussianMixture, HessianKind, HessianOperator, Init, Loss, Mlp, Real,
    dense_hessian, seeded_rng,
};

fn main() {
    faer::set_global_parallelism(faer::Par::Seq);
    divan::main();
}

fn problem<T: Real>(loss: Loss) -> (Mlp, Dataset<T>, Vec<T>, Loss) {
    let net = Mlp::new(vec![20, 64, 5], Activation::RELU, false).unwrap();
    let mut rng = seeded_rng(42);
    let params = Init::PytorchDefault.draw::<T, _>(&net, &mut rng).unwrap();
    let (data, _) = GaussianMixture::default().generate::<T, _>(&mut rng).unwrap();
    (net, data, params, loss)
}

#[divan::bench(types = [f32, f64])]
fn gd_step_ce<T: Real>(b: Bencher) {
    let (net, data, mut params, loss) = problem::<T>(Loss::CE);
    let mut eval = Evaluator::new(&net, loss, &data).unwrap();
    let mut grad = vec![T::ZERO; params.len()];
    let lr = T::from_f64(1e-3);
    b.bench_local(|| {
        let s = eval.loss_and_grad(&params, &mut grad);
        for (p, &g) in params.iter_mut().zip(&grad) {
            *p -= lr * g;
        }
        black_box(s.loss)
    });
}

#[divan::bench(types = [f32, f64])]
fn hvp_ce<T: Real>(b: Bencher) {
    let (net, data, params, loss) = problem::<T>(Loss::CE);
    let mut eval = Evaluator::new(&net, loss, &data).unwrap();
    let mut grad = vec![T::ZERO; params.len()];
    eval.prepare(&params, &mut grad);
    let v: Vec<T> = (0..params.len()).map(|i| T::from_f64(((i * 7919) % 13) as f64 / 13.0 - 0.5)).collect();
    let mut out = vec![T::ZERO; params.len()];
    b.bench_local(|| {
        eval.hvp_cached(&params, &v, &mut out);
        black_box(out[0])
    });
}

#[divan::bench(types = [f64], sample_count = 10)]
fn dense_hessian_1600<T: Real>(b: Bencher) {
    let (net, data, params, loss) = problem::<T>(Loss::CE);
    b.bench_local(|| {
        let mut op =
            HessianOperator::new(Evaluator::new(&net, loss, &data).unwrap(), params.clone(), HessianKind::Full);
        black_box(dense_hessian(&mut op))
    });
}

#[divan::bench(types = [f32, f64])]
fn forward_ce<T: Real>(b: Bencher) {
    let (net, data, params, loss) = problem::<T>(Loss::CE);
    let mut eval = Evaluator::new(&net, loss, &data).unwrap();
    b.bench_local(|| black_box(eval.forward(&params).loss));
}

#[divan::bench(types = [f32, f64])]
fn forward_mse<T: Real>(b: Bencher) {
    let (net, data, params, _) = problem::<T>(Loss::MSE);
    let mut eval = Evaluator::new(&net, Loss::MSE, &data).unwrap();
    b.bench_local(|| black_box(eval.forward(&params).loss));
}

/// The E04 network (784→32×4→10, P = 28 480) on 2000 MNIST digits, MSE: one GD step with the
/// dense and the sparse input-layer kernel.
#[divan::bench(types = [f32, f64], args = ["dense", "sparse"], sample_count = 20)]
fn mnist_deep_step<T: Real>(b: Bencher, kernel: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k");
    let data = noether_nn::files::mnist::<T>(&dir, 2000).unwrap();
    let net = Mlp::new(vec![784, 32, 32, 32, 32, 10], Activation::RELU, false).unwrap();
    let mut params = Init::PytorchDefault.draw::<T, _>(&net, &mut seeded_rng(42)).unwrap();
    let k = if kernel == "dense" { noether_nn::InputKernel::Dense } else { noether_nn::InputKernel::Sparse };
    let mut eval = Evaluator::new(&net, Loss::MSE, &data).unwrap().with_input_kernel(k);
    let mut grad = vec![T::ZERO; params.len()];
    let lr = T::from_f64(0.1);
    b.bench_local(|| {
        let s = eval.loss_and_grad(&params, &mut grad);
        for (p, &g) in params.iter_mut().zip(&grad) {
            *p -= lr * g;
        }
        black_box(s.loss)
    });
}
