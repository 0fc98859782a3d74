//! A worker's hold on one job: its version (the lease token) and its clock.
//!
//! Every write goes through `commit`, a compare-and-set on the version: a worker
//! whose lease ran out (and whose job another worker claimed) can never write again.

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
    pub lease: Duration,
}

impl Lease {
    pub fn new(store: Store, id: String, version: u64, now: Millis, lease: Duration) -> Self {
        Lease {
            store,
            id,
            version,
            clock: (now, Instant::now()),
            lease,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
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
        let run_json = serde_json::to_string(run).expect("run state serialises");
        self.commit_json(
            &run_json,
            run.state,
            run.pokes_seen,
            run.cancel_seen,
            schedule,
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
    ) -> Result<Signals, LeaseError> {
        let budget = Instant::now() + self.lease / 3;
        let mut pause = Duration::from_millis(50);
        loop {
            let attempt = self
                .store
                .commit(Commit {
                    id: &self.id,
                    version: self.version,
                    run_json,
                    state,
                    schedule,
                    pokes_seen,
                    cancel_seen,
                })
                .await;
            match attempt {
                Ok(CommitOutcome::Committed {
                    version,
                    now,
                    signals,
                }) => {
                    self.version = version;
                    self.clock = (now, Instant::now());
                    return Ok(signals);
                }
                Ok(CommitOutcome::Lost) => return Err(LeaseError::Lost),
                Err(e) if e.is_transient() && Instant::now() + pause < budget => {
                    tracing::warn!(job_id = %self.id, error = %e, "commit failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
