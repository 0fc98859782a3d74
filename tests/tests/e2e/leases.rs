//! Leases: one holder per job, whatever the timing. A job that waited in a worker's
//! prefetch buffer starts only with a whole step's worth of lease left, and a stale
//! holder's commit is refused even when Redis lost writes and versions repeat.

use provisioner_shared::job::RunState;
use provisioner_shared::store::{Commit, CommitOutcome, Schedule, Store};
use provisioner_tests::providers::{add_hostkey, start_hostkey};
use provisioner_tests::{
    TestRedis, connect_store, spawn_api, spawn_worker, test_config, wait_until,
};
use redis::AsyncCommands;
use serde_json::json;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// Issue 9, defect 1. A worker with one slot claims three reinstalls at once (one
/// runs, two wait in its prefetch buffer), each first step a slow `eq/reinstall`
/// that keeps the slot. The third starts only after its lease ran out, and by then
/// another holder (this test, claiming like a second worker) has it. The buffered
/// job must see that its lease is gone and let go without calling the provider:
/// while the other holder has it, no third `eq/reinstall` may be sent.
#[tokio::test]
async fn a_prefetched_job_whose_lease_ran_out_is_let_go() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let hk = start_hostkey().await?;
    let mut config = test_config(&redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    let api = spawn_api(config.clone()).await?;
    let store = connect_store(&config).await?;

    // Three servers to reinstall, provisioned first by an ordinary worker.
    let mut servers = Vec::new();
    {
        let provisioner = spawn_worker(config.clone()).await?;
        for n in 0..3 {
            let body = json!({
                "kind": "provision", "account": "hk-nl", "hostname": format!("lease-{n}.example.com"),
                "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
                "root_password": "S3cure!pass",
            });
            let id = api.post_job(&body).await?.id().to_owned();
            let job = api.wait_for_state(&id, "succeeded", LONG).await?;
            servers.push(job["server"]["id"].as_str().unwrap().to_owned());
        }
        provisioner.shutdown().await?;
    }

    // Lease 2.5 s, step timeout 2 s (so one step per claim), and a 1.5 s eq/reinstall:
    // the third job leaves the buffer ~3 s after its claim, 0.5 s after its lease.
    hk.faults().set_action(
        "eq/reinstall",
        provisioner_sandbox::sim::FaultKnobs {
            slow_ms: 1500,
            ..Default::default()
        },
    )?;
    let mut narrow = config.clone();
    narrow.worker.concurrency = 1;
    narrow.worker.prefetch = Some(2);
    narrow.worker.lease = Duration::from_millis(2500);
    let mut jobs = Vec::new();
    for server in &servers {
        let body = json!({
            "kind": "reinstall", "account": "hk-nl", "server_id": server,
            "hostname": "lease.example.com", "root_password": "N3w!Secret", "reinstall": {"os_id": 187},
        });
        jobs.push(api.post_job(&body).await?.id().to_owned());
    }
    let before = hk.requests("eq/reinstall");
    let narrow_worker = spawn_worker(narrow).await?;

    // The narrow worker has claimed all three once the first eq/reinstall arrives.
    wait_until("the first eq/reinstall", LONG, || async {
        Ok((hk.requests("eq/reinstall") > before).then_some(()))
    })
    .await?;
    // Play the second worker: once the buffered job's lease has run out, claim what
    // is due and hold it.
    let mut held = Vec::new();
    let deadline = tokio::time::Instant::now() + LONG;
    while !held.iter().any(|(_, fresh)| *fresh) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the buffered job's lease never ran out"
        );
        for shard in 0..config.worker.shards {
            let batch = store.claim(shard, 10, Duration::from_secs(60)).await?;
            for job in batch.jobs {
                let fresh =
                    job.run_json.contains(r#""cursor":0"#) && !job.run_json.contains(r#""key""#);
                held.push((job, fresh));
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        hk.requests("eq/reinstall") - before < 3,
        "the third reinstall had not started yet"
    );
    // While it is ours, the narrow worker must never send its eq/reinstall.
    let third = wait_until("a third eq/reinstall", Duration::from_secs(4), || async {
        Ok((hk.requests("eq/reinstall") - before >= 3).then_some(()))
    })
    .await;
    assert!(
        third.is_err(),
        "a job whose lease ran out in the prefetch buffer ran its step while another worker held it"
    );

    // Hand back what we hold; everything then finishes, one reinstall per server.
    narrow_worker.shutdown().await?;
    for (job, _) in &held {
        let run: RunState = serde_json::from_str(&job.run_json)?;
        store
            .commit(Commit {
                id: &job.id,
                version: job.version,
                fence: &job.fence,
                run_json: &job.run_json,
                state: run.state,
                schedule: Schedule::After(Duration::ZERO),
                pokes_seen: run.pokes_seen,
                cancel_seen: run.cancel_seen,
                callback: None,
            })
            .await?;
    }
    hk.faults().clear();
    let worker = spawn_worker(config.clone()).await?;
    for id in &jobs {
        api.wait_for_state(id, "succeeded", LONG).await?;
    }
    assert_eq!(hk.requests("eq/reinstall") - before, 3);
    worker.shutdown().await?;
    Ok(())
}

/// Issue 9, defect 2. A failover to a replica that missed the last writes rolls a
/// job back to an older version; a new holder claims it and its version climbs to
/// the one the stale holder still has. The stale holder's commit must be refused
/// (the claim's fence differs), on the lean hold path and on the full commit.
#[tokio::test]
async fn a_stale_holder_cannot_commit_after_lost_writes() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let mut config = test_config(&redis);
    config.accounts.push(provisioner_tests::account(
        "noop",
        provisioner_shared::ProviderKind::Noop,
        "http://127.0.0.1:9/",
    ));
    let api = spawn_api(config.clone()).await?;
    let store = connect_store(&config).await?;
    let id = api
        .post_job(&json!({"kind": "provision", "account": "noop", "order": {"steps": 3}}))
        .await?
        .id()
        .to_owned();
    let shard = store.keys().shard_of(&id);
    let job_key = store.keys().job(&id);
    let due_key = store.keys().due(shard);
    let mut c = redis.connection().await?;
    // What the lagging replica has: the record as enqueued, due now.
    let snapshot: Vec<(String, String)> = c.hgetall(&job_key).await?;
    let score: f64 = c.zscore(&due_key, &id).await?;

    for path in ["hold", "commit"] {
        let stale = claim_one(&store, shard, &id).await?;
        let stale_version = hold(&store, &stale, stale.version).await?;

        // Failover: the writes after the snapshot are lost.
        let _: () = c.del(&job_key).await?;
        let _: () = c.hset_multiple(&job_key, &snapshot).await?;
        let _: () = c.zadd(&due_key, &id, score).await?;

        let fresh = claim_one(&store, shard, &id).await?;
        let fresh_version = hold(&store, &fresh, fresh.version).await?;
        assert_eq!(
            fresh_version, stale_version,
            "the new holder's version repeats the stale one's (the ABA this guards)"
        );
        let run: RunState = serde_json::from_str(&stale.run_json)?;
        let run_json = serde_json::to_string(&run)?;
        let schedule = match path {
            "hold" => Schedule::Hold,
            _ => Schedule::After(Duration::ZERO),
        };
        let outcome = store
            .commit(Commit {
                id: &id,
                version: stale_version,
                fence: &stale.fence,
                run_json: &run_json,
                state: run.state,
                schedule,
                pokes_seen: run.pokes_seen,
                cancel_seen: run.cancel_seen,
                callback: None,
            })
            .await?;
        assert_eq!(
            outcome,
            CommitOutcome::Lost,
            "a stale holder's {path} must be refused"
        );
        // The new holder still holds it.
        assert!(matches!(
            hold(&store, &fresh, fresh_version).await,
            Ok(v) if v == fresh_version + 1
        ));
        // Back to the snapshot for the next path.
        let _: () = c.del(&job_key).await?;
        let _: () = c.hset_multiple(&job_key, &snapshot).await?;
        let _: () = c.zadd(&due_key, &id, score).await?;
    }
    Ok(())
}

