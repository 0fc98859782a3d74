//! The task source apalis pulls from: our sharded due-set.
//!
//! The claim loop is an endless stream that only ever yields `Ok(Some(task))` or
//! stays pending (apalis 1.0 ends a worker on `Ok(None)` and kills its in-flight
//! handlers on `Err`: `../shared/research/apalis-custom-backend.md`). Redis errors are
//! retried inside with a backoff. It claims as many jobs as there are free slots plus
//! `worker.prefetch` more (one claim then serves many slots: measured 1.2–1.5× the
//! steps per second), keeps them in a buffer that the worker hands back to the
//! schedule at shutdown, and when nothing is due it sleeps until the earliest due
//! time it knows, a wake-up on the pub/sub channel, or `max_idle`.

use super::DueHints;
use crate::metrics::WorkerMetrics;
use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use apalis_core::task::builder::TaskBuilder;
use apalis_core::task::task_id::TaskId;
use apalis_core::worker::context::WorkerContext;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use provisioner_shared::job::RunState;
use provisioner_shared::store::{ClaimedJob, Commit, Schedule, Store};
use provisioner_shared::time::Millis;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A leased job, as handed to the handler.
#[derive(Debug, Clone)]
pub struct Claim {
    pub job: ClaimedJob,
    /// Redis time of the claim, and when it was sent: the lease counts from here.
    pub at: (Millis, Instant),
}

#[derive(Clone)]
pub struct SourceConfig {
    pub store: Store,
    pub hints: Arc<DueHints>,
    pub concurrency: usize,
    pub max_claim: usize,
    pub lease: Duration,
    pub max_idle: Duration,
    /// Jobs claimed beyond the free slots.
    pub prefetch: usize,
    /// Claimed jobs not yet handed to a handler; shared so that shutdown can release
    /// them (apalis drops the stream, and these would otherwise wait out their lease).
    pub buffered: Arc<Mutex<VecDeque<Task<Claim>>>>,
    /// Where the claims' lease takeovers are counted.
    pub metrics: Arc<WorkerMetrics>,
}

impl SourceConfig {
    /// Hands claimed-but-unstarted jobs back to the schedule, due now.
    pub async fn release_buffered(&self) {
        let jobs: Vec<Task<Claim>> = self
            .buffered
            .lock()
            .map(|mut b| b.drain(..).collect())
            .unwrap_or_default();
        for task in jobs {
            let job = &task.args.job;
            let Ok(run) = serde_json::from_str::<RunState>(&job.run_json) else {
                continue;
            };
            let released = self
                .store
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
                .await;
            if let Err(e) = released {
                tracing::warn!(job_id = %job.id, error = %e, "cannot release a buffered job; its lease will");
            }
        }
    }
}

const FAR: Millis = Millis(u64::MAX);

struct ClaimLoop {
    cfg: SourceConfig,
    worker: WorkerContext,
    wake: Option<BoxStream<'static, u16>>,
    wake_retry_at: Instant,
    next_shard: u16,
    failures: u32,
    last_refresh: Instant,
}

pub type ClaimStream = BoxStream<'static, Result<Option<Task<Claim>>, BoxDynError>>;

/// The fetcher apalis's `BackendBuilder` calls once per worker (re)start.
pub fn claim_stream(cfg: &SourceConfig, worker: &WorkerContext) -> ClaimStream {
    let state = ClaimLoop {
        cfg: cfg.clone(),
        worker: worker.clone(),
        wake: None,
        wake_retry_at: Instant::now(),
        next_shard: 0,
        failures: 0,
        last_refresh: Instant::now(),
    };
    futures::stream::unfold(state, |mut s| async move {
        let task = s.next_task().await;
        Some((Ok(Some(task)), s))
    })
    .boxed()
}

