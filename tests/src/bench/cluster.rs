//! `cluster`: `steps` against a local 3-master Redis Cluster, beside the same plan on
//! one node in the same run. Also shows how the due-set shards map to the masters
//! (`CLUSTER KEYSLOT` of each shard's due-set, against `CLUSTER SLOTS`), how the
//! script runs spread over them, and that a pub/sub wake-up reaches an idle worker:
//! a job enqueued on it starts within milliseconds, not after `max_idle`.

use super::Bench;
use super::deployment::{Deployment, Shape, Target, noop_job, seed_jobs};
use super::redis_stats::Nodes;
use super::report::{Report, percentile, ratio};
use super::steps::{Plan, measure, report_figures};
use anyhow::{Context, bail};
use provisioner_shared::Store;
use provisioner_shared::job::JobState;
use redis::Value;
use serde_json::json;
use std::time::{Duration, Instant};

/// `(first slot, last slot, "host:port")` of every master.
async fn slot_ranges(nodes: &Nodes) -> anyhow::Result<Vec<(i64, i64, String)>> {
    let mut c = nodes.first();
    let reply: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut c)
        .await?;
    let mut out = Vec::new();
    let Value::Array(ranges) = reply else {
        bail!("unexpected CLUSTER SLOTS reply");
    };
    for range in ranges {
        let Value::Array(f) = range else { continue };
        let (Some(Value::Int(lo)), Some(Value::Int(hi)), Some(Value::Array(master))) =
            (f.first(), f.get(1), f.get(2))
        else {
            continue;
        };
        let host = match master.first() {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            _ => "?".into(),
        };
        let port = match master.get(1) {
            Some(Value::Int(p)) => *p,
            _ => 0,
        };
        out.push((*lo, *hi, format!("{host}:{port}")));
    }
    Ok(out)
}

/// How many due-set shards each master holds, in [`Nodes::urls`] order.
async fn shards_per_master(nodes: &Nodes, store: &Store) -> anyhow::Result<Vec<u64>> {
    let ranges = slot_ranges(nodes).await?;
    let urls = nodes.urls();
    let mut per = vec![0; urls.len()];
    let mut c = nodes.first();
    for shard in 0..store.keys().shards() {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(store.keys().due(shard))
            .query_async(&mut c)
            .await?;
        let owner = ranges
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            .map(|(_, _, addr)| addr.clone())
            .with_context(|| format!("no master serves slot {slot}"))?;
        if let Some(i) = urls.iter().position(|u| u.ends_with(&owner)) {
            per[i] += 1;
        }
    }
    Ok(per)
}

/// A worker that has gone idle (`max_idle` 1 s) gets a job: ms until it started.
async fn wake_latency(bench: &Bench, target: &Target) -> anyhow::Result<Vec<u64>> {
    let shape = Shape {
        concurrency: bench.opts.concurrency,
        runtime: bench.opts.runtime,
        listen: None,
    };
    let dep = Deployment::write(&bench.dir, "cluster-wake", target, &shape)?;
    let store = dep.store().await?;
    let mut worker = bench
        .bins
        .spawn_worker(dep.path(), &bench.dir.file("cluster-wake-worker.log"))?;
    let mut starts = Vec::new();
    for _ in 0..3 {
        // long enough for it to claim nothing, subscribe and fall asleep
        tokio::time::sleep(Duration::from_millis(400)).await;
        worker.check_alive()?;
        let id = seed_jobs(&store, &dep.config, 1, &noop_job(json!({"steps": 1})))
            .await?
            .remove(0);
        let until = Instant::now() + Duration::from_secs(10);
        while store.state_of(&id).await? != Some(JobState::Succeeded) {
            if Instant::now() >= until {
                bail!("a job on the idle cluster worker did not run within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let job = store.load(&id).await?.context("job gone")?.decode()?;
        let started = job.run.steps[0].started_at.context("no start")?;
        starts.push(started.0.saturating_sub(job.spec.created_at.0));
    }
    worker.terminate(Duration::from_secs(10))?;
    starts.sort_unstable();
    Ok(starts)
}

pub async fn scenario(bench: &Bench) -> anyhow::Result<Report> {
    let plan = Plan::from_bench(bench, 200, 5_000);
    let cluster = Target::cluster(&bench.opts).await?;
    let on_cluster = measure(bench, &cluster, "cluster", &plan).await?;
    let nodes = Nodes::connect(&cluster.urls, true).await?;
    let probe = Deployment::write(
        &bench.dir,
        "cluster-probe",
        &cluster,
        &Shape {
            concurrency: 1,
            runtime: bench.opts.runtime,
            listen: None,
        },
    )?;
    let spread = shards_per_master(&nodes, &probe.store().await?).await?;
    let wake = wake_latency(bench, &cluster).await?;
    let single = Target::private_server().await?;
    let on_one = measure(bench, &single, "cluster-single", &plan).await?;

    let mut r = Report::new("cluster");
    r.note("redis", cluster.describe());
    r.figure("masters", "masters", nodes.urls().len() as u64);
    r.figure("n", "jobs", plan.jobs as u64);
    r.figure("steps_per_job", "steps per job", u64::from(plan.steps));
    r.figure(
        "concurrency",
        "concurrency per worker",
        plan.concurrency as u64,
    );
    r.figure("workers", "worker processes", plan.workers as u64);
    r.figure("runtime", "worker runtime", bench.opts.runtime_name());
    report_figures(&mut r, &on_cluster);
    r.figure(
        "single_node_steps_per_s",
        "one node, same plan: steps/s",
        on_one.steps_per_s,
    );
    r.maybe(
        "ratio_cluster_to_single",
        "cluster ÷ one node",
        ratio(on_cluster.steps_per_s, on_one.steps_per_s),
    );
    r.figure(
        "shards_per_master",
        "due-set shards per master",
        json!(spread),
    );
    r.figure(
        "scripts_per_master",
        "script runs per master",
        json!(on_cluster.scripts_per_node),
    );
    r.maybe(
        "wake_start_ms",
        "idle worker woken by pub/sub: created → started, median (ms)",
        percentile(&wake, 50.0).map(|v| v as f64),
    );
    r.maybe(
        "wake_start_max_ms",
        "  worst (ms; max_idle is 1000)",
        percentile(&wake, 100.0).map(|v| v as f64),
    );
    Ok(r)
}
