//! `provisioner-sandbox demo`: the whole stack on one machine, in one process.
//!
//! Starts Redis (`REDIS_URL`, else a private `redis-server`), the four provider
//! simulators, the api and a worker; provisions one server at each provider at once
//! (HOSTKEY with a PXE reinstall, Inferno and IDCloudHost through `POST /v1/jobs`,
//! Klikk started by a signed billing webhook), and prints every step as it changes
//! until all four jobs end.

use crate::hostkey::{HostkeyEvent, HostkeyOptions, HostkeySim};
use crate::idcloudhost::{IdcloudhostEvent, IdcloudhostOptions, IdcloudhostSim};
use crate::inferno::{InfernoEvent, InfernoOptions, InfernoSim};
use crate::klikk::{KlikkEvent, KlikkOptions, KlikkSim};
use crate::redis_server::RedisServer;
use provisioner_shared::Config;
use provisioner_shared::secret::Sealer;
use provisioner_shared::webhook::WebhookKey;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::BTreeMap;
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
const WEBHOOK_SECRET: &str = "whsec_ZGVtby13ZWJob29rLXNlY3JldC0xMjM0NTY3ODkw";

/// The four simulators of the demo.
struct Sims {
    hostkey: HostkeySim,
    klikk: KlikkSim,
    inferno: InfernoSim,
    idc: IdcloudhostSim,
}

impl Sims {
    async fn start(speed: f64) -> std::io::Result<Sims> {
        Ok(Sims {
            hostkey: HostkeySim::start(HostkeyOptions {
                time_factor: speed,
                ..HostkeyOptions::default()
            })
            .await?,
            klikk: KlikkSim::start(KlikkOptions {
                time_factor: speed,
                ..KlikkOptions::default()
            })
            .await?,
            inferno: InfernoSim::start(InfernoOptions {
                time_factor: speed,
                ..InfernoOptions::default()
            })
            .await?,
            idc: IdcloudhostSim::start(IdcloudhostOptions {
                time_factor: speed,
                ..IdcloudhostOptions::default()
            })
            .await?,
        })
    }

    async fn shutdown(self) {
        self.hostkey.shutdown().await;
        self.klikk.shutdown().await;
        self.inferno.shutdown().await;
        self.idc.shutdown().await;
    }
}

fn config_text(redis_url: &str, namespace: &str, sims: &Sims) -> String {
    let key = Sealer::generate_key();
    format!(
        r#"
[redis]
url = "{redis_url}"
namespace = "{namespace}"

[api]
listen = "127.0.0.1:0"
tokens = ["{TOKEN}"]
webhook_secret = "{WEBHOOK_SECRET}"

[worker]
concurrency = 16
lease = "30s"
step_timeout = "10s"

[polling]
initial = "500ms"
max = "2s"
payment = "2s"

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

[[accounts]]
name = "klikk"
provider = "klikk"
base_url = "{klikk_url}"
token = "{klikk_token}"

[[accounts]]
name = "inferno"
provider = "inferno"
base_url = "{inferno_url}"
client_id = {inferno_cid}
api_key = "{inferno_key}"

[[accounts]]
name = "idc"
provider = "idcloudhost"
base_url = "{idc_url}"
api_key = "{idc_key}"
billing_account_id = {idc_ba}
pay_invoices = true

[plans.vps-small]
account = "klikk"
order = {{ ram_gb = 1, cpu = 1, storage_gb = 25, os = "Debian", os_version = "12", ip_allow = "0.0.0.0/0" }}
"#,
        key = key.expose_secret(),
        hk_url = sims.hostkey.base_url(),
        hk_key = sims.hostkey.api_key(),
        hk_pin = sims.hostkey.pin(),
        klikk_url = sims.klikk.endpoint(),
        klikk_token = sims.klikk.token(),
        inferno_url = sims.inferno.base_url(),
        inferno_cid = sims.inferno.client_id(),
        inferno_key = sims.inferno.api_key(),
        idc_url = sims.idc.base_url(),
        idc_key = sims.idc.api_key(),
        idc_ba = sims.idc.billing_account_id(),
    )
}

