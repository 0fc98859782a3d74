//! Intent commits that survive a failover: after the commit, Redis `WAIT` until a
//! replica has it (`redis.wait_replicas`), so that a money step's provider call is
//! sent only once its intent would outlive the master. Replication is asynchronous
//! otherwise: a failover to a replica that missed the intent would let another
//! worker find no intent and order again.
//!
//! `WAIT` blocks the connection it is sent on, so these commits use a connection of
//! their own; only intent commits (a few per job) go over it.

use super::conn::{self, RedisConn};
use super::{Commit, CommitOutcome, Store, StoreError};
use crate::config::{RedisConfig, WaitReplicas};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How often `auto` looks again at how many replicas the master has.
const RECHECK: Duration = Duration::from_secs(30);

/// What the replicas said about a commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// No replica was asked to confirm (none configured, or none connected).
    NotAsked,
    /// At least as many replicas as wanted have the commit.
    Confirmed { acked: u32 },
    /// Fewer replicas than wanted confirmed before `redis.wait_timeout`.
    Short { wanted: u32, acked: u32 },
}

pub(super) struct Durable {
    conn: RedisConn,
    mode: WaitReplicas,
    timeout: Duration,
    /// `auto`: the replicas the master had when last looked at, and when.
    seen: AtomicU32,
    seen_at: Mutex<Option<Instant>>,
}

impl Durable {
    /// A connection of its own, unless `redis.wait_replicas = 0`.
    pub(super) async fn connect(cfg: &RedisConfig) -> Result<Option<Durable>, StoreError> {
        if cfg.wait_replicas == WaitReplicas::Count(0) {
            return Ok(None);
        }
        let (conn, _) = conn::connect(cfg).await?;
        Ok(Some(Durable {
            conn,
            mode: cfg.wait_replicas,
            timeout: cfg.wait_timeout,
            seen: AtomicU32::new(0),
            seen_at: Mutex::new(None),
        }))
    }

    /// How many replicas a commit must reach now.
    async fn wanted(&self) -> Result<u32, StoreError> {
        match self.mode {
            WaitReplicas::Count(n) => Ok(n),
            WaitReplicas::Auto => {
                let stale = self
                    .seen_at
                    .lock()
                    .map(|at| at.is_none_or(|t| t.elapsed() >= RECHECK))
                    .unwrap_or(true);
                if stale {
                    let n = conn::replica_count(&mut self.conn.clone()).await?;
                    self.seen.store(n, Ordering::Relaxed);
                    if let Ok(mut at) = self.seen_at.lock() {
                        *at = Some(Instant::now());
                    }
                }
                Ok(self.seen.load(Ordering::Relaxed).min(1))
            }
        }
    }
}

impl Store {
    /// `commit`, then waits until `redis.wait_replicas` replicas have it (`WAIT`).
    /// Without replicas to wait for it is a plain commit.
    pub async fn commit_replicated(
        &self,
        commit: Commit<'_>,
    ) -> Result<(CommitOutcome, Replication), StoreError> {
        let Some(durable) = &self.durable else {
            return Ok((self.commit(commit).await?, Replication::NotAsked));
        };
        let wanted = durable.wanted().await?;
        if wanted == 0 {
            return Ok((self.commit(commit).await?, Replication::NotAsked));
        }
        let outcome = self
            .run_commit_on(&durable.conn, commit, commit.state.as_str())
            .await?;
        if outcome == CommitOutcome::Lost {
            return Ok((outcome, Replication::NotAsked));
        }
        let acked: i64 = redis::cmd("WAIT")
            .arg(wanted)
            .arg(durable.timeout.as_millis().max(1) as u64)
            .query_async(&mut durable.conn.clone())
            .await?;
        let acked = acked.max(0) as u32;
        let replication = if acked >= wanted {
            Replication::Confirmed { acked }
        } else {
            Replication::Short { wanted, acked }
        };
        Ok((outcome, replication))
    }
}
