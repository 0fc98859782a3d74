//! A worker's hold on one job: its version (the lease token) and its clock.
//!
//! Every write goes through `commit`, a compare-and-set on the version: a worker
//! whose lease ran out (and whose job another worker claimed) can never write again.

use backon::{ExponentialBuilder, Retryable};
use provisioner_shared::job::{JobState, RunState, Signals};
use provisioner_shared::store::{Commit, CommitOutcome, Schedule, Store, StoreError};
use provisioner_shared::time::Millis;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease lost: another worker holds the job now")]
    Lost,
    #[error("cannot reach Redis to save the job: {0}")]
    Store(#[from] StoreError),
}

pub struct Lease {
    store: Store,
    id: String,
    version: u64,
    /// Redis time at the last reply, and when it came.
    clock: (Millis, Instant),
    /// When the job's lease runs out (its score in the due-set).
    lease_until: Millis,
    pub lease: Duration,
}

impl Lease {
    pub fn new(store: Store, id: String, version: u64, now: Millis, lease: Duration) -> Self {
        Lease {
            store,
            id,
            version,
            clock: (now, Instant::now()),
            lease_until: now.plus(lease),
            lease,
        }
    }

    /// Redis time now, from the last reply plus the local monotonic clock.
    pub fn now(&self) -> Millis {
        self.clock.0.plus(self.clock.1.elapsed())
    }

    /// Saves the run state if we still hold the job. Transient Redis errors are
    /// retried briefly (well inside the lease); past that the lease will recover the
    /// job, so the caller stops.
    pub async fn commit(
        &mut self,
        run: &RunState,
        schedule: Schedule,
    ) -> Result<Signals, LeaseError> {
        self.commit_with_callback(run, schedule, None).await
    }

    /// `commit`, creating the job's outbound callback record (payload `callback`) in
    /// the same script: for a terminal or `needs_attention` commit (the outbox).
    pub async fn commit_with_callback(
        &mut self,
        run: &RunState,
        schedule: Schedule,
        callback: Option<&str>,
    ) -> Result<Signals, LeaseError> {
        let run_json = serde_json::to_string(run).expect("run state serialises");
        self.commit_json(
            &run_json,
            run.state,
            run.pokes_seen,
            run.cancel_seen,
            schedule,
            callback,
        )
        .await
    }

    pub async fn commit_json(
        &mut self,
        run_json: &str,
        state: JobState,
        pokes_seen: u64,
        cancel_seen: bool,
        schedule: Schedule,
        callback: Option<&str>,
    ) -> Result<Signals, LeaseError> {
        // Short, local retries of a Redis hiccup (backon), well inside the lease; past
        // that the lease will recover the job, so the caller stops.
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(2))
            .with_total_delay(Some(self.lease / 3))
            .without_max_times();
        // A chain of steps renews its lease only once half of it is gone: the other
        // commits skip the re-score and the clock read (see commit.lua `hold`).
        let schedule = match schedule {
            Schedule::Keep { lease } if self.lease_until.since(self.now()) > lease / 2 => {
                Schedule::Hold
            }
            other => other,
        };
        let id = self.id.as_str();
        let store = &self.store;
        let version = self.version;
        let attempt = || async {
            store
                .commit(Commit {
                    id,
                    version,
                    run_json,
                    state,
                    schedule,
                    pokes_seen,
                    cancel_seen,
                    callback,
                })
                .await
        };
        let outcome = attempt
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(StoreError::is_transient)
            .notify(|e, pause| tracing::warn!(job_id = %id, error = %e, ?pause, "commit failed; retrying"))
            .await?;
        match outcome {
            CommitOutcome::Committed {
                version,
                now,
                signals,
            } => {
                self.version = version;
                if let Some(now) = now {
                    self.clock = (now, Instant::now());
                    if let Schedule::Keep { lease } = schedule {
                        self.lease_until = now.plus(lease);
                    }
                }
                Ok(signals)
            }
            CommitOutcome::Lost => Err(LeaseError::Lost),
        }
    }
}
