//! The Redis store: the job record, the sharded due-set and the scripts that move
//! jobs between them. Nothing outside this module builds a key or runs a command on
//! the engine's keys (STYLE.md, "Redis in one room").
//!
//! Protocol, in short (ARCHITECTURE.md has the whole story):
//! - `enqueue` writes the record and makes it due now, in one script.
//! - `claim` leases due jobs of one shard (re-score to now + lease, bump the version).
//! - `commit` writes a new run state only if the version is still the one the caller
//!   holds, and re-schedules or removes the job, in one script.
//! - `signal` records a cancel or a poke; a job nobody holds is made due at once.
//! - A terminal or `needs_attention` commit of a job with a callback URL also creates
//!   the job's callback record (the outbox, `outbox.rs`): scheduled, claimed and
//!   committed like a job, in the job's shard.
//! - Locks and idempotency keys a live job holds never expire while it lives;
//!   the worker gives them their expiry when it ends; every such key (locks,
//!   idempotency keys, webhook ids) is taken by one protocol (`reservation.rs`).
//! - `/metrics` reads each shard's due-set in one script, and the workers' step and
//!   callback counters from one hash they add deltas to (`stats.rs`).
//! - Logs that writers other than the job's holder append to (callback attempts,
//!   credential reads) are fields of their own (`cbl`, `crl`), appended by
//!   `append_log.lua`, which never touches `v`.
//! - A job's audit trail of provider calls is a list beside it (`calls.rs`), appended
//!   after a step's commit and expiring with the job.

mod calls;
mod conn;
mod drift;
mod dry_run;
mod durable;
mod guard;
mod keys;
mod orders;
mod outbox;
mod reservation;
mod stats;

pub use conn::RedisConn;
pub use durable::Replication;
pub use guard::GuardTake;
pub use keys::{CALLBACK_PREFIX, Keys, callback_owner};
pub use outbox::{CALLBACK_LOG_CAP, CREDENTIAL_READ_CAP};
pub use reservation::{
    Claim, Held, Holds, Record, Reservation, Reserved, Standing, Subject, Taken,
};
pub use stats::{JobCount, ShardFigures, WorkerStat};

use crate::config::RedisConfig;
use crate::job::{CallbackAttempt, CredentialRead, Job, JobSpec, JobState, RunState, Signals};
use crate::time::Millis;
use futures::StreamExt;
use redis::{AsyncCommands, Script, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("job record {id} is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
    #[error(
        "this Redis namespace was set up with {stored} shards but the config says {configured}; \
         set worker.shards = {stored} (changing the shard count needs a migration)"
    )]
    ShardMismatch { stored: u16, configured: u16 },
}

impl StoreError {
    /// A connection-level problem worth a backoff and another try.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || e.is_cluster_error()
            }
            _ => false,
        }
    }
}

struct Scripts {
    enqueue: Script,
    claim: Script,
    commit: Script,
    hold: Script,
    signal: Script,
    cas: Script,
    cad: Script,
    rate: Script,
    append_log: Script,
    held: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            enqueue: Script::new(include_str!("lua/enqueue.lua")),
            claim: Script::new(include_str!("lua/claim.lua")),
            commit: Script::new(include_str!("lua/commit.lua")),
            hold: Script::new(include_str!("lua/hold.lua")),
            signal: Script::new(include_str!("lua/signal.lua")),
            cas: Script::new(include_str!("lua/cas.lua")),
            rate: Script::new(include_str!("lua/rate.lua")),
            cad: Script::new(include_str!("lua/cad.lua")),
            append_log: Script::new(include_str!("lua/append_log.lua")),
            held: Script::new(include_str!("lua/held.lua")),
        }
    }
}

/// A handle on the store; cheap to clone (one multiplexed connection underneath).
#[derive(Clone)]
pub struct Store {
    conn: RedisConn,
    /// Intent commits and the `WAIT` after them (`redis.wait_replicas`), on a
    /// connection of their own: a `WAIT` blocks the connection it is sent on.
    durable: Option<Arc<durable::Durable>>,
    pubsub_client: redis::Client,
    keys: Keys,
    scripts: Arc<Scripts>,
    /// Redis time minus local time, in ms, refreshed by every script reply.
    clock_offset: Arc<AtomicI64>,
}