/// Runs the demo; prints as it goes. Succeeds when every job succeeds.
pub async fn run(opts: DemoOptions) -> Result<(), DemoError> {
    let started = Instant::now();
    // Keep the private Redis alive for the whole demo (it is killed on drop).
    let (_redis, redis_url) = match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            println!("redis       {url} (from REDIS_URL)");
            (None, url)
        }
        _ => {
            let server = RedisServer::start()?;
            let url = server.url();
            println!("redis       {url} (a private redis-server, removed at exit)");
            (Some(server), url)
        }
    };
    let namespace = format!("demo-{}", ulid::Ulid::new().to_string().to_lowercase());

    let sims = Sims::start(opts.speed).await?;
    println!(
        "simulators  hostkey {}  klikk {}",
        sims.hostkey.base_url(),
        sims.klikk.base_url()
    );
    println!(
        "            inferno {}  idcloudhost {}  ({}× time)",
        sims.inferno.base_url(),
        sims.idc.base_url(),
        opts.speed
    );

    let mut config = Config::from_toml(&config_text(&redis_url, &namespace, &sims))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", listener.local_addr()?);
    // Providers reach the api here: HOSTKEY's callbacks, Klikk's cloud-init document.
    config.api.public_url = api_url.parse().ok();
    let (stop_api, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = tokio::spawn(provisioner_api::serve(
        config.clone(),
        listener,
        async move {
            let _ = api_stopped.await;
        },
    ));
    println!("api         {api_url}");
    let worker = provisioner_worker::start(config.clone()).await?;
    println!("worker      concurrency {}\n", config.worker.concurrency);

    let result = provision_all(&api_url, &sims, &opts, started).await;

    worker.shutdown().await?;
    let _ = stop_api.send(());
    let _ = api.await;
    sims.shutdown().await;
    result
}

async fn post_job(http: &reqwest::Client, api_url: &str, body: Value) -> Result<String, DemoError> {
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
            "the api refused a job ({status}): {job}"
        )));
    }
    Ok(job["id"].as_str().unwrap_or_default().to_owned())
}

/// Sends a `service.created` billing event, signed the Standard Webhooks way.
async fn billing_webhook(http: &reqwest::Client, api_url: &str) -> Result<String, DemoError> {
    let body = json!({"type": "service.created", "data": {
        "service_id": "1234", "plan": "vps-small", "hostname": "k1.example.com",
        "root_password": "Wh1cs-Gen3rated!pw",
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOnly ops@example.com"]
    }})
    .to_string();
    let key = WebhookKey::parse(WEBHOOK_SECRET).map_err(|e| DemoError::Failed(e.to_string()))?;
    let id = format!("msg_{}", ulid::Ulid::new());
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let res = http
        .post(format!("{api_url}/v1/webhooks/billing"))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", key.sign(&id, ts, body.as_bytes()))
        .body(body)
        .send()
        .await?;
    let status = res.status();
    let answer: Value = res.json().await?;
    let job = answer["jobs"][0].as_str().map(str::to_owned);
    match job {
        Some(id) if status.is_success() => Ok(id),
        _ => Err(DemoError::Failed(format!(
            "the billing webhook was refused ({status}): {answer}"
        ))),
    }
}

