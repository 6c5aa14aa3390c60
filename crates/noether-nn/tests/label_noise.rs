//! The label-noise Gaussian mixture: the held-out set comes from the training set's mixture,
//! the training set is the one `generate` draws, and flips change the fraction asked for, never
//! to the true class.

use noether_nn::{Dataset, GaussianMixture, flip_labels, seeded_rng};

fn class_means(d: &Dataset<f64>) -> Vec<Vec<f64>> {
    (0..d.classes)
        .map(|c| {
            let idx: Vec<usize> = (0..d.n).filter(|&i| d.labels[i] == c).collect();
            (0..d.d).map(|j| idx.iter().map(|&i| d.get(i, j)).sum::<f64>() / idx.len() as f64).collect()
        })
        .collect()
}

#[test]
fn the_training_set_is_the_one_generate_draws_and_the_holdout_shares_its_centres() {
    let gm = GaussianMixture { n_train: 200, n_test: 0, d: 20, classes: 5, separation: 2.0 };
    let (plain, _) = gm.generate::<f64, _>(&mut seeded_rng(7)).unwrap();
    let (train, holdout) = gm.generate_with_holdout::<f64, _>(2000, &mut seeded_rng(7)).unwrap();
    assert_eq!(plain, train);
    assert_eq!((holdout.n, holdout.d, holdout.classes), (2000, 20, 5));
    // Same centres: per class, the held-out mean is within sampling noise of the training mean
    // (40 vs 400 samples of N(μ, I): the difference has sd ≈ √(1/40 + 1/400) ≈ 0.17 per coordinate),
    // while the centres themselves are separation·√d ≈ 8.9 from the origin.
    let (mt, mh) = (class_means(&train), class_means(&holdout));
    for c in 0..5 {
        let dist: f64 = mt[c].iter().zip(&mh[c]).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        let norm: f64 = mt[c].iter().map(|a| a * a).sum::<f64>().sqrt();
        assert!(dist < 1.5 && norm > 7.0, "class {c}: |μ_train − μ_holdout| = {dist}, |μ_train| = {norm}");
    }
    // `generate`'s test set has new centres, far from the training ones.
    let gm_test = GaussianMixture { n_test: 2000, ..gm };
    let (_, test) = gm_test.generate::<f64, _>(&mut seeded_rng(7)).unwrap();
    let far = class_means(&test)
        .iter()
        .zip(&mt)
        .filter(|(a, b)| a.iter().zip(b.iter()).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt() > 3.0)
        .count();
    assert!(far >= 4, "the test set of generate() should have new centres");
}

#[test]
fn flips_change_about_the_asked_fraction_and_never_to_the_true_class() {
    let n = 20_000;
    let clean: Vec<usize> = (0..n).map(|i| i % 5).collect();
    let mut noisy = clean.clone();
    let flipped = flip_labels(&mut noisy, 5, 0.2, &mut seeded_rng(3));
    let changed = clean.iter().zip(&noisy).filter(|(a, b)| a != b).count();
    // Every flip changes the label; the count is Binomial(20000, 0.2): sd ≈ 57.
    assert_eq!(flipped, changed);
    assert!((changed as f64 - 4000.0).abs() < 300.0, "{changed} flips");
    assert!(noisy.iter().all(|&y| y < 5));
    // The other classes are hit uniformly: each of the 4 wrong labels of class 0 about 1/4.
    let from0: Vec<usize> =
        (1..5).map(|k| clean.iter().zip(&noisy).filter(|(a, b)| **a == 0 && **b == k).count()).collect();
    assert!(from0.iter().all(|&c| (c as f64 - 200.0).abs() < 70.0), "{from0:?}");
    // Deterministic, and 0 flips nothing (but consumes the same draws).
    let mut again = clean.clone();
    flip_labels(&mut again, 5, 0.2, &mut seeded_rng(3));
    assert_eq!(again, noisy);
    let mut none = clean.clone();
    assert_eq!(flip_labels(&mut none, 5, 0.0, &mut seeded_rng(3)), 0);
    assert_eq!(none, clean);
}
