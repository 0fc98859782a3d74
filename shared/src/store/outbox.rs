//! The outbox: a job's outbound callback is a record of its own in the job's shard.
//!
//! `commit.lua` creates it (member `cb:<job id>:<n>`, due now) in the same script as
//! the job's terminal or `needs_attention` commit, so a job never ends without its
//! callback and never gets two for one commit. From there it is claimed like a job
//! (`claim.lua` leases it and returns its `req` = payload and `run` = delivery
//! state), and its deliverer commits it with the same compare-and-set: retried
//! later, or finished. Every attempt is appended to the job's own callback log
//! (`cbl`), which never touches the job's version; reads of the job's credentials
//! go to a log of their own (`crl`) the same way.

use super::{Commit, CommitOutcome, Schedule, Store, StoreError};
use crate::job::{CallbackAttempt, CredentialRead, JobState};

/// Attempts kept in a job's callback log (the oldest go first).
pub const CALLBACK_LOG_CAP: usize = 50;
/// Reads kept in a job's credential read log (the oldest go first).
pub const CREDENTIAL_READ_CAP: usize = 100;

impl Store {
    /// Saves a claimed callback record's delivery state if `version` is still the
    /// one its deliverer holds, and re-schedules it (`After`) or ends it (`Finish`).
    pub async fn commit_callback(
        &self,
        id: &str,
        version: u64,
        fence: &str,
        run_json: &str,
        schedule: Schedule,
    ) -> Result<CommitOutcome, StoreError> {
        let commit = Commit {
            id,
            version,
            fence,
            run_json,
            // Not a job state: `st` of a callback record is "callback".
            state: JobState::Running,
            schedule,
            pokes_seen: 0,
            cancel_seen: false,
            callback: None,
        };
        self.run_commit(commit, "callback").await
    }

    /// Appends one delivery attempt to `job_id`'s callback log. False when the job's
    /// record is gone (its retention ran out before its callback was delivered).
    pub async fn log_callback_attempt(
        &self,
        job_id: &str,
        attempt: &CallbackAttempt,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(attempt).expect("a callback attempt serialises");
        self.append_log(job_id, "cbl", &json, CALLBACK_LOG_CAP)
            .await
    }

    /// Records one read of `job_id`'s credentials (`crl`). False when the job's
    /// record is gone; a caller must then not hand the credentials out.
    pub async fn log_credential_read(
        &self,
        job_id: &str,
        read: &CredentialRead,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(read).expect("a credential read serialises");
        self.append_log(job_id, "crl", &json, CREDENTIAL_READ_CAP)
            .await
    }

    /// `append_log.lua`: one entry onto a log field of the job hash, never `v`.
    async fn append_log(
        &self,
        job_id: &str,
        field: &str,
        entry: &str,
        cap: usize,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let len: i64 = self
            .scripts
            .append_log
            .key(self.keys.job(job_id))
            .arg(field)
            .arg(entry)
            .arg(cap)
            .invoke_async(&mut c)
            .await?;
        Ok(len > 0)
    }
}