async fn provision_all(
    api_url: &str,
    sims: &Sims,
    opts: &DemoOptions,
    started: Instant,
) -> Result<(), DemoError> {
    let http = reqwest::Client::new();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOnly ops@example.com";
    let mut jobs: Vec<(&str, String)> = Vec::new();
    println!("POST /v1/jobs              hostkey      web-1.example.com, PXE reinstall to os 183");
    jobs.push(("hostkey", post_job(&http, api_url, json!({
        "kind": "provision", "account": "hk-nl", "reference": "whmcs-service-1001",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "web-1.example.com", "root_password": "S3cure!pass", "ssh_keys": [key],
        "reinstall": {"os_id": 183}
    })).await?));
    println!(
        "POST /v1/webhooks/billing  klikk        service.created 1234, plan vps-small (signed)"
    );
    jobs.push(("klikk", billing_webhook(&http, api_url).await?));
    println!("POST /v1/jobs              inferno      i1.example.com");
    jobs.push((
        "inferno",
        post_job(
            &http,
            api_url,
            json!({
                "kind": "provision", "account": "inferno", "reference": "whmcs-service-1003",
                "order": {"product_id": 303, "os_template": "debian12-64-default"},
                "hostname": "i1.example.com", "ssh_keys": [key]
            }),
        )
        .await?,
    ));
    println!("POST /v1/jobs              idcloudhost  d1.example.com");
    jobs.push(("idcloudhost", post_job(&http, api_url, json!({
        "kind": "provision", "account": "idc", "reference": "whmcs-service-1004",
        "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 2, "ram_mb": 2048, "disk_gb": 20},
        "hostname": "d1.example.com", "root_password": "S3cure!pass", "ssh_keys": [key]
    })).await?));
    println!(
        "\n{:>7}  {:<12} {:<16} {:<9} detail",
        "time", "provider", "step", "state"
    );

    let mut seen: BTreeMap<(usize, String), (String, String)> = BTreeMap::new();
    let mut finals: Vec<Option<Value>> = vec![None; jobs.len()];
    let deadline = Instant::now() + opts.timeout;
    while finals.iter().any(Option::is_none) {
        for (i, (provider, id)) in jobs.iter().enumerate() {
            if finals[i].is_some() {
                continue;
            }
            let job: Value = http
                .get(format!("{api_url}/v1/jobs/{id}"))
                .bearer_auth(TOKEN)
                .send()
                .await?
                .json()
                .await?;
            for step in job["steps"].as_array().into_iter().flatten() {
                let name = step["name"].as_str().unwrap_or("").to_owned();
                let row = (
                    step["state"].as_str().unwrap_or("").to_owned(),
                    step["detail"].as_str().unwrap_or("").to_owned(),
                );
                if row.0 == "pending" || seen.get(&(i, name.clone())) == Some(&row) {
                    continue;
                }
                println!(
                    "{:>6.1}s  {:<12} {:<16} {:<9} {}",
                    started.elapsed().as_secs_f64(),
                    provider,
                    name,
                    row.0,
                    row.1
                );
                seen.insert((i, name), row);
            }
            if matches!(
                job["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled" | "needs_attention")
            ) {
                finals[i] = Some(job);
            }
        }
        if Instant::now() > deadline {
            return Err(DemoError::Failed(format!(
                "the jobs did not finish within {:?}",
                opts.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    println!();
    let ledgers = ledger_lines(sims);
    let mut failed = vec![];
    for ((provider, id), job) in jobs.iter().zip(finals.into_iter().flatten()) {
        let state = job["state"].as_str().unwrap_or("");
        println!(
            "{provider:<12} {state:<10} server {:<40} {:<16} {}",
            job["server"]["id"].as_str().unwrap_or("-"),
            job["server"]["ipv4"].as_str().unwrap_or("-"),
            ledgers.get(provider).map(String::as_str).unwrap_or("")
        );
        if state != "succeeded" {
            failed.push(format!(
                "{provider} job {id} ended {state}: {}",
                job["error"]
            ));
        }
    }
    if let Some(s) = hostkey_server(sims, "web-1.example.com") {
        println!(
            "hostkey      PXE config {}, boots from {:?}",
            if s.pxe_config {
                "still present"
            } else {
                "cleared"
            },
            s.boot_device
        );
    }
    println!("took         {:.1}s", started.elapsed().as_secs_f64());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(DemoError::Failed(failed.join("; ")))
    }
}

fn hostkey_server(sims: &Sims, hostname: &str) -> Option<crate::hostkey::ServerSnapshot> {
    sims.hostkey
        .servers()
        .into_iter()
        .find(|s| s.hostname == hostname)
}

/// One line per simulator: what its ledger says was ordered and paid.
fn ledger_lines(sims: &Sims) -> BTreeMap<&'static str, String> {
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let hk = sims.hostkey.ledger().events();
    let kl = sims.klikk.ledger().events();
    let inf = sims.inferno.ledger().events();
    let idc = sims.idc.ledger().events();
    BTreeMap::from([
        (
            "hostkey",
            format!(
                "ledger: {}, {}",
                count(
                    hk.iter()
                        .filter(|e| matches!(e, HostkeyEvent::Order { .. }))
                        .count(),
                    "order"
                ),
                count(
                    hk.iter()
                        .filter(|e| matches!(e, HostkeyEvent::Payment { .. }))
                        .count(),
                    "payment"
                )
            ),
        ),
        (
            "klikk",
            format!(
                "ledger: {}",
                count(
                    kl.iter()
                        .filter(|e| matches!(e, KlikkEvent::Order { .. }))
                        .count(),
                    "order"
                )
            ),
        ),
        (
            "inferno",
            format!(
                "ledger: {}",
                count(
                    inf.iter()
                        .filter(|e| matches!(e, InfernoEvent::Order { .. }))
                        .count(),
                    "order"
                )
            ),
        ),
        (
            "idcloudhost",
            format!(
                "ledger: {}, {}",
                count(
                    idc.iter()
                        .filter(|e| matches!(e, IdcloudhostEvent::VmCreated { .. }))
                        .count(),
                    "VM"
                ),
                count(
                    idc.iter()
                        .filter(|e| matches!(e, IdcloudhostEvent::Payment { .. }))
                        .count(),
                    "payment"
                )
            ),
        ),
    ])
}
