//! The evaluator's parallelism is its own argument (`Evaluator::with_parallelism`, default
//! `Par::Seq`): the default equals an explicit `Par::Seq` bit for bit, and a threaded evaluator
//! agrees with it to rounding (a parallel GEMM may sum in another order).

use faer::Par;
use noether_nn::{Activation, Dataset, Evaluator, HessianKind, HessianOperator, Loss, Mlp};

#[test]
fn evaluator_parallelism_is_explicit() {
    let (n, d) = (300, 40);
    let rows: Vec<f64> = (0..n * d).map(|i| (((i * 7919) % 997) as f64 / 997.0 - 0.5) * 2.0).collect();
    let labels: Vec<usize> = (0..n).map(|i| (i * 3) % 5).collect();
    let data = Dataset::<f64>::from_rows(n, d, &rows, labels, 5).unwrap();
    let net = Mlp::new(vec![d, 96, 64, 5], Activation::RELU, true).unwrap();
    let np = net.layout().n_params();
    let params: Vec<f64> = (0..np).map(|i| (((i * 104729) % 1009) as f64 / 1009.0 - 0.5) * 0.3).collect();
    let grad_with = |eval: &mut Evaluator<'_, f64>| {
        let mut g = vec![0.0; np];
        let loss = eval.loss_and_grad(&params, &mut g).loss;
        (loss, g)
    };
    let mut default = Evaluator::new(&net, Loss::CE, &data).unwrap();
    let mut seq = Evaluator::new(&net, Loss::CE, &data).unwrap().with_parallelism(Par::Seq);
    let mut threaded = Evaluator::new(&net, Loss::CE, &data).unwrap().with_parallelism(Par::rayon(2));
    assert_eq!(default.parallelism(), Par::Seq);
    let (l0, g0) = grad_with(&mut default);
    let (l1, g1) = grad_with(&mut seq);
    let (l2, g2) = grad_with(&mut threaded);
    assert_eq!((l0, &g0), (l1, &g1));
    assert!((l2 - l0).abs() <= 1e-13 * l0.abs());
    let norm: f64 = g0.iter().map(|v| v * v).sum::<f64>().sqrt();
    let diff: f64 = g0.iter().zip(&g2).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    assert!(diff <= 1e-12 * norm, "{diff} vs {norm}");
    // The HVP inherits the evaluator's setting.
    let v: Vec<f64> = (0..np).map(|i| ((i % 13) as f64 - 6.0) / 13.0).collect();
    let hvp = |eval: Evaluator<'_, f64>| {
        let mut op = HessianOperator::new(eval, params.clone(), HessianKind::Full);
        let mut out = vec![0.0; np];
        noether_spectra::SymmetricOperator::apply(&mut op, &v, &mut out);
        out
    };
    let h0 = hvp(Evaluator::new(&net, Loss::CE, &data).unwrap());
    let h2 = hvp(Evaluator::new(&net, Loss::CE, &data).unwrap().with_parallelism(Par::rayon(2)));
    let hn: f64 = h0.iter().map(|x| x * x).sum::<f64>().sqrt();
    let hd: f64 = h0.iter().zip(&h2).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
    assert!(hd <= 1e-12 * hn, "{hd} vs {hn}");
}
