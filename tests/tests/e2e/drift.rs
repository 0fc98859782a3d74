//! The drift sweep (issue 13 point 3) against the IDCloudHost simulator: a VM made in
//! the provider's console is `untracked`, a provisioned VM removed behind our back is
//! `gone`, both listed at `GET /v1/drift` and counted in `/metrics`, and nothing is
//! acted on; of two workers, one sweeps per interval (the lease).

use provisioner_sandbox::idcloudhost::actions;
use provisioner_sandbox::sim::FaultKnobs;
use provisioner_shared::config::PaymentTimeout;
use provisioner_tests::providers::{start_hostkey, start_idcloudhost, start_inferno, start_klikk};
use provisioner_tests::{TestApp, spawn_app, spawn_worker, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

async fn stack() -> anyhow::Result<TestApp> {
    spawn_app()
        .idcloudhost("idc", start_idcloudhost().await?, true)
        .start()
        .await
}

/// The app's config with the sweep on, every `interval`.
fn sweeping(app: &TestApp, interval: Duration) -> provisioner_shared::Config {
    let mut config = app.config.clone();
    config.drift.enabled = true;
    config.drift.interval = interval;
    config
}

fn provision(hostname: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "idc",
        "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 1, "ram_mb": 1024, "disk_gb": 20},
        "hostname": hostname,
        "root_password": "S3cure!pass",
    })
}

fn findings<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["kind"] == kind).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_sweep_reports_untracked_and_gone_servers_and_touches_nothing() -> anyhow::Result<()> {
    let app = stack().await?;
    // Before any sweep: an empty report.
    let empty = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
    assert_eq!(empty["swept_at"], Value::Null);
    assert_eq!(empty["findings"], json!([]));

    let _worker = spawn_worker(sweeping(&app, Duration::from_millis(500))).await?;
    let kept = app
        .api
        .post_job(&provision("kept.example.com"))
        .await?
        .id()
        .to_owned();
    let lost = app
        .api
        .post_job(&provision("lost.example.com"))
        .await?
        .id()
        .to_owned();
    let kept_job = app.api.wait_for_state(&kept, "succeeded", LONG).await?;
    let lost_job = app.api.wait_for_state(&lost, "succeeded", LONG).await?;
    let kept_vm = kept_job["server"]["id"]
        .as_str()
        .expect("a server id")
        .to_owned();
    let lost_vm = lost_job["server"]["id"]
        .as_str()
        .expect("a server id")
        .to_owned();

    let planted = app.idcloudhost().plant_vm("console-made");
    assert!(app.idcloudhost().remove_vm(&lost_vm));
    let deletes_before = app.idcloudhost().requests(actions::DELETE_VM);

    let report = wait_until("a sweep that sees both", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        let sees_planted = findings(&r, "untracked")
            .iter()
            .any(|f| f["server_id"] == planted.as_str());
        let sees_lost = findings(&r, "gone")
            .iter()
            .any(|f| f["server_id"] == lost_vm.as_str());
        Ok((sees_planted && sees_lost).then_some(r))
    })
    .await?;

    let untracked = findings(&report, "untracked");
    assert_eq!(untracked.len(), 1, "only the planted VM: {report}");
    assert_eq!(untracked[0]["account"], "idc");
    assert_eq!(untracked[0]["job_id"], Value::Null);
    assert!(
        untracked[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("console-made"),
        "{report}"
    );
    let gone = findings(&report, "gone");
    assert_eq!(gone.len(), 1, "only the removed VM: {report}");
    assert_eq!(gone[0]["job_id"], lost.as_str());
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["server_id"] != kept_vm.as_str()),
        "a tracked VM is no finding: {report}"
    );
    let account = &report["accounts"][0];
    assert_eq!(account["account"], "idc");
    assert_eq!(account["status"], "ok");
    assert_eq!(account["listed"], 2, "the kept and the planted VM");
    assert!(report["swept_at"].is_string());

    // Counted in /metrics.
    let metrics = reqwest::get(app.api.url("/metrics")).await?.text().await?;
    assert!(
        metrics.contains(r#"provisioner_drift_findings{account="idc",kind="untracked"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"provisioner_drift_findings{account="idc",kind="gone"} 1"#));
    assert!(metrics.contains(r#"provisioner_drift_findings{account="idc",kind="unpaid"} 0"#));

    // Never acted on: the planted VM lives, nothing was deleted, the jobs are as they were.
    assert!(
        app.idcloudhost().vm(&planted).is_some(),
        "the planted VM still exists"
    );
    assert_eq!(
        app.idcloudhost().requests(actions::DELETE_VM),
        deletes_before
    );
    let after = app
        .api
        .get(&format!("/v1/jobs/{lost}"))
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(after["state"], "succeeded");
    Ok(())
}

#[tokio::test]
async fn two_workers_sweep_once_per_interval() -> anyhow::Result<()> {
    let app = stack().await?;
    app.idcloudhost().plant_vm("console-made");
    // A long interval: each worker tries for the lease every 5 s, and only the one
    // that takes it may sweep within the 20 s.
    let config = sweeping(&app, Duration::from_secs(20));
    let _a = spawn_worker(config.clone()).await?;
    let _b = spawn_worker(config).await?;
    wait_until("a first sweep", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok(r["swept_at"].is_string().then_some(()))
    })
    .await?;
    // Both workers try again (every 5 s) while the lease is held: neither sweeps.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        app.idcloudhost().requests(actions::LOCATIONS),
        1,
        "one listing: one sweep between the two workers"
    );
    Ok(())
}

#[tokio::test]
async fn drift_needs_a_token_with_the_read_scope() -> anyhow::Result<()> {
    let app = stack().await?;
    let res = reqwest::get(app.api.url("/v1/drift")).await?;
    assert_eq!(res.status(), 401);
    Ok(())
}

#[tokio::test]
async fn a_klikk_jobs_server_is_no_finding_until_removed_upstream() -> anyhow::Result<()> {
    let app = spawn_app()
        .klikk("klikk", start_klikk().await?)
        .start()
        .await?;
    let _worker = spawn_worker(sweeping(&app, Duration::from_millis(500))).await?;
    let body = json!({
        "kind": "provision",
        "account": "klikk",
        "hostname": "k1.example.com",
        "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "203.0.113.0/24"},
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
    });
    let id = app.api.post_job(&body).await?.id().to_owned();
    let job = app.api.wait_for_state(&id, "succeeded", LONG).await?;
    let server = job["server"]["id"]
        .as_str()
        .expect("a server id")
        .to_owned();

    // A sweep after the job: the account's one server is the job's, no finding.
    let report = wait_until("a sweep listing the server", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok((r["accounts"][0]["listed"] == 1).then_some(r))
    })
    .await?;
    assert_eq!(report["accounts"][0]["status"], "ok", "{report}");
    assert_eq!(report["findings"], json!([]), "{report}");

    // Removed behind our back: gone, naming the job.
    assert!(app.klikk().remove_server(server.parse()?));
    let report = wait_until("a sweep that sees it gone", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok((!findings(&r, "gone").is_empty()).then_some(r))
    })
    .await?;
    let gone = findings(&report, "gone");
    assert_eq!(gone[0]["server_id"], server.as_str());
    assert_eq!(gone[0]["job_id"], id.as_str());
    assert!(findings(&report, "untracked").is_empty(), "{report}");
    Ok(())
}

