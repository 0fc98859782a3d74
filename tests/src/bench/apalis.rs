//! `apalis-redis`: the peer. The same no-op work through apalis-redis 1.0's own
//! storage and worker, at the same concurrency, in the same run as ours, twice: with
//! its defaults, and tuned (fetch batch 200, task leases off, 5 ms poll interval).
//!
//! Tasks are pushed from this process (`push_bulk`), then a child process — this
//! executable in the hidden role [`CHILD_ROLE`] — runs an apalis worker until it has
//! run them all, and reports the span from its first task's start to its last task's
//! end, and its own CPU and peak RSS. Redis counts come from `INFO` around the child.
//!
//! Ours runs beside it at the same N and concurrency: K-step jobs (steps/s, as the
//! `steps` scenario) and one-step jobs (each one claimed and committed, like a task).
//! apalis-redis 1.0 fails once 8 000 or more tasks are due at once ("too many results
//! to unpack": `fetch_next.lua` unpacks every due id); that is run too, at 10 000, and
//! reported as a figure.

use super::Bench;
use super::deployment::Target;
use super::options::runtime_name;
use super::redis_stats::{Counts, Nodes, apalis_counts};
use super::report::{Report, ratio};
use super::steps::{Plan, measure};
use anyhow::{Context, bail};
use apalis::layers::WorkerBuilderExt;
use apalis_core::backend::TaskSink;
use apalis_core::backend::ext::BackendExt;
use apalis_core::error::BoxDynError;
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_core::worker::context::WorkerContext;
use apalis_redis::RedisStorage;
use provisioner_shared::config::RuntimeFlavor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The hidden first argument under which this executable runs an apalis worker.
pub const CHILD_ROLE: &str = "__apalis_worker";
/// Where apalis-redis 1.0 is known to fail (`unpack` of every due id).
const FAILURE_N: usize = 10_000;

/// What the child prints as its last stdout line.
#[derive(Debug, Serialize, Deserialize)]
struct ChildReport {
    tasks: u64,
    /// First task started → last task finished.
    elapsed_s: f64,
    error: Option<String>,
    cpu_s: f64,
    peak_rss_mb: f64,
}

#[derive(Debug)]
struct PeerRun {
    tasks_per_s: Option<f64>,
    error: Option<String>,
    counts: Counts,
    tasks: u64,
    cpu_s: f64,
    peak_rss_mb: f64,
    redis_cpu_s: f64,
}

#[derive(Debug, Clone, Copy)]
struct PeerSetup {
    n: usize,
    concurrency: usize,
    tuned: bool,
    runtime: RuntimeFlavor,
}

async fn run_peer(bench: &Bench, target: &Target, setup: PeerSetup) -> anyhow::Result<PeerRun> {
    let url = &target.urls[0];
    let queue = format!(
        "bench-apalis-{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    let conn = apalis_redis::connect(url.as_str()).await?;
    let mut storage =
        RedisStorage::<u64>::new(conn).with_config(apalis_redis::Config::default().queue(&queue));
    storage
        .push_bulk((0..setup.n as u64).collect())
        .await
        .map_err(|e| anyhow::anyhow!("pushing the peer's tasks: {e:?}"))?;
    let nodes = Nodes::connect(&target.urls, false).await?;
    let before = nodes.snapshot().await?;
    let me = std::env::current_exe()?;
    let log = bench.dir.file(&format!(
        "apalis-{}-{}.log",
        if setup.tuned { "tuned" } else { "defaults" },
        setup.n
    ));
    let mut cmd = tokio::process::Command::new(me);
    cmd.arg(CHILD_ROLE)
        .args(["--redis-url", url, "--queue", &queue])
        .args(["--n", &setup.n.to_string()])
        .args(["--concurrency", &setup.concurrency.to_string()])
        .args(["--runtime", runtime_name(setup.runtime)])
        .arg(if setup.tuned { "--tuned" } else { "--defaults" })
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log)?)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), cmd.output())
        .await
        .context("the apalis worker ran for more than 300 s")??;
    let after = nodes.snapshot().await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let child: ChildReport = serde_json::from_str(line).with_context(|| {
        format!(
            "the apalis worker ({}) printed no report: {line:?} (log: {})",
            out.status,
            log.display()
        )
    })?;
    let done = child.error.is_none() && child.tasks == setup.n as u64;
    Ok(PeerRun {
        tasks_per_s: done.then(|| child.tasks as f64 / child.elapsed_s.max(1e-6)),
        error: child.error,
        counts: apalis_counts(&after.calls_since(&before, &BTreeMap::new())),
        tasks: child.tasks,
        cpu_s: child.cpu_s,
        peak_rss_mb: child.peak_rss_mb,
        redis_cpu_s: after.cpu_s - before.cpu_s,
    })
}

