//! `provisioner-sandbox`: the simulators and the one-command demo.

use clap::{Args, Parser, Subcommand};
use provisioner_sandbox::demo::{self, DemoOptions};
use provisioner_sandbox::simulators::{self, SimulatorsOptions};
use provisioner_sandbox::stack::SimPorts;
use provisioner_shared::bootstrap::{self, LogArgs};
use std::io::IsTerminal;
use std::path::PathBuf;
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
    /// webhook) and show their steps live (REDIS_URL is used when set). Prints the
    /// dashboard's URL, `/metrics` and a `provctl` line; on a terminal the stack
    /// stays up after the jobs until Ctrl-C.
    Demo {
        /// Virtual seconds per real second in the simulators.
        #[arg(long, default_value_t = DemoOptions::default().speed, value_parser = positive)]
        speed: f64,
        /// The api's port (0: any free one; a taken port falls back to a free one).
        #[arg(long, default_value_t = DemoOptions::default().api_port)]
        port: u16,
        #[command(flatten)]
        sims: SimPortArgs,
        /// End as soon as the jobs end (the default when stdout is not a terminal).
        #[arg(long)]
        exit: bool,
    },
    /// Run the four simulators alone, on fixed ports, and write a config whose
    /// accounts point at them (`provisioner-api --config FILE` and
    /// `provisioner-worker --config FILE` take it as it is); runs until Ctrl-C.
    Simulators {
        /// Virtual seconds per real second in the simulators.
        #[arg(long, default_value_t = SimulatorsOptions::default().speed, value_parser = positive)]
        speed: f64,
        #[command(flatten)]
        sims: SimPortArgs,
        /// The api's port in the written config (0: a free one, picked now).
        #[arg(long, default_value_t = SimulatorsOptions::default().api_port)]
        api_port: u16,
        /// Write the config here (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        config_out: Option<PathBuf>,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

/// Each simulator's port (0: any free one; a taken port falls back to a free one).
#[derive(Args)]
struct SimPortArgs {
    /// The HOSTKEY simulator's port.
    #[arg(long, default_value_t = SimPorts::default().hostkey)]
    hostkey_port: u16,
    /// The Klikk simulator's port.
    #[arg(long, default_value_t = SimPorts::default().klikk)]
    klikk_port: u16,
    /// The Inferno simulator's port.
    #[arg(long, default_value_t = SimPorts::default().inferno)]
    inferno_port: u16,
    /// The IDCloudHost simulator's port.
    #[arg(long, default_value_t = SimPorts::default().idcloudhost)]
    idcloudhost_port: u16,
}

impl SimPortArgs {
    fn ports(&self) -> SimPorts {
        SimPorts {
            hostkey: self.hostkey_port,
            klikk: self.klikk_port,
            inferno: self.inferno_port,
            idcloudhost: self.idcloudhost_port,
        }
    }
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
    match cli.command {
        Command::Completions { shell } => {
            bootstrap::print_completions::<Cli>(shell);
            ExitCode::SUCCESS
        }
        Command::Demo {
            speed,
            port,
            sims,
            exit,
        } => {
            cli.log.init("error");
            let opts = DemoOptions {
                speed,
                api_port: port,
                sim_ports: sims.ports(),
                stay: !exit && std::io::stdout().is_terminal(),
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
        Command::Simulators {
            speed,
            sims,
            api_port,
            config_out,
        } => {
            cli.log.init("error");
            let opts = SimulatorsOptions {
                speed,
                ports: sims.ports(),
                api_port,
                config_out,
            };
            match simulators::run(opts).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("provisioner-sandbox simulators: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
