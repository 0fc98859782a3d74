//! `provisioner-bench`: measures the engine beside its peer (issue 5).
//!
//! `provisioner-bench SCENARIO [--n N] [--concurrency C] [--redis-url URL] [--quick]
//! [--runtime multi-thread|current-thread] [--steps K] [--workers W]`; `all` runs every
//! scenario. Each scenario prints a table and ONE JSON line of its figures (snake_case
//! keys carrying their unit). Workers and the api run as separate processes (the real
//! `provisioner-worker` / `provisioner-api` next to this executable), so their CPU and
//! memory are their own; Redis is a private `redis-server` unless `--redis-url` names
//! one (a comma-separated list is a cluster seed list).
//!
//! - [`options`]: the command line.
//! - [`deployment`]: Redis targets, generated configs, seeding jobs straight into the store.
//! - [`procs`]: child processes and what `/proc` says about them.
//! - [`redis_stats`]: `INFO` snapshots and how commands and round trips are counted.
//! - [`report`]: the table and the JSON line.
//! - one module per scenario: [`steps`], [`enqueue`], [`idle`], [`backlog`],
//!   [`apalis`], [`cluster`].

pub mod apalis;
pub mod backlog;
pub mod cluster;
pub mod deployment;
pub mod enqueue;
pub mod idle;
pub mod options;
pub mod procs;
pub mod redis_stats;
pub mod report;
pub mod steps;

use anyhow::Context;
use options::{Options, Scenario};
use procs::Binaries;
use std::process::ExitCode;

/// What every scenario gets: the options, the binaries to start, a scratch directory.
pub struct Bench {
    pub opts: Options,
    pub bins: Binaries,
    pub dir: deployment::ScratchDir,
}

/// The whole program: hidden child roles first, else a bench run.
pub fn main(args: Vec<String>) -> ExitCode {
    let result = match args.first().map(String::as_str) {
        Some(procs::WORKER_ROLE) => procs::run_worker_role(&args[1..]),
        Some(procs::API_ROLE) => procs::run_api_role(&args[1..]),
        Some(apalis::CHILD_ROLE) => apalis::child_main(&args[1..]),
        _ => match Options::parse(&args) {
            Ok(None) => {
                println!("{}", options::USAGE);
                return ExitCode::SUCCESS;
            }
            Ok(Some(opts)) => run_blocking(opts),
            Err(e) => {
                eprintln!("provisioner-bench: {e:#}\n\n{}", options::USAGE);
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provisioner-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_blocking(opts: Options) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the bench's tokio runtime")?;
    runtime.block_on(run(opts))
}

/// Runs the scenario(s) the options name.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    let bins = Binaries::find()?;
    let dir = deployment::ScratchDir::new()?;
    println!("provisioner-bench: {}", bins.describe());
    println!(
        "build: {}; mode: {}; machine: {} cores",
        if cfg!(debug_assertions) {
            "debug (figures are not representative: use --release)"
        } else {
            "release"
        },
        if opts.quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    let bench = Bench { opts, bins, dir };
    let scenarios: Vec<Scenario> = match bench.opts.scenario {
        Scenario::All => Scenario::EACH.to_vec(),
        one => vec![one],
    };
    for scenario in scenarios {
        println!("\n== {} ==", scenario.name());
        let report = match scenario {
            Scenario::Steps => steps::scenario(&bench).await,
            Scenario::Enqueue => enqueue::scenario(&bench).await,
            Scenario::Idle => idle::scenario(&bench).await,
            Scenario::Backlog => backlog::scenario(&bench).await,
            Scenario::ApalisRedis => apalis::scenario(&bench).await,
            Scenario::Cluster => cluster::scenario(&bench).await,
            Scenario::All => unreachable!("expanded above"),
        }
        .with_context(|| format!("scenario {}", scenario.name()))?;
        report.print();
    }
    Ok(())
}
