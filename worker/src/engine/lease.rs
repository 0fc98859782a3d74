//! A worker's hold on one job: its version (the lease token) and its clock.
//!
//! Every write goes through `commit`, a compare-and-set on the version: a worker
//! whose lease ran out (and whose job another worker claimed) can never write again.

use backon::{ExponentialBuilder, Retryable};
use provisioner_shared::job::{JobState, RunState, Signals};
use provisioner_shared::store::{Commit, CommitOutcome, Replication, Schedule, Store, StoreError};
use provisioner_shared::time::Millis;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("lease lost: another worker holds the job now")]
    Lost,
    /// The renewal went through, but its answer came so late (a paused process, a
    /// stalled connection) that too little of the new lease is left for a step.
    #[error("the lease renewal answered too late: {remaining:?} left, too little for a step")]
    Late { remaining: Duration },
    #[error("cannot reach Redis to save the job: {0}")]
    Store(#[from] StoreError),
}

pub struct Lease {
    store: Store,
    id: String,
    version: u64,
    /// The claim's fence: commits compare it with the version (see claim.lua).
    fence: String,
    /// Redis time at the last reply, and when its request was sent: Redis ran it no
    /// earlier, so the lease counted from there never outlasts the real one, however
    /// long the answer took to be read.
    clock: (Millis, Instant),
    /// When the job's lease runs out (its score in the due-set).
    lease_until: Millis,
    pub lease: Duration,
    /// What must be left of the lease when a step starts: the step timeout and a
    /// margin for the commit after it.
    reserve: Duration,
}

impl Lease {
    /// The lease a claim gave: `now` is the claim's Redis time and `sent` the moment
    /// the claim was sent (an upper bound of when the lease began), so the time a job
    /// spends on its way back and in the prefetch buffer counts against its lease.
    pub fn new(
        store: Store,
        id: String,
        version: u64,
        fence: String,
        (now, sent): (Millis, Instant),
        lease: Duration,
        reserve: Duration,
    ) -> Self {
        Lease {
            store,
            id,
            version,
            fence,
            clock: (now, sent),
            lease_until: now.plus(lease),
            lease,
            reserve,
        }
    }

    /// Redis time now, from the last reply plus the local monotonic clock.
    pub fn now(&self) -> Millis {
        self.clock.0.plus(self.clock.1.elapsed())
    }

    /// How much of the lease is left (zero once it ran out: another worker may have
    /// claimed the job since).
    pub fn remaining(&self) -> Duration {
        self.lease_until.since(self.now())
    }

    /// Makes sure a whole step still fits in the lease before it starts: a shorter
    /// lease is renewed with a full commit of `run` (unchanged). Fails with `Lost`
    /// when another worker claimed the job meanwhile, so the step never runs beside
    /// theirs, and with `Late` when the renewal's answer came too late to count.
    pub async fn ensure(&mut self, run: &RunState) -> Result<Option<Signals>, LeaseError> {
        if self.remaining() >= self.reserve {
            return Ok(None);
        }
        tracing::debug!(remaining = ?self.remaining(), reserve = ?self.reserve, "renewing a short lease before the step");
        self.renew(run).await.map(Some)
    }

    /// Commits `run` and renews the lease to a full one, whatever is left of it.
    /// Fails with `Late` when the answer came too late to leave room for a step: the
    /// job is let go, never worked on past its lease.
    pub async fn renew(&mut self, run: &RunState) -> Result<Signals, LeaseError> {
        let run_json = serde_json::to_string(run).expect("run state serialises");
        let (signals, _) = self
            .send(
                &run_json,
                run.state,
                run.pokes_seen,
                run.cancel_seen,
                Schedule::Keep { lease: self.lease },
                None,
                false,
            )
            .await?;
        self.room_for_a_step()?;
        Ok(signals)
    }

    /// After a renewal: a whole step still fits in what is left of the lease.
    fn room_for_a_step(&self) -> Result<(), LeaseError> {
        let remaining = self.remaining();
        if remaining < self.reserve {
            return Err(LeaseError::Late { remaining });
        }
        Ok(())
    }

    /// `renew` for a money step's intent: a whole lease for the call, and the commit
    /// confirmed by the replicas `redis.wait_replicas` asks for before the call goes.
    /// `Late` as for `renew`: a worker that was paused while its intent commit was
    /// answered must not send the call after another worker may have taken over.
    pub async fn renew_replicated(
        &mut self,
        run: &RunState,
    ) -> Result<(Signals, Replication), LeaseError> {
        let run_json = serde_json::to_string(run).expect("run state serialises");
        let renewed = self
            .send(
                &run_json,
                run.state,
                run.pokes_seen,
                run.cancel_seen,
                Schedule::Keep { lease: self.lease },
                None,
                true,
            )
            .await?;
        self.room_for_a_step()?;
        Ok(renewed)
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
        // A chain of steps renews its lease only once half of it is gone, or sooner
        // when the next step would not fit: the other commits skip the re-score and
        // the clock read (see commit.lua `hold`).
        let schedule = match schedule {
            Schedule::Keep { lease } if self.remaining() > (lease / 2).max(self.reserve) => {
                Schedule::Hold
            }
            other => other,
        };
        self.send(
            run_json,
            state,
            pokes_seen,
            cancel_seen,
            schedule,
            callback,
            false,
        )
        .await
        .map(|(signals, _)| signals)
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        run_json: &str,
        state: JobState,
        pokes_seen: u64,
        cancel_seen: bool,
        schedule: Schedule,
        callback: Option<&str>,
        replicated: bool,
    ) -> Result<(Signals, Replication), LeaseError> {
        // Short, local retries of a Redis hiccup (backon), well inside the lease; past
        // that the lease will recover the job, so the caller stops.
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_secs(2))
            .with_total_delay(Some(self.lease / 3))
            .without_max_times();
        let id = self.id.as_str();
        let fence = self.fence.as_str();
        let store = &self.store;
        let version = self.version;
        let attempt = || async {
            let sent = Instant::now();
            let commit = Commit {
                id,
                version,
                fence,
                run_json,
                state,
                schedule,
                pokes_seen,
                cancel_seen,
                callback,
            };
            let (outcome, replication) = if replicated {
                store.commit_replicated(commit).await?
            } else {
                (store.commit(commit).await?, Replication::NotAsked)
            };
            Ok((outcome, replication, sent))
        };
        let (outcome, replication, sent) = attempt
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
                    self.clock = (now, sent);
                    if let Schedule::Keep { lease } = schedule {
                        self.lease_until = now.plus(lease);
                    }
                }
                Ok((signals, replication))
            }
            CommitOutcome::Lost => Err(LeaseError::Lost),
        }
    }
}