#[tokio::test]
async fn an_inferno_order_unpaid_past_the_payment_deadline_is_reported_and_kept()
-> anyhow::Result<()> {
    let app = spawn_app()
        .inferno("inferno", start_inferno(false).await?)
        .tune(|c| {
            c.deadlines.payment = Duration::from_secs(1);
            c.deadlines.on_payment_timeout = PaymentTimeout::Keep;
        })
        .start()
        .await?;
    let _worker = spawn_worker(sweeping(&app, Duration::from_millis(500))).await?;
    let body = json!({
        "kind": "provision",
        "account": "inferno",
        "order": {"product_id": 303, "os_template": "centos7-64-default"},
        "hostname": "never-paid.example.com",
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
    });
    let id = app.api.post_job(&body).await?.id().to_owned();
    let job = app.api.wait_for_state(&id, "failed", LONG).await?;
    let order = job["server"]["id"]
        .as_str()
        .expect("the order id")
        .to_owned();

    let report = wait_until("a sweep that sees it unpaid", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok((!findings(&r, "unpaid").is_empty()).then_some(r))
    })
    .await?;
    let unpaid = findings(&report, "unpaid");
    assert_eq!(unpaid.len(), 1, "{report}");
    assert_eq!(unpaid[0]["server_id"], order.as_str());
    assert_eq!(unpaid[0]["job_id"], id.as_str());
    assert!(
        unpaid[0]["detail"]
            .as_str()
            .unwrap_or("")
            .contains("Pending"),
        "{report}"
    );
    assert!(
        findings(&report, "untracked").is_empty(),
        "the job names it: {report}"
    );
    // Never acted on: the order is still there, unpaid, not cancelled.
    assert_eq!(app.inferno().requests("cancel"), 0);
    Ok(())
}

