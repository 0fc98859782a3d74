//! Inferno end to end: the real worker and api against the Inferno simulator, over
//! real HTTP and a real Redis.

use provisioner_sandbox::inferno::{InfernoOptions, InfernoSim, OrderStatus, PrintRLayout};
use provisioner_sandbox::sim::{FaultKnobs, Hang, RateLimit};
use provisioner_tests::providers::{InfernoLedger, inferno_ledger, start_inferno};
use provisioner_tests::{TestApp, spawn_app, spawn_worker, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com";

/// Redis, the simulator and the api (no worker yet); `tune` adjusts the config first.
async fn stack_with(
    auto_pay: bool,
    tune: impl FnOnce(&mut provisioner_shared::Config) + Send + 'static,
) -> anyhow::Result<TestApp> {
    stack_on(start_inferno(auto_pay).await?, tune).await
}

/// [`stack_with`] on a simulator of the test's own.
async fn stack_on(
    sim: InfernoSim,
    tune: impl FnOnce(&mut provisioner_shared::Config) + Send + 'static,
) -> anyhow::Result<TestApp> {
    spawn_app().inferno("inferno", sim).tune(tune).start().await
}

async fn stack(auto_pay: bool) -> anyhow::Result<TestApp> {
    stack_with(auto_pay, |_| {}).await
}

fn provision(hostname: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "inferno",
        "reference": format!("svc-{hostname}"),
        "order": {"product_id": 303, "os_template": "centos7-64-default"},
        "hostname": hostname,
        "ssh_keys": [KEY],
    })
}

fn step<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

fn detail<'a>(job: &'a Value, name: &str) -> &'a str {
    step(job, name)["detail"].as_str().unwrap_or("")
}

fn order_of(job: &Value) -> u64 {
    job["server"]["id"]
        .as_str()
        .expect("the job names its server")
        .parse()
        .expect("an Inferno order id is a number")
}

async fn post(s: &TestApp, body: &Value) -> anyhow::Result<String> {
    Ok(s.api.post_job(body).await?.id().to_owned())
}

async fn wait_for_requests(sim: &InfernoSim, action: &str, n: u64) -> anyhow::Result<()> {
    wait_until(&format!("{n} × {action}"), LONG, || async {
        Ok((sim.requests(action) >= n).then_some(()))
    })
    .await
}

async fn wait_for_note(s: &TestApp, id: &str, needle: &str) -> anyhow::Result<Value> {
    wait_until(&format!("a note with `{needle}`"), LONG, || async {
        let job = s.api.get_job(id).await?.body;
        let note = job["note"].as_str().unwrap_or("");
        Ok((job["state"] == "waiting" && note.contains(needle)).then_some(job))
    })
    .await
}

#[tokio::test]
async fn provision_succeeds_with_the_simulators_ip_and_exactly_one_order() -> anyhow::Result<()> {
    let s = stack(true).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("web-1.example.com")).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;

    let order = s
        .inferno()
        .order(order_of(&job))
        .expect("the simulator knows it");
    let vps = order.vps.expect("the order has its VPS");
    assert_eq!(
        job["server"]["ipv4"].as_str(),
        Some(vps.ip.as_str()),
        "{job}"
    );
    assert_eq!(job["server"]["order_id"], job["server"]["id"]);
    assert_eq!(
        job["server"]["invoice_id"].as_str(),
        Some(order.invoice_id.to_string().as_str())
    );
    assert!(!vps.installing && vps.template == "centos7-64-default");
    let key_ids: Vec<u64> = s.inferno().ssh_keys().iter().map(|(id, _)| *id).collect();
    assert_eq!(vps.ssh_key_ids, key_ids, "installed with the request's key");
    assert_eq!(key_ids.len(), 1);
    let ledger = inferno_ledger(s.inferno());
    assert_eq!((ledger.orders, ledger.installs, ledger.cancels), (1, 1, 0));
    assert_eq!(s.inferno().requests("create"), 1);
    assert!(
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|st| st["state"] == "done"),
        "{job}"
    );
    assert!(
        !job.to_string().contains(&vps.password),
        "the VPS password is sealed, never shown"
    );
    Ok(())
}

