//! `provisioner-worker`: advances jobs. Run as many as you like.

use anyhow::Context;
use provisioner_shared::Config;
use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let config_path = config_path()?;
    if let Err(e) = provisioner_shared::failpoint::check_env() {
        eprintln!("provisioner-worker: {e}");
        std::process::exit(2);
    }
    let config = match Config::load(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("provisioner-worker: {e}");
            std::process::exit(2);
        }
    };
    init_tracing();
    let runtime =
        provisioner_worker::build_runtime(&config).context("building the tokio runtime")?;
    runtime.block_on(provisioner_worker::run(config))?;
    Ok(())
}

fn config_path() -> anyhow::Result<Option<PathBuf>> {
    let mut args = std::env::args().skip(1);
    let mut path = std::env::var_os("PROVISIONER_CONFIG").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => path = Some(args.next().context("--config needs a path")?.into()),
            "--help" | "-h" => {
                println!("usage: provisioner-worker [--config PATH]   (or env PROVISIONER_CONFIG)");
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument `{other}` (try --help)"),
        }
    }
    Ok(path)
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}