#[tokio::test]
async fn a_hostkey_server_removed_upstream_is_gone() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .start()
        .await?;
    let _worker = spawn_worker(sweeping(&app, Duration::from_millis(500))).await?;
    let body = json!({
        "kind": "provision",
        "account": "hk-nl",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "h1.example.com",
        "root_password": "S3cure!pass",
    });
    let id = app.api.post_job(&body).await?.id().to_owned();
    let job = app.api.wait_for_state(&id, "succeeded", LONG).await?;
    let server = job["server"]["id"]
        .as_str()
        .expect("a server id")
        .to_owned();

    let report = wait_until("a sweep listing the server", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok((r["accounts"][0]["listed"] == 1).then_some(r))
    })
    .await?;
    assert_eq!(report["findings"], json!([]), "the job's server: {report}");

    assert!(app.hostkey().remove_server(server.parse()?));
    let report = wait_until("a sweep that sees it gone", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok((!findings(&r, "gone").is_empty()).then_some(r))
    })
    .await?;
    let gone = findings(&report, "gone");
    assert_eq!(gone[0]["server_id"], server.as_str());
    assert_eq!(gone[0]["job_id"], id.as_str());
    Ok(())
}

#[tokio::test]
async fn an_idcloudhost_vm_in_another_location_is_its_jobs() -> anyhow::Result<()> {
    let app = stack().await?;
    let _worker = spawn_worker(sweeping(&app, Duration::from_millis(500))).await?;
    let mut body = provision("away.example.com");
    body["order"]["location"] = json!("bus02");
    let id = app.api.post_job(&body).await?.id().to_owned();
    let job = app.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert!(
        job["server"]["id"]
            .as_str()
            .unwrap_or("")
            .starts_with("bus02/"),
        "{job}"
    );
    let report = wait_until("a sweep listing the VM", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok((r["accounts"][0]["listed"] == 1).then_some(r))
    })
    .await?;
    assert_eq!(
        report["findings"],
        json!([]),
        "neither untracked nor gone: {report}"
    );
    Ok(())
}

#[tokio::test]
async fn a_failed_listing_is_the_accounts_error_in_the_providers_words() -> anyhow::Result<()> {
    let app = stack().await?;
    app.idcloudhost().faults().set_action(
        actions::LOCATIONS,
        FaultKnobs {
            error_rate: 1.0,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(sweeping(&app, Duration::from_millis(500))).await?;
    let report = wait_until("a sweep", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok(r["swept_at"].is_string().then_some(r))
    })
    .await?;
    let account = &report["accounts"][0];
    assert_eq!(account["status"], "error", "{report}");
    let error = account["error"].as_str().unwrap_or("");
    assert!(
        error.contains("idcloudhost") && error.contains("500"),
        "{error}"
    );
    assert_eq!(report["findings"], json!([]));

    // The next sweep after the provider recovers is ok again.
    app.idcloudhost()
        .faults()
        .set_action(actions::LOCATIONS, FaultKnobs::default())?;
    wait_until("an ok sweep", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        Ok((r["accounts"][0]["status"] == "ok").then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_server_our_deprovision_deleted_is_not_gone() -> anyhow::Result<()> {
    let app = stack().await?;
    let _worker = spawn_worker(sweeping(&app, Duration::from_millis(500))).await?;
    let id = app
        .api
        .post_job(&provision("short-lived.example.com"))
        .await?
        .id()
        .to_owned();
    let job = app.api.wait_for_state(&id, "succeeded", LONG).await?;
    let uuid = job["server"]["id"]
        .as_str()
        .expect("a server id")
        .to_owned();
    let body = json!({"kind": "deprovision", "account": "idc", "server_id": uuid});
    let did = app.api.post_job(&body).await?.id().to_owned();
    app.api.wait_for_state(&did, "succeeded", LONG).await?;
    let planted = app.idcloudhost().plant_vm("console-made");
    // A sweep after the deprovision (it sees the VM planted after it): no gone.
    let report = wait_until("a sweep after the deprovision", LONG, || async {
        let r = app.api.get("/v1/drift").await?.expect(StatusCode::OK)?.body;
        let after = findings(&r, "untracked")
            .iter()
            .any(|f| f["server_id"] == planted.as_str());
        Ok(after.then_some(r))
    })
    .await?;
    assert!(findings(&report, "gone").is_empty(), "{report}");
    Ok(())
}
