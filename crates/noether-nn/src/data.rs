//! Data sets: a design matrix with integer class labels, and the generators of the paper.
//!
//! Randomness: every generator takes the run's single `ChaCha8Rng` and consumes it in a
//! documented order, *after* the weights were drawn (see [`crate::init`]). So all learning
//! rates and variants of one seed share initial weights and data (the paired design).

use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::{NnError, Real};

/// n samples of dimension d with labels in 0..classes, or with real-valued targets.
///
/// `x` is stored column-major n×d (feature j of all samples is contiguous), the layout the
/// evaluator multiplies with directly. A regression data set ([`Dataset::regression`]) carries
/// `targets` (n×K, column-major) in place of one-hot labels: the MSE then compares the outputs
/// with them, cross-entropy is refused and the accuracy is NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<T> {
    /// Samples.
    pub n: usize,
    /// Input dimension.
    pub d: usize,
    /// Classes K (labels are 0..K).
    pub classes: usize,
    /// Column-major n×d.
    pub x: Vec<T>,
    /// One label per sample (all 0 for a regression data set).
    pub labels: Vec<usize>,
    /// Real-valued targets, column-major n×K with K = `classes`, of a regression data set.
    pub targets: Option<Vec<T>>,
}

impl<T: Real> Dataset<T> {
    /// Builds a data set from row-major samples (`rows[i*d + j]` = feature j of sample i).
    pub fn from_rows(n: usize, d: usize, rows: &[f64], labels: Vec<usize>, classes: usize) -> Result<Self, NnError> {
        if rows.len() != n * d {
            return Err(NnError::InvalidArgument(format!(
                "expected {n}×{d} = {} input values, got {}",
                n * d,
                rows.len()
            )));
        }
        if labels.len() != n {
            return Err(NnError::InvalidArgument(format!("{n} samples but {} labels", labels.len())));
        }
        if let Some((i, &y)) = labels.iter().enumerate().find(|(_, y)| **y >= classes) {
            return Err(NnError::InvalidArgument(format!("label {y} of sample {i} is outside 0..{classes}")));
        }
        if let Some(i) = rows.iter().position(|v| !v.is_finite()) {
            return Err(NnError::InvalidArgument(format!(
                "input value {} (sample {}, feature {}) is not finite",
                rows[i],
                i / d.max(1),
                i % d.max(1)
            )));
        }
        let mut x = vec![T::ZERO; n * d];
        for i in 0..n {
            for j in 0..d {
                x[i + n * j] = T::from_f64(rows[i * d + j]);
            }
        }
        Ok(Dataset { n, d, classes, x, labels, targets: None })
    }

    /// A regression data set: row-major samples and row-major targets (`targets[i*k + c]` =
    /// output c of sample i), compared with the outputs by the MSE.
    pub fn regression(n: usize, d: usize, rows: &[f64], targets: &[f64], k: usize) -> Result<Self, NnError> {
        if targets.len() != n * k {
            return Err(NnError::InvalidArgument(format!(
                "expected {n}×{k} = {} target values, got {}",
                n * k,
                targets.len()
            )));
        }
        if let Some(i) = targets.iter().position(|v| !v.is_finite()) {
            return Err(NnError::InvalidArgument(format!(
                "target value {} (sample {}, output {}) is not finite",
                targets[i],
                i / k.max(1),
                i % k.max(1)
            )));
        }
        let mut data = Self::from_rows(n, d, rows, vec![0; n], k.max(1))?;
        let mut y = vec![T::ZERO; n * k];
        for i in 0..n {
            for c in 0..k {
                y[i + n * c] = T::from_f64(targets[i * k + c]);
            }
        }
        data.classes = k;
        data.targets = Some(y);
        Ok(data)
    }

