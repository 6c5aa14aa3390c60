//! The Python half of `cargo xtask ci`: build the bindings' wheel into a fresh venv and run
//! their pytest suite (crates/noether-py/tests).
//!
//! The venv lives in target/python-venv and is recreated (`--clear`) every time, so the test
//! sees exactly what `pip install ./crates/noether-py` gives a new user. The build runs
//! without isolation, with the maturin installed into that venv, so that it reuses the
//! workspace's release artifacts instead of compiling faer a second time.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{root, status};

/// What the Python tests need from PyPI (the bindings' tests use numpy and pytest only).
const TOOLS: [&str; 3] = ["maturin>=1.8,<2", "pytest", "numpy"];

fn python() -> Result<String> {
    let candidate = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&candidate).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(candidate),
        _ => bail!(
            "no Python interpreter ('{candidate}'): the bindings' tests need CPython >= 3.9 with pip and venv \
             (set PYTHON=/path/to/python3, or NOETHER_SKIP_PYTHON=1 to skip them)"
        ),
    }
}

/// Creates the venv, installs the wheel and runs pytest.
pub(crate) fn test() -> Result<()> {
    if std::env::var_os("NOETHER_SKIP_PYTHON").is_some() {
        eprintln!("xtask ci: ******** NOETHER_SKIP_PYTHON is set: the Python bindings were NOT tested ********");
        return Ok(());
    }
    let root = root();
    let venv = root.join("target").join("python-venv");
    let mut c = Command::new(python()?);
    c.args(["-m", "venv", "--clear"]).arg(&venv);
    status(c)?;
    let bin = venv.join("bin");
    let in_venv = |program: &str| {
        let mut c = Command::new(bin.join(program));
        c.current_dir(&root);
        // maturin's build backend looks for the `maturin` executable on PATH.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let joined = std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&path)))
            .expect("PATH entries are valid");
        c.env("PATH", joined).env("VIRTUAL_ENV", &venv);
        c
    };
    let mut c = in_venv("pip");
    c.args(["install", "--quiet", "--disable-pip-version-check"]).args(TOOLS);
    status(c).context("installing maturin, pytest and numpy from PyPI")?;
    let mut c = in_venv("pip");
    c.args(["install", "--quiet", "--disable-pip-version-check", "--no-build-isolation"])
        .arg(Path::new("crates/noether-py"));
    status(c).context("building and installing the noether wheel")?;
    let mut c = in_venv("python");
    // From target/, so that `import noether` finds the installed wheel, not a source folder.
    c.current_dir(root.join("target")).args(["-m", "pytest", "-q"]).arg(root.join("crates/noether-py/tests"));
    status(c).context("the Python bindings' tests")
}
