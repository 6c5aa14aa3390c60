//! The arguments that describe a network, its data and its weights, shared by `train` and
//! `hessian`: a TOML config and/or flags that override it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use noether_train::run::{DataConfig, RunConfig};

#[derive(Args, Debug, Clone)]
pub struct ProblemArgs {
    /// TOML run configuration (see configs/train-default.toml); flags override its values.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Seed of the run's ChaCha8 generator (weights first, then generated data).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Arithmetic: f32 (as the float32 reference) or f64.
    #[arg(long)]
    pub precision: Option<String>,
    /// Hidden-layer activation: relu | linear | interp:E (σ_ε = (1−ε)z + ε·relu(z)).
    #[arg(long)]
    pub activation: Option<String>,
    /// Loss: ce | mse | mix:W (W = weight of CE).
    #[arg(long)]
    pub loss: Option<String>,
    /// Hidden widths, comma-separated (e.g. 64 or 32,32,32,32).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Give every layer a bias.
    #[arg(long)]
    pub bias: bool,
    /// Initialisation scheme when no --init file is given: pytorch | scaled:S | balanced.
    #[arg(long)]
    pub init_scheme: Option<String>,
    /// Initial weights: NPZ with w1..wL of shape (out, in) and, with --bias, b1..bL.
    #[arg(long, value_name = "FILE.npz")]
    pub init: Option<PathBuf>,
    /// Training data: NPZ with x (n, d) float32/float64 and y (n,) integer labels.
    #[arg(long, value_name = "FILE.npz")]
    pub data: Option<PathBuf>,
    /// Use the first N MNIST digits of data/mnist-10k instead of generated data.
    #[arg(long, value_name = "N")]
    pub mnist: Option<usize>,
    /// Number of samples of the generated Gaussian mixture.
    #[arg(long)]
    pub n: Option<usize>,
}

impl ProblemArgs {
    /// The run configuration: the TOML file (or the default problem) with flags applied.
    pub fn config(&self) -> Result<RunConfig> {
        self.config_with_weights(None)
    }

    /// Like [`ProblemArgs::config`], with `weights` (hessian's `--params`) as the initial
    /// weights. The weights file defines the hidden widths and the biases unless `--hidden` /
    /// `--bias` (or the TOML's `hidden` / `bias`) set them, in which case they must agree.
    pub fn config_with_weights(&self, weights: Option<&std::path::Path>) -> Result<RunConfig> {
        let (mut cfg, in_toml) = match &self.config {
            Some(p) => {
                let keys: Vec<String> = std::fs::read_to_string(p)
                    .ok()
                    .and_then(|t| t.parse::<toml::Table>().ok())
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default();
                (RunConfig::from_toml_file(p)?, keys)
            }
            None => (RunConfig::default(), Vec::new()),
        };
        let hidden_given = self.hidden.is_some() || in_toml.iter().any(|k| k == "hidden");
        let bias_given = self.bias || in_toml.iter().any(|k| k == "bias");
        if let Some(v) = self.seed {
            cfg.seed = v;
        }
        if let Some(v) = &self.precision {
            cfg.precision = v.clone();
        }
        if let Some(v) = &self.activation {
            cfg.activation = v.clone();
        }
        if let Some(v) = &self.loss {
            cfg.loss = v.clone();
        }
        if let Some(v) = &self.hidden {
            cfg.hidden = v.clone();
        }
        if self.bias {
            cfg.bias = true;
        }
        if let Some(v) = &self.init_scheme {
            cfg.init = v.clone();
        }
        if let Some(v) = &self.init {
            cfg.init_file = Some(v.clone());
        }
        if let Some(w) = weights {
            if self.init.is_some() {
                anyhow::bail!("give the weights once: --params or --init, not both");
            }
            cfg.init_file = Some(w.to_path_buf());
        }
        if let Some(v) = &self.data {
            cfg.data = DataConfig::Npz { path: v.clone(), classes: None };
        }
        if let Some(n) = self.mnist {
            cfg.data = DataConfig::Mnist { n, dir: None };
        }
        if let Some(n) = self.n {
            match &mut cfg.data {
                DataConfig::GaussianMixture { n: m, .. }
                | DataConfig::Xor { n: m }
                | DataConfig::Spheres { n: m, .. } => *m = n,
                _ => anyhow::bail!("--n applies to generated data only; use --mnist N for MNIST"),
            }
        }
        cfg.adopt_init_architecture(hidden_given, bias_given)?;
        Ok(cfg)
    }
}
