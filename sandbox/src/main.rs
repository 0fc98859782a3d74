//! `provisioner-sandbox`: the simulators and the one-command demo.

use clap::{Parser, Subcommand};
use provisioner_sandbox::demo::{self, DemoOptions};
use provisioner_shared::bootstrap::{self, LogArgs};
use std::process::ExitCode;

/// Simulated providers, and the demo of the whole stack.
#[derive(Parser)]
#[command(name = "provisioner-sandbox", version)]
struct Cli {
    #[command(flatten)]
    log: LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start Redis, the simulators, the api and a worker, provision one server at
    /// each of the four simulators at once (Klikk's through a signed billing
    /// webhook) and show their steps live (REDIS_URL is used when set).
    Demo {
        /// Virtual seconds per real second in the simulators.
        #[arg(long, default_value_t = DemoOptions::default().speed, value_parser = positive)]
        speed: f64,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

fn positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{s}` is not a positive number")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let speed = match cli.command {
        Command::Completions { shell } => {
            bootstrap::print_completions::<Cli>(shell);
            return ExitCode::SUCCESS;
        }
        Command::Demo { speed } => speed,
    };
    cli.log.init("error");
    let opts = DemoOptions {
        speed,
        ..DemoOptions::default()
    };
    match demo::run(opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::FAILURE
        }
    }
}
