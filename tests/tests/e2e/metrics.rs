//! Metrics (issue 11 point 2): jobs by state and provider on the api's `/metrics`
//! (counted by the scripts), and each worker's own `/metrics` and `/healthz` on
//! `worker.listen`: step durations, provider calls, lease takeovers. The example
//! alert rules and dashboard in `deploy/` name only metrics that are exported.

use provisioner_sandbox::sim::FaultKnobs;
use provisioner_shared::ProviderKind;
use provisioner_tests::api::metrics_page as page;
use provisioner_tests::hooks::{Delivery, Receiver};
use provisioner_tests::providers::{hostkey_apply_credit_by_hand, start_hostkey};
use provisioner_tests::{
    API_TOKEN, TestApi, TestRedis, TestWorker, account, connect_store, spawn_api, spawn_app,
    spawn_worker, test_config, wait_until,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

const HOSTNAME: &str = "metrics-host-7781.example.com";
const ROOT_PASSWORD: &str = "Zq7!metrics-root-pw";

fn hostkey_order(hostname: &str) -> Value {
    json!({
        "kind": "provision", "account": "hk-nl", "hostname": hostname,
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "root_password": ROOT_PASSWORD,
    })
}

async fn api_page(api: &TestApi) -> anyhow::Result<String> {
    page(&api.url("/metrics")).await
}

fn worker_url(worker: &TestWorker) -> String {
    worker
        .listen_url()
        .expect("the worker was started with worker.listen")
}

/// The value of one series (`name{labels}` exactly as rendered), if present.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

/// The metric names a page exports: each family, and a histogram's series.
fn exported(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut parts = rest.split(' ');
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Every `provisioner_…` name in a PromQL expression.
fn metric_names(expr: &str, out: &mut BTreeSet<String>) {
    let mut rest = expr;
    while let Some(at) = rest.find("provisioner_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
}

fn deploy_file(path: &str) -> String {
    let at = format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&at).unwrap_or_else(|e| panic!("reading {at}: {e}"))
}

/// The alert names and the metrics the example rules and dashboard query.
fn deploy_metrics() -> (BTreeSet<String>, BTreeSet<String>) {
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&deploy_file("prometheus/alerts.yaml"))
            .expect("alerts.yaml parses");
    let mut alerts = BTreeSet::new();
    let mut names = BTreeSet::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            alerts.insert(rule["alert"].as_str().expect("an alert name").to_owned());
            metric_names(rule["expr"].as_str().expect("an expr"), &mut names);
        }
    }
    let dashboard: Value = serde_json::from_str(&deploy_file("grafana/provisioner.json"))
        .expect("the dashboard parses");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            metric_names(target["expr"].as_str().expect("an expr"), &mut names);
        }
    }
    (alerts, names)
}

