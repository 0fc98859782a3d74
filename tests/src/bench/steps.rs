//! `steps`: N jobs of a K-step noop plan seeded straight into the store, then run by
//! W worker processes at concurrency C. The core here ([`measure`]) also serves the
//! backlog, apalis-redis and cluster scenarios.
//!
//! **Timing.** The engine stamps each step's `started_at` and `finished_at` (Redis
//! time, ms) in the job record. Throughput is N×K steps over the window from the first
//! step's start to the last step's finish. A step's latency is the time from its start
//! to the next step's start in the same job: the step, its durable commit and the
//! turn to the next step (ms resolution; K−1 samples per job). `mean_ms` is the same
//! by Little's law: concurrency × workers ÷ throughput, below the millisecond too.

use super::Bench;
use super::deployment::{Deployment, Shape, Target, noop_job, seed_jobs};
use super::procs::{Proc, Usage};
use super::redis_stats::{Counts, Nodes, our_counts};
use super::report::{Report, percentile, ratio};
use anyhow::{Context, bail};
use provisioner_shared::Store;
use provisioner_shared::config::RuntimeFlavor;
use provisioner_shared::job::{JobState, RunState};
use redis::AsyncCommands;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One measured run of the engine.
#[derive(Debug, Clone)]
pub struct Plan {
    pub jobs: usize,
    pub steps: u32,
    pub concurrency: usize,
    pub workers: usize,
    pub runtime: RuntimeFlavor,
    /// How long the drain may take before the run counts as failed.
    pub deadline: Duration,
}

