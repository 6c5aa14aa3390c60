//! noether against PyTorch float64 autograd on the six golden networks (../shared/golden,
//! copied to data/golden): loss, gradient, Hessian-vector product, full Hessian spectrum and
//! 20-step optimiser trajectories.
//!
//! Tolerances: 1e−9 relative in f64, 1e−3 in f32, where "relative" is the largest absolute
//! error over a vector divided by the largest absolute reference entry.

mod common;

use common::{CASES, Golden, flatten, load, rel_err, to_f64};
use noether::nn::{Evaluator, HessianKind, HessianOperator, Real, dense_hessian};
use noether::spectra::{SymmetricOperator, dense_eigen};
use noether::train::probes::TrajectoryRecorder;
use noether::train::{LrSchedule, OptimizerKind, Probe, train};

fn tol<T: Real>() -> f64 {
    if T::NAME == "f64" { 1e-9 } else { 1e-3 }
}

fn check_derivatives<T: Real>(g: &Golden) {
    let net = g.net();
    let data = g.dataset::<T>();
    let params = g.params::<T>();
    let mut eval = Evaluator::new(&net, g.loss_kind(), &data).unwrap();
    let mut grad = vec![T::ZERO; params.len()];
    let stats = eval.loss_and_grad(&params, &mut grad);
    let t = tol::<T>();
    assert!(rel_err(&[stats.loss], &[g.loss]) < t, "{} {}: loss {} vs {}", g.name, T::NAME, stats.loss, g.loss);
    let e = rel_err(&to_f64(&grad), &flatten(&g.grad));
    assert!(e < t, "{} {}: gradient rel. error {e:e}", g.name, T::NAME);

    let v: Vec<T> = flatten(&g.hvp_direction).into_iter().map(T::from_f64).collect();
    let mut hv = vec![T::ZERO; params.len()];
    eval.hvp_cached(&params, &v, &mut hv);
    let e = rel_err(&to_f64(&hv), &flatten(&g.hvp));
    assert!(e < t, "{} {}: HVP rel. error {e:e}", g.name, T::NAME);

    let mut op =
        HessianOperator::new(Evaluator::new(&net, g.loss_kind(), &data).unwrap(), params.clone(), HessianKind::Full);
    let h = dense_hessian(&mut op);
    let eig = dense_eigen(h.as_ref(), false).unwrap();
    let e = rel_err(&eig.values, &g.hessian_eigenvalues);
    assert!(e < t, "{} {}: Hessian spectrum rel. error {e:e}", g.name, T::NAME);
    assert_eq!(op.dim(), g.hessian_eigenvalues.len());
}

fn check_trajectory<T: Real>(g: &Golden) {
    let net = g.net();
    let data = g.dataset::<T>();
    let mut params = g.params::<T>();
    let mut eval = Evaluator::new(&net, g.loss_kind(), &data).unwrap();
    let opt = match g.optimizer.as_str() {
        "gd" => OptimizerKind::Gd,
        "momentum" => OptimizerKind::Momentum { beta: 0.9 },
        "adam" => OptimizerKind::ADAM_DEFAULT,
        other => panic!("unknown optimizer {other}"),
    };
    let mut rec = TrajectoryRecorder::new(1);
    let out = train(
        &mut eval,
        &mut params,
        opt,
        &LrSchedule::Constant(g.lr),
        g.steps,
        &mut [&mut rec as &mut dyn Probe<T>],
        &mut |_| {},
    )
    .expect("training runs");
    assert!(!out.diverged());
    assert_eq!(rec.points.len(), g.trajectory.len());
    let t = tol::<T>();
    for (ours, theirs) in rec.points.iter().zip(&g.trajectory) {
        assert_eq!(ours.step, theirs.step);
        let pairs: [(&str, &[f64], &[f64]); 5] = [
            ("loss", &[ours.loss], &[theirs.loss]),
            ("weight_sq_norms", &ours.weight_sq_norms, &theirs.weight_sq_norms),
            ("grad_sq_norms", &ours.grad_sq_norms, &theirs.grad_sq_norms),
            ("conserved", &ours.conserved, &theirs.conserved),
            ("imbalance", &ours.imbalance, &theirs.imbalance),
        ];
        for (what, a, b) in pairs {
            let e = rel_err(a, b);
            assert!(e < t, "{} {} step {}: {what} rel. error {e:e}", g.name, T::NAME, ours.step);
        }
    }
    let layout = net.layout();
    let finals: Vec<f64> = (0..net.n_layers()).flat_map(|l| to_f64(layout.weight(&params, l))).collect();
    let expected: Vec<f64> = g.final_weights.iter().flatten().flatten().copied().collect();
    let e = rel_err(&finals, &expected);
    assert!(e < t, "{} {}: final weights rel. error {e:e}", g.name, T::NAME);
}

#[test]
fn derivatives_match_pytorch_f64() {
    for c in CASES {
        check_derivatives::<f64>(&load(c));
    }
}

#[test]
fn derivatives_match_pytorch_f32() {
    for c in CASES {
        check_derivatives::<f32>(&load(c));
    }
}

#[test]
fn trajectories_match_pytorch_f64() {
    for c in CASES {
        check_trajectory::<f64>(&load(c));
    }
}

#[test]
fn trajectories_match_pytorch_f32() {
    for c in CASES {
        check_trajectory::<f32>(&load(c));
    }
}
