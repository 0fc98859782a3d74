//! `provisioner-sandbox demo`: the whole stack on one machine, in one process.
//!
//! Starts Redis (`REDIS_URL`, else a private `redis-server`), the provider simulators,
//! the api and a worker; enqueues a HOSTKEY provision with a PXE reinstall through the
//! HTTP API, and prints each step as it changes until the job ends.

use crate::hostkey::{HostkeyEvent, HostkeyOptions, HostkeySim};
use crate::redis_server::RedisServer;
use provisioner_shared::Config;
use provisioner_shared::secret::Sealer;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Redis(#[from] crate::redis_server::RedisServerError),
    #[error("simulator: {0}")]
    Io(#[from] std::io::Error),
    #[error("config: {0}")]
    Config(#[from] provisioner_shared::config::ConfigError),
    #[error("worker: {0}")]
    Worker(#[from] provisioner_worker::WorkerError),
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Failed(String),
}

/// Options of the demo.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Virtual seconds per real second in the simulators.
    pub speed: f64,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            speed: 90.0,
            timeout: Duration::from_secs(120),
        }
    }
}

const TOKEN: &str = "demo-token";

fn config_text(redis_url: &str, namespace: &str, hostkey: &HostkeySim) -> String {
    let key = Sealer::generate_key();
    format!(
        r#"
[redis]
url = "{redis_url}"
namespace = "{namespace}"

[api]
listen = "127.0.0.1:0"
tokens = ["{TOKEN}"]

[worker]
concurrency = 16
lease = "30s"
step_timeout = "10s"

[polling]
initial = "500ms"
max = "2s"

[retry]
base = "200ms"
max = "5s"

[secrets]
key = "{key}"

[callbacks]
allow_private = true

[[accounts]]
name = "hk-nl"
provider = "hostkey"
base_url = "{hk_url}"
api_key = "{hk_key}"
pin = "{hk_pin}"
"#,
        key = key.expose_secret(),
        hk_url = hostkey.base_url(),
        hk_key = hostkey.api_key(),
        hk_pin = hostkey.pin(),
    )
}

/// Runs the demo; prints as it goes. Succeeds when the job succeeds.
pub async fn run(opts: DemoOptions) -> Result<(), DemoError> {
    let started = Instant::now();
    // Keep the private Redis alive for the whole demo (it is killed on drop).
    let (_redis, redis_url) = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            println!("redis      {url} (from REDIS_URL)");
            (None, url)
        }
        _ => {
            let server = RedisServer::start()?;
            let url = server.url();
            println!("redis      {url} (a private redis-server, removed at exit)");
            (Some(server), url)
        }
    };
    let namespace = format!("demo-{}", ulid::Ulid::new().to_string().to_lowercase());

    let hostkey = HostkeySim::start(HostkeyOptions {
        time_factor: opts.speed,
        ..HostkeyOptions::default()
    })
    .await?;
    println!(
        "hostkey    {} (simulator, {}× time)",
        hostkey.base_url(),
        opts.speed
    );

    let config = Config::from_toml_with_env(&config_text(&redis_url, &namespace, &hostkey), &[])?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(provisioner_api::serve(
        config.clone(),
        listener,
        async move {
            let _ = api_stopped.await;
        },
    ));
    println!("api        {api_url}");
    let worker = provisioner_worker::start(config.clone()).await?;
    println!("worker     concurrency {}\n", config.worker.concurrency);

    let result = provision(&api_url, &hostkey, &opts, started).await;

    worker.shutdown().await?;
    let _ = stop_api.send(());
    let _ = api.await;
    hostkey.shutdown().await;
    result
}

async fn provision(
    api_url: &str,
    hostkey: &HostkeySim,
    opts: &DemoOptions,
    started: Instant,
) -> Result<(), DemoError> {
    let http = reqwest::Client::new();
    let body = json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": "whmcs-service-1234",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "web-1.example.com",
        "root_password": "S3cure!pass",
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOnly ops@example.com"],
        "reinstall": {"os_id": 183}
    });
    println!("POST /v1/jobs  HOSTKEY provision of web-1.example.com with a PXE reinstall (os 183)");
    let res = http
        .post(format!("{api_url}/v1/jobs"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await?;
    let status = res.status();
    let job: Value = res.json().await?;
    if !status.is_success() {
        return Err(DemoError::Failed(format!(
            "the api refused the job ({status}): {job}"
        )));
    }
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    println!("job {id} accepted ({status})\n");
    println!("{:>7}  {:<15} {:<9} detail", "time", "step", "state");

    let mut seen: Vec<(String, String, String)> = Vec::new();
    let deadline = Instant::now() + opts.timeout;
    let job = loop {
        let job: Value = http
            .get(format!("{api_url}/v1/jobs/{id}"))
            .bearer_auth(TOKEN)
            .send()
            .await?
            .json()
            .await?;
        for step in job["steps"].as_array().into_iter().flatten() {
            let row = (
                step["name"].as_str().unwrap_or("").to_owned(),
                step["state"].as_str().unwrap_or("").to_owned(),
                step["detail"].as_str().unwrap_or("").to_owned(),
            );
            if row.1 == "pending" || seen.contains(&row) {
                continue;
            }
            println!(
                "{:>6.1}s  {:<15} {:<9} {}",
                started.elapsed().as_secs_f64(),
                row.0,
                row.1,
                row.2
            );
            seen.retain(|r| r.0 != row.0);
            seen.push(row);
        }
        let state = job["state"].as_str().unwrap_or("");
        if matches!(
            state,
            "succeeded" | "failed" | "cancelled" | "needs_attention"
        ) {
            break job;
        }
        if Instant::now() > deadline {
            return Err(DemoError::Failed(format!(
                "job {id} did not finish within {:?}",
                opts.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let events = hostkey.ledger().events();
    let orders = events
        .iter()
        .filter(|e| matches!(e, HostkeyEvent::Order { .. }))
        .count();
    let payments = events
        .iter()
        .filter(|e| matches!(e, HostkeyEvent::Payment { .. }))
        .count();
    println!("\njob {id}: {}", job["state"].as_str().unwrap_or(""));
    println!(
        "server     {} at {}",
        job["server"]["id"].as_str().unwrap_or("-"),
        job["server"]["ipv4"].as_str().unwrap_or("-")
    );
    let server = job["server"]["id"]
        .as_str()
        .and_then(|s| s.parse::<u64>().ok())
        .and_then(|id| hostkey.server(id));
    println!("ledger     {orders} order, {payments} payment (HOSTKEY simulator)");
    if let Some(s) = &server {
        println!(
            "machine    PXE config {}, boots from {:?}",
            if s.pxe_config {
                "still present"
            } else {
                "cleared"
            },
            s.boot_device
        );
    }
    println!("took       {:.1}s", started.elapsed().as_secs_f64());
    if job["state"] != "succeeded" {
        return Err(DemoError::Failed(format!(
            "job ended {}: {}",
            job["state"], job["error"]
        )));
    }
    Ok(())
}
