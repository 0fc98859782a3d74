//! Callbacks: the job callbacks we send (the outbox: signed, retried, logged on the
//! job, never holding or failing it) and the provider callbacks we receive (a
//! HOSTKEY install done cuts the wait short).

use provisioner_sandbox::hostkey::{HostkeyOptions, HostkeySim};
use provisioner_sandbox::sim::FaultKnobs;
use provisioner_shared::secret::CallbackTokens;
use provisioner_shared::{Config, ProviderKind};
use provisioner_tests::hooks::Receiver;
use provisioner_tests::providers::{add_hostkey, hostkey_apply_credit_by_hand};
use provisioner_tests::{
    TestApi, TestRedis, account, spawn_api, spawn_worker, test_config, wait_until,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(60);

fn noop_config(redis: &TestRedis) -> Config {
    let mut config = test_config(redis);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    config
}

fn noop_job(callback_url: &str) -> Value {
    json!({"kind": "provision", "account": "noop", "order": {"steps": 2}, "callback_url": callback_url})
}

/// The job's `callbacks` once it lists at least `n` attempts.
async fn attempts(api: &TestApi, id: &str, n: usize) -> anyhow::Result<Vec<Value>> {
    wait_until(&format!("{n} callback attempts on {id}"), LONG, || async {
        let job = api.get_job(id).await?.expect(StatusCode::OK)?.body;
        let list = job["callbacks"].as_array().cloned().unwrap_or_default();
        Ok((list.len() >= n).then_some(list))
    })
    .await
}

#[tokio::test]
async fn a_succeeded_jobs_callback_arrives_signed_and_is_listed_on_the_job() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let config = noop_config(&redis);
    let receiver = Receiver::start(|_| 200).await?;
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    let id = api
        .post_job(&noop_job(&receiver.url))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned();
    api.wait_for_state(&id, "succeeded", LONG).await?;
    let listed = attempts(&api, &id, 1).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], 200);
    assert!(listed[0]["error"].is_null());
    assert!(listed[0]["at"].is_string());

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].verifies(),
        "signed with [callbacks] secret: {:?}",
        got[0]
    );
    let body = got[0].json();
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["state"], "succeeded");
    assert_eq!(body["steps"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_receiver_that_fails_a_few_times_gets_retries_until_it_answers() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let config = noop_config(&redis);
    let receiver = Receiver::start(|n| if n < 3 { 500 } else { 200 }).await?;
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    let id = api
        .post_job(&noop_job(&receiver.url))
        .await?
        .id()
        .to_owned();
    api.wait_for_state(&id, "succeeded", LONG).await?;
    let listed = wait_until("a delivered callback", LONG, || async {
        let job = api.get_job(&id).await?.expect(StatusCode::OK)?.body;
        assert_eq!(job["state"], "succeeded", "delivery never changes the job");
        let list = job["callbacks"].as_array().cloned().unwrap_or_default();
        Ok(list.iter().any(|a| a["status"] == 200).then_some(list))
    })
    .await?;
    let statuses: Vec<Value> = listed.iter().map(|a| a["status"].clone()).collect();
    assert_eq!(
        statuses,
        vec![json!(500), json!(500), json!(500), json!(200)]
    );
    assert!(listed[0]["error"].as_str().unwrap_or("").contains("500"));

    let got = receiver.received();
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|r| r.verifies()));
    assert!(
        got.iter().all(|r| r.id == got[0].id),
        "one webhook-id across retries"
    );
    assert!(
        got.windows(2).all(|w| w[0].body == w[1].body),
        "the same job JSON each time"
    );
    Ok(())
}

#[tokio::test]
async fn a_dead_endpoint_never_changes_the_job() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let mut config = noop_config(&redis);
    config.callbacks.retry_for = Duration::from_secs(1);
    // a port nothing listens on any more
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}/hook", l.local_addr()?)
    };
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    let id = api.post_job(&noop_job(&dead)).await?.id().to_owned();
    let done = api.wait_for_state(&id, "succeeded", LONG).await?;
    let given_up = wait_until("the callback given up", LONG, || async {
        let job = api.get_job(&id).await?.expect(StatusCode::OK)?.body;
        let list = job["callbacks"].as_array().cloned().unwrap_or_default();
        let last = list.last().and_then(|a| a["error"].as_str()).unwrap_or("");
        Ok(last.contains("giving up").then_some(job))
    })
    .await?;
    let list = given_up["callbacks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(list.len() >= 2, "retried before giving up: {list:?}");
    assert!(
        list.iter()
            .all(|a| a["status"].is_null() && a["error"].is_string())
    );
    let strip = |mut v: Value| {
        v.as_object_mut().map(|o| o.remove("callbacks"));
        v
    };
    assert_eq!(strip(given_up), strip(done), "the job itself is untouched");
    Ok(())
}

