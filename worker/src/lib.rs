//! Provisioner's worker: advances jobs one step at a time.
//!
//! - [`step`]: the step contract, the ground floor the engine and the providers meet
//!   on (`Outcome`, `StepCx`, the `Provider` trait); it imports no other module.
//! - [`engine`]: `Engine::drive` runs a leased job's steps; [`engine::transition`] holds
//!   the pure rules (outcomes → state and schedule); [`engine::Lease`] commits with a
//!   compare-and-set on the job's version.
//! - [`runtime`]: apalis `Monitor` + `WorkerBuilder` over the sharded due-set
//!   ([`runtime::source`] is the claim loop).
//! - [`providers`]: one module per provider behind the `Provider` trait, with typed
//!   steps.
//! - [`callbacks`]: delivery of jobs' outbound callbacks (the outbox records the
//!   engine's terminal commits create).
//! - [`dry_run`]: answers the api's dry runs with the providers' read-only checks.
//! - [`drift`]: the periodic sweep comparing each account's servers at its provider
//!   with the jobs (one worker per interval, by a lease), reported, never acted on.
//! - [`audit`]: the trail of a job's provider calls, fed by the one sender.
//! - [`metrics`]: step and callback counters, flushed to Redis for the api's
//!   `/metrics` every few seconds and once more at shutdown, and this worker's own
//!   recorder (step durations, provider calls, lease takeovers).
//! - [`listen`]: this worker's `/metrics` and `/healthz` on `worker.listen`.
//! - `fuzzing` (hidden): the entry points of the fuzz targets in `fuzz/`.
//!
//! The worker never talks to the api: both meet in Redis through `provisioner-shared`.

pub mod audit;
pub mod callbacks;
pub mod drift;
pub mod dry_run;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod listen;
pub mod metrics;
pub mod providers;
pub mod runtime;
pub mod step;

use crate::metrics::WorkerMetrics;
use engine::{Engine, Settings};
use provisioner_shared::config::{Config, RuntimeFlavor};
use provisioner_shared::store::{Store, StoreError};
use runtime::DueHints;
use runtime::source::SourceConfig;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot connect to Redis: {0}")]
    Store(#[from] StoreError),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the worker stopped with an error: {0}")]
    Monitor(String),
    #[error("cannot listen on worker.listen {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
}

/// A running worker (in this process), for tests and the demo.
pub struct WorkerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), WorkerError>>,
    listening: Option<std::net::SocketAddr>,
}

impl WorkerHandle {
    /// Where this worker serves `/metrics` and `/healthz` (`worker.listen`, with the
    /// port it got when the config said 0).
    pub fn listening(&self) -> Option<std::net::SocketAddr> {
        self.listening
    }

    /// Graceful: stop claiming, let in-flight steps finish and commit, then return.
    pub async fn shutdown(mut self) -> Result<(), WorkerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(WorkerError::Monitor(e.to_string())),
        }
    }

    /// Abrupt, like a killed process: in-flight steps are dropped mid-call and their
    /// jobs stay leased until the lease runs out.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// What an in-process worker may be given besides its config (tests, the demo).
#[derive(Clone, Default)]
pub struct StartOptions {
    /// Resolves the hosts of job callbacks instead of the system resolver, so a test
    /// can make a public-looking name resolve to loopback without a network. The
    /// address check (`callbacks.allow_private`) applies to what it answers.
    pub callback_lookup: Option<Arc<dyn callbacks::NameLookup>>,
}

/// Starts a worker on the current tokio runtime; it runs until `shutdown` or `abort`.
pub async fn start(config: Config) -> Result<WorkerHandle, WorkerError> {
    start_with(config, StartOptions::default()).await
}

/// [`start`] with [`StartOptions`].
pub async fn start_with(
    config: Config,
    options: StartOptions,
) -> Result<WorkerHandle, WorkerError> {
    let (tx, rx) = oneshot::channel::<()>();
    let prepared = prepare(&config, options).await?;
    let listening = prepared.listening();
    let task = tokio::spawn(async move {
        prepared
            .run(async move {
                let _ = rx.await;
            })
            .await
    });
    Ok(WorkerHandle {
        stop: Some(tx),
        task,
        listening,
    })
}

/// Runs a worker until SIGTERM or Ctrl-C, then shuts down gracefully.
pub async fn run(config: Config) -> Result<(), WorkerError> {
    let prepared = prepare(&config, StartOptions::default()).await?;
    prepared.run(shutdown_signal()).await
}

/// Builds the tokio runtime the config asks for (`worker.runtime`).
pub fn build_runtime(config: &Config) -> std::io::Result<tokio::runtime::Runtime> {
    match config.worker.runtime {
        RuntimeFlavor::CurrentThread => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        RuntimeFlavor::MultiThread => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = config.worker.worker_threads {
                b.worker_threads(n.max(1));
            }
            b.enable_all().build()
        }
    }
}

