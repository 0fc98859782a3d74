//! `idle`: N jobs parked in a provider wait an hour away (the noop provider's
//! `wait_ms`), then one worker with nothing to do.
//!
//! - Memory: Redis `used_memory` after the jobs are parked, minus before they were
//!   seeded, per job (record, due-set entry and list indexes).
//! - Idle cost: the worker's CPU over 60 s (10 s with `--quick`) and the Redis
//!   commands it sends meanwhile.
//! - Wake-up: a one-step job enqueued on the idle worker, several times: from its
//!   `created_at` to its step's `started_at` (both Redis time, ms), and the wall time
//!   until the bench sees it succeeded. Then a job whose step waits 50 ms once: how
//!   late past those 50 ms the idle worker runs it again.

use super::Bench;
use super::deployment::{Deployment, Shape, Target, noop_job, seed_jobs};
use super::redis_stats::{Nodes, our_counts};
use super::report::{Report, percentile};
use super::steps::due_entries;
use anyhow::{Context, bail};
use provisioner_shared::Store;
use provisioner_shared::job::{JobState, RunState};
use redis::AsyncCommands;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A parked job's next poll.
const PARKED_FOR_MS: u64 = 3_600_000;
/// New jobs timed on the idle worker.
const WAKE_SAMPLES: usize = 5;

/// Jobs due before `within` from now, over every shard.
async fn due_within(store: &Store, within: Duration) -> anyhow::Result<u64> {
    let horizon = store.time().await?.plus(within).0;
    let keys = store.keys();
    let mut n = 0;
    for shard in 0..keys.shards() {
        let mut c = store.connection();
        n += c
            .zcount::<_, _, _, u64>(keys.due(shard), "-inf", horizon)
            .await?;
    }
    Ok(n)
}

/// A one-step job whose step first waits `POLL_MS`: how late, past that wait, the idle
/// worker ran it again (its step's start → finish, minus the wait).
const POLL_MS: u64 = 50;

async fn time_short_poll(store: &Store, dep: &Deployment) -> anyhow::Result<u64> {
    let order = json!({"steps": 1, "wait_ms": POLL_MS});
    let id = seed_jobs(store, &dep.config, 1, &noop_job(order))
        .await?
        .remove(0);
    wait_succeeded(store, &id).await?;
    let job = store
        .load(&id)
        .await?
        .context("the job is gone")?
        .decode()?;
    let step = &job.run.steps[0];
    let (start, end) = step
        .started_at
        .zip(step.finished_at)
        .context("no step times")?;
    Ok(end.0.saturating_sub(start.0).saturating_sub(POLL_MS))
}

