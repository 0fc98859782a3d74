//! `provisioner-sandbox simulators`: the four simulators alone, on fixed ports, and
//! a complete config pointing at them, so `provisioner-api --config FILE`,
//! `provisioner-worker --config FILE` and `provctl` can be tried by hand on
//! something better than the noop provider. Runs until Ctrl-C or SIGTERM.

use crate::stack::{self, ConfigParts, SimPorts, Sims};
use std::path::PathBuf;

/// Why the simulators could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorsError {
    #[error("{0}")]
    Redis(#[from] crate::redis_server::RedisServerError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot write the config to {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Options of the `simulators` command.
#[derive(Debug, Clone)]
pub struct SimulatorsOptions {
    /// Virtual seconds per real second.
    pub speed: f64,
    pub ports: SimPorts,
    /// The port the written config gives the api (0: a free one, picked now).
    pub api_port: u16,
    /// Where to write the config; `None` prints it.
    pub config_out: Option<PathBuf>,
}

impl Default for SimulatorsOptions {
    fn default() -> Self {
        SimulatorsOptions {
            speed: 90.0,
            ports: SimPorts::default(),
            api_port: 8080,
            config_out: None,
        }
    }
}

/// Starts Redis (`REDIS_URL`, else a private `redis-server` kept while this runs),
/// the simulators, writes the config and waits for Ctrl-C.
pub async fn run(opts: SimulatorsOptions) -> Result<(), SimulatorsError> {
    let (_redis, redis_url) = stack::redis()?;
    let sims = Sims::start(opts.speed, opts.ports).await?;
    sims.print(opts.speed);

    let api_port = match opts.api_port {
        0 => std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port(),
        port => port,
    };
    let listen = format!("127.0.0.1:{api_port}");
    let api_url = format!("http://{listen}");
    let token = stack::generate_token();
    let webhook_secret = stack::generate_webhook_secret();
    let namespace = stack::fresh_namespace("sandbox");
    let parts = ConfigParts {
        redis_url: &redis_url,
        namespace: &namespace,
        token: &token,
        webhook_secret: &webhook_secret,
        listen: &listen,
        public_url: &api_url,
    };
    let text = stack::config_text(&parts, &sims);
    let path = match &opts.config_out {
        Some(path) => {
            write_private(path, &text).map_err(|source| SimulatorsError::Write {
                path: path.clone(),
                source,
            })?;
            println!(
                "config      {} (accounts hk-nl, klikk, inferno, idc)",
                path.display()
            );
            path.display().to_string()
        }
        None => {
            println!("config      (pass --config-out FILE to write it to a file)\n{text}");
            "FILE".to_owned()
        }
    };
    println!("api token   {token}");
    println!("next        provisioner-api --config {path}");
    println!("            provisioner-worker --config {path}");
    println!(
        "            PROVISIONER_URL={api_url} PROVISIONER_TOKEN={token} provctl status --watch"
    );
    println!("dashboard   {api_url}/ui#token={token}");
    println!("ready       Ctrl-C stops the simulators");

    provisioner_shared::bootstrap::shutdown_signal().await;
    sims.shutdown().await;
    println!("stopped");
    Ok(())
}

/// The config holds the secrets key and the token: readable by its owner only.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}
