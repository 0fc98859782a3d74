//! Reservations: one protocol for every single key a request claims before it acts —
//! an `Idempotency-Key`, a server or billing-service lock, a billing webhook's id.
//!
//! 1. **Reserve if absent** (`SET NX`, with the subject's expiry or none).
//! 2. A key someone else holds is judged by its [`Subject`]'s rule: a finished
//!    answer is returned (webhooks), a different request body is a mismatch
//!    (idempotency), a holder whose job lives keeps it (locks), a job that exists
//!    answers for its key (idempotency).
//! 3. **Wait a grace period for a creator**: a holder whose job (or, for a webhook,
//!    whose answer) has not appeared yet may just be slow.
//! 4. **Take over with compare-and-set** from exactly the value that was judged, so
//!    of two racing takers one wins and the other looks again; after a few lost
//!    rounds the caller is told it is contended (its client retries).
//! 5. **Release with compare-and-delete** of exactly what this request wrote (a
//!    takeover changes the value, so a late creator never removes the taker's);
//!    **settle** a webhook's id with its answer the same way.
//! 6. **Keep while the job lives**: a lock or key that names a live job has no expiry
//!    (`held.lua`); when the job ends the worker gives each its expiry
//!    ([`Store::release_holds`]); a failed job brought back takes them again.
//!
//! A value is `holder[|payload[|mark]]` (holder: a job id, or a webhook delivery's
//! token; payload: an idempotency body digest; mark: the id of the request that took
//! an idempotency key over), or the settled answer, a JSON object. These are the
//! forms the previous version wrote for each of the three (a lock held its job id,
//! an idempotency key `job|digest[|taker]`, a webhook id `pending:<token>` and then
//! its answer), so records already in a deployed Redis decode as they are, and a
//! previous version still running beside this one reads what this one writes.

use super::{Store, StoreError};
use crate::job::{Job, JobState};
use crate::request::JobKind;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Lost compare-and-sets before a taker gives up (the caller asks its client to retry).
const ROUNDS: usize = 4;
/// How often a taker looks again for a creator that is being slow.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// What a reservation is on; its key is built by [`super::Keys::reservation`].
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// An `Idempotency-Key`, by the digest of the client's key (never the key).
    Idempotency { key_digest: &'a str },
    /// One operation per server (reinstall, deprovision, and a provision once its
    /// order names the server).
    Server {
        account: &'a str,
        server_id: &'a str,
    },
    /// One live provision per billing service.
    Service { service_id: &'a str },
    /// A billing webhook delivery's `webhook-id`.
    Webhook { id: &'a str },
}

/// How a subject's reservation treats a holder that is not this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// The holder's job answers every later request with the same payload; a
    /// holder whose job never appeared is taken over under its job id.
    Idempotency,
    /// A live holder keeps it; a finished or never-created one is replaced.
    Lock,
    /// A settled answer answers; a holder that does not settle within the grace is
    /// replaced.
    Dedupe,
}

impl Subject<'_> {
    fn rule(&self) -> Rule {
        match self {
            Subject::Idempotency { .. } => Rule::Idempotency,
            Subject::Server { .. } | Subject::Service { .. } => Rule::Lock,
            Subject::Webhook { .. } => Rule::Dedupe,
        }
    }
}

/// A reservation's value, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Claim(Claim),
    /// What the holder answered (a webhook delivery), as it was stored.
    Settled(String),
}

/// Who holds a reservation, and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The job id (locks, idempotency) or delivery token (webhooks).
    pub holder: String,
    /// What a later request must match (an idempotency body digest).
    pub payload: Option<String>,
    /// The request that took the reservation over, so that the creator's late
    /// release no longer matches.
    pub mark: Option<String>,
}

impl Claim {
    pub fn new(holder: &str, payload: Option<&str>) -> Claim {
        Claim {
            holder: holder.to_owned(),
            payload: payload.map(str::to_owned),
            mark: None,
        }
    }
}

impl Record {
    /// Every value the previous version wrote decodes too (see the module doc).
    pub fn decode(value: &str) -> Record {
        if value.starts_with('{') {
            return Record::Settled(value.to_owned());
        }
        let mut parts = value.splitn(3, '|');
        let holder = parts.next().unwrap_or_default().to_owned();
        let payload = parts.next().map(str::to_owned);
        let mark = parts.next().map(str::to_owned);
        Record::Claim(Claim {
            holder,
            payload,
            mark,
        })
    }

