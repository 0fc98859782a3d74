//! Klikk end to end: the real worker and api against the Klikk simulator, over real
//! HTTP and a real Redis.

use provisioner_sandbox::klikk::{KlikkOptions, KlikkSim, OrderSnapshot, OsChoice};
use provisioner_sandbox::sim::{FaultKnobs, Hang, RateLimit};
use provisioner_shared::Config;
use provisioner_shared::config::PaymentTimeout;
use provisioner_tests::providers::{KlikkLedger, klikk_ledger, start_klikk};
use provisioner_tests::{TestApi, TestApp, spawn_app, spawn_worker, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// Redis, the Klikk simulator, and the api with two accounts on it: `klikk` (token)
/// and `klikk-basic` (HTTP Basic). `tune` adjusts the config first.
async fn stack_with(tune: impl FnOnce(&mut Config) + Send + 'static) -> anyhow::Result<TestApp> {
    stack_on(start_klikk().await?, tune).await
}

/// [`stack_with`] on a simulator of the test's own.
async fn stack_on(
    sim: KlikkSim,
    tune: impl FnOnce(&mut Config) + Send + 'static,
) -> anyhow::Result<TestApp> {
    spawn_app()
        .klikk("klikk", sim)
        .klikk_basic("klikk-basic")
        .tune(tune)
        .start()
        .await
}

async fn stack() -> anyhow::Result<TestApp> {
    stack_with(|_| {}).await
}

/// A provision with the OS by name, as seed 000 orders it.
fn provision(hostname: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "klikk",
        "reference": format!("svc-{hostname}"),
        "hostname": hostname,
        "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "203.0.113.0/24"},
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
    })
}

async fn enqueue(api: &TestApi, body: &Value) -> anyhow::Result<String> {
    Ok(api
        .post_job(body)
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned())
}

fn step<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

/// The simulator's order for a job (ordered with `reference` = the job id).
fn order_of(sim: &KlikkSim, job_id: &str) -> OrderSnapshot {
    let mine: Vec<OrderSnapshot> = sim
        .orders()
        .into_iter()
        .filter(|o| o.reference.as_deref() == Some(job_id))
        .collect();
    assert_eq!(mine.len(), 1, "one order per job: {mine:?}");
    mine.into_iter().next().expect("one")
}

/// Waits until the job waits for its payment, and returns it.
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

#[tokio::test]
async fn provision_succeeds_with_the_simulators_ip_and_one_order() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, &provision("web-1.example.com")).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;

    let order = order_of(s.klikk(), &id);
    let server = &s.klikk().servers()[0];
    assert_eq!(
        job["server"]["id"].as_str(),
        Some(server.id.to_string().as_str())
    );
    assert_eq!(
        job["server"]["order_id"].as_str(),
        Some(order.id.to_string().as_str())
    );
    assert_eq!(
        job["server"]["ipv4"].as_str(),
        server.ipv4.as_deref(),
        "{job}"
    );
    assert_eq!(job["server"]["ipv6"].as_str(), Some(server.ipv6.as_str()));
    assert_eq!(
        klikk_ledger(s.klikk()),
        KlikkLedger {
            orders: 1,
            payments: 1,
            servers: 1,
            ..Default::default()
        }
    );
    let item = &order.items[0];
    assert_eq!(
        item.name, "web-1.example.com",
        "the item is named after the host"
    );
    assert_eq!(
        item.authorized_keys.as_deref(),
        Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com")
    );
    assert_eq!(item.ip_allow, "203.0.113.0/24");
    assert!(
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|st| st["state"] == "done"),
        "{job}"
    );
    Ok(())
}

