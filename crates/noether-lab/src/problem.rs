//! The problem an experiment runs on — data, hidden widths, activation, loss, biases — as a
//! config table shared by every full-batch experiment, and the sweep keys every experiment
//! shares (seeds, learning rates, steps, problem).
//!
//! ```toml
//! [full]
//! seeds = [42, 137, 256]
//! lrs = [1e-3, 1e-2, 0.1]
//! steps = 2000
//!
//! [full.problem]
//! data = { kind = "gaussian_mixture", n = 300, d = 12, classes = 4, separation = 2.0 }
//! hidden = [48]
//! activation = "relu"    # relu | linear | interp:E
//! loss = "ce"            # ce | mse | mix:W
//! bias = false
//! ```
//!
//! Every key has the paper's default (GM-200, one hidden layer of 64, ReLU, CE, no biases), so a
//! config without a `problem` table runs the paper's problem. An experiment that sweeps one axis
//! of the problem (depth in E06, width in E14, the activation in E11, …) overrides that axis and
//! says so in its module documentation; its `check` refuses problems it cannot analyse (a
//! closed-form Hessian needs a bias-free 2-layer net, for instance).

use std::path::{Path, PathBuf};

use noether_nn::{Activation, Loss, Precision};
use noether_train::run::DataConfig;
use serde::{Deserialize, Serialize};

use crate::config::{Check, Invalid};
use crate::job::{DataSpec, NetSpec, ProblemSpec, RngOrder, content_digest};

/// The `problem` table of an experiment config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemConfig {
    /// Where the data come from: `gaussian_mixture` (n, d, classes, separation, n_test), `xor`
    /// (n), `spheres` (n, d, noise), `mnist` (n: the first n digits of data/mnist-10k) or `npz`
    /// (path, relative to the config file; optional classes).
    #[serde(default)]
    pub data: DataConfig,
    /// Hidden widths (input and output widths come from the data).
    #[serde(default = "default_hidden")]
    pub hidden: Vec<usize>,
    /// `relu`, `linear` or `interp:E` (σ_ε = (1−ε)·z + ε·relu(z)).
    #[serde(default = "default_activation")]
    pub activation: String,
    /// `ce`, `mse` (mean over n·K entries, no ½) or `mix:W` ((1−W)·MSE + W·CE).
    #[serde(default = "default_loss")]
    pub loss: String,
    /// Biases on every layer.
    #[serde(default)]
    pub bias: bool,
}

fn default_hidden() -> Vec<usize> {
    vec![64]
}
fn default_activation() -> String {
    "relu".into()
}
fn default_loss() -> String {
    "ce".into()
}

impl Default for ProblemConfig {
    /// The paper's default problem GM-200: Gaussian mixture n = 200, d = 20, K = 5, separation
    /// 2; one hidden layer of 64 ReLU units; cross-entropy; no biases.
    fn default() -> Self {
        ProblemConfig {
            data: DataConfig::default(),
            hidden: default_hidden(),
            activation: default_activation(),
            loss: default_loss(),
            bias: false,
        }
    }
}

