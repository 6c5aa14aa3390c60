//! `noether hessian`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use noether_nn::spectrum::{EigenMethod, SpectrumReport, SpectrumRequest, analyse};
use noether_nn::{Evaluator, HessianKind, HessianOperator, Real};
use noether_spectra::{MemoryBudget, SlqOptions};
use noether_train::run::{Precision, ValidatedRun, build_problem};

use crate::problem_args::ProblemArgs;

#[derive(Args, Debug)]
pub struct HessianArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,
    /// Weights to analyse (e.g. a run's final.npz); same as --init.
    #[arg(long, value_name = "FILE.npz")]
    pub params: Option<PathBuf>,
    /// Number of largest eigenvalues (descending).
    #[arg(long, default_value_t = 0)]
    pub top: usize,
    /// Number of smallest eigenvalues (ascending).
    #[arg(long, default_value_t = 0)]
    pub bottom: usize,
    /// All P eigenvalues (dense Hessian; small networks only).
    #[arg(long)]
    pub full: bool,
    /// Spectral density by stochastic Lanczos quadrature.
    #[arg(long)]
    pub density: bool,
    /// Hutchinson estimate of tr(H).
    #[arg(long)]
    pub trace: bool,
    /// Probe vectors for --density and --trace.
    #[arg(long, default_value_t = 10)]
    pub probes: usize,
    /// Lanczos steps per probe for --density.
    #[arg(long, default_value_t = 80)]
    pub steps: usize,
    /// Method for --top/--bottom: lanczos | power | dense.
    #[arg(long, default_value = "lanczos")]
    pub method: String,
    /// Power iteration with exactly N iterations (the reference's semantics).
    #[arg(long, value_name = "N")]
    pub power_iters: Option<usize>,
    /// Relative residual tolerance.
    #[arg(long, default_value_t = 1e-10)]
    pub tol: f64,
    /// Maximum Lanczos steps / power iterations.
    #[arg(long)]
    pub max_iter: Option<usize>,
    /// Gauss–Newton matrix instead of the full Hessian.
    #[arg(long)]
    pub gauss_newton: bool,
    /// Memory budget for a dense Hessian, in GiB.
    #[arg(long, default_value_t = 2.0)]
    pub memory_gib: f64,
    /// Output JSON file.
    #[arg(long, default_value = "hessian.json")]
    pub out: PathBuf,
    /// Also draw the density (with --density) as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

pub fn run(a: HessianArgs) -> Result<()> {
    let cfg = a.problem.config_with_weights(a.params.as_deref())?;
    let run = cfg.validate()?;
    if a.top + a.bottom == 0 && !a.full && !a.density && !a.trace {
        bail!("nothing to compute: ask for --top K, --bottom K, --full, --density or --trace");
    }
    if !(a.tol.is_finite() && a.tol > 0.0) {
        bail!("--tol must be a positive number, got {}", a.tol);
    }
    if a.plot.is_some() && !a.density {
        bail!("--plot draws the spectral density: add --density");
    }
    let req = SpectrumRequest {
        top: a.top,
        bottom: a.bottom,
        full: a.full,
        density: a.density.then(|| SlqOptions {
            probes: a.probes,
            steps: a.steps,
            seed: cfg.seed,
            ..SlqOptions::default()
        }),
        trace_probes: a.trace.then_some(a.probes),
        method: EigenMethod::parse(&a.method)?,
        tol: a.tol,
        max_iter: a.max_iter,
        power_iters: a.power_iters,
        seed: cfg.seed,
        budget: MemoryBudget::from_gib(a.memory_gib),
    };
    let kind = if a.gauss_newton { HessianKind::GaussNewton } else { HessianKind::Full };
    let report = match run.precision {
        Precision::F32 => analyse_in::<f32>(&run, kind, &req)?,
        Precision::F64 => analyse_in::<f64>(&run, kind, &req)?,
    };
    let json = serde_json::to_vec_pretty(&report)?;
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    noether_io::write_atomic(&a.out, &json)?;
    if let (Some(path), Some(d)) = (&a.plot, &report.density) {
        crate::plot::density_svg(
            path,
            &d.grid,
            &d.density,
            &format!("Hessian spectral density (P = {}, {} probes)", report.n_params, d.probes),
        )?;
    }
    print_summary(&report, &a.out);
    Ok(())
}

fn analyse_in<T: Real>(run: &ValidatedRun, kind: HessianKind, req: &SpectrumRequest) -> Result<SpectrumReport> {
    let problem = build_problem::<T>(run)?;
    let eval = Evaluator::new(&problem.net, run.loss, &problem.data)?;
    let op = HessianOperator::new(eval, problem.params, kind);
    Ok(analyse(op, req)?)
}

fn print_summary(r: &SpectrumReport, out: &Path) {
    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.6e}")).collect::<Vec<_>>().join(", ");
    if let Some(t) = &r.top {
        println!("top    [{}]  converged {:?}", fmt(&t.values), t.converged);
    }
    if let Some(b) = &r.bottom {
        println!("bottom [{}]  converged {:?}", fmt(&b.values), b.converged);
    }
    if let Some(f) = &r.full {
        println!("full spectrum: {} eigenvalues in [{:.6e}, {:.6e}]", f.len(), f[0], f[f.len() - 1]);
    }
    if let Some(d) = &r.density {
        println!(
            "density: {} probes × {} steps, ∫ = {:.6}, tr(H)/P ≈ {:.4e} ± {:.1e}",
            d.probes, d.steps, d.integral, d.mean_eigenvalue, d.mean_eigenvalue_se
        );
    }
    if let Some(t) = &r.trace {
        println!("trace ≈ {:.6e} ± {:.1e} ({} probes)", t.estimate, t.std_error, t.probes);
    }
    println!("{} products, {:.3} s -> {}", r.products, r.wall_seconds, out.display());
}
