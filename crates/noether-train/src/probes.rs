//! The standard probes: trajectory records, conserved quantities and gradient imbalance,
//! activation-pattern switching.

use noether_nn::Real;
use noether_nn::norms::{bias_sq_norms, weight_sq_norms};
use noether_theory::conservation as cons;
use serde::{Deserialize, Serialize};

use crate::{Flow, Probe, StepView, TrainError, When};

/// One record of the trajectory, measured at θ_t before update t+1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryPoint {
    /// t (updates applied).
    pub step: usize,
    /// Training loss at θ_t.
    pub loss: f64,
    /// Training accuracy at θ_t.
    pub accuracy: f64,
    /// ‖W_l‖²_F, l = 1..L.
    pub weight_sq_norms: Vec<f64>,
    /// ‖∂L/∂W_l‖²_F at θ_t.
    pub grad_sq_norms: Vec<f64>,
    /// C_l = ‖W_{l+1}‖² − ‖W_l‖², l = 1..L−1.
    pub conserved: Vec<f64>,
    /// δ_l = ‖∂L/∂W_{l+1}‖² − ‖∂L/∂W_l‖², l = 1..L−1.
    pub imbalance: Vec<f64>,
}

/// Records a [`TrajectoryPoint`] at the steps of a [`When`], always including the last.
pub struct TrajectoryRecorder {
    when: When,
    /// The recorded points, in step order.
    pub points: Vec<TrajectoryPoint>,
}

impl TrajectoryRecorder {
    /// Records every `every` steps (0 counts as 1), step 0 and the last step.
    pub fn new(every: usize) -> Self {
        Self::at(When::every(every))
    }

    /// Step 1 and every `every` steps after it (1, k, 2k, …, T): the E4 logging schedule.
    pub fn after_first_update(every: usize) -> Self {
        let every = every.max(1);
        Self::at(When::every_from(every, every).and(When::at_steps([1])))
    }

    /// The steps of `when` and the last step.
    pub fn at(when: When) -> Self {
        TrajectoryRecorder { when: when.and(When::last()), points: Vec::new() }
    }
}

impl<T: Real> Probe<T> for TrajectoryRecorder {
    fn when(&self) -> When {
        self.when.clone()
    }

    fn observe(&mut self, v: &StepView<'_, '_, T>) -> Result<Flow, TrainError> {
        let layout = v.eval.layout();
        let w = weight_sq_norms(layout, v.params);
        let g = weight_sq_norms(layout, v.grad);
        self.points.push(TrajectoryPoint {
            step: v.step,
            loss: v.stats.loss,
            accuracy: v.stats.accuracy,
            conserved: cons::layer_balance(&w),
            imbalance: cons::layer_balance(&g),
            weight_sq_norms: w,
            grad_sq_norms: g,
        });
        Ok(Flow::Continue)
    }
}

/// Tracks C_l(t) and δ_l(t) at *every* step (cheap: one pass over the parameters), which the
/// drift definitions of the paper need (max over the trajectory, post-step-1 baseline, signed
/// sum of the imbalance). With biases it also tracks the true gradient-flow invariant
/// C_l − ‖b_l‖².
#[derive(Default)]
pub struct ConservationProbe {
    /// C_l(t): `conserved[l][t]` for t = 0..=T.
    pub conserved: Vec<Vec<f64>>,
    /// ‖W_{l+1}‖² − ‖W_l‖² − ‖b_l‖² per step (empty without biases).
    pub conserved_with_bias: Vec<Vec<f64>>,
    /// δ_l(t): `imbalance[l][t]` for t = 0..=T.
    pub imbalance: Vec<Vec<f64>>,
    /// η_{t+1}: the learning rate applied after step t (t = 0..T−1).
    pub lrs: Vec<f64>,
    /// Loss at θ_t for every t.
    pub losses: Vec<f64>,
    /// Σ_l ‖∂L/∂W_l‖² at θ_t for every t.
    pub grad_sq_total: Vec<f64>,
}

