//! HOSTKEY end to end: the real worker and api against the HOSTKEY simulator, over
//! real HTTP and a real Redis.

use provisioner_sandbox::hostkey::{BootDevice, HostkeyEvent, HostkeySim, InvoiceStatus};
use provisioner_sandbox::sim::{FaultKnobs, FaultsConfig, Hang};
use provisioner_tests::providers::{
    hostkey_apply_credit_by_hand, hostkey_orders_and_payments, start_hostkey,
};
use provisioner_tests::{TestApp, spawn_app, spawn_worker, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// Redis, the HOSTKEY simulator and the api with the account `hk-nl` (no worker yet).
async fn stack() -> anyhow::Result<TestApp> {
    spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .start()
        .await
}

fn provision(hostname: &str, reinstall: bool) -> Value {
    let mut body = json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": format!("svc-{hostname}"),
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": hostname,
        "root_password": "S3cure!pass",
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
    });
    if reinstall {
        body["reinstall"] = json!({"os_id": 183});
    }
    body
}

fn server_of(hk: &HostkeySim, job: &Value) -> provisioner_sandbox::hostkey::ServerSnapshot {
    let id: u64 = job["server"]["id"]
        .as_str()
        .expect("the job names its server")
        .parse()
        .expect("numeric id");
    hk.server(id).expect("the simulator knows the server")
}

/// A server left as PXE must leave it: no PXE config, booting from disk.
fn assert_pxe_cleared(hk: &HostkeySim, job: &Value) {
    let s = server_of(hk, job);
    assert!(!s.pxe_config, "PXE config left on server {}", s.id);
    assert_eq!(
        s.boot_device,
        BootDevice::Disk,
        "server {} does not boot from disk",
        s.id
    );
    let sudden = hk
        .ledger()
        .count(|e| matches!(e, HostkeyEvent::SuddenReinstall { .. }));
    assert_eq!(sudden, 0);
}

fn step<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

async fn wait_for_requests(hk: &HostkeySim, action: &str, n: u64) -> anyhow::Result<()> {
    wait_until(&format!("{n} × {action}"), LONG, || async {
        Ok((hk.requests(action) >= n).then_some(()))
    })
    .await
}

#[tokio::test]
async fn provision_with_pxe_reinstall_succeeds_with_one_order_and_one_payment() -> anyhow::Result<()>
{
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("web-1.example.com", true))
        .await?
        .id()
        .to_owned();
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;

    let server = server_of(s.hostkey(), &job);
    assert_eq!(
        job["server"]["ipv4"].as_str(),
        Some(server.ipv4.as_str()),
        "the job shows the simulator's IP"
    );
    assert!(job["server"]["invoice_id"].is_string());
    assert_eq!(hostkey_orders_and_payments(s.hostkey()), (1, 1));
    assert_pxe_cleared(s.hostkey(), &job);
    assert!(
        server.install.as_ref().is_some_and(|i| i.completed),
        "the PXE install ran to its end"
    );
    assert!(
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|st| st["state"] == "done"),
        "{job}"
    );
    assert!(job["error"].is_null());
    // nothing secret in the job JSON
    let text = job.to_string();
    assert!(!text.contains("S3cure!pass"), "{text}");
    Ok(())
}

#[tokio::test]
async fn provision_without_reinstall_and_a_reinstall_of_an_existing_server() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("plain.example.com", false))
        .await?
        .id()
        .to_owned();
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    let server_id = job["server"]["id"].as_str().unwrap().to_owned();
    assert_eq!(step(&job, "collect")["state"], "done");
    assert!(
        step(&job, "create_pxe").is_null(),
        "no PXE steps without a reinstall"
    );

    let reinstall = json!({
        "kind": "reinstall", "account": "hk-nl", "server_id": server_id,
        "hostname": "plain.example.com", "root_password": "N3w!Secret", "reinstall": {"os_id": 187}
    });
    let rid = s.api.post_job(&reinstall).await?.id().to_owned();
    let rjob = s.api.wait_for_state(&rid, "succeeded", LONG).await?;
    assert_eq!(rjob["server"]["id"].as_str(), Some(server_id.as_str()));
    assert_eq!(
        hostkey_orders_and_payments(s.hostkey()),
        (1, 1),
        "a reinstall orders and pays nothing"
    );
    assert_pxe_cleared(s.hostkey(), &rjob);
    Ok(())
}