#[tokio::test]
async fn a_reinstall_installs_again_on_the_same_order() -> anyhow::Result<()> {
    let s = stack(true).await?;
    // PHP's own print_r layout, to read it end to end too
    s.inferno().set_layout(PrintRLayout::Php);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("re.example.com")).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    let order = order_of(&job);
    let first = s.inferno().order(order).unwrap().vps.unwrap();

    let reinstall = json!({
        "kind": "reinstall", "account": "inferno", "server_id": order.to_string(),
        "reinstall": {"os_template": "debian12-64-default"}, "ssh_keys": [KEY],
    });
    let rid = post(&s, &reinstall).await?;
    let rjob = s.api.wait_for_state(&rid, "succeeded", LONG).await?;
    assert_eq!(rjob["server"]["id"], job["server"]["id"]);
    assert_eq!(rjob["server"]["ipv4"].as_str(), Some(first.ip.as_str()));
    let vps = s.inferno().order(order).unwrap().vps.unwrap();
    assert_eq!(
        (vps.template.as_str(), vps.installs),
        ("debian12-64-default", 2)
    );
    assert_eq!(
        inferno_ledger(s.inferno()),
        InfernoLedger {
            orders: 1,
            payments: 1,
            installs: 2,
            reinstalls: 1,
            cancels: 0
        },
        "a reinstall orders nothing"
    );
    assert_eq!(
        s.inferno().ssh_keys().len(),
        1,
        "the key was found, not added twice"
    );
    Ok(())
}

#[tokio::test]
async fn a_pending_order_is_deprovisioned_and_an_unknown_one_fails_in_infernos_words()
-> anyhow::Result<()> {
    let s = stack(false).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    // an order placed in Inferno's panel, never paid
    let order = s.inferno().place_order(303).expect("placed");
    let body = json!({"kind": "deprovision", "account": "inferno", "server_id": order.to_string()});
    let id = post(&s, &body).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert!(detail(&job, "cancel_order").contains("cancelled"), "{job}");
    assert_eq!(
        s.inferno().order(order).unwrap().status,
        OrderStatus::Cancelled
    );
    assert_eq!(inferno_ledger(s.inferno()).cancels, 1);

    // an order no worker has seen goes through the api; Inferno refuses it
    let body = json!({"kind": "deprovision", "account": "inferno", "server_id": "99999"});
    let id = post(&s, &body).await?;
    let job = s.api.wait_for_state(&id, "failed", LONG).await?;
    assert_eq!(
        job["error"]["provider_message"], "Order ID not found or Status not Pending",
        "{job}"
    );
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only unpaid (Pending) orders")
    );

    let not_a_number = json!({"kind": "deprovision", "account": "inferno", "server_id": "web-1"});
    let reply = s.api.post_job(&not_a_number).await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_field(), Some("server_id"));
    Ok(())
}

#[tokio::test]
async fn deprovision_of_an_active_order_is_refused_at_enqueue() -> anyhow::Result<()> {
    let s = stack(true).await?;
    let worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("paid.example.com")).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    // the api decides alone: no worker runs, and none calls Inferno
    worker.shutdown().await?;
    let cancels_before = s.inferno().requests("cancel");

    let body =
        json!({"kind": "deprovision", "account": "inferno", "server_id": job["server"]["id"]});
    let reply = s.api.post_job(&body).await?;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.error_field(), Some("server_id"));
    let message = reply.error_message();
    assert!(
        message.contains("only cancel unpaid (Pending) orders")
            && message.contains("Active")
            && message.contains("control panel"),
        "{message}"
    );
    let listed = s.api.list_jobs("account=inferno").await?.body;
    assert_eq!(
        listed["jobs"].as_array().map(Vec::len),
        Some(1),
        "nothing written"
    );
    assert_eq!(s.inferno().requests("cancel"), cancels_before);
    assert_eq!(inferno_ledger(s.inferno()).cancels, 0);
    Ok(())
}