#[tokio::test]
async fn needs_attention_sends_a_callback_too() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let hk = provisioner_tests::providers::start_hostkey().await?;
    let mut config = test_config(&redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    config.worker.settle = Duration::from_secs(2);
    let receiver = Receiver::start(|_| 204).await?;
    // our apply_credit answers 500 without paying, and meanwhile part of the invoice is
    // paid by hand: unpaid but partly credited, the payment's outcome is unknown
    hk.faults().set_action(
        "whmcs/apply_credit",
        FaultKnobs {
            fail_next: 1,
            ..Default::default()
        },
    )?;
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    let id = api
        .post_job(&json!({
            "kind": "provision", "account": "hk-nl", "reference": "svc-attention",
            "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
            "hostname": "attention.example.com", "root_password": "S3cure!pass",
            "callback_url": receiver.url,
        }))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned();
    wait_until("the first payment call", LONG, || async {
        Ok((hk.requests("whmcs/apply_credit") >= 1).then_some(()))
    })
    .await?;
    let held = api.get_job(&id).await?.body;
    let invoice: u64 = held["server"]["invoice_id"]
        .as_str()
        .unwrap_or("")
        .parse()?;
    hostkey_apply_credit_by_hand(&hk, invoice, "1.00").await?;
    api.wait_for_state(&id, "needs_attention", LONG).await?;
    let listed = attempts(&api, &id, 1).await?;
    assert_eq!(listed[0]["status"], 204);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].verifies());
    let body = got[0].json();
    assert_eq!(body["state"], "needs_attention");
    assert_eq!(body["error"]["step"], "pay");
    assert!(
        !got[0].json().to_string().contains("S3cure"),
        "no secret in a callback"
    );
    Ok(())
}

#[tokio::test]
async fn callback_urls_are_refused_at_enqueue_when_private_or_unsigned() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let mut config = noop_config(&redis);
    config.callbacks.allow_private = false;
    let api = spawn_api(config.clone()).await?;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://billing.example.com/hook",
    ] {
        let reply = api.post_job(&noop_job(url)).await?;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {}",
            reply.text
        );
        assert_eq!(reply.error_field(), Some("callback_url"));
    }
    api.post_job(&noop_job("https://billing.example.com/hook"))
        .await?
        .expect(StatusCode::ACCEPTED)?;

    // without a [callbacks] secret nothing could be signed: refused, and said why
    let mut unsigned = noop_config(&redis);
    unsigned.callbacks.secret = None;
    let api = spawn_api(unsigned).await?;
    let reply = api
        .post_job(&noop_job("https://billing.example.com/hook"))
        .await?;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_field(), Some("callback_url"));
    assert!(
        reply.error_message().contains("[callbacks] secret"),
        "{}",
        reply.text
    );
    Ok(())
}

/// HOSTKEY with every action done at once, an install of a few virtual minutes, and
/// the worker polling only every 30 s.
async fn slow_polling_stack(redis: &TestRedis) -> anyhow::Result<(HostkeySim, TestApi, Config)> {
    let minute = Duration::from_secs(60);
    let hk = HostkeySim::start(HostkeyOptions {
        time_factor: 3000.0,
        delivery: 10 * minute,
        stage_durations: [minute, 2 * minute, 2 * minute, minute, minute, minute],
        action_delay: Duration::ZERO,
        ..HostkeyOptions::default()
    })
    .await?;
    let mut config = test_config(redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    config.polling.initial = Duration::from_secs(30);
    config.polling.max = Duration::from_secs(30);
    config.deadlines.delivery = Duration::from_secs(600);
    config.deadlines.install = Duration::from_secs(600);
    let api = spawn_api(config.clone()).await?;
    config.api.public_url = Some(api.base_url.parse()?);
    Ok((hk, api, config))
}

#[tokio::test]
async fn a_hostkey_callback_ends_the_install_wait_long_before_the_next_poll() -> anyhow::Result<()>
{
    let redis = TestRedis::start().await?;
    let (hk, api, config) = slow_polling_stack(&redis).await?;
    let _worker = spawn_worker(config).await?;
    let started = Instant::now();
    let id = api
        .post_job(&json!({
            "kind": "provision", "account": "hk-nl", "reference": "svc-fast",
            "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
            "hostname": "fast.example.com", "root_password": "S3cure!pass",
            "reinstall": {"os_id": 183},
        }))
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned();
    // delivery and install each wait at least once; without the callbacks each wait
    // would last a 30 s poll interval
    api.wait_for_state(&id, "succeeded", Duration::from_secs(12))
        .await?;
    let callbacks = hk.callbacks();
    assert!(
        callbacks.iter().any(|c| c.status == Some(204)),
        "the simulator called back: {callbacks:?}"
    );
    assert!(
        callbacks
            .iter()
            .all(|c| c.url.contains(&format!("/v1/callbacks/{id}/")))
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "below one poll interval"
    );
    Ok(())
}

#[tokio::test]
async fn a_provider_callback_with_a_wrong_token_is_a_404_and_changes_nothing() -> anyhow::Result<()>
{
    let redis = TestRedis::start().await?;
    let config = noop_config(&redis);
    let api = spawn_api(config.clone()).await?;
    let id = api
        .post_job(&json!({"kind": "provision", "account": "noop", "order": {"steps": 1}}))
        .await?
        .id()
        .to_owned();
    let keys = redis.keys().await?;
    let job = api.get_job(&id).await?.body;
    let tokens = config.callback_tokens();
    let good = tokens.token(&id);
    let other = CallbackTokens::from_base64(&provisioner_shared::secret::Sealer::generate_key())?;
    let anon = api.anonymous();
    for token in [
        other.token(&id),
        tokens.token("01JD0000000000000000000000"),
        good[..63].to_owned(),
        "x".repeat(64),
    ] {
        let res = anon
            .post(api.url(&format!("/v1/callbacks/{id}/{token}")))
            .send()
            .await?;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    // an unknown job answers the same
    let ghost = "01JD0000000000000000000000";
    let res = anon
        .post(api.url(&format!("/v1/callbacks/{ghost}/{}", tokens.token(ghost))))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(redis.keys().await?, keys);
    assert_eq!(api.get_job(&id).await?.body, job, "the job is untouched");

    // the right token pokes it, without a bearer token
    let res = anon
        .post(api.url(&format!("/v1/callbacks/{id}/{good}")))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    Ok(())
}
