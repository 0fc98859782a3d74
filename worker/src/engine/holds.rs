//! What a live job holds, it keeps: a provision takes the lock of the server it has
//! just obtained, and a job that ends lets its locks and idempotency key expire.

use super::Engine;
use provisioner_shared::JobKind;
use provisioner_shared::job::Job;
use provisioner_shared::store::Taken;
use std::time::Duration;

/// How long a lock holder's record may still be in the making before it counts as
/// dead (the api writes the lock just before the record).
const LOCK_GRACE: Duration = Duration::from_secs(1);

impl Engine {
    /// A provision holds the server it has just obtained until it ends, so no
    /// reinstall or deprovision of it can start meanwhile (taken before the commit
    /// that records the server; a crash in between retakes it at the next step).
    pub(super) async fn hold_server(&self, job: &mut Job) {
        let outputs = &job.run.outputs;
        let (Some(server), false) = (&outputs.server_id, outputs.server_held) else {
            return;
        };
        if job.spec.request.kind() != JobKind::Provision {
            return;
        }
        let key = self
            .store
            .keys()
            .server_lock(&job.spec.request.account, server);
        match self.store.take_lock(&key, job.id(), LOCK_GRACE).await {
            Ok(Taken::Held) => job.run.outputs.server_held = true,
            Ok(Taken::Busy { holder, state }) => {
                // Cannot happen through the api (the server is new); say so loudly
                // and go on: the provision's own work must not stop for it.
                tracing::error!(server = %server, holder = %holder, %state, "another live job holds the server this provision just obtained");
                job.run.outputs.server_held = true;
            }
            Ok(Taken::Contended) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the server lock yet; trying again at the next step")
            }
        }
    }

    /// The job has ended: its locks and idempotency key expire from now on.
    pub(super) async fn release_holds(&self, job: &Job) {
        let retention = self.settings.retention;
        let lock_ttl = (!retention.is_zero()).then_some(retention);
        self.store
            .release_holds(job, lock_ttl, self.settings.idempotency_ttl)
            .await;
    }
}
