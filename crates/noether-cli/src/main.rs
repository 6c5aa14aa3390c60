//! The `noether` binary: parses arguments, prints, and leaves every decision to the library
//! crates.

mod cache_cmd;
mod heap;
mod hessian_cmd;
mod plot;
mod problem_args;
mod slurm_cmd;
mod suite_cmd;
mod train_cmd;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "noether",
    version,
    about = "Conservation laws, Hessian spectra and the edge of stability: reproduce and audit arXiv 2604.07405"
)]
struct Cli {
    /// Log progress with tracing (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train one network and record loss, conserved quantities and gradient imbalance.
    Train(train_cmd::TrainArgs),
    /// Eigen-analysis of the loss Hessian: extreme eigenpairs, full spectrum, density, trace.
    Hessian(hessian_cmd::HessianArgs),
    /// List the experiments.
    List,
    /// Run one experiment (id or config file) and update the report.
    Run(suite_cmd::RunArgs),
    /// Run every experiment (or --only some) and write results/claims.json and REPORT.md.
    Suite(suite_cmd::SuiteArgs),
    /// Rebuild results/claims.json and REPORT.md from the summaries on disk.
    Report(suite_cmd::ReportArgs),
    /// Check or clean the job cache of a results directory.
    Cache(cache_cmd::CacheArgs),
    /// What a Slurm job of `noether suite --slurm` runs: one array task, or the finishing job.
    Exec(slurm_cmd::ExecArgs),
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    heap::return_large_frees_to_os();
    // Parallelism lives across runs (rayon); inside a run faer stays sequential, which also
    // makes results independent of the thread count.
    faer::set_global_parallelism(faer::Par::Seq);
    let result = match cli.command {
        Command::Train(a) => train_cmd::run(a),
        Command::Hessian(a) => hessian_cmd::run(a),
        Command::List => suite_cmd::list(),
        Command::Run(a) => suite_cmd::run(a),
        Command::Suite(a) => suite_cmd::suite(a),
        Command::Report(a) => suite_cmd::report(a),
        Command::Cache(a) => cache_cmd::run(a),
        Command::Exec(a) => slurm_cmd::exec(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}{}", cli_hint(&e));
            ExitCode::from(2)
        }
    }
}

/// Advice in the CLI's own terms for library errors that carry data but do not know the flags.
fn cli_hint(e: &anyhow::Error) -> &'static str {
    use noether_spectra::SpectraError;
    for cause in e.chain() {
        // `#[error(transparent)]` wrappers hide the inner error from `chain()`: unwrap them.
        let spectra = cause
            .downcast_ref::<SpectraError>()
            .or(match cause.downcast_ref::<noether_nn::NnError>() {
                Some(noether_nn::NnError::Spectra(s)) => Some(s),
                _ => None,
            })
            .or(match cause.downcast_ref::<noether_lab::LabError>() {
                Some(noether_lab::LabError::Spectra(s)) => Some(s),
                Some(noether_lab::LabError::Nn(noether_nn::NnError::Spectra(s))) => Some(s),
                _ => None,
            });
        if let Some(SpectraError::DenseTooLarge { .. }) = spectra {
            return " (noether hessian: --method lanczos --top K, --density, or a larger --memory-gib)";
        }
        if let Some(kind) = io_error_kind(cause) {
            use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem, StorageFull};
            if matches!(kind, StorageFull | ReadOnlyFilesystem | PermissionDenied) {
                return " (nothing finished is lost: every completed job is in the results cache; \
                         free space or pick a writable --results, then run the same command again to resume)";
            }
        }
    }
    ""
}

/// The kind of an operating-system error somewhere inside `cause` (the library errors wrap
/// them as data, not as sources).
fn io_error_kind(cause: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    use noether_io::IoError;
    use noether_lab::LabError;
    let of_io = |e: &IoError| match e {
        IoError::Io { error, .. } => Some(error.kind()),
        _ => None,
    };
    if let Some(e) = cause.downcast_ref::<std::io::Error>() {
        return Some(e.kind());
    }
    if let Some(e) = cause.downcast_ref::<IoError>() {
        return of_io(e);
    }
    match cause.downcast_ref::<LabError>()? {
        LabError::Io { error, .. } => Some(error.kind()),
        LabError::FileIo(e)
        | LabError::Train(noether_train::TrainError::Io(e))
        | LabError::Nn(noether_nn::NnError::Io(e)) => of_io(e),
        _ => None,
    }
}
