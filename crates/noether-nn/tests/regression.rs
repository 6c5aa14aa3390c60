//! Real-valued targets and the ½-MSE: loss by hand, gradient and Hessian-vector products
//! against finite differences, mini-batch refills, and the errors of misuse.

use noether_nn::{Activation, Dataset, Evaluator, Loss, Mlp, NnError};

fn lcg(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn half_mse_on_targets_by_hand() -> Result<(), NnError> {
    // 1 → 1 linear net f = w·x on two samples: L = ½·((2w − 1)² + (−w − 3)²)/2.
    let net = Mlp::new(vec![1, 1], Activation::LINEAR, false)?;
    let data = Dataset::<f64>::regression(2, 1, &[2.0, -1.0], &[1.0, 3.0], 1)?;
    let mut eval = Evaluator::new(&net, Loss::HALF_MSE, &data)?;
    let w = 0.5;
    let mut g = [0.0];
    let stats = eval.loss_and_grad(&[w], &mut g);
    let expected = 0.5 * ((2.0 * w - 1.0f64).powi(2) + (-w - 3.0f64).powi(2)) / 2.0;
    assert!((stats.loss - expected).abs() < 1e-15, "{} vs {expected}", stats.loss);
    // dL/dw = ½·(2(2w − 1)·2 + 2(−w − 3)·(−1))/2
    let dw = 0.5 * (2.0 * (2.0 * w - 1.0) * 2.0 + 2.0 * (-w - 3.0) * -1.0) / 2.0;
    assert!((g[0] - dw).abs() < 1e-15, "{} vs {dw}", g[0]);
    assert!(stats.accuracy.is_nan(), "regression has no accuracy");
    // Plain MSE is twice the ½-MSE.
    let plain = Evaluator::new(&net, Loss::MSE, &data)?.forward(&[w]).loss;
    assert!((plain - 2.0 * expected).abs() < 1e-15);
    Ok(())
}

#[test]
fn gradient_and_hvp_with_targets_match_finite_differences() -> Result<(), NnError> {
    let (d, m, k, n) = (5, 7, 3, 11);
    let net = Mlp::new(vec![d, m, k], Activation::RELU, true)?;
    let data = Dataset::<f64>::regression(n, d, &lcg(n * d, 2), &lcg(n * k, 3), k)?;
    let mut eval = Evaluator::new(&net, Loss::HALF_MSE, &data)?;
    let p = lcg(net.n_params(), 1);
    let v = lcg(net.n_params(), 4);
    let mut g = vec![0.0; p.len()];
    eval.loss_and_grad(&p, &mut g);
    let h = 1e-6;
    for i in 0..p.len() {
        let mut q = p.clone();
        q[i] += h;
        let lp = eval.forward(&q).loss;
        q[i] -= 2.0 * h;
        let lm = eval.forward(&q).loss;
        let fd = (lp - lm) / (2.0 * h);
        assert!((fd - g[i]).abs() < 1e-7 * (1.0 + g[i].abs()), "grad[{i}]: fd {fd} vs {}", g[i]);
    }
    let (mut hv, mut scratch) = (vec![0.0; p.len()], vec![0.0; p.len()]);
    eval.hvp(&p, &v, &mut hv, &mut scratch);
    let (mut gp, mut gm) = (vec![0.0; p.len()], vec![0.0; p.len()]);
    let shifted = |s: f64| p.iter().zip(&v).map(|(a, b)| a + s * b).collect::<Vec<f64>>();
    eval.loss_and_grad(&shifted(h), &mut gp);
    eval.loss_and_grad(&shifted(-h), &mut gm);
    for i in 0..p.len() {
        let fd = (gp[i] - gm[i]) / (2.0 * h);
        assert!((fd - hv[i]).abs() < 1e-6 * (1.0 + hv[i].abs()), "hvp[{i}]: fd {fd} vs {}", hv[i]);
    }
    Ok(())
}

#[test]
fn refill_rewrites_an_owned_batch_and_never_the_callers_data() -> Result<(), NnError> {
    let net = Mlp::new(vec![3, 4, 2], Activation::RELU, false)?;
    let rows = lcg(12, 5);
    let data = Dataset::<f64>::from_rows(4, 3, &rows, vec![0, 1, 1, 0], 2)?;
    let p = lcg(net.n_params(), 6);
    let other = Dataset::<f64>::from_rows(4, 3, &lcg(12, 7), vec![1, 1, 0, 0], 2)?;
    let want = Evaluator::new(&net, Loss::MSE, &other)?.forward(&p).loss;
    // Borrowed: refilling copies first; the caller's data set is untouched.
    let mut eval = Evaluator::new(&net, Loss::MSE, &data)?;
    let before = eval.forward(&p).loss;
    eval.refill(|b| {
        b.x.clone_from(&other.x);
        b.labels.clone_from(&other.labels);
    });
    assert_eq!(eval.forward(&p).loss.to_bits(), want.to_bits());
    assert_eq!(Evaluator::new(&net, Loss::MSE, &data)?.forward(&p).loss.to_bits(), before.to_bits());
    // Owned: the same numbers as a fresh evaluator on the new batch.
    let mut owned = Evaluator::owning(&net, Loss::MSE, data.clone())?;
    owned.refill(|b| *b = other.clone());
    assert_eq!(owned.forward(&p).loss.to_bits(), want.to_bits());
    // head(n): the first samples, in both layouts.
    let head = data.head(2);
    assert_eq!((head.n, head.labels.clone()), (2, vec![0, 1]));
    assert_eq!(head.get(1, 2), data.get(1, 2));
    Ok(())
}

#[test]
fn misuse_of_targets_is_an_error() {
    let net = Mlp::new(vec![2, 3, 2], Activation::RELU, false).unwrap();
    let data = Dataset::<f64>::regression(2, 2, &[1.0, 2.0, 3.0, 4.0], &[0.5, 1.5, 2.5, 3.5], 2).unwrap();
    let ce = Evaluator::new(&net, Loss::CE, &data).err().expect("CE on targets is refused").to_string();
    assert!(ce.contains("real-valued targets"), "{ce}");
    let wide = Dataset::<f64>::regression(2, 2, &[1.0, 2.0, 3.0, 4.0], &[0.5, 1.5], 1).unwrap();
    let shape = Evaluator::new(&net, Loss::MSE, &wide).err().expect("K mismatch is refused").to_string();
    assert!(shape.contains("1 targets per sample") && shape.contains("K = 2"), "{shape}");
    let bad = Dataset::<f64>::regression(2, 2, &[1.0, 2.0, 3.0, 4.0], &[0.5, f64::NAN], 1).err().unwrap().to_string();
    assert!(bad.contains("not finite"), "{bad}");
    let short = Dataset::<f64>::regression(2, 2, &[1.0, 2.0, 3.0, 4.0], &[0.5], 1).err().unwrap().to_string();
    assert!(short.contains("target values"), "{short}");
    assert_eq!(Loss::parse("half-mse").unwrap(), Loss::HALF_MSE);
    assert_eq!(Loss::HALF_MSE.name(), "half-mse");
}
