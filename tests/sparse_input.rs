//! The sparse input-layer kernel (used automatically for MNIST) gives the dense kernel's loss,
//! gradient and Hessian-vector products up to summation order.

mod common;

use common::{data_dir, rel_err, to_f64};
use noether::nn::files::mnist;
use noether::nn::{Activation, Evaluator, GaussianMixture, Init, InputKernel, Loss, Mlp, Real, seeded_rng};

fn compare<T: Real>(tol: f64) {
    let data = mnist::<T>(&data_dir().join("mnist-10k"), 300).unwrap();
    for (loss, hidden) in [(Loss::MSE, vec![16, 16]), (Loss::CE, vec![8]), (Loss::mix(0.4).unwrap(), vec![12, 6, 6])] {
        let mut widths = vec![784];
        widths.extend(&hidden);
        widths.push(10);
        let net = Mlp::new(widths, Activation::interpolated(0.7).unwrap(), true).unwrap();
        let params = Init::PytorchDefault.draw::<T, _>(&net, &mut seeded_rng(3)).unwrap();
        let v: Vec<T> = Init::PytorchDefault.draw::<T, _>(&net, &mut seeded_rng(4)).unwrap();
        let mut out = Vec::new();
        for kernel in [InputKernel::Dense, InputKernel::Sparse] {
            let mut eval = Evaluator::new(&net, loss, &data).unwrap().with_input_kernel(kernel);
            assert_eq!(eval.uses_sparse_input(), kernel == InputKernel::Sparse);
            let mut g = vec![T::ZERO; params.len()];
            let stats = eval.loss_and_grad(&params, &mut g);
            let mut hv = vec![T::ZERO; params.len()];
            eval.hvp_cached(&params, &v, &mut hv);
            out.push((stats.loss, to_f64(&g), to_f64(&hv)));
        }
        assert!(rel_err(&[out[1].0], &[out[0].0]) < tol, "loss {} vs {}", out[1].0, out[0].0);
        assert!(rel_err(&out[1].1, &out[0].1) < tol, "gradient differs: {:e}", rel_err(&out[1].1, &out[0].1));
        assert!(rel_err(&out[1].2, &out[0].2) < tol, "HVP differs: {:e}", rel_err(&out[1].2, &out[0].2));
    }
}

#[test]
fn sparse_and_dense_input_kernels_agree() {
    compare::<f64>(1e-12);
    compare::<f32>(1e-5);
}

#[test]
fn auto_kernel_is_sparse_for_mnist_and_dense_for_gaussian_data() {
    let digits = mnist::<f64>(&data_dir().join("mnist-10k"), 100).unwrap();
    let net = Mlp::new(vec![784, 8, 10], Activation::RELU, false).unwrap();
    assert!(Evaluator::new(&net, Loss::MSE, &digits).unwrap().uses_sparse_input());
    let mut rng = seeded_rng(1);
    let (gm, _) = GaussianMixture { n_train: 50, n_test: 0, d: 100, classes: 3, separation: 2.0 }
        .generate::<f64, _>(&mut rng)
        .unwrap();
    let net = Mlp::new(vec![100, 8, 3], Activation::RELU, false).unwrap();
    assert!(!Evaluator::new(&net, Loss::MSE, &gm).unwrap().uses_sparse_input());
}