fn push_columns(store: &mut Vec<Vec<f64>>, values: Vec<f64>) {
    if store.is_empty() {
        store.resize(values.len(), Vec::new());
    }
    for (s, v) in store.iter_mut().zip(values) {
        s.push(v);
    }
}

impl<T: Real> Probe<T> for ConservationProbe {
    fn observe(&mut self, v: &StepView<'_, '_, T>) -> Result<Flow, TrainError> {
        let layout = v.eval.layout();
        let w = weight_sq_norms(layout, v.params);
        if layout.has_bias() {
            let b = bias_sq_norms(layout, v.params);
            push_columns(
                &mut self.conserved_with_bias,
                cons::layer_balance_with_bias(&w, &b).expect("one bias per layer"),
            );
        }
        push_columns(&mut self.conserved, cons::layer_balance(&w));
        let g = weight_sq_norms(layout, v.grad);
        self.grad_sq_total.push(g.iter().sum());
        push_columns(&mut self.imbalance, cons::layer_balance(&g));
        self.losses.push(v.stats.loss);
        if let Some(lr) = v.next_lr {
            self.lrs.push(lr);
        }
        Ok(Flow::Continue)
    }
}

/// The drift numbers of a run, under every definition the reference scripts use (spec §1.6);
/// the formulas are those of `noether_theory::conservation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftSummary {
    /// C_l(0), l = 1..L−1.
    pub conserved_initial: Vec<f64>,
    /// C_l(T).
    pub conserved_final: Vec<f64>,
    /// |C_l(T) − C_l(0)| per l.
    pub abs_drift_final: Vec<f64>,
    /// Mean over l of |C_l(T) − C_l(0)| (E6, E7b).
    pub mean_abs_drift_over_layers: f64,
    /// Per l, max over t = 1..T of |C_l(t) − C_l(0)| / |C_l(0)| (absolute if |C_l(0)| ≤ 1e−10);
    /// `max_rel_drift` is their mean over l (E1–E3).
    pub max_rel_drift: f64,
    /// The per-layer values behind `max_rel_drift`.
    pub max_rel_drift_per_layer: Vec<f64>,
    /// Σ_l |C_l(T) − C_l(1)|: baseline after the first update (E4).
    pub drift_from_step1_sum: f64,
    /// Signed Σ_{t<T} δ_l(t) per l.
    pub imbalance_sum: Vec<f64>,
    /// S_l = |Σ_{t<T} δ_l(t)|.
    pub s: Vec<f64>,
    /// |Σ_{t<T} η_{t+1}²·δ_l(t)|: the drift that the identity C_l(t+1) − C_l(t) = η²δ_l(t)
    /// predicts (exact for bias-free nets under plain GD; η²S for a constant η).
    pub predicted_drift_eta2_s: Vec<f64>,
    /// With biases: max relative drift of the true invariant C_l − ‖b_l‖² (mean over l).
    pub max_rel_drift_with_bias: Option<f64>,
    /// With biases: |ΔC_l| of the true invariant per l.
    pub abs_drift_final_with_bias: Option<Vec<f64>>,
}

fn refs(v: &[Vec<f64>]) -> Vec<&[f64]> {
    v.iter().map(|x| x.as_slice()).collect()
}

