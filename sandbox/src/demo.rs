//! `provisioner-sandbox demo`: the whole stack on one machine, in one process.
//!
//! Starts Redis (`REDIS_URL`, else a private `redis-server`), the four provider
//! simulators, the api and a worker; provisions one server at each provider at once
//! (HOSTKEY with a PXE reinstall, Inferno and IDCloudHost through `POST /v1/jobs`,
//! Klikk started by a signed billing webhook), and prints every step as it changes
//! until all four jobs end. Before the jobs start it prints the dashboard's URL
//! (the token in its fragment), `/metrics` and a `provctl` line; with `stay` the
//! stack then stays up until Ctrl-C.

use crate::hostkey::HostkeyEvent;
use crate::idcloudhost::IdcloudhostEvent;
use crate::inferno::InfernoEvent;
use crate::klikk::KlikkEvent;
use crate::stack::{self, ConfigParts, SimPorts, Sims};
use provisioner_shared::Config;
use provisioner_shared::webhook::WebhookKey;
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
    /// The api's port (0: any free one; a taken one falls back to a free one).
    pub api_port: u16,
    /// The simulators' ports (same fallback).
    pub sim_ports: SimPorts,
    /// After the jobs end, keep the stack up until Ctrl-C (or SIGTERM), so the
    /// dashboard, `provctl` and `/metrics` can be tried on what it did.
    pub stay: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            speed: 90.0,
            timeout: Duration::from_secs(120),
            api_port: 8080,
            sim_ports: SimPorts::default(),
            stay: false,
        }
    }
}

const WEBHOOK_SECRET: &str = "whsec_ZGVtby13ZWJob29rLXNlY3JldC0xMjM0NTY3ODkw";

/// Runs the demo; prints as it goes. Succeeds when every job succeeds. Ctrl-C or
/// SIGTERM at any point stops it, and the private Redis with it (dropped here).
pub async fn run(opts: DemoOptions) -> Result<(), DemoError> {
    tokio::select! {
        result = run_until_done(opts) => result,
        () = provisioner_shared::bootstrap::shutdown_signal() => {
            println!("\nstopped     (Ctrl-C or SIGTERM)");
            Ok(())
        }
    }
}

async fn run_until_done(opts: DemoOptions) -> Result<(), DemoError> {
    let started = Instant::now();
    // Keep the private Redis alive for the whole demo (it is killed on drop).
    let (_redis, redis_url) = stack::redis()?;
    let namespace = stack::fresh_namespace("demo");

    let sims = Sims::start(opts.speed, opts.sim_ports).await?;
    sims.print(opts.speed);

    let listener = stack::bind_or_free(opts.api_port, "the api").await?;
    let listen = listener.local_addr()?.to_string();
    let api_url = format!("http://{listen}");
    let token = stack::generate_token();
    let parts = ConfigParts {
        redis_url: &redis_url,
        namespace: &namespace,
        token: &token,
        webhook_secret: WEBHOOK_SECRET,
        listen: &listen,
        // Providers reach the api here: HOSTKEY's callbacks, Klikk's cloud-init document.
        public_url: &api_url,
    };
    let mut config = Config::from_toml(&stack::config_text(&parts, &sims))?;
    // A short sweep, so the drift report shows the VM planted after the jobs.
    config.drift.interval = Duration::from_secs(2);
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
    println!("worker      concurrency {}", config.worker.concurrency);
    print_try_lines(&api_url, &token);
    println!();

    let mut result = provision_all(&api_url, &token, &sims, &opts, started).await;
    if result.is_ok()
        && let Err(e) = drift_report(&api_url, &token, &sims).await
    {
        result = Err(e);
    }

    if opts.stay {
        println!();
        if let Ok(ids) = &result
            && let Some(id) = ids.first()
        {
            println!(
                "watch       PROVISIONER_URL={api_url} PROVISIONER_TOKEN={token} provctl watch {id}"
            );
        }
        print_try_lines(&api_url, &token);
        println!("still up    until Ctrl-C (`--exit` ends the demo with its jobs)");
        provisioner_shared::bootstrap::shutdown_signal().await;
        println!("stopped     (Ctrl-C or SIGTERM)");
    }

    worker.shutdown().await?;
    let _ = stop_api.send(());
    let _ = api.await;
    sims.shutdown().await;
    result.map(|_| ())
}

