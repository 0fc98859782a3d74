//! The engine's promises, with the noop provider so only the engine is under test:
//! waiting jobs hold no worker, a graceful shutdown loses nothing, a Redis outage
//! does not kill a worker.

use provisioner_shared::ProviderKind;
use provisioner_tests::{TestRedis, account, spawn_api, spawn_worker, test_config, wait_until};
use redis::AsyncCommands;
use serde_json::json;
use std::time::Duration;

fn noop_config(redis: &TestRedis) -> provisioner_shared::Config {
    let mut config = test_config(redis);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    config
}

#[tokio::test]
async fn waiting_jobs_hold_no_worker() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let mut config = noop_config(&redis);
    config.worker.concurrency = 4;
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    // 1 000 jobs parked in a provider wait whose next poll is ten minutes away
    let parked =
        json!({"kind": "provision", "account": "noop", "order": {"steps": 2, "wait_ms": 600_000}});
    let mut first = String::new();
    for i in 0..1000 {
        let id = api
            .post_job(&parked)
            .await?
            .expect(reqwest::StatusCode::ACCEPTED)?
            .id()
            .to_owned();
        if i == 0 {
            first = id;
        }
    }
    wait_until("1 000 jobs waiting", Duration::from_secs(60), || async {
        let page = api.list_jobs("state=waiting&limit=200").await?.body;
        let n = page["jobs"].as_array().map_or(0, Vec::len);
        let last_waits = api.get_job(&first).await?.body["state"] == "waiting";
        Ok((n == 200 && last_waits && waiting_count(&redis, &api).await? >= 1000).then_some(()))
    })
    .await?;
    let id = api
        .post_job(&json!({"kind": "provision", "account": "noop", "order": {"steps": 3}}))
        .await?
        .id()
        .to_owned();
    // a generous bound: the point is that it finishes at all with 4 slots and 1 000 waiting
    api.wait_for_state(&id, "succeeded", Duration::from_secs(20))
        .await?;
    assert_eq!(api.get_job(&first).await?.body["state"], "waiting");
    Ok(())
}

/// Jobs of this namespace in the waiting state, straight from Redis.
async fn waiting_count(
    redis: &TestRedis,
    _api: &provisioner_tests::TestApi,
) -> anyhow::Result<usize> {
    let mut c = redis.connection().await?;
    let mut n = 0;
    for key in redis.keys().await? {
        if key.contains(":job:") {
            let st: Option<String> = c.hget(&key, "st").await?;
            n += usize::from(st.as_deref() == Some("waiting"));
        }
    }
    Ok(n)
}

#[tokio::test]
async fn a_graceful_shutdown_finishes_in_flight_steps_and_leaves_nothing_leased()
-> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let config = noop_config(&redis);
    let api = spawn_api(config.clone()).await?;
    let worker = spawn_worker(config.clone()).await?;
    let body =
        json!({"kind": "provision", "account": "noop", "order": {"steps": 4, "delay_ms": 300}});
    let mut ids = vec![];
    for _ in 0..12 {
        ids.push(api.post_job(&body).await?.id().to_owned());
    }
    wait_until("steps in flight", Duration::from_secs(10), || async {
        Ok((api.get_job(&ids[0]).await?.body["state"] == "running").then_some(()))
    })
    .await?;
    worker.shutdown().await?;

    // every job was handed back: none is held for a lease (3 s) into the future
    let mut c = redis.connection().await?;
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await?;
    let now_ms = secs * 1000 + micros / 1000;
    for key in redis.keys().await? {
        if key.ends_with(":due") {
            let entries: Vec<(String, f64)> = c.zrange_withscores(&key, 0, -1).await?;
            for (id, score) in entries {
                assert!(
                    (score as u64) <= now_ms + 500,
                    "job {id} still leased after shutdown"
                );
            }
        }
    }
    let _again = spawn_worker(config).await?;
    for id in &ids {
        let job = api
            .wait_for_state(id, "succeeded", Duration::from_secs(30))
            .await?;
        for step in job["steps"].as_array().unwrap() {
            assert_eq!(step["attempts"], 1, "no step ran twice: {job}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_redis_outage_does_not_kill_the_worker() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let mut redis = TestRedis::start_private().await?;
    let config = noop_config(&redis);
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    let body = json!({"kind": "provision", "account": "noop", "order": {"steps": 2}});
    let id = api.post_job(&body).await?.id().to_owned();
    api.wait_for_state(&id, "succeeded", Duration::from_secs(20))
        .await?;

    redis.stop()?;
    tokio::time::sleep(Duration::from_secs(2)).await; // the worker meets errors for a while
    redis.restart().await?; // persistence is off: the data is gone, the worker is not

    let id = wait_until(
        "the api to accept jobs again",
        Duration::from_secs(30),
        || async {
            let reply = api.post_job(&body).await?;
            Ok((reply.status == reqwest::StatusCode::ACCEPTED).then(|| reply.id().to_owned()))
        },
    )
    .await?;
    api.wait_for_state(&id, "succeeded", Duration::from_secs(30))
        .await?;
    Ok(())
}
