//! A job's audit trail of provider calls (issue 13): a list beside the job hash
//! (`{ns:S}:calls:<id>`), appended by the worker after a step's commit with
//! `append_calls.lua` (the last `[audit] calls_per_job` kept, the job's TTL
//! copied), read whole by the api.

use super::{Store, StoreError};
use crate::calls::ProviderCall;
use redis::Script;
use std::sync::LazyLock;

static APPEND_CALLS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("lua/append_calls.lua")));

impl Store {
    /// Appends `calls` (oldest first) to `job_id`'s trail, keeping the last `cap`,
    /// and gives the trail the job's TTL (with no calls, only that: after the commit
    /// that ended the job, so that the trail expires with it). False when the job's
    /// record is gone (nothing is written then).
    pub async fn append_calls(
        &self,
        job_id: &str,
        calls: &[ProviderCall],
        cap: usize,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let mut invocation = APPEND_CALLS.prepare_invoke();
        invocation
            .key(self.keys.job(job_id))
            .key(self.keys.calls(job_id))
            .arg(cap.max(1));
        for call in calls {
            invocation.arg(serde_json::to_string(call).expect("a provider call serialises"));
        }
        let len: i64 = invocation.invoke_async(&mut c).await?;
        Ok(len >= 0)
    }

    /// `job_id`'s trail, oldest first (empty for a job that made no call yet).
    /// An entry that does not decode is skipped: the trail is a view, not a record.
    pub async fn calls(&self, job_id: &str) -> Result<Vec<ProviderCall>, StoreError> {
        let mut c = self.conn.clone();
        let raw: Vec<String> = redis::cmd("LRANGE")
            .arg(self.keys.calls(job_id))
            .arg(0)
            .arg(-1)
            .query_async(&mut c)
            .await?;
        Ok(raw
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect())
    }
}
