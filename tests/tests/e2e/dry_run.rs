//! Dry runs (issue 13 point 2): `POST /v1/jobs?dry_run=true` checks a request
//! against the provider through a worker's read-only calls and answers the plan,
//! the price where the provider states it and every problem found, writing no job
//! and ordering nothing.

use provisioner_tests::providers::{
    IdcloudhostLedger, InfernoLedger, KlikkLedger, hostkey_orders_and_payments, idcloudhost_ledger,
    inferno_ledger, klikk_ledger, start_hostkey, start_idcloudhost, start_inferno, start_klikk,
};
use provisioner_tests::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn hostkey_provision(preset: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "hk-nl",
        "order": {"preset": preset, "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "web-1.example.com",
        "root_password": "S3cure!pass",
    })
}

async fn no_jobs(app: &TestApp) -> anyhow::Result<()> {
    let list = app.api.list_jobs("").await?.expect(StatusCode::OK)?;
    assert_eq!(list.body["jobs"], json!([]), "a dry run wrote a job");
    Ok(())
}

fn steps(answer: &Value) -> Vec<&str> {
    answer["plan"]
        .as_array()
        .expect("a plan")
        .iter()
        .map(|s| s["step"].as_str().expect("a step name"))
        .collect()
}

#[tokio::test]
async fn hostkey_dry_run_answers_plan_price_and_credit_and_orders_nothing() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .with_worker()
        .start()
        .await?;
    let reply = app
        .api
        .post("/v1/jobs?dry_run=true", Some(&hostkey_provision("vm.pico")))
        .await?
        .expect(StatusCode::OK)?;
    let answer = &reply.body;
    assert_eq!(answer["dry_run"], json!(true));
    assert_eq!(answer["ok"], json!(true), "{answer}");
    assert_eq!(answer["problems"], json!([]));
    assert_eq!(steps(answer)[..2], ["order", "pay"]);
    assert_eq!(answer["plan"][0]["calls"], json!(["eq/order_instance"]));
    assert_eq!(answer["price"]["currency"], json!("EUR"));
    assert!(answer["price"]["amount"].is_string(), "{answer}");
    assert!(answer["balance"]["credit"].is_string(), "{answer}");
    no_jobs(&app).await?;
    assert_eq!(hostkey_orders_and_payments(app.hostkey()), (0, 0));
    Ok(())
}

#[tokio::test]
async fn hostkey_dry_run_names_an_unknown_preset() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .with_worker()
        .start()
        .await?;
    // The body's own `dry_run` field works like the query parameter.
    let mut body = hostkey_provision("vm.nonexistent");
    body["dry_run"] = json!(true);
    let answer = app.api.post_job(&body).await?.expect(StatusCode::OK)?.body;
    assert_eq!(answer["ok"], json!(false), "{answer}");
    assert_eq!(answer["problems"][0]["field"], json!("order.preset"));
    let message = answer["problems"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("vm.nonexistent"), "{message}");
    assert_eq!(answer["price"], Value::Null);
    no_jobs(&app).await?;
    assert_eq!(hostkey_orders_and_payments(app.hostkey()), (0, 0));
    Ok(())
}

#[tokio::test]
async fn a_dry_run_with_bad_input_is_refused_like_an_enqueue() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .start()
        .await?;
    let mut body = hostkey_provision("vm.pico");
    body["hostname"] = json!("not a host name");
    let reply = app.api.post("/v1/jobs?dry_run=true", Some(&body)).await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_field(), Some("hostname"));
    let reply = app
        .api
        .post(
            "/v1/jobs?dry_run=maybe",
            Some(&hostkey_provision("vm.pico")),
        )
        .await?;
    assert_eq!(reply.error_field(), Some("dry_run"));
    no_jobs(&app).await?;
    Ok(())
}

#[tokio::test]
async fn a_dry_run_without_a_worker_is_answered_504() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .tune(|c| c.api.dry_run_timeout = Duration::from_millis(300))
        .start()
        .await?;
    let reply = app
        .api
        .post("/v1/jobs?dry_run=true", Some(&hostkey_provision("vm.pico")))
        .await?;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.error_code(), Some("dry_run_timeout"));
    no_jobs(&app).await?;
    assert_eq!(hostkey_orders_and_payments(app.hostkey()), (0, 0));
    Ok(())
}

fn inferno_provision(product_id: u64, template: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "inf",
        "order": {"product_id": product_id, "os_template": template},
        "hostname": "vps-1.example.com",
    })
}

#[tokio::test]
async fn inferno_dry_run_answers_the_tariffs_price_and_orders_nothing() -> anyhow::Result<()> {
    let app = spawn_app()
        .inferno("inf", start_inferno(true).await?)
        .with_worker()
        .start()
        .await?;
    let answer = app
        .api
        .post(
            "/v1/jobs?dry_run=true",
            Some(&inferno_provision(303, "centos7-64-default")),
        )
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(answer["ok"], json!(true), "{answer}");
    assert!(steps(&answer).contains(&"order"), "{answer}");
    assert!(answer["price"]["amount"].is_string(), "{answer}");
    no_jobs(&app).await?;
    assert_eq!(inferno_ledger(app.inferno()), InfernoLedger::default());
    Ok(())
}

