//! What a live job holds: its server (one operation per server), its billing
//! service (one live provision per service) and its `Idempotency-Key`. These keys
//! have no expiry while the job lives, however long it waits (a payment may take
//! days, a parked job weeks); when the job ends, the worker gives each the expiry it
//! has from then on (`retention.finished` for locks, `api.idempotency_ttl` for the
//! key). A key another job has taken over since is never touched.
//!
//! Taking a lock: `SET NX`; a holder that is finished (or whose record never
//! appeared within a grace period: its creator died) is replaced by
//! compare-and-set, so of two racing takers exactly one wins; a live holder —
//! `needs_attention` included — is never displaced.

use super::{Store, StoreError};
use crate::job::{Job, JobState};
use crate::request::JobKind;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Lost compare-and-sets before a taker gives up (the caller asks its client to retry).
const ROUNDS: usize = 4;
/// How often a taker looks again for a holder's record that is being written.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// The keys a job took when it was created (the server lock of a provision is
/// taken later, by the worker, when the order names the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holds {
    /// The `Idempotency-Key` reservation that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<String>,
    /// Server and service locks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
}

impl Holds {
    pub fn is_empty(&self) -> bool {
        self.idempotency.is_none() && self.locks.is_empty()
    }
}

/// One key a job holds, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    Lock(String),
    Idempotency(String),
}

/// The outcome of [`Store::take_lock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Held,
    /// A live job holds it.
    Busy {
        holder: String,
        state: JobState,
    },
    /// Others kept changing it: try again.
    Contended,
}

impl Store {
    /// Every key `job` holds while it lives.
    pub fn held_by(&self, job: &Job) -> Vec<Held> {
        let spec = &job.spec;
        let mut held: Vec<Held> = spec.holds.locks.iter().cloned().map(Held::Lock).collect();
        if let Some(key) = &spec.holds.idempotency {
            held.push(Held::Idempotency(key.clone()));
        }
        let req = &spec.request;
        if req.kind == JobKind::Provision
            && let Some(server) = &job.run.outputs.server_id
        {
            let lock = self.keys().server_lock(&req.account, server);
            if !spec.holds.locks.contains(&lock) {
                held.push(Held::Lock(lock));
            }
        }
        held
    }

    /// Takes lock `key` for `job_id`, with no expiry while the job lives.
    pub async fn take_lock(
        &self,
        key: &str,
        job_id: &str,
        creator_grace: Duration,
    ) -> Result<Taken, StoreError> {
        for _ in 0..ROUNDS {
            let Some(holder) = self.put_if_absent(key, job_id, None).await? else {
                return Ok(Taken::Held);
            };
            if holder == job_id {
                // Ours already (a replay, or a worker taking what the api took).
                self.keep(key, job_id, None).await?;
                return Ok(Taken::Held);
            }
            let deadline = tokio::time::Instant::now() + creator_grace;
            let holder_state = loop {
                if let Some(st) = self.state_of(&holder).await? {
                    break Some(st);
                }
                if tokio::time::Instant::now() >= deadline {
                    break None;
                }
                tokio::time::sleep(POLL_EVERY).await;
            };
            if let Some(state) = holder_state.filter(|s| s.is_live()) {
                return Ok(Taken::Busy { holder, state });
            }
            if self.compare_and_set(key, &holder, job_id, None).await? {
                tracing::info!(job_id, previous = %holder, "took over a lock from a finished job");
                return Ok(Taken::Held);
            }
        }
        Ok(Taken::Contended)
    }

    /// Gives `key` the expiry `ttl` (none: keeps it forever) if it still names
    /// `job_id`; false when it does not (gone, or another job's now).
    pub async fn keep(
        &self,
        key: &str,
        job_id: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let kept: i64 = self
            .scripts
            .held
            .key(key)
            .arg(job_id)
            .arg(ttl.map_or(0, |t| t.as_millis().max(1) as u64))
            .invoke_async(&mut c)
            .await?;
        Ok(kept == 1)
    }

    /// A job has ended: each key it holds expires from now on (`lock_ttl` for locks,
    /// `idempotency_ttl` for its key; `None` = never). Best effort: a key left
    /// without expiry names a finished job, which the next taker replaces.
    pub async fn release_holds(
        &self,
        job: &Job,
        lock_ttl: Option<Duration>,
        idempotency_ttl: Duration,
    ) {
        for held in self.held_by(job) {
            let (key, ttl) = match &held {
                Held::Lock(k) => (k, lock_ttl),
                Held::Idempotency(k) => (k, Some(idempotency_ttl)),
            };
            if let Err(e) = self.keep(key, job.id(), ttl).await {
                tracing::warn!(job_id = job.id(), key = %key, error = %e, "cannot give a finished job's key its expiry");
            }
        }
    }
}