async fn wait_succeeded(store: &Store, id: &str) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(10);
    while store.state_of(id).await? != Some(JobState::Succeeded) {
        if Instant::now() >= until {
            bail!("a new job on the idle worker did not finish within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// Enqueues one job on the idle worker and times it: (created → started ms, wall ms).
async fn time_new_job(store: &Store, dep: &Deployment) -> anyhow::Result<(u64, f64)> {
    let t = Instant::now();
    let id = seed_jobs(store, &dep.config, 1, &noop_job(json!({"steps": 1})))
        .await?
        .remove(0);
    wait_succeeded(store, &id).await?;
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    let raw = store.load(&id).await?.context("the new job is gone")?;
    let job = raw.decode()?;
    let run: &RunState = &job.run;
    let started = run.steps[0].started_at.context("the step has no start")?;
    Ok((started.0.saturating_sub(job.spec.created_at.0), wall_ms))
}

pub async fn scenario(bench: &Bench) -> anyhow::Result<Report> {
    let n = bench.opts.n_or(2_000, 100_000);
    let idle_for = Duration::from_secs(if bench.opts.quick { 10 } else { 60 });
    let target = Target::from_options(&bench.opts).await?;
    let shape = Shape {
        concurrency: bench.opts.concurrency,
        runtime: bench.opts.runtime,
        listen: None,
    };
    let dep = Deployment::write(&bench.dir, "idle", &target, &shape)?;
    let store = dep.store().await?;
    let nodes = Nodes::connect(&target.urls, target.cluster).await?;
    let empty = nodes.snapshot().await?;
    let mut worker = bench
        .bins
        .spawn_worker(dep.path(), &bench.dir.file("idle-worker.log"))?;
    let order = json!({"steps": 2, "wait_ms": PARKED_FOR_MS});
    let ids = seed_jobs(&store, &dep.config, n, &noop_job(order)).await?;
    // parked = nothing due within the next half hour
    let until = Instant::now() + Duration::from_secs(if bench.opts.quick { 120 } else { 600 });
    loop {
        worker.check_alive()?;
        let left = due_within(&store, Duration::from_secs(1800)).await?;
        if left == 0 {
            break;
        }
        if Instant::now() >= until {
            bail!("{left} of {n} jobs not parked yet");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let parked = nodes.snapshot().await?;
    let sample_key = store.keys().job(&ids[0]);
    let mut c = store.connection();
    let sample_bytes: Option<u64> = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&sample_key)
        .query_async(&mut c)
        .await
        .ok();
    let mut own = BTreeMap::new();
    let scheduled = due_entries(&store, &mut own).await?;

    let cpu_before = worker.usage()?.cpu_s;
    let cmds_before = nodes.snapshot().await?;
    tokio::time::sleep(idle_for).await;
    worker.check_alive()?;
    let cpu_idle = worker.usage()?.cpu_s - cpu_before;
    let idle_calls = nodes
        .snapshot()
        .await?
        .calls_since(&cmds_before, &BTreeMap::new());
    let idle_counts = our_counts(&idle_calls);

    let mut starts = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..WAKE_SAMPLES {
        // let the worker fall back to its idle sleep between samples
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (start_ms, wall_ms) = time_new_job(&store, &dep).await?;
        starts.push(start_ms);
        walls.push(wall_ms);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let poll_late = time_short_poll(&store, &dep).await?;
    let usage = worker.usage()?;
    let problems = worker.problem_lines();
    worker.terminate(Duration::from_secs(10))?;
    starts.sort_unstable();
    walls.sort_by(f64::total_cmp);

    let mut r = Report::new("idle");
    r.note("redis", target.describe());
    r.figure("n", "jobs parked an hour away", n as u64);
    r.figure("scheduled", "entries left in the due-sets", scheduled);
    let per_job = parked.used_memory.saturating_sub(empty.used_memory) as f64 / n as f64;
    r.figure(
        "bytes_per_waiting_job",
        "Redis used_memory per waiting job (B)",
        per_job,
    );
    r.maybe(
        "record_bytes",
        "MEMORY USAGE of one job hash (B)",
        sample_bytes.map(|b| b as f64),
    );
    r.figure("idle_s", "idle period (s)", idle_for.as_secs_f64());
    r.figure(
        "idle_cpu_pct",
        "idle worker CPU (% of one core)",
        cpu_idle / idle_for.as_secs_f64() * 100.0,
    );
    r.figure(
        "idle_round_trips_per_s",
        "idle worker Redis round trips per s",
        idle_counts.round_trips as f64 / idle_for.as_secs_f64(),
    );
    r.maybe(
        "new_job_start_ms",
        "new job: created → step started, median (ms)",
        percentile(&starts, 50.0).map(|v| v as f64),
    );
    r.maybe(
        "new_job_start_max_ms",
        "new job: created → step started, worst (ms)",
        percentile(&starts, 100.0).map(|v| v as f64),
    );
    r.maybe(
        "new_job_done_ms",
        "new job: enqueue → seen succeeded, median (ms)",
        percentile(&walls, 50.0),
    );
    r.figure(
        "short_poll_late_ms",
        "a 50 ms provider wait on the idle worker: run again this late (ms)",
        poll_late,
    );
    r.figure("rss_mb", "worker peak RSS (MB)", usage.peak_rss_mb);
    r.figure(
        "log_warnings",
        "WARN/ERROR lines in the worker log",
        problems.len() as u64,
    );
    Ok(r)
}
