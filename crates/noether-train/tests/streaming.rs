//! Streaming SGD (convex-dominance training additions): exact derivatives, determinism,
//! schedules in the loop, and the probes.

use noether_theory::schedule::Schedule;
use noether_train::streaming::{StreamMeasure, StreamSpec, StreamTask, even_steps, stream_sgd};
use noether_train::{LrSchedule, scheduled_lrs};

fn ts(batch: usize, seed: u64) -> StreamSpec {
    StreamSpec {
        task: StreamTask::TeacherStudent {
            d: 20,
            teacher_width: 8,
            noise_std: 0.5,
            n_holdout: 2048,
            clean_holdout: false,
        },
        student_width: 32,
        batch: Some(batch),
        seed,
    }
}

/// A full-batch Gaussian-mixture task (3 classes, separation 2, seed 3).
fn gm_full_batch(n: usize, d: usize, student_width: usize) -> StreamSpec {
    StreamSpec {
        task: StreamTask::GaussianMixture { n, d, classes: 3, separation: 2.0, label_noise: 0.0, n_holdout: 0 },
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

/// `stream_sgd` against SGD written out by hand on the documented recipe (module docs of
/// `noether_train::streaming`): the same generator order (teacher, held-out set, student,
/// then the batch stream), plain SGD with the Evaluator's ½-MSE gradient on each fresh batch,
/// the held-out loss at the log points. The loop, its mini-batch source and its probe must
/// reproduce it bit for bit — in f64 and in f32.
#[test]
fn streaming_sgd_is_the_hand_written_sgd_loop_bit_for_bit() {
    use noether_nn::{Activation, Dataset, Evaluator, Loss, Mlp, Real, seeded_rng};
    use noether_train::streaming::BATCH_STREAM;
    use rand::RngExt;
    use rand_distr::{Distribution, StandardNormal};

    fn by_hand<T: Real>(seed: u64, lrs: &[f64], log_steps: &[usize]) -> Vec<(usize, f64)> {
        let (d, tw, sigma, n_h, m, b) = (6usize, 3usize, 0.5, 64usize, 5usize, 4usize);
        let mut rng = seeded_rng(seed);
        let normal = |r: &mut noether_nn::Rng| -> f64 { StandardNormal.sample(r) };
        let w1: Vec<f64> = (0..tw * d).map(|_| normal(&mut rng) / (d as f64).sqrt()).collect();
        let w2: Vec<f64> = (0..tw).map(|_| normal(&mut rng) / (tw as f64).sqrt()).collect();
        let teacher = |x: &[f64]| -> f64 {
            (0..tw)
                .map(|j| w1[j * d..(j + 1) * d].iter().zip(x).map(|(a, b)| a * b).sum::<f64>())
                .zip(&w2)
                .filter(|(z, _)| *z > 0.0)
                .map(|(z, w)| w * z)
                .sum()
        };
        let xh: Vec<f64> = (0..n_h * d).map(|_| normal(&mut rng)).collect();
        let yh: Vec<f64> = (0..n_h).map(|i| teacher(&xh[i * d..(i + 1) * d]) + sigma * normal(&mut rng)).collect();
        let uniform = |bound: f64, r: &mut noether_nn::Rng| -> f64 { bound * (2.0 * r.random::<f64>() - 1.0) };
        let mut p: Vec<T> = (0..m * d).map(|_| T::from_f64(uniform(1.0 / (d as f64).sqrt(), &mut rng))).collect();
        p.extend((0..m).map(|_| T::from_f64(uniform(1.0 / (m as f64).sqrt(), &mut rng))));
        let net = Mlp::new(vec![d, m, 1], Activation::RELU, false).unwrap();
        let holdout = Dataset::<T>::regression(n_h, d, &xh, &yh, 1).unwrap();
        let mut pop = Evaluator::new(&net, Loss::HALF_MSE, &holdout).unwrap();
        let mut brng = seeded_rng(seed ^ BATCH_STREAM);
        let mut log = Vec::new();
        let mut g = vec![T::ZERO; p.len()];
        for t in 0..=lrs.len() {
            if log_steps.contains(&t) {
                log.push((t, pop.forward(&p).loss));
            }
            if t == lrs.len() {
                break;
            }
            let (mut xb, mut yb) = (Vec::new(), Vec::new());
            for _ in 0..b {
                let x: Vec<f64> = (0..d).map(|_| normal(&mut brng)).collect();
                yb.push(teacher(&x) + sigma * normal(&mut brng));
                xb.extend(x);
            }
            let batch = Dataset::<T>::regression(b, d, &xb, &yb, 1).unwrap();
            Evaluator::new(&net, Loss::HALF_MSE, &batch).unwrap().loss_and_grad(&p, &mut g);
            let lr = T::from_f64(lrs[t]);
            for (pi, gi) in p.iter_mut().zip(&g) {
                *pi -= lr * *gi;
            }
        }
        log
    }
    fn check<T: Real>() {
        let spec = StreamSpec {
            task: StreamTask::TeacherStudent {
                d: 6,
                teacher_width: 3,
                noise_std: 0.5,
                n_holdout: 64,
                clean_holdout: false,
            },
            student_width: 5,
            batch: Some(4),
            seed: 11,
        };
        let lrs: Vec<f64> = (0..40).map(|t| 0.2 * (1.0 - t as f64 / 40.0)).collect();
        let r = stream_sgd::<T>(&spec, &lrs, &StreamMeasure { log_points: 8, ..Default::default() }).unwrap();
        let steps: Vec<usize> = r.log.iter().map(|p| p.step).collect();
        assert_eq!(steps, even_steps(40, 8));
        let expected = by_hand::<T>(11, &lrs, &steps);
        let got: Vec<(usize, u64)> = r.log.iter().map(|p| (p.step, p.loss.to_bits())).collect();
        let want: Vec<(usize, u64)> = expected.iter().map(|&(t, l)| (t, l.to_bits())).collect();
        assert_eq!(got, want, "log losses differ from the hand-written loop");
        assert_eq!(r.final_loss.to_bits(), expected.last().unwrap().1.to_bits());
        assert!(expected[0].1 > 1.5 * r.final_loss, "SGD did not learn: {expected:?}");
    }
    check::<f64>();
    check::<f32>();
}

/// GM-200 with 20 % of labels flipped, full batch, linear decay from η = 0.25 over T steps.
fn noisy_gm(n_holdout: usize, steps: usize) -> f64 {
    let spec = StreamSpec {
        task: StreamTask::GaussianMixture { n: 200, d: 20, classes: 5, separation: 2.0, label_noise: 0.2, n_holdout },
        student_width: 64,
        batch: None,
        seed: 1,
    };
    let lrs = match scheduled_lrs(&Schedule::Linear, steps, 0.25, 0).unwrap() {
        LrSchedule::PerStep(v) => v,
        _ => unreachable!(),
    };
    let r = stream_sgd::<f64>(&spec, &lrs, &StreamMeasure::default()).unwrap();
    assert!(!r.diverged);
    r.final_loss
}

#[test]
fn label_noise_with_a_holdout_trains_on_the_training_set_and_scores_the_holdout() {
    // Training longer fits the flipped labels: the training loss keeps falling while the loss on
    // held-out samples of the same mixture rises (overfitting), which only happens if the run
    // trains on one set and scores the other.
    let (train_short, train_long) = (noisy_gm(0, 256), noisy_gm(0, 4096));
    let (held_short, held_long) = (noisy_gm(1000, 256), noisy_gm(1000, 4096));
    assert!(train_long < 0.5 * train_short, "training loss {train_short} → {train_long}");
    assert!(held_long > 1.3 * held_short, "held-out loss {held_short} → {held_long}");
    // Label noise outside [0, 1] is refused with a reason.
    let bad = StreamSpec {
        task: StreamTask::GaussianMixture { n: 50, d: 4, classes: 3, separation: 2.0, label_noise: 1.5, n_holdout: 0 },
        student_width: 8,
        batch: None,
        seed: 1,
    };
    let err = stream_sgd::<f64>(&bad, &[0.1; 4], &StreamMeasure::default()).unwrap_err();
    assert!(err.to_string().contains("label_noise"), "{err}");
}
