//! Streaming SGD (convex-dominance training additions): exact derivatives, determinism,
//! schedules in the loop, and the probes.

use noether_theory::schedule::Schedule;
use noether_train::streaming::{StreamMeasure, StreamSpec, StreamTask, TwoLayer, even_steps, stream_sgd};
use noether_train::{LrSchedule, scheduled_lrs};

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
fn gradient_and_hvp_match_finite_differences() {
    let (d, m, k, n) = (5, 7, 3, 11);
    let mut net = TwoLayer::<f64>::new(d, m, k, 1.0 / 3.0);
    let p = lcg(net.n_params(), 1);
    let x = lcg(n * d, 2);
    let y = lcg(n * k, 3);
    let v = lcg(net.n_params(), 4);
    let mut g = vec![0.0; p.len()];
    net.loss_grad(&p, &x, &y, n, &mut g);
    let h = 1e-6;
    for i in 0..p.len() {
        let mut pp = p.clone();
        pp[i] += h;
        let lp = net.loss(&pp, &x, &y, n);
        pp[i] -= 2.0 * h;
        let lm = net.loss(&pp, &x, &y, n);
        let fd = (lp - lm) / (2.0 * h);
        assert!((fd - g[i]).abs() < 1e-7 * (1.0 + g[i].abs()), "grad[{i}]: fd {fd} vs {}", g[i]);
    }
    let mut hv = vec![0.0; p.len()];
    net.hvp(&p, &x, &y, n, &v, &mut hv);
    let (mut gp, mut gm) = (vec![0.0; p.len()], vec![0.0; p.len()]);
    let pp: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a + h * b).collect();
    let pm: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a - h * b).collect();
    net.loss_grad(&pp, &x, &y, n, &mut gp);
    net.loss_grad(&pm, &x, &y, n, &mut gm);
    for i in 0..p.len() {
        let fd = (gp[i] - gm[i]) / (2.0 * h);
        assert!((fd - hv[i]).abs() < 1e-6 * (1.0 + hv[i].abs()), "hvp[{i}]: fd {fd} vs {}", hv[i]);
    }
    // Symmetry: uᵀHv = vᵀHu.
    let u = lcg(p.len(), 5);
    let mut hu = vec![0.0; p.len()];
    net.hvp(&p, &x, &y, n, &u, &mut hu);
    let a: f64 = u.iter().zip(&hv).map(|(a, b)| a * b).sum();
    let b: f64 = v.iter().zip(&hu).map(|(a, b)| a * b).sum();
    assert!((a - b).abs() < 1e-12 * (1.0 + a.abs()));
}

fn ts(batch: usize, seed: u64) -> StreamSpec {
    StreamSpec {
        task: StreamTask::TeacherStudent { d: 20, teacher_width: 8, noise_std: 0.5, n_holdout: 2048 },
        student_width: 32,
        batch: Some(batch),
        seed,
    }
}

/// A full-batch Gaussian-mixture task (3 classes, separation 2, seed 3).
fn gm_full_batch(n: usize, d: usize, student_width: usize) -> StreamSpec {
    StreamSpec {
        task: StreamTask::GaussianMixture { n, d, classes: 3, separation: 2.0 },
        student_width,
        batch: None,
        seed: 3,
    }
}

