//! Outbound job callbacks: the outbox's deliverer (DESIGN.md, "Callbacks are an
//! outbox, not steps").
//!
//! When a job ends, or parks in `needs_attention`, and has a `callback_url`, the
//! engine's commit also creates a callback record in the job's shard ([`payload`]
//! builds it: the URL and the job JSON of that moment). The claim loop leases it like
//! a job; the runtime's handler sees its `cb:` id and hands it to
//! [`Callbacks::deliver`]: one signed POST, then a commit of the record — finished on
//! a 2xx, else due again after a backoff with full jitter until `callbacks.retry_for`
//! has passed since the first attempt. Every attempt is appended to the job's
//! callback log (`callbacks` in its JSON). The job itself is never held, changed or
//! failed by any of this: a dead endpoint only costs retries of its own record.
//!
//! Signing is Standard Webhooks with `[callbacks] secret`: `webhook-id` is stable
//! across the retries of one callback (receivers de-duplicate on it), the timestamp
//! and signature are fresh for each attempt.
//!
//! With `[callbacks] include_credentials`, each attempt adds the server's login
//! (`credentials`) to the body as it is sent: the record in Redis never holds the
//! password, and every attempt that carries it is recorded as a credentials read.

mod address;

pub use address::{
    AddressError, CallbackResolver, Lookup, NameLookup, SystemLookup, check_literal,
};

use crate::metrics::{CallbackResult, WorkerMetrics};
use provisioner_shared::config::Config;
use provisioner_shared::credentials;
use provisioner_shared::error_chain;
use provisioner_shared::job::{
    CallbackAttempt, CredentialRead, CredentialsVia, Job, JobState, JobView,
};
use provisioner_shared::secret::Sealer;
use provisioner_shared::store::{ClaimedJob, CommitOutcome, Schedule, Store, callback_owner};
use provisioner_shared::time::Millis;
use provisioner_shared::webhook::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, WebhookKey};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A delivered (or abandoned) callback record stays this long, for a look in Redis.
const DONE_RETENTION: Duration = Duration::from_secs(3600);
/// The most of a failed answer's body kept in the attempt log.
const BODY_SNIPPET: usize = 200;

/// What a callback record carries (its `req`): fixed when the job's commit made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payload {
    pub url: String,
    pub job_id: String,
    /// The job state this callback reports.
    pub event: JobState,
    /// The job JSON, exactly as it is sent and signed on every attempt.
    pub body: String,
}

/// A callback record's delivery state (its `run`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Delivery {
    #[serde(default)]
    attempts: u32,
    #[serde(default)]
    first_at: Option<Millis>,
}

/// The callback payload for `job` as it now stands, if it has a callback URL.
pub fn payload(job: &Job) -> Option<String> {
    let url = job.spec.request.callback_url.as_ref()?;
    let body = serde_json::to_string(&JobView::of(job)).expect("a job view serialises");
    let payload = Payload {
        url: url.to_string(),
        job_id: job.spec.id.clone(),
        event: job.run.state,
        body,
    };
    Some(serde_json::to_string(&payload).expect("a callback payload serialises"))
}

/// Whether a claimed id is a callback record rather than a job.
pub fn is_callback(id: &str) -> bool {
    callback_owner(id).is_some()
}

/// The `webhook-id` of a callback record: the same for all its attempts.
pub fn webhook_id(record_id: &str) -> String {
    record_id.replace(':', "_")
}

/// The deliverer, built once per worker.
pub struct Callbacks {
    store: Store,
    http: reqwest::Client,
    key: Option<WebhookKey>,
    allow_private: bool,
    policy: RetryPolicy,
    metrics: Arc<WorkerMetrics>,
    /// Opens the login for callbacks that carry it (`include_credentials`).
    credentials: Option<Sealer>,
}

/// How long and how often a callback is retried (`[callbacks]`).
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    retry_for: Duration,
    base: Duration,
    max: Duration,
}

