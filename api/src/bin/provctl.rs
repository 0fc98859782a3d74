//! `provctl`: a small command-line client of the Provisioner HTTP API.
//!
//! ```text
//! provctl [--url URL] [--token TOKEN] COMMAND
//!   list [--state S] [--account A] [--reference R] [--limit N] [--cursor C]
//!   get ID | watch ID | cancel ID | retry ID
//!   credentials ID   (the server's login; needs a token with the `credentials` scope)
//!   calls ID [--json]   (the job's provider calls; `--json`: JSON lines, for export)
//!   resolve ID adopt [ORDER_ID] | resolve ID reorder | resolve ID fail
//!   submit FILE|- [--idempotency-key KEY]
//!   completions SHELL
//! ```
//! `--url` defaults to `$PROVISIONER_URL` (else http://127.0.0.1:8080) and `--token`
//! to `$PROVISIONER_TOKEN`. Output is the API's JSON; errors go to stderr with a
//! non-zero exit.

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use provisioner_shared::bootstrap;
use serde_json::{Value, json};
use std::io::Read;
use std::time::Duration;

/// A command-line client of the Provisioner HTTP API. Output is the API's JSON;
/// errors go to stderr with a non-zero exit.
#[derive(Parser)]
#[command(name = "provctl", version)]
struct Cli {
    /// The API's base URL.
    #[arg(
        long,
        env = "PROVISIONER_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// A bearer token of the API (prefer the env var: an argument shows in `ps`).
    #[arg(
        long,
        env = "PROVISIONER_TOKEN",
        hide_env_values = true,
        default_value = "",
        hide_default_value = true,
        global = true
    )]
    token: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List jobs, newest first.
    List {
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        reference: Option<String>,
        #[arg(long)]
        limit: Option<String>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One job's JSON.
    Get { id: String },
    /// Print a line whenever a job's state, step or note changes, until it ends.
    Watch { id: String },
    /// Ask for a job's cancellation.
    Cancel { id: String },
    /// Resume a failed job at its failed step (a waiting one: poll now).
    Retry { id: String },
    /// The server's login (needs a token with the `credentials` scope).
    Credentials { id: String },
    /// The job's provider calls, oldest first: one line each (time, step and
    /// attempt, method, path, action, status, latency), or `--json`: JSON lines
    /// with the redacted bodies, for export.
    Calls {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Settle a job that needs attention.
    Resolve {
        id: String,
        #[command(subcommand)]
        action: Resolution,
    },
    /// Enqueue the job request in FILE (`-`: stdin).
    Submit {
        file: String,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum Resolution {
    /// The order or payment exists: record it as done.
    Adopt { order_id: Option<String> },
    /// Nothing was created: make the step again.
    Reorder,
    /// Give up: the job ends failed.
    Fail,
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let res = req
            .bearer_auth(&self.token)
            .send()
            .await
            .context("calling the api")?;
        let status = res.status();
        let text = res.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let e = &body["error"];
            match e["field"].as_str() {
                Some(f) => bail!(
                    "{status}: {} (field {f})",
                    e["message"].as_str().unwrap_or("")
                ),
                None => bail!(
                    "{status}: {}",
                    e["message"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or(body.to_string())
                ),
            }
        }
        Ok(body)
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.url))
    }
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("provctl: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let c = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        url: cli.url.trim_end_matches('/').to_owned(),
        token: cli.token,
    };
    match cli.command {
        Command::Completions { shell } => bootstrap::print_completions::<Cli>(shell),
        Command::List {
            state,
            account,
            reference,
            limit,
            cursor,
        } => {
            let query: Vec<(&str, String)> = [
                ("state", state),
                ("account", account),
                ("reference", reference),
                ("limit", limit),
                ("cursor", cursor),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            print(&c.send(c.get("/v1/jobs").query(&query)).await?);
        }
        Command::Get { id } => print(&c.send(c.get(&format!("/v1/jobs/{id}"))).await?),
        Command::Credentials { id } => {
            print(&c.send(c.get(&format!("/v1/jobs/{id}/credentials"))).await?)
        }
        Command::Calls { id, json } => {
            let calls = c.send(c.get(&format!("/v1/jobs/{id}/calls"))).await?;
            for call in calls.as_array().map(Vec::as_slice).unwrap_or_default() {
                if json {
                    println!("{call}");
                } else {
                    println!("{}", call_line(call));
                }
            }
        }
        Command::Cancel { id } => print(&c.send(c.post(&format!("/v1/jobs/{id}/cancel"))).await?),
        Command::Retry { id } => print(&c.send(c.post(&format!("/v1/jobs/{id}/retry"))).await?),
        Command::Resolve { id, action } => {
            let body = match action {
                Resolution::Adopt {
                    order_id: Some(order),
                } => json!({"action": "adopt", "order_id": order}),
                Resolution::Adopt { order_id: None } => json!({"action": "adopt"}),
                Resolution::Reorder => json!({"action": "reorder"}),
                Resolution::Fail => json!({"action": "fail"}),
            };
            print(
                &c.send(c.post(&format!("/v1/jobs/{id}/resolve")).json(&body))
                    .await?,
            );
        }
        Command::Submit {
            file,
            idempotency_key,
        } => {
            let mut text = String::new();
            if file == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
            }
            let body: Value = serde_json::from_str(&text).context("the job request is not JSON")?;
            let mut req = c.post("/v1/jobs").json(&body);
            if let Some(key) = idempotency_key {
                req = req.header("Idempotency-Key", key);
            }
            print(&c.send(req).await?);
        }
        Command::Watch { id } => {
            let mut last = String::new();
            loop {
                let job = c.send(c.get(&format!("/v1/jobs/{id}"))).await?;
                let line = format!(
                    "{:<16} {:<15} {}",
                    job["state"].as_str().unwrap_or(""),
                    job["step"].as_str().unwrap_or("-"),
                    job["note"].as_str().unwrap_or("")
                );
                if line != last {
                    println!("{line}");
                    last = line;
                }
                if matches!(
                    job["state"].as_str(),
                    Some("succeeded" | "failed" | "cancelled")
                ) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    Ok(())
}

/// One provider call on one line: when, which step's attempt, what was asked, how
/// it was answered and how fast.
fn call_line(call: &Value) -> String {
    let text = |k: &str| call[k].as_str().unwrap_or("").to_owned();
    let status = match call["status"].as_u64() {
        Some(s) => s.to_string(),
        None => format!("- ({})", text("error")),
    };
    format!(
        "{}  {}#{}  {} {} {}  {}  {} ms",
        text("at"),
        text("step"),
        call["attempt"].as_u64().unwrap_or(0),
        text("method"),
        text("path"),
        text("action"),
        status,
        call["latency_ms"].as_u64().unwrap_or(0),
    )
}
