//! One operation per server: a reinstall or deprovision holds
//! `keys.server_lock(account, server_id)` (value: its job id) from before its enqueue.
//! The same lock, on `keys.service_lock(service_id)`, gives a billing service one live
//! provision (`service.created` webhooks): see [`Subject`].
//!
//! What this guarantees:
//! - **A live holder is never displaced.** The lock is taken with SET NX; a holder
//!   whose job is live (any state but succeeded, failed, cancelled — `needs_attention`
//!   included) makes the request a 409 naming that job.
//! - **A finished or vanished holder is replaced atomically.** Takeover is a
//!   compare-and-set from the holder we looked at, so of two requests racing for a
//!   free server exactly one wins; the other sees the winner and gets the 409.
//! - **A holder still being created is not mistaken for a dead one.** A holder with no
//!   record yet gets [`CREATOR_GRACE`] to appear before it counts as dead, and a
//!   creator checks the lock still names its job right before it enqueues. Two jobs on
//!   one server need a creator stalled longer than that grace between that check and
//!   its enqueue, one Redis round trip apart.
//! - A request that wrote no job gives the lock back only if the lock still names it.
//!
//! The lock expires with `retention.finished` (the records of finished jobs do too),
//! so locks of long-gone servers do not pile up; a job parked in `needs_attention`
//! for longer than that loses its lock.

use super::{CREATOR_GRACE, poll_for};
use crate::AppState;
use crate::error::ApiError;
use provisioner_shared::job::JobState;
use std::time::Duration;

/// Lost compare-and-sets before a request gives up and asks the client to retry.
const ROUNDS: usize = 4;

/// What a lock is on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Subject<'a> {
    /// One operation per server (reinstall, deprovision).
    Server {
        account: &'a str,
        server_id: &'a str,
    },
    /// One live provision per billing service.
    Service { service_id: &'a str },
}

impl Subject<'_> {
    fn key(&self, state: &AppState) -> String {
        match self {
            Subject::Server { account, server_id } => {
                state.store.keys().server_lock(account, server_id)
            }
            Subject::Service { service_id } => state.store.keys().service_lock(service_id),
        }
    }
}

/// The outcome of [`ServerLock::take`].
pub(crate) enum Taken {
    Held(ServerLock),
    /// A live job holds it.
    Busy {
        holder: String,
        state: JobState,
    },
}

/// A lock on one server (or service), held by this request's job.
pub(crate) struct ServerLock {
    key: String,
    job_id: String,
}

impl ServerLock {
    /// Takes the lock on a server for `job_id`; a live holder is a 409 naming it.
    pub(crate) async fn acquire(
        state: &AppState,
        account: &str,
        server_id: &str,
        job_id: &str,
    ) -> Result<ServerLock, ApiError> {
        match Self::take(state, Subject::Server { account, server_id }, job_id).await? {
            Taken::Held(lock) => Ok(lock),
            Taken::Busy { holder, state } => Err(busy(server_id, account, &holder, state)),
        }
    }

    /// Takes the lock on `subject` for `job_id`, or says which live job holds it.
    pub(crate) async fn take(
        state: &AppState,
        subject: Subject<'_>,
        job_id: &str,
    ) -> Result<Taken, ApiError> {
        let store = &state.store;
        let ttl = lock_ttl(state.config.retention.finished);
        let lock = ServerLock {
            key: subject.key(state),
            job_id: job_id.to_owned(),
        };
        for _ in 0..ROUNDS {
            let Some(holder) = store.put_if_absent(&lock.key, job_id, ttl).await? else {
                return Ok(Taken::Held(lock));
            };
            // Our own job: an idempotent replay taking over a dead creator's request.
            if holder == job_id {
                return Ok(Taken::Held(lock));
            }
            let holder_state = poll_for(CREATOR_GRACE, || async {
                Ok(store.state_of(&holder).await?)
            })
            .await?;
            if let Some(st) = holder_state.filter(|s| s.is_live()) {
                return Ok(Taken::Busy { holder, state: st });
            }
            if store
                .compare_and_set(&lock.key, &holder, job_id, Some(ttl))
                .await?
            {
                tracing::info!(job_id, previous = %holder, "took over a lock from a finished job");
                return Ok(Taken::Held(lock));
            }
        }
        let (what, field) = match subject {
            Subject::Server { account, server_id } => (
                format!("server {server_id} of account {account}"),
                "server_id",
            ),
            Subject::Service { service_id } => (format!("service {service_id}"), "service_id"),
        };
        Err(ApiError::conflict(
            "server_busy",
            format!("{what} is being claimed by another request; try again"),
        )
        .with_field(field))
    }

    /// Right before the enqueue: the lock still names our job (no one took it over
    /// while this request was slow).
    pub(crate) async fn confirm(&self, state: &AppState) -> Result<(), ApiError> {
        match state.store.get_string(&self.key).await? {
            Some(holder) if holder == self.job_id => Ok(()),
            Some(holder) => Err(ApiError::conflict(
                "server_busy",
                format!("the server was claimed meanwhile by job {holder}; try again"),
            )
            .with_field("server_id")),
            None => Err(ApiError::conflict(
                "server_busy",
                "the server lock was lost while this request was being handled; try again",
            )
            .with_field("server_id")),
        }
    }

    /// Gives the lock back after a creation that wrote no job.
    pub(crate) async fn release(&self, state: &AppState) {
        if let Err(e) = state
            .store
            .compare_and_delete(&self.key, &self.job_id)
            .await
        {
            tracing::warn!(error = %e, job_id = %self.job_id, "could not release a server lock");
        }
    }
}

/// Finished records kept forever (`retention.finished = 0`) keep their locks as long
/// as Redis can express.
fn lock_ttl(retention: Duration) -> Duration {
    if retention.is_zero() {
        Duration::from_secs(100 * 365 * 24 * 3600)
    } else {
        retention
    }
}

fn busy(server_id: &str, account: &str, holder: &str, st: JobState) -> ApiError {
    ApiError::conflict(
        "server_busy",
        format!(
            "server {server_id} of account {account} is busy with job {holder} ({st}); \
             wait for it to finish, or cancel it"
        ),
    )
    .with_field("server_id")
}