pub async fn scenario(bench: &Bench) -> anyhow::Result<Report> {
    let n = bench.opts.n_or(500, 5_000);
    let c = bench.opts.concurrency;
    let target = Target::from_options(&bench.opts).await?;
    if target.cluster {
        bail!("apalis-redis 1.0 does not run on Redis Cluster (CROSSSLOT): give one node");
    }
    let mut plan = Plan::from_bench(bench, 500, 5_000);
    plan.jobs = n;
    plan.workers = 1;
    let ours = measure(bench, &target, "peer-ours", &plan).await?;
    plan.steps = 1;
    let ours_one = measure(bench, &target, "peer-ours-1", &plan).await?;
    let setup = PeerSetup {
        n,
        concurrency: c,
        tuned: false,
        runtime: bench.opts.runtime,
    };
    let defaults = run_peer(bench, &target, setup).await?;
    let tuned = run_peer(
        bench,
        &target,
        PeerSetup {
            tuned: true,
            ..setup
        },
    )
    .await?;
    let big = run_peer(
        bench,
        &target,
        PeerSetup {
            n: FAILURE_N,
            tuned: true,
            ..setup
        },
    )
    .await?;

    let mut r = Report::new("apalis-redis");
    r.note("redis", target.describe());
    r.figure("n", "tasks (jobs)", n as u64);
    r.figure("concurrency", "concurrency", c as u64);
    r.figure(
        "runtime",
        "runtime (ours and the peer's)",
        bench.opts.runtime_name(),
    );
    r.figure(
        "ours_steps_per_s",
        "ours: steps/s, jobs of K steps",
        ours.steps_per_s,
    );
    r.figure("ours_steps_per_job", "  K", u64::from(bench.opts.steps));
    r.figure(
        "ours_one_step_jobs_per_s",
        "ours: one-step jobs/s (claim + commit each)",
        ours_one.steps_per_s,
    );
    r.figure(
        "ours_cmds_per_step",
        "  Redis commands per step (K steps)",
        ours.per_step(ours.counts.commands as f64),
    );
    r.figure(
        "ours_redis_cpu_us_per_step",
        "  Redis CPU per step (µs)",
        ours.per_step(ours.redis_cpu_s * 1e6),
    );
    r.figure("ours_rss_mb", "  worker peak RSS (MB)", ours.peak_rss_mb);
    for (key, label, run) in [
        ("defaults", "apalis-redis defaults", &defaults),
        ("tuned", "apalis-redis tuned", &tuned),
    ] {
        let per_task = |v: u64| v as f64 / run.tasks.max(1) as f64;
        r.maybe(
            &format!("apalis_{key}_tasks_per_s"),
            &format!("{label}: tasks/s"),
            run.tasks_per_s,
        );
        r.maybe(
            &format!("ratio_ours_to_apalis_{key}"),
            "  ours steps/s ÷ theirs",
            run.tasks_per_s.and_then(|t| ratio(ours.steps_per_s, t)),
        );
        r.maybe(
            &format!("ratio_ours_one_step_to_apalis_{key}"),
            "  ours one-step jobs/s ÷ theirs",
            run.tasks_per_s.and_then(|t| ratio(ours_one.steps_per_s, t)),
        );
        r.figure(
            &format!("apalis_{key}_cmds_per_task"),
            "  Redis commands per task",
            per_task(run.counts.commands),
        );
        r.figure(
            &format!("apalis_{key}_round_trips_per_task"),
            "  round trips per task",
            per_task(run.counts.round_trips),
        );
        r.figure(
            &format!("apalis_{key}_redis_cpu_us_per_task"),
            "  Redis CPU per task (µs)",
            run.redis_cpu_s * 1e6 / run.tasks.max(1) as f64,
        );
        r.figure(
            &format!("apalis_{key}_rss_mb"),
            "  worker peak RSS (MB)",
            run.peak_rss_mb,
        );
        r.figure(
            &format!("apalis_{key}_cpu_s"),
            "  worker CPU (s)",
            run.cpu_s,
        );
        if let Some(e) = &run.error {
            r.note("  error", e.clone());
        }
    }
    r.figure(
        "apalis_large_n",
        "apalis-redis tuned at a larger backlog: tasks",
        FAILURE_N as u64,
    );
    r.maybe("apalis_large_n_tasks_per_s", "  tasks/s", big.tasks_per_s);
    r.figure("apalis_large_n_tasks_done", "  tasks it ran", big.tasks);
    r.figure(
        "apalis_large_n_error",
        "  its error",
        big.error.clone().unwrap_or_else(|| "none".into()),
    );
    Ok(r)
}