impl ConservationProbe {
    /// The drift summary; `None` before two observations.
    pub fn summary(&self) -> Option<DriftSummary> {
        let t_len = self.conserved.first()?.len();
        if t_len < 2 {
            return None;
        }
        let c = refs(&self.conserved);
        let updates = self.lrs.len();
        let abs_drift_final: Vec<f64> = c.iter().map(|t| cons::abs_drift_final(t).expect("non-empty")).collect();
        let after_step1: Vec<&[f64]> = c.iter().map(|t| &t[1..]).collect();
        let imbalance_sum: Vec<f64> = self.imbalance.iter().map(|d| d[..updates].iter().sum()).collect();
        let predicted = self
            .imbalance
            .iter()
            .map(|d| d[..updates].iter().zip(&self.lrs).map(|(d, lr)| lr * lr * d).sum::<f64>().abs())
            .collect();
        let with_bias = (!self.conserved_with_bias.is_empty()).then(|| refs(&self.conserved_with_bias));
        Some(DriftSummary {
            conserved_initial: c.iter().map(|t| t[0]).collect(),
            conserved_final: c.iter().map(|t| t[t.len() - 1]).collect(),
            mean_abs_drift_over_layers: cons::mean_abs_drift_over_layers(&c).expect("non-empty"),
            max_rel_drift: cons::max_rel_drift(&c).expect("two points"),
            max_rel_drift_per_layer: c.iter().map(|t| cons::max_rel_drift(&[t]).expect("two points")).collect(),
            drift_from_step1_sum: cons::drift_from_step1_sum(&after_step1).expect("non-empty"),
            s: imbalance_sum.iter().map(|v: &f64| v.abs()).collect(),
            imbalance_sum,
            predicted_drift_eta2_s: predicted,
            max_rel_drift_with_bias: with_bias.as_ref().map(|b| cons::max_rel_drift(b).expect("two points")),
            abs_drift_final_with_bias: with_bias
                .as_ref()
                .map(|b| b.iter().map(|t| cons::abs_drift_final(t).expect("non-empty")).collect()),
            abs_drift_final,
        })
    }
}

/// Activation-pattern switching of the hidden layers (spec E9/E15): the pattern is
/// \[Z_l > 0\] over (sample, neuron); between consecutive steps we count flipped entries and
/// neurons with at least one flipped sample.
#[derive(Default)]
pub struct SwitchProbe {
    previous: Vec<Vec<bool>>,
    /// Per step t ≥ 1 (pattern at θ_t vs θ_{t−1}), summed over hidden layers.
    pub flips: Vec<usize>,
    /// Per step t ≥ 1, neurons with at least one flipped sample.
    pub neurons_changed: Vec<usize>,
    /// Number of (sample, neuron) entries and of neurons over all hidden layers.
    pub entries: usize,
    /// See `entries`.
    pub neurons: usize,
}

/// Averages of a [`SwitchProbe`] over the steps of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwitchSummary {
    /// Mean over steps of flipped entries / (n · hidden neurons): the E15 "per-neuron rate".
    pub mean_flip_fraction: f64,
    /// Mean over steps of flipped (sample, neuron) entries.
    pub mean_flips: f64,
    /// Mean over steps of the number of neurons with any flip (E9's "2.2 %" numerator).
    pub mean_neurons_changed: f64,
    /// `mean_neurons_changed` / hidden neurons.
    pub mean_neurons_changed_fraction: f64,
    /// Fraction of steps without any flip.
    pub zero_change_fraction: f64,
    /// Steps averaged over.
    pub steps: usize,
}

impl<T: Real> Probe<T> for SwitchProbe {
    fn observe(&mut self, v: &StepView<'_, '_, T>) -> Result<Flow, TrainError> {
        if !v.stats.loss.is_finite() {
            return Ok(Flow::Continue);
        }
        let layout = v.eval.layout();
        let n = v.eval.data().n;
        let hidden = layout.n_layers() - 1;
        let current: Vec<Vec<bool>> =
            (0..hidden).map(|l| v.eval.preactivation(l).iter().map(|&z| z > T::ZERO).collect()).collect();
        if self.previous.is_empty() {
            self.entries = current.iter().map(|p| p.len()).sum();
            self.neurons = (0..hidden).map(|l| layout.widths[l + 1]).sum();
        } else {
            let mut flips = 0;
            let mut neurons = 0;
            for (l, (cur, prev)) in current.iter().zip(&self.previous).enumerate() {
                for j in 0..layout.widths[l + 1] {
                    let f = (0..n).filter(|&i| cur[i + j * n] != prev[i + j * n]).count();
                    flips += f;
                    neurons += usize::from(f > 0);
                }
            }
            self.flips.push(flips);
            self.neurons_changed.push(neurons);
        }
        self.previous = current;
        Ok(Flow::Continue)
    }
}

