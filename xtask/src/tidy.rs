//! `cargo xtask tidy`: the house rules a compiler does not check, checked on the tree itself
//! (the same function runs as a unit test, so `cargo test` enforces them):
//!
//! * every Rust source file of the workspace opens with a module comment (`//!`);
//! * the experiment registry, `configs/*.toml`, `data/paper-claims.toml` and
//!   `data/reference/*.toml` agree: one config per experiment naming it, every config's
//!   experiment registered, every claim's experiment registered and every experiment with a
//!   claim, every reference table read by a registered experiment — and every shipped config
//!   plans (full and quick, both precisions), which parses its parameters, runs their checks
//!   and reads its reference table;
//! * no crate declares a dependency its code never names;
//! * `cargo fmt --check` passes (skipped, loudly, where rustfmt is not installed).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use noether_lab::config::ExperimentConfig;
use noether_lab::suite;
use noether_nn::Precision;

/// Every violation found under `root`, one line each (empty = tidy).
pub fn problems(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    module_docs(root, &mut out);
    experiments_agree(root, &mut out);
    dependencies_used(root, &mut out);
    formatted(root, &mut out);
    out
}

/// The `.rs` files below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The crate directories of the workspace: the root package, crates/*, xtask.
fn crate_dirs(root: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![root.to_path_buf(), root.join("xtask")];
    if let Ok(entries) = std::fs::read_dir(root.join("crates")) {
        let mut c: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.join("Cargo.toml").exists()).collect();
        c.sort();
        dirs.extend(c);
    }
    dirs
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn module_docs(root: &Path, out: &mut Vec<String>) {
    for dir in crate_dirs(root) {
        for sub in ["src", "tests", "benches", "examples"] {
            for f in rust_files(&dir.join(sub)) {
                let text = std::fs::read_to_string(&f).unwrap_or_default();
                let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("#!["));
                if !first.is_some_and(|l| l.starts_with("//!")) {
                    out.push(format!("{}: no module comment (`//! …` saying what the file is for)", rel(root, &f)));
                }
            }
        }
    }
}

fn experiments_agree(root: &Path, out: &mut Vec<String>) {
    let registry: BTreeSet<&str> = noether_lab::experiments::registry().iter().map(|e| e.id()).collect();
    // Configs.
    let mut configured = BTreeSet::new();
    let mut config_files: Vec<PathBuf> = std::fs::read_dir(root.join("configs"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect())
        .unwrap_or_default();
    config_files.sort();
    for path in &config_files {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
        // Experiment configs name their experiment; the others (train-default.toml) are
        // `noether train --config` files, checked by that command's own tests.
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.parse::<toml::Table>().is_ok_and(|t| !t.contains_key("id")) {
            continue;
        }
        match ExperimentConfig::load(path) {
            Err(e) => out.push(format!("{}: {e}", rel(root, path))),
            Ok(cfg) => {
                if cfg.id != stem {
                    out.push(format!("{}: id = \"{}\" but the file is named {stem}.toml", rel(root, path), cfg.id));
                }
                if !registry.contains(cfg.id.as_str()) {
                    out.push(format!("{}: experiment {} is not in the registry", rel(root, path), cfg.id));
                }
                configured.insert(cfg.id.clone());
            }
        }
    }
    for id in &registry {
        if !configured.contains(*id) {
            out.push(format!("experiment {id} is registered but configs/{id}.toml is missing"));
        }
    }
    // Claims.
    let claims_path = root.join("data/paper-claims.toml");
    match noether_lab::claims::load_claims(&claims_path) {
        Err(e) => out.push(format!("data/paper-claims.toml: {e}")),
        Ok(claims) => {
            let claimed: BTreeSet<&str> = claims.iter().map(|c| c.experiment.as_str()).collect();
            for c in &claims {
                if !registry.contains(c.experiment.as_str()) {
                    out.push(format!(
                        "data/paper-claims.toml: claim {} names unregistered experiment {}",
                        c.id, c.experiment
                    ));
                }
                if !c.id.starts_with(&format!("{}.", c.experiment)) {
                    out.push(format!("data/paper-claims.toml: claim {} should be named {}.<name>", c.id, c.experiment));
                }
            }
            for id in &registry {
                if !claimed.contains(id) {
                    out.push(format!("experiment {id} has no claim in data/paper-claims.toml"));
                }
            }
        }
    }
    // Reference tables.
    if let Ok(d) = std::fs::read_dir(root.join("data/reference")) {
        let mut files: Vec<PathBuf> = d.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let stem = f.file_stem().unwrap_or_default().to_string_lossy().to_string();
            if f.extension().is_none_or(|x| x != "toml") || !registry.contains(stem.as_str()) {
                out.push(format!("{}: not the reference table of a registered experiment", rel(root, &f)));
            }
        }
    }
    // Every shipped config plans: parameters parse and pass their checks, references load.
    for id in registry.iter().filter(|id| configured.contains(**id)) {
        for quick in [false, true] {
            for precision in [Precision::F32, Precision::F64] {
                if let Err(e) = suite::planned_jobs(root, id, precision, quick) {
                    out.push(format!(
                        "configs/{id}.toml ({}, {}): does not plan: {e}",
                        if quick { "quick" } else { "full" },
                        precision.name()
                    ));
                }
            }
        }
    }
}