/// Where a newcomer goes next: the dashboard (logged in by the URL's fragment,
/// which never reaches a server log), `/metrics` and `provctl`.
fn print_try_lines(api_url: &str, token: &str) {
    println!("dashboard   {api_url}/ui#token={token}");
    println!("metrics     {api_url}/metrics");
    println!(
        "provctl     PROVISIONER_URL={api_url} PROVISIONER_TOKEN={token} provctl status --watch"
    );
}

async fn post_job(
    http: &reqwest::Client,
    api_url: &str,
    token: &str,
    body: Value,
) -> Result<String, DemoError> {
    let res = http
        .post(format!("{api_url}/v1/jobs"))
        .bearer_auth(token)
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

/// Provisions one server at each simulator and shows their steps; answers the
/// jobs' ids.
async fn provision_all(
    api_url: &str,
    token: &str,
    sims: &Sims,
    opts: &DemoOptions,
    started: Instant,
) -> Result<Vec<String>, DemoError> {
    let http = reqwest::Client::new();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOnly ops@example.com";
    let mut jobs: Vec<(&str, String)> = Vec::new();
    println!("POST /v1/jobs              hostkey      web-1.example.com, PXE reinstall to os 183");
    jobs.push(("hostkey", post_job(&http, api_url, token, json!({
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
            token,
            json!({
                "kind": "provision", "account": "inferno", "reference": "whmcs-service-1003",
                "order": {"product_id": 303, "os_template": "debian12-64-default"},
                "hostname": "i1.example.com", "ssh_keys": [key]
            }),
        )
        .await?,
    ));
    println!("POST /v1/jobs              idcloudhost  d1.example.com");
    jobs.push(("idcloudhost", post_job(&http, api_url, token, json!({
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
                .bearer_auth(token)
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
        Ok(jobs.into_iter().map(|(_, id)| id).collect())
    } else {
        Err(DemoError::Failed(failed.join("; ")))
    }
}

/// Plants a VM in the IDCloudHost simulator as its console would (no job made it),
/// waits for a drift sweep that reports it, and prints the report.
async fn drift_report(api_url: &str, token: &str, sims: &Sims) -> Result<(), DemoError> {
    let planted = sims.idc.plant_vm("made-in-console");
    println!();
    println!("planted      idcloudhost VM {planted} (made-in-console), outside any job");
    let http = reqwest::Client::new();
    let give_up = tokio::time::Instant::now() + Duration::from_secs(60);
    let report = loop {
        let report: Value = http
            .get(format!("{api_url}/v1/drift"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        let seen = report["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["server_id"] == planted.as_str()));
        if seen {
            break report;
        }
        if tokio::time::Instant::now() > give_up {
            return Err(DemoError::Failed(format!(
                "no drift sweep reported the planted VM: {report}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "GET /v1/drift              swept {}",
        report["swept_at"].as_str().unwrap_or("-")
    );
    for a in report["accounts"].as_array().into_iter().flatten() {
        println!(
            "drift        {:<12} {:<12} {:<11} {} listed",
            a["provider"].as_str().unwrap_or(""),
            a["account"].as_str().unwrap_or(""),
            a["status"].as_str().unwrap_or(""),
            a["listed"]
        );
    }
    for f in report["findings"].as_array().into_iter().flatten() {
        println!(
            "finding      {:<12} {:<10} {} {}",
            f["account"].as_str().unwrap_or(""),
            f["kind"].as_str().unwrap_or(""),
            f["server_id"].as_str().unwrap_or(""),
            f["detail"].as_str().unwrap_or("")
        );
    }
    Ok(())
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
