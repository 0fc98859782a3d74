//! The audit trail of a job's provider calls (issue 13): the engine lends a
//! [`Recorder`] to the task that runs a step ([`Recorder::scope`]), the one sender
//! (`providers::http`) hands it every call it makes ([`record`]), and after the
//! step's commit the engine [`Recorder::take`]s the calls for the store.
//!
//! A task-local, not a parameter: the calls happen deep inside the clients, which
//! know nothing of jobs; a call outside a scope (a client's own test) is not
//! recorded. The sender hands over bodies already redacted with the call's own
//! secrets; `take` masks the job's secrets too (its root password, its ssh keys,
//! what the provider returned), and only then cuts each body to its bound, so that
//! a cut never leaves half a secret behind.

use crate::step::KnownSecrets;
use provisioner_shared::calls::ProviderCall;
use provisioner_shared::time::Millis;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

tokio::task_local! {
    static RECORDER: Recorder;
}

/// What the sender knows of one call; bodies redacted with the call's secrets.
pub struct Exchange {
    pub provider: &'static str,
    pub method: String,
    pub path: String,
    pub action: Option<String>,
    pub status: Option<u16>,
    pub latency: Duration,
    pub request: Option<String>,
    pub response: Option<String>,
    pub error: Option<String>,
}

/// The calls of one step's attempt, shared by the engine and the step's task.
#[derive(Clone)]
pub struct Recorder {
    trail: Arc<Mutex<Trail>>,
}

struct Trail {
    account: String,
    step: String,
    attempt: u32,
    /// Redis time and the local instant it was read at.
    clock: (Millis, Instant),
    /// Most calls kept (the oldest go first, as in the store).
    cap: usize,
    calls: Vec<ProviderCall>,
}

impl Recorder {
    /// A recorder for attempt `attempt` (1 = first) of `step` on `account`; `clock`
    /// is Redis time and the instant it was read, the calls' times count from it.
    pub fn new(
        account: &str,
        step: &str,
        attempt: u32,
        clock: (Millis, Instant),
        cap: usize,
    ) -> Self {
        Recorder {
            trail: Arc::new(Mutex::new(Trail {
                account: account.to_owned(),
                step: step.to_owned(),
                attempt,
                clock,
                cap: cap.max(1),
                calls: Vec::new(),
            })),
        }
    }

    /// Runs `work` with this recorder lent to it: every provider call it makes is
    /// recorded here.
    pub async fn scope<F: Future>(&self, work: F) -> F::Output {
        RECORDER.scope(self.clone(), work).await
    }

    fn trail(&self) -> MutexGuard<'_, Trail> {
        self.trail.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, x: Exchange) {
        let mut t = self.trail();
        let now = t.clock.0.plus(t.clock.1.elapsed());
        let at = Millis(now.0.saturating_sub(x.latency.as_millis() as u64));
        let call = ProviderCall {
            at: at.to_rfc3339(),
            provider: x.provider.to_owned(),
            account: t.account.clone(),
            step: t.step.clone(),
            attempt: t.attempt,
            method: x.method,
            path: x.path,
            action: x.action,
            status: x.status,
            latency_ms: x.latency.as_millis() as u64,
            request: x.request,
            response: x.response,
            error: x.error,
        };
        t.calls.push(call);
        if t.calls.len() > t.cap {
            let extra = t.calls.len() - t.cap;
            t.calls.drain(..extra);
        }
    }

    /// The calls recorded so far (and forgets them), oldest first, with `job` masked
    /// in every text and each body cut to `body_bytes`.
    pub fn take(&self, job: &KnownSecrets, body_bytes: usize) -> Vec<ProviderCall> {
        let calls = std::mem::take(&mut self.trail().calls);
        calls
            .into_iter()
            .map(|mut c| {
                let clean = |text: Option<String>| text.map(|t| cut(&job.scrub(&t), body_bytes));
                c.request = clean(c.request.take());
                c.response = clean(c.response.take());
                c.error = c.error.take().map(|e| job.scrub(&e).into_owned());
                c.path = job.scrub(&c.path).into_owned();
                c
            })
            .collect()
    }
}

/// Records one call on the recorder of the task it is made in, if it has one.
pub fn record(exchange: Exchange) {
    let _ = RECORDER.try_with(|r| r.push(exchange));
}

/// `text` cut to at most `max` bytes (at a character boundary), saying how long it was.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut: {} bytes in all]", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn exchange(body: &str) -> Exchange {
        Exchange {
            provider: "hostkey",
            method: "POST".into(),
            path: "/eq.php".into(),
            action: Some("show".into()),
            status: Some(200),
            latency: Duration::from_millis(12),
            request: Some("action=show&id=1".into()),
            response: Some(body.into()),
            error: None,
        }
    }

    #[tokio::test]
    async fn calls_in_a_scope_are_recorded_and_others_are_not() {
        record(exchange("outside"));
        let r = Recorder::new("hk-nl", "order", 2, (Millis(1_000_000), Instant::now()), 10);
        r.scope(async { record(exchange("inside")) }).await;
        let calls = r.take(&KnownSecrets::new(), 4096);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].response.as_deref(), Some("inside"));
        assert_eq!((calls[0].step.as_str(), calls[0].attempt), ("order", 2));
        assert_eq!(calls[0].account, "hk-nl");
        assert!(r.take(&KnownSecrets::new(), 4096).is_empty(), "taken once");
    }

    #[tokio::test]
    async fn the_jobs_secrets_are_masked_before_a_body_is_cut() {
        let secret = "Canary-Root-Password-1";
        let body = format!("{}{secret}", "x".repeat(30));
        let r = Recorder::new("hk-nl", "order", 1, (Millis(0), Instant::now()), 10);
        r.scope(async { record(exchange(&body)) }).await;
        let known = KnownSecrets::new().with(&SecretString::from(secret));
        // Masked first (30 + 10 bytes), then cut: no part of the secret is left.
        let calls = r.take(&known, 35);
        let response = calls[0].response.as_deref().unwrap();
        assert!(!response.contains("Canary"), "{response}");
        assert!(response.starts_with(&"x".repeat(30)), "{response}");
        assert!(response.contains("[cut: "), "{response}");
    }

    #[tokio::test]
    async fn only_the_last_calls_are_kept() {
        let r = Recorder::new("hk-nl", "poll", 1, (Millis(0), Instant::now()), 3);
        r.scope(async {
            for i in 0..5 {
                record(exchange(&i.to_string()));
            }
        })
        .await;
        let kept: Vec<_> = r
            .take(&KnownSecrets::new(), 4096)
            .into_iter()
            .filter_map(|c| c.response)
            .collect();
        assert_eq!(kept, ["2", "3", "4"]);
    }

    #[test]
    fn a_cut_keeps_whole_characters() {
        assert_eq!(cut("abc", 3), "abc");
        let cut = cut("ééé", 3);
        assert!(cut.starts_with('é') && !cut.starts_with("éé"), "{cut}");
        assert!(cut.ends_with("[cut: 6 bytes in all]"), "{cut}");
    }
}