impl SwitchProbe {
    /// The averages over the recorded steps (`None` before the second evaluated point).
    pub fn summary(&self) -> Option<SwitchSummary> {
        let steps = self.flips.len();
        if steps == 0 || self.neurons == 0 {
            return None;
        }
        let mean = |v: &[usize]| v.iter().sum::<usize>() as f64 / steps as f64;
        let mean_flips = mean(&self.flips);
        let mean_neurons_changed = mean(&self.neurons_changed);
        Some(SwitchSummary {
            mean_flip_fraction: mean_flips / self.entries as f64,
            mean_flips,
            mean_neurons_changed,
            mean_neurons_changed_fraction: mean_neurons_changed / self.neurons as f64,
            zero_change_fraction: self.flips.iter().filter(|&&f| f == 0).count() as f64 / steps as f64,
            steps,
        })
    }
}

/// λ_max of the loss Hessian every `every` steps by Lanczos, optionally warm-started from the
/// previous top eigenvector — tracking sharpness through training at a fraction of a cold
/// solve's cost. Owns a second evaluator (its own buffers) on the same network and data.
pub struct SharpnessProbe<'d, T: Real> {
    every: usize,
    /// `Some(n)`: the reference's power iteration with n iterations instead of Lanczos.
    power_iters: Option<usize>,
    warm_start: bool,
    tol: f64,
    seed: u64,
    eval: Option<noether_nn::Evaluator<'d, T>>,
    last_vector: Option<Vec<f64>>,
    /// (step, λ_max, residual, converged) per measurement.
    pub values: Vec<SharpnessPoint>,
    /// Hessian-vector products spent over the whole run.
    pub products: usize,
}

/// One λ_max measurement along a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharpnessPoint {
    /// t (updates applied).
    pub step: usize,
    /// λ_max of the training-loss Hessian at θ_t.
    pub lambda_max: f64,
    /// ‖Hv − λv‖ of the returned pair.
    pub residual: f64,
    /// Whether the tolerance was met.
    pub converged: bool,
    /// Hessian-vector products spent.
    pub products: usize,
}

impl<'d, T: Real> SharpnessProbe<'d, T> {
    /// `tol` is Lanczos' residual tolerance relative to ‖H‖. The Ritz value error is at most
    /// residual²/gap, so tol = 1e−4 already gives λ_max to ~1e−7 relative when the top
    /// eigenvalue is separated by a gap of order ‖H‖ (measured on GM-200: ≤ 3e−7).
    pub fn new(eval: noether_nn::Evaluator<'d, T>, every: usize, warm_start: bool, tol: f64, seed: u64) -> Self {
        SharpnessProbe {
            every: every.max(1),
            power_iters: None,
            warm_start,
            tol,
            seed,
            eval: Some(eval),
            last_vector: None,
            values: Vec::new(),
            products: 0,
        }
    }
}

impl<'d, T: Real> SharpnessProbe<'d, T> {
    /// The reference's tracker: power iteration from a fresh Gaussian start (seeded by the
    /// probe seed and the step), `iters` iterations and a Rayleigh quotient; `converged`
    /// reports whether the relative residual reached `tol`.
    pub fn reference_power(
        eval: noether_nn::Evaluator<'d, T>,
        every: usize,
        iters: usize,
        tol: f64,
        seed: u64,
    ) -> Self {
        let mut p = Self::new(eval, every, false, tol, seed);
        p.power_iters = Some(iters);
        p
    }
}