/// A HOSTKEY provision at the simulator: the api counts the job as succeeded by
/// provider; the worker's own page has its step durations and provider calls with
/// fixed labels; no page carries an id, a hostname or a secret; and every metric
/// the example alerts and dashboard query is on one of the two pages.
#[tokio::test]
async fn a_provision_shows_in_jobs_by_state_step_durations_and_provider_calls() -> anyhow::Result<()>
{
    let receiver = Receiver::start(|_| 200).await?;
    let mut app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .tune(|c| c.worker.listen = Some("127.0.0.1:0".parse().unwrap()))
        .with_worker()
        .start()
        .await?;
    let worker = app.worker.take().expect("a worker");
    let mut body = hostkey_order(HOSTNAME);
    body["callback_url"] = json!(receiver.url);
    let id = app.api.post_job(&body).await?.id().to_owned();
    let job = app.api.wait_for_state(&id, "succeeded", LONG).await?;
    let server_id = job["server"]["id"].as_str().unwrap_or("").to_owned();
    assert!(!server_id.is_empty(), "{job}");
    wait_until("the callback", LONG, || async {
        Ok((!receiver.received().is_empty()).then_some(()))
    })
    .await?;

    let api = api_page(&app.api).await?;
    assert_eq!(
        value(
            &api,
            "provisioner_jobs{state=\"succeeded\",provider=\"hostkey\"}"
        ),
        Some(1.0),
        "{api}"
    );
    for gone in ["queued", "running", "waiting"] {
        let series = format!("provisioner_jobs{{state=\"{gone}\",provider=\"hostkey\"}}");
        assert!(
            value(&api, &series).unwrap_or(0.0) == 0.0,
            "{series} in\n{api}"
        );
    }

    let base = worker_url(&worker);
    let own = page(&format!("{base}/metrics")).await?;
    for series in [
        "provisioner_step_duration_seconds_count{provider=\"hostkey\",step=\"order\"}",
        "provisioner_step_duration_seconds_count{provider=\"hostkey\",step=\"collect\"}",
        "provisioner_step_duration_seconds_bucket{provider=\"hostkey\",step=\"order\",le=\"+Inf\"}",
        "provisioner_provider_calls_total{provider=\"hostkey\",action=\"eq/order_instance\",outcome=\"ok\"}",
        "provisioner_provider_calls_total{provider=\"hostkey\",action=\"whmcs/apply_credit\",outcome=\"ok\"}",
    ] {
        assert!(
            value(&own, series).is_some_and(|v| v >= 1.0),
            "no {series} in\n{own}"
        );
    }
    assert_eq!(
        value(
            &own,
            "provisioner_provider_calls_total{provider=\"hostkey\",action=\"eq/order_instance\",outcome=\"ok\"}"
        ),
        Some(app.hostkey().requests("eq/order_instance") as f64),
        "one count per call the simulator saw"
    );
    assert_eq!(value(&own, "provisioner_lease_takeovers_total"), Some(0.0));
    let health = reqwest::get(format!("{base}/healthz")).await?;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(health.json::<Value>().await?["status"], "ok");

    for leak in [
        id.as_str(),
        server_id.as_str(),
        HOSTNAME,
        ROOT_PASSWORD,
        API_TOKEN,
    ] {
        assert!(!api.contains(leak), "{leak:?} on the api's page:\n{api}");
        assert!(!own.contains(leak), "{leak:?} on the worker's page:\n{own}");
    }

    // A billing webhook, so that its counter has a sample too; the worker's shutdown
    // flushes its step and callback counters to the api's page.
    let paid = json!({"type": "invoice.paid", "data": {"service_id": "svc-nobody"}});
    Delivery::signed("msg_metrics_deploy", &paid)
        .send(&app.api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    worker.shutdown().await?;
    let api = api_page(&app.api).await?;
    let mut have = exported(&api);
    have.extend(exported(&own));
    let (alerts, wanted) = deploy_metrics();
    for alert in [
        "ProvisionerJobsNeedAttention",
        "ProvisionerOldestDueJob",
        "ProvisionerCallbacksAbandoned",
    ] {
        assert!(alerts.contains(alert), "no alert {alert} in {alerts:?}");
    }
    assert!(wanted.len() >= 8, "{wanted:?}");
    let missing: Vec<_> = wanted.difference(&have).collect();
    assert!(
        missing.is_empty(),
        "deploy/ queries metrics nobody exports: {missing:?}\nexported: {have:?}"
    );
    Ok(())
}

/// A job parked in needs_attention counts there while it is parked, and moves to
/// its next state's count when an operator resolves it.
#[tokio::test]
async fn a_parked_job_counts_as_needs_attention_until_resolved() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .tune(|c| c.worker.settle = Duration::from_secs(2))
        .with_worker()
        .start()
        .await?;
    // Our apply_credit answers 500 without paying; meanwhile part of the invoice is
    // applied by hand: the payment's outcome cannot be known.
    app.hostkey().faults().set_action(
        "whmcs/apply_credit",
        FaultKnobs {
            fail_next: 1,
            ..Default::default()
        },
    )?;
    let id = app
        .api
        .post_job(&hostkey_order("parked.example.com"))
        .await?
        .id()
        .to_owned();
    wait_until("the first payment call", LONG, || async {
        Ok((app.hostkey().requests("whmcs/apply_credit") >= 1).then_some(()))
    })
    .await?;
    let held = app.api.get_job(&id).await?.body;
    let invoice: u64 = held["server"]["invoice_id"]
        .as_str()
        .unwrap_or("")
        .parse()?;
    hostkey_apply_credit_by_hand(app.hostkey(), invoice, "1.00").await?;
    app.api.wait_for_state(&id, "needs_attention", LONG).await?;

    let parked = api_page(&app.api).await?;
    let attention = "provisioner_jobs{state=\"needs_attention\",provider=\"hostkey\"}";
    assert_eq!(value(&parked, attention), Some(1.0), "{parked}");
    let live: f64 = ["queued", "running", "waiting", "succeeded"]
        .iter()
        .filter_map(|s| {
            value(
                &parked,
                &format!("provisioner_jobs{{state=\"{s}\",provider=\"hostkey\"}}"),
            )
        })
        .sum();
    assert_eq!(live, 0.0, "the job counts in one state only:\n{parked}");

    app.api
        .post(
            &format!("/v1/jobs/{id}/resolve"),
            Some(&json!({"action": "reorder"})),
        )
        .await?
        .expect(StatusCode::ACCEPTED)?;
    app.api.wait_for_state(&id, "succeeded", LONG).await?;
    let after = api_page(&app.api).await?;
    assert_eq!(value(&after, attention), Some(0.0), "{after}");
    assert_eq!(
        value(
            &after,
            "provisioner_jobs{state=\"succeeded\",provider=\"hostkey\"}"
        ),
        Some(1.0),
        "{after}"
    );
    Ok(())
}

