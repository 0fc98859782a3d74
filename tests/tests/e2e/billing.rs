//! The billing path end to end (issue 10): a billing system sends `service.created`
//! with a root password for every provider, or none; the customer gets the server's
//! login back; payment waits follow `[polling]`; a payment deadline cancels the
//! unpaid order upstream.

use provisioner_shared::Config;
use provisioner_shared::config::{PlanConfig, PollingConfig};
use provisioner_tests::hooks::{Delivery, Receiver};
use provisioner_tests::providers::{
    add_hostkey, add_idcloudhost, add_inferno, add_klikk, klikk_ledger, start_hostkey,
    start_idcloudhost, start_inferno, start_klikk,
};
use provisioner_tests::{TestApi, TestRedis, spawn_api, spawn_worker, test_config, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com";
/// What WHMCS generated for the service.
const BILLING_PASSWORD: &str = "Wh1cs-Gen3rated!pw";

fn plan(account: &str, order: Value) -> PlanConfig {
    PlanConfig {
        account: account.into(),
        order,
        reinstall: None,
    }
}

fn klikk_order() -> Value {
    json!({"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "203.0.113.0/24"})
}

fn inferno_order() -> Value {
    json!({"product_id": 303, "os_template": "centos7-64-default"})
}

/// `service.created` as WHMCS sends it: with the password it generated.
fn service_created(service_id: &str, plan: &str, hostname: &str) -> Value {
    json!({"type": "service.created", "data": {
        "service_id": service_id, "plan": plan, "hostname": hostname,
        "root_password": BILLING_PASSWORD, "ssh_keys": [KEY],
    }})
}

/// Sends a signed `service.created` and returns the provision job it made.
async fn provision_by_webhook(api: &TestApi, msg: &str, body: &Value) -> anyhow::Result<String> {
    let reply = Delivery::signed(msg, body)
        .send(api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "provision", "{}", reply.text);
    Ok(reply.body["jobs"][0]
        .as_str()
        .expect("the provision job")
        .to_owned())
}

async fn enqueue(api: &TestApi, body: &Value) -> anyhow::Result<String> {
    Ok(api
        .post_job(body)
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned())
}

/// Redis, the api on `config`, and a worker whose config knows the api's public URL
/// (so that providers can reach it: HOSTKEY's callbacks, Klikk's cloud-init).
async fn api_and_worker(
    mut config: Config,
) -> anyhow::Result<(TestApi, provisioner_tests::TestWorker)> {
    let api = spawn_api(config.clone()).await?;
    config.api.public_url = Some(api.base_url.parse()?);
    let worker = spawn_worker(config).await?;
    Ok((api, worker))
}

#[tokio::test]
async fn a_klikk_plan_with_a_root_password_provisions_from_a_signed_service_created()
-> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_klikk().await?;
    let mut config = test_config(&redis);
    add_klikk(&mut config, "klikk", &sim);
    config
        .plans
        .insert("klikk-small".into(), plan("klikk", klikk_order()));
    let (api, _worker) = api_and_worker(config).await?;

    let body = service_created("5001", "klikk-small", "k1.example.com");
    let id = provision_by_webhook(&api, "msg_klikk_5001", &body).await?;
    let job = api.wait_for_state(&id, "succeeded", LONG).await?;
    assert!(job["server"]["ipv4"].is_string(), "{job}");
    assert!(
        !job.to_string().contains(BILLING_PASSWORD),
        "no secret in the job JSON"
    );
    assert_eq!(job["warnings"], json!([]), "{job}");

    // The order carried our cloud-init URL, and the new server fetched it from the
    // api at its first boot: the document sets the billing system's password.
    let server: u64 = job["server"]["id"].as_str().unwrap_or("").parse()?;
    let fetch = wait_until("the server to fetch its cloud-init", LONG, || async {
        Ok(sim
            .cloud_init_fetches()
            .into_iter()
            .find(|f| f.server_id == server))
    })
    .await?;
    assert!(
        fetch
            .url
            .starts_with(&format!("{}/v1/cloud-init/{id}/", api.base_url)),
        "{fetch:?}"
    );
    assert_eq!(fetch.status, Some(200), "{fetch:?}");
    assert_eq!(fetch.root_password.as_deref(), Some(BILLING_PASSWORD));
    assert_eq!(fetch.ssh_keys, vec![KEY.to_owned()]);

    // The customer's login is the one the server's cloud-init set.
    let login = api.credentials(&id).await?.expect(StatusCode::OK)?;
    assert_eq!(login.body["password"], BILLING_PASSWORD, "{}", login.text);
    assert_eq!(login.body["source"], "given");
    assert_eq!(login.body["username"], "root");
    let job = api.get_job(&id).await?.body;
    let via: Vec<&str> = job["credential_reads"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["via"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(via, ["cloud-init", "api"], "{job}");

    // Another job's token, or none, opens nothing.
    let wrong = fetch.url.replace(&id, &ulid::Ulid::new().to_string());
    let res = api.anonymous().get(&wrong).send().await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_klikk_provision_without_a_password_gets_a_generated_one_through_cloud_init()
-> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_klikk().await?;
    let mut config = test_config(&redis);
    add_klikk(&mut config, "klikk", &sim);
    let (api, _worker) = api_and_worker(config).await?;

    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "klikk", "hostname": "k2.example.com",
                "order": klikk_order(), "ssh_keys": [KEY]}),
    )
    .await?;
    let job = api.wait_for_state(&id, "succeeded", LONG).await?;
    let server: u64 = job["server"]["id"].as_str().unwrap_or("").parse()?;
    let fetch = wait_until("the server to fetch its cloud-init", LONG, || async {
        Ok(sim
            .cloud_init_fetches()
            .into_iter()
            .find(|f| f.server_id == server))
    })
    .await?;
    let set = fetch.root_password.expect("the document sets a password");
    assert!(set.len() >= 16, "a strong password: {set}");
    assert!(!job.to_string().contains(&set), "no secret in the job JSON");
    let login = api.credentials(&id).await?.expect(StatusCode::OK)?;
    assert_eq!(login.body["password"], set.as_str());
    assert_eq!(login.body["source"], "generated");
    Ok(())
}

#[tokio::test]
async fn a_klikk_order_with_its_own_cloud_init_url_keeps_it_and_warns() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_klikk().await?;
    let mut config = test_config(&redis);
    add_klikk(&mut config, "klikk", &sim);
    let (api, _worker) = api_and_worker(config).await?;

    let mut order = klikk_order();
    order["cloud_init_url"] = json!("https://cloud-init.example.com/mine?id=1");
    let reply = api
        .post_job(
            &json!({"kind": "provision", "account": "klikk", "hostname": "k3.example.com",
                          "order": order, "root_password": BILLING_PASSWORD}),
        )
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let warnings = reply.body["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        warnings.len() == 1
            && warnings[0]
                .as_str()
                .unwrap_or("")
                .contains("cloud_init_url"),
        "{}",
        reply.text
    );
    let id = reply.id().to_owned();
    api.wait_for_state(&id, "succeeded", LONG).await?;
    // That document is not ours: no password to give back.
    let login = api.credentials(&id).await?.expect(StatusCode::OK)?;
    assert!(
        login.body["password"].is_null() && login.body["source"].is_null(),
        "{}",
        login.text
    );
    let placed = sim
        .orders()
        .into_iter()
        .find(|o| o.reference.as_deref() == Some(id.as_str()))
        .expect("the job's order");
    assert_eq!(
        placed.items[0].cloud_init_url.as_deref(),
        Some("https://cloud-init.example.com/mine?id=1")
    );
    Ok(())
}

