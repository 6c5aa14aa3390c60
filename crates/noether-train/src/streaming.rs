//! Mini-batch / streaming SGD with a learning-rate schedule on a two-layer bias-free ReLU
//! network, and the convex-dominance probes (spec `convex-dominance.md` §8 "Training
//! additions", §9 Exp. 1–4).
//!
//! Two tasks:
//! - [`StreamTask::TeacherStudent`]: x ~ N(0, I_d), y = f*(x) + σε with a fixed random
//!   2-layer ReLU teacher f* (scalar output); every step draws B *fresh* samples (one pass,
//!   like LLM pre-training). Loss ½·mean (f − y)², so the noise floor is L∞ ≈ σ²/2. The
//!   "population loss" is measured on a fixed held-out set.
//! - [`StreamTask::GaussianMixture`]: the EoS paper's GM data (n, d, K), MSE on one-hot
//!   targets with PyTorch's normalisation (mean over n·K entries, no ½); mini-batches are
//!   drawn with replacement from the n training samples (`batch = None` is full-batch GD);
//!   the "population loss" is the full training loss.
//!
//! The student f(x) = W₂ relu(W₁x) (no biases) is initialised like PyTorch's `nn.Linear`
//! (U(±1/√fan_in)). Parameters are flat: W₁ (m×d, row-major), then W₂ (K×m).
//!
//! **Randomness and determinism.** Generator `seeded_rng(seed)` (ChaCha8) draws, in order:
//! the teacher (W₁* then W₂*, standard normals scaled by 1/√d and 1/√k) or the GM data set,
//! the held-out set (teacher–student: x then noise), the student. Mini-batches come from a
//! *second* generator `seeded_rng(seed ^ BATCH_STREAM)`, so every schedule and learning rate of
//! one seed sees the same data stream (paired design). A run is single-threaded, so results are
//! bit-identical whatever the number of threads running other jobs.
//!
//! **Probes** (every `log_points` evenly spaced steps, always including 0 and T): population
//! loss, ‖w_t − w₀‖, the conserved quantity C = ‖W₂‖² − ‖W₁‖², and the mean mini-batch
//! gradient second moment ‖g‖² over the window since the previous log point (the G² of
//! Condition 2.1). At `checkpoints` evenly spaced steps the
//! parameters are kept; after training, for each checkpoint: the star-convexity residual
//! towards the final iterate s_t = L(w_t) − L(w_T) − (w_t − w_T)ᵀ∇L(w_t) (Remark 2.2, ≤ 0 when
//! star-convex), ‖∇L(w_t)‖², and the extreme Hessian eigenvalues by Lanczos on the first
//! `hessian_samples` held-out samples; and, over all checkpoint pairs t < s, the fraction with
//! a positive iterate-wise convexity residual L(w_t) − L(w_s) − (w_t − w_s)ᵀ∇L(w_t).

use noether_nn::{GaussianMixture, Real, seeded_rng};
use noether_spectra::{LanczosOptions, SymmetricOperator, lanczos};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// XOR-ed into the seed for the mini-batch generator.
pub const BATCH_STREAM: u64 = 0xB47C_4E55_0000_0001;

/// The data of a streaming run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StreamTask {
    /// Fresh Gaussian inputs, random ReLU teacher, Gaussian label noise.
    TeacherStudent {
        /// Input dimension.
        d: usize,
        /// Hidden width of the teacher.
        teacher_width: usize,
        /// Standard deviation σ of the label noise (the Bayes loss is σ²/2).
        noise_std: f64,
        /// Fixed held-out samples on which the population loss is measured.
        n_holdout: usize,
    },
    /// The EoS paper's Gaussian mixture (train set only), MSE on one-hot labels.
    GaussianMixture {
        /// Training samples.
        n: usize,
        /// Input dimension.
        d: usize,
        /// Classes.
        classes: usize,
        /// Scale of the class centres.
        separation: f64,
    },
}

/// What to record besides the final population loss.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamMeasure {
    /// Number of evenly spaced log points (population loss, ‖w_t − w₀‖, window mean ‖g‖²);
    /// 0 = only t = 0 and t = T.
    pub log_points: usize,
    /// Number of evenly spaced checkpoints for the convexity diagnostics (0 = none).
    pub checkpoints: usize,
    /// Held-out samples used for the Hessian (0 = all).
    pub hessian_samples: usize,
    /// Lanczos steps per checkpoint (0 = no Hessian).
    pub lanczos_steps: usize,
}

/// A streaming SGD run: task, student width, batch size, seed, learning rates per step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamSpec {
    /// The data.
    pub task: StreamTask,
    /// Hidden width of the bias-free 2-layer ReLU student.
    pub student_width: usize,
    /// Mini-batch size (`None`: full batch, GM task only).
    pub batch: Option<usize>,
    /// Seeds the teacher, the student's initial weights and the sample stream.
    pub seed: u64,
}