impl RetryPolicy {
    /// What follows an attempt (`error` is `None` when it was delivered): finished;
    /// abandoned once `retry_for` has passed since the first attempt (the error says
    /// so); else due again after a backoff, the last one landing at the window's end.
    fn after_attempt(
        &self,
        elapsed: Duration,
        attempts: u32,
        error: &mut Option<String>,
        rng: &mut impl Rng,
    ) -> Schedule {
        let done = Schedule::Finish {
            retention: DONE_RETENTION,
        };
        let Some(e) = error else {
            return done;
        };
        if elapsed >= self.retry_for {
            e.push_str(&format!(
                "; giving up after {attempts} attempts over {}",
                humantime::format_duration(Duration::from_secs(elapsed.as_secs()))
            ));
            return done;
        }
        let wait = backoff(self.base, self.max, attempts, rng);
        Schedule::After(
            wait.min(self.retry_for - elapsed)
                .max(Duration::from_millis(1)),
        )
    }
}

impl Callbacks {
    /// `lookup` resolves callback hosts (`None`: the system resolver).
    pub fn from_config(
        config: &Config,
        store: Store,
        metrics: Arc<WorkerMetrics>,
        lookup: Option<Arc<dyn NameLookup>>,
    ) -> Result<Arc<Callbacks>, reqwest::Error> {
        let cb = &config.callbacks;
        let mut http = reqwest::Client::builder()
            .user_agent(concat!("provisioner/", env!("CARGO_PKG_VERSION")))
            .timeout(cb.timeout)
            .connect_timeout(cb.timeout.min(Duration::from_secs(5)))
            // A redirect could lead anywhere, past the address check: a 3xx is a failure.
            .redirect(reqwest::redirect::Policy::none())
            // Through a proxy the address check would check the proxy: go direct.
            .no_proxy();
        // With private addresses allowed the system resolver needs no check.
        let lookup = match lookup {
            None if cb.allow_private => None,
            None => Some(Arc::new(SystemLookup) as Arc<dyn NameLookup>),
            given => given,
        };
        if let Some(lookup) = lookup {
            http = http.dns_resolver(Arc::new(CallbackResolver::new(lookup, cb.allow_private)));
        }
        Ok(Arc::new(Callbacks {
            store,
            http: http.build()?,
            key: config.callback_key(),
            allow_private: cb.allow_private,
            policy: RetryPolicy {
                retry_for: cb.retry_for,
                base: cb.retry_base,
                max: cb.retry_max,
            },
            metrics,
            credentials: cb.include_credentials.then(|| config.sealer()),
        }))
    }