#[tokio::test]
async fn the_os_goes_by_name_or_by_id_and_basic_auth_works_too() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let by_name = enqueue(&s.api, &provision("named.example.com")).await?;
    let mut body = provision("numbered.example.com");
    body["account"] = json!("klikk-basic");
    body["order"]["os"] = json!(2);
    body["order"]["ipv4"] = json!(false);
    body["order"].as_object_mut().unwrap().remove("os_version");
    let by_id = enqueue(&s.api, &body).await?;
    s.api.wait_for_state(&by_name, "succeeded", LONG).await?;
    let job = s.api.wait_for_state(&by_id, "succeeded", LONG).await?;

    assert_eq!(
        order_of(s.klikk(), &by_name).items[0].os,
        OsChoice::Name {
            name: "Debian".into(),
            version: "10.4".into()
        }
    );
    let numbered = order_of(s.klikk(), &by_id);
    assert_eq!(numbered.items[0].os, OsChoice::Id(2));
    assert!(!numbered.items[0].ipv4, "features.ipv4 = 0 was sent");
    assert!(job["server"]["ipv4"].is_null(), "no IPv4 ordered: {job}");
    assert!(job["server"]["ipv6"].is_string(), "{job}");
    assert_eq!(klikk_ledger(s.klikk()).orders, 2);
    Ok(())
}

#[tokio::test]
async fn an_unpaid_order_waits_until_an_operator_retry_after_payment() -> anyhow::Result<()> {
    // Every poll an hour apart, a payment deadline far away, and a paid order that
    // completes at once: the job can only go on within the test because the retry
    // pokes it.
    let sim = KlikkSim::start(KlikkOptions {
        time_factor: 3000.0,
        provisioning: Duration::ZERO,
        ..KlikkOptions::default()
    })
    .await?;
    let s = stack_on(sim, |c| {
        c.polling.initial = Duration::from_secs(3600);
        c.polling.max = Duration::from_secs(3600);
        c.deadlines.payment = Duration::from_secs(3600);
    })
    .await?;
    s.klikk().set_auto_pay(false);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, &provision("unpaid.example.com")).await?;
    let job = wait_for_payment_wait(&s.api, &id).await?;
    assert_eq!(job["step"], "await_payment", "{job}");
    assert!(
        job["note"].as_str().unwrap().contains("Payment required"),
        "Klikk's own words: {job}"
    );
    let order = order_of(s.klikk(), &id);
    assert_eq!(order.status, 100);

    assert!(s.klikk().mark_paid(order.id));
    s.api
        .post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let job = s
        .api
        .wait_for_state(&id, "succeeded", Duration::from_secs(30))
        .await?;
    assert!(job["server"]["ipv4"].is_string(), "{job}");
    assert_eq!(klikk_ledger(s.klikk()).orders, 1);
    Ok(())
}

#[tokio::test]
async fn a_payment_that_never_comes_fails_at_the_deadline_and_keep_leaves_the_order()
-> anyhow::Result<()> {
    let s = stack_with(|c| {
        c.deadlines.payment = Duration::from_secs(2);
        c.deadlines.on_payment_timeout = PaymentTimeout::Keep;
    })
    .await?;
    s.klikk().set_auto_pay(false);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, &provision("never.example.com")).await?;
    let job = s.api.wait_for_state(&id, "failed", LONG).await?;
    assert_eq!(job["error"]["step"], "await_payment", "{job}");
    let message = job["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("payment (2s) deadline ran out") && message.contains("awaiting payment"),
        "{message}"
    );
    assert!(
        message.contains("kept at klikk") && message.contains("on_payment_timeout = \"keep\""),
        "{message}"
    );
    assert_eq!(step(&job, "await_delivery")["state"], "skipped");
    assert_eq!(
        order_of(s.klikk(), &id).status,
        100,
        "still unpaid at Klikk"
    );
    assert_eq!(klikk_ledger(s.klikk()).cancels, 0);
    Ok(())
}

#[tokio::test]
async fn cancelling_a_job_that_awaits_payment_cancels_its_order() -> anyhow::Result<()> {
    let s = stack().await?;
    s.klikk().set_auto_pay(false);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, &provision("changed-mind.example.com")).await?;
    wait_for_payment_wait(&s.api, &id).await?;
    s.api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "cancelled", LONG).await?;
    assert_eq!(step(&job, "compensate_cancel")["state"], "done", "{job}");
    assert_eq!(order_of(s.klikk(), &id).status, 900, "cancelled at Klikk");
    assert_eq!(klikk_ledger(s.klikk()).cancels, 1);
    Ok(())
}

