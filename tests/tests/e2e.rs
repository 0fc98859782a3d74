//! Every black-box test of Provisioner, in one binary (one link for the suite; the
//! helpers live in the `provisioner_tests` library). Each test starts its own
//! isolated Redis and the real API on a random port, and talks HTTP to it.
//!
//! - `api`: the HTTP contract — auth, errors, validation, enqueue, idempotency.
//! - `api_jobs`: listing, cancel, retry, resolve, the server lock and job events.
//! - `audit`: each job's trail of provider calls, redacted (a canary at every provider).
//! - `browser`: the `/ui` dashboard in headless Chromium (skipped without one unless
//!   `REQUIRE_BROWSER=1`).
//! - `billing`: the billing path: root passwords per provider, credentials, payment waits.
//! - `guardrails`: spend guardrails per account (`max_open_orders`): 422 at enqueue, the worker's re-check.
//! - `hostkey`: HOSTKEY end to end through the worker and the simulator.
//! - `idcloudhost`: IDCloudHost end to end through the worker and the simulator.
//! - `inferno`: Inferno end to end through the worker and the simulator.
//! - `klikk`: Klikk end to end through the worker and the simulator.
//! - `webhooks`: billing webhooks in (Standard Webhooks signatures, exactly once).
//! - `callbacks`: job callbacks out (the outbox) and provider callbacks in.
//! - `cluster`: HOSTKEY and 500 noop jobs on a 3-master Redis Cluster, two workers.
//! - `drift`: the drift sweep: untracked and gone servers at `GET /v1/drift` and in
//!   `/metrics`, never acted on; one sweep per interval between two workers.
//! - `dry_run`: dry runs, per provider: the plan, the price, the problems, nothing written.
//! - `engine`: the engine's promises: waiting jobs hold no worker, shutdown, Redis outages.
//! - `layers`: the HTTP layers: request ids, the request timeout, the event-stream cap,
//!   event streams woken by the job's changes (issue 11 point 3).
//! - `leases`: one holder per job: prefetched jobs renew before a step, stale holders are fenced off.
//! - `model`: the engine as a property-tested state machine against a model, with
//!   crashes, stalled workers and duplicate deliveries (issue 9, R11).
//! - `metrics`: jobs by state, the worker's own `/metrics` and `/healthz`, deploy/'s alerts.
//! - `newcomer`: the demo's dashboard line, and `simulators`' config run by the real binaries.
//! - `ops`: `/metrics`, `/openapi.json` and the `/ui` dashboard.
//! - `provctl`: the real `provctl` binary: tables, `--json`, the token, watch exit codes.
//! - `session`: the dashboard's sign-in cookie, its CSRF token, bearer tokens beside it.
//! - `redaction`: secrets in quoted provider answers never leave the worker.
//! - `ssrf`: callback and cloud-init URLs never reach non-public addresses.

#[path = "e2e/api.rs"]
mod api;
#[path = "e2e/api_jobs.rs"]
mod api_jobs;
#[path = "e2e/audit.rs"]
mod audit;
#[path = "e2e/billing.rs"]
mod billing;
#[path = "e2e/browser.rs"]
mod browser;
#[path = "e2e/callbacks.rs"]
mod callbacks;
#[path = "e2e/cluster.rs"]
mod cluster;
#[path = "e2e/drift.rs"]
mod drift;
#[path = "e2e/dry_run.rs"]
mod dry_run;
#[path = "e2e/engine.rs"]
mod engine;
#[path = "e2e/guardrails.rs"]
mod guardrails;
#[path = "e2e/hostkey.rs"]
mod hostkey;
#[path = "e2e/idcloudhost.rs"]
mod idcloudhost;
#[path = "e2e/inferno.rs"]
mod inferno;
#[path = "e2e/klikk.rs"]
mod klikk;
#[path = "e2e/layers.rs"]
mod layers;
#[path = "e2e/leases.rs"]
mod leases;
#[path = "e2e/metrics.rs"]
mod metrics;
#[path = "e2e/model/mod.rs"]
mod model;
#[path = "e2e/newcomer.rs"]
mod newcomer;
#[path = "e2e/ops.rs"]
mod ops;
#[path = "e2e/provctl.rs"]
mod provctl;
#[path = "e2e/redaction.rs"]
mod redaction;
#[path = "e2e/session.rs"]
mod session;
#[path = "e2e/ssrf.rs"]
mod ssrf;
#[path = "e2e/webhooks.rs"]
mod webhooks;

use provisioner_shared::ProviderKind;
use provisioner_tests::{TestApi, TestRedis, account, spawn_api, test_config};
use serde_json::{Value, json};

/// Redis and the API, with three accounts: `hk-nl` (hostkey), `noop` and `noop-b`.
/// No worker runs: jobs stay where the API puts them. Nothing listens at the base
/// URLs.
async fn start() -> anyhow::Result<(TestRedis, TestApi)> {
    let redis = TestRedis::start().await?;
    let mut config = test_config(&redis);
    config.accounts.push(account(
        "hk-nl",
        ProviderKind::Hostkey,
        "http://127.0.0.1:9/",
    ));
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    config
        .accounts
        .push(account("noop-b", ProviderKind::Noop, "http://127.0.0.1:9/"));
    let api = spawn_api(config).await?;
    Ok((redis, api))
}

/// The contract's example request (HOSTKEY provision with a PXE reinstall).
fn hostkey_provision() -> Value {
    json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": "whmcs-service-1234",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "web-1.example.com",
        "root_password": "S3cure!pass",
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
        "post_install_script": "#!/bin/sh\necho top-secret-script",
        "reinstall": {"os_id": 183},
        "callback_url": "http://127.0.0.1:9/hooks/provisioner"
    })
}

/// A one-step job at the noop provider.
fn noop_provision(account: &str, reference: Option<&str>) -> Value {
    let mut body = json!({"kind": "provision", "account": account, "order": {"steps": 1}});
    if let Some(r) = reference {
        body["reference"] = json!(r);
    }
    body
}
