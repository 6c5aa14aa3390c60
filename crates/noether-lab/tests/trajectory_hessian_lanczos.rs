//! The full-Hessian path of E16/E18/E23 (a `TrajectoryJob`: one GD run analysed at checkpoints,
//! closed-form dense Hessian + faer eigendecomposition) agrees with Lanczos top-k / bottom-k on
//! the Hessian operator (exact R-operator products, an independent route) at a trained
//! checkpoint, in f64 to 1e-8 relative.

use noether_lab::experiments::common::gm200;
use noether_lab::job::NetSpec;
use noether_lab::job::{Job, TrajectoryJob};
use noether_lab::results::JobResult;
use noether_lab::runner::{build, run_job};
use noether_nn::Precision;
use noether_nn::{Evaluator, HessianKind, HessianOperator};
use noether_spectra::{LanczosOptions, lanczos};
use noether_train::{LrSchedule, OptimizerKind, train};

fn check(ce_weight: f64, t_check: usize) {
    let problem = gm200(42, Precision::F64, NetSpec::two_layer(24, 1.0), ce_weight);
    let job = Job::Trajectory(TrajectoryJob {
        problem: problem.clone(),
        lr: 0.01,
        checkpoints: vec![0, 60, t_check],
        hessian_at: vec![60, t_check],
        ck: true,
    });
    let JobResult::Trajectory(tr) = run_job(&job).expect("trajectory runs") else { panic!("wrong result kind") };
    let point = tr.points.iter().find(|p| p.t == t_check).expect("checkpoint reached");
    let h = point.hessian.as_ref().expect("Hessian at the checkpoint");
    let ck = h.ck.as_ref().expect("c_k requested");
    assert!((ck.iter().sum::<f64>() - h.delta0.abs()).abs() <= 1e-10 * h.delta0.abs().max(1e-300));

    // The same point, reached independently by one continuous run.
    let (net, data, mut params, loss) = build::<f64>(&problem).unwrap();
    let mut eval = Evaluator::new(&net, loss, &data).unwrap();
    let out =
        train(&mut eval, &mut params, OptimizerKind::Gd, &LrSchedule::Constant(0.01), t_check, &mut [], &mut |_| {})
            .unwrap();
    assert!(!out.diverged());
    assert!((out.final_loss - point.loss).abs() <= 1e-14 * point.loss.abs(), "segmented training must equal one run");
    let mut op = HessianOperator::new(Evaluator::new(&net, loss, &data).unwrap(), params, HessianKind::Full);
    let k = 6;
    let res = lanczos(
        &mut op,
        &LanczosOptions { k_top: k, k_bottom: k, max_iter: Some(600), tol: 1e-11, seed: 7, ..Default::default() },
    )
    .expect("lanczos");
    assert!(res.converged_all, "Lanczos did not converge");
    let eig = &h.eigenvalues; // ascending
    let n = eig.len();
    let scale = eig[n - 1].abs().max(eig[0].abs());
    for (i, pair) in res.top.iter().enumerate() {
        let dense = eig[n - 1 - i];
        assert!(
            (pair.value - dense).abs() <= 1e-8 * dense.abs().max(1e-3 * scale),
            "top {i}: lanczos {} vs dense {dense}",
            pair.value
        );
    }
    for (i, pair) in res.bottom.iter().enumerate() {
        let dense = eig[i];
        assert!(
            (pair.value - dense).abs() <= 1e-8 * dense.abs().max(1e-3 * scale),
            "bottom {i}: lanczos {} vs dense {dense}",
            pair.value
        );
    }
}

#[test]
fn trajectory_hessian_matches_lanczos_ce() {
    check(1.0, 200);
}

#[test]
fn trajectory_hessian_matches_lanczos_mse() {
    check(0.0, 200);
}
