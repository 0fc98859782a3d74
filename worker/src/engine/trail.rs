//! The audit trail of a step's provider calls (issue 13): a [`Recorder`] lent to the
//! attempt, whose calls are saved after the step's commit, masked with every secret
//! the job holds.

use super::Engine;
use crate::audit::Recorder;
use crate::step::KnownSecrets;
use provisioner_shared::job::Job;
use secrecy::SecretString;

impl Engine {
    /// A recorder for the attempt the job's current step is about to make; `clock`
    /// is Redis time and the instant it stands for, read once per claim.
    pub(super) fn recorder(
        &self,
        job: &Job,
        clock: (provisioner_shared::time::Millis, std::time::Instant),
    ) -> Recorder {
        let (step, attempt) = job
            .run
            .current()
            .map(|s| (s.name.as_str(), s.attempts + 1))
            .unwrap_or(("-", 1));
        Recorder::new(
            &job.spec.request.account,
            step,
            attempt,
            clock,
            self.audit.calls_per_job,
        )
    }

    /// Appends the calls `recorder` saw to the job's trail. With none, the store is
    /// only asked when `sync` (the commit ended the job, or it is the first of a
    /// claim: an operator's retry may have revived a finished job), so that the
    /// trail's expiry follows the job's. A trail that cannot be written is logged,
    /// never a reason to give the job up: the step's result is already committed.
    pub(super) async fn save_calls(&self, job: &Job, recorder: &Recorder, sync: bool) {
        let calls = recorder.take(&self.audit_secrets(job), self.audit.body_bytes);
        if calls.is_empty() && !sync {
            return;
        }
        if let Err(e) = self
            .store
            .append_calls(&job.spec.id, &calls, self.audit.calls_per_job)
            .await
        {
            tracing::warn!(job_id = %job.spec.id, error = %e, calls = calls.len(), "cannot save the step's provider calls");
        }
    }

    /// Everything of the job a trail must not repeat: its root password, script and
    /// the passwords the provider returned, and its ssh keys (whole, and each part
    /// but the key type).
    fn audit_secrets(&self, job: &Job) -> KnownSecrets {
        let id = &job.spec.id;
        let request = &job.spec.request;
        let mut known = KnownSecrets::new();
        let sealed = request
            .root_password
            .iter()
            .chain(request.post_install_script.iter())
            .chain(job.run.outputs.secrets.values());
        for secret in sealed {
            if let Ok(open) = self.sealer.open(secret, id) {
                known.add(&open);
            }
        }
        for key in &request.ssh_keys {
            known.add(&SecretString::from(key.trim().to_owned()));
            for part in key.split_whitespace().skip(1) {
                known.add(&SecretString::from(part.to_owned()));
            }
        }
        known
    }
}