async fn claim_one(
    store: &Store,
    shard: u16,
    id: &str,
) -> anyhow::Result<provisioner_shared::store::ClaimedJob> {
    let batch = store.claim(shard, 10, Duration::from_secs(30)).await?;
    batch
        .jobs
        .into_iter()
        .find(|j| j.id == id)
        .ok_or_else(|| anyhow::anyhow!("job {id} was not claimed"))
}

/// A lean hold commit of the job's run state as claimed; the new version.
async fn hold(
    store: &Store,
    job: &provisioner_shared::store::ClaimedJob,
    version: u64,
) -> anyhow::Result<u64> {
    let run: RunState = serde_json::from_str(&job.run_json)?;
    match store
        .commit(Commit {
            id: &job.id,
            version,
            fence: &job.fence,
            run_json: &job.run_json,
            state: run.state,
            schedule: Schedule::Hold,
            pokes_seen: run.pokes_seen,
            cancel_seen: run.cancel_seen,
            callback: None,
        })
        .await?
    {
        CommitOutcome::Committed { version, .. } => Ok(version),
        CommitOutcome::Lost => anyhow::bail!("hold lost"),
    }
}

/// Issue 9, defect 2 (durability). With a replica behind the master, a money step's
/// provider call goes out only once a replica has its intent (`WAIT`): while the
/// replica does not answer, HOSTKEY receives no order; once it does, exactly one.
#[tokio::test]
async fn an_order_waits_until_a_replica_has_its_intent() -> anyhow::Result<()> {
    use provisioner_sandbox::redis_server::RedisServer;
    provisioner_tests::init_tracing();
    let master = tokio::task::spawn_blocking(RedisServer::start).await??;
    let port = master.port().to_string();
    let replica = tokio::task::spawn_blocking(move || {
        RedisServer::start_with_args(&[
            "--replicaof",
            "127.0.0.1",
            &port,
            "--enable-debug-command",
            "yes",
        ])
    })
    .await??;
    let master_client = redis::Client::open(master.url())?;
    let mut m = master_client.get_multiplexed_async_connection().await?;
    wait_until("the replica to connect", LONG, || {
        let mut m = m.clone();
        async move {
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query_async(&mut m)
                .await?;
            Ok(info.contains("connected_slaves:1").then_some(()))
        }
    })
    .await?;

    let hk = start_hostkey().await?;
    let mut config = provisioner_tests::config::test_config_at(&master.url(), "durable");
    config.redis.wait_timeout = Duration::from_millis(200);
    add_hostkey(&mut config, "hk-nl", &hk);
    let api = spawn_api(config.clone()).await?;
    let worker = spawn_worker(config.clone()).await?;

    // The replica stops answering for a while: nothing it has not confirmed may
    // lead to an order.
    let replica_client = redis::Client::open(replica.url())?;
    let mut r = replica_client.get_multiplexed_async_connection().await?;
    let asleep = tokio::spawn(async move {
        let _: redis::RedisResult<()> = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(4)
            .query_async(&mut r)
            .await;
    });
    let body = json!({
        "kind": "provision", "account": "hk-nl", "hostname": "durable.example.com",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "root_password": "S3cure!pass",
    });
    let id = api.post_job(&body).await?.id().to_owned();
    let job = wait_until("the order step to hold back", LONG, || async {
        let job = api.get_job(&id).await?.body;
        let note = job["note"].as_str().unwrap_or_default().to_owned();
        Ok(note.contains("replicas").then_some(job))
    })
    .await?;
    assert_eq!(
        provisioner_tests::providers::hostkey_orders_and_payments(&hk).0,
        0,
        "an order went out before any replica had its intent: {job}"
    );
    asleep.await?;
    api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(
        provisioner_tests::providers::hostkey_orders_and_payments(&hk),
        (1, 1)
    );
    let _: () = m.flushall().await?;
    worker.shutdown().await?;
    Ok(())
}