impl Check for ProblemConfig {
    fn check(&self) -> Result<(), Invalid> {
        let bad = |key: &str, reason: String| Err(Invalid::new(format!("problem.{key}"), reason));
        if self.hidden.is_empty() {
            return bad("hidden", "at least one hidden layer is needed, e.g. hidden = [64]".into());
        }
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return bad("hidden", format!("width {i} is zero ({:?})", self.hidden));
        }
        if let Err(e) = Activation::parse(&self.activation) {
            return bad("activation", e.to_string());
        }
        if let Err(e) = Loss::parse(&self.loss) {
            return bad("loss", e.to_string());
        }
        match &self.data {
            DataConfig::GaussianMixture { n, d, classes, separation, .. } => {
                if *n == 0 || *d == 0 || *classes < 2 || !separation.is_finite() {
                    return bad(
                        "data",
                        format!(
                            "gaussian_mixture needs n ≥ 1, d ≥ 1, classes ≥ 2 and a finite separation, got n = {n}, d = {d}, classes = {classes}, separation = {separation}"
                        ),
                    );
                }
            }
            DataConfig::Xor { n } | DataConfig::Mnist { n, .. } | DataConfig::Spheres { n, .. } if *n == 0 => {
                return bad("data", "the data set needs n ≥ 1 samples".into());
            }
            DataConfig::Spheres { d, noise, .. } if *d == 0 || !noise.is_finite() => {
                return bad("data", format!("spheres needs d ≥ 1 and a finite noise, got d = {d}, noise = {noise}"));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A problem with its files read and its strings parsed: everything but the seed and the
/// precision of a [`ProblemSpec`].
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The data, as jobs record it.
    pub data: DataSpec,
    /// Hidden widths, activation and biases.
    pub net: NetSpec,
    /// Loss (1 − w)·MSE + w·CE.
    pub ce_weight: f64,
}

impl ProblemConfig {
    /// Parses the strings and, for NPZ data, reads the file once (its shape and a digest of its
    /// bytes go into every job key, so a changed file is never served from the cache). Paths
    /// are relative to `base_dir` (the config file's directory).
    pub fn resolve(&self, base_dir: &Path) -> Result<Problem, Invalid> {
        self.check()?;
        let activation = Activation::parse(&self.activation).map_err(|e| Invalid::new("problem.activation", e))?;
        let loss = Loss::parse(&self.loss).map_err(|e| Invalid::new("problem.loss", e))?;
        let data = match &self.data {
            DataConfig::GaussianMixture { n, d, classes, separation, n_test } => {
                DataSpec::GaussianMixture { n: *n, d: *d, classes: *classes, separation: *separation, n_test: *n_test }
            }
            DataConfig::Xor { n } => DataSpec::Xor { n: *n },
            DataConfig::Spheres { n, d, noise } => DataSpec::Spheres { n: *n, d: *d, noise: *noise },
            DataConfig::Mnist { n, dir } => {
                if dir.is_some() {
                    return Err(Invalid::new(
                        "problem.data.dir",
                        "experiments read MNIST from data/mnist-10k (or $NOETHER_DATA/mnist-10k); remove `dir`",
                    ));
                }
                DataSpec::Mnist { n: *n }
            }
            DataConfig::Npz { path, classes } => npz_spec(&resolve_path(base_dir, path), *classes)?,
        };
        Ok(Problem {
            data,
            net: NetSpec { hidden: self.hidden.clone(), activation_eps: activation.eps, bias: self.bias },
            ce_weight: loss.ce_weight,
        })
    }
}

fn resolve_path(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { base_dir.join(path) }
}

/// Reads an NPZ data file at planning time: its shape (x (n, d), y (n,)) and a digest of its
/// bytes.
fn npz_spec(path: &Path, classes: Option<usize>) -> Result<DataSpec, Invalid> {
    let bytes = std::fs::read(path)
        .map_err(|e| Invalid::new("problem.data.path", format!("{}: cannot read: {e}", path.display())))?;
    let data = noether_nn::files::dataset_from_npz::<f64>(path, classes)
        .map_err(|e| Invalid::new("problem.data.path", e.to_string()))?;
    Ok(DataSpec::Npz {
        path: path.display().to_string(),
        digest: content_digest(&bytes),
        n: data.n,
        d: data.d,
        classes: data.classes,
    })
}

impl Problem {
    /// The problem of one run: `seed` and `precision`, the model drawn before the data.
    pub fn spec(&self, seed: u64, precision: Precision) -> ProblemSpec {
        ProblemSpec {
            seed,
            precision,
            net: self.net.clone(),
            data: self.data.clone(),
            rng_order: RngOrder::ModelThenData,
            ce_weight: self.ce_weight,
        }
    }

    /// The same problem with other hidden widths.
    pub fn with_hidden(&self, hidden: Vec<usize>) -> Problem {
        Problem { net: NetSpec { hidden, ..self.net.clone() }, ..self.clone() }
    }

    /// The same problem with activation σ_ε.
    pub fn with_activation_eps(&self, eps: f64) -> Problem {
        Problem { net: NetSpec { activation_eps: eps, ..self.net.clone() }, ..self.clone() }
    }

    /// The same problem with loss (1 − w)·MSE + w·CE.
    pub fn with_ce_weight(&self, ce_weight: f64) -> Problem {
        Problem { ce_weight, ..self.clone() }
    }

    /// The same problem with biases on or off.
    pub fn with_bias(&self, bias: bool) -> Problem {
        Problem { net: NetSpec { bias, ..self.net.clone() }, ..self.clone() }
    }

    /// The same problem with `n` training samples (drawn by the same generator; the first `n`
    /// digits of MNIST). `None` for NPZ data, whose size is the file's.
    pub fn with_train_size(&self, n: usize) -> Option<Problem> {
        let mut data = self.data.clone();
        match &mut data {
            DataSpec::GaussianMixture { n: m, .. }
            | DataSpec::Mnist { n: m }
            | DataSpec::Xor { n: m }
            | DataSpec::Spheres { n: m, .. } => *m = n,
            DataSpec::Npz { .. } => return None,
        }
        Some(Problem { data, ..self.clone() })
    }

    /// The width of a one-hidden-layer net; `None` for deeper nets.
    pub fn two_layer_width(&self) -> Option<usize> {
        match self.net.hidden.as_slice() {
            [m] => Some(*m),
            _ => None,
        }
    }

    /// (input dimension d, classes K).
    pub fn dims(&self) -> (usize, usize) {
        self.data.dims()
    }

    /// A one-line description for tables and notes (`gaussian_mixture n=200 d=20 K=5, [64],
    /// relu, ce`).
    pub fn describe(&self) -> String {
        format!(
            "{}, hidden {:?}, {}, {}{}",
            self.data.describe(),
            self.net.hidden,
            Activation { eps: self.net.activation_eps }.name(),
            Loss { ce_weight: self.ce_weight, ..Loss::MSE }.name(),
            if self.net.bias { ", biases" } else { "" }
        )
    }
}

/// The keys every experiment shares, flattened into its parameter table
/// (`#[serde(flatten)] sweep: SweepParams`). Which of them an experiment needs is its own
/// `check`'s business ([`SweepParams::require_lrs`], [`SweepParams::require_steps`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepParams {
    /// One run per seed (and learning rate, and variant); seeds fix initial weights and data.
    pub seeds: Vec<u64>,
    /// The learning-rate grid.
    #[serde(default)]
    pub lrs: Vec<f64>,
    /// Training steps per run.
    #[serde(default)]
    pub steps: usize,
    /// The problem (defaults to the paper's GM-200 problem).
    #[serde(default)]
    pub problem: ProblemConfig,
}

/// The names of [`SweepParams`]' keys: the config loader validates them on their own first, so
/// an error inside them names its key (serde's flatten loses the path).
pub(crate) const SWEEP_KEYS: [&str; 4] = ["seeds", "lrs", "steps", "problem"];

impl Check for SweepParams {
    fn check(&self) -> Result<(), Invalid> {
        if self.seeds.is_empty() {
            return Err(Invalid::new("seeds", "at least one seed is needed"));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(s) = self.seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(Invalid::new("seeds", format!("seed {s} appears twice")));
        }
        if let Some(lr) = self.lrs.iter().find(|lr| !(lr.is_finite() && **lr > 0.0)) {
            return Err(Invalid::new("lrs", format!("learning rates must be finite and > 0, got {lr}")));
        }
        self.problem.check()
    }
}

impl SweepParams {
    /// The usual checks of a learning-rate sweep: [`Check::check`], at least `min_lrs`
    /// learning rates and at least one step.
    pub fn check_grid(&self, min_lrs: usize) -> Result<(), Invalid> {
        self.check()?;
        self.require_lrs(min_lrs)?;
        self.require_steps()
    }

    /// Refuses an empty learning-rate grid.
    pub fn require_lrs(&self, at_least: usize) -> Result<(), Invalid> {
        if self.lrs.len() < at_least {
            return Err(Invalid::new(
                "lrs",
                format!("at least {at_least} learning rate(s) needed, got {}", self.lrs.len()),
            ));
        }
        Ok(())
    }

    /// Refuses zero steps.
    pub fn require_steps(&self) -> Result<(), Invalid> {
        if self.steps == 0 {
            return Err(Invalid::new("steps", "at least one training step is needed"));
        }
        Ok(())
    }

    /// Refuses problems that are not one-hidden-layer nets (without biases if `bias_free`);
    /// `why` says what needs it.
    pub fn require_two_layer(&self, bias_free: bool, why: &str) -> Result<(), Invalid> {
        if self.problem.hidden.len() != 1 {
            return Err(Invalid::new(
                "problem.hidden",
                format!("{why} needs one hidden layer, got hidden = {:?}", self.problem.hidden),
            ));
        }
        if bias_free && self.problem.bias {
            return Err(Invalid::new("problem.bias", format!("{why} needs a bias-free network")));
        }
        Ok(())
    }
}
