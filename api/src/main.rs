//! `provisioner-api`: loads the config, sets up logging and serves the API until
//! SIGTERM or Ctrl-C; `check-config FILE` lists every problem of a config.

use anyhow::Context;
use clap::{Parser, Subcommand};
use provisioner_shared::Config;
use provisioner_shared::bootstrap::{self, ConfigArgs, LogArgs};
use std::path::PathBuf;
use std::process::ExitCode;

/// The Provisioner HTTP API (and dashboard).
#[derive(Parser)]
#[command(name = "provisioner-api", version)]
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
    /// Check a config file (with the environment's overrides) and print every
    /// problem with its key; exit 0 when there is none, 2 otherwise.
    CheckConfig { file: PathBuf },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

const BIN: &str = "provisioner-api";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Completions { shell }) => {
            bootstrap::print_completions::<Cli>(shell);
            return ExitCode::SUCCESS;
        }
        Some(Command::CheckConfig { file }) => return check_config(&file),
        None => {}
    }
    let config = match cli.config.load() {
        Ok(c) => c,
        Err(e) => return e.exit(BIN),
    };
    cli.log.init("info");
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{BIN}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::check(file) {
        Ok(_) => {
            println!("{}: ok", file.display());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                println!("{}: {}", p.key, p.message);
            }
            eprintln!(
                "{BIN}: {} has {} problem(s)",
                file.display(),
                problems.len()
            );
            ExitCode::from(2)
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(provisioner_api::run(config))?;
    Ok(())
}