/// One log point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamLogPoint {
    /// t (updates applied).
    pub step: usize,
    /// Population (held-out / full training) loss at w_t.
    pub loss: f64,
    /// ‖w_t − w₀‖.
    pub dist_from_init: f64,
    /// Mean of ‖g_s‖² (mini-batch gradient) over the steps s since the previous log point
    /// (NaN at t = 0).
    pub grad_sq_mean: f64,
    /// The conserved quantity of the bias-free 2-layer net, C = ‖W₂‖²_F − ‖W₁‖²_F, at w_t
    /// (conserved by gradient flow; SGD changes it by η²(‖g₂‖² − ‖g₁‖²) per step). NaN in
    /// records written before this field existed.
    #[serde(default = "nan")]
    pub conserved: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// C = ‖W₂‖²_F − ‖W₁‖²_F of flat parameters (W₁ = the first `m·d` entries, W₂ the rest),
/// summed in f64.
pub fn two_layer_conserved<T: Real>(params: &[T], m: usize, d: usize) -> f64 {
    let (w1, w2) = params.split_at((m * d).min(params.len()));
    let sq = |w: &[T]| w.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>();
    sq(w2) - sq(w1)
}

/// Diagnostics at one checkpoint (computed after training).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvexityPoint {
    /// t (updates applied).
    pub step: usize,
    /// Population loss at w_t.
    pub loss: f64,
    /// s_t = L(w_t) − L(w_T) − (w_t − w_T)ᵀ∇L(w_t).
    pub star_residual: f64,
    /// ‖∇L(w_t)‖² (population gradient).
    pub full_grad_sq: f64,
    /// Largest / smallest Hessian eigenvalue (NaN when not computed).
    pub lambda_max: f64,
    /// See `lambda_max`.
    pub lambda_min: f64,
}

/// Everything a streaming run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    /// Updates applied.
    pub steps_completed: usize,
    /// The loss became non-finite.
    pub diverged: bool,
    /// Population loss at w_T (NaN if diverged).
    pub final_loss: f64,
    /// The log points, ascending.
    pub log: Vec<StreamLogPoint>,
    /// The convexity checkpoints, ascending.
    pub convexity: Vec<ConvexityPoint>,
    /// Fraction of checkpoint pairs t < s with L(w_t) − L(w_s) − (w_t − w_s)ᵀ∇L(w_t) > 0.
    pub pair_violation_fraction: f64,
    /// ‖w_T − w₀‖ (D_eff).
    pub d_eff: f64,
    /// Mean mini-batch ‖g_t‖² over all steps.
    pub grad_sq_mean: f64,
}

/// Evenly spaced steps 0 = s_0 < … < s_k = T (deduplicated); k = 0 gives [0, T].
pub fn even_steps(total: usize, k: usize) -> Vec<usize> {
    let k = k.max(1);
    let mut v: Vec<usize> = (0..=k).map(|i| (i as u128 * total as u128 / k as u128) as usize).collect();
    v.dedup();
    v
}

/// Width of the register blocks of the [`TwoLayer`] kernels.
const LANES: usize = 8;

/// A bias-free 2-layer ReLU network d → m → K with loss scale·mean_i Σ_k (f_ik − y_ik)².
pub struct TwoLayer<T: Real> {
    /// Input dimension.
    pub d: usize,
    /// Hidden width.
    pub m: usize,
    /// Outputs.
    pub k: usize,
    /// The loss's scale (½ for ½-MSE, 1/K for PyTorch's MSE on one-hot targets).
    pub scale: f64,
    // work buffers
    z: Vec<T>,
    h: Vec<T>,
    e: Vec<T>,
    dh: Vec<T>,
    zv: Vec<T>,
    re: Vec<T>,
    xt: Vec<T>,
    zt: Vec<T>,
    ht: Vec<T>,
    ft: Vec<T>,
}

// The kernels index blocks of LANES explicitly (the register blocking is the point).
#[allow(clippy::needless_range_loop)]
impl<T: Real> TwoLayer<T> {
    /// A network of these shapes; work buffers grow on first use.
    pub fn new(d: usize, m: usize, k: usize, scale: f64) -> Self {
        TwoLayer {
            d,
            m,
            k,
            scale,
            z: vec![],
            h: vec![],
            e: vec![],
            dh: vec![],
            zv: vec![],
            re: vec![],
            xt: vec![],
            zt: vec![],
            ht: vec![],
            ft: vec![],
        }
    }
    /// Parameters m·d + K·m.
    pub fn n_params(&self) -> usize {
        self.m * self.d + self.k * self.m
    }