    pub fn encode(&self) -> String {
        match self {
            Record::Settled(answer) => answer.clone(),
            Record::Claim(c) => {
                let mut v = c.holder.clone();
                for part in [&c.payload, &c.mark] {
                    let Some(part) = part else { break };
                    v.push('|');
                    v.push_str(part);
                }
                v
            }
        }
    }
}

/// A reservation this request holds.
#[derive(Debug, Clone)]
pub struct Reservation {
    key: String,
    /// Exactly what this request wrote, for compare-and-set and compare-and-delete.
    value: String,
    holder: String,
}

impl Reservation {
    /// The Redis key (kept in the job's [`Holds`]).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whom to act as: this request's holder, or after taking over an
    /// idempotency key, the job id its dead creator had reserved.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

/// The outcome of [`Store::reserve`].
#[derive(Debug, Clone)]
pub enum Reserved {
    /// Ours: act, then keep, release or settle it.
    Held(Reservation),
    /// A job holds it: a live one for a lock, any existing one for an idempotency key.
    Taken { holder: String, state: JobState },
    /// Same key with another payload (an idempotency key used with another body).
    Mismatch,
    /// Settled before with this answer (a webhook id seen before).
    Settled(String),
    /// Others kept changing it: try again.
    Contended,
}

/// Whether a reservation still names its holder (a creator checks right before it
/// acts that nobody took it over while it was slow).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Ours,
    /// Someone else's now.
    Other(String),
    Gone,
}

/// What a holder turned out to be after the grace.
enum Judged {
    Answer(Reserved),
    TakeOver(Claim),
    /// The value changed while we waited: look again.
    Again,
}

impl Store {
    /// Reserves `subject` for `claim` (see the module doc for the protocol).
    /// `ttl`: the reservation's expiry while it is being acted on (none: kept until
    /// released or given one); `grace`: how long a creator may be slow.
    pub async fn reserve(
        &self,
        subject: Subject<'_>,
        claim: Claim,
        ttl: Option<Duration>,
        grace: Duration,
    ) -> Result<Reserved, StoreError> {
        let key = self.keys.reservation(&subject);
        self.reserve_key(key, subject.rule(), claim, ttl, grace)
            .await
    }

    async fn reserve_key(
        &self,
        key: String,
        rule: Rule,
        claim: Claim,
        ttl: Option<Duration>,
        grace: Duration,
    ) -> Result<Reserved, StoreError> {
        let ours = Record::Claim(claim.clone()).encode();
        for _ in 0..ROUNDS {
            let Some(existing) = self.put_if_absent(&key, &ours, ttl).await? else {
                return Ok(Reserved::Held(Reservation {
                    key,
                    value: ours,
                    holder: claim.holder,
                }));
            };
            let theirs = match Record::decode(&existing) {
                Record::Settled(answer) if rule == Rule::Dedupe => {
                    return Ok(Reserved::Settled(answer));
                }
                // Not a value this subject writes: whoever wrote it holds no job.
                Record::Settled(_) => Claim::new("", None),
                Record::Claim(c) => c,
            };
            if rule == Rule::Idempotency && theirs.payload != claim.payload {
                return Ok(Reserved::Mismatch);
            }
            if rule == Rule::Lock && theirs.holder == claim.holder {
                // Ours already (a replay, or a worker taking what the api took).
                self.keep(&key, &claim.holder, None).await?;
                return Ok(Reserved::Held(Reservation {
                    key,
                    value: existing,
                    holder: claim.holder,
                }));
            }
            let next = match self.judge(&key, rule, &existing, theirs, grace).await? {
                Judged::Answer(answer) => return Ok(answer),
                Judged::Again => continue,
                Judged::TakeOver(theirs) => match rule {
                    // Under the dead creator's job id, with our mark, so that its
                    // late release cannot delete what we hold now.
                    Rule::Idempotency => Claim {
                        mark: Some(claim.holder.clone()),
                        ..theirs
                    },
                    Rule::Lock | Rule::Dedupe => claim.clone(),
                },
            };
            let value = Record::Claim(next.clone()).encode();
            if self.compare_and_set(&key, &existing, &value, ttl).await? {
                match rule {
                    Rule::Lock => {
                        tracing::info!(holder = %next.holder, previous = %existing, "took over a lock from a finished job")
                    }
                    Rule::Dedupe => {
                        tracing::warn!(
                            "taking over a billing webhook id whose handler did not finish"
                        )
                    }
                    Rule::Idempotency => {}
                }
                return Ok(Reserved::Held(Reservation {
                    key,
                    value,
                    holder: next.holder,
                }));
            }
            // It changed meanwhile (released, expired or taken): look again.
        }
        Ok(Reserved::Contended)
    }

