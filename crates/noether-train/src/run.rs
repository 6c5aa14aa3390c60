//! One training run from a declarative configuration: what `noether train` executes.
//!
//! The configuration is a TOML file (every key optional, unknown keys refused) whose values can
//! be overridden field by field; [`RunConfig::validate`] checks everything before any compute,
//! and [`execute`] builds network, data and initial weights in the documented RNG order
//! (weights layer by layer, then data), trains with the standard probes and returns a
//! [`RunRecord`] — the content of `run.json` — plus the final parameters.

use std::path::{Path, PathBuf};

use noether_nn::files::{dataset_from_npz, mnist, params_from_npz, params_to_arrays};
use noether_nn::{
    Activation, Dataset, Evaluator, GaussianMixture, Init, Loss, Mlp, Real, concentric_spheres, seeded_rng, xor_2d,
};
use serde::{Deserialize, Serialize};

use crate::probes::{ConservationProbe, DriftSummary, SwitchProbe, SwitchSummary, TrajectoryPoint, TrajectoryRecorder};
use crate::{LrSchedule, OptimizerKind, Probe, TrainError, train};

/// Where the training data come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataConfig {
    /// The Gaussian mixture of the reference (GM-200 by default).
    GaussianMixture {
        /// Training samples (default 200).
        #[serde(default = "default_n")]
        n: usize,
        /// Input dimension (default 20).
        #[serde(default = "default_d")]
        d: usize,
        /// Classes (default 5).
        #[serde(default = "default_classes")]
        classes: usize,
        /// Scale of the class centres (default 2).
        #[serde(default = "default_separation")]
        separation: f64,
        /// Size of the (unused) test set drawn after the training set; it consumes the
        /// generator exactly as the reference does.
        #[serde(default = "default_n_test")]
        n_test: usize,
    },
    /// Four Gaussian blobs in 2-D labelled by XOR of their quadrant signs (2 classes).
    Xor {
        /// Samples.
        n: usize,
    },
    /// Two concentric spheres in d dimensions with radial noise (2 classes).
    Spheres {
        /// Samples.
        n: usize,
        /// Dimension.
        d: usize,
        /// Standard deviation of the radial noise.
        #[serde(default = "default_noise")]
        noise: f64,
    },
    /// The first `n` digits of the MNIST IDX files in `dir` (default: data/mnist-10k).
    Mnist {
        /// Digits used.
        n: usize,
        /// Directory of the IDX files.
        dir: Option<PathBuf>,
    },
    /// A user's data: NPZ with `x` (n, d) float and `y` (n,) integer labels.
    Npz {
        /// The NPZ file.
        path: PathBuf,
        /// Classes (default: 1 + the largest label).
        classes: Option<usize>,
    },
}

fn default_n() -> usize {
    200
}
fn default_d() -> usize {
    20
}
fn default_classes() -> usize {
    5
}
fn default_separation() -> f64 {
    2.0
}
fn default_n_test() -> usize {
    50
}
fn default_noise() -> f64 {
    0.1
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig::GaussianMixture { n: 200, d: 20, classes: 5, separation: 2.0, n_test: 50 }
    }
}

/// A training run. Strings (`activation`, `loss`, `optimizer`, `init`) use the CLI's syntax.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seeds the weights (and generated data).
    pub seed: u64,
    /// `f32` or `f64`.
    pub precision: String,
    /// Updates to apply.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// Record a trajectory point every this many steps (and always at the last one).
    pub record_every: usize,
    /// `gd`, `momentum:B` or `adam`.
    pub optimizer: String,
    /// `mse`, `ce` or `mix:W`.
    pub loss: String,
    /// `relu`, `linear` or `interp:E`.
    pub activation: String,
    /// Hidden widths; the input and output widths come from the data.
    pub hidden: Vec<usize>,
    /// Biases on every layer.
    pub bias: bool,
    /// `pytorch`, `scaled:S` or `balanced`.
    pub init: String,
    /// Initial weights from an NPZ file (`w1`..`wL`, `b1`..`bL`), replacing the drawn ones
    /// (they are still drawn first, so the data of a seed do not change).
    pub init_file: Option<PathBuf>,
    /// The training data.
    pub data: DataConfig,
}