#[tokio::test]
async fn deprovision_requests_the_cancellation() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("gone.example.com", false))
        .await?
        .id()
        .to_owned();
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    let server_id = job["server"]["id"].as_str().unwrap().to_owned();
    let body = json!({"kind": "deprovision", "account": "hk-nl", "server_id": server_id});
    let did = s.api.post_job(&body).await?.id().to_owned();
    s.api.wait_for_state(&did, "succeeded", LONG).await?;
    assert!(server_of(s.hostkey(), &job).cancellation_requested);
    Ok(())
}

#[tokio::test]
async fn a_failure_after_create_pxe_still_clears_pxe_and_boots_from_disk() -> anyhow::Result<()> {
    let s = stack().await?;
    // every reboot fails: the job must fail, but only after undoing the PXE setup
    s.hostkey().faults().set_action(
        "eq/reboot",
        FaultKnobs {
            error_rate: 1.0,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("broken.example.com", true))
        .await?
        .id()
        .to_owned();
    let job = s.api.wait_for_state(&id, "failed", LONG).await?;
    assert_eq!(job["error"]["step"], "reboot", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gave up after"),
        "{job}"
    );
    assert_eq!(step(&job, "boot_disk")["state"], "done");
    assert_eq!(step(&job, "clear_pxe")["state"], "done");
    assert_eq!(step(&job, "collect")["state"], "skipped");
    assert_pxe_cleared(s.hostkey(), &job);

    // the operator fixes the cause and retries: PXE is armed again and the install runs
    s.hostkey().faults().clear();
    s.api
        .post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_pxe_cleared(s.hostkey(), &job);
    assert!(
        server_of(s.hostkey(), &job)
            .install
            .is_some_and(|i| i.completed)
    );
    assert_eq!(hostkey_orders_and_payments(s.hostkey()), (1, 1));
    Ok(())
}

#[tokio::test]
async fn cancel_during_the_install_clears_pxe_and_cancels_the_server() -> anyhow::Result<()> {
    let s = stack().await?;
    // slow the install down so the cancel lands while it runs
    s.hostkey().clock().set_factor(60.0);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("cancel.example.com", true))
        .await?
        .id()
        .to_owned();
    wait_until("the install to start", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        Ok((job["step"] == "await_install").then_some(()))
    })
    .await?;
    s.hostkey().clock().set_factor(3000.0);
    s.api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "cancelled", LONG).await?;
    assert_pxe_cleared(s.hostkey(), &job);
    assert_eq!(step(&job, "compensate_cancel")["state"], "done", "{job}");
    assert!(
        server_of(s.hostkey(), &job).cancellation_requested,
        "the ordered server is cancelled upstream"
    );
    Ok(())
}

#[tokio::test]
async fn a_worker_killed_mid_step_is_taken_over_after_its_lease() -> anyhow::Result<()> {
    let s = stack().await?;
    // the first reboot is applied but its answer never comes while worker A lives
    s.hostkey().faults().set_action(
        "eq/reboot",
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
    let id = s
        .api
        .post_job(&provision("takeover.example.com", true))
        .await?
        .id()
        .to_owned();
    wait_for_requests(s.hostkey(), "eq/reboot", 1).await?;
    a.abort();
    let held = s.api.get_job(&id).await?.body;
    assert_eq!(
        held["step"], "reboot",
        "A died holding the reboot step: {held}"
    );

    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        hostkey_orders_and_payments(s.hostkey()),
        (1, 1),
        "no second order or payment"
    );
    assert_pxe_cleared(s.hostkey(), &job);
    Ok(())
}

