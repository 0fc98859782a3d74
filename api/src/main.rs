//! `provisioner-api --config PATH` (or env `PROVISIONER_CONFIG`): loads the config,
//! sets up logging (`RUST_LOG`, default `info`) and runs the API until SIGTERM.

use anyhow::Context;
use provisioner_shared::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: provisioner-api [--config PATH]   (or env PROVISIONER_CONFIG)";

fn config_path() -> Result<Option<PathBuf>, String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => path = Some(args.next().ok_or("--config needs a path")?.into()),
            "-h" | "--help" => return Err(String::new()),
            other => match other.strip_prefix("--config=") {
                Some(p) => path = Some(p.into()),
                None => return Err(format!("unknown argument `{other}`")),
            },
        }
    }
    Ok(path.or_else(|| std::env::var_os("PROVISIONER_CONFIG").map(PathBuf::from)))
}

fn main() -> ExitCode {
    let path = match config_path() {
        Ok(p) => p,
        Err(m) if m.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(m) => {
            eprintln!("provisioner-api: {m}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = provisioner_shared::failpoint::check_env() {
        eprintln!("provisioner-api: {e}");
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = match Config::load(path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("provisioner-api: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provisioner-api: {e:#}");
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
