//! Dry runs' request and reply through Redis: the api pushes a request onto one list
//! and polls for its answer; a worker pops requests and writes each answer under its
//! id for a minute. Polling (not `BLPOP`) keeps the shared multiplexed connection free.

use super::{Store, StoreError};
use redis::AsyncCommands;

/// How long an answer nobody collected stays.
const ANSWER_TTL_SECS: u64 = 60;

impl Store {
    /// Queues a dry run (`payload`: a `DryRunAsk` as JSON).
    pub async fn ask_dry_run(&self, payload: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = c.lpush(self.keys.dry_run_queue(), payload).await?;
        Ok(())
    }

    /// Takes back a dry run no worker picked up (the api gave up waiting).
    pub async fn withdraw_dry_run(&self, payload: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let removed: i64 = c.lrem(self.keys.dry_run_queue(), 1, payload).await?;
        Ok(removed > 0)
    }

    /// The oldest queued dry run, if any (a worker's side).
    pub async fn take_dry_run(&self) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.rpop(self.keys.dry_run_queue(), None).await?)
    }

    /// A worker's answer to dry run `id`.
    pub async fn answer_dry_run(&self, id: &str, answer: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: () = c
            .set_ex(self.keys.dry_run_answer(id), answer, ANSWER_TTL_SECS)
            .await?;
        Ok(())
    }

    /// The answer to dry run `id` if a worker wrote it (taken: read once).
    pub async fn collect_dry_run(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GETDEL")
            .arg(self.keys.dry_run_answer(id))
            .query_async(&mut c)
            .await?)
    }
}
