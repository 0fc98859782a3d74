//! `provisioner-api`: loads the config, sets up logging and serves the API until
//! SIGTERM or Ctrl-C; `check-config FILE` lists every problem of a config;
//! `healthcheck` asks a running api's `/healthz` (for container health checks).

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
    /// Ask the api on this host (`api.listen` of the config, or `--url`) for
    /// `/healthz`: exit 0 when it answers 200, 1 otherwise. For container health
    /// checks: the image needs no curl and no shell.
    Healthcheck {
        /// The URL to GET instead of the config's `api.listen` + `/healthz`.
        #[arg(long)]
        url: Option<String>,
    },
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
        Some(Command::Healthcheck { url }) => return healthcheck(&cli.config, url),
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

fn healthcheck(config: &ConfigArgs, url: Option<String>) -> ExitCode {
    let url = match url {
        Some(u) => u,
        None => match config.load() {
            Ok(c) => provisioner_api::probe::healthz_url(c.api.listen),
            Err(e) => {
                eprintln!("{BIN}: healthcheck: {}", e.0);
                return ExitCode::FAILURE;
            }
        },
    };
    let checked = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(provisioner_api::probe::healthcheck(&url))
                .map_err(|e| e.to_string())
        });
    match checked {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{BIN}: healthcheck: {e}");
            ExitCode::FAILURE
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
