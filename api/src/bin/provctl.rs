//! `provctl`: a small command-line client of the Provisioner HTTP API.
//!
//! ```text
//! provctl [--url URL] [--token TOKEN] COMMAND
//!   list [--state S] [--account A] [--reference R] [--limit N] [--cursor C]
//!   get ID | watch ID | cancel ID | retry ID
//!   credentials ID   (the server's login; needs a token with the `credentials` scope)
//!   resolve ID adopt [ORDER_ID] | resolve ID reorder | resolve ID fail
//!   submit FILE|- [--idempotency-key KEY]
//! ```
//! `--url` defaults to `$PROVISIONER_URL` (else http://127.0.0.1:8080) and `--token`
//! to `$PROVISIONER_TOKEN`. Output is the API's JSON; errors go to stderr with a
//! non-zero exit.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::io::Read;
use std::time::Duration;

const USAGE: &str = "usage: provctl [--url URL] [--token TOKEN] COMMAND
  list [--state S] [--account A] [--reference R] [--limit N] [--cursor C]
  get ID | watch ID | cancel ID | retry ID
  credentials ID   (the server's login; needs a token with the `credentials` scope)
  resolve ID adopt [ORDER_ID] | resolve ID reorder | resolve ID fail
  submit FILE|- [--idempotency-key KEY]
env: PROVISIONER_URL, PROVISIONER_TOKEN";

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
    if let Err(e) = run(std::env::args().skip(1).collect()).await {
        eprintln!("provctl: {e:#}");
        std::process::exit(1);
    }
}

async fn run(args: Vec<String>) -> anyhow::Result<()> {
    let mut url =
        std::env::var("PROVISIONER_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let mut token = std::env::var("PROVISIONER_TOKEN").unwrap_or_default();
    let mut rest = vec![];
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--url" => url = it.next().context("--url needs a value")?,
            "--token" => token = it.next().context("--token needs a value")?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => rest.push(a),
        }
    }
    let c = Client {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        url: url.trim_end_matches('/').to_owned(),
        token,
    };
    let arg = |i: usize| rest.get(i).map(String::as_str);
    match (arg(0), arg(1)) {
        (Some("list"), _) => {
            let mut query = vec![];
            let mut i = 1;
            while let (Some(k), Some(v)) = (arg(i), arg(i + 1)) {
                let key = k.trim_start_matches("--");
                if !["state", "account", "reference", "limit", "cursor"].contains(&key) {
                    bail!("unknown option {k}\n{USAGE}");
                }
                query.push((key.to_owned(), v.to_owned()));
                i += 2;
            }
            print(&c.send(c.get("/v1/jobs").query(&query)).await?);
        }
        (Some("get"), Some(id)) => print(&c.send(c.get(&format!("/v1/jobs/{id}"))).await?),
        (Some("credentials"), Some(id)) => {
            print(&c.send(c.get(&format!("/v1/jobs/{id}/credentials"))).await?)
        }
        (Some("cancel"), Some(id)) => {
            print(&c.send(c.post(&format!("/v1/jobs/{id}/cancel"))).await?)
        }
        (Some("retry"), Some(id)) => print(&c.send(c.post(&format!("/v1/jobs/{id}/retry"))).await?),
        (Some("resolve"), Some(id)) => {
            let body = match (arg(2), arg(3)) {
                (Some("adopt"), Some(order)) => json!({"action": "adopt", "order_id": order}),
                (Some("adopt"), None) => json!({"action": "adopt"}),
                (Some("reorder"), None) => json!({"action": "reorder"}),
                (Some("fail"), None) => json!({"action": "fail"}),
                _ => bail!("{USAGE}"),
            };
            print(
                &c.send(c.post(&format!("/v1/jobs/{id}/resolve")).json(&body))
                    .await?,
            );
        }
        (Some("submit"), Some(file)) => {
            let mut text = String::new();
            if file == "-" {
                std::io::stdin().read_to_string(&mut text)?;
            } else {
                text = std::fs::read_to_string(file).with_context(|| format!("reading {file}"))?;
            }
            let body: Value = serde_json::from_str(&text).context("the job request is not JSON")?;
            let mut req = c.post("/v1/jobs").json(&body);
            if let (Some("--idempotency-key"), Some(key)) = (arg(2), arg(3)) {
                req = req.header("Idempotency-Key", key);
            }
            print(&c.send(req).await?);
        }
        (Some("watch"), Some(id)) => {
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
        _ => bail!("{USAGE}"),
    }
    Ok(())
}