impl Default for RunConfig {
    /// The default problem GM-200: 2-layer bias-free ReLU of width 64, CE, GD, 2000 steps.
    fn default() -> Self {
        RunConfig {
            seed: 42,
            precision: "f64".into(),
            steps: 2000,
            lr: 0.01,
            record_every: 1,
            optimizer: "gd".into(),
            loss: "ce".into(),
            activation: "relu".into(),
            hidden: vec![64],
            bias: false,
            init: "pytorch".into(),
            init_file: None,
            data: DataConfig::default(),
        }
    }
}

/// The typed, checked form of a [`RunConfig`].
#[derive(Clone, Debug)]
pub struct ValidatedRun {
    /// The configuration as given.
    pub config: RunConfig,
    /// Its activation, parsed.
    pub activation: Activation,
    /// Its loss, parsed.
    pub loss: Loss,
    /// Its optimiser, parsed.
    pub optimizer: OptimizerKind,
    /// Its initialisation, parsed.
    pub init: Init,
    /// Its precision, parsed.
    pub precision: Precision,
}

/// Re-exported from noether-spectra, where it sits beside [`noether_nn::Real`].
pub use noether_nn::Precision;

/// Parses `f32` / `f64` as a config error.
fn parse_precision(s: &str) -> Result<Precision, TrainError> {
    s.parse().map_err(TrainError::Config)
}

fn parse_init(s: &str) -> Result<Init, TrainError> {
    match s {
        "pytorch" => Ok(Init::PytorchDefault),
        "balanced" => Ok(Init::Balanced),
        _ => {
            let bad = || TrainError::Config(format!("unknown init '{s}'; allowed: pytorch, scaled:S, balanced"));
            let v: f64 = s.strip_prefix("scaled:").ok_or_else(bad)?.parse().map_err(|_| bad())?;
            if !v.is_finite() {
                return Err(bad());
            }
            Ok(Init::Scaled { scale: v })
        }
    }
}

impl RunConfig {
    /// Reads a TOML file; unknown keys and wrong types are errors naming the file and key.
    pub fn from_toml_file(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TrainError::Config(format!("{}: cannot read config: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| {
            let msg = e.message().to_string();
            let loc = e
                .span()
                .map(|s| {
                    let line = text[..s.start].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            TrainError::Config(format!("{}{loc}: {msg}", path.display()))
        })
    }

    /// Checks every value; nothing is computed before this succeeds.
    pub fn validate(&self) -> Result<ValidatedRun, TrainError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(TrainError::Config(format!("learning rate must be a positive finite number, got {}", self.lr)));
        }
        if self.record_every == 0 {
            return Err(TrainError::Config("record_every must be at least 1".into()));
        }
        if let Some(i) = self.hidden.iter().position(|&w| w == 0) {
            return Err(TrainError::Config(format!("hidden width {i} is zero ({:?})", self.hidden)));
        }
        let activation = Activation::parse(&self.activation)?;
        let loss = Loss::parse(&self.loss)?;
        let optimizer = OptimizerKind::parse(&self.optimizer)?;
        let init = parse_init(&self.init)?;
        if matches!(init, Init::Balanced) && self.bias {
            return Err(TrainError::Config("init 'balanced' needs a bias-free network (bias = false)".into()));
        }
        let precision = parse_precision(&self.precision)?;
        match &self.data {
            DataConfig::GaussianMixture { n, d, classes, separation, .. } => {
                if *n == 0 || *d == 0 || *classes == 0 || !separation.is_finite() {
                    return Err(TrainError::Config(format!(
                        "gaussian_mixture needs n, d, classes ≥ 1 and a finite separation, got {:?}",
                        self.data
                    )));
                }
            }
            DataConfig::Xor { n } | DataConfig::Mnist { n, .. } | DataConfig::Spheres { n, .. } if *n == 0 => {
                return Err(TrainError::Config("the data set must have n ≥ 1 samples".into()));
            }
            DataConfig::Npz { path, .. } if !path.exists() => {
                return Err(TrainError::Config(format!("{}: data file not found", path.display())));
            }
            _ => {}
        }
        if let Some(p) = &self.init_file {
            if !p.exists() {
                return Err(TrainError::Config(format!("{}: initial-weights file not found", p.display())));
            }
        }
        Ok(ValidatedRun { config: self.clone(), activation, loss, optimizer, init, precision })
    }
}