#[tokio::test]
async fn a_crash_between_the_order_call_and_saving_its_result_is_reconciled() -> anyhow::Result<()>
{
    let s = stack().await?;
    // the order is placed upstream, but worker A dies before it hears the answer
    s.hostkey().faults().set_action(
        "eq/order_instance",
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
    let id = s
        .api
        .post_job(&provision("crash.example.com", true))
        .await?
        .id()
        .to_owned();
    wait_for_requests(s.hostkey(), "eq/order_instance", 1).await?;
    a.abort();
    assert_eq!(hostkey_orders_and_payments(s.hostkey()).0, 1);

    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        hostkey_orders_and_payments(s.hostkey()),
        (1, 1),
        "reconciled by hostname: one order"
    );
    assert_eq!(
        s.hostkey().requests("eq/order_instance"),
        1,
        "the order was never sent again"
    );
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
    s.hostkey().faults().set_action(
        "eq/order_instance",
        FaultKnobs {
            apply_then_500: 1,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("fivehundred.example.com", false))
        .await?
        .id()
        .to_owned();
    s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(hostkey_orders_and_payments(s.hostkey()), (1, 1));
    assert_eq!(s.hostkey().requests("eq/order_instance"), 1);
    Ok(())
}

/// The fault seed of the tests that draw random faults, printed so a failure can be
/// replayed.
const FAULT_SEED: u64 = 0x5eed_0009;

#[tokio::test]
async fn payments_and_orders_answered_500_before_anything_happened_are_made_once()
-> anyhow::Result<()> {
    let mut s = stack().await?;
    // A provider that answers ~15 % of all calls with an HTML 500 before doing
    // anything, and the first pay call of every job among them: none of these may
    // page an operator, and nothing may be paid twice.
    println!("fault seed {FAULT_SEED:#x}");
    let mut actions = std::collections::BTreeMap::new();
    actions.insert(
        "whmcs/apply_credit".to_owned(),
        FaultKnobs {
            fail_next: 12,
            ..Default::default()
        },
    );
    s.hostkey().faults().set(FaultsConfig {
        seed: Some(FAULT_SEED),
        global: FaultKnobs {
            error_rate: 0.15,
            ..Default::default()
        },
        actions,
    })?;
    // Every call of a step may meet a 500: leave room for that many retries.
    s.config.retry.max_attempts = 30;
    // This is about faults, not about the account's own rate limit (10/s by default).
    for account in &mut s.config.accounts {
        account.rate_limit = provisioner_shared::config::RateLimit::parse("500/s");
    }
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut ids = vec![];
    for i in 0..12 {
        let body = provision(&format!("hiccup{i}.example.com"), false);
        ids.push(s.api.post_job(&body).await?.id().to_owned());
    }
    let mut jobs = vec![];
    for id in &ids {
        jobs.push(s.api.wait_for_end(id, Duration::from_secs(120)).await?);
    }
    let not_done: Vec<String> = jobs
        .iter()
        .filter(|j| j["state"] != "succeeded")
        .map(|j| {
            format!(
                "{} {} at {}: {}",
                j["id"], j["state"], j["error"]["step"], j["error"]["message"]
            )
        })
        .collect();
    assert!(
        not_done.is_empty(),
        "fault seed {FAULT_SEED:#x}: {not_done:#?}"
    );
    assert!(
        s.hostkey().requests("whmcs/apply_credit") > 12,
        "every job's first payment was refused and made again"
    );
    assert_eq!(hostkey_orders_and_payments(s.hostkey()), (12, 12));
    let events = s.hostkey().ledger().events();
    for job in &jobs {
        let invoice: u64 = job["server"]["invoice_id"].as_str().unwrap_or("").parse()?;
        let paid = events
            .iter()
            .filter(
                |e| matches!(e, HostkeyEvent::Payment { invoice_id, .. } if *invoice_id == invoice),
            )
            .count();
        assert_eq!(
            paid, 1,
            "invoice {invoice} of job {} paid {paid} times",
            job["id"]
        );
        let server = server_of(s.hostkey(), job);
        assert_eq!(server.invoice_status, Some(InvoiceStatus::Paid));
    }
    Ok(())
}

#[tokio::test]
async fn a_payment_that_left_a_trace_on_an_unpaid_invoice_needs_attention_until_resolved()
-> anyhow::Result<()> {
    let mut s = stack().await?;
    // Our apply_credit answers 500 without paying; meanwhile someone applies part of
    // the invoice by hand. Unpaid but partly applied: the worker cannot tell.
    s.hostkey().faults().set_action(
        "whmcs/apply_credit",
        FaultKnobs {
            fail_next: 1,
            ..Default::default()
        },
    )?;
    s.config.worker.settle = Duration::from_secs(2);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("unsure.example.com", false))
        .await?
        .id()
        .to_owned();
    wait_for_requests(s.hostkey(), "whmcs/apply_credit", 1).await?;
    let held = s.api.get_job(&id).await?.body;
    let invoice: u64 = held["server"]["invoice_id"]
        .as_str()
        .unwrap_or("")
        .parse()?;
    hostkey_apply_credit_by_hand(s.hostkey(), invoice, "1.00").await?;

    let job = s.api.wait_for_state(&id, "needs_attention", LONG).await?;
    assert_eq!(job["error"]["step"], "pay", "{job}");
    let why = job["error"]["message"].as_str().unwrap_or("");
    assert!(why.contains("partly paid"), "{job}");
    assert_eq!(
        s.hostkey().requests("whmcs/apply_credit"),
        2,
        "the worker never paid again on a guess (one call is ours, one by hand)"
    );

    s.api
        .post(
            &format!("/v1/jobs/{id}/resolve"),
            Some(&json!({"action": "reorder"})),
        )
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        server_of(s.hostkey(), &job).invoice_status,
        Some(InvoiceStatus::Paid),
        "the rest was paid once the operator said so"
    );
    assert_eq!(hostkey_orders_and_payments(s.hostkey()), (1, 2));
    Ok(())
}