/// A job leased by `claim`: the same raw record as `load` gives, without the
/// callback attempt log (a worker never shows it).
pub type ClaimedJob = RawJob;

#[derive(Debug, Clone)]
pub struct ClaimBatch {
    pub now: Millis,
    pub jobs: Vec<ClaimedJob>,
    /// The earliest score left in the shard (leases included), if any.
    pub next_due: Option<Millis>,
    /// How many of `jobs` were taken over: their previous holder's lease had run
    /// out without a commit that let them go.
    pub takeovers: u64,
}

/// How a commit re-schedules the job.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    /// The worker goes on with the job: due again only when the lease runs out.
    Keep { lease: Duration },
    /// The worker goes on with the job and its lease is still young: no re-score, no
    /// clock read (the cheap commit of a step chain).
    Hold,
    /// Due after this delay (0 = now); the job is released.
    After(Duration),
    /// Off the schedule until an operator acts (`needs_attention`).
    Park,
    /// Terminal: off the schedule, the record expires after `retention` (0 = never).
    Finish { retention: Duration },
}

#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    pub id: &'a str,
    pub version: u64,
    /// The fence of the claim the caller holds the job by ('' for a job never claimed).
    pub fence: &'a str,
    pub run_json: &'a str,
    pub state: JobState,
    pub schedule: Schedule,
    pub pokes_seen: u64,
    pub cancel_seen: bool,
    /// The payload of the job's outbound callback, created by this commit (the
    /// outbox); only with a terminal or `needs_attention` state.
    pub callback: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed {
        version: u64,
        /// Redis time, when the script read it (not for `Hold`).
        now: Option<Millis>,
        signals: Signals,
    },
    /// Someone else holds the job now (the lease ran out and it was claimed again).
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    Cancel,
    Poke,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalOutcome {
    NotFound,
    Finished(JobState),
    /// A poke on a `needs_attention` job: it has to be resolved instead.
    Parked,
    Recorded {
        held: bool,
    },
}

/// A job hash's `v`, `req`, `run`, `sc`, `sp`, `cbl`, `crl` and `f` fields, as HMGET
/// returns them.
type RecordFields = (
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<u64>,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A raw (not yet decoded) job record.
#[derive(Debug, Clone)]
pub struct RawJob {
    pub id: String,
    pub version: u64,
    /// The fence of the claim that leased it last ('' if never claimed).
    pub fence: String,
    pub spec_json: String,
    pub run_json: String,
    pub signals: Signals,
    /// The callback attempt log (`cbl`), when there is one.
    pub callbacks_json: Option<String>,
    /// The credential read log (`crl`), when there is one.
    pub credential_reads_json: Option<String>,
}

impl RawJob {
    pub fn decode(&self) -> Result<Job, StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt {
            id: self.id.clone(),
            reason: e.to_string(),
        };
        Ok(Job {
            spec: serde_json::from_str::<JobSpec>(&self.spec_json).map_err(corrupt)?,
            run: serde_json::from_str::<RunState>(&self.run_json).map_err(corrupt)?,
            version: self.version,
            fence: self.fence.clone(),
            signals: self.signals,
            callbacks: decode_log::<CallbackAttempt>(&self.id, "callback", &self.callbacks_json),
            credential_reads: decode_log::<CredentialRead>(
                &self.id,
                "credential read",
                &self.credential_reads_json,
            ),
        })
    }
}