impl RunConfig {
    /// Takes the hidden widths and the biases from `init_file`, the weights being what defines
    /// the network: where `hidden_given` / `bias_given` say the configuration set them
    /// explicitly, they must agree with the file, else this is an error naming both. Without an
    /// `init_file` nothing changes.
    pub fn adopt_init_architecture(&mut self, hidden_given: bool, bias_given: bool) -> Result<(), TrainError> {
        let Some(path) = &self.init_file else { return Ok(()) };
        if !path.exists() {
            return Err(TrainError::Config(format!("{}: initial-weights file not found", path.display())));
        }
        let arch = noether_nn::files::architecture_from_npz(path)?;
        if hidden_given && self.hidden != arch.hidden() {
            return Err(TrainError::Config(format!(
                "hidden widths {:?} disagree with {}, whose w1..w{} define hidden widths {:?} (widths {:?}); drop --hidden or fix it",
                self.hidden,
                path.display(),
                arch.widths.len() - 1,
                arch.hidden(),
                arch.widths
            )));
        }
        if bias_given && self.bias != arch.bias {
            return Err(TrainError::Config(format!(
                "biases {} but {} {}",
                if self.bias { "requested" } else { "switched off" },
                path.display(),
                if arch.bias { "holds b1..bL" } else { "holds no b1..bL" }
            )));
        }
        self.hidden = arch.hidden().to_vec();
        self.bias = arch.bias;
        Ok(())
    }
}

/// Everything `run.json` holds. Deterministic: no wall-clock times (they go to `timing.json`),
/// so two runs with the same configuration are byte-identical.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunRecord {
    /// The crate version that wrote the record.
    pub noether_version: String,
    /// The run's configuration.
    pub config: RunConfig,
    /// The network's widths [d, …, K].
    pub widths: Vec<usize>,
    /// Parameters P.
    pub n_params: usize,
    /// Training samples n.
    pub n_samples: usize,
    /// How the run ended and what it measured.
    pub summary: RunSummary,
    /// `trajectory[k]` is measured at θ_t (t = `trajectory[k].step`) before update t+1.
    pub trajectory: Vec<TrajectoryPoint>,
}

/// The end of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    /// Updates applied.
    pub steps_completed: usize,
    /// The loss became non-finite.
    pub diverged: bool,
    /// At which step, if it did.
    pub diverged_at: Option<usize>,
    /// Loss at the last evaluated point.
    pub final_loss: f64,
    /// Accuracy there.
    pub final_accuracy: f64,
    /// Conservation-law drift over the run (not for diverged runs).
    pub drift: Option<DriftSummary>,
    /// Activation-pattern switching, if probed.
    pub switching: Option<SwitchSummary>,
}

/// The outcome of [`execute`]: the record, and the final parameters as NPZ arrays.
pub struct RunOutput {
    /// What `run.json` holds.
    pub record: RunRecord,
    /// `w1`…`wL` (and `b1`…`bL`) at the end, for `final.npz`.
    pub final_arrays: Vec<(String, noether_io::NpyArray)>,
}

/// Builds and trains the run; `on_step(t)` is called after update t.
pub fn execute(run: &ValidatedRun, on_step: &mut dyn FnMut(usize)) -> Result<RunOutput, TrainError> {
    match run.precision {
        Precision::F32 => execute_in::<f32>(run, on_step),
        Precision::F64 => execute_in::<f64>(run, on_step),
    }
}

/// Input and output widths of the data a config describes, loading files if needed.
fn load_data<T: Real>(cfg: &RunConfig, rng: &mut noether_nn::Rng) -> Result<Dataset<T>, TrainError> {
    Ok(match &cfg.data {
        DataConfig::GaussianMixture { n, d, classes, separation, n_test } => {
            GaussianMixture { n_train: *n, n_test: *n_test, d: *d, classes: *classes, separation: *separation }
                .generate::<T, _>(rng)?
                .0
        }
        DataConfig::Xor { n } => xor_2d(*n, rng),
        DataConfig::Spheres { n, d, noise } => concentric_spheres(*n, *d, *noise, rng),
        DataConfig::Mnist { n, dir } => {
            let dir = dir.clone().unwrap_or_else(default_mnist_dir);
            mnist(&dir, *n)?
        }
        DataConfig::Npz { path, classes } => dataset_from_npz(path, *classes)?,
    })
}