#[test]
fn streaming_sgd_is_deterministic_and_learns_to_the_noise_floor() {
    let lrs = match scheduled_lrs(&Schedule::Linear, 3000, 0.1, 0).unwrap() {
        LrSchedule::PerStep(v) => v,
        _ => unreachable!(),
    };
    let meas = StreamMeasure { log_points: 10, checkpoints: 5, hessian_samples: 256, lanczos_steps: 20 };
    let a = stream_sgd::<f64>(&ts(32, 7), &lrs, &meas).unwrap();
    let b = stream_sgd::<f64>(&ts(32, 7), &lrs, &meas).unwrap();
    // Bit-identical (Debug prints every f64 exactly; NaN ≠ NaN under PartialEq).
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let c = stream_sgd::<f64>(&ts(32, 8), &lrs, &meas).unwrap();
    assert_ne!(a.final_loss, c.final_loss);
    assert!(!a.diverged && a.steps_completed == 3000);
    assert_eq!(a.log.len(), 11);
    assert_eq!(a.log[0].step, 0);
    assert!(a.log[0].grad_sq_mean.is_nan() && a.log[1].grad_sq_mean > 0.0);
    // Loss falls from its initial value toward the noise floor σ²/2 = 0.125 (never below ~it).
    assert!(a.final_loss < 0.5 * a.log[0].loss, "{} vs {}", a.final_loss, a.log[0].loss);
    assert!(a.final_loss > 0.10, "final loss {} below the noise floor", a.final_loss);
    assert_eq!(a.log[0].dist_from_init, 0.0);
    assert!((a.d_eff - a.log.last().unwrap().dist_from_init).abs() < 1e-12);
    // Star residual at w_T is exactly 0; the Hessian extremes are ordered.
    let last = a.convexity.last().unwrap();
    assert_eq!(last.step, 3000);
    assert!(last.star_residual.abs() < 1e-12);
    for c in &a.convexity {
        assert!(c.lambda_max >= c.lambda_min && c.lambda_max > 0.0);
    }
    assert!((0.0..=1.0).contains(&a.pair_violation_fraction));
    // f32 follows f64 closely.
    let f = stream_sgd::<f32>(&ts(32, 7), &lrs, &meas).unwrap();
    assert!((f.final_loss - a.final_loss).abs() < 1e-2 * a.final_loss);
}

#[test]
fn divergence_is_a_result_and_bad_input_an_error() {
    let lrs = vec![50.0; 200];
    let r = stream_sgd::<f64>(&ts(8, 1), &lrs, &StreamMeasure::default()).unwrap();
    assert!(r.diverged && r.final_loss.is_nan());
    assert!(stream_sgd::<f64>(&ts(0, 1), &lrs, &StreamMeasure::default()).is_err());
    let mut full = ts(8, 1);
    full.batch = None;
    assert!(stream_sgd::<f64>(&full, &lrs, &StreamMeasure::default()).is_err());
    assert!(stream_sgd::<f64>(&ts(8, 1), &[f64::NAN], &StreamMeasure::default()).is_err());
}

#[test]
fn gaussian_mixture_full_batch_is_gradient_descent() {
    let spec = gm_full_batch(60, 10, 16);
    let r = stream_sgd::<f64>(&spec, &vec![0.05; 400], &StreamMeasure { log_points: 4, ..Default::default() }).unwrap();
    // Full-batch GD with a small step decreases the loss monotonically at the log points.
    for w in r.log.windows(2) {
        assert!(w[1].loss < w[0].loss, "{:?}", r.log);
    }
    let mut mb = spec.clone();
    mb.batch = Some(4);
    let s = stream_sgd::<f64>(&mb, &vec![0.05; 400], &StreamMeasure::default()).unwrap();
    assert!(s.final_loss.is_finite() && s.final_loss != r.final_loss);
    assert_eq!(even_steps(10, 3), vec![0, 3, 6, 10]);
    assert_eq!(even_steps(2, 5), vec![0, 1, 2]);
}

#[test]
fn conserved_quantity_by_hand() {
    use noether_train::streaming::two_layer_conserved;
    // d = 2, m = 1, K = 1: W₁ = [1, 2], W₂ = [3] → C = 9 − (1 + 4) = 4.
    assert_eq!(two_layer_conserved(&[1.0f64, 2.0, 3.0], 1, 2), 4.0);
    // d = 1, m = 2, K = 2: W₁ = [1, −1], W₂ = [0.5, 0, 0, 2] → C = 4.25 − 2 = 2.25.
    assert_eq!(two_layer_conserved(&[1.0f32, -1.0, 0.5, 0.0, 0.0, 2.0], 2, 1), 2.25);
}