/// A log field of the job hash; one that does not decode must not hide the job.
fn decode_log<T: serde::de::DeserializeOwned>(
    id: &str,
    what: &str,
    raw: &Option<String>,
) -> Vec<T> {
    raw.as_deref()
        .map(|c| {
            serde_json::from_str::<Vec<T>>(c).unwrap_or_else(|e| {
                tracing::warn!(job_id = id, log = what, error = %e, "ignoring a log that does not decode");
                Vec::new()
            })
        })
        .unwrap_or_default()
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Reads `commit.lua`'s and `hold.lua`'s reply: `{-1}` or `{v, now or -1, pokes, cancel}`.
fn commit_reply(store: &Store, reply: &[Value]) -> Result<CommitOutcome, StoreError> {
    let version = reply
        .first()
        .and_then(int)
        .ok_or_else(|| unexpected("commit"))?;
    if version < 0 {
        return Ok(CommitOutcome::Lost);
    }
    let now = reply
        .get(1)
        .and_then(int)
        .ok_or_else(|| unexpected("commit: now"))?;
    let now = (now >= 0).then(|| {
        store.note_time(now);
        Millis(now as u64)
    });
    Ok(CommitOutcome::Committed {
        version: version as u64,
        now,
        signals: Signals {
            pokes: reply.get(2).and_then(int).unwrap_or(0) as u64,
            cancel: reply.get(3).and_then(int).unwrap_or(0) != 0,
        },
    })
}

fn unexpected(what: &str) -> StoreError {
    StoreError::Redis(redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected script reply",
        what.to_owned(),
    )))
}

impl Store {
    /// Connects and checks that this namespace's shard count matches the config.
    pub async fn connect(cfg: &RedisConfig, shards: u16) -> Result<Store, StoreError> {
        let (conn, pubsub_client) = conn::connect(cfg).await?;
        let durable = durable::Durable::connect(cfg).await?.map(Arc::new);
        let store = Store {
            conn,
            durable,
            pubsub_client,
            keys: Keys::new(&cfg.namespace, shards),
            scripts: Arc::new(Scripts::new()),
            clock_offset: Arc::new(AtomicI64::new(0)),
        };
        store.check_layout().await?;
        store.time().await?;
        Ok(store)
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// A connection for modules that keep their own single keys (rate limits, tokens).
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }

    async fn check_layout(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let meta = self.keys.meta();
        let configured = self.keys.shards();
        let _: bool = c.hset_nx(&meta, "shards", configured).await?;
        let stored: u16 = c.hget(&meta, "shards").await?;
        if stored != configured {
            return Err(StoreError::ShardMismatch { stored, configured });
        }
        Ok(())
    }

    fn note_time(&self, now_ms: i64) {
        let local = Millis::now_local().0 as i64;
        self.clock_offset.store(now_ms - local, Ordering::Relaxed);
    }