/// data/mnist-10k of the workspace, or `$NOETHER_DATA/mnist-10k` when set.
pub fn default_mnist_dir() -> PathBuf {
    match std::env::var_os("NOETHER_DATA") {
        Some(d) => PathBuf::from(d).join("mnist-10k"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist-10k"),
    }
}

/// (d, K) of the configured data without consuming randomness.
fn data_shape(cfg: &RunConfig) -> Result<Option<(usize, usize)>, TrainError> {
    Ok(match &cfg.data {
        DataConfig::GaussianMixture { d, classes, .. } => Some((*d, *classes)),
        DataConfig::Xor { .. } => Some((2, 2)),
        DataConfig::Spheres { d, .. } => Some((*d, 2)),
        DataConfig::Mnist { .. } => Some((784, 10)),
        DataConfig::Npz { .. } => None,
    })
}

/// The network, its data and its initial parameters, exactly as [`execute`] would train them:
/// the generator is seeded with `seed` and consumed by the weights (layer by layer), then by
/// generated data. Also what `noether hessian` analyses.
pub struct Problem<T: Real> {
    /// The network.
    pub net: Mlp,
    /// Its training data.
    pub data: Dataset<T>,
    /// The initial parameters (flat, in the layout of `net`).
    pub params: Vec<T>,
}

/// Builds the [`Problem`] of a validated run.
pub fn build_problem<T: Real>(run: &ValidatedRun) -> Result<Problem<T>, TrainError> {
    let cfg = &run.config;
    let mut rng = seeded_rng(cfg.seed);
    // Files are read first (they consume no randomness); generated data come after the weights.
    let file_data: Option<Dataset<T>> = match data_shape(cfg)? {
        None => Some(load_data::<T>(cfg, &mut rng)?),
        Some(_) => None,
    };
    let (d, k) = match (&file_data, data_shape(cfg)?) {
        (Some(ds), _) => (ds.d, ds.classes),
        (None, Some(shape)) => shape,
        (None, None) => unreachable!("file data are loaded above"),
    };
    let mut widths = vec![d];
    widths.extend(&cfg.hidden);
    widths.push(k);
    let net = Mlp::new(widths, run.activation, cfg.bias)?;
    let mut params: Vec<T> = run.init.draw(&net, &mut rng)?;
    let data = match file_data {
        Some(ds) => ds,
        None => load_data::<T>(cfg, &mut rng)?,
    };
    if let Some(path) = &cfg.init_file {
        params = params_from_npz(path, &net)?;
    }
    Ok(Problem { net, data, params })
}

fn execute_in<T: Real>(run: &ValidatedRun, on_step: &mut dyn FnMut(usize)) -> Result<RunOutput, TrainError> {
    let cfg = &run.config;
    let Problem { net, data, mut params } = build_problem::<T>(run)?;
    let widths = net.widths.clone();
    let mut eval = Evaluator::new(&net, run.loss, &data)?;
    let mut recorder = TrajectoryRecorder::new(cfg.record_every);
    let mut conservation = ConservationProbe::default();
    let mut switching = SwitchProbe::default();
    let outcome = {
        let mut probes: Vec<&mut dyn Probe<T>> = vec![&mut recorder, &mut conservation];
        if net.n_layers() > 1 {
            probes.push(&mut switching);
        }
        train(&mut eval, &mut params, run.optimizer, &LrSchedule::Constant(cfg.lr), cfg.steps, &mut probes, on_step)?
    };
    let record = RunRecord {
        noether_version: env!("CARGO_PKG_VERSION").into(),
        config: cfg.clone(),
        widths,
        n_params: params.len(),
        n_samples: data.n,
        summary: RunSummary {
            steps_completed: outcome.steps_completed,
            diverged: outcome.diverged(),
            diverged_at: outcome.diverged_at,
            final_loss: outcome.final_loss,
            final_accuracy: outcome.final_accuracy,
            drift: conservation.summary(),
            switching: switching.summary(),
        },
        trajectory: recorder.points,
    };
    Ok(RunOutput { final_arrays: params_to_arrays(&net, &params), record })
}

/// Writes `run.json` and `final.npz` into `dir` (created if missing), each atomically.
pub fn write_outputs(dir: &Path, out: &RunOutput) -> Result<(), TrainError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TrainError::Config(format!("{}: cannot create output directory: {e}", dir.display())))?;
    let json =
        serde_json::to_vec_pretty(&out.record).map_err(|e| TrainError::Config(format!("serialising run.json: {e}")))?;
    noether_io::write_atomic(&dir.join("run.json"), &json)?;
    let arrays: Vec<(&str, noether_io::NpyArray)> =
        out.final_arrays.iter().map(|(n, a)| (n.as_str(), a.clone())).collect();
    noether_io::write_npz(&dir.join("final.npz"), &arrays)?;
    Ok(())
}
