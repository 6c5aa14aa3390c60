//! Experiment configuration files and the typed, checked parameters read from them.
//!
//! A config `configs/<ID>.toml` names its experiment (`id`), the precisions to run, and two
//! parameter tables: `[full]` (paper scale) and `[quick]` (CI size). `[quick]` *overrides*
//! `[full]` key by key — sub-tables are merged recursively, except that a table whose `kind`
//! differs from the one it overrides replaces it — so it only lists what changes.
//!
//! Parameters are parsed and checked once, when an experiment is planned (linfa's ParamGuard):
//! [`ExperimentConfig::params`] deserialises the merged table into the experiment's `Params`
//! type, refuses unknown keys, runs its [`Check`], and returns [`Checked`] parameters, the only
//! form an experiment's `plan` accepts. Every error names the file, the table and the key.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use noether_nn::Precision;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::LabError;
use crate::problem::{ProblemConfig, SWEEP_KEYS};

/// A configuration file `configs/<ID>.toml` (or a user's copy of one).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The experiment this config is for (`E05`, `CD1`, …).
    pub id: String,
    /// The precisions to run, in order (default: f32 and f64).
    #[serde(default = "both_precisions")]
    pub precisions: Vec<Precision>,
    /// Paper-scale parameters.
    pub full: toml::Table,
    /// CI-sized overrides of `full`.
    #[serde(default)]
    pub quick: toml::Table,
    /// Where the file was read from.
    #[serde(skip)]
    pub path: PathBuf,
}

fn both_precisions() -> Vec<Precision> {
    Precision::ALL.to_vec()
}

/// The name of a parameter table.
pub fn table_name(quick: bool) -> &'static str {
    if quick { "quick" } else { "full" }
}

impl ExperimentConfig {
    /// Reads and parses a config file (not yet its parameter tables: see [`Self::params`]).
    pub fn load(path: &Path) -> Result<Self, LabError> {
        let text = std::fs::read_to_string(path).map_err(|e| LabError::config(path, None, None, e.to_string()))?;
        let mut cfg: ExperimentConfig = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| format!(" (line {})", text[..s.start].matches('\n').count() + 1));
            LabError::config(path, None, None, format!("{}{}", e.message(), line.unwrap_or_default()))
        })?;
        cfg.path = path.to_path_buf();
        if cfg.precisions.is_empty() {
            return Err(LabError::config(
                path,
                None,
                Some("precisions"),
                "at least one precision (f32, f64) is needed",
            ));
        }
        Ok(cfg)
    }

    /// The directory relative paths in the config are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The parameter table: `[full]`, or `[full]` overridden by `[quick]`.
    pub fn table(&self, quick: bool) -> toml::Table {
        let mut t = self.full.clone();
        if quick {
            merge(&mut t, &self.quick);
        }
        t
    }

    /// The experiment's parameters from the `[full]` or merged `[quick]` table: deserialised
    /// (unknown keys refused) and checked.
    pub fn params<P: DeserializeOwned + Check>(&self, quick: bool) -> Result<Checked<P>, LabError> {
        let table = self.table(quick);
        let tname = table_name(quick);
        let err = |key: Option<String>, reason: String| {
            LabError::config(&self.path, Some(tname), key.as_deref().filter(|k| !k.is_empty() && *k != "."), reason)
        };
        // The shared keys first, on their own: serde's flatten loses the path of an error
        // inside a flattened struct, so this pass is what makes such an error name its key.
        let shared: toml::Table = table
            .iter()
            .filter(|(k, _)| SWEEP_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        serde_path_to_error::deserialize::<_, SharedKeys>(shared)
            .map_err(|e| err(Some(e.path().to_string()), e.inner().message().to_string()))?;
        let params: P = serde_path_to_error::deserialize(table)
            .map_err(|e| err(Some(e.path().to_string()), e.inner().message().to_string()))?;
        params.check().map_err(|inv| err(Some(inv.key), inv.reason))?;
        Ok(Checked(params))
    }
}

/// The shared keys, each optional: only their types are checked here.
#[derive(Deserialize)]
#[allow(dead_code)]
struct SharedKeys {
    seeds: Option<Vec<u64>>,
    lrs: Option<Vec<f64>>,
    steps: Option<usize>,
    problem: Option<ProblemConfig>,
}

/// `base` overridden by `over`: scalars and arrays replace, tables merge recursively unless
/// their `kind` differs (a different data source replaces the whole table).
pub fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o))
                if b.get("kind") == o.get("kind") || o.get("kind").is_none() =>
            {
                merge(b, o)
            }
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Why a parameter value is refused: the key (dotted for nested tables) and the reason.
#[derive(Clone, Debug, PartialEq)]
pub struct Invalid {
    /// The key at fault, e.g. `lrs` or `problem.hidden`.
    pub key: String,
    /// What is wrong and what is allowed.
    pub reason: String,
}

impl Invalid {
    /// An invalid value at `key`.
    pub fn new(key: impl Into<String>, reason: impl ToString) -> Invalid {
        Invalid { key: key.into(), reason: reason.to_string() }
    }

