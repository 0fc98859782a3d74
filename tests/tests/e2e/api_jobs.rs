//! Jobs after enqueue: listing, cancel, retry, resolve, the one-operation-per-server
//! lock and the event stream. No worker runs here: `force_state` moves jobs the way
//! the engine's commit would.

use crate::{noop_provision, start};
use provisioner_shared::job::JobState;
use provisioner_shared::store::Keys;
use provisioner_tests::{Reply, TestApi, connect_store, force_state};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn keys(api: &TestApi) -> Keys {
    Keys::new(&api.config.redis.namespace, api.config.worker.shards)
}

async fn create(api: &TestApi, body: &Value) -> anyhow::Result<String> {
    Ok(api
        .post_job(body)
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned())
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.body["jobs"]
        .as_array()
        .map(|jobs| {
            jobs.iter()
                .map(|j| j["id"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn listing_filters_newest_first_and_pages_with_a_cursor() -> anyhow::Result<()> {
    let (redis, api) = start().await?;
    let j1 = create(&api, &noop_provision("noop", Some("r-1"))).await?;
    let j2 = create(&api, &noop_provision("noop", Some("r-2"))).await?;
    let j3 = create(&api, &noop_provision("noop-b", Some("r-1"))).await?;
    let j4 = create(&api, &noop_provision("noop", None)).await?;
    let j5 = create(&api, &noop_provision("noop-b", None)).await?;

    let list = {
        let api = &api;
        move |q: &'static str| async move { api.list_jobs(q).await?.expect(StatusCode::OK) }
    };
    let all = list("").await?;
    assert_eq!(ids(&all), [&j5, &j4, &j3, &j2, &j1].map(String::as_str));
    assert_eq!(all.body["next_cursor"], Value::Null);
    assert_eq!(
        ids(&list("account=noop").await?),
        [&j4, &j2, &j1].map(String::as_str)
    );
    assert_eq!(
        ids(&list("account=noop-b").await?),
        [&j5, &j3].map(String::as_str)
    );
    assert_eq!(
        ids(&list("reference=r-1").await?),
        [&j3, &j1].map(String::as_str)
    );
    assert_eq!(
        ids(&list("reference=r-1&account=noop").await?),
        [&j1].map(String::as_str)
    );
    assert!(ids(&list("account=nobody").await?).is_empty());

    let store = connect_store(&api.config).await?;
    force_state(&store, &j2, JobState::Failed).await?;
    assert_eq!(ids(&list("state=failed").await?), [&j2].map(String::as_str));
    assert_eq!(
        ids(&list("state=queued").await?),
        [&j5, &j4, &j3, &j1].map(String::as_str)
    );

    let page1 = list("limit=2").await?;
    assert_eq!(ids(&page1), [&j5, &j4].map(String::as_str));
    let cursor = page1.body["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let page2 = api
        .list_jobs(&format!("limit=2&cursor={cursor}"))
        .await?
        .expect(StatusCode::OK)?;
    assert_eq!(ids(&page2), [&j3, &j2].map(String::as_str));
    let cursor = page2.body["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let page3 = api
        .list_jobs(&format!("limit=2&cursor={cursor}"))
        .await?
        .expect(StatusCode::OK)?;
    assert_eq!(ids(&page3), [&j1].map(String::as_str));
    assert_eq!(page3.body["next_cursor"], Value::Null);

    // An index entry whose record expired is skipped and dropped.
    let ghost = ulid::Ulid::new().to_string();
    let mut c = redis.connection().await?;
    let _: () = c.zadd(keys(&api).index_all(), &ghost, 0).await?;
    assert_eq!(ids(&list("").await?).len(), 5);
    let left: Option<f64> = c.zscore(keys(&api).index_all(), &ghost).await?;
    assert_eq!(left, None);

    for (query, field) in [
        ("state=bogus", "state"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=nope", "cursor"),
        ("colour=red", "query"),
    ] {
        let r = api.list_jobs(query).await?;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            r.text
        );
        assert_eq!(r.error_field(), Some(field), "{query}: {}", r.text);
    }
    Ok(())
}

#[tokio::test]
async fn cancel_records_the_signal_on_a_live_job_and_refuses_a_finished_one() -> anyhow::Result<()>
{
    let (redis, api) = start().await?;
    let id = create(&api, &noop_provision("noop", None)).await?;
    let r = api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(r.id(), id);
    let mut c = redis.connection().await?;
    let cancel: Option<u8> = c.hget(keys(&api).job(&id), "sc").await?;
    assert_eq!(cancel, Some(1), "the cancel is recorded for the worker");

    let store = connect_store(&api.config).await?;
    force_state(&store, &id, JobState::Cancelled).await?;
    let r = api.post(&format!("/v1/jobs/{id}/cancel"), None).await?;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.error_message().contains("cancelled"), "{}", r.text);
    Ok(())
}

#[tokio::test]
async fn retry_and_resolve_act_only_on_the_states_they_fit() -> anyhow::Result<()> {
    let (redis, api) = start().await?;
    let store = connect_store(&api.config).await?;
    let job = |id: &str, action: &str| format!("/v1/jobs/{id}/{action}");

    // Live job: retry polls it now; there is nothing to resolve.
    let live = create(&api, &noop_provision("noop", None)).await?;
    api.post(&job(&live, "retry"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let mut c = redis.connection().await?;
    let pokes: Option<u64> = c.hget(keys(&api).job(&live), "sp").await?;
    assert_eq!(pokes, Some(1));
    let r = api
        .post(&job(&live, "resolve"), Some(&json!({"action": "reorder"})))
        .await?;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::CONFLICT, Some("invalid_state")),
        "{}",
        r.text
    );
    assert!(r.error_message().contains("queued"), "{}", r.text);

    // Finished jobs: neither.
    for end in [JobState::Succeeded, JobState::Cancelled] {
        let id = create(&api, &noop_provision("noop", None)).await?;
        force_state(&store, &id, end).await?;
        for (action, body) in [
            ("retry", None),
            ("resolve", Some(json!({"action": "fail"}))),
        ] {
            let r = api.post(&job(&id, action), body.as_ref()).await?;
            assert_eq!(
                r.status,
                StatusCode::CONFLICT,
                "{action} on {end}: {}",
                r.text
            );
        }
    }

    // needs_attention: retry points at resolve; resolve takes a valid action once.
    let parked = create(&api, &noop_provision("noop", None)).await?;
    force_state(&store, &parked, JobState::NeedsAttention).await?;
    let r = api.post(&job(&parked, "retry"), None).await?;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error_message().contains("resolve"), "{}", r.text);
    for (body, field) in [
        (json!({}), "action"),
        (json!({"action": "undo"}), "action"),
        (json!({"action": "adopt", "order_id": ""}), "order_id"),
        (json!({"action": "reorder", "order_id": "5448"}), "order_id"),
    ] {
        let r = api.post(&job(&parked, "resolve"), Some(&body)).await?;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert_eq!(r.error_field(), Some(field), "{body}: {}", r.text);
    }
    let r = api
        .post(
            &job(&parked, "resolve"),
            Some(&json!({"action": "reorder"})),
        )
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(r.body["state"], "queued");
    let r = api
        .post(
            &job(&parked, "resolve"),
            Some(&json!({"action": "reorder"})),
        )
        .await?;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // failed: retry resumes it at the failed step.
    let failed = create(&api, &noop_provision("noop", None)).await?;
    force_state(&store, &failed, JobState::Failed).await?;
    let r = api
        .post(&job(&failed, "retry"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(r.body["state"], "queued");
    assert_eq!(r.body["error"], Value::Null);
    assert_eq!(r.body["steps"][0]["state"], "pending");
    api.wait_for_state(&failed, "queued", Duration::from_secs(5))
        .await?;
    Ok(())
}

#[tokio::test]
async fn one_operation_per_server() -> anyhow::Result<()> {
    let (redis, api) = start().await?;
    let store = connect_store(&api.config).await?;
    let on = |kind: &str, account: &str, server: &str| json!({"kind": kind, "account": account, "server_id": server});

    let first = create(&api, &on("deprovision", "noop", "srv-1")).await?;
    let busy = api.post_job(&on("reinstall", "noop", "srv-1")).await?;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.text);
    assert_eq!(
        (busy.error_code(), busy.error_field()),
        (Some("server_busy"), Some("server_id"))
    );
    assert!(
        busy.error_message().contains(&first),
        "names the holder: {}",
        busy.text
    );

    // Other servers, and the same server id at another account, are free.
    create(&api, &on("deprovision", "noop", "srv-2")).await?;
    create(&api, &on("reinstall", "noop-b", "srv-1")).await?;

    // A parked holder still holds; a finished one gives way.
    force_state(&store, &first, JobState::NeedsAttention).await?;
    let r = api.post_job(&on("deprovision", "noop", "srv-1")).await?;
    assert_eq!(r.status, StatusCode::CONFLICT);
    force_state(&store, &first, JobState::Cancelled).await?;
    let second = create(&api, &on("deprovision", "noop", "srv-1")).await?;
    let r = api.post_job(&on("deprovision", "noop", "srv-1")).await?;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.error_message().contains(&second), "{}", r.text);

    // A holder whose job never got written is taken over after its grace.
    let mut c = redis.connection().await?;
    let ghost = ulid::Ulid::new().to_string();
    let _: () = c
        .set(keys(&api).server_lock("noop", "srv-3"), &ghost)
        .await?;
    let third = create(&api, &on("deprovision", "noop", "srv-3")).await?;
    let holder: String = c.get(keys(&api).server_lock("noop", "srv-3")).await?;
    assert_eq!(holder, third);
    Ok(())
}

/// The data of the next `job` event, or `None` when the stream ends.
pub(crate) async fn next_job_event(
    res: &mut reqwest::Response,
    buf: &mut String,
) -> anyhow::Result<Option<Value>> {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            if block.lines().any(|l| l == "event: job") {
                return Ok(Some(serde_json::from_str(&data)?));
            }
            continue;
        }
        match tokio::time::timeout(Duration::from_secs(10), res.chunk()).await?? {
            Some(bytes) => buf.push_str(std::str::from_utf8(&bytes)?),
            None => return Ok(None),
        }
    }
}

#[tokio::test]
async fn events_follow_a_job_until_it_ends() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let store = connect_store(&api.config).await?;
    let id = create(&api, &noop_provision("noop", None)).await?;
    let mut res = api
        .client
        .get(api.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()?
            .starts_with("text/event-stream")
    );
    let mut buf = String::new();

    let first = next_job_event(&mut res, &mut buf)
        .await?
        .expect("the job as it is");
    assert_eq!(
        (first["id"].as_str(), first["state"].as_str()),
        (Some(id.as_str()), Some("queued"))
    );
    force_state(&store, &id, JobState::Running).await?;
    let running = next_job_event(&mut res, &mut buf)
        .await?
        .expect("an event for the change");
    assert_eq!(running["state"], "running");
    force_state(&store, &id, JobState::Succeeded).await?;
    let done = next_job_event(&mut res, &mut buf)
        .await?
        .expect("the final event");
    assert_eq!(done["state"], "succeeded");
    assert!(
        next_job_event(&mut res, &mut buf).await?.is_none(),
        "the stream ends"
    );
    Ok(())
}

#[tokio::test]
async fn shutdown_ends_open_event_streams() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let id = create(&api, &noop_provision("noop", None)).await?;
    let mut res = api
        .client
        .get(api.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await?;
    let mut buf = String::new();
    next_job_event(&mut res, &mut buf)
        .await?
        .expect("the job as it is");
    api.stop().await?;
    assert!(next_job_event(&mut res, &mut buf).await?.is_none());
    Ok(())
}

/// Issue 9, defect 6: `resolve` with `fail` ends the job `failed` and runs nothing
/// but finalizers; the steps after the parked one are skipped, not run.
#[tokio::test]
async fn resolving_with_fail_ends_the_job_without_running_the_next_step() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let store = connect_store(&api.config).await?;
    let id = create(
        &api,
        &json!({"kind": "provision", "account": "noop", "order": {"steps": 3}}),
    )
    .await?;
    force_state(&store, &id, JobState::NeedsAttention).await?;
    api.post(
        &format!("/v1/jobs/{id}/resolve"),
        Some(&json!({"action": "fail"})),
    )
    .await?
    .expect(StatusCode::ACCEPTED)?;
    let _worker = provisioner_tests::spawn_worker((*api.config).clone()).await?;
    let job = api
        .wait_for_state(&id, "failed", Duration::from_secs(20))
        .await?;
    let states: Vec<&str> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(states, ["failed", "skipped", "skipped"], "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("failed by an operator"),
        "{job}"
    );
    Ok(())
}

/// Issue 9, defect 5: `retry` of a failed job re-takes its server, so two live jobs
/// never work on one server.
#[tokio::test]
async fn retry_of_a_failed_job_retakes_its_server() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let store = connect_store(&api.config).await?;
    let on = |server: &str| json!({"kind": "reinstall", "account": "noop", "server_id": server});
    let first = create(&api, &on("srv-9")).await?;
    force_state(&store, &first, JobState::Failed).await?;
    // The failed job gave way: a new operation on the server is accepted.
    let second = create(&api, &on("srv-9")).await?;
    let r = api.post(&format!("/v1/jobs/{first}/retry"), None).await?;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::CONFLICT, Some("server_busy")),
        "a retried job would work on a server job {second} holds: {}",
        r.text
    );
    assert!(r.error_message().contains(&second), "{}", r.text);
    assert_eq!(api.get_job(&first).await?.body["state"], "failed");
    // Once the other job is done, the retry takes the server back.
    force_state(&store, &second, JobState::Succeeded).await?;
    api.post(&format!("/v1/jobs/{first}/retry"), None)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let r = api.post_job(&on("srv-9")).await?;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert!(r.error_message().contains(&first), "{}", r.text);
    Ok(())
}