    /// Forward pass: z = W₁x, h = relu(z) (n×m, row-major) and the outputs W₂h in `e` (n×K).
    ///
    /// Computed in neuron-major (transposed) buffers so that every inner loop runs over
    /// independent samples and vectorises, while each dot product keeps the naive order
    /// 0 + a₀b₀ + a₁b₁ + … (no FMA, no reassociation): bit-identical to the per-sample loops.
    fn forward(&mut self, p: &[T], x: &[T], n: usize) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { self.forward_avx2(p, x, n) };
            return;
        }
        self.forward_impl(p, x, n)
    }

    /// [`Self::forward_impl`] compiled with AVX2 (wider vectors; no FMA, so the same numbers).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_avx2(&mut self, p: &[T], x: &[T], n: usize) {
        self.forward_impl(p, x, n)
    }

    #[inline(always)]
    fn forward_impl(&mut self, p: &[T], x: &[T], n: usize) {
        let (d, m, k) = (self.d, self.m, self.k);
        let (w1, w2) = p.split_at(m * d);
        // xᵀ (d×n)
        self.xt.clear();
        self.xt.resize(d * n, T::ZERO);
        for (i, xi) in x[..n * d].chunks_exact(d).enumerate() {
            for (l, &v) in xi.iter().enumerate() {
                self.xt[l * n + i] = v;
            }
        }
        // zᵀ (m×n), hᵀ = relu(zᵀ)
        self.zt.clear();
        self.zt.resize(m * n, T::ZERO);
        self.ht.clear();
        self.ht.resize(m * n, T::ZERO);
        for ((wj, zj), hj) in w1.chunks_exact(d).zip(self.zt.chunks_exact_mut(n)).zip(self.ht.chunks_exact_mut(n)) {
            // blocks of LANES samples accumulated in registers, the rest one by one
            let mut i0 = 0;
            while i0 + LANES <= n {
                let mut acc = [T::ZERO; LANES];
                for (l, &w) in wj.iter().enumerate() {
                    let xs = &self.xt[l * n + i0..l * n + i0 + LANES];
                    for q in 0..LANES {
                        acc[q] += w * xs[q];
                    }
                }
                zj[i0..i0 + LANES].copy_from_slice(&acc);
                i0 += LANES;
            }
            for (l, &w) in wj.iter().enumerate() {
                let xl = &self.xt[l * n..(l + 1) * n];
                for i in i0..n {
                    zj[i] += w * xl[i];
                }
            }
            for (hi, &zi) in hj.iter_mut().zip(zj.iter()) {
                *hi = if zi > T::ZERO { zi } else { T::ZERO };
            }
        }
        // outputs fᵀ (K×n), then e (n×K)
        self.ft.clear();
        self.ft.resize(k * n, T::ZERO);
        for (wc, fc) in w2.chunks_exact(m).zip(self.ft.chunks_exact_mut(n)) {
            for (&w, hj) in wc.iter().zip(self.ht.chunks_exact(n)) {
                for (fi, &hv) in fc.iter_mut().zip(hj) {
                    *fi += w * hv;
                }
            }
        }
        self.e.resize(n * k, T::ZERO);
        for c in 0..k {
            let fc = &self.ft[c * n..(c + 1) * n];
            for i in 0..n {
                self.e[i * k + c] = fc[i]; // output, turned into the residual by the caller
            }
        }
    }

    /// z and h of the last forward pass in row-major (n×m) layout (for the HVP).
    fn rows(&mut self, n: usize) {
        let m = self.m;
        self.z.resize(n * m, T::ZERO);
        self.h.resize(n * m, T::ZERO);
        for j in 0..m {
            for i in 0..n {
                self.z[i * m + j] = self.zt[j * n + i];
                self.h[i * m + j] = self.ht[j * n + i];
            }
        }
    }

    /// Loss (in f64) of the model on (x, y) with n samples (x row-major n×d, y n×K).
    pub fn loss(&mut self, p: &[T], x: &[T], y: &[T], n: usize) -> f64 {
        self.forward(p, x, n);
        let mut s = 0.0;
        for (f, t) in self.e.iter().zip(y) {
            let r = (*f - *t).to_f64();
            s += r * r;
        }
        self.scale * s / n as f64
    }

    /// Loss and gradient (`grad` overwritten).
    pub fn loss_grad(&mut self, p: &[T], x: &[T], y: &[T], n: usize, grad: &mut [T]) -> f64 {
        self.forward(p, x, n);
        let (d, m, k) = (self.d, self.m, self.k);
        let c2 = T::from_f64(2.0 * self.scale / n as f64);
        let mut s = 0.0;
        for (f, t) in self.e.iter_mut().zip(y) {
            let r = *f - *t;
            s += r.to_f64() * r.to_f64();
            *f = c2 * r;
        }
        self.backward(p, x, n, grad);
        let _ = (d, m, k);
        self.scale * s / n as f64
    }

    /// Backprop of the output gradient stored in `e` (uses z, h).
    ///
    /// Every gradient entry accumulates over samples i = 0, 1, … in order, as the per-sample
    /// loop did (bit-identical); the inner loops run over neurons / inputs and vectorise. In
    /// ∂W₁ a term with ∂z = 0 is replaced by +0, which leaves the sum unchanged (it starts at +0
    /// and round-to-nearest never produces −0 from it).
    fn backward(&mut self, p: &[T], x: &[T], n: usize, grad: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { self.backward_avx2(p, x, n, grad) };
            return;
        }
        self.backward_impl(p, x, n, grad)
    }

    /// [`Self::backward_impl`] compiled with AVX2 (wider vectors; no FMA, so the same numbers).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn backward_avx2(&mut self, p: &[T], x: &[T], n: usize, grad: &mut [T]) {
        self.backward_impl(p, x, n, grad)
    }

    #[inline(always)]
    fn backward_impl(&mut self, p: &[T], x: &[T], n: usize, grad: &mut [T]) {
        let (d, m, k) = (self.d, self.m, self.k);
        let w2 = &p[m * d..];
        let (g1, g2) = grad.split_at_mut(m * d);
        // ∂W₂[c][j] = Σ_i e_ic h_ij (LANES neurons at a time: independent chains)
        for c in 0..k {
            let gc = &mut g2[c * m..(c + 1) * m];
            let mut j0 = 0;
            while j0 + LANES <= m {
                let mut acc = [T::ZERO; LANES];
                for i in 0..n {
                    let ec = self.e[i * k + c];
                    for q in 0..LANES {
                        acc[q] += ec * self.ht[(j0 + q) * n + i];
                    }
                }
                gc[j0..j0 + LANES].copy_from_slice(&acc);
                j0 += LANES;
            }
            for j in j0..m {
                let mut acc = T::ZERO;
                for i in 0..n {
                    acc += self.e[i * k + c] * self.ht[j * n + i];
                }
                gc[j] = acc;
            }
        }
        // eᵀ (K×n); ∂zᵀ (m×n) = 1[z>0]·(W₂ᵀe)ᵀ
        self.ft.clear();
        self.ft.resize(k * n, T::ZERO);
        for i in 0..n {
            for c in 0..k {
                self.ft[c * n + i] = self.e[i * k + c];
            }
        }
        self.dh.clear();
        self.dh.resize(m * n, T::ZERO);
        for (j, dj) in self.dh.chunks_exact_mut(n).enumerate() {
            for (c, ec) in self.ft.chunks_exact(n).enumerate() {
                let w = w2[c * m + j];
                for (dv, &ev) in dj.iter_mut().zip(ec) {
                    *dv += ev * w;
                }
            }
            for (dv, &zv) in dj.iter_mut().zip(&self.zt[j * n..(j + 1) * n]) {
                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                if !(zv > T::ZERO) {
                    *dv = T::ZERO;
                }
            }
        }
        // ∂W₁[j][l] = Σ_i ∂z_ij x_il over the samples with ∂z_ij ≠ 0. With finite inputs a
        // term with ∂z = ±0 is ±0 and adding it leaves the sum unchanged (it starts at +0 and
        // round-to-nearest never turns it into −0), so it is added branch-free; non-finite inputs
        // (0·∞ = NaN) take the skipping loop.
        let finite = x[..n * d].iter().all(|v| v.is_finite());
        for (j, gj) in g1.chunks_exact_mut(d).enumerate() {
            let dj = &self.dh[j * n..(j + 1) * n];
            if !finite {
                gj.iter_mut().for_each(|g| *g = T::ZERO);
                for (i, &dz) in dj.iter().enumerate() {
                    if dz != T::ZERO {
                        for (g, &xv) in gj.iter_mut().zip(&x[i * d..(i + 1) * d]) {
                            *g += dz * xv;
                        }
                    }
                }
                continue;
            }
            let mut l0 = 0;
            while l0 + LANES <= d {
                let mut acc = [T::ZERO; LANES];
                for (i, &dz) in dj.iter().enumerate() {
                    let xs = &x[i * d + l0..i * d + l0 + LANES];
                    for q in 0..LANES {
                        acc[q] += dz * xs[q];
                    }
                }
                gj[l0..l0 + LANES].copy_from_slice(&acc);
                l0 += LANES;
            }
            for l in l0..d {
                let mut acc = T::ZERO;
                for (i, &dz) in dj.iter().enumerate() {
                    acc += dz * x[i * d + l];
                }
                gj[l] = acc;
            }
        }
    }

    /// Hessian-vector product of the loss (R-operator; ReLU's second derivative is 0 a.e.).
    pub fn hvp(&mut self, p: &[T], x: &[T], y: &[T], n: usize, v: &[T], out: &mut [T]) {
        self.forward(p, x, n);
        self.rows(n);
        let (d, m, k) = (self.d, self.m, self.k);
        let c2 = T::from_f64(2.0 * self.scale / n as f64);
        for (f, t) in self.e.iter_mut().zip(y) {
            *f = c2 * (*f - *t);
        }
        let (w1, w2) = p.split_at(m * d);
        let (v1, v2) = v.split_at(m * d);
        self.zv.resize(m, T::ZERO);
        self.re.resize(k, T::ZERO);
        self.dh.resize(m, T::ZERO);
        let _ = w1;
        out.iter_mut().for_each(|o| *o = T::ZERO);
        let (o1, o2) = out.split_at_mut(m * d);
        for i in 0..n {
            let xi = &x[i * d..(i + 1) * d];
            let zi = &self.z[i * m..(i + 1) * m];
            let hi = &self.h[i * m..(i + 1) * m];
            let ei = &self.e[i * k..(i + 1) * k];
            // R{h} = 1[z>0]·(V₁x)
            for j in 0..m {
                self.zv[j] = if zi[j] > T::ZERO {
                    let vj = &v1[j * d..(j + 1) * d];
                    let mut s = T::ZERO;
                    for l in 0..d {
                        s += vj[l] * xi[l];
                    }
                    s
                } else {
                    T::ZERO
                };
            }
            // R{f} = V₂h + W₂R{h}; R{e} = c2·R{f}
            for c in 0..k {
                let mut s = T::ZERO;
                for j in 0..m {
                    s += v2[c * m + j] * hi[j] + w2[c * m + j] * self.zv[j];
                }
                self.re[c] = c2 * s;
            }
            // R{g₂} = R{e} hᵀ + e R{h}ᵀ
            for c in 0..k {
                let oc = &mut o2[c * m..(c + 1) * m];
                for j in 0..m {
                    oc[j] += self.re[c] * hi[j] + ei[c] * self.zv[j];
                }
            }
            // R{dz} = 1[z>0]·(W₂ᵀR{e} + V₂ᵀe); R{g₁} = R{dz} xᵀ
            for j in 0..m {
                if zi[j] > T::ZERO {
                    let mut s = T::ZERO;
                    for c in 0..k {
                        s += w2[c * m + j] * self.re[c] + v2[c * m + j] * ei[c];
                    }
                    if s != T::ZERO {
                        let oj = &mut o1[j * d..(j + 1) * d];
                        for l in 0..d {
                            oj[l] += s * xi[l];
                        }
                    }
                }
            }
        }
    }
}

