//! Exact loss, gradient and Hessian-vector products of an [`Mlp`] on a [`Dataset`].
//!
//! Layout: activations are n×width column-major (one column per neuron, samples contiguous),
//! so the forward pass is Z_l = A_{l−1}·W_lᵀ where W_lᵀ is the flat row-major (out, in) block
//! read as a column-major (in, out) matrix — no copies, no transposes materialised.
//!
//! The Hessian-vector product is Pearlmutter's R-operator (spec §1.7): forward tangents
//! Ż_l = A_{l−1}V_lᵀ + Ȧ_{l−1}W_lᵀ (+ v_b), Ȧ_l = s(Z_l)⊙Ż_l; backward
//! δ̇_L = H_f·Ḟ, (HV)_{W_l}ᵀ = A_{l−1}ᵀδ̇_l + Ȧ_{l−1}ᵀδ_l, δ̇_{l−1} = s⊙(δ_l V_l + δ̇_l W_l).
//! The Ȧᵀδ and δV terms carry the residual: this is the full, indefinite Hessian, not
//! Gauss–Newton (which [`Evaluator::gnvp_cached`] gives separately).
//!
//! All buffers live in the evaluator and are allocated once; a training step allocates nothing.

use faer::linalg::matmul::matmul;
use std::borrow::Cow;

use faer::{Accum, MatMut, MatRef, Par};

use crate::sparse::SparseInput;
use crate::{Dataset, Layout, Loss, Mlp, NnError, Real};

#[inline]
fn mat<T>(s: &[T], r: usize, c: usize) -> MatRef<'_, T> {
    MatRef::from_column_major_slice(s, r, c)
}
#[inline]
fn mat_mut<T>(s: &mut [T], r: usize, c: usize) -> MatMut<'_, T> {
    MatMut::from_column_major_slice_mut(s, r, c)
}
#[inline]
fn gemm<T: Real>(par: Par, dst: MatMut<'_, T>, accum: Accum, lhs: MatRef<'_, T>, rhs: MatRef<'_, T>) {
    matmul(dst, accum, lhs, rhs, T::ONE, par);
    clear_upper_simd_state();
}

/// Executes `vzeroupper` where AVX exists.
///
/// faer's x86 GEMM kernels (AVX2/AVX-512) can return with the upper halves of the vector
/// registers dirty. Legacy-SSE code that runs next — glibc's `expf`/`log`, and our own loops
/// compiled for baseline x86-64 — then pays a state-transition penalty on every instruction:
/// measured here, `expf` went from 5 ns to 260 ns and a CE forward pass from ~20 µs to 230 µs.
/// Clearing the state after each product costs about a cycle.
#[inline]
pub fn clear_upper_simd_state() {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        unsafe fn zeroupper() {
            std::arch::x86_64::_mm256_zeroupper()
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: AVX is available, so `vzeroupper` is a valid instruction.
            unsafe { zeroupper() }
        }
    }
}

/// Evaluates one network with one loss on one data set, owning every work buffer.
pub struct Evaluator<'d, T: Real> {
    layout: Layout,
    /// 1 − ε: the slope of σ_ε (and its derivative) for z ≤ 0.
    one_minus_eps: T,
    loss: Loss,
    /// Borrowed ([`Evaluator::new`]) or owned ([`Evaluator::owning`], which mini-batch training
    /// refills in place with [`Evaluator::refill`]).
    data: Cow<'d, Dataset<T>>,
    /// Pre-activations Z_l (n×w_l), l = 0..L−1; Z_{L−1} is the output F.
    z: Vec<Vec<T>>,
    /// Activations A_l = σ(Z_l) of the hidden layers (n×w_l), l = 0..L−2.
    a: Vec<Vec<T>>,
    /// Back-propagated δ_l = ∂L/∂Z_l.
    delta: Vec<Vec<T>>,
    /// Softmax probabilities of the output (n×K), valid after a forward pass with CE weight > 0.
    probs: Vec<T>,
    // R-operator tangents.
    zdot: Vec<Vec<T>>,
    adot: Vec<Vec<T>>,
    deltadot: Vec<Vec<T>>,
    /// Is the cached forward/backward state valid for the parameters last passed?
    backward_done: bool,
    /// CSR form of X when the inputs are sparse enough for it to pay (see [`InputKernel`]).
    sparse: Option<SparseInput<T>>,
    /// faer's parallelism inside one product (default `Par::Seq`: callers parallelise across
    /// runs, and a result must not depend on the thread count).
    par: Par,
}

