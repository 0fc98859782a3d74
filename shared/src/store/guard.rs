//! The spend guardrail's record: per account, the set of its open provisions (job
//! ids, `guard.lua`). A job takes its place at enqueue (the api) and holds it until
//! it ends (the worker lets it go after the terminal commit); the worker takes it
//! again before the order step, which re-checks the cap and re-takes the place of a
//! job retried after it ended. A set, so a second take or release changes nothing.

use super::{Store, StoreError};
use crate::time::Millis;
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;

static GUARD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/guard.lua")));
static SPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/guard_spend.lua")));

/// A day's amounts are kept two days (the day, and a margin for clocks).
const SPENT_TTL_MS: u64 = 2 * 86_400_000;

/// The UTC day (days since 1970) of `now`.
pub fn utc_day(now: Millis) -> u64 {
    now.0 / 86_400_000
}

/// What a take found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardTake {
    /// The job holds a place (newly, or from before) within the cap.
    pub taken: bool,
    /// Open provisions of the account after a take; cents spent today for a spend.
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

    /// Counts `cents` ordered by `job_id` on `account`'s day of `now`, unless it
    /// would pass `cap_cents` (a job counted before is not counted again).
    pub async fn guard_spend(
        &self,
        account: &str,
        job_id: &str,
        now: Millis,
        cents: u64,
        cap_cents: u64,
    ) -> Result<GuardTake, StoreError> {
        self.spend_script(account, "spend", job_id, now, cents, cap_cents)
            .await
    }

    /// What `account` has ordered on the UTC day of `now`, in cents.
    pub async fn guard_spent(&self, account: &str, now: Millis) -> Result<u64, StoreError> {
        Ok(self
            .spend_script(account, "peek", "", now, 0, 0)
            .await?
            .open)
    }

    async fn spend_script(
        &self,
        account: &str,
        op: &str,
        job_id: &str,
        now: Millis,
        cents: u64,
        cap_cents: u64,
    ) -> Result<GuardTake, StoreError> {
        let mut c = self.conn.clone();
        let (taken, spent): (i64, u64) = SPEND
            .key(self.keys.guard_spent(account, utc_day(now)))
            .arg(op)
            .arg(job_id)
            .arg(cents)
            .arg(cap_cents)
            .arg(SPENT_TTL_MS)
            .invoke_async(&mut c)
            .await?;
        Ok(GuardTake {
            taken: taken == 1,
            open: spent,
        })
    }
}