struct HessOp<'a, T: Real> {
    net: TwoLayer<T>,
    p: &'a [T],
    x: &'a [T],
    y: &'a [T],
    n: usize,
}

impl<T: Real> SymmetricOperator<T> for HessOp<'_, T> {
    fn dim(&self) -> usize {
        self.p.len()
    }
    fn apply(&mut self, v: &[T], out: &mut [T]) {
        self.net.hvp(self.p, self.x, self.y, self.n, v, out);
    }
}

/// Extreme eigenvalues (λ_max, λ_min) of the loss Hessian on (x, y) by `steps` Lanczos steps.
pub fn hessian_extremes<T: Real>(
    d: usize,
    m: usize,
    k: usize,
    scale: f64,
    p: &[T],
    x: &[T],
    y: &[T],
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<(f64, f64), TrainError> {
    let mut op = HessOp { net: TwoLayer::new(d, m, k, scale), p, x, y, n };
    let opts = LanczosOptions {
        k_top: 1,
        k_bottom: 1,
        max_iter: Some(steps.min(p.len())),
        tol: 1e-4,
        seed,
        start: None,
        check_every: steps.max(1),
        explicit_residuals: false,
    };
    let r = lanczos(&mut op, &opts).map_err(|e| TrainError::Config(format!("Lanczos: {e}")))?;
    let top = r.top.first().map_or(f64::NAN, |e| e.value);
    let bottom = r.bottom.first().map_or(f64::NAN, |e| e.value);
    Ok((top, bottom))
}

fn normal<R: Rng>(rng: &mut R) -> f64 {
    StandardNormal.sample(rng)
}

fn uniform<R: Rng>(bound: f64, rng: &mut R) -> f64 {
    let u: f64 = rng.random();
    bound * (2.0 * u - 1.0)
}

/// The task's fixed parts: teacher (if any), evaluation set, output dim, loss scale.
struct TaskData<T> {
    d: usize,
    k: usize,
    scale: f64,
    /// Teacher W₁* (k×d) and W₂* (1×k) in f64.
    teacher: Option<(usize, Vec<f64>, Vec<f64>, f64)>,
    /// Evaluation ("population") set, row-major.
    x_eval: Vec<T>,
    y_eval: Vec<T>,
    n_eval: usize,
    /// Finite training set for the GM task (f64 rows, one-hot targets), sampled by batches.
    train_rows: Vec<f64>,
    train_targets: Vec<f64>,
}

#[allow(clippy::needless_range_loop)]
fn teacher_output(teacher: &(usize, Vec<f64>, Vec<f64>, f64), x: &[f64]) -> f64 {
    let (tw, w1, w2, _) = teacher;
    let d = x.len();
    let mut f = 0.0;
    // Pre-activations of four hidden units at a time (independent chains, each summed in input
    // order, as before); the output sums the active units in unit order.
    let mut j0 = 0;
    while j0 < *tw {
        let nb = (*tw - j0).min(4);
        let mut acc = [0.0f64; 4];
        for (l, &xl) in x.iter().enumerate() {
            for q in 0..nb {
                acc[q] += w1[(j0 + q) * d + l] * xl;
            }
        }
        for q in 0..nb {
            if acc[q] > 0.0 {
                f += w2[j0 + q] * acc[q];
            }
        }
        j0 += nb;
    }
    f
}

fn build_task<T: Real>(spec: &StreamSpec, rng: &mut noether_nn::Rng) -> Result<TaskData<T>, TrainError> {
    match &spec.task {
        StreamTask::TeacherStudent { d, teacher_width, noise_std, n_holdout } => {
            let (d, tw) = (*d, *teacher_width);
            if d == 0 || tw == 0 || *n_holdout == 0 || !(noise_std.is_finite() && *noise_std >= 0.0) {
                return Err(TrainError::Config(format!("invalid teacher–student task {:?}", spec.task)));
            }
            let w1: Vec<f64> = (0..tw * d).map(|_| normal(rng) / (d as f64).sqrt()).collect();
            let w2: Vec<f64> = (0..tw).map(|_| normal(rng) / (tw as f64).sqrt()).collect();
            let teacher = (tw, w1, w2, *noise_std);
            let n = *n_holdout;
            let xr: Vec<f64> = (0..n * d).map(|_| normal(rng)).collect();
            let y: Vec<f64> =
                (0..n).map(|i| teacher_output(&teacher, &xr[i * d..(i + 1) * d]) + noise_std * normal(rng)).collect();
            Ok(TaskData {
                d,
                k: 1,
                scale: 0.5,
                teacher: Some(teacher),
                x_eval: xr.iter().map(|v| T::from_f64(*v)).collect(),
                y_eval: y.iter().map(|v| T::from_f64(*v)).collect(),
                n_eval: n,
                train_rows: vec![],
                train_targets: vec![],
            })
        }
        StreamTask::GaussianMixture { n, d, classes, separation } => {
            let gm = GaussianMixture { n_train: *n, n_test: 0, d: *d, classes: *classes, separation: *separation };
            let (train, _) = gm.generate::<f64, _>(rng)?;
            let (n, d, k) = (train.n, train.d, train.classes);
            let mut rows = vec![0.0; n * d];
            for i in 0..n {
                for j in 0..d {
                    rows[i * d + j] = train.get(i, j);
                }
            }
            let mut targets = vec![0.0; n * k];
            for (i, &c) in train.labels.iter().enumerate() {
                targets[i * k + c] = 1.0;
            }
            Ok(TaskData {
                d,
                k,
                scale: 1.0 / k as f64,
                teacher: None,
                x_eval: rows.iter().map(|v| T::from_f64(*v)).collect(),
                y_eval: targets.iter().map(|v| T::from_f64(*v)).collect(),
                n_eval: n,
                train_rows: rows,
                train_targets: targets,
            })
        }
    }
}

fn dist<T: Real>(a: &[T], b: &[T]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x.to_f64() - y.to_f64()).powi(2)).sum::<f64>().sqrt()
}

