//! Spend guardrails per account (issue 13 point 4): `accounts[].max_open_orders`
//! refuses an enqueue past the cap with 422 naming the key, an ended job frees its
//! place, and the worker re-checks before the order step.

use provisioner_shared::Config;
use provisioner_tests::providers::{klikk_ledger, start_klikk};
use provisioner_tests::{TestApi, TestApp, spawn_app, spawn_worker};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const KEY: &str = "accounts[0].max_open_orders";

/// Redis, the Klikk simulator with the account `klikk` (`accounts[0]`) capped at
/// `cap` open provisions, and the api (no worker).
async fn stack(cap: u32) -> anyhow::Result<TestApp> {
    let app = spawn_app()
        .klikk("klikk", start_klikk().await?)
        .tune(move |c: &mut Config| c.accounts[0].max_open_orders = Some(cap))
        .start()
        .await?;
    assert_eq!(app.config.accounts[0].name, "klikk");
    app.klikk().set_auto_pay(false);
    Ok(app)
}

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

async fn enqueue(api: &TestApi, hostname: &str) -> anyhow::Result<String> {
    Ok(api
        .post_job(&provision(hostname))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned())
}

async fn job_count(api: &TestApi) -> anyhow::Result<usize> {
    let list = api.list_jobs("").await?.expect(StatusCode::OK)?.body;
    Ok(list["jobs"].as_array().map_or(0, Vec::len))
}

#[tokio::test]
async fn an_enqueue_past_the_cap_is_refused_naming_it_and_writes_nothing() -> anyhow::Result<()> {
    let s = stack(2).await?;
    enqueue(&s.api, "one.example.com").await?;
    enqueue(&s.api, "two.example.com").await?;
    let refused = s.api.post_job(&provision("three.example.com")).await?;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(refused.error_code(), Some("cap_reached"));
    assert_eq!(refused.error_field(), Some(KEY));
    assert!(
        refused.error_message().contains("2"),
        "{}",
        refused.error_message()
    );
    assert_eq!(
        job_count(&s.api).await?,
        2,
        "the refused request wrote no job"
    );
    // Other kinds are not provisions: they open no order and are not capped.
    let other = s
        .api
        .post_job(&json!({"kind": "deprovision", "account": "klikk", "server_id": "4711"}))
        .await?;
    assert_ne!(other.error_code(), Some("cap_reached"), "{:?}", other.body);
    Ok(())
}

#[tokio::test]
async fn two_concurrent_enqueues_at_the_last_place_accept_exactly_one() -> anyhow::Result<()> {
    let s = stack(2).await?;
    enqueue(&s.api, "first.example.com").await?;
    let (left, right) = (
        provision("left.example.com"),
        provision("right.example.com"),
    );
    let (a, b) = tokio::join!(s.api.post_job(&left), s.api.post_job(&right));
    let mut statuses = [a?.status, b?.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::ACCEPTED, StatusCode::UNPROCESSABLE_ENTITY]
    );
    assert_eq!(job_count(&s.api).await?, 2);
    Ok(())
}

#[tokio::test]
async fn an_ended_job_frees_its_place() -> anyhow::Result<()> {
    let s = stack(1).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = enqueue(&s.api, "changed-mind.example.com").await?;
    // Its order is placed and awaits payment: open, and counted.
    provisioner_tests::wait_until("the job to await payment", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        Ok((job["state"] == "waiting").then_some(()))
    })
    .await?;
    let refused = s.api.post_job(&provision("waiting.example.com")).await?;
    assert_eq!(
        refused.error_code(),
        Some("cap_reached"),
        "{:?}",
        refused.body
    );
    s.api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    s.api.wait_for_state(&id, "cancelled", LONG).await?;
    enqueue(&s.api, "waiting.example.com").await?;
    Ok(())
}

#[tokio::test]
async fn the_worker_rechecks_before_ordering_and_parks_a_job_past_its_cap() -> anyhow::Result<()> {
    // The api allows two, this worker's config only one: both jobs are accepted,
    // and at their order step both count two open provisions.
    let s = stack(2).await?;
    let a = enqueue(&s.api, "a.example.com").await?;
    let b = enqueue(&s.api, "b.example.com").await?;
    let mut worker_config = s.config.clone();
    worker_config.accounts[0].max_open_orders = Some(1);
    let _worker = spawn_worker(worker_config).await?;
    for id in [&a, &b] {
        let job = s.api.wait_for_state(id, "needs_attention", LONG).await?;
        assert!(
            job.to_string().contains(KEY),
            "the reason names the cap: {job}"
        );
    }
    assert_eq!(s.klikk().orders().len(), 0, "nothing was ordered");
    // One given up frees its place; the other, told to order again, now may.
    s.api
        .post(
            &format!("/v1/jobs/{a}/resolve"),
            Some(&json!({"action": "fail"})),
        )
        .await?
        .expect(StatusCode::ACCEPTED)?;
    s.api.wait_for_state(&a, "failed", LONG).await?;
    s.api
        .post(
            &format!("/v1/jobs/{b}/resolve"),
            Some(&json!({"action": "reorder"})),
        )
        .await?
        .expect(StatusCode::ACCEPTED)?;
    provisioner_tests::wait_until("b's order", LONG, || async {
        Ok((s.klikk().orders().len() == 1).then_some(()))
    })
    .await?;
    assert_eq!(klikk_ledger(s.klikk()).cancels, 0);
    // The failed job, retried, would be open again: past the api's cap of two
    // (b and a new one), the retry is refused and the job stays failed.
    enqueue(&s.api, "c.example.com").await?;
    let retry = s.api.post(&format!("/v1/jobs/{a}/retry"), None).await?;
    assert_eq!(retry.error_code(), Some("cap_reached"), "{:?}", retry.body);
    assert_eq!(retry.error_field(), Some(KEY));
    assert_eq!(s.api.get_job(&a).await?.body["state"], "failed");
    Ok(())
}