    /// The same data in another precision.
    pub fn cast<U: Real>(&self) -> Dataset<U> {
        Dataset {
            n: self.n,
            d: self.d,
            classes: self.classes,
            x: self.x.iter().map(|v| U::from_f64(v.to_f64())).collect(),
            labels: self.labels.clone(),
            targets: self.targets.as_ref().map(|y| y.iter().map(|v| U::from_f64(v.to_f64())).collect()),
        }
    }

    /// The first `n` samples (all of them if `n` ≥ the size).
    pub fn head(&self, n: usize) -> Dataset<T> {
        let (m, n) = (self.n, n.min(self.n));
        let columns = |v: &[T], width: usize| (0..width).flat_map(|j| v[j * m..j * m + n].iter().copied()).collect();
        Dataset {
            n,
            d: self.d,
            classes: self.classes,
            x: columns(&self.x, self.d),
            labels: self.labels[..n].to_vec(),
            targets: self.targets.as_ref().map(|y| columns(y, self.classes)),
        }
    }

    /// Feature j of sample i.
    pub fn get(&self, i: usize, j: usize) -> T {
        self.x[i + self.n * j]
    }
}

/// The Gaussian-mixture recipe of the reference (spec §1.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussianMixture {
    /// Training samples.
    pub n_train: usize,
    /// Test samples, drawn after the training set.
    pub n_test: usize,
    /// Input dimension.
    pub d: usize,
    /// Classes (mixture components).
    pub classes: usize,
    /// Scale of the class centres.
    pub separation: f64,
}

impl Default for GaussianMixture {
    /// GM-200: n = 200 (+50 test), d = 20, K = 5, separation 2.
    fn default() -> Self {
        GaussianMixture { n_train: 200, n_test: 50, d: 20, classes: 5, separation: 2.0 }
    }
}

impl GaussianMixture {
    /// Draws (train, test). RNG order: train centres (K×d normals, row-wise), train samples
    /// (class by class, each sample's d normals), the train permutation, then the same three
    /// for the test set — which therefore has *new* centres, as in the reference.
    pub fn generate<T: Real, R: Rng>(&self, rng: &mut R) -> Result<(Dataset<T>, Dataset<T>), NnError> {
        if self.classes == 0 || self.d == 0 {
            return Err(NnError::InvalidArgument("Gaussian mixture needs d ≥ 1 and K ≥ 1".into()));
        }
        let train = self.draw(self.n_train, rng);
        let test = self.draw(self.n_test, rng);
        Ok((train, test))
    }

    /// Draws a training set and a held-out set of `n_holdout` samples from the *same* mixture
    /// (unlike [`GaussianMixture::generate`]'s test set, whose centres are new). RNG order: the
    /// training set exactly as `generate` draws it (so it is the same set), then the held-out
    /// samples around the training centres and their permutation.
    pub fn generate_with_holdout<T: Real, R: Rng>(
        &self,
        n_holdout: usize,
        rng: &mut R,
    ) -> Result<(Dataset<T>, Dataset<T>), NnError> {
        if self.classes == 0 || self.d == 0 {
            return Err(NnError::InvalidArgument("Gaussian mixture needs d ≥ 1 and K ≥ 1".into()));
        }
        let centres = self.centres(rng);
        let train = self.around(&centres, self.n_train, rng);
        let holdout = self.around(&centres, n_holdout, rng);
        Ok((train, holdout))
    }

    fn draw<T: Real, R: Rng>(&self, n: usize, rng: &mut R) -> Dataset<T> {
        let centres = self.centres(rng);
        self.around(&centres, n, rng)
    }

    /// K×d class centres (row-major), each a standard normal scaled to norm separation·√d.
    fn centres<R: Rng>(&self, rng: &mut R) -> Vec<f64> {
        let (d, k) = (self.d, self.classes);
        let radius = self.separation * (d as f64).sqrt();
        let mut centres = vec![0.0f64; k * d];
        for c in 0..k {
            let row = &mut centres[c * d..(c + 1) * d];
            for v in row.iter_mut() {
                *v = StandardNormal.sample(rng);
            }
            let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
            for v in row.iter_mut() {
                *v *= radius / norm;
            }
        }
        centres
    }

