//! HOSTKEY end to end: the real worker and api against the HOSTKEY simulator, over
//! real HTTP and a real Redis.

use provisioner_sandbox::hostkey::{BootDevice, HostkeyEvent, HostkeySim};
use provisioner_sandbox::sim::{FaultKnobs, Hang};
use provisioner_tests::providers::{add_hostkey, hostkey_orders_and_payments, start_hostkey};
use provisioner_tests::{TestApi, TestRedis, spawn_api, spawn_worker, test_config, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

struct Stack {
    _redis: TestRedis,
    hk: HostkeySim,
    api: TestApi,
    config: provisioner_shared::Config,
}

async fn stack() -> anyhow::Result<Stack> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let hk = start_hostkey().await?;
    let mut config = test_config(&redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    let api = spawn_api(config.clone()).await?;
    Ok(Stack {
        _redis: redis,
        hk,
        api,
        config,
    })
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

    let server = server_of(&s.hk, &job);
    assert_eq!(
        job["server"]["ipv4"].as_str(),
        Some(server.ipv4.as_str()),
        "the job shows the simulator's IP"
    );
    assert!(job["server"]["invoice_id"].is_string());
    assert_eq!(hostkey_orders_and_payments(&s.hk), (1, 1));
    assert_pxe_cleared(&s.hk, &job);
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
        hostkey_orders_and_payments(&s.hk),
        (1, 1),
        "a reinstall orders and pays nothing"
    );
    assert_pxe_cleared(&s.hk, &rjob);
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
    assert!(server_of(&s.hk, &job).cancellation_requested);
    Ok(())
}

#[tokio::test]
async fn a_failure_after_create_pxe_still_clears_pxe_and_boots_from_disk() -> anyhow::Result<()> {
    let s = stack().await?;
    // every reboot fails: the job must fail, but only after undoing the PXE setup
    s.hk.faults().set_action(
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
    assert_pxe_cleared(&s.hk, &job);

    // the operator fixes the cause and retries: PXE is armed again and the install runs
    s.hk.faults().clear();
    s.api
        .post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_pxe_cleared(&s.hk, &job);
    assert!(server_of(&s.hk, &job).install.is_some_and(|i| i.completed));
    assert_eq!(hostkey_orders_and_payments(&s.hk), (1, 1));
    Ok(())
}

#[tokio::test]
async fn cancel_during_the_install_clears_pxe_and_cancels_the_server() -> anyhow::Result<()> {
    let s = stack().await?;
    // slow the install down so the cancel lands while it runs
    s.hk.clock().set_factor(60.0);
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
    s.hk.clock().set_factor(3000.0);
    s.api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "cancelled", LONG).await?;
    assert_pxe_cleared(&s.hk, &job);
    assert_eq!(step(&job, "compensate_cancel")["state"], "done", "{job}");
    assert!(
        server_of(&s.hk, &job).cancellation_requested,
        "the ordered server is cancelled upstream"
    );
    Ok(())
}

#[tokio::test]
async fn a_worker_killed_mid_step_is_taken_over_after_its_lease() -> anyhow::Result<()> {
    let s = stack().await?;
    // the first reboot is applied but its answer never comes while worker A lives
    s.hk.faults().set_action(
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
    wait_for_requests(&s.hk, "eq/reboot", 1).await?;
    a.abort();
    let held = s.api.get_job(&id).await?.body;
    assert_eq!(
        held["step"], "reboot",
        "A died holding the reboot step: {held}"
    );

    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        hostkey_orders_and_payments(&s.hk),
        (1, 1),
        "no second order or payment"
    );
    assert_pxe_cleared(&s.hk, &job);
    Ok(())
}

#[tokio::test]
async fn a_crash_between_the_order_call_and_saving_its_result_is_reconciled() -> anyhow::Result<()>
{
    let s = stack().await?;
    // the order is placed upstream, but worker A dies before it hears the answer
    s.hk.faults().set_action(
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
    wait_for_requests(&s.hk, "eq/order_instance", 1).await?;
    a.abort();
    assert_eq!(hostkey_orders_and_payments(&s.hk).0, 1);

    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        hostkey_orders_and_payments(&s.hk),
        (1, 1),
        "reconciled by hostname: one order"
    );
    assert_eq!(
        s.hk.requests("eq/order_instance"),
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
    s.hk.faults().set_action(
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
    assert_eq!(hostkey_orders_and_payments(&s.hk), (1, 1));
    assert_eq!(s.hk.requests("eq/order_instance"), 1);
    Ok(())
}

#[tokio::test]
async fn a_payment_whose_outcome_is_unknown_needs_attention_until_resolved() -> anyhow::Result<()> {
    let s = stack().await?;
    // every apply_credit answers 500 without paying: the worker cannot know
    s.hk.faults().set_action(
        "whmcs/apply_credit",
        FaultKnobs {
            error_rate: 1.0,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s
        .api
        .post_job(&provision("unsure.example.com", false))
        .await?
        .id()
        .to_owned();
    let job = s.api.wait_for_state(&id, "needs_attention", LONG).await?;
    assert_eq!(job["error"]["step"], "pay");
    assert_eq!(
        s.hk.requests("whmcs/apply_credit"),
        1,
        "never paid twice on a guess"
    );
    assert_eq!(hostkey_orders_and_payments(&s.hk), (1, 0));

    s.hk.faults().clear();
    s.api
        .post(
            &format!("/v1/jobs/{id}/resolve"),
            Some(&json!({"action": "reorder"})),
        )
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(hostkey_orders_and_payments(&s.hk), (1, 1));
    Ok(())
}

#[tokio::test]
async fn an_expired_session_token_means_one_more_login_not_a_failure() -> anyhow::Result<()> {
    let s = stack().await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    s.hk.clock().set_factor(100.0);
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
    let logins = s.hk.requests("auth/login");
    s.hk.expire_tokens();
    s.hk.clock().set_factor(3000.0);
    s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(s.hk.requests("auth/login"), logins + 1);
    Ok(())
}

#[tokio::test]
async fn a_rate_limited_account_slows_down_but_every_job_ends() -> anyhow::Result<()> {
    let s = stack().await?;
    s.hk.faults().set_global(FaultKnobs {
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
    assert_eq!(hostkey_orders_and_payments(&s.hk), (6, 6));
    Ok(())
}