    /// Delivers one leased callback record once, logs the attempt on its job and
    /// commits the record: finished, or due again after a backoff.
    pub async fn deliver(&self, claimed: ClaimedJob) {
        let Some(job_id) = callback_owner(&claimed.id).map(str::to_owned) else {
            return;
        };
        let payload: Payload = match serde_json::from_str(&claimed.spec_json) {
            Ok(p) => p,
            Err(e) => {
                // Nothing to send, ever: end the record rather than retry it forever.
                tracing::error!(record = %claimed.id, error = %e, "callback record does not decode; dropping it");
                let _ = self
                    .store
                    .commit_callback(
                        &claimed.id,
                        claimed.version,
                        &claimed.fence,
                        &claimed.run_json,
                        Schedule::Finish {
                            retention: DONE_RETENTION,
                        },
                    )
                    .await;
                return;
            }
        };
        let mut delivery: Delivery = serde_json::from_str(&claimed.run_json).unwrap_or_default();
        let now = self.store.clock();
        let first = *delivery.first_at.get_or_insert(now);
        delivery.attempts += 1;
        let body = self.body_for(&job_id, &payload, now).await;
        let (status, mut error) = match self.send(&claimed.id, &payload.url, &body, now).await {
            Ok(Answer { status, .. }) if (200..300).contains(&status) => (Some(status), None),
            Ok(Answer { status, body }) if body.is_empty() => {
                (Some(status), Some(format!("answered {status}")))
            }
            Ok(Answer { status, body }) => {
                (Some(status), Some(format!("answered {status}: {body}")))
            }
            Err(e) => (None, Some(e)),
        };
        let schedule = self.policy.after_attempt(
            now.since(first),
            delivery.attempts,
            &mut error,
            &mut rand::rng(),
        );
        match (&error, schedule) {
            (None, _) => {
                self.metrics.callback(CallbackResult::Delivered);
                tracing::info!(job_id = %job_id, event = %payload.event, status = ?status, "callback delivered")
            }
            (Some(e), Schedule::Finish { .. }) => {
                self.metrics.callback(CallbackResult::Abandoned);
                tracing::warn!(job_id = %job_id, error = %e, "callback abandoned")
            }
            (Some(e), _) => {
                self.metrics.callback(CallbackResult::Retry);
                tracing::info!(job_id = %job_id, attempt = delivery.attempts, error = %e, "callback failed; will retry")
            }
        }
        let attempt = CallbackAttempt {
            at: now,
            status,
            error,
        };
        match self.store.log_callback_attempt(&job_id, &attempt).await {
            Ok(true) => {}
            Ok(false) => tracing::debug!(job_id = %job_id, "job record gone; attempt not logged"),
            Err(e) => tracing::warn!(job_id = %job_id, error = %e, "cannot log a callback attempt"),
        }
        let run_json = serde_json::to_string(&delivery).expect("delivery state serialises");
        match self
            .store
            .commit_callback(
                &claimed.id,
                claimed.version,
                &claimed.fence,
                &run_json,
                schedule,
            )
            .await
        {
            Ok(CommitOutcome::Committed { .. }) => {}
            // Its lease ran out mid-delivery and another worker has it: it sends again
            // with the same webhook-id, which receivers de-duplicate on.
            Ok(CommitOutcome::Lost) => {
                tracing::warn!(record = %claimed.id, "callback record taken over by another worker")
            }
            Err(e) => {
                tracing::warn!(record = %claimed.id, error = %e, "cannot save a callback's delivery state; its lease will bring it back")
            }
        }
    }

    /// The body of this attempt: the payload's job JSON, with the server's login
    /// added when `include_credentials` is on and the server exists. The read is
    /// recorded before anything is sent; when it cannot be, the login stays out.
    async fn body_for(&self, job_id: &str, payload: &Payload, now: Millis) -> String {
        let Some(sealer) = &self.credentials else {
            return payload.body.clone();
        };
        let job = match self
            .store
            .load(job_id)
            .await
            .map(|raw| raw.map(|r| r.decode()))
        {
            Ok(Some(Ok(job))) => job,
            Ok(None) => return payload.body.clone(),
            Ok(Some(Err(e))) => {
                tracing::warn!(job_id, error = %e, "callback without credentials: the job does not decode");
                return payload.body.clone();
            }
            Err(e) => {
                tracing::warn!(job_id, error = %e, "callback without credentials: cannot load the job");
                return payload.body.clone();
            }
        };
        let login = match credentials::credentials(&job, sealer) {
            Ok(login) => login,
            // No server (yet), or a deprovision: nothing to add.
            Err(credentials::Unavailable::NotYet(_) | credentials::Unavailable::NoLogin(_)) => {
                return payload.body.clone();
            }
            Err(e) => {
                tracing::warn!(job_id, error = %e, "callback without credentials");
                return payload.body.clone();
            }
        };
        let Ok(serde_json::Value::Object(mut view)) = serde_json::from_str(&payload.body) else {
            return payload.body.clone();
        };
        let read = CredentialRead {
            at: now,
            via: CredentialsVia::Callback,
            token: None,
        };
        match self.store.log_credential_read(job_id, &read).await {
            Ok(true) => {}
            Ok(false) => return payload.body.clone(),
            Err(e) => {
                tracing::warn!(job_id, error = %e, "callback without credentials: cannot record the read");
                return payload.body.clone();
            }
        }
        view.insert(
            "credentials".into(),
            serde_json::to_value(&login).expect("credentials serialise"),
        );
        serde_json::Value::Object(view).to_string()
    }

