//! One operation per server: a reinstall or deprovision holds its server's lock
//! (a reservation naming its job id) from before its enqueue. The same lock on a
//! billing service gives it one live provision (`service.created` webhooks): see
//! [`Subject`].
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
//! The lock has no expiry while its job lives (`needs_attention` included, however
//! long); when the job ends, the worker gives it `retention.finished` (the records
//! of finished jobs expire then too), so locks of long-gone servers do not pile up.
//! The protocol itself is the store's one reservation (`Store::reserve`).

use super::CREATOR_GRACE;
use crate::AppState;
use crate::error::ApiError;
use provisioner_shared::job::JobState;
use provisioner_shared::store::{self, Claim, Standing};

/// What a lock is on: a server (one operation per server) or a billing service
/// (one live provision per service).
pub(crate) use provisioner_shared::store::Subject;

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
pub(crate) struct ServerLock(store::Reservation);

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
        let claim = Claim::new(job_id, None);
        match state
            .store
            .reserve(subject, claim, None, CREATOR_GRACE)
            .await?
        {
            store::Reserved::Held(r) => Ok(Taken::Held(ServerLock(r))),
            store::Reserved::Taken { holder, state } => Ok(Taken::Busy { holder, state }),
            store::Reserved::Mismatch
            | store::Reserved::Settled(_)
            | store::Reserved::Contended => {
                let (what, field) = match subject {
                    Subject::Server { account, server_id } => (
                        format!("server {server_id} of account {account}"),
                        "server_id",
                    ),
                    Subject::Service { service_id } => {
                        (format!("service {service_id}"), "service_id")
                    }
                    Subject::Idempotency { .. } | Subject::Webhook { .. } => {
                        unreachable!("a lock is on a server or a service")
                    }
                };
                Err(ApiError::conflict(
                    "server_busy",
                    format!("{what} is being claimed by another request; try again"),
                )
                .with_field(field))
            }
        }
    }

    /// The Redis key of the lock (kept in the job's holds).
    pub(crate) fn key(&self) -> &str {
        self.0.key()
    }

    /// Right before the enqueue: the lock still names our job (no one took it over
    /// while this request was slow).
    pub(crate) async fn confirm(&self, state: &AppState) -> Result<(), ApiError> {
        match state.store.standing(&self.0).await? {
            Standing::Ours => Ok(()),
            Standing::Other(holder) => Err(ApiError::conflict(
                "server_busy",
                format!("the server was claimed meanwhile by job {holder}; try again"),
            )
            .with_field("server_id")),
            Standing::Gone => Err(ApiError::conflict(
                "server_busy",
                "the server lock was lost while this request was being handled; try again",
            )
            .with_field("server_id")),
        }
    }

    /// Gives the lock back after a creation that wrote no job.
    pub(crate) async fn release(&self, state: &AppState) {
        if let Err(e) = state.store.release(&self.0).await {
            tracing::warn!(error = %e, job_id = %self.0.holder(), "could not release a server lock");
        }
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