#[tokio::test]
async fn inferno_dry_run_names_an_unknown_tariff_and_template() -> anyhow::Result<()> {
    let app = spawn_app()
        .inferno("inf", start_inferno(true).await?)
        .with_worker()
        .start()
        .await?;
    let answer = app
        .api
        .post(
            "/v1/jobs?dry_run=true",
            Some(&inferno_provision(999_999, "windows-95")),
        )
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(answer["ok"], json!(false), "{answer}");
    let fields: Vec<&str> = answer["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["order.product_id", "order.os_template"],
        "{answer}"
    );
    assert_eq!(answer["price"], Value::Null);
    no_jobs(&app).await?;
    assert_eq!(inferno_ledger(app.inferno()), InfernoLedger::default());
    Ok(())
}

#[tokio::test]
async fn inferno_reinstall_dry_run_is_install_run_0_in_inferno_words() -> anyhow::Result<()> {
    let app = spawn_app()
        .inferno("inf", start_inferno(true).await?)
        .with_worker()
        .start()
        .await?;
    // No such order at Inferno: `install run=0` refuses it, and its words are shown.
    let body = json!({
        "kind": "reinstall",
        "account": "inf",
        "server_id": "4242",
        "reinstall": {"os_template": "debian12-64-default"},
    });
    let answer = app
        .api
        .post("/v1/jobs?dry_run=true", Some(&body))
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(answer["ok"], json!(false), "{answer}");
    assert_eq!(answer["problems"][0]["field"], json!("server_id"));
    assert!(
        answer["problems"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Order 4242 not found")),
        "{answer}"
    );
    no_jobs(&app).await?;
    assert_eq!(inferno_ledger(app.inferno()), InfernoLedger::default());
    Ok(())
}

fn idcloudhost_provision(os_version: &str, location: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "idc",
        "order": {"os_name": "ubuntu", "os_version": os_version, "vcpu": 2, "ram_mb": 2048, "disk_gb": 20, "location": location},
        "hostname": "vm-1.example.com",
        "root_password": "S3cure!pass9",
    })
}

#[tokio::test]
async fn idcloudhost_dry_run_checks_location_and_os_and_shows_what_is_owed() -> anyhow::Result<()> {
    let app = spawn_app()
        .idcloudhost("idc", start_idcloudhost().await?, true)
        .with_worker()
        .start()
        .await?;
    let answer = app
        .api
        .post(
            "/v1/jobs?dry_run=true",
            Some(&idcloudhost_provision("22.04-lts", "bus02")),
        )
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(answer["ok"], json!(true), "{answer}");
    assert_eq!(steps(&answer)[0], "create_vm");
    assert!(answer["balance"]["unpaid"].is_string(), "{answer}");
    assert_eq!(answer["price"], Value::Null, "the seed states no VM price");
    no_jobs(&app).await?;
    assert_eq!(
        idcloudhost_ledger(app.idcloudhost()),
        IdcloudhostLedger::default()
    );
    Ok(())
}

#[tokio::test]
async fn idcloudhost_dry_run_names_an_unknown_os_version_and_location() -> anyhow::Result<()> {
    let app = spawn_app()
        .idcloudhost("idc", start_idcloudhost().await?, true)
        .with_worker()
        .start()
        .await?;
    let answer = app
        .api
        .post(
            "/v1/jobs?dry_run=true",
            Some(&idcloudhost_provision("99.99", "moon01")),
        )
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(answer["ok"], json!(false), "{answer}");
    let fields: Vec<&str> = answer["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert_eq!(fields, ["order.location", "order.os_version"], "{answer}");
    assert!(
        answer["problems"][1]["message"]
            .as_str()
            .is_some_and(|m| m.contains("22.04-lts")),
        "{answer}"
    );
    no_jobs(&app).await?;
    assert_eq!(
        idcloudhost_ledger(app.idcloudhost()),
        IdcloudhostLedger::default()
    );
    Ok(())
}

fn klikk_provision() -> Value {
    json!({
        "kind": "provision",
        "account": "klikk",
        "hostname": "kvm-1.example.com",
        "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "203.0.113.0/24"},
    })
}

#[tokio::test]
async fn klikk_dry_run_answers_the_plan_and_orders_nothing() -> anyhow::Result<()> {
    let app = spawn_app()
        .klikk("klikk", start_klikk().await?)
        .with_worker()
        .start()
        .await?;
    let answer = app
        .api
        .post("/v1/jobs?dry_run=true", Some(&klikk_provision()))
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(answer["ok"], json!(true), "{answer}");
    assert_eq!(answer["plan"][0]["calls"], json!(["order_create"]));
    assert_eq!(answer["price"], Value::Null, "Klikk's API states no price");
    no_jobs(&app).await?;
    assert_eq!(klikk_ledger(app.klikk()), KlikkLedger::default());
    Ok(())
}

#[tokio::test]
async fn klikk_dry_run_shows_klikks_refusal_of_bad_credentials() -> anyhow::Result<()> {
    let app = spawn_app()
        .klikk("klikk", start_klikk().await?)
        .tune(|c| {
            for a in &mut c.accounts {
                a.token = Some(provisioner_shared::secret::ConfigSecret::from(
                    "not-the-token",
                ));
            }
        })
        .with_worker()
        .start()
        .await?;
    let answer = app
        .api
        .post("/v1/jobs?dry_run=true", Some(&klikk_provision()))
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(answer["ok"], json!(false), "{answer}");
    assert_eq!(answer["problems"][0]["field"], json!("account"));
    no_jobs(&app).await?;
    assert_eq!(klikk_ledger(app.klikk()), KlikkLedger::default());
    Ok(())
}