#[test]
fn conservation_drift_of_one_sgd_step_is_exactly_quadratic_in_eta() {
    // One full-batch GD step from the same w₀: C(1) − C(0) = η²(‖g₂‖² − ‖g₁‖²) exactly (the
    // O(η) terms cancel for a bias-free 1-homogeneous net), so drift(2η)/drift(η) = 4. A wrong
    // C (e.g. a sum of norms) would have an O(η) term and give ≈ 2.
    let spec = gm_full_batch(60, 6, 8);
    let drift = |eta: f64| {
        let r = stream_sgd::<f64>(&spec, &[eta], &StreamMeasure::default()).unwrap();
        assert_eq!(r.log.len(), 2);
        assert!(r.log[0].conserved.is_finite());
        r.log[1].conserved - r.log[0].conserved
    };
    let (a, b) = (drift(1e-3), drift(2e-3));
    assert!(a.abs() > 0.0);
    assert!((b / a - 4.0).abs() < 1e-6, "ratio {}", b / a);
}

/// The streaming SGD's `TwoLayer` kernels against the general `Evaluator` of noether-nn (the
/// same bias-free ReLU network, PyTorch's MSE on one-hot targets = scale 1/K): loss, gradient and
/// Hessian-vector product agree to rounding, in f64 and f32, at batch sizes that do and do not
/// fill the 8-sample register blocks. (Not bit for bit: the two sum in different orders.)
#[test]
fn two_layer_kernels_agree_with_the_evaluator() {
    use noether_nn::{Activation, Dataset, Evaluator, Loss, Mlp, Real};
    fn check<T: Real>(tol: f64) {
        let (d, m, k) = (5, 7, 3);
        for n in [1usize, 8, 23, 64] {
            let to_t = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect::<Vec<T>>();
            let x = lcg(n * d, 10 + n as u64);
            let labels: Vec<usize> = (0..n).map(|i| (i * 5 + 1) % k).collect();
            let mut y = vec![0.0; n * k];
            for (i, &l) in labels.iter().enumerate() {
                y[i * k + l] = 1.0;
            }
            let mut two = TwoLayer::<T>::new(d, m, k, 1.0 / k as f64);
            let p = to_t(lcg(two.n_params(), 20 + n as u64));
            let v = to_t(lcg(two.n_params(), 30 + n as u64));
            let net = Mlp::new(vec![d, m, k], Activation::RELU, false).unwrap();
            let data = Dataset::<T>::from_rows(n, d, &x, labels, k).unwrap();
            let mut eval = Evaluator::new(&net, Loss::MSE, &data).unwrap();
            let (xt, yt) = (to_t(x.clone()), to_t(y));
            let np = p.len();
            let (mut g1, mut g2) = (vec![T::ZERO; np], vec![T::ZERO; np]);
            let l1 = two.loss_grad(&p, &xt, &yt, n, &mut g1);
            let l2 = eval.loss_and_grad(&p, &mut g2).loss;
            assert!((l1 - l2).abs() <= tol * l2.abs(), "n = {n}: loss {l1} vs {l2}");
            let (mut h1, mut h2, mut scratch) = (vec![T::ZERO; np], vec![T::ZERO; np], vec![T::ZERO; np]);
            two.hvp(&p, &xt, &yt, n, &v, &mut h1);
            eval.hvp(&p, &v, &mut h2, &mut scratch);
            let norm = |a: &[T]| a.iter().map(|z| z.to_f64().powi(2)).sum::<f64>().sqrt();
            let diff =
                |a: &[T], b: &[T]| a.iter().zip(b).map(|(u, w)| (u.to_f64() - w.to_f64()).powi(2)).sum::<f64>().sqrt();
            assert!(diff(&g1, &g2) <= tol * norm(&g2), "n = {n}: gradient differs by {}", diff(&g1, &g2));
            assert!(diff(&h1, &h2) <= tol * norm(&h2), "n = {n}: HVP differs by {}", diff(&h1, &h2));
        }
    }
    check::<f64>(1e-13);
    check::<f32>(1e-5);
}