#[tokio::test]
async fn an_inferno_plan_with_a_root_password_provisions_from_a_signed_service_created()
-> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_inferno(true).await?;
    let mut config = test_config(&redis);
    add_inferno(&mut config, "inferno", &sim);
    config
        .plans
        .insert("inferno-small".into(), plan("inferno", inferno_order()));
    let (api, _worker) = api_and_worker(config).await?;

    let body = service_created("5002", "inferno-small", "i1.example.com");
    let id = provision_by_webhook(&api, "msg_inferno_5002", &body).await?;
    let job = api.wait_for_state(&id, "succeeded", LONG).await?;
    assert!(job["server"]["ipv4"].is_string(), "{job}");
    assert!(!job.to_string().contains(BILLING_PASSWORD));
    // Inferno sets its own: the job says the given one was not used.
    let warnings = job["warnings"].as_array().cloned().unwrap_or_default();
    assert!(
        warnings.len() == 1
            && warnings[0]
                .as_str()
                .unwrap_or("")
                .contains("inferno sets the root password itself"),
        "{job}"
    );
    Ok(())
}

#[tokio::test]
async fn a_hostkey_provision_without_a_root_password_gets_one_meeting_hostkeys_policy()
-> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let hk = start_hostkey().await?;
    let mut config = test_config(&redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    let (api, _worker) = api_and_worker(config).await?;

    // with a PXE reinstall, whose password policy differs from the order's (seed 002)
    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "hk-nl", "hostname": "gen.example.com",
                "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
                "reinstall": {"os_id": 183}}),
    )
    .await?;
    let job = api.wait_for_state(&id, "succeeded", LONG).await?;
    let server: u64 = job["server"]["id"].as_str().unwrap_or("").parse()?;
    let set = hk
        .server(server)
        .and_then(|s| s.tag("password").map(str::to_owned))
        .expect("HOSTKEY keeps the root password as a tag");
    assert!(set.chars().count() >= 8, "{set}");
    assert!(set.chars().any(|c| c.is_ascii_uppercase()));
    assert!(set.chars().any(|c| c.is_ascii_lowercase()));
    assert!(set.chars().any(|c| c.is_ascii_digit()));
    assert!(set.chars().any(|c| !c.is_ascii_alphanumeric()));
    let login = api.credentials(&id).await?.expect(StatusCode::OK)?;
    assert_eq!(login.body["password"], set.as_str(), "{}", login.text);
    assert_eq!(login.body["source"], "generated");
    Ok(())
}