    /// Redis time, asked now.
    pub async fn time(&self) -> Result<Millis, StoreError> {
        let mut c = self.conn.clone();
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut c).await?;
        let now = secs * 1000 + micros / 1000;
        self.note_time(now as i64);
        Ok(Millis(now))
    }

    /// Redis time as last seen, advanced by the local clock: for timestamps that only
    /// label things (created_at, started_at), never for leases.
    pub fn clock(&self) -> Millis {
        let local = Millis::now_local().0 as i64;
        Millis((local + self.clock_offset.load(Ordering::Relaxed)).max(0) as u64)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    /// Writes a new job and makes it due now. Returns false when the id exists.
    pub async fn enqueue(&self, spec: &JobSpec, run: &RunState) -> Result<bool, StoreError> {
        let id = &spec.id;
        let shard = self.keys.shard_of(id);
        let spec_json = serde_json::to_string(spec).expect("job spec serialises");
        let run_json = serde_json::to_string(run).expect("run state serialises");
        let mut c = self.conn.clone();
        let now: i64 = self
            .scripts
            .enqueue
            .key(self.keys.job(id))
            .key(self.keys.due(shard))
            .arg(id)
            .arg(spec_json)
            .arg(run_json)
            .arg(run.state.as_str())
            .arg(self.keys.wake_channel())
            .arg(shard)
            .key(self.keys.job_counts(shard))
            .arg(spec.request.provider().as_str())
            .invoke_async(&mut c)
            .await?;
        if now == 0 {
            return Ok(false);
        }
        self.note_time(now);
        self.index(spec).await?;
        Ok(true)
    }

    /// Adds a job to the listing indexes (all, by account, by reference: billing
    /// webhooks find a service's jobs there). They live in other slots than the job,
    /// so they are written after it; a Redis hiccup in between is retried for a few
    /// seconds (the adds are idempotent), and an idempotent replay of the request adds
    /// them again. Only a crash of the api between the two leaves a job unlisted.
    pub async fn index(&self, spec: &JobSpec) -> Result<(), StoreError> {
        use backon::{ExponentialBuilder, Retryable};
        let id = &spec.id;
        let req = &spec.request;
        let mut writes = vec![self.keys.index_all()];
        writes.push(self.keys.index_account(&req.account));
        if let Some(r) = &req.reference {
            writes.push(self.keys.index_reference(r));
        }
        let add = || async {
            let futs = writes.iter().map(|key| {
                let mut c = self.conn.clone();
                async move { c.zadd::<_, _, _, ()>(key, id, 0.0_f64).await }
            });
            for r in futures::future::join_all(futs).await {
                r?;
            }
            Ok::<(), StoreError>(())
        };
        add.retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(50))
                .with_max_delay(Duration::from_secs(1))
                .with_total_delay(Some(Duration::from_secs(5)))
                .without_max_times(),
        )
        .sleep(tokio::time::sleep)
        .when(StoreError::is_transient)
        .await
    }

    /// Leases up to `limit` due jobs of one shard.
    pub async fn claim(
        &self,
        shard: u16,
        limit: usize,
        lease: Duration,
    ) -> Result<ClaimBatch, StoreError> {
        let fence = ulid::Ulid::new().to_string();
        let mut c = self.conn.clone();
        let reply: Vec<Value> = self
            .scripts
            .claim
            .key(self.keys.due(shard))
            .arg(limit)
            .arg(lease.as_millis() as u64)
            .arg(self.keys.job_prefix(shard))
            .arg(&fence)
            .invoke_async(&mut c)
            .await?;
        let now = reply
            .first()
            .and_then(int)
            .ok_or_else(|| unexpected("claim: now"))?;
        self.note_time(now);
        let next_due = reply
            .get(1)
            .and_then(text)
            .and_then(|s| s.parse::<f64>().ok())
            .map(|f| Millis(f as u64));
        // After the jobs (six elements each) comes the takeover count.
        let body = reply.get(2..).unwrap_or_default();
        let takeovers = match body.len() % 6 {
            1 => body.last().and_then(int).unwrap_or(0).max(0) as u64,
            _ => 0,
        };
        let mut jobs = Vec::with_capacity(body.len() / 6);
        for chunk in body.chunks_exact(6) {
            let id = text(&chunk[0]).ok_or_else(|| unexpected("claim: id"))?;
            jobs.push(RawJob {
                callbacks_json: None,
                credential_reads_json: None,
                version: int(&chunk[1]).ok_or_else(|| unexpected("claim: version"))? as u64,
                fence: fence.clone(),
                spec_json: text(&chunk[2]).ok_or_else(|| unexpected("claim: spec"))?,
                run_json: text(&chunk[3]).ok_or_else(|| unexpected("claim: run"))?,
                signals: Signals {
                    cancel: int(&chunk[4]).unwrap_or(0) != 0,
                    pokes: int(&chunk[5]).unwrap_or(0) as u64,
                },
                id,
            });
        }
        Ok(ClaimBatch {
            now: Millis(now as u64),
            jobs,
            next_due,
            takeovers,
        })
    }

    /// Writes a job's run state if `version` is still current, and re-schedules it
    /// (with `callback`, also creates the job's callback record, due now).
    pub async fn commit(&self, commit: Commit<'_>) -> Result<CommitOutcome, StoreError> {
        self.run_commit(commit, commit.state.as_str()).await
    }

    /// `commit.lua` for a job (`st` = its state) or a callback record (`st` = "callback").
    async fn run_commit(&self, commit: Commit<'_>, st: &str) -> Result<CommitOutcome, StoreError> {
        self.run_commit_on(&self.conn, commit, st).await
    }

    /// `run_commit` over `conn` (the main connection, or the durable one).
    async fn run_commit_on(
        &self,
        conn: &RedisConn,
        commit: Commit<'_>,
        st: &str,
    ) -> Result<CommitOutcome, StoreError> {
        let shard = self.keys.shard_of(commit.id);
        let (mode, ms) = match commit.schedule {
            Schedule::Keep { lease } => ("keep", lease.as_millis() as u64),
            Schedule::Hold => ("hold", 0),
            Schedule::After(d) => ("at", d.as_millis() as u64),
            Schedule::Park => ("park", 0),
            Schedule::Finish { retention } => ("done", retention.as_millis() as u64),
        };
        let mut c = conn.clone();
        // A callback record's commit announces nothing: no event stream follows it.
        let changed = if st == "callback" {
            String::new()
        } else {
            self.keys.changed_channel()
        };
        if matches!(commit.schedule, Schedule::Hold) && commit.callback.is_none() {
            // The once-per-step hot path: its own lean script (see hold.lua).
            let reply: Vec<Value> = self
                .scripts
                .hold
                .key(self.keys.job(commit.id))
                .arg(commit.version)
                .arg(commit.version + 1)
                .arg(commit.run_json)
                .arg(st)
                .arg(commit.fence)
                .arg(&changed)
                .arg(commit.id)
                .key(self.keys.job_counts(shard))
                .invoke_async(&mut c)
                .await?;
            return commit_reply(self, &reply);
        }
        let mut invocation = self.scripts.commit.prepare_invoke();
        invocation
            .key(self.keys.job(commit.id))
            .key(self.keys.due(shard))
            .arg(commit.id)
            .arg(commit.version)
            .arg(commit.run_json)
            .arg(st)
            .arg(mode)
            .arg(ms)
            .arg(commit.pokes_seen)
            .arg(u8::from(commit.cancel_seen))
            .arg(self.keys.wake_channel())
            .arg(shard)
            .arg(commit.fence);
        if let Some(payload) = commit.callback {
            let member = self.keys.callback_member(commit.id, commit.version);
            invocation
                .key(self.keys.job(&member))
                .arg(member)
                .arg(payload);
        } else {
            invocation.arg("").arg("");
        }
        invocation.arg(&changed);
        // Always the last key, after the optional callback record (commit.lua).
        invocation.key(self.keys.job_counts(shard));
        let reply: Vec<Value> = invocation.invoke_async(&mut c).await?;
        commit_reply(self, &reply)
    }

    /// Records a signal; a job nobody holds is made due now.
    pub async fn signal(&self, id: &str, kind: SignalKind) -> Result<SignalOutcome, StoreError> {
        let shard = self.keys.shard_of(id);
        let mut c = self.conn.clone();
        let reply: Vec<Value> = self
            .scripts
            .signal
            .key(self.keys.job(id))
            .key(self.keys.due(shard))
            .arg(id)
            .arg(match kind {
                SignalKind::Cancel => "cancel",
                SignalKind::Poke => "poke",
            })
            .arg(self.keys.wake_channel())
            .arg(shard)
            .invoke_async(&mut c)
            .await?;
        let code = reply
            .first()
            .and_then(int)
            .ok_or_else(|| unexpected("signal"))?;
        let state = reply
            .get(1)
            .and_then(text)
            .and_then(|s| JobState::parse(&s));
        Ok(match code {
            0 => SignalOutcome::NotFound,
            -1 => SignalOutcome::Finished(state.unwrap_or(JobState::Failed)),
            -2 => SignalOutcome::Parked,
            _ => SignalOutcome::Recorded {
                held: reply.get(2).and_then(int).unwrap_or(0) == 1,
            },
        })
    }

    /// Reads one job's record.
    pub async fn load(&self, id: &str) -> Result<Option<RawJob>, StoreError> {
        let mut c = self.conn.clone();
        let f: RecordFields = redis::cmd("HMGET")
            .arg(self.keys.job(id))
            .arg(&["v", "req", "run", "sc", "sp", "cbl", "crl", "f"])
            .query_async(&mut c)
            .await?;
        match f {
            (Some(version), Some(spec_json), Some(run_json), sc, sp, cbl, crl, fence) => {
                Ok(Some(RawJob {
                    id: id.to_owned(),
                    version,
                    fence: fence.unwrap_or_default(),
                    spec_json,
                    run_json,
                    signals: Signals {
                        cancel: sc.unwrap_or(0) != 0,
                        pokes: sp.unwrap_or(0),
                    },
                    callbacks_json: cbl,
                    credential_reads_json: crl,
                }))
            }
            _ => Ok(None),
        }
    }

    /// Reads several jobs at once (missing ones are `None`).
    pub async fn load_many(&self, ids: &[String]) -> Result<Vec<Option<RawJob>>, StoreError> {
        let futs = ids.iter().map(|id| self.load(id));
        futures::future::join_all(futs).await.into_iter().collect()
    }

    /// The state of a job, cheaply (no record decode).
    pub async fn state_of(&self, id: &str) -> Result<Option<JobState>, StoreError> {
        let mut c = self.conn.clone();
        let st: Option<String> = c.hget(self.keys.job(id), "st").await?;
        Ok(st.and_then(|s| JobState::parse(&s)))
    }

    /// The earliest score of each shard (leases included), for an idle worker's sleep.
    pub async fn earliest(&self, shards: &[u16]) -> Result<Vec<Option<Millis>>, StoreError> {
        let futs = shards.iter().map(|&s| {
            let mut c = self.conn.clone();
            let key = self.keys.due(s);
            async move {
                let r: Vec<(String, f64)> = c.zrange_withscores(key, 0, 0).await?;
                Ok::<_, StoreError>(r.first().map(|(_, score)| Millis(*score as u64)))
            }
        });
        futures::future::join_all(futs).await.into_iter().collect()
    }

    /// Job ids of an index, newest first, strictly older than `before` (a job id).
    pub async fn index_page(
        &self,
        index: &str,
        before: Option<&str>,
        count: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        let max = match before {
            Some(id) => format!("({id}"),
            None => "+".to_owned(),
        };
        let ids: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(index)
            .arg(max)
            .arg("-")
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut c)
            .await?;
        Ok(ids)
    }

    /// Drops index entries whose records have expired.
    pub async fn forget_in_index(&self, index: &str, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = self.conn.clone();
        let _: i64 = c.zrem(index, ids).await?;
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(key).await?;
        Ok(())
    }

    /// Takes a token from `account`'s bucket: zero when a call may go now, else how
    /// long to wait (the bucket is empty, or a 429 paused the account).
    pub async fn rate_take(
        &self,
        account: &str,
        per_second: f64,
        burst: u32,
    ) -> Result<Duration, StoreError> {
        let mut c = self.conn.clone();
        let wait: i64 = self
            .scripts
            .rate
            .key(self.keys.named("rate", account))
            .arg("take")
            .arg(per_second)
            .arg(burst)
            .arg(0)
            .invoke_async(&mut c)
            .await?;
        Ok(Duration::from_millis(wait.max(0) as u64))
    }

    /// Pauses every call of `account` for `pause` (a provider's Retry-After).
    pub async fn rate_pause(&self, account: &str, pause: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .scripts
            .rate
            .key(self.keys.named("rate", account))
            .arg("pause")
            .arg(1)
            .arg(1)
            .arg(pause.as_millis() as u64)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    /// Job ids as `commit.lua` and `hold.lua` write them (the api's event streams).
    /// Like [`Store::wake_stream`], it ends when the pub/sub connection drops, and
    /// what was published meanwhile is lost: callers subscribe again and re-read.
    pub async fn changes_stream(
        &self,
    ) -> Result<futures::stream::BoxStream<'static, String>, StoreError> {
        let mut pubsub = self.pubsub_client.get_async_pubsub().await?;
        pubsub.subscribe(self.keys.changed_channel()).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|m| async move { m.get_payload::<String>().ok() })
            .boxed())
    }

    /// Wake-ups: the number of a shard that has a job due now. The stream ends when
    /// the pub/sub connection drops; callers subscribe again.
    pub async fn wake_stream(
        &self,
    ) -> Result<futures::stream::BoxStream<'static, u16>, StoreError> {
        let mut pubsub = self.pubsub_client.get_async_pubsub().await?;
        pubsub.subscribe(self.keys.wake_channel()).await?;
        Ok(pubsub
            .into_on_message()
            .filter_map(|m| async move { m.get_payload::<u16>().ok() })
            .boxed())
    }
}
