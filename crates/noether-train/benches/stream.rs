//! Hot path of the convex-dominance experiments (CD1, CD3): streaming teacher–student SGD with
//! CD1's task (d = 20, teacher width 8, student width 64, B = 32), 1000 steps per iteration
//! (sample generation, forward + backward, update, population loss on 4096 samples at t = 0
//! and T). Run with `cargo xtask bench stream`.

use divan::black_box;
use noether_nn::Real;
use noether_train::streaming::{StreamMeasure, StreamSpec, StreamTask, stream_sgd};

fn main() {
    divan::main();
}

#[divan::bench(types = [f32, f64], sample_count = 10)]
fn stream_sgd_cd1_1000_steps<T: Real>() -> f64 {
    let spec = StreamSpec {
        task: StreamTask::TeacherStudent {
            d: 20,
            teacher_width: 8,
            noise_std: 0.5,
            n_holdout: 4096,
            clean_holdout: false,
        },
        student_width: 64,
        batch: Some(32),
        seed: 1,
    };
    let lrs = vec![0.1; 1000];
    let r = stream_sgd::<T>(black_box(&spec), &lrs, &StreamMeasure::default()).unwrap();
    r.final_loss
}