#[tokio::test]
async fn an_idcloudhost_provision_without_a_root_password_gets_one() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let idc = start_idcloudhost().await?;
    let mut config = test_config(&redis);
    add_idcloudhost(&mut config, "idc", &idc, true);
    let (api, _worker) = api_and_worker(config).await?;

    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "idc", "hostname": "gen.example.com",
                "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 2, "ram_mb": 2048, "disk_gb": 20}}),
    )
    .await?;
    api.wait_for_state(&id, "succeeded", LONG).await?;
    Ok(())
}

#[tokio::test]
async fn the_credentials_give_back_the_password_inferno_set() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_inferno(true).await?;
    let mut config = test_config(&redis);
    add_inferno(&mut config, "inferno", &sim);
    let (api, _worker) = api_and_worker(config).await?;

    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "inferno", "hostname": "i2.example.com",
                "order": inferno_order(), "ssh_keys": [KEY]}),
    )
    .await?;
    let job = api.wait_for_state(&id, "succeeded", LONG).await?;
    let order: u64 = job["server"]["id"].as_str().unwrap_or("").parse()?;
    let vps = sim.order(order).and_then(|o| o.vps).expect("the VPS");
    let reply = api.credentials(&id).await?.expect(StatusCode::OK)?;
    assert_eq!(
        reply.body["password"],
        vps.password.as_str(),
        "{}",
        reply.text
    );
    assert_eq!(reply.body["source"], "provider");
    assert_eq!(reply.body["username"], "root");
    assert_eq!(reply.body["ssh_keys"], json!([KEY]));
    assert_eq!(reply.headers["cache-control"], "no-store", "never cached");

    // The read is on the job: when, and which token's name; never the password.
    let job = api.get_job(&id).await?.expect(StatusCode::OK)?.body;
    let reads = job["credential_reads"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(reads.len(), 1, "{job}");
    assert_eq!(reads[0]["via"], "api");
    assert_eq!(reads[0]["token"], "billing");
    assert!(reads[0]["at"].is_string());
    assert!(!job.to_string().contains(&vps.password), "{job}");
    Ok(())
}

