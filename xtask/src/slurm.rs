//! The Slurm half of `cargo xtask ci`: scripts/slurm/e2e.sh installs Slurm (apt) if needed,
//! starts a private one-node cluster, runs the quick suite through `noether suite --slurm`
//! (claims byte-identical to a local run; a SIGKILLed task resubmitted, nothing lost) and tears
//! the cluster down. It skips, loudly, only where Slurm cannot be installed (not root, or the
//! Debian archive unreachable).

use std::process::Command;

use anyhow::{Context, Result};

use crate::{root, status};

/// Runs the end-to-end Slurm test against the release binary the workspace tests built.
pub(crate) fn test() -> Result<()> {
    let root = root();
    let mut c = Command::new("bash");
    c.current_dir(&root).arg(root.join("scripts/slurm/e2e.sh"));
    c.env("NOETHER", root.join("target/release/noether"));
    status(c).context("the Slurm end-to-end test (scripts/slurm/e2e.sh)")
}
