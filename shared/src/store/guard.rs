//! The spend guardrail's record: per account, the set of its open provisions (job
//! ids, `guard.lua`). A job takes its place at enqueue (the api) and holds it until
//! it ends (the worker lets it go after the terminal commit); the worker takes it
//! again before the order step, which re-checks the cap and re-takes the place of a
//! job retried after it ended. A set, so a second take or release changes nothing.

use super::{Store, StoreError};
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;

static GUARD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/guard.lua")));

/// What a take found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardTake {
    /// The job holds a place (newly, or from before) within the cap.
    pub taken: bool,
    /// Open provisions of the account, after the take.
    pub open: u64,
}

impl Store {
    /// Takes (or keeps) `job_id`'s place among `account`'s open provisions, unless
    /// `cap` are open without it (or, counting it, more than `cap`).
    pub async fn guard_take(
        &self,
        account: &str,
        job_id: &str,
        cap: u32,
    ) -> Result<GuardTake, StoreError> {
        let mut c = self.conn.clone();
        let (taken, open): (i64, u64) = GUARD
            .key(self.keys.guard_open_orders(account))
            .arg("take")
            .arg(job_id)
            .arg(cap)
            .invoke_async(&mut c)
            .await?;
        Ok(GuardTake {
            taken: taken == 1,
            open,
        })
    }

    /// Lets `job_id`'s place go (a job that ended, or was never written).
    pub async fn guard_release(&self, account: &str, job_id: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: (i64, u64) = GUARD
            .key(self.keys.guard_open_orders(account))
            .arg("release")
            .arg(job_id)
            .arg(0)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// The jobs holding a place of `account` (to find places a crashed worker
    /// never let go of).
    pub async fn guard_holders(&self, account: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.smembers(self.keys.guard_open_orders(account)).await?)
    }

    /// How many provisions of `account` are open.
    pub async fn guard_open(&self, account: &str) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.scard(self.keys.guard_open_orders(account)).await?)
    }
}