#[tokio::test]
async fn deprovision_cancels_the_servers_order_item() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, &provision("gone.example.com")).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    let server_id = job["server"]["id"].as_str().unwrap().to_owned();

    let body = json!({"kind": "deprovision", "account": "klikk", "server_id": server_id});
    let did = enqueue(&s.api, &body).await?;
    let done = s.api.wait_for_state(&did, "succeeded", LONG).await?;
    let order = order_of(s.klikk(), &id);
    assert!(order.items[0].cancel_requested, "the item is not renewed");
    assert_eq!(order.status, 0, "a completed order stays as it is (GAPS)");
    assert_eq!(klikk_ledger(s.klikk()).not_renewed, 1);
    assert_eq!(step(&done, "cancel_order")["state"], "done", "{done}");
    assert_eq!(
        done["server"]["order_id"].as_str(),
        Some(order.id.to_string().as_str())
    );
    Ok(())
}

#[tokio::test]
async fn a_crash_between_the_order_call_and_saving_its_result_is_reconciled() -> anyhow::Result<()>
{
    let s = stack().await?;
    // The order is placed at Klikk, but worker A dies before it hears the answer.
    s.klikk().faults().set_action(
        "order_create",
        FaultKnobs {
            hang: Some(Hang {
                ms: 60_000,
                calls: Some(1),
                rate: None,
            }),
            ..Default::default()
        },
    )?;
    let a = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, &provision("crash.example.com")).await?;
    wait_until("the order to reach Klikk", LONG, || async {
        Ok((s.klikk().requests("order_create") >= 1).then_some(()))
    })
    .await?;
    a.abort();
    assert_eq!(klikk_ledger(s.klikk()).orders, 1);

    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        klikk_ledger(s.klikk()).orders,
        1,
        "reconciled by reference: one order"
    );
    assert_eq!(s.klikk().requests("order_create"), 1, "never sent again");
    assert!(
        step(&job, "order")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("adopted"),
        "{job}"
    );
    Ok(())
}

#[tokio::test]
async fn an_order_answered_with_a_500_after_it_was_applied_is_adopted() -> anyhow::Result<()> {
    let s = stack().await?;
    s.klikk().faults().set_action(
        "order_create",
        FaultKnobs {
            apply_then_500: 1,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, &provision("fivehundred.example.com")).await?;
    s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(klikk_ledger(s.klikk()).orders, 1);
    assert_eq!(s.klikk().requests("order_create"), 1);
    assert!(
        s.klikk().requests("order_list") >= 1,
        "looked up by reference"
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_order_fails_in_klikks_own_words() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut body = provision("plan9.example.com");
    body["order"]["os"] = json!("Plan9");
    let id = enqueue(&s.api, &body).await?;
    let job = s.api.wait_for_state(&id, "failed", LONG).await?;
    assert_eq!(job["error"]["step"], "order", "{job}");
    assert_eq!(
        job["error"]["provider_message"],
        "Unknown operating system: Plan9"
    );
    assert_eq!(klikk_ledger(s.klikk()).orders, 0);
    Ok(())
}

#[tokio::test]
async fn a_rate_limited_account_slows_down_but_every_job_ends() -> anyhow::Result<()> {
    let s = stack().await?;
    s.klikk().faults().set_global(FaultKnobs {
        rate_limit: Some(RateLimit {
            next: 0,
            max_per_sec: Some(20.0),
            retry_after_secs: 1,
            rate: 0.0,
        }),
        ..Default::default()
    })?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut ids = vec![];
    for i in 0..6 {
        ids.push(enqueue(&s.api, &provision(&format!("storm{i}.example.com"))).await?);
    }
    for id in &ids {
        s.api
            .wait_for_state(id, "succeeded", Duration::from_secs(120))
            .await?;
    }
    assert_eq!(klikk_ledger(s.klikk()).orders, 6);
    assert_eq!(klikk_ledger(s.klikk()).servers, 6);
    Ok(())
}

#[tokio::test]
async fn a_reinstall_is_refused_with_the_reason() -> anyhow::Result<()> {
    let s = stack().await?;
    let reply = s
        .api
        .post_job(&json!({"kind": "reinstall", "account": "klikk", "server_id": "5100"}))
        .await?
        .expect(StatusCode::UNPROCESSABLE_ENTITY)?;
    assert_eq!(reply.error_field(), Some("kind"));
    assert!(
        reply.error_message().contains("offers no reinstall"),
        "{}",
        reply.text
    );
    assert_eq!(s.klikk().ledger().len(), 0);
    Ok(())
}