impl Plan {
    pub fn from_bench(bench: &Bench, quick_n: usize, full_n: usize) -> Plan {
        let o = &bench.opts;
        Plan {
            jobs: o.n_or(quick_n, full_n),
            steps: o.steps,
            concurrency: o.concurrency,
            workers: o.workers,
            runtime: o.runtime,
            deadline: Duration::from_secs(if o.quick { 120 } else { 900 }),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub steps: u64,
    /// First step's start to last step's finish, from the records.
    pub window_s: f64,
    /// Worker start to the last job off the due-sets, as the bench saw it.
    pub wall_s: f64,
    pub steps_per_s: f64,
    pub p50_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub mean_ms: Option<f64>,
    pub counts: Counts,
    pub redis_cpu_s: f64,
    /// Summed over the worker processes.
    pub worker_cpu_s: f64,
    /// The largest of the workers' peaks.
    pub peak_rss_mb: f64,
    /// Jobs that did not succeed, or ran a step other than exactly once.
    pub bad_jobs: usize,
    pub first_bad: Option<String>,
    /// WARN/ERROR lines in the workers' logs.
    pub log_problems: usize,
    pub first_problem: Option<String>,
    /// Redis `used_memory` growth while the jobs were seeded, per job.
    pub seeded_bytes_per_job: f64,
    /// Script runs per master (cluster: how the work spread).
    pub scripts_per_node: Vec<u64>,
    pub per_worker_cpu_s: Vec<f64>,
}

impl Figures {
    pub fn per_step(&self, v: f64) -> f64 {
        v / self.steps.max(1) as f64
    }
}

/// Seeds, runs and measures one plan on `target`.
pub async fn measure(
    bench: &Bench,
    target: &Target,
    name: &str,
    plan: &Plan,
) -> anyhow::Result<Figures> {
    let shape = Shape {
        concurrency: plan.concurrency,
        runtime: plan.runtime,
        listen: None,
    };
    let dep = Deployment::write(&bench.dir, name, target, &shape)?;
    let store = dep.store().await?;
    let nodes = Nodes::connect(&target.urls, target.cluster).await?;
    let empty = nodes.snapshot().await?;
    let ids = seed_jobs(
        &store,
        &dep.config,
        plan.jobs,
        &noop_job(json!({"steps": plan.steps})),
    )
    .await?;
    let before_nodes = nodes.per_node().await?;
    let before = nodes.snapshot().await?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for i in 0..plan.workers {
        let log = bench.dir.file(&format!("{name}-worker-{i}.log"));
        workers.push(bench.bins.spawn_worker(dep.path(), &log)?);
    }
    let mut own = BTreeMap::new();
    wait_drained(&store, &mut workers, plan.deadline, &mut own).await?;
    let wall = started.elapsed();
    let after = nodes.snapshot().await?;
    let after_nodes = nodes.per_node().await?;
    let usages: Vec<Usage> = workers.iter().map(Proc::usage).collect::<Result<_, _>>()?;
    let problems: Vec<String> = workers.iter().flat_map(Proc::problem_lines).collect();
    for w in workers {
        w.terminate(Duration::from_secs(10))?;
    }
    let records = read_records(&store, &ids, plan.steps).await?;
    let calls = after.calls_since(&before, &own);
    let steps = plan.jobs as u64 * u64::from(plan.steps);
    let window_s = records.window_ms as f64 / 1000.0;
    let steps_per_s = steps as f64 / window_s.max(0.001);
    let mut intervals = records.intervals;
    intervals.sort_unstable();
    Ok(Figures {
        steps,
        window_s,
        wall_s: wall.as_secs_f64(),
        steps_per_s,
        p50_ms: percentile(&intervals, 50.0),
        p99_ms: percentile(&intervals, 99.0),
        mean_ms: ratio(
            (plan.concurrency * plan.workers) as f64 * 1000.0,
            steps_per_s,
        ),
        counts: our_counts(&calls),
        redis_cpu_s: after.cpu_s - before.cpu_s,
        worker_cpu_s: usages.iter().map(|u| u.cpu_s).sum(),
        peak_rss_mb: usages.iter().map(|u| u.peak_rss_mb).fold(0.0, f64::max),
        bad_jobs: records.bad,
        first_bad: records.first_bad,
        log_problems: problems.len(),
        first_problem: problems.into_iter().next(),
        seeded_bytes_per_job: before.used_memory.saturating_sub(empty.used_memory) as f64
            / plan.jobs.max(1) as f64,
        scripts_per_node: after_nodes
            .iter()
            .zip(&before_nodes)
            .map(|(a, b)| {
                let calls = a.calls_since(b, &BTreeMap::new());
                calls.get("evalsha").copied().unwrap_or(0) + calls.get("eval").copied().unwrap_or(0)
            })
            .collect(),
        per_worker_cpu_s: usages.iter().map(|u| u.cpu_s).collect(),
    })
}

/// Waits until every due-set is empty (each job finished), watching the workers.
/// Counts its own `ZCARD`s into `own`, so they are not billed to the engine.
pub async fn wait_drained(
    store: &Store,
    workers: &mut [Proc],
    deadline: Duration,
    own: &mut BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let until = Instant::now() + deadline;
    loop {
        let left = due_entries(store, own).await?;
        if left == 0 {
            return Ok(());
        }
        for w in workers.iter_mut() {
            w.check_alive()?;
        }
        if Instant::now() >= until {
            bail!("{left} jobs still scheduled after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Entries of all due-sets: jobs not finished yet (leased ones included).
pub async fn due_entries(store: &Store, own: &mut BTreeMap<String, u64>) -> anyhow::Result<u64> {
    let keys = store.keys();
    let counts = futures::future::join_all((0..keys.shards()).map(|shard| {
        let mut c = store.connection();
        let key = keys.due(shard);
        async move { c.zcard::<_, u64>(key).await }
    }))
    .await;
    *own.entry("zcard".into()).or_default() += u64::from(keys.shards());
    let mut sum = 0;
    for c in counts {
        sum += c?;
    }
    Ok(sum)
}

pub struct Records {
    pub window_ms: u64,
    pub intervals: Vec<u64>,
    pub bad: usize,
    pub first_bad: Option<String>,
}

/// Reads every job's run state: the timing window, step intervals, and jobs that did
/// not succeed with each step run exactly once.
pub async fn read_records(store: &Store, ids: &[String], steps: u32) -> anyhow::Result<Records> {
    let mut first = u64::MAX;
    let mut last = 0;
    let mut intervals = Vec::with_capacity(ids.len() * steps.saturating_sub(1) as usize);
    let mut bad = 0;
    let mut first_bad = None;
    for chunk in ids.chunks(1000) {
        for (id, raw) in chunk.iter().zip(store.load_many(chunk).await?) {
            let raw = raw.with_context(|| format!("job {id} is gone"))?;
            let run: RunState = serde_json::from_str(&raw.run_json)
                .with_context(|| format!("job {id}'s run state"))?;
            let starts: Vec<u64> = run
                .steps
                .iter()
                .filter_map(|s| s.started_at.map(|t| t.0))
                .collect();
            if let (Some(s), Some(f)) =
                (starts.first(), run.steps.last().and_then(|s| s.finished_at))
            {
                first = first.min(*s);
                last = last.max(f.0);
            }
            intervals.extend(starts.windows(2).map(|w| w[1].saturating_sub(w[0])));
            let once = run.steps.iter().all(|s| s.attempts == 1);
            if run.state != JobState::Succeeded || !once || run.steps.len() != steps as usize {
                bad += 1;
                first_bad.get_or_insert_with(|| {
                    let attempts: Vec<u32> = run.steps.iter().map(|s| s.attempts).collect();
                    format!(
                        "job {id}: {}, attempts {attempts:?}, error {:?}",
                        run.state, run.error
                    )
                });
            }
        }
    }
    Ok(Records {
        window_ms: last.saturating_sub(first),
        intervals,
        bad,
        first_bad,
    })
}

/// Adds the figures every engine run reports.
pub fn report_figures(r: &mut Report, f: &Figures) {
    r.figure("steps_per_s", "steps/s", f.steps_per_s);
    r.maybe(
        "p50_ms",
        "step latency p50 (ms)",
        f.p50_ms.map(|v| v as f64),
    );
    r.maybe(
        "p99_ms",
        "step latency p99 (ms)",
        f.p99_ms.map(|v| v as f64),
    );
    r.maybe("mean_ms", "step latency mean, Little's law (ms)", f.mean_ms);
    r.figure(
        "redis_cmds_per_step",
        "Redis commands per step (scripts' inside included)",
        f.per_step(f.counts.commands as f64),
    );
    r.figure(
        "round_trips_per_step",
        "Redis round trips per step",
        f.per_step(f.counts.round_trips as f64),
    );
    r.figure("rss_mb", "worker peak RSS (MB)", f.peak_rss_mb);
    r.figure("worker_cpu_s", "worker CPU (s)", f.worker_cpu_s);
    r.figure(
        "worker_cpu_us_per_step",
        "worker CPU per step (µs)",
        f.per_step(f.worker_cpu_s * 1e6),
    );
    r.figure(
        "redis_cpu_us_per_step",
        "Redis CPU per step (µs)",
        f.per_step(f.redis_cpu_s * 1e6),
    );
    r.figure(
        "window_s",
        "first step start → last step end (s)",
        f.window_s,
    );
    r.figure("wall_s", "worker start → drained, wall clock (s)", f.wall_s);
    r.figure(
        "bad_jobs",
        "jobs not succeeded or a step not run exactly once",
        f.bad_jobs as u64,
    );
    if let Some(b) = &f.first_bad {
        r.note("first bad job", b.clone());
    }
    r.figure(
        "log_warnings",
        "WARN/ERROR lines in worker logs",
        f.log_problems as u64,
    );
    if let Some(p) = &f.first_problem {
        r.note("first of them", p.clone());
    }
}

/// The `steps` scenario.
pub async fn scenario(bench: &Bench) -> anyhow::Result<Report> {
    let plan = Plan::from_bench(bench, 200, 5_000);
    let target = Target::from_options(&bench.opts).await?;
    let f = measure(bench, &target, "steps", &plan).await?;
    let mut r = Report::new("steps");
    r.note("redis", target.describe());
    r.figure("n", "jobs", plan.jobs as u64);
    r.figure("steps_per_job", "steps per job", u64::from(plan.steps));
    r.figure(
        "concurrency",
        "concurrency per worker",
        plan.concurrency as u64,
    );
    r.figure("workers", "worker processes", plan.workers as u64);
    r.figure("runtime", "worker runtime", bench.opts.runtime_name());
    report_figures(&mut r, &f);
    r.note(
        "latency",
        "step start → next step start in the same job (record timestamps, ms resolution)",
    );
    Ok(r)
}
