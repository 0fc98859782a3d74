//! Redis Cluster: the same api and workers on 3 masters (every script in one slot
//! through the shard hash tags, the due-set shards spread over the nodes).

use futures::StreamExt;
use provisioner_shared::ProviderKind;
use provisioner_shared::store::Keys;
use provisioner_tests::providers::{add_hostkey, hostkey_orders_and_payments, start_hostkey};
use provisioner_tests::{TestApi, TestCluster, account, spawn_api, spawn_worker, wait_until};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const NOOP_JOBS: usize = 500;

fn hostkey_provision() -> Value {
    json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": "svc-cluster-1",
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": "cluster-1.example.com",
        "root_password": "S3cure!pass",
        "reinstall": {"os_id": 183},
    })
}

/// Each step of `job` that finished ran once: `attempts` is 1 for every done step and
/// nothing ran twice.
fn steps_ran_once(job: &Value) -> Result<(), String> {
    let steps = job["steps"].as_array().ok_or("no steps")?;
    for s in steps {
        let attempts = s["attempts"].as_u64().unwrap_or(0);
        let done = s["state"] == "done";
        if attempts > 1 || (done && attempts != 1) {
            return Err(format!("job {}: step {s}", job["id"]));
        }
    }
    Ok(())
}

/// Waits until exactly `n` connections listen on the first node for wake-ups.
async fn wait_for_subscribers(cluster: &TestCluster, channel: &str, n: u64) -> anyhow::Result<()> {
    let node = cluster.first_node().await?;
    wait_until(&format!("{n} workers listening for wake-ups"), LONG, || {
        let mut node = node.clone();
        async move {
            let (_, subscribers): (String, u64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(channel)
                .query_async(&mut node)
                .await?;
            Ok((subscribers == n).then_some(()))
        }
    })
    .await
}

async fn post_all(api: &TestApi, body: &Value, n: usize) -> anyhow::Result<Vec<String>> {
    let replies: Vec<anyhow::Result<String>> = futures::stream::iter(0..n)
        .map(|_| async {
            let reply = api
                .post_job(body)
                .await?
                .expect(reqwest::StatusCode::ACCEPTED)?;
            Ok(reply.id().to_owned())
        })
        .buffer_unordered(16)
        .collect()
        .await;
    replies.into_iter().collect()
}

#[tokio::test]
async fn a_three_master_cluster_runs_a_hostkey_provision_and_500_jobs_each_step_once()
-> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let cluster = TestCluster::start().await?;
    let hk = start_hostkey().await?;
    let mut config = cluster.config();
    add_hostkey(&mut config, "hk-nl", &hk);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    config.worker.concurrency = 16;
    let api = spawn_api(config.clone()).await?;
    let a = spawn_worker(config.clone()).await?;
    let b = spawn_worker(config.clone()).await?;

    let provision = api
        .post_job(&hostkey_provision())
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?
        .id()
        .to_owned();
    let noop = json!({"kind": "provision", "account": "noop", "order": {"steps": 3}});
    let ids = post_all(&api, &noop, NOOP_JOBS).await?;
    let job = api.wait_for_state(&provision, "succeeded", LONG).await?;
    steps_ran_once(&job).map_err(anyhow::Error::msg)?;
    assert_eq!(hostkey_orders_and_payments(&hk), (1, 1));
    for id in &ids {
        let job = api.wait_for_state(id, "succeeded", LONG).await?;
        steps_ran_once(&job).map_err(anyhow::Error::msg)?;
        assert_eq!(job["steps"].as_array().map(Vec::len), Some(3));
    }

    // A pub/sub wake-up crosses the cluster: a worker whose idle re-read of the
    // due-sets is minutes away still starts a new job at once. It subscribes on the
    // first node; the job's script publishes on whichever master holds its shard.
    a.shutdown().await?;
    b.shutdown().await?;
    let channel = Keys::new(cluster.namespace(), config.worker.shards).wake_channel();
    wait_for_subscribers(&cluster, &channel, 0).await?;
    let mut sleepy = config.clone();
    sleepy.worker.max_idle = Duration::from_secs(300);
    let _c = spawn_worker(sleepy).await?;
    wait_for_subscribers(&cluster, &channel, 1).await?;
    let late = post_all(&api, &noop, 4).await?;
    for id in &late {
        api.wait_for_state(id, "succeeded", Duration::from_secs(30))
            .await?;
    }
    Ok(())
}