/// How products with the design matrix X (the input layer) are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKernel {
    /// Sparse when d ≥ 64 and at most 35 % of the inputs are non-zero (MNIST), else dense.
    Auto,
    /// Always the dense GEMM.
    Dense,
    /// Always the sparse (CSC) kernel.
    Sparse,
}

/// What a forward pass measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForwardStats {
    /// The loss (normalised as the loss's docs say).
    pub loss: f64,
    /// Fraction of samples whose arg-max output equals the label.
    pub accuracy: f64,
}

impl<'d, T: Real> Evaluator<'d, T> {
    /// Checks that the data fit the network (input width d, labels < K or K targets per
    /// sample) and that the loss can be trained (cross-entropy needs K ≥ 2 outputs and labels).
    pub fn new(net: &Mlp, loss: Loss, data: &'d Dataset<T>) -> Result<Self, NnError> {
        Self::build(net, loss, Cow::Borrowed(data))
    }

    /// An evaluator that owns its data, e.g. the mini-batch buffer that a training loop
    /// refills before every step ([`Evaluator::refill`]).
    pub fn owning(net: &Mlp, loss: Loss, data: Dataset<T>) -> Result<Evaluator<'static, T>, NnError> {
        Evaluator::build(net, loss, Cow::Owned(data))
    }

    fn build(net: &Mlp, loss: Loss, data: Cow<'d, Dataset<T>>) -> Result<Self, NnError> {
        if data.d != net.input_dim() {
            return Err(NnError::ShapeMismatch(format!(
                "the data have d = {} features but the network's input width is {}",
                data.d,
                net.input_dim()
            )));
        }
        let k = net.output_dim();
        if let Some((i, &y)) = data.labels.iter().enumerate().find(|(_, y)| **y >= k) {
            return Err(NnError::ShapeMismatch(format!(
                "label {y} of sample {i} needs at least {} outputs but the network has K = {k}",
                y + 1
            )));
        }
        if data.n == 0 {
            return Err(NnError::InvalidArgument("the data set is empty".into()));
        }
        if let Some(y) = &data.targets {
            if data.classes != k || y.len() != data.n * k {
                return Err(NnError::ShapeMismatch(format!(
                    "the data have {} targets per sample but the network has K = {k} outputs",
                    data.classes
                )));
            }
            if loss.ce_weight > 0.0 {
                return Err(NnError::InvalidArgument(
                    "cross-entropy needs class labels, and these data have real-valued targets; use an MSE loss".into(),
                ));
            }
        }
        if k == 1 && loss == Loss::CE {
            // softmax over one logit is 1 whatever the parameters: a run would "converge" at
            // step 0 with zero loss, gradient and drift, which reads like a result.
            return Err(NnError::InvalidArgument(
                "the network has one output (K = 1): softmax cross-entropy over one class is identically 0 \
                 and has no gradient; use the MSE loss or data with at least two classes"
                    .into(),
            ));
        }
        let layout = net.layout();
        let n = data.n;
        let bufs = |from: usize, to: usize| -> Vec<Vec<T>> {
            (from..to).map(|l| vec![T::ZERO; n * layout.widths[l + 1]]).collect()
        };
        let nl = layout.n_layers();
        Ok(Evaluator {
            par: Par::Seq,
            one_minus_eps: T::from_f64(1.0 - net.activation.eps),
            loss,
            data,
            z: bufs(0, nl),
            a: bufs(0, nl - 1),
            delta: bufs(0, nl),
            probs: vec![T::ZERO; n * k],
            zdot: bufs(0, nl),
            adot: bufs(0, nl - 1),
            deltadot: bufs(0, nl),
            backward_done: false,
            sparse: None,
            layout,
        }
        .with_input_kernel(InputKernel::Auto))
    }

    /// faer's parallelism inside each product of this evaluator (`Par::Seq` by default). A
    /// parallel GEMM may sum in another order, so results can differ with the thread count:
    /// the experiments keep `Par::Seq` and parallelise across runs instead.
    pub fn with_parallelism(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// The parallelism set by [`Evaluator::with_parallelism`].
    pub fn parallelism(&self) -> Par {
        self.par
    }

    /// Chooses how the input layer multiplies with X (results agree up to summation order).
    pub fn with_input_kernel(mut self, kernel: InputKernel) -> Self {
        let sparse = match kernel {
            InputKernel::Dense => false,
            InputKernel::Sparse => true,
            InputKernel::Auto => self.data.d >= 64 && SparseInput::density(&self.data.x) <= 0.35,
        };
        self.sparse = sparse.then(|| SparseInput::from_column_major(&self.data.x, self.data.n, self.data.d));
        self.backward_done = false;
        self
    }

    /// Whether the input layer uses the sparse kernel.
    pub fn uses_sparse_input(&self) -> bool {
        self.sparse.is_some()
    }

    /// The network's parameter layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    /// The data set being evaluated.
    pub fn data(&self) -> &Dataset<T> {
        &self.data
    }

    /// Rewrites the data in place (a mini-batch): `fill` may change the inputs, labels and
    /// targets but not the shapes. Borrowed data are copied first, so the caller's data set is
    /// never modified. Any cached forward/backward state is dropped.
    ///
    /// # Panics
    /// If `fill` changes n, d, the number of classes or whether there are targets (a bug of
    /// the caller, not bad input: the evaluator's buffers are sized for the shapes).
    pub fn refill(&mut self, fill: impl FnOnce(&mut Dataset<T>)) {
        let data = self.data.to_mut();
        let shape = |d: &Dataset<T>| (d.n, d.d, d.classes, d.x.len(), d.labels.len(), d.targets.as_ref().map(Vec::len));
        let before = shape(data);
        fill(data);
        assert_eq!(before, shape(data), "Evaluator::refill must keep the data's shapes");
        if self.sparse.is_some() {
            self.sparse = Some(SparseInput::from_column_major(&data.x, data.n, data.d));
        }
        self.backward_done = false;
    }
    /// The loss.
    pub fn loss_kind(&self) -> Loss {
        self.loss
    }

    /// Network output F (n×K column-major) of the last forward pass.
    pub fn output(&self) -> &[T] {
        self.z.last().expect("at least one layer")
    }

    /// Pre-activations Z_l (n×w_{l+1} column-major) of layer l (0-based) from the last forward pass.
    pub fn preactivation(&self, l: usize) -> &[T] {
        &self.z[l]
    }

    /// Activations A_l (n×w_{l+1}) of hidden layer l from the last forward pass.
    pub fn hidden_activation(&self, l: usize) -> &[T] {
        &self.a[l]
    }

    /// ∂L/∂F (n×K column-major) of the last backward pass.
    pub fn output_gradient(&self) -> &[T] {
        assert!(self.backward_done, "no backward pass at these parameters");
        self.delta.last().expect("layers")
    }

    /// Softmax probabilities of the last forward pass (only meaningful when CE is in the loss).
    pub(crate) fn probabilities(&self) -> &[T] {
        &self.probs
    }

    /// 1 − ε: the activation's slope for z ≤ 0.
    pub(crate) fn negative_slope(&self) -> T {
        self.one_minus_eps
    }

    pub(crate) fn is_prepared(&self) -> bool {
        self.backward_done
    }

    /// Forward pass; returns the loss and the accuracy.
    pub fn forward(&mut self, params: &[T]) -> ForwardStats {
        let par = self.par;
        assert_eq!(params.len(), self.layout.n_params(), "parameter vector has the wrong length");
        self.backward_done = false;
        let n = self.data.n;
        let nl = self.layout.n_layers();
        for l in 0..nl {
            let (out, inp) = self.layout.weight_shape(l);
            let wt = mat(self.layout.weight(params, l), inp, out);
            // Split the borrows: Z_l is written, A_{l−1} (or X) is read.
            let (a_prev, z_l): (&[T], &mut [T]) =
                if l == 0 { (&self.data.x, &mut self.z[0]) } else { (&self.a[l - 1], &mut self.z[l]) };
            match (&mut self.sparse, l) {
                (Some(sp), 0) => sp.times_weight_t(self.layout.weight(params, 0), out, z_l),
                _ => gemm(par, mat_mut(z_l, n, out), Accum::Replace, mat(a_prev, n, inp), wt),
            }
            if let Some(r) = self.layout.bias_range(l) {
                let b = &params[r];
                for (o, &bo) in b.iter().enumerate() {
                    z_l[o * n..(o + 1) * n].iter_mut().for_each(|v| *v += bo);
                }
            }
            if l + 1 < nl {
                // σ_ε(z) = (1−ε)z + ε·relu(z): z for z > 0, (1−ε)z otherwise.
                let ome = self.one_minus_eps;
                for (a, &z) in self.a[l].iter_mut().zip(&self.z[l]) {
                    *a = if z > T::ZERO { z } else { ome * z };
                }
            }
        }
        self.output_loss()
    }

    /// Loss and accuracy of the output currently in `z[L−1]`; fills `probs` when CE is used.
    fn output_loss(&mut self) -> ForwardStats {
        let n = self.data.n;
        let k = *self.layout.widths.last().expect("widths");
        let f = self.z.last().expect("layers");
        let w_ce = self.loss.ce_weight;
        let w_mse = self.loss.mse_weight();
        if let Some(y) = &self.data.targets {
            // Regression (CE was refused in `new`): the residuals against the targets.
            let mse: f64 = f.iter().zip(y).map(|(&f, &t)| ((f - t) * (f - t)).to_f64()).sum();
            return ForwardStats { loss: w_mse * mse / (n * k) as f64, accuracy: f64::NAN };
        }
        let mut mse = 0.0f64;
        let mut ce = 0.0f64;
        let mut correct = 0usize;
        for i in 0..n {
            let y = self.data.labels[i];
            let mut best = 0;
            let mut fmax = f[i];
            for c in 1..k {
                if f[i + c * n] > fmax {
                    fmax = f[i + c * n];
                    best = c;
                }
            }
            correct += usize::from(best == y);
            if w_mse > 0.0 {
                for c in 0..k {
                    let t = if c == y { T::ONE } else { T::ZERO };
                    let r = f[i + c * n] - t;
                    mse += (r * r).to_f64();
                }
            }
            if w_ce > 0.0 {
                let mut s = T::ZERO;
                for c in 0..k {
                    let e = (f[i + c * n] - fmax).exp();
                    self.probs[i + c * n] = e;
                    s += e;
                }
                for c in 0..k {
                    self.probs[i + c * n] = self.probs[i + c * n] / s;
                }
                // −log softmax(f)[y] = log Σ exp(f − fmax) + fmax − f_y
                ce += (s.ln() + fmax - f[i + y * n]).to_f64();
            }
        }
        let mut loss = 0.0;
        if w_mse > 0.0 {
            loss += w_mse * mse / (n * k) as f64;
        }
        if w_ce > 0.0 {
            loss += w_ce * ce / n as f64;
        }
        ForwardStats { loss, accuracy: correct as f64 / n as f64 }
    }

    /// Loss and its exact gradient (written into `grad`).
    ///
    /// ```
    /// use noether_nn::{Activation, Dataset, Evaluator, Loss, Mlp};
    /// // A 2 → 3 → 2 ReLU network on four points; the gradient against a finite difference.
    /// let net = Mlp::new(vec![2, 3, 2], Activation::RELU, false)?;
    /// let data = Dataset::<f64>::from_rows(4, 2, &[1.0, 0.5, -0.3, 0.8, 0.2, -1.0, -0.7, -0.4], vec![0, 1, 1, 0], 2)?;
    /// let mut eval = Evaluator::new(&net, Loss::CE, &data)?;
    /// let mut params: Vec<f64> = (0..12).map(|i| 0.1 * i as f64 - 0.5).collect();
    /// let mut grad = vec![0.0; 12];
    /// let loss = eval.loss_and_grad(&params, &mut grad).loss;
    /// let h = 1e-6;
    /// params[4] += h;
    /// let fd = (eval.forward(&params).loss - loss) / h;
    /// assert!((fd - grad[4]).abs() < 1e-5);
    /// # Ok::<(), noether_nn::NnError>(())
    /// ```
    pub fn loss_and_grad(&mut self, params: &[T], grad: &mut [T]) -> ForwardStats {
        let stats = self.forward(params);
        self.backward(params, grad);
        stats
    }

    fn backward(&mut self, params: &[T], grad: &mut [T]) {
        let par = self.par;
        assert_eq!(grad.len(), self.layout.n_params(), "gradient vector has the wrong length");
        let n = self.data.n;
        let nl = self.layout.n_layers();
        let k = self.layout.widths[nl];
        // δ_L = ∂L/∂F = (1−w)·2(F−Y)/(nK) + w·(P − Y)/n.
        {
            let c_mse = T::from_f64(self.loss.mse_weight() * 2.0 / (n * k) as f64);
            let c_ce = T::from_f64(self.loss.ce_weight / n as f64);
            let use_mse = self.loss.mse_weight() > 0.0;
            let use_ce = self.loss.ce_weight > 0.0;
            let f = &self.z[nl - 1];
            let dl = &mut self.delta[nl - 1];
            if let Some(y) = &self.data.targets {
                for ((g, &f), &t) in dl.iter_mut().zip(f).zip(y) {
                    *g = c_mse * (f - t);
                }
            } else {
                for c in 0..k {
                    for i in 0..n {
                        let idx = i + c * n;
                        let t = if self.data.labels[i] == c { T::ONE } else { T::ZERO };
                        let mut g = T::ZERO;
                        if use_mse {
                            g += c_mse * (f[idx] - t);
                        }
                        if use_ce {
                            g += c_ce * (self.probs[idx] - t);
                        }
                        dl[idx] = g;
                    }
                }
            }
        }
        for l in (0..nl).rev() {
            let (out, inp) = self.layout.weight_shape(l);
            {
                let g = &mut grad[self.layout.weight_range(l)];
                match (&mut self.sparse, l) {
                    (Some(sp), 0) => sp.transpose_times(&self.delta[0], out, g),
                    _ => {
                        let a_prev: &[T] = if l == 0 { &self.data.x } else { &self.a[l - 1] };
                        gemm(
                            par,
                            mat_mut(g, inp, out),
                            Accum::Replace,
                            mat(a_prev, n, inp).transpose(),
                            mat(&self.delta[l], n, out),
                        );
                    }
                }
            }
            if let Some(r) = self.layout.bias_range(l) {
                col_sums(&self.delta[l], n, &mut grad[r]);
            }
            if l > 0 {
                let w = mat(self.layout.weight(params, l), inp, out).transpose();
                let (lo, hi) = self.delta.split_at_mut(l);
                let d_prev = &mut lo[l - 1];
                gemm(par, mat_mut(d_prev, n, inp), Accum::Replace, mat(&hi[0], n, out), w);
                let ome = self.one_minus_eps;
                apply_activation_derivative(d_prev, &self.z[l - 1], ome);
            }
        }
        self.backward_done = true;
    }

    /// Hessian-vector product at `params`: recomputes the forward and backward pass, then
    /// applies the R-operator. Use [`Evaluator::prepare`] + [`Evaluator::hvp_cached`] for many
    /// products at the same point.
    pub fn hvp(&mut self, params: &[T], v: &[T], out: &mut [T], scratch_grad: &mut [T]) -> ForwardStats {
        let stats = self.loss_and_grad(params, scratch_grad);
        self.hvp_cached(params, v, out);
        stats
    }

    /// Computes forward and backward state at `params` so that products can be taken with
    /// [`Evaluator::hvp_cached`]; returns the loss statistics and fills `grad`.
    pub fn prepare(&mut self, params: &[T], grad: &mut [T]) -> ForwardStats {
        self.loss_and_grad(params, grad)
    }

    /// H·v at the parameters of the last [`Evaluator::prepare`] / [`Evaluator::loss_and_grad`].
    ///
    /// `params` must be the same vector that was prepared.
    pub fn hvp_cached(&mut self, params: &[T], v: &[T], out: &mut [T]) {
        self.r_op(params, v, out, true);
    }

    /// Gauss–Newton product G·v = Jᵀ H_f J v (no residual terms), at the prepared point.
    pub fn gnvp_cached(&mut self, params: &[T], v: &[T], out: &mut [T]) {
        self.r_op(params, v, out, false);
    }

    fn r_op(&mut self, params: &[T], v: &[T], out: &mut [T], with_residual: bool) {
        let par = self.par;
        assert!(self.backward_done, "hvp_cached needs a prepared point (call prepare first)");
        assert_eq!(v.len(), self.layout.n_params(), "direction has the wrong length");
        assert_eq!(out.len(), self.layout.n_params(), "output has the wrong length");
        let n = self.data.n;
        let nl = self.layout.n_layers();
        let ome = self.one_minus_eps;
        // Forward tangents.
        for l in 0..nl {
            let (out_w, inp) = self.layout.weight_shape(l);
            let vt = mat(self.layout.weight(v, l), inp, out_w);
            let a_prev: &[T] = if l == 0 { &self.data.x } else { &self.a[l - 1] };
            let zd = &mut self.zdot[l];
            match (&mut self.sparse, l) {
                (Some(sp), 0) => sp.times_weight_t(self.layout.weight(v, 0), out_w, zd),
                _ => gemm(par, mat_mut(zd, n, out_w), Accum::Replace, mat(a_prev, n, inp), vt),
            }
            if l > 0 {
                let wt = mat(self.layout.weight(params, l), inp, out_w);
                gemm(par, mat_mut(zd, n, out_w), Accum::Add, mat(&self.adot[l - 1], n, inp), wt);
            }
            if let Some(r) = self.layout.bias_range(l) {
                for (o, &bo) in v[r].iter().enumerate() {
                    zd[o * n..(o + 1) * n].iter_mut().for_each(|x| *x += bo);
                }
            }
            if l + 1 < nl {
                for ((ad, &zd), &z) in self.adot[l].iter_mut().zip(zd.iter()).zip(&self.z[l]) {
                    *ad = if z > T::ZERO { zd } else { ome * zd };
                }
            }
        }
        // δ̇_L = H_f·Ḟ, per sample: (1−w)·2/(nK)·ḟ + w/n·(p⊙ḟ − p·(pᵀḟ)).
        {
            let k = self.layout.widths[nl];
            let c_mse = T::from_f64(self.loss.mse_weight() * 2.0 / (n * k) as f64);
            let c_ce = T::from_f64(self.loss.ce_weight / n as f64);
            let use_ce = self.loss.ce_weight > 0.0;
            let fd = &self.zdot[nl - 1];
            let dd = &mut self.deltadot[nl - 1];
            for (d, &f) in dd.iter_mut().zip(fd) {
                *d = c_mse * f;
            }
            if use_ce {
                for i in 0..n {
                    let mut pf = T::ZERO;
                    for c in 0..k {
                        pf += self.probs[i + c * n] * fd[i + c * n];
                    }
                    for c in 0..k {
                        let p = self.probs[i + c * n];
                        dd[i + c * n] += c_ce * p * (fd[i + c * n] - pf);
                    }
                }
            }
        }
        // Backward.
        for l in (0..nl).rev() {
            let (out_w, inp) = self.layout.weight_shape(l);
            {
                let g = &mut out[self.layout.weight_range(l)];
                match (&mut self.sparse, l) {
                    (Some(sp), 0) => sp.transpose_times(&self.deltadot[0], out_w, g),
                    _ => {
                        let a_prev: &[T] = if l == 0 { &self.data.x } else { &self.a[l - 1] };
                        gemm(
                            par,
                            mat_mut(g, inp, out_w),
                            Accum::Replace,
                            mat(a_prev, n, inp).transpose(),
                            mat(&self.deltadot[l], n, out_w),
                        );
                    }
                }
                if l > 0 && with_residual {
                    gemm(
                        par,
                        mat_mut(g, inp, out_w),
                        Accum::Add,
                        mat(&self.adot[l - 1], n, inp).transpose(),
                        mat(&self.delta[l], n, out_w),
                    );
                }
            }
            if let Some(r) = self.layout.bias_range(l) {
                col_sums(&self.deltadot[l], n, &mut out[r]);
            }
            if l > 0 {
                let w = mat(self.layout.weight(params, l), inp, out_w).transpose();
                let (lo, hi) = self.deltadot.split_at_mut(l);
                let dd_prev = &mut lo[l - 1];
                gemm(par, mat_mut(dd_prev, n, inp), Accum::Replace, mat(&hi[0], n, out_w), w);
                if with_residual {
                    let vw = mat(self.layout.weight(v, l), inp, out_w).transpose();
                    gemm(par, mat_mut(dd_prev, n, inp), Accum::Add, mat(&self.delta[l], n, out_w), vw);
                }
                apply_activation_derivative(dd_prev, &self.z[l - 1], ome);
            }
        }
    }
}

/// d ← d ⊙ σ'_ε(z), with σ'_ε(z) = 1 for z > 0 and 1 − ε otherwise.
///
/// Written as a select followed by a multiply (not `if z <= 0 { d *= … }`): the conditional
/// store compiles to a branch that mispredicts on half of the entries and cost more than all
/// the GEMMs of a step together; the select vectorises.
#[inline]
fn apply_activation_derivative<T: Real>(d: &mut [T], z: &[T], negative_slope: T) {
    for (d, &z) in d.iter_mut().zip(z) {
        let s = if z > T::ZERO { T::ONE } else { negative_slope };
        *d *= s;
    }
}

fn col_sums<T: Real>(m: &[T], n: usize, out: &mut [T]) {
    for (o, dst) in out.iter_mut().enumerate() {
        *dst = m[o * n..(o + 1) * n].iter().copied().sum();
    }
}