#[tokio::test]
async fn a_job_awaits_payment_until_an_operator_retries_after_the_customer_paid()
-> anyhow::Result<()> {
    // every poll an hour apart, and an install that is done at once: only the
    // operator's retry can move the job on time
    let sim = InfernoSim::start(InfernoOptions {
        time_factor: 3000.0,
        auto_pay: false,
        install_duration: Duration::ZERO,
        ..InfernoOptions::default()
    })
    .await?;
    let s = stack_on(sim, |c| {
        c.polling.initial = Duration::from_secs(3600);
        c.polling.max = Duration::from_secs(3600);
        c.deadlines.payment = Duration::from_secs(3600);
    })
    .await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("unpaid.example.com")).await?;
    let job = wait_for_note(&s, &id, "awaiting payment: order 47000 is Pending").await?;
    assert_eq!(job["step"], "await_payment");
    assert_eq!(inferno_ledger(s.inferno()).installs, 0);

    assert!(s.inferno().mark_paid(47000));
    s.api
        .post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let job = s
        .api
        .wait_for_state(&id, "succeeded", Duration::from_secs(20))
        .await?;
    assert!(detail(&job, "await_payment").contains("paid"), "{job}");
    assert_eq!(inferno_ledger(s.inferno()).installs, 1);
    Ok(())
}

#[tokio::test]
async fn an_order_never_paid_fails_when_the_payment_deadline_runs_out() -> anyhow::Result<()> {
    let s = stack_with(false, |c| c.deadlines.payment = Duration::from_secs(1)).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("never.example.com")).await?;
    let job = s.api.wait_for_state(&id, "failed", LONG).await?;
    assert_eq!(job["error"]["step"], "await_payment");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("payment") && message.contains("deadline") && message.contains("Pending"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn a_cancelled_job_cancels_its_order_while_it_is_still_pending() -> anyhow::Result<()> {
    let s = stack(false).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("changed-mind.example.com")).await?;
    wait_for_note(&s, &id, "awaiting payment").await?;
    s.api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "cancelled", LONG).await?;
    assert_eq!(step(&job, "compensate_cancel")["state"], "done", "{job}");
    assert_eq!(
        s.inferno().order(47000).unwrap().status,
        OrderStatus::Cancelled
    );
    assert_eq!(inferno_ledger(s.inferno()).cancels, 1);
    Ok(())
}

/// Worker A places the order but dies before it hears the answer.
async fn crash_during_the_order(s: &TestApp) -> anyhow::Result<String> {
    s.inferno().faults().set_action(
        "create",
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
    let id = post(s, &provision("crash.example.com")).await?;
    wait_for_requests(s.inferno(), "create", 1).await?;
    a.abort();
    assert_eq!(
        inferno_ledger(s.inferno()).orders,
        1,
        "the order was placed"
    );
    Ok(id)
}

#[tokio::test]
async fn a_crash_between_the_order_call_and_saving_it_adopts_the_one_new_order()
-> anyhow::Result<()> {
    let s = stack(true).await?;
    let id = crash_during_the_order(&s).await?;
    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        s.inferno().requests("create"),
        1,
        "the order was never sent again"
    );
    assert_eq!(inferno_ledger(s.inferno()).orders, 1);
    assert_eq!(order_of(&job), 47000);
    assert!(detail(&job, "order").contains("adopted"), "{job}");
    Ok(())
}

#[tokio::test]
async fn a_crash_while_another_order_appears_needs_attention_until_resolved() -> anyhow::Result<()>
{
    let s = stack(true).await?;
    let id = crash_during_the_order(&s).await?;
    // meanwhile someone orders the same product in Inferno's panel: two new orders at
    // one price, no reference
    let manual = s.inferno().place_order(303).expect("placed");
    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "needs_attention", LONG).await?;
    assert_eq!(job["error"]["step"], "order", "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("47000") && message.contains(&manual.to_string()),
        "{message}"
    );
    assert_eq!(
        s.inferno().requests("create"),
        1,
        "never ordered again on a guess"
    );

    // the operator checks at Inferno and adopts the job's order
    s.api
        .post(
            &format!("/v1/jobs/{id}/resolve"),
            Some(&json!({"action": "adopt", "order_id": "47000"})),
        )
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(order_of(&job), 47000);
    assert!(
        s.inferno().order(manual).unwrap().vps.is_none(),
        "the manual order is left alone"
    );
    assert_eq!(inferno_ledger(s.inferno()).orders, 2);
    Ok(())
}