    /// Waits up to `grace` for the holder's job (locks, idempotency) or its answer
    /// (webhooks) to appear, then decides.
    async fn judge(
        &self,
        key: &str,
        rule: Rule,
        existing: &str,
        theirs: Claim,
        grace: Duration,
    ) -> Result<Judged, StoreError> {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if rule == Rule::Dedupe {
                match self.get_string(key).await? {
                    Some(v) if v == existing => {}
                    Some(v) => match Record::decode(&v) {
                        Record::Settled(answer) => {
                            return Ok(Judged::Answer(Reserved::Settled(answer)));
                        }
                        Record::Claim(_) => return Ok(Judged::Again),
                    },
                    // The other copy failed and gave the id back: try to take it.
                    None => return Ok(Judged::Again),
                }
            } else if !theirs.holder.is_empty()
                && let Some(state) = self.state_of(&theirs.holder).await?
            {
                return Ok(match rule {
                    Rule::Lock if !state.is_live() => Judged::TakeOver(theirs),
                    _ => {
                        if rule == Rule::Idempotency && state.is_live() {
                            // Heals a key whose creator died between its enqueue and
                            // keeping the key for the job's life.
                            self.keep(key, &theirs.holder, None).await?;
                        }
                        Judged::Answer(Reserved::Taken {
                            holder: theirs.holder,
                            state,
                        })
                    }
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Judged::TakeOver(theirs));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// Whether `reservation` still names its holder.
    pub async fn standing(&self, reservation: &Reservation) -> Result<Standing, StoreError> {
        Ok(match self.get_string(&reservation.key).await? {
            None => Standing::Gone,
            Some(v) if v == reservation.value => Standing::Ours,
            Some(v) => match Record::decode(&v) {
                Record::Claim(c) => Standing::Other(c.holder),
                Record::Settled(_) => Standing::Other(String::new()),
            },
        })
    }

    /// Gives a reservation back after acting wrote nothing, unless someone has
    /// taken it over since; false when it was no longer ours.
    pub async fn release(&self, reservation: &Reservation) -> Result<bool, StoreError> {
        self.compare_and_delete(&reservation.key, &reservation.value)
            .await
    }

    /// Replaces a reservation with its answer, for the requests that repeat it
    /// within `ttl`; false when it was no longer ours.
    pub async fn settle(
        &self,
        reservation: &Reservation,
        answer: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        debug_assert!(answer.starts_with('{'), "a settled answer is a JSON object");
        self.compare_and_set(&reservation.key, &reservation.value, answer, Some(ttl))
            .await
    }

    /// Takes the lock `key` (a key kept in a job's [`Holds`], or a server's lock
    /// from [`super::Keys::server_lock`]) for `job_id`, with no expiry while the job
    /// lives.
    pub async fn take_lock(
        &self,
        key: &str,
        job_id: &str,
        creator_grace: Duration,
    ) -> Result<Taken, StoreError> {
        let reserved = self
            .reserve_key(
                key.to_owned(),
                Rule::Lock,
                Claim::new(job_id, None),
                None,
                creator_grace,
            )
            .await?;
        Ok(match reserved {
            Reserved::Held(_) => Taken::Held,
            Reserved::Taken { holder, state } => Taken::Busy { holder, state },
            Reserved::Mismatch | Reserved::Settled(_) | Reserved::Contended => Taken::Contended,
        })
    }

    /// Gives `key` the expiry `ttl` (none: keeps it forever) if it still names
    /// `job_id` as its holder; false when it does not (gone, or another job's now).
    pub async fn keep(
        &self,
        key: &str,
        job_id: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let kept: i64 = self
            .scripts
            .held
            .key(key)
            .arg(job_id)
            .arg(ttl.map_or(0, |t| t.as_millis().max(1) as u64))
            .invoke_async(&mut c)
            .await?;
        Ok(kept == 1)
    }

    /// Every key `job` holds while it lives.
    pub fn held_by(&self, job: &Job) -> Vec<Held> {
        let spec = &job.spec;
        let mut held: Vec<Held> = spec.holds.locks.iter().cloned().map(Held::Lock).collect();
        if let Some(key) = &spec.holds.idempotency {
            held.push(Held::Idempotency(key.clone()));
        }
        let req = &spec.request;
        if req.kind() == JobKind::Provision
            && let Some(server) = &job.run.outputs.server_id
        {
            let lock = self.keys().server_lock(&req.account, server);
            if !spec.holds.locks.contains(&lock) {
                held.push(Held::Lock(lock));
            }
        }
        held
    }

    /// A job has ended: each key it holds expires from now on (`lock_ttl` for locks,
    /// `idempotency_ttl` for its key; `None` = never). Best effort: a key left
    /// without expiry names a finished job, which the next taker replaces.
    pub async fn release_holds(
        &self,
        job: &Job,
        lock_ttl: Option<Duration>,
        idempotency_ttl: Duration,
    ) {
        for held in self.held_by(job) {
            let (key, ttl) = match &held {
                Held::Lock(k) => (k, lock_ttl),
                Held::Idempotency(k) => (k, Some(idempotency_ttl)),
            };
            if let Err(e) = self.keep(key, job.id(), ttl).await {
                tracing::warn!(job_id = job.id(), key = %key, error = %e, "cannot give a finished job's key its expiry");
            }
        }
    }

    /// `SET key value NX [PX ttl]` (no expiry without `ttl`); on a clash returns
    /// what the key holds.
    async fn put_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<Option<String>, StoreError> {
        let mut c = self.connection();
        let mut opts = redis::SetOptions::default().conditional_set(redis::ExistenceCheck::NX);
        if let Some(ttl) = ttl {
            opts = opts.with_expiration(redis::SetExpiry::PX(ttl.as_millis().max(1) as u64));
        }
        for _ in 0..2 {
            let set: Option<String> = c.set_options(key, value, opts.clone()).await?;
            if set.is_some() {
                return Ok(None);
            }
            if let Some(existing) = c.get(key).await? {
                return Ok(Some(existing));
            }
            // It expired between the two commands: try once more.
        }
        Ok(c.get(key).await?)
    }

    /// Replaces `key`'s value only if it still equals `expected`.
    async fn compare_and_set(
        &self,
        key: &str,
        expected: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let replaced: i64 = self
            .scripts
            .cas
            .key(key)
            .arg(expected)
            .arg(value)
            .arg(ttl.map_or(0, |t| t.as_millis().max(1) as u64))
            .invoke_async(&mut c)
            .await?;
        Ok(replaced == 1)
    }

    /// Deletes `key` only if it still holds `expected`.
    async fn compare_and_delete(&self, key: &str, expected: &str) -> Result<bool, StoreError> {
        let mut c = self.connection();
        let deleted: i64 = self
            .scripts
            .cad
            .key(key)
            .arg(expected)
            .invoke_async(&mut c)
            .await?;
        Ok(deleted == 1)
    }

    async fn get_string(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut c = self.connection();
        Ok(c.get(key).await?)
    }
}

/// The keys a job took when it was created (the server lock of a provision is
/// taken later, by the worker, when the order names the server).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holds {
    /// The `Idempotency-Key` reservation that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<String>,
    /// Server and service locks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locks: Vec<String>,
}

impl Holds {
    pub fn is_empty(&self) -> bool {
        self.idempotency.is_none() && self.locks.is_empty()
    }
}

/// One key a job holds, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    Lock(String),
    Idempotency(String),
}

/// The outcome of [`Store::take_lock`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    Held,
    /// A live job holds it.
    Busy {
        holder: String,
        state: JobState,
    },
    /// Others kept changing it: try again.
    Contended,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_the_previous_version_wrote_decode() {
        let job = "01JD0000000000000000000000";
        let taker = "01JD0000000000000000000001";
        let digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        // a server or service lock: the job id
        assert_eq!(Record::decode(job), Record::Claim(Claim::new(job, None)));
        // an idempotency reservation, and one taken over
        assert_eq!(
            Record::decode(&format!("{job}|{digest}")),
            Record::Claim(Claim::new(job, Some(digest)))
        );
        assert_eq!(
            Record::decode(&format!("{job}|{digest}|{taker}")),
            Record::Claim(Claim {
                mark: Some(taker.into()),
                ..Claim::new(job, Some(digest))
            })
        );
        // a webhook id being handled, and its answer
        assert_eq!(
            Record::decode("pending:01JD0000000000000000000002"),
            Record::Claim(Claim::new("pending:01JD0000000000000000000002", None))
        );
        let answer = r#"{"type":"invoice.paid","action":"nothing","jobs":[]}"#;
        assert_eq!(Record::decode(answer), Record::Settled(answer.into()));
    }

    #[test]
    fn values_are_written_as_the_previous_version_wrote_them() {
        for v in [
            "01JD0000000000000000000000",
            "01JD0000000000000000000000|abc",
            "01JD0000000000000000000000|abc|01JD0000000000000000000001",
            "pending:01JD0000000000000000000002",
            r#"{"duplicate":false}"#,
        ] {
            assert_eq!(Record::decode(v).encode(), v);
        }
    }
}