/// `[dependencies]` (used by src/) and `[dev-dependencies]` (used anywhere in the crate) of one
/// manifest, as Rust identifiers.
fn declared(manifest: &Path) -> (Vec<String>, Vec<String>) {
    let text = std::fs::read_to_string(manifest).unwrap_or_default();
    let Ok(doc) = text.parse::<toml::Table>() else { return (vec![], vec![]) };
    let names = |key: &str| -> Vec<String> {
        doc.get(key)
            .and_then(|t| t.as_table())
            .map(|t| t.keys().map(|k| k.replace('-', "_")).collect())
            .unwrap_or_default()
    };
    (names("dependencies"), names("dev-dependencies"))
}

fn dependencies_used(root: &Path, out: &mut Vec<String>) {
    for dir in crate_dirs(root) {
        let manifest = dir.join("Cargo.toml");
        let (deps, dev) = declared(&manifest);
        // Code only: a crate named in a comment is not a use of it.
        let read_all = |subs: &[&str]| -> String {
            subs.iter()
                .flat_map(|s| rust_files(&dir.join(s)))
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .flat_map(|t| {
                    t.lines()
                        .filter(|l| !l.trim_start().starts_with("//"))
                        .map(|l| format!("{l}\n"))
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        // The root package's own code is in src/; crates/ are other packages.
        let src = read_all(&["src"]);
        let everything = read_all(&["src", "tests", "benches", "examples"]);
        let names = |code: &str, dep: &str| code.contains(&format!("{dep}::")) || code.contains(&format!("use {dep}"));
        for d in deps {
            if !names(&src, &d) {
                out.push(format!("{}: dependency `{d}` is never used in src/", rel(root, &manifest)));
            }
        }
        for d in dev {
            if !names(&everything, &d) {
                out.push(format!("{}: dev-dependency `{d}` is never used", rel(root, &manifest)));
            }
        }
    }
}

fn formatted(root: &Path, out: &mut Vec<String>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let has_rustfmt = Command::new(&cargo).args(["fmt", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_rustfmt {
        eprintln!("\n*** xtask tidy: rustfmt is not installed; the formatting check is SKIPPED ***\n");
        return;
    }
    match Command::new(&cargo).current_dir(root).args(["fmt", "--all", "--check"]).output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let files: BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("Diff in ").map(|r| r.split(':').next().unwrap_or(r).to_string()))
                .collect();
            out.push(format!(
                "cargo fmt --check: not formatted ({}); run `cargo fmt --all`",
                files.into_iter().map(|f| rel(root, Path::new(&f))).collect::<Vec<_>>().join(", ")
            ));
        }
        Err(e) => out.push(format!("cargo fmt --check could not run: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_tidy() {
        let p = problems(&crate::root());
        assert!(p.is_empty(), "cargo xtask tidy found {} problem(s):\n{}", p.len(), p.join("\n"));
    }

    #[test]
    fn tidy_catches_what_it_claims_to() {
        let dir = std::env::temp_dir().join(format!("noether-tidy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"x\"\n[dependencies]\nserde = \"1\"\n").unwrap();
        std::fs::write(dir.join("src/lib.rs"), "pub fn f() {}\n").unwrap();
        let mut out = Vec::new();
        module_docs(&dir, &mut out);
        dependencies_used(&dir, &mut out);
        assert!(out.iter().any(|p| p.contains("src/lib.rs: no module comment")), "{out:?}");
        assert!(out.iter().any(|p| p.contains("dependency `serde` is never used")), "{out:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
