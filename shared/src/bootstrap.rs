//! What every binary does before its own work, done once here: the common
//! arguments (clap), the config load that stops a bad start with exit 2 naming the
//! key, the `PROVISIONER_FAILPOINTS` check, the one tracing setup, shell
//! completions, and the shutdown signal.
//!
//! It lives in `shared` because every binary already depends on it (and on its
//! config and failpoints); a crate of its own would be one more manifest for a page
//! of code. Libraries never call it: the binaries' `main.rs` do.

use crate::Config;
use clap::{Args, CommandFactory, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One line of text per event (colour only on a terminal, never with `NO_COLOR`).
    #[default]
    Text,
    /// One JSON object per line, for a log collector.
    Json,
}

/// `--log-format` (env `LOG_FORMAT`), for every binary.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// How to write logs (`RUST_LOG` picks what is written).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t, global = true)]
    pub log_format: LogFormat,
}

/// `--config` (env `PROVISIONER_CONFIG`), for the binaries that read a config.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The config file (TOML); every key may also come from `PROVISIONER__SECTION__KEY`.
    #[arg(long, short = 'c', env = "PROVISIONER_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Why a binary could not start: said on stderr as `<binary>: <why>`, exit 2.
#[derive(Debug)]
pub struct StartError(pub String);

impl StartError {
    /// Prints it and gives the exit code for a bad start (2, as for a bad argument).
    pub fn exit(self, binary: &str) -> ExitCode {
        eprintln!("{binary}: {}", self.0);
        ExitCode::from(2)
    }
}

impl ConfigArgs {
    /// The failpoint spec, then the config, both checked before anything starts.
    pub fn load(&self) -> Result<Config, StartError> {
        crate::failpoint::check_env().map_err(|e| StartError(e.to_string()))?;
        Config::load(self.config.as_deref()).map_err(|e| StartError(e.to_string()))
    }
}

impl LogArgs {
    /// Sets up tracing for the process: `RUST_LOG` as the filter (else
    /// `default_filter`), text or JSON to stdout.
    pub fn init(&self, default_filter: &str) {
        use tracing_subscriber::EnvFilter;
        let filter =
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false);
        // try_init: a process that set a subscriber already (a test) keeps it.
        let _ = match self.log_format {
            LogFormat::Json => builder.json().try_init(),
            LogFormat::Text => builder.with_ansi(colour(std::io::stdout())).try_init(),
        };
    }
}

/// Colour for a terminal only, and never when `NO_COLOR` is set (no-color.org).
fn colour(stream: impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes `C`'s completion script for `shell` to stdout.
pub fn print_completions<C: CommandFactory>(shell: clap_complete::Shell) {
    use std::io::Write;
    let mut command = C::command();
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut script);
    // A closed pipe (`| head`) is the reader's choice, not a failure.
    let _ = std::io::stdout().write_all(&script);
}

/// SIGTERM (what orchestrators send) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: ConfigArgs,
        #[command(flatten)]
        log: LogArgs,
    }

    #[test]
    fn the_common_arguments_parse() {
        let cli =
            Cli::try_parse_from(["bin", "--config", "x.toml", "--log-format", "json"]).unwrap();
        assert_eq!(cli.config.config, Some(PathBuf::from("x.toml")));
        assert_eq!(cli.log.log_format, LogFormat::Json);
        let e = Cli::try_parse_from(["bin", "--log-format", "xml"])
            .err()
            .unwrap();
        assert_eq!(e.exit_code(), 2);
        Cli::command().debug_assert();
    }

    #[test]
    fn a_file_gets_no_colour() {
        let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        assert!(!colour(file));
    }
}