/// Runs SGD w_{t+1} = w_t − η_{t+1} g(w_t) for t = 0..T−1 with `lrs` = (η_1..η_T) and records
/// the probes of [`StreamMeasure`]. A non-finite mini-batch or population loss ends the run as
/// diverged (final loss NaN), never a panic.
pub fn stream_sgd<T: Real>(
    spec: &StreamSpec,
    lrs: &[f64],
    measure: &StreamMeasure,
) -> Result<StreamRecord, TrainError> {
    if spec.student_width == 0 {
        return Err(TrainError::Config("student width must be ≥ 1".into()));
    }
    if lrs.iter().any(|v| !v.is_finite()) {
        return Err(TrainError::Config("learning rates must be finite".into()));
    }
    let mut rng = seeded_rng(spec.seed);
    let task = build_task::<T>(spec, &mut rng)?;
    let (d, m, k) = (task.d, spec.student_width, task.k);
    let batch = match (spec.batch, &task.teacher) {
        (Some(0), _) => return Err(TrainError::Config("batch size must be ≥ 1".into())),
        (Some(b), _) => b,
        (None, None) => task.n_eval,
        (None, Some(_)) => return Err(TrainError::Config("full batch needs a finite data set (GM task)".into())),
    };
    let mut net = TwoLayer::<T>::new(d, m, k, task.scale);
    let mut params: Vec<T> = Vec::with_capacity(net.n_params());
    for _ in 0..m * d {
        params.push(T::from_f64(uniform(1.0 / (d as f64).sqrt(), &mut rng)));
    }
    for _ in 0..k * m {
        params.push(T::from_f64(uniform(1.0 / (m as f64).sqrt(), &mut rng)));
    }
    let w0 = params.clone();
    let steps = lrs.len();
    let log_steps = even_steps(steps, measure.log_points);
    let ck_steps = if measure.checkpoints > 0 { even_steps(steps, measure.checkpoints) } else { vec![] };
    let mut ck_params: Vec<Vec<T>> = Vec::new();
    let mut log = Vec::with_capacity(log_steps.len());
    let mut brng = seeded_rng(spec.seed ^ BATCH_STREAM);
    let mut xb = vec![T::ZERO; batch * d];
    let mut yb = vec![T::ZERO; batch * k];
    let mut xrow = vec![0.0f64; d];
    let mut grad = vec![T::ZERO; params.len()];
    let full_batch = spec.batch.is_none();
    if full_batch {
        xb.copy_from_slice(&task.x_eval);
        yb.copy_from_slice(&task.y_eval);
    }
    let (mut window_sum, mut window_n, mut all_sum) = (0.0f64, 0usize, 0.0f64);
    let mut next_log = 0usize;
    let mut next_ck = 0usize;
    let mut diverged = false;
    let mut t = 0usize;
    loop {
        if next_ck < ck_steps.len() && ck_steps[next_ck] == t {
            ck_params.push(params.clone());
            next_ck += 1;
        }
        if next_log < log_steps.len() && log_steps[next_log] == t {
            let loss = net.loss(&params, &task.x_eval, &task.y_eval, task.n_eval);
            log.push(StreamLogPoint {
                step: t,
                loss,
                dist_from_init: dist(&params, &w0),
                grad_sq_mean: if window_n == 0 { f64::NAN } else { window_sum / window_n as f64 },
                conserved: two_layer_conserved(&params, m, d),
            });
            window_sum = 0.0;
            window_n = 0;
            next_log += 1;
            if !loss.is_finite() {
                diverged = true;
                break;
            }
        }
        if t == steps {
            break;
        }
        if !full_batch {
            match &task.teacher {
                Some(teacher) => {
                    for i in 0..batch {
                        for v in xrow.iter_mut() {
                            *v = normal(&mut brng);
                        }
                        let y = teacher_output(teacher, &xrow) + teacher.3 * normal(&mut brng);
                        for l in 0..d {
                            xb[i * d + l] = T::from_f64(xrow[l]);
                        }
                        yb[i] = T::from_f64(y);
                    }
                }
                None => {
                    for i in 0..batch {
                        let s = brng.random_range(0..task.n_eval);
                        for l in 0..d {
                            xb[i * d + l] = T::from_f64(task.train_rows[s * d + l]);
                        }
                        for c in 0..k {
                            yb[i * k + c] = T::from_f64(task.train_targets[s * k + c]);
                        }
                    }
                }
            }
        }
        let bl = net.loss_grad(&params, &xb, &yb, batch, &mut grad);
        let g2: f64 = grad.iter().map(|g| g.to_f64() * g.to_f64()).sum();
        if !bl.is_finite() || !g2.is_finite() {
            diverged = true;
            break;
        }
        window_sum += g2;
        window_n += 1;
        all_sum += g2;
        let lr = T::from_f64(lrs[t]);
        for (p, g) in params.iter_mut().zip(&grad) {
            *p -= lr * *g;
        }
        t += 1;
    }
    let final_loss = if diverged { f64::NAN } else { log.last().map_or(f64::NAN, |p| p.loss) };
    let mut convexity = Vec::new();
    let mut pair_violation_fraction = f64::NAN;
    if !diverged && !ck_params.is_empty() {
        let wt = &params;
        let lt = final_loss;
        let mut grads: Vec<Vec<T>> = Vec::with_capacity(ck_params.len());
        let mut losses = Vec::with_capacity(ck_params.len());
        let n_h = if measure.hessian_samples == 0 { task.n_eval } else { measure.hessian_samples.min(task.n_eval) };
        for (c, w) in ck_steps.iter().zip(&ck_params) {
            let mut g = vec![T::ZERO; w.len()];
            let l = net.loss_grad(w, &task.x_eval, &task.y_eval, task.n_eval, &mut g);
            let inner: f64 = w.iter().zip(wt).zip(&g).map(|((a, b), gi)| (a.to_f64() - b.to_f64()) * gi.to_f64()).sum();
            let (lmax, lmin) = if measure.lanczos_steps > 0 {
                hessian_extremes(
                    d,
                    m,
                    k,
                    task.scale,
                    w,
                    &task.x_eval[..n_h * d],
                    &task.y_eval[..n_h * k],
                    n_h,
                    measure.lanczos_steps,
                    spec.seed.wrapping_add(*c as u64),
                )?
            } else {
                (f64::NAN, f64::NAN)
            };
            convexity.push(ConvexityPoint {
                step: *c,
                loss: l,
                star_residual: l - lt - inner,
                full_grad_sq: g.iter().map(|x| x.to_f64() * x.to_f64()).sum(),
                lambda_max: lmax,
                lambda_min: lmin,
            });
            grads.push(g);
            losses.push(l);
        }
        let (mut bad, mut pairs) = (0usize, 0usize);
        for i in 0..ck_params.len() {
            for j in i + 1..ck_params.len() {
                let inner: f64 = ck_params[i]
                    .iter()
                    .zip(&ck_params[j])
                    .zip(&grads[i])
                    .map(|((a, b), g)| (a.to_f64() - b.to_f64()) * g.to_f64())
                    .sum();
                pairs += 1;
                if losses[i] - losses[j] - inner > 0.0 {
                    bad += 1;
                }
            }
        }
        if pairs > 0 {
            pair_violation_fraction = bad as f64 / pairs as f64;
        }
    }
    Ok(StreamRecord {
        steps_completed: t,
        diverged,
        final_loss,
        log,
        convexity,
        pair_violation_fraction,
        d_eff: dist(&params, &w0),
        grad_sq_mean: if t == 0 { f64::NAN } else { all_sum / t as f64 },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-sample loops the vectorised [`TwoLayer`] replaced: the reference order of every
    /// sum, against which the fast kernels must agree bit for bit.
    #[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
    fn naive_loss_grad<T: Real>(
        d: usize,
        m: usize,
        k: usize,
        scale: f64,
        p: &[T],
        x: &[T],
        y: &[T],
        n: usize,
        grad: &mut [T],
    ) -> f64 {
        let (w1, w2) = p.split_at(m * d);
        let (mut z, mut h, mut e) = (vec![T::ZERO; n * m], vec![T::ZERO; n * m], vec![T::ZERO; n * k]);
        for i in 0..n {
            for j in 0..m {
                let mut s = T::ZERO;
                for l in 0..d {
                    s += w1[j * d + l] * x[i * d + l];
                }
                z[i * m + j] = s;
                h[i * m + j] = if s > T::ZERO { s } else { T::ZERO };
            }
            for c in 0..k {
                let mut s = T::ZERO;
                for j in 0..m {
                    s += w2[c * m + j] * h[i * m + j];
                }
                e[i * k + c] = s;
            }
        }
        let c2 = T::from_f64(2.0 * scale / n as f64);
        let mut loss = 0.0;
        for (f, t) in e.iter_mut().zip(y) {
            let r = *f - *t;
            loss += r.to_f64() * r.to_f64();
            *f = c2 * r;
        }
        grad.iter_mut().for_each(|g| *g = T::ZERO);
        let (g1, g2) = grad.split_at_mut(m * d);
        let mut dh = vec![T::ZERO; m];
        for i in 0..n {
            for c in 0..k {
                for j in 0..m {
                    g2[c * m + j] += e[i * k + c] * h[i * m + j];
                }
            }
            for j in 0..m {
                let mut s = T::ZERO;
                if z[i * m + j] > T::ZERO {
                    for c in 0..k {
                        s += e[i * k + c] * w2[c * m + j];
                    }
                }
                dh[j] = s;
            }
            for j in 0..m {
                if dh[j] != T::ZERO {
                    for l in 0..d {
                        g1[j * d + l] += dh[j] * x[i * d + l];
                    }
                }
            }
        }
        scale * loss / n as f64
    }

    fn check_bit_identical<T: Real>() {
        let mut rng = seeded_rng(7);
        for &(d, m, k, n) in &[(20, 64, 1, 32), (20, 16, 1, 512), (7, 5, 3, 9), (3, 1, 2, 1)] {
            let mut net = TwoLayer::<T>::new(d, m, k, 0.5);
            let p: Vec<T> = (0..net.n_params()).map(|_| T::from_f64(normal(&mut rng))).collect();
            let mut x: Vec<T> = (0..n * d).map(|_| T::from_f64(normal(&mut rng))).collect();
            x[0] = T::ZERO; // exact zeros in the data and the gradient path
            let y: Vec<T> = (0..n * k).map(|_| T::from_f64(normal(&mut rng))).collect();
            let (mut ga, mut gb) = (vec![T::ZERO; p.len()], vec![T::ZERO; p.len()]);
            for _ in 0..2 {
                // twice: stale work buffers must not leak into the next call
                let la = net.loss_grad(&p, &x, &y, n, &mut ga);
                let lb = naive_loss_grad(d, m, k, 0.5, &p, &x, &y, n, &mut gb);
                assert_eq!(la.to_bits(), lb.to_bits(), "loss d={d} m={m} k={k} n={n}");
                for (a, b) in ga.iter().zip(&gb) {
                    assert_eq!(a.to_f64().to_bits(), b.to_f64().to_bits(), "grad d={d} m={m} k={k} n={n}");
                }
                assert_eq!(net.loss(&p, &x, &y, n).to_bits(), la.to_bits());
            }
            // a non-finite input takes the skipping path of ∂W₁ and must agree as well
            x[n * d - 1] = T::from_f64(f64::INFINITY);
            let la = net.loss_grad(&p, &x, &y, n, &mut ga);
            let lb = naive_loss_grad(d, m, k, 0.5, &p, &x, &y, n, &mut gb);
            assert!(la.to_bits() == lb.to_bits() || (la.is_nan() && lb.is_nan()));
            for (a, b) in ga.iter().zip(&gb) {
                let (a, b) = (a.to_f64(), b.to_f64());
                assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "non-finite x: {a} vs {b}");
            }
        }
    }

    #[test]
    fn vectorised_two_layer_is_bit_identical_to_the_per_sample_loops() {
        check_bit_identical::<f32>();
        check_bit_identical::<f64>();
    }

    #[test]
    fn blocked_teacher_output_matches_the_plain_sums() {
        let mut rng = seeded_rng(3);
        for &(tw, d) in &[(8usize, 20usize), (5, 7), (1, 3)] {
            let w1: Vec<f64> = (0..tw * d).map(|_| normal(&mut rng)).collect();
            let w2: Vec<f64> = (0..tw).map(|_| normal(&mut rng)).collect();
            let teacher = (tw, w1.clone(), w2.clone(), 0.5);
            for _ in 0..50 {
                let x: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
                let mut f = 0.0;
                for j in 0..tw {
                    let z: f64 = w1[j * d..(j + 1) * d].iter().zip(&x).map(|(a, b)| a * b).sum();
                    if z > 0.0 {
                        f += w2[j] * z;
                    }
                }
                assert_eq!(teacher_output(&teacher, &x).to_bits(), f.to_bits());
            }
        }
    }
}