#[tokio::test]
async fn the_dashboard_shows_each_capped_accounts_open_provisions() -> anyhow::Result<()> {
    let Some(browser) = provisioner_tests::browser::Browser::start("UTC").await? else {
        return Ok(());
    };
    let outcome = async {
        let s = stack(3).await?;
        enqueue(&s.api, "shown.example.com").await?;
        browser
            .goto(&format!(
                "{}/ui#token={}",
                s.api.base_url,
                provisioner_tests::API_TOKEN
            ))
            .await?;
        browser
            .wait_for_text("#guards", "klikk 1/3 open", Duration::from_secs(20))
            .await?;
        anyhow::Ok(())
    }
    .await;
    browser.quit().await?;
    outcome
}

/// Redis, the Inferno simulator (product 303 costs 5.00) with the account
/// `inferno` (`accounts[0]`) allowed `per_day` a day, and the api (no worker).
async fn inferno_stack(per_day: f64) -> anyhow::Result<TestApp> {
    let app = spawn_app()
        .inferno(
            "inferno",
            provisioner_tests::providers::start_inferno(false).await?,
        )
        .tune(move |c: &mut Config| c.accounts[0].max_amount_per_day = Some(per_day))
        .start()
        .await?;
    assert_eq!(app.config.accounts[0].name, "inferno");
    Ok(app)
}

fn inferno_provision(hostname: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "inferno",
        "reference": format!("svc-{hostname}"),
        "order": {"product_id": 303, "os_template": "centos7-64-default"},
        "hostname": hostname,
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
    })
}

async fn inferno_orders(s: &TestApp, n: usize) -> anyhow::Result<()> {
    provisioner_tests::wait_until("the Inferno orders", LONG, || async {
        let orders = provisioner_tests::providers::inferno_ledger(s.inferno()).orders;
        Ok((orders == n).then_some(()))
    })
    .await
}

const DAY_KEY: &str = "accounts[0].max_amount_per_day";

#[tokio::test]
async fn an_enqueue_once_the_days_amount_is_spent_is_refused_naming_it() -> anyhow::Result<()> {
    let s = inferno_stack(5.0).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    s.api
        .post_job(&inferno_provision("first.example.com"))
        .await?
        .expect(StatusCode::ACCEPTED)?;
    inferno_orders(&s, 1).await?;
    let refused = s
        .api
        .post_job(&inferno_provision("second.example.com"))
        .await?;
    assert_eq!(
        refused.error_code(),
        Some("cap_reached"),
        "{:?}",
        refused.body
    );
    assert_eq!(refused.error_field(), Some(DAY_KEY));
    assert_eq!(
        job_count(&s.api).await?,
        1,
        "the refused request wrote no job"
    );
    let page = s
        .api
        .anonymous()
        .get(s.api.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    for line in [
        "provisioner_account_spent_today{account=\"inferno\"} 5\n",
        "provisioner_account_spent_today_cap{account=\"inferno\"} 5\n",
    ] {
        assert!(page.contains(line), "missing {line:?} in\n{page}");
    }
    Ok(())
}

#[tokio::test]
async fn an_order_that_would_pass_the_days_amount_waits_in_needs_attention() -> anyhow::Result<()> {
    // 5.00 + 5.00 > 7.00: the second order is not placed.
    let s = inferno_stack(7.0).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let first = s
        .api
        .post_job(&inferno_provision("first.example.com"))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned();
    inferno_orders(&s, 1).await?;
    let second = s
        .api
        .post_job(&inferno_provision("second.example.com"))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned();
    let job = s
        .api
        .wait_for_state(&second, "needs_attention", LONG)
        .await?;
    assert!(
        job.to_string().contains(DAY_KEY),
        "the reason names the cap: {job}"
    );
    assert_eq!(
        provisioner_tests::providers::inferno_ledger(s.inferno()).orders,
        1
    );
    assert_ne!(
        s.api.get_job(&first).await?.body["state"],
        "needs_attention"
    );
    Ok(())
}