/// Issue 9, defect 7: an `Idempotency-Key` is kept while its job lives, however long
/// that is (a payment may wait for days): the client's retry after the key's TTL
/// still gets the same job, never a second order. Once the job ends, the key is
/// remembered for `api.idempotency_ttl` more.
#[tokio::test]
async fn an_idempotency_key_lives_as_long_as_its_job() -> anyhow::Result<()> {
    let redis = provisioner_tests::TestRedis::start().await?;
    let mut config = provisioner_tests::test_config(&redis);
    config.api.idempotency_ttl = Duration::from_millis(300);
    config.accounts.push(provisioner_tests::account(
        "noop",
        provisioner_shared::ProviderKind::Noop,
        "http://127.0.0.1:9/",
    ));
    let api = provisioner_tests::spawn_api(config.clone()).await?;
    let _worker = provisioner_tests::spawn_worker(config.clone()).await?;
    let body =
        json!({"kind": "provision", "account": "noop", "order": {"steps": 2, "wait_ms": 1500}});
    let first = api
        .post_job_with_key(&body, "order-77")
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let id = first.id().to_owned();
    api.wait_for_state(&id, "waiting", Duration::from_secs(10))
        .await?;
    // Well past the key's TTL, while the job still waits.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = api.post_job_with_key(&body, "order-77").await?;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.id(), id, "the retry made a second job");
    // After the job ends the key expires on its own.
    api.wait_for_state(&id, "succeeded", Duration::from_secs(10))
        .await?;
    let mut c = redis.connection().await?;
    let idem: Vec<String> = c.keys(format!("{}:idem:*", config.redis.namespace)).await?;
    assert_eq!(idem.len(), 1);
    provisioner_tests::wait_until("the key to expire", Duration::from_secs(10), || {
        let mut c = c.clone();
        let key = idem[0].clone();
        async move { Ok((!c.exists::<_, bool>(&key).await?).then_some(())) }
    })
    .await?;
    Ok(())
}
