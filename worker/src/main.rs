//! `provisioner-worker`: advances jobs. Run as many as you like. `healthcheck`
//! checks that a worker with this config could work (its Redis answers).

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
    /// Load the config and ask its Redis for PING: exit 0 when it answers within
    /// 5s, 1 otherwise. A probe for orchestrators (the image has no shell).
    Healthcheck,
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
    if let Some(Command::Healthcheck) = cli.command {
        return match healthcheck(&config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("provisioner-worker: healthcheck: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    cli.log.init("info");
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provisioner-worker: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Redis answers, through the same connection code a worker uses.
fn healthcheck(config: &provisioner_shared::Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let check = async {
            let store =
                provisioner_shared::Store::connect(&config.redis, config.worker.shards).await?;
            store.ping().await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), check).await {
            Ok(answer) => answer.context("redis did not answer"),
            Err(_) => anyhow::bail!("redis did not answer within 5s"),
        }
    })
}

fn run(config: provisioner_shared::Config) -> anyhow::Result<()> {
    let runtime =
        provisioner_worker::build_runtime(&config).context("building the tokio runtime")?;
    runtime.block_on(provisioner_worker::run(config))?;
    Ok(())
}