#[tokio::test]
async fn a_crash_while_another_products_order_appears_adopts_only_ours() -> anyhow::Result<()> {
    let s = stack(true).await?;
    let id = crash_during_the_order(&s).await?;
    // meanwhile someone orders another product (9.00, ours is 5.00) in the panel
    let manual = s.inferno().place_order(304).expect("placed");
    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(order_of(&job), 47000, "{job}");
    assert_eq!(s.inferno().requests("create"), 1, "never ordered again");
    assert!(s.inferno().order(manual).unwrap().vps.is_none());
    Ok(())
}

#[tokio::test]
async fn an_order_refused_while_another_products_order_appears_is_not_adopted() -> anyhow::Result<()>
{
    // A settle window long enough that the other order is surely listed before ours
    // is looked up.
    let s = stack_with(true, |c| c.worker.settle = Duration::from_secs(2)).await?;
    // Our create answers 500 before placing anything; meanwhile a customer orders
    // another product in the panel: the one new order is not ours.
    s.inferno().faults().set_action(
        "create",
        FaultKnobs {
            fail_next: 1,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("refused.example.com")).await?;
    wait_for_requests(s.inferno(), "create", 1).await?;
    let manual = s.inferno().place_order(304).expect("placed");
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    let ours = order_of(&job);
    assert_ne!(
        ours, manual,
        "the customer's order was taken for ours: {job}"
    );
    assert_eq!(s.inferno().order(ours).unwrap().product_id, 303, "{job}");
    assert!(
        s.inferno().order(manual).unwrap().vps.is_none(),
        "the customer's order is left alone"
    );
    assert_eq!(
        s.inferno().requests("create"),
        2,
        "ordered again once nothing of ours was found"
    );
    assert_eq!(inferno_ledger(s.inferno()).orders, 2);
    Ok(())
}

#[tokio::test]
async fn an_install_already_under_way_is_adopted_on_904() -> anyhow::Result<()> {
    let s = stack(false).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = post(&s, &provision("busy.example.com")).await?;
    wait_for_note(&s, &id, "awaiting payment").await?;
    // paid, and installed from Inferno's panel before the job gets there
    assert!(s.inferno().mark_paid(47000));
    s.inferno()
        .start_install(47000, "centos7-64-default")
        .map_err(anyhow::Error::msg)?;
    s.api
        .post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert!(
        detail(&job, "install").contains("already under way"),
        "{job}"
    );
    assert!(
        detail(&job, "install").contains("904") || detail(&job, "install").contains("Vps exists")
    );
    assert_eq!(inferno_ledger(s.inferno()).installs, 1, "no second install");
    assert_eq!(
        s.inferno().requests("install"),
        2,
        "run=0, then run=1: both 904"
    );
    let vps = s.inferno().order(47000).unwrap().vps.unwrap();
    assert_eq!(job["server"]["ipv4"].as_str(), Some(vps.ip.as_str()));
    Ok(())
}

#[tokio::test]
async fn a_rate_limited_account_slows_down_but_every_job_ends() -> anyhow::Result<()> {
    let s = stack(true).await?;
    s.inferno().faults().set_global(FaultKnobs {
        // the next requests are refused outright, later ones above 20/s
        rate_limit: Some(RateLimit {
            next: 5,
            max_per_sec: Some(20.0),
            retry_after_secs: 1,
            rate: 0.0,
        }),
        ..Default::default()
    })?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut ids = vec![];
    for i in 0..6 {
        ids.push(post(&s, &provision(&format!("storm{i}.example.com"))).await?);
    }
    for id in &ids {
        s.api
            .wait_for_state(id, "succeeded", Duration::from_secs(120))
            .await?;
    }
    let ledger = inferno_ledger(s.inferno());
    assert_eq!((ledger.orders, ledger.installs), (6, 6));
    Ok(())
}