    /// n samples around `centres`, class by class (n/K each, the first n mod K classes one
    /// more), then shuffled.
    fn around<T: Real, R: Rng>(&self, centres: &[f64], n: usize, rng: &mut R) -> Dataset<T> {
        let (d, k) = (self.d, self.classes);
        let mut rows = Vec::with_capacity(n * d);
        let mut labels = Vec::with_capacity(n);
        for c in 0..k {
            let count = n / k + usize::from(c < n % k);
            for _ in 0..count {
                for j in 0..d {
                    let z: f64 = StandardNormal.sample(rng);
                    rows.push(centres[c * d + j] + z);
                }
                labels.push(c);
            }
        }
        let perm = permutation(n, rng);
        permuted(n, d, &rows, &labels, &perm, k)
    }
}

/// Label noise: each label is replaced, with probability `fraction`, by one of the other
/// `classes − 1` classes chosen uniformly (two uniform draws per sample, in sample order, so
/// the flips do not depend on `fraction`'s value beyond the threshold). Returns how many
/// labels changed.
pub fn flip_labels<R: Rng>(labels: &mut [usize], classes: usize, fraction: f64, rng: &mut R) -> usize {
    let mut flipped = 0;
    for y in labels.iter_mut() {
        let u: f64 = rng.random();
        let other = if classes > 1 { rng.random_range(0..classes - 1) } else { 0 };
        if classes > 1 && u < fraction {
            // Skip the true class: 0..K−1 maps onto the K − 1 other classes.
            *y = if other >= *y { other + 1 } else { other };
            flipped += 1;
        }
    }
    flipped
}

/// XOR in two dimensions: x ~ N(0, I₂), label (x₀ > 0) XOR (x₁ > 0); no shuffle.
pub fn xor_2d<T: Real, R: Rng>(n: usize, rng: &mut R) -> Dataset<T> {
    let mut rows = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let a: f64 = StandardNormal.sample(rng);
        let b: f64 = StandardNormal.sample(rng);
        rows.push(a);
        rows.push(b);
        labels.push(usize::from((a > 0.0) ^ (b > 0.0)));
    }
    Dataset::from_rows(n, 2, &rows, labels, 2).expect("generated data are consistent")
}

/// Concentric spheres in d dimensions: n/2 points at radius 1 (label 0), the rest at radius 2
/// (label 1); each point a normalised Gaussian times its radius plus N(0, noise²) per
/// coordinate; shuffled.
pub fn concentric_spheres<T: Real, R: Rng>(n: usize, d: usize, noise: f64, rng: &mut R) -> Dataset<T> {
    let mut rows = Vec::with_capacity(n * d);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let (radius, label) = if i < n / 2 { (1.0, 0) } else { (2.0, 1) };
        let g: Vec<f64> = (0..d).map(|_| StandardNormal.sample(rng)).collect();
        let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        for v in g {
            let e: f64 = StandardNormal.sample(rng);
            rows.push(v / norm * radius + noise * e);
        }
        labels.push(label);
    }
    let perm = permutation(n, rng);
    permuted(n, d, &rows, &labels, &perm, 2)
}

/// A uniformly random permutation of 0..n (Fisher–Yates, from the back).
pub fn permutation<R: Rng>(n: usize, rng: &mut R) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

fn permuted<T: Real>(n: usize, d: usize, rows: &[f64], labels: &[usize], perm: &[usize], classes: usize) -> Dataset<T> {
    let mut out_rows = Vec::with_capacity(n * d);
    let mut out_labels = Vec::with_capacity(n);
    for &p in perm {
        out_rows.extend_from_slice(&rows[p * d..(p + 1) * d]);
        out_labels.push(labels[p]);
    }
    Dataset::from_rows(n, d, &out_rows, out_labels, classes).expect("generated data are consistent")
}
