//! TRANSITIONAL: the old summarise-in-one-step experiment interface, adapted to
//! [`DynExperiment`] so that experiments can move to the typed plugin one at a time. Removed
//! when the last experiment has moved.

use std::path::PathBuf;

use noether_nn::Precision;
use serde::de::DeserializeOwned;

use crate::LabError;
use crate::config::ExperimentConfig;
use crate::experiment::{DynExperiment, Prepared, Summary};
use crate::job::Job;
use crate::results::Results;

/// The inputs of planning and summarising (old interface).
pub struct Context<'a> {
    pub config: &'a ExperimentConfig,
    pub precision: Precision,
    pub quick: bool,
    /// `results/<ID>/<precision>/`, where plots go.
    pub out_dir: PathBuf,
}

impl Context<'_> {
    pub fn params<P: DeserializeOwned>(&self) -> Result<P, LabError> {
        let (table, name) = if self.quick { (&self.config.quick, "quick") } else { (&self.config.full, "full") };
        table.clone().try_into().map_err(|e: toml::de::Error| {
            LabError::LegacyConfig(format!("{} [{name}]: {}", self.config.path.display(), e.message()))
        })
    }
}

/// The old interface.
pub trait Experiment: Sync {
    fn id(&self) -> &'static str;
    fn title(&self) -> &'static str;
    fn plan(&self, ctx: &Context<'_>) -> Result<Vec<Job>, LabError>;
    fn summarize(&self, ctx: &Context<'_>, results: &Results) -> Result<Summary, LabError>;
}

/// Adapter: an old experiment as a [`DynExperiment`].
pub struct Legacy(pub &'static dyn Experiment);

struct LegacyPrepared {
    exp: &'static dyn Experiment,
    config: ExperimentConfig,
    precision: Precision,
    quick: bool,
    out_dir: PathBuf,
    jobs: Vec<Job>,
}

impl Prepared for LegacyPrepared {
    fn jobs(&self) -> &[Job] {
        &self.jobs
    }
    fn summarise(&self, results: &Results) -> Result<(Summary, serde_json::Value), LabError> {
        std::fs::create_dir_all(&self.out_dir).map_err(|e| LabError::io(&self.out_dir, e))?;
        let ctx = Context {
            config: &self.config,
            precision: self.precision,
            quick: self.quick,
            out_dir: self.out_dir.clone(),
        };
        Ok((self.exp.summarize(&ctx, results)?, serde_json::Value::Null))
    }
}

impl DynExperiment for Legacy {
    fn id(&self) -> &'static str {
        self.0.id()
    }
    fn title(&self) -> &'static str {
        self.0.title()
    }
    fn prepare<'e>(&'e self, ctx: &crate::experiment::Context<'_>) -> Result<Box<dyn Prepared + 'e>, LabError> {
        let out_dir = ctx.out_dir.clone();
        let lctx = Context { config: ctx.config, precision: ctx.precision, quick: ctx.quick, out_dir: out_dir.clone() };
        let jobs = self.0.plan(&lctx)?;
        Ok(Box::new(LegacyPrepared {
            exp: self.0,
            config: ctx.config.clone(),
            precision: ctx.precision,
            quick: ctx.quick,
            out_dir,
            jobs,
        }))
    }
}
