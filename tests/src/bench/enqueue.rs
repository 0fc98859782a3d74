//! `enqueue`: load on `POST /v1/jobs` of a `provisioner-api` process, from a load
//! generator in this process over keep-alive HTTP/1.1 connections.
//!
//! 1. Saturation: C clients each send the next request as soon as the last one is
//!    answered, for a fixed time: requests per second and latency.
//! 2. A fixed offered rate at half that maximum (open loop): request i is due at
//!    start + i/rate and its latency counts from then, so a stall shows as latency
//!    instead of quietly lowering the rate (no coordinated omission).
//!
//! The generator shares the 2 cores with the api and Redis, so saturation is a floor.

use super::Bench;
use super::deployment::{API_TOKEN, Deployment, Shape, Target, noop_job};
use super::procs::Proc;
use super::report::{Report, percentile};
use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::json;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

struct Phase {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    /// Latencies in µs, sorted.
    latencies: Vec<u64>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn p_ms(&self, p: f64) -> Option<f64> {
        percentile(&self.latencies, p).map(|us| us as f64 / 1000.0)
    }
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    url: String,
    body: bytes::Bytes,
}

impl Client {
    /// One POST; `Err` carries what went wrong, for the report.
    async fn post(&self) -> Result<(), String> {
        let res = self
            .http
            .post(&self.url)
            .bearer_auth(API_TOKEN)
            .header("content-type", "application/json")
            .body(self.body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status();
        if status == StatusCode::ACCEPTED {
            // read the body: the connection goes back to the pool only then
            let _ = res.bytes().await;
            Ok(())
        } else {
            Err(format!(
                "{status}: {}",
                res.text().await.unwrap_or_default()
            ))
        }
    }
}

async fn saturate(client: &Client, clients: usize, run_for: Duration) -> Phase {
    let start = Instant::now();
    let until = start + run_for;
    let loops = (0..clients).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut errors, mut first_error) = (0, None);
            while Instant::now() < until {
                let t = Instant::now();
                match client.post().await {
                    Ok(()) => lat.push(t.elapsed().as_micros() as u64),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (lat, errors, first_error)
        })
    });
    let mut phase = Phase {
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for joined in futures::future::join_all(loops).await {
        let (lat, errors, first_error) = joined.unwrap_or_default();
        phase.latencies.extend(lat);
        phase.errors += errors;
        if phase.first_error.is_none() {
            phase.first_error = first_error;
        }
    }
    phase.elapsed = start.elapsed();
    phase.ok = phase.latencies.len() as u64;
    phase.latencies.sort_unstable();
    phase
}

async fn offered_rate(client: &Client, rate: f64, run_for: Duration, in_flight: usize) -> Phase {
    let total = (rate * run_for.as_secs_f64()) as u64;
    let gate = Arc::new(Semaphore::new(in_flight));
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due).await;
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = client.post().await;
            drop(permit);
            (due.elapsed().as_micros() as u64, outcome)
        }));
    }
    let mut phase = Phase {
        ok: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(tasks.len()),
    };
    for t in futures::future::join_all(tasks).await {
        match t {
            Ok((us, Ok(()))) => phase.latencies.push(us),
            Ok((_, Err(e))) => {
                phase.errors += 1;
                phase.first_error.get_or_insert(e);
            }
            Err(e) => {
                phase.errors += 1;
                phase.first_error.get_or_insert(e.to_string());
            }
        }
    }
    phase.elapsed = start.elapsed();
    phase.ok = phase.latencies.len() as u64;
    phase.latencies.sort_unstable();
    phase
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(l.local_addr()?)
}

async fn wait_ready(api: &mut Proc, http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        api.check_alive()?;
        if let Ok(res) = http.get(format!("{base}/readyz")).send().await
            && res.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() >= until {
            bail!(
                "the api did not answer /readyz within 20 s: {}",
                api.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn scenario(bench: &Bench) -> anyhow::Result<Report> {
    let clients = bench.opts.concurrency;
    let run_for = Duration::from_secs(if bench.opts.quick { 2 } else { 10 });
    let target = Target::from_options(&bench.opts).await?;
    let listen = free_port()?;
    let shape = Shape {
        concurrency: 1,
        runtime: bench.opts.runtime,
        listen: Some(listen),
    };
    let dep = Deployment::write(&bench.dir, "enqueue", &target, &shape)?;
    let mut api = bench
        .bins
        .spawn_api(dep.path(), &bench.dir.file("enqueue-api.log"))?;
    let base = format!("http://{listen}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 4)
        .build()
        .context("building the HTTP client")?;
    wait_ready(&mut api, &http, &base).await?;
    let client = Client {
        http,
        url: format!("{base}/v1/jobs"),
        body: serde_json::to_vec(&noop_job(json!({"steps": bench.opts.steps})))?.into(),
    };
    // warm the connection pool and the api's script cache
    let _ = saturate(&client, clients, Duration::from_millis(200)).await;
    let max = saturate(&client, clients, run_for).await;
    let half = (max.rate() / 2.0).max(1.0);
    let paced = offered_rate(&client, half, run_for, clients * 4).await;
    let usage = api.usage()?;
    let problems = api.problem_lines();
    api.terminate(Duration::from_secs(5))?;

    let mut r = Report::new("enqueue");
    r.note("redis", target.describe());
    r.figure("concurrency", "client connections", clients as u64);
    r.figure(
        "req_per_s",
        "POST /v1/jobs at saturation (req/s)",
        max.rate(),
    );
    r.maybe("p50_ms", "  p50 (ms)", max.p_ms(50.0));
    r.maybe("p99_ms", "  p99 (ms)", max.p_ms(99.0));
    r.figure(
        "offered_req_per_s",
        "offered rate, half of that (req/s)",
        half,
    );
    r.figure("achieved_req_per_s", "  achieved (req/s)", paced.rate());
    r.maybe(
        "offered_p50_ms",
        "  p50 from due time (ms)",
        paced.p_ms(50.0),
    );
    r.maybe(
        "offered_p99_ms",
        "  p99 from due time (ms)",
        paced.p_ms(99.0),
    );
    r.figure(
        "errors",
        "non-202 answers or failed requests",
        max.errors + paced.errors,
    );
    if let Some(e) = max.first_error.or(paced.first_error) {
        r.note("first error", e);
    }
    r.figure("api_cpu_s", "api CPU (s)", usage.cpu_s);
    r.figure("api_rss_mb", "api peak RSS (MB)", usage.peak_rss_mb);
    r.figure(
        "log_warnings",
        "WARN/ERROR lines in the api log",
        problems.len() as u64,
    );
    r.figure("phase_s", "each phase (s)", run_for.as_secs_f64());
    Ok(r)
}