    /// One signed POST. `Err` is why nothing was answered (or nothing sent).
    async fn send(
        &self,
        record_id: &str,
        url: &str,
        body: &str,
        now: Millis,
    ) -> Result<Answer, String> {
        let Some(key) = &self.key else {
            return Err("callbacks.secret is not configured on this worker: cannot sign".into());
        };
        let url = check_literal(url, self.allow_private).map_err(|e| e.to_string())?;
        let id = webhook_id(record_id);
        let timestamp = (now.0 / 1000) as i64;
        let signature = key.sign(&id, timestamp, body.as_bytes());
        let res = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, id)
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| error_chain(&e.without_url()))?;
        let status = res.status().as_u16();
        let body = if (200..300).contains(&status) {
            String::new()
        } else {
            snippet(res).await
        };
        Ok(Answer { status, body })
    }
}

struct Answer {
    status: u16,
    body: String,
}

/// The start of a failed answer's body, on one line.
async fn snippet(mut res: reqwest::Response) -> String {
    let mut out = Vec::new();
    while out.len() < BODY_SNIPPET {
        match res.chunk().await {
            Ok(Some(chunk)) => out.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&out[..out.len().min(BODY_SNIPPET)]);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Exponential backoff with full jitter: uniform in [base/10, min(max, base × 2^(n−1))].
fn backoff(base: Duration, max: Duration, attempts: u32, rng: &mut impl Rng) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let ceiling = (base.as_millis() as u64)
        .saturating_mul(1u64 << exp)
        .min(max.as_millis() as u64);
    let floor = (base.as_millis() as u64 / 10).min(ceiling);
    Duration::from_millis(rng.random_range(floor..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_secs(5);
        let max = Duration::from_secs(3600);
        for n in 1..40 {
            let d = backoff(base, max, n, &mut rng);
            let ceiling = (5_000u64 << (n - 1).min(30)).min(3_600_000);
            assert!(d >= Duration::from_millis(500), "{n}: {d:?}");
            assert!(d <= Duration::from_millis(ceiling), "{n}: {d:?}");
        }
        let late: Vec<_> = (0..50).map(|_| backoff(base, max, 30, &mut rng)).collect();
        assert!(late.iter().any(|d| *d > Duration::from_secs(1800)));
        assert!(late.iter().any(|d| *d < Duration::from_secs(1800)));
    }

    #[test]
    fn an_attempt_is_followed_by_the_end_a_retry_or_giving_up() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let policy = RetryPolicy {
            retry_for: Duration::from_secs(24 * 3600),
            base: Duration::from_secs(5),
            max: Duration::from_secs(3600),
        };
        let hour = Duration::from_secs(3600);
        let mut delivered = None;
        assert!(matches!(
            policy.after_attempt(hour, 3, &mut delivered, &mut rng),
            Schedule::Finish { .. }
        ));
        assert_eq!(delivered, None);
        let mut failed = Some("answered 500".to_owned());
        match policy.after_attempt(hour, 3, &mut failed, &mut rng) {
            Schedule::After(d) => assert!(d <= Duration::from_secs(20), "{d:?}"),
            other => panic!("expected a retry, got {other:?}"),
        }
        // close to the end of the window, the next try is at its end, not after
        let late = policy.retry_for - Duration::from_secs(10);
        match policy.after_attempt(late, 40, &mut failed, &mut rng) {
            Schedule::After(d) => assert!(d <= Duration::from_secs(10), "{d:?}"),
            other => panic!("expected a last retry, got {other:?}"),
        }
        let mut last = Some("connection refused".to_owned());
        assert!(matches!(
            policy.after_attempt(policy.retry_for, 41, &mut last, &mut rng),
            Schedule::Finish { .. }
        ));
        assert!(
            last.unwrap()
                .contains("giving up after 41 attempts over 1day")
        );
    }

    #[test]
    fn record_ids_and_webhook_ids() {
        let id = "cb:01JD0000000000000000000000:17";
        assert!(is_callback(id));
        assert!(!is_callback("01JD0000000000000000000000"));
        assert_eq!(webhook_id(id), "cb_01JD0000000000000000000000_17");
    }
}