struct Prepared {
    engine: Arc<Engine>,
    outbox: Arc<callbacks::Callbacks>,
    metrics: Arc<WorkerMetrics>,
    source: SourceConfig,
    listener: Option<listen::Listener>,
    /// The clients dry runs use (their own, beside the engine's).
    dry_runs: Arc<providers::Providers>,
    name: String,
    grace: Duration,
    drift: Option<drift::Sweeper>,
}

async fn prepare(config: &Config, options: StartOptions) -> Result<Prepared, WorkerError> {
    let store = Store::connect(&config.redis, config.worker.shards).await?;
    let hints = Arc::new(DueHints::new(config.worker.shards));
    let providers = providers::Providers::from_config(config, &store, config.worker.step_timeout)?;
    let dry_runs = Arc::new(providers::Providers::from_config(
        config,
        &store,
        config.worker.step_timeout,
    )?);
    let metrics = Arc::new(WorkerMetrics::default());
    let mut engine = Engine::new(
        store.clone(),
        providers,
        config.sealer(),
        Settings::from_config(config),
    )
    .with_metrics(metrics.clone())
    .with_audit(config.audit.clone());
    if let Some(public_url) = &config.api.public_url {
        engine = engine.with_provider_callbacks(public_url.as_str(), config.callback_tokens());
    }
    let engine = Arc::new(engine);
    let outbox = callbacks::Callbacks::from_config(
        config,
        store.clone(),
        metrics.clone(),
        options.callback_lookup,
    )?;
    let source = SourceConfig {
        store,
        hints,
        concurrency: config.worker.concurrency,
        max_claim: config.worker.max_claim,
        lease: config.worker.lease,
        max_idle: config.worker.max_idle,
        prefetch: config.worker.prefetch.unwrap_or(config.worker.concurrency),
        buffered: Default::default(),
        metrics: metrics.clone(),
    };
    let listener = match config.worker.listen {
        Some(addr) => Some(
            listen::Listener::bind(addr, source.store.clone(), metrics.clone())
                .await
                .map_err(|source| WorkerError::Listen { addr, source })?,
        ),
        None => None,
    };
    let name = format!("worker-{}", std::process::id());
    let drift = drift::Sweeper::from_config(
        config,
        source.store.clone(),
        providers::Providers::from_config(config, &source.store, config.worker.step_timeout)?,
        format!(
            "{name}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        ),
    );
    Ok(Prepared {
        drift,
        engine,
        outbox,
        metrics,
        source,
        listener,
        dry_runs,
        name,
        grace: config.worker.shutdown_grace,
    })
}

impl Prepared {
    fn listening(&self) -> Option<std::net::SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    async fn run(self, stop: impl Future<Output = ()> + Send + 'static) -> Result<(), WorkerError> {
        tracing::info!(
            concurrency = self.source.concurrency,
            shards = self.source.hints.len(),
            "worker started"
        );
        let store = self.source.store.clone();
        let source = self.source.clone();
        let monitor =
            runtime::monitor(self.name, self.engine, self.outbox, self.source, self.grace);
        // The flusher runs beside the monitor in this same task (an aborted worker
        // takes it along) and flushes once more after the last step has committed.
        let (monitor_done, flusher_stop) = oneshot::channel::<()>();
        // The listener answers until the last step has committed, then stops too.
        let (listener_done, listener_stop) = oneshot::channel::<()>();
        let (dry_done, dry_stop) = oneshot::channel::<()>();
        let dry_runs = dry_run::serve(store.clone(), self.dry_runs, async move {
            let _ = dry_stop.await;
        });
        let listen = async move {
            if let Some(listener) = self.listener {
                if let Ok(addr) = listener.local_addr() {
                    tracing::info!(%addr, "serving /metrics and /healthz");
                }
                listener
                    .serve(async move {
                        let _ = listener_stop.await;
                    })
                    .await;
            }
        };
        let run = async move {
            let result = monitor
                .run_with_signal(async move {
                    stop.await;
                    Ok(())
                })
                .await;
            source.release_buffered().await;
            let _ = monitor_done.send(());
            let _ = listener_done.send(());
            let _ = dry_done.send(());
            result
        };
        let flush = self
            .metrics
            .flush_until(&store, metrics::FLUSH_EVERY, async move {
                let _ = flusher_stop.await;
            });
        // The drift sweep stops with the monitor, like the listener.
        let (monitor_stopped, drift_stop) = oneshot::channel::<()>();
        let run = async move {
            let result = run.await;
            let _ = monitor_stopped.send(());
            result
        };
        let sweep = async move {
            if let Some(sweeper) = self.drift {
                sweeper
                    .run_until(async move {
                        let _ = drift_stop.await;
                    })
                    .await;
            }
        };
        let (result, (), (), (), ()) = tokio::join!(run, flush, listen, dry_runs, sweep);
        tracing::info!("worker stopped");
        result.map_err(|e| WorkerError::Monitor(e.to_string()))
    }
}

/// SIGTERM (what orchestrators send) or Ctrl-C: the one signal every binary stops on.
pub use provisioner_shared::bootstrap::shutdown_signal;