/// Shared by the child's handlers: how many ran, and when the first and last did.
struct Progress {
    target: u64,
    done: AtomicU64,
    first: OnceLock<Instant>,
    last: Mutex<Option<Instant>>,
}

async fn noop_task(
    _task: u64,
    progress: Data<Arc<Progress>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    progress.first.get_or_init(Instant::now);
    let done = progress.done.fetch_add(1, Ordering::Relaxed) + 1;
    if done == progress.target {
        *progress.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let _ = worker.stop();
    }
    Ok(())
}

struct ChildArgs {
    url: String,
    queue: String,
    n: u64,
    concurrency: usize,
    tuned: bool,
    runtime: RuntimeFlavor,
}

fn child_args(args: &[String]) -> anyhow::Result<ChildArgs> {
    let mut a = ChildArgs {
        url: String::new(),
        queue: String::new(),
        n: 0,
        concurrency: 1,
        tuned: false,
        runtime: RuntimeFlavor::MultiThread,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--redis-url" => a.url = value()?,
            "--queue" => a.queue = value()?,
            "--n" => a.n = value()?.parse()?,
            "--concurrency" => a.concurrency = value()?.parse()?,
            "--runtime" => {
                a.runtime = if value()? == "current-thread" {
                    RuntimeFlavor::CurrentThread
                } else {
                    RuntimeFlavor::MultiThread
                }
            }
            "--tuned" => a.tuned = true,
            "--defaults" => a.tuned = false,
            other => bail!("unknown argument `{other}`"),
        }
    }
    Ok(a)
}

/// The child: runs the apalis worker and prints a [`ChildReport`] as its last line.
pub fn child_main(args: &[String]) -> anyhow::Result<()> {
    let a = child_args(args)?;
    let runtime = match a.runtime {
        RuntimeFlavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        RuntimeFlavor::MultiThread => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    let progress = Arc::new(Progress {
        target: a.n,
        done: AtomicU64::new(0),
        first: OnceLock::new(),
        last: Mutex::new(None),
    });
    let outcome = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(240), run_apalis(&a, progress.clone())).await
    });
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(_) => Some("still running after 240 s".into()),
    };
    let elapsed_s = match (
        progress.first.get(),
        *progress.last.lock().unwrap_or_else(|e| e.into_inner()),
    ) {
        (Some(first), Some(last)) => last.duration_since(*first).as_secs_f64(),
        _ => 0.0,
    };
    let usage = super::procs::usage_of(0).unwrap_or_default();
    let report = ChildReport {
        tasks: progress.done.load(Ordering::Relaxed),
        elapsed_s,
        error,
        cpu_s: usage.cpu_s,
        peak_rss_mb: usage.peak_rss_mb,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

async fn run_apalis(a: &ChildArgs, progress: Arc<Progress>) -> Result<(), String> {
    let conn = apalis_redis::connect(a.url.as_str())
        .await
        .map_err(|e| e.to_string())?;
    let mut config = apalis_redis::Config::default().queue(&a.queue);
    if a.tuned {
        config = config.batch_size(200).lock_tasks(false);
    }
    let storage = RedisStorage::<u64>::new(conn).with_config(config);
    let name = format!(
        "bench-{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    );
    let outcome = if a.tuned {
        WorkerBuilder::new(name)
            .backend(storage.poll_with_interval(Duration::from_millis(5)))
            .concurrency(a.concurrency)
            .data(progress)
            .build(noop_task)
            .run()
            .await
    } else {
        WorkerBuilder::new(name)
            .backend(storage)
            .concurrency(a.concurrency)
            .data(progress)
            .build(noop_task)
            .run()
            .await
    };
    outcome.map_err(|e| e.to_string())
}