    /// The same error for a key inside the table `table` (`eta_min` → `regime.eta_min`).
    pub fn within(self, table: &str) -> Invalid {
        Invalid { key: format!("{table}.{}", self.key), reason: self.reason }
    }
}

/// Refuses a value that is not finite and > 0.
pub fn positive(key: &str, v: f64) -> Result<(), Invalid> {
    if v.is_finite() && v > 0.0 { Ok(()) } else { Err(Invalid::new(key, format!("must be finite and > 0, got {v}"))) }
}

/// Refuses a zero count.
pub fn at_least_one(key: &str, v: usize) -> Result<(), Invalid> {
    if v >= 1 { Ok(()) } else { Err(Invalid::new(key, "must be at least 1")) }
}

/// The checks of a parameter type, run once when the config is loaded.
pub trait Check {
    /// Refuses values the experiment cannot run with, naming the key.
    fn check(&self) -> Result<(), Invalid>;
}

/// Parameters that passed their [`Check`]: only [`ExperimentConfig::params`] (or
/// [`Checked::from_toml`] in tests) makes one.
#[derive(Clone, Debug)]
pub struct Checked<P>(P);

impl<P> Deref for Checked<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.0
    }
}

impl<P: DeserializeOwned + Check> Checked<P> {
    /// Parses and checks parameters from the text of a parameter table (tests, examples).
    pub fn from_toml(text: &str) -> Result<Checked<P>, LabError> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| LabError::config("<inline>", None, None, e.message().to_string()))?;
        ExperimentConfig {
            id: String::new(),
            precisions: both_precisions(),
            full: table,
            quick: toml::Table::new(),
            path: PathBuf::from("<inline>"),
        }
        .params(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        toml::from_str(s).unwrap()
    }

    #[test]
    fn quick_overrides_full_key_by_key_and_replaces_a_table_of_another_kind() {
        let mut full = table(
            "seeds = [1, 2, 3]\nsteps = 100\n[problem]\nhidden = [64]\nloss = \"ce\"\n[problem.data]\nkind = \"gaussian_mixture\"\nn = 200",
        );
        merge(&mut full, &table("steps = 10\n[problem]\nhidden = [16]\n[problem.data]\nn = 50"));
        assert_eq!(full["seeds"].as_array().unwrap().len(), 3);
        assert_eq!(full["steps"].as_integer(), Some(10));
        let p = full["problem"].as_table().unwrap();
        assert_eq!(p["hidden"].as_array().unwrap()[0].as_integer(), Some(16));
        assert_eq!(p["loss"].as_str(), Some("ce"));
        assert_eq!(p["data"]["kind"].as_str(), Some("gaussian_mixture"));
        assert_eq!(p["data"]["n"].as_integer(), Some(50));
        merge(&mut full, &table("[problem.data]\nkind = \"mnist\"\nn = 500"));
        let d = full["problem"]["data"].as_table().unwrap();
        assert_eq!(d.len(), 2, "a data table of another kind replaces the old one: {d:?}");
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct P {
        #[serde(flatten)]
        sweep: crate::problem::SweepParams,
        robust_max_lr: f64,
    }
    impl Check for P {
        fn check(&self) -> Result<(), Invalid> {
            self.sweep.check()?;
            if self.robust_max_lr <= 0.0 {
                return Err(Invalid::new("robust_max_lr", "must be > 0"));
            }
            Ok(())
        }
    }

    fn err(text: &str) -> String {
        Checked::<P>::from_toml(text).unwrap_err().to_string()
    }

    #[test]
    fn every_parameter_error_names_file_table_and_key() {
        assert!(Checked::<P>::from_toml("seeds = [1]\nrobust_max_lr = 0.1").is_ok());
        let e = err("seeds = [1]\nsteps = -3\nrobust_max_lr = 0.1");
        assert!(e.starts_with("<inline> [full] steps: "), "{e}");
        let e = err("seeds = [1]\nrobust_max_lr = 0.1\n[problem]\nhidden = [-2]");
        assert!(e.contains("[full] problem.hidden[0]: "), "{e}");
        let e = err("seeds = [1]\nrobust_max_lr = 0.1\n[problem]\nbogus = 1");
        assert!(e.contains("[full] problem.bogus: unknown field `bogus`"), "{e}");
        let e = err("seeds = [1]\nrobust_max_lr = 0.1\nbogus = 1");
        assert!(e.contains("[full]: unknown field `bogus`"), "{e}");
        let e = err("seeds = [1]\nrobust_max_lr = 'a'");
        assert!(e.contains("[full] robust_max_lr: invalid type"), "{e}");
        let e = err("seeds = [1]\nrobust_max_lr = -1.0");
        assert!(e.contains("[full] robust_max_lr: must be > 0"), "{e}");
        let e = err("seeds = [1, 1]\nrobust_max_lr = 1.0");
        assert!(e.contains("[full] seeds: seed 1 appears twice"), "{e}");
        let e = err("seeds = [1]\nrobust_max_lr = 1.0\n[problem]\nactivation = 'tanh'");
        assert!(e.contains("[full] problem.activation: unknown activation 'tanh'"), "{e}");
    }
}
