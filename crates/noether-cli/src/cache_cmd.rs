//! `noether cache verify|gc`: the job cache of a results directory.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use noether_lab::store::Store;

/// Arguments of `noether cache`.
#[derive(Args, Debug)]
pub struct CacheArgs {
    #[command(subcommand)]
    action: CacheAction,
}

#[derive(Subcommand, Debug)]
enum CacheAction {
    /// Read every entry of <results>/cache: count the good ones, name the corrupt ones (exit 2
    /// if there are any) and the ones of older results versions.
    Verify {
        /// The results directory.
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Remove the entries of older results versions (corrupt entries are left to be
    /// recomputed and reported by the next run).
    Gc {
        /// The results directory.
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
}

/// Runs `noether cache …`.
pub fn run(a: CacheArgs) -> Result<()> {
    match a.action {
        CacheAction::Verify { results } => {
            let store = open(&results)?;
            let r = store.verify()?;
            for (p, reason) in &r.corrupt {
                tracing::warn!("{}: {reason}", p.display());
            }
            println!(
                "{}: {} entries ok, {} of older results versions (noether cache gc removes them), {} corrupt, {} other files, {} job claims (lock files)",
                results.join("cache").display(),
                r.ok,
                r.stale.len(),
                r.corrupt.len(),
                r.other.len(),
                r.claims.len()
            );
            if !r.corrupt.is_empty() {
                let names: Vec<String> = r.corrupt.iter().map(|(p, why)| format!("{} ({why})", p.display())).collect();
                bail!(
                    "{} corrupt cache entr{}: {}",
                    names.len(),
                    if names.len() == 1 { "y" } else { "ies" },
                    names.join("; ")
                );
            }
            Ok(())
        }
        CacheAction::Gc { results } => {
            let removed = open(&results)?.gc()?;
            println!(
                "{}: removed {} entries of older results versions",
                results.join("cache").display(),
                removed.len()
            );
            Ok(())
        }
    }
}

/// Opens an existing results directory (never creates one: a typo must not make an empty cache).
fn open(results: &std::path::Path) -> Result<Store> {
    if !results.join("cache").is_dir() {
        bail!("{}: no cache/ here (not a results directory?)", results.display());
    }
    Ok(Store::open(results)?)
}