impl ClaimLoop {
    async fn next_task(&mut self) -> Task<Claim> {
        loop {
            if let Some(task) = self.pop() {
                return task;
            }
            self.drain_wakes();
            match self.claim_due().await {
                Ok(()) if self.buffered() > 0 => continue,
                Ok(()) => self.idle().await,
                Err(e) => {
                    self.failures += 1;
                    let pause = Duration::from_millis(100 * (1u64 << self.failures.min(5)))
                        .min(Duration::from_secs(2));
                    if self.failures == 1 || self.failures.is_multiple_of(20) {
                        tracing::error!(error = %e, failures = self.failures, "cannot claim jobs; backing off");
                    }
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }

    /// Claims from every shard that may have something due, fairly (rotating start).
    async fn claim_due(&mut self) -> Result<(), provisioner_shared::store::StoreError> {
        let shards = self.cfg.hints.len();
        let now = self.cfg.store.clock();
        let free = self
            .cfg
            .concurrency
            .saturating_sub(self.worker.task_count())
            .max(1)
            + self.cfg.prefetch;
        let start = self.next_shard;
        self.next_shard = (self.next_shard + 1) % shards;
        for i in 0..shards {
            let shard = (start + i) % shards;
            let buffered = self.buffered();
            if buffered >= free {
                break;
            }
            if self.cfg.hints.get(shard) > now {
                continue;
            }
            let want = (free - buffered).min(self.cfg.max_claim);
            // The lease counts from before the claim was sent: a worker paused while
            // the reply was on its way must not think it has a whole lease.
            let sent = Instant::now();
            let batch = self.cfg.store.claim(shard, want, self.cfg.lease).await?;
            if self.failures > 0 {
                tracing::info!("claiming works again");
                self.failures = 0;
            }
            // When the batch was cut by its limit, the shard still has due work.
            let next = batch.next_due.unwrap_or(FAR);
            self.cfg.hints.set(shard, next);
            if batch.takeovers > 0 {
                tracing::info!(
                    shard,
                    takeovers = batch.takeovers,
                    "claimed jobs whose holder's lease had run out"
                );
                self.cfg.metrics.takeovers(batch.takeovers);
            }
            for job in batch.jobs {
                let id = job.id.clone();
                self.push(
                    TaskBuilder::new(Claim {
                        job,
                        at: (batch.now, sent),
                    })
                    .task_id(TaskId::from_string(id))
                    .build(),
                );
            }
        }
        Ok(())
    }

    fn pop(&self) -> Option<Task<Claim>> {
        self.cfg.buffered.lock().ok()?.pop_front()
    }

    fn push(&self, task: Task<Claim>) {
        if let Ok(mut b) = self.cfg.buffered.lock() {
            b.push_back(task);
        }
    }

    fn buffered(&self) -> usize {
        self.cfg.buffered.lock().map(|b| b.len()).unwrap_or(0)
    }

    /// Marks shards named by pending wake-ups as due, without waiting.
    fn drain_wakes(&mut self) {
        let Some(wake) = self.wake.as_mut() else {
            return;
        };
        loop {
            match wake.next().now_or_never() {
                Some(Some(shard)) if shard < self.cfg.hints.len() => {
                    self.cfg.hints.set(shard, Millis(0))
                }
                Some(Some(_)) => {}
                Some(None) => {
                    self.wake = None;
                    return;
                }
                None => return,
            }
        }
    }

    /// Nothing claimable: sleep until the earliest known due time, a wake-up, or
    /// `max_idle` (after which the due times are read again from Redis).
    async fn idle(&mut self) {
        if self.wake.is_none() && Instant::now() >= self.wake_retry_at {
            match self.cfg.store.wake_stream().await {
                Ok(s) => self.wake = Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot subscribe to wake-ups; polling every max_idle");
                    self.wake_retry_at = Instant::now() + Duration::from_secs(5);
                }
            }
        }
        let now = self.cfg.store.clock();
        let earliest = (0..self.cfg.hints.len())
            .map(|s| self.cfg.hints.get(s))
            .min()
            .unwrap_or(FAR);
        let until_due = if earliest <= now {
            // A hint says due but the claim found nothing (clock skew): don't spin.
            Duration::from_millis(5)
        } else {
            Duration::from_millis(earliest.0.saturating_sub(now.0))
        };
        let refresh_due = self.last_refresh.elapsed() >= self.cfg.max_idle;
        let wait = until_due.min(self.cfg.max_idle);
        let woke = match self.wake.as_mut() {
            Some(wake) => {
                tokio::select! {
                    msg = wake.next() => {
                        match msg {
                            Some(shard) if shard < self.cfg.hints.len() => self.cfg.hints.set(shard, Millis(0)),
                            Some(_) => {}
                            None => self.wake = None,
                        }
                        true
                    }
                    _ = self.cfg.hints.moved_earlier() => true,
                    _ = tokio::time::sleep(wait) => false,
                }
            }
            None => {
                tokio::select! {
                    _ = self.cfg.hints.moved_earlier() => true,
                    _ = tokio::time::sleep(wait) => false,
                }
            }
        };
        if !woke && (refresh_due || wait == self.cfg.max_idle) {
            self.refresh().await;
        }
    }

    /// Reads every shard's earliest due time (other workers schedule jobs too).
    async fn refresh(&mut self) {
        let shards: Vec<u16> = (0..self.cfg.hints.len()).collect();
        match self.cfg.store.earliest(&shards).await {
            Ok(times) => {
                for (shard, at) in shards.into_iter().zip(times) {
                    self.cfg.hints.set(shard, at.unwrap_or(FAR));
                }
                self.last_refresh = Instant::now();
            }
            Err(e) => tracing::debug!(error = %e, "cannot read due times"),
        }
    }
}