#[tokio::test]
async fn credentials_need_the_scope_and_the_server() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_klikk().await?;
    sim.set_auto_pay(false);
    let mut config = test_config(&redis);
    add_klikk(&mut config, "klikk", &sim);
    let (api, _worker) = api_and_worker(config).await?;
    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "klikk", "hostname": "scope.example.com",
                "order": klikk_order(), "root_password": BILLING_PASSWORD}),
    )
    .await?;
    wait_until("the job to await payment", LONG, || async {
        let job = api.get_job(&id).await?.body;
        Ok((job["state"] == "waiting").then_some(()))
    })
    .await?;

    // The plain token reads and writes jobs, but not a server's login.
    let refused = api.get(&format!("/v1/jobs/{id}/credentials")).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.error_code(), Some("forbidden"));
    assert_eq!(refused.error_field(), Some("credentials"));
    assert!(!refused.text.contains(BILLING_PASSWORD));

    // The right token, before the server exists: a clear 409.
    let early = api.credentials(&id).await?;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.error_code(), Some("not_ready"));
    assert!(
        early.error_message().contains("does not exist yet"),
        "{}",
        early.text
    );

    // Neither is a read.
    let job = api.get_job(&id).await?.body;
    assert_eq!(job["credential_reads"], json!([]), "{job}");
    let unknown = api.credentials(&ulid::Ulid::new().to_string()).await?;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn a_completion_callback_carries_the_login_only_with_include_credentials()
-> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    for include in [false, true] {
        let redis = TestRedis::start().await?;
        let idc = start_idcloudhost().await?;
        let receiver = Receiver::start(|_| 200).await?;
        let mut config = test_config(&redis);
        add_idcloudhost(&mut config, "idc", &idc, true);
        config.callbacks.include_credentials = include;
        let (api, _worker) = api_and_worker(config).await?;
        let id = enqueue(
            &api,
            &json!({"kind": "provision", "account": "idc", "hostname": "cb.example.com",
                    "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 2, "ram_mb": 2048, "disk_gb": 20},
                    "root_password": BILLING_PASSWORD, "callback_url": receiver.url}),
        )
        .await?;
        api.wait_for_state(&id, "succeeded", LONG).await?;
        let got = wait_until("the callback", LONG, || async {
            Ok(receiver.received().into_iter().next())
        })
        .await?;
        assert!(got.verifies(), "signed (include_credentials = {include})");
        let sent = got.json();
        assert_eq!(sent["id"], id.as_str());
        let job = wait_until("the callback attempt on the job", LONG, || async {
            let job = api.get_job(&id).await?.body;
            let attempts = job["callbacks"].as_array().map_or(0, Vec::len);
            Ok((attempts == 1).then_some(job))
        })
        .await?;
        assert!(!job.to_string().contains(BILLING_PASSWORD));
        if include {
            assert_eq!(sent["credentials"]["password"], BILLING_PASSWORD, "{sent}");
            assert_eq!(sent["credentials"]["source"], "given");
            assert_eq!(sent["credentials"]["username"], "root");
            assert_eq!(job["credential_reads"][0]["via"], "callback", "{job}");
        } else {
            assert!(sent.get("credentials").is_none(), "off by default: {sent}");
            assert!(!String::from_utf8_lossy(&got.body).contains(BILLING_PASSWORD));
            assert_eq!(job["credential_reads"], json!([]));
        }
    }
    Ok(())
}