#[tokio::test]
async fn an_expired_session_token_means_one_more_login_not_a_failure() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    s.hostkey().clock().set_factor(100.0);
    let id = s
        .api
        .post_job(&provision("relogin.example.com", false))
        .await?
        .id()
        .to_owned();
    wait_until("delivery to be awaited", LONG, || async {
        Ok((s.api.get_job(&id).await?.body["step"] == "await_delivery").then_some(()))
    })
    .await?;
    let logins = s.hostkey().requests("auth/login");
    s.hostkey().expire_tokens();
    s.hostkey().clock().set_factor(3000.0);
    s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(s.hostkey().requests("auth/login"), logins + 1);
    Ok(())
}

#[tokio::test]
async fn a_rate_limited_account_slows_down_but_every_job_ends() -> anyhow::Result<()> {
    let s = stack().await?;
    s.hostkey().faults().set_global(FaultKnobs {
        rate_limit: Some(provisioner_sandbox::sim::RateLimit {
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
        ids.push(
            s.api
                .post_job(&provision(&format!("storm{i}.example.com"), false))
                .await?
                .id()
                .to_owned(),
        );
    }
    for id in &ids {
        s.api
            .wait_for_state(id, "succeeded", Duration::from_secs(120))
            .await?;
    }
    assert_eq!(hostkey_orders_and_payments(s.hostkey()), (6, 6));
    Ok(())
}

/// Issue 9, defect 3. A cancel that arrives while the outcome of the order call is
/// unknown (the call was applied, its answer lost, and the lookup fails) must not
/// end the job `cancelled` and forget the server: it needs attention, and once an
/// operator adopts the server, the compensation cancels it upstream.
#[tokio::test]
async fn a_cancel_while_the_order_is_unknown_needs_attention_not_cancelled() -> anyhow::Result<()> {
    let s = stack().await?;
    s.hostkey().faults().set_action(
        "eq/order_instance",
        FaultKnobs {
            apply_then_500: 1,
            slow_ms: 500,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("unknown-cancel.example.com", false))
        .await?
        .id()
        .to_owned();
    wait_for_requests(s.hostkey(), "eq/order_instance", 1).await?;
    // While the order is in flight, the server lookups start failing.
    for action in ["eq/update_servers", "eq/list"] {
        s.hostkey().faults().set_action(
            action,
            FaultKnobs {
                error_rate: 1.0,
                ..Default::default()
            },
        )?;
    }
    wait_until("the order's outcome to be unknown", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        Ok((job["state"] == "waiting" || job["state"] == "needs_attention").then_some(()))
    })
    .await?;
    let _ = s.api.post(&format!("/v1/jobs/{id}/cancel"), None).await?;
    let job = wait_until("the cancel to settle", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        let settled = ["needs_attention", "cancelled", "failed", "succeeded"]
            .contains(&job["state"].as_str().unwrap_or_default());
        Ok(settled.then_some(job))
    })
    .await?;
    assert_eq!(
        job["state"], "needs_attention",
        "a server exists upstream; the job must not forget it: {job}"
    );
    let message = job["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cancel"), "{job}");

    // The operator finds the server and adopts it: the compensation cancels it.
    s.hostkey().faults().clear();
    let server = s
        .hostkey()
        .servers()
        .into_iter()
        .find(|srv| srv.hostname == "unknown-cancel.example.com")
        .expect("the order was applied");
    s.api
        .post(
            &format!("/v1/jobs/{id}/resolve"),
            Some(&json!({"action": "adopt", "order_id": server.id.to_string()})),
        )
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "cancelled", LONG).await?;
    assert_eq!(step(&job, "compensate_cancel")["state"], "done", "{job}");
    assert!(
        s.hostkey()
            .server(server.id)
            .unwrap()
            .cancellation_requested
    );
    Ok(())
}

