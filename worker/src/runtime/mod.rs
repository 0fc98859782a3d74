//! The worker runtime: apalis's `WorkerBuilder` and `Monitor` over our due-set.
//!
//! apalis gives concurrency, a timeout around each handler, panic catching and a
//! graceful shutdown (in-flight steps finish, then the process exits); the task
//! source is our own claim loop ([`source`]). Handlers drive jobs through the engine,
//! or deliver a job's outbound callback when the claimed id is a callback record
//! (`cb:…`, the outbox in the same due-sets).

mod hints;
pub mod source;

pub use hints::DueHints;

use crate::callbacks::{self, Callbacks};
use crate::engine::{DriveEnd, Engine};
use apalis::layers::WorkerBuilderExt;
use apalis_core::backend::custom::{BackendBuilder, CustomBackend};
use apalis_core::error::BoxDynError;
use apalis_core::monitor::Monitor;
use apalis_core::task::Task;
use apalis_core::task::data::Data;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_core::worker::context::WorkerContext;
use futures::SinkExt;
use source::{Claim, ClaimStream, SourceConfig};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

type NoSink =
    futures::sink::SinkMapErr<futures::sink::Drain<Task<Claim>>, fn(Infallible) -> BoxDynError>;
type EngineBackend = CustomBackend<Claim, SourceConfig, ClaimStream, NoSink, ()>;

fn absurd(never: Infallible) -> BoxDynError {
    match never {}
}

fn backend(cfg: SourceConfig) -> EngineBackend {
    BackendBuilder::new()
        .database(cfg)
        .fetcher(|cfg: &mut SourceConfig, _: &(), worker: &WorkerContext| {
            source::claim_stream(cfg, worker)
        })
        .sink(|_: &mut SourceConfig, _: &()| {
            futures::sink::drain().sink_map_err(absurd as fn(Infallible) -> BoxDynError)
        })
        .build()
        .expect("database, fetcher and sink are all set")
}

async fn handle(
    claim: Claim,
    engine: Data<Arc<Engine>>,
    outbox: Data<Arc<Callbacks>>,
    hints: Data<Arc<DueHints>>,
    worker: WorkerContext,
) -> Result<(), BoxDynError> {
    if callbacks::is_callback(&claim.job.id) {
        outbox.deliver(claim.job).await;
        return Ok(());
    }
    let shard = engine.store().keys().shard_of(&claim.job.id);
    let stopping = || worker.is_shutting_down();
    let end = engine.drive(claim.job, claim.at, &stopping).await;
    if let Some(due) = end.due() {
        // What the drive committed is due then: this worker's claim loop wakes for it.
        hints.lower(shard, due);
    }
    match end {
        DriveEnd::Abandoned => {
            Err("job abandoned; its lease will hand it to another worker".into())
        }
        _ => Ok(()),
    }
}

/// Builds the monitor with one engine worker. `name` tells processes apart in logs.
pub fn monitor(
    name: String,
    engine: Arc<Engine>,
    outbox: Arc<Callbacks>,
    source: SourceConfig,
    shutdown_grace: Duration,
) -> Monitor {
    let concurrency = source.concurrency;
    // The handler may chain several steps, each under its own step timeout, and every
    // commit retries a Redis hiccup for up to a third of the lease: a drive is bounded
    // by about 1.5 leases on its own. This outer timeout is only a backstop against a
    // bug; it must not cut a drive short before the drive can see that its lease is
    // gone (a worker paused past its lease must log its refused commit).
    let backstop = engine.settings().lease * 2;
    Monitor::new()
        .register(move |run| {
            WorkerBuilder::new(format!("{name}-{run}"))
                .backend(backend(source.clone()))
                .concurrency(concurrency)
                .catch_panic()
                .timeout(backstop)
                .data(engine.clone())
                .data(outbox.clone())
                .data(source.hints.clone())
                .build(handle)
        })
        .should_restart(|ctx, err| {
            tracing::error!(worker = ctx.name(), error = %err, "worker stopped; restarting it");
            true
        })
        .shutdown_timeout(shutdown_grace)
}