/// Waits until the job waits for its payment.
async fn wait_for_payment_wait(api: &TestApi, id: &str) -> anyhow::Result<Value> {
    wait_until("the job to await payment", LONG, || async {
        let job = api.get_job(id).await?.body;
        let waiting = job["state"] == "waiting"
            && job["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("awaiting payment"));
        Ok(waiting.then_some(job))
    })
    .await
}

/// `[polling]` as a deployment that sets only `initial` and `max` has it.
fn polling(initial: Duration, max: Duration) -> PollingConfig {
    PollingConfig {
        initial,
        max,
        ..PollingConfig::default()
    }
}

#[tokio::test]
async fn a_payment_made_outside_is_seen_within_polling_max() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_klikk().await?;
    sim.set_auto_pay(false);
    let mut config = test_config(&redis);
    add_klikk(&mut config, "klikk", &sim);
    config.polling = polling(Duration::from_millis(50), Duration::from_millis(200));
    config.deadlines.payment = Duration::from_secs(3600);
    let (api, _worker) = api_and_worker(config).await?;

    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "klikk", "hostname": "paid.example.com",
                "order": klikk_order(), "ssh_keys": [KEY]}),
    )
    .await?;
    wait_for_payment_wait(&api, &id).await?;
    let order = sim
        .orders()
        .into_iter()
        .find(|o| o.reference.as_deref() == Some(id.as_str()))
        .expect("the job's order");
    // The customer pays at Klikk; nobody tells us (no webhook, no retry).
    assert!(sim.mark_paid(order.id));
    // `polling.max` is 200 ms: the next poll, however many came before, is at most
    // that far away (10 s is fifty of them).
    wait_until(
        "the job to see the payment",
        Duration::from_secs(10),
        || async {
            let job = api.get_job(&id).await?.body;
            let past = job["steps"]
                .as_array()
                .and_then(|s| s.iter().find(|s| s["name"] == "await_payment"))
                .is_some_and(|s| s["state"] == "done");
            Ok(past.then_some(()))
        },
    )
    .await?;
    api.wait_for_state(&id, "succeeded", LONG).await?;
    Ok(())
}

#[tokio::test]
async fn a_klikk_payment_timeout_cancels_the_unpaid_order() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_klikk().await?;
    sim.set_auto_pay(false);
    let mut config = test_config(&redis);
    add_klikk(&mut config, "klikk", &sim);
    config.deadlines.payment = Duration::from_secs(2);
    let (api, _worker) = api_and_worker(config).await?;

    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "klikk", "hostname": "unpaid.example.com",
                "order": klikk_order(), "ssh_keys": [KEY]}),
    )
    .await?;
    let job = api.wait_for_state(&id, "failed", LONG).await?;
    let order = sim
        .orders()
        .into_iter()
        .find(|o| o.reference.as_deref() == Some(id.as_str()))
        .expect("the job's order");
    assert_eq!(order.status, 900, "cancelled at Klikk: {job}");
    assert_eq!(klikk_ledger(&sim).cancels, 1);
    let message = job["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("payment (2s) deadline ran out")
            && message.contains("on_payment_timeout = \"cancel\"")
            && message.contains("cancel_unpaid: order")
            && message.contains("cancelled at Klikk"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn an_inferno_payment_timeout_cancels_the_pending_order() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let sim = start_inferno(false).await?;
    let mut config = test_config(&redis);
    add_inferno(&mut config, "inferno", &sim);
    config.deadlines.payment = Duration::from_secs(2);
    let (api, _worker) = api_and_worker(config).await?;

    let id = enqueue(
        &api,
        &json!({"kind": "provision", "account": "inferno", "hostname": "unpaid.example.com",
                "order": inferno_order(), "ssh_keys": [KEY]}),
    )
    .await?;
    let job = api.wait_for_state(&id, "failed", LONG).await?;
    let order: u64 = job["server"]["order_id"].as_str().unwrap_or("").parse()?;
    let status = sim.order(order).map(|o| o.status);
    assert_eq!(
        status,
        Some(provisioner_sandbox::inferno::OrderStatus::Cancelled),
        "{job}"
    );
    let message = job["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("cancelled"), "{message}");
    Ok(())
}
