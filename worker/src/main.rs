//! `provisioner-worker`: advances jobs. Run as many as you like.

use anyhow::Context;
use clap::{Parser, Subcommand};
use provisioner_shared::bootstrap::{self, ConfigArgs, LogArgs};
use std::process::ExitCode;

/// Advances jobs: claims due steps from Redis, calls the providers, commits.
/// Stops gracefully on SIGTERM or Ctrl-C.
#[derive(Parser)]
#[command(name = "provisioner-worker", version)]
struct Cli {
    #[command(flatten)]
    config: ConfigArgs,
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Completions { shell }) = cli.command {
        bootstrap::print_completions::<Cli>(shell);
        return ExitCode::SUCCESS;
    }
    let config = match cli.config.load() {
        Ok(c) => c,
        Err(e) => return e.exit("provisioner-worker"),
    };
    cli.log.init("info");
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provisioner-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: provisioner_shared::Config) -> anyhow::Result<()> {
    let runtime =
        provisioner_worker::build_runtime(&config).context("building the tokio runtime")?;
    runtime.block_on(provisioner_worker::run(config))?;
    Ok(())
}