/// Issue 9, defect 3. A compensation that cannot cancel the server upstream must
/// not end the job `cancelled` as if it had: it needs attention, and `retry` runs
/// the compensation again.
#[tokio::test]
async fn a_failed_compensation_needs_attention_and_retry_runs_it_again() -> anyhow::Result<()> {
    let s = stack().await?;
    s.hostkey().clock().set_factor(30.0);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("compensate.example.com", false))
        .await?
        .id()
        .to_owned();
    wait_until("the delivery wait", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        Ok((job["step"] == "await_delivery").then_some(()))
    })
    .await?;
    s.hostkey().faults().set_action(
        "whmcs/request_cancellation",
        FaultKnobs {
            error_rate: 1.0,
            ..Default::default()
        },
    )?;
    s.api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = wait_until("the compensation to give up", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        let settled = ["needs_attention", "cancelled", "failed"]
            .contains(&job["state"].as_str().unwrap_or_default());
        Ok(settled.then_some(job))
    })
    .await?;
    assert_eq!(
        job["state"], "needs_attention",
        "the server is still billed upstream: {job}"
    );
    assert_eq!(job["error"]["step"], "compensate_cancel", "{job}");

    s.hostkey().faults().clear();
    s.api
        .post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "cancelled", LONG).await?;
    assert_eq!(step(&job, "compensate_cancel")["state"], "done", "{job}");
    assert!(server_of(s.hostkey(), &job).cancellation_requested);
    Ok(())
}

/// Issue 9, defect 5: a provision holds the server it obtained until it ends, so a
/// reinstall or deprovision of that server is refused while it runs its PXE stages.
#[tokio::test]
async fn a_live_provision_holds_its_server() -> anyhow::Result<()> {
    let s = stack().await?;
    s.hostkey().clock().set_factor(60.0);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("held.example.com", true))
        .await?
        .id()
        .to_owned();
    let job = wait_until("the install to start", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        Ok((job["step"] == "await_install").then_some(job))
    })
    .await?;
    let server_id = job["server"]["id"].as_str().unwrap().to_owned();
    for kind in ["reinstall", "deprovision"] {
        let mut other = json!({"kind": kind, "account": "hk-nl", "server_id": server_id});
        if kind == "reinstall" {
            other["hostname"] = json!("held.example.com");
            other["root_password"] = json!("N3w!Secret");
            other["reinstall"] = json!({"os_id": 187});
        }
        let r = s.api.post_job(&other).await?;
        assert_eq!(
            (r.status, r.error_code()),
            (reqwest::StatusCode::CONFLICT, Some("server_busy")),
            "a {kind} of a server a live provision holds: {}",
            r.text
        );
        assert!(r.error_message().contains(&id), "{}", r.text);
    }
    s.hostkey().clock().set_factor(3000.0);
    s.api.wait_for_state(&id, "succeeded", LONG).await?;
    // Once it is done, the server is free.
    let r = s
        .api
        .post_job(&json!({"kind": "deprovision", "account": "hk-nl", "server_id": server_id}))
        .await?;
    assert_eq!(r.status, reqwest::StatusCode::ACCEPTED, "{}", r.text);
    Ok(())
}