impl<T: Real> Probe<T> for SharpnessProbe<'_, T> {
    fn when(&self) -> When {
        When::every(self.every).and(When::last())
    }

    /// A failed solve ends the run with an error naming the step: a sharpness trace with a
    /// hole in it would read as a measurement.
    fn observe(&mut self, v: &StepView<'_, '_, T>) -> Result<Flow, TrainError> {
        if !v.stats.loss.is_finite() {
            return Ok(Flow::Continue);
        }
        let Some(eval) = self.eval.take() else { return Ok(Flow::Continue) };
        let op = noether_nn::HessianOperator::new(eval, v.params.to_vec(), noether_nn::HessianKind::Full);
        let mut op = noether_spectra::CountingOperator::new(op);
        let failed = |e: noether_spectra::SpectraError| {
            TrainError::Probe(format!("λ_max tracking failed at step {}: {e}", v.step))
        };
        let (lambda_max, residual, converged) = match self.power_iters {
            Some(iters) => {
                let seed = self.seed ^ (v.step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let res = noether_spectra::power_iteration_reference::<T, _>(&mut op, iters, seed, self.tol)
                    .map_err(failed)?;
                (res.value, res.residual, res.converged)
            }
            None => {
                let opts = noether_spectra::LanczosOptions {
                    k_top: 1,
                    tol: self.tol,
                    seed: self.seed,
                    start: if self.warm_start { self.last_vector.clone() } else { None },
                    // The Lanczos residual estimate, not an extra product: a warm-started solve
                    // takes only a few products, and the explicit check would be a large share.
                    explicit_residuals: false,
                    ..Default::default()
                };
                let res = noether_spectra::lanczos(&mut op, &opts).map_err(failed)?;
                let top = &res.top[0];
                self.last_vector = Some(top.vector.clone());
                (top.value, top.residual, top.converged)
            }
        };
        self.products += op.products();
        self.values.push(SharpnessPoint { step: v.step, lambda_max, residual, converged, products: op.products() });
        self.eval = Some(op.into_inner().into_evaluator());
        Ok(Flow::Continue)
    }
}

/// Norms of the actual parameter updates ΔW_l = W_l(t+1) − W_l(t) (E7a): with momentum or Adam
/// the update is not the gradient, which is why drift ≠ η²S there.
#[derive(Default)]
pub struct UpdateNormProbe {
    previous: Vec<f64>,
    /// Per update: ‖ΔW_l‖² for every layer.
    pub update_sq_norms: Vec<Vec<f64>>,
}

impl<T: Real> Probe<T> for UpdateNormProbe {
    fn observe(&mut self, v: &StepView<'_, '_, T>) -> Result<Flow, TrainError> {
        let layout = v.eval.layout();
        let current: Vec<f64> = v.params[..layout.n_weights()].iter().map(|x| x.to_f64()).collect();
        if !self.previous.is_empty() {
            let norms = (0..layout.n_layers())
                .map(|l| {
                    let r = layout.weight_range(l);
                    current[r.clone()].iter().zip(&self.previous[r]).map(|(a, b)| (a - b) * (a - b)).sum()
                })
                .collect();
            self.update_sq_norms.push(norms);
        }
        self.previous = current;
        Ok(Flow::Continue)
    }
}

impl UpdateNormProbe {
    /// |Σ_t (‖ΔW_{l+1}‖² − ‖ΔW_l‖²)| for l = 1 (the first pair of layers).
    pub fn s_update(&self) -> f64 {
        self.update_sq_norms.iter().map(|n| n[1] - n[0]).sum::<f64>().abs()
    }
    /// Mean over updates of ‖ΔW_2‖² / max(‖ΔW_1‖², 1e−20).
    pub fn mean_ratio(&self) -> f64 {
        let n = self.update_sq_norms.len().max(1) as f64;
        self.update_sq_norms.iter().map(|u| u[1] / u[0].max(1e-20)).sum::<f64>() / n
    }
}