/// A job whose holder vanished (claimed, never committed) is taken over once its
/// lease runs out: the worker that takes it counts one takeover.
#[tokio::test]
async fn a_claim_after_a_lease_ran_out_counts_one_takeover() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let mut config = test_config(&redis);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    config.worker.listen = Some("127.0.0.1:0".parse()?);
    let api = spawn_api(config.clone()).await?;
    let store = connect_store(&config).await?;
    let id = api
        .post_job(&json!({"kind": "provision", "account": "noop", "order": {"steps": 2}}))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned();

    // Play a worker that claims the job with a short lease and dies holding it.
    let shard = store.keys().shard_of(&id);
    let lease = Duration::from_millis(300);
    let first = store.claim(shard, 10, lease).await?;
    assert_eq!(first.jobs.len(), 1);
    assert_eq!(first.takeovers, 0, "a fresh job is nobody's yet");
    let queued = api_page(&api).await?;
    assert_eq!(
        value(
            &queued,
            "provisioner_jobs{state=\"queued\",provider=\"noop\"}"
        ),
        Some(1.0),
        "{queued}"
    );

    wait_until("the lease to run out", LONG, || async {
        let due = store.earliest(&[shard]).await?;
        let now = store.time().await?;
        Ok(due[0].is_some_and(|d| d <= now).then_some(()))
    })
    .await?;
    let worker = spawn_worker(config.clone()).await?;
    api.wait_for_state(&id, "succeeded", LONG).await?;
    let own = page(&format!("{}/metrics", worker_url(&worker))).await?;
    assert_eq!(
        value(&own, "provisioner_lease_takeovers_total"),
        Some(1.0),
        "{own}"
    );
    // The noop provider sends nothing: no call is counted, its steps are timed.
    assert!(!own.contains("provisioner_provider_calls_total{"), "{own}");
    assert!(
        value(
            &own,
            "provisioner_step_duration_seconds_count{provider=\"noop\",step=\"noop\"}"
        )
        .is_some_and(|n| n >= 2.0),
        "{own}"
    );
    let done = api_page(&api).await?;
    assert_eq!(
        value(
            &done,
            "provisioner_jobs{state=\"succeeded\",provider=\"noop\"}"
        ),
        Some(1.0),
        "{done}"
    );
    assert_eq!(
        value(
            &done,
            "provisioner_jobs{state=\"queued\",provider=\"noop\"}"
        ),
        Some(0.0),
        "{done}"
    );
    worker.shutdown().await?;
    Ok(())
}

/// The worker's `/healthz` says whether its Redis answers: 200, then 503 once Redis
/// is gone, while `/metrics` still answers from memory.
#[tokio::test]
async fn the_worker_healthz_follows_its_redis() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let mut redis = TestRedis::start_private().await?;
    let mut config = test_config(&redis);
    config.worker.listen = Some("127.0.0.1:0".parse()?);
    let worker = spawn_worker(config).await?;
    let base = worker_url(&worker);
    let up = reqwest::get(format!("{base}/healthz")).await?;
    assert_eq!(up.status(), StatusCode::OK);

    redis.stop()?;
    let down = wait_until("healthz to see Redis gone", LONG, || async {
        let res = reqwest::get(format!("{base}/healthz")).await?;
        Ok((res.status() != StatusCode::OK).then_some(res))
    })
    .await?;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.json::<Value>().await?["status"], "unavailable");
    let own = page(&format!("{base}/metrics")).await?;
    assert!(own.contains("provisioner_lease_takeovers_total"), "{own}");
    assert_eq!(
        reqwest::get(format!("{base}/nowhere")).await?.status(),
        StatusCode::NOT_FOUND
    );
    worker.abort();
    Ok(())
}

/// The terminal states are totals, but a job retried out of one leaves its count:
/// a job fails (its worker does not know its account), is retried, and succeeds at a
/// worker that does; it counts once, as succeeded.
#[tokio::test]
async fn a_failed_job_retried_to_success_moves_from_failed_to_succeeded() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let mut config = test_config(&redis);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    let api = spawn_api(config.clone()).await?;
    let id = api
        .post_job(&json!({"kind": "provision", "account": "noop", "order": {"steps": 1}}))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned();
    let mut unaware = config.clone();
    unaware.accounts.clear();
    let worker = spawn_worker(unaware).await?;
    api.wait_for_state(&id, "failed", LONG).await?;
    worker.shutdown().await?;
    let failed = api_page(&api).await?;
    let count = |page: &str, state: &str| {
        value(
            page,
            &format!("provisioner_jobs{{state=\"{state}\",provider=\"noop\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(count(&failed, "failed"), 1.0, "{failed}");
    assert_eq!(count(&failed, "queued"), 0.0, "{failed}");

    api.post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let _worker = spawn_worker(config).await?;
    api.wait_for_state(&id, "succeeded", LONG).await?;
    let done = api_page(&api).await?;
    assert_eq!(count(&done, "failed"), 0.0, "{done}");
    assert_eq!(count(&done, "succeeded"), 1.0, "{done}");
    let total: f64 = [
        "queued",
        "running",
        "waiting",
        "needs_attention",
        "cancelled",
    ]
    .iter()
    .map(|s| count(&done, s))
    .sum();
    assert_eq!(total, 0.0, "{done}");
    Ok(())
}
