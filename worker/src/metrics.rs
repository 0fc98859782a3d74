//! This worker's step and callback counters, flushed to Redis as deltas.
//!
//! Workers have no HTTP server, so the api's `/metrics` shows what they count from
//! Redis. Counting costs one uncontended mutex and a map entry: no Redis command,
//! and no allocation once a (provider, step, outcome) has been seen, so the step's
//! budget of Redis commands is untouched. [`WorkerMetrics::flush_until`] takes the
//! deltas every [`FLUSH_EVERY`] and adds them to the shared stats hash in one call
//! (`Store::add_worker_stats`); a failed flush keeps them for the next one (a reply
//! lost after the script ran would count them twice: rare, and only a counter). At
//! shutdown the worker flushes once more; a killed worker loses at most one interval
//! of counts.
//!
//! Besides, each worker keeps figures of its own in its own recorder (never the
//! global one), served on its listener (`worker.listen`, see `listen`):
//! `provisioner_step_duration_seconds{provider,step}` (observed by the engine),
//! `provisioner_provider_calls_total{provider,action,outcome}` (counted by the one
//! sender, `providers::http`, through `providers::meter`) and
//! `provisioner_lease_takeovers_total` (counted by the claim loop).
//!
//! Labels are static names only (provider, step, outcome, result, action): never a
//! job id, a hostname or anything a request carried.

use crate::step::Outcome;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use provisioner_shared::ProviderKind;
use provisioner_shared::store::{Store, StoreError, WorkerStat};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The histogram of step durations.
pub const STEP_DURATION: &str = "provisioner_step_duration_seconds";
/// Provider calls sent, by provider, action and outcome.
pub const PROVIDER_CALLS: &str = "provisioner_provider_calls_total";
/// Jobs this worker claimed after their holder's lease ran out.
pub const LEASE_TAKEOVERS: &str = "provisioner_lease_takeovers_total";

/// Step duration buckets, in seconds: a poll is milliseconds, an order a few
/// seconds, and the step timeout (30 s by default) ends the scale.
const STEP_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often counts reach Redis: a fraction of a typical scrape interval.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// The last flush at shutdown waits at most this long for Redis.
const FINAL_FLUSH_WITHIN: Duration = Duration::from_secs(5);

/// How one callback delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallbackResult {
    /// The receiver answered 2xx.
    Delivered,
    /// It failed and will be tried again.
    Retry,
    /// It failed and `callbacks.retry_for` has run out.
    Abandoned,
}

impl CallbackResult {
    fn as_str(self) -> &'static str {
        match self {
            CallbackResult::Delivered => "delivered",
            CallbackResult::Retry => "retry",
            CallbackResult::Abandoned => "abandoned",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Counter {
    Step {
        provider: ProviderKind,
        step: &'static str,
        outcome: &'static str,
    },
    Callback(CallbackResult),
}

impl Counter {
    fn field(self) -> String {
        match self {
            Counter::Step {
                provider,
                step,
                outcome,
            } => WorkerStat::step_field(provider.as_str(), step, outcome),
            Counter::Callback(result) => WorkerStat::callback_field(result.as_str()),
        }
    }
}

/// The counts since the last flush, and this worker's own recorder. One per worker
/// process (shared by its engine, its claim loop and its callback deliverer), never
/// a global: tests run several workers in one process, each against its own Redis
/// namespace.
pub struct WorkerMetrics {
    deltas: Mutex<HashMap<Counter, u64>>,
    recorder: Arc<PrometheusRecorder>,
}

impl std::fmt::Debug for WorkerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerMetrics")
            .field("deltas", &self.deltas)
            .finish_non_exhaustive()
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(STEP_DURATION.to_owned()), &STEP_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        ::metrics::with_local_recorder(&recorder, || {
            ::metrics::describe_histogram!(
                STEP_DURATION,
                ::metrics::Unit::Seconds,
                "How long one attempt of a step took, by provider and step (this worker)."
            );
            ::metrics::describe_counter!(
                PROVIDER_CALLS,
                "Calls sent to providers, by provider, action and outcome (ok, http_4xx, http_429, http_5xx, timeout, transport, cut_off; this worker)."
            );
            ::metrics::describe_counter!(
                LEASE_TAKEOVERS,
                "Jobs this worker claimed after their holder's lease had run out."
            );
            // Present from the start: a takeover is the exception the alert looks for.
            ::metrics::counter!(LEASE_TAKEOVERS).absolute(0);
        });
        WorkerMetrics {
            deltas: Mutex::default(),
            recorder: Arc::new(recorder),
        }
    }
}

impl WorkerMetrics {
    /// This worker's recorder, for the provider calls a drive sends
    /// (`providers::meter::metered`).
    pub fn recorder(&self) -> Arc<PrometheusRecorder> {
        self.recorder.clone()
    }

    /// This worker's own figures, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }

    /// One attempt of `step` of `provider` took `took`.
    pub fn step_took(&self, provider: ProviderKind, step: &'static str, took: Duration) {
        ::metrics::with_local_recorder(&*self.recorder, || {
            ::metrics::histogram!(STEP_DURATION, "provider" => provider.as_str(), "step" => step)
                .record(took.as_secs_f64());
        });
    }

    /// A claim took over `n` jobs whose holder's lease had run out.
    pub fn takeovers(&self, n: u64) {
        if n > 0 {
            ::metrics::with_local_recorder(&*self.recorder, || {
                ::metrics::counter!(LEASE_TAKEOVERS).increment(n);
            });
        }
    }

    /// A step of `provider` named `step` ended in `outcome`.
    pub fn step(&self, provider: ProviderKind, step: &'static str, outcome: &Outcome) {
        self.add(Counter::Step {
            provider,
            step,
            outcome: outcome_label(outcome),
        });
    }

    /// A callback delivery attempt ended in `result`.
    pub fn callback(&self, result: CallbackResult) {
        self.add(Counter::Callback(result));
    }

    fn add(&self, counter: Counter) {
        *self.lock().entry(counter).or_insert(0) += 1;
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Counter, u64>> {
        // A panic elsewhere cannot leave a count half-written: keep counting.
        self.deltas.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the counts since the last flush to Redis. On failure they are kept, and
    /// the next flush tries again with whatever was counted meanwhile.
    pub async fn flush(&self, store: &Store) -> Result<(), StoreError> {
        let deltas = std::mem::take(&mut *self.lock());
        if deltas.is_empty() {
            return Ok(());
        }
        let fields: Vec<(String, u64)> = deltas.iter().map(|(c, n)| (c.field(), *n)).collect();
        if let Err(e) = store.add_worker_stats(&fields).await {
            let mut now = self.lock();
            for (counter, n) in deltas {
                *now.entry(counter).or_insert(0) += n;
            }
            return Err(e);
        }
        Ok(())
    }

    /// Flushes every `every` until `stop` resolves, then once more (bounded, so a
    /// Redis outage cannot hold up a shutdown).
    pub async fn flush_until(
        &self,
        store: &Store,
        every: Duration,
        stop: impl Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(every) => {
                    if let Err(e) = self.flush(store).await {
                        tracing::warn!(error = %e, "cannot flush worker metrics; keeping them for the next try");
                    }
                }
            }
        }
        match tokio::time::timeout(FINAL_FLUSH_WITHIN, self.flush(store)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "last flush of worker metrics failed"),
            Err(_) => tracing::warn!("last flush of worker metrics timed out"),
        }
    }

    #[cfg(test)]
    fn pending(&self) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self.lock().iter().map(|(c, n)| (c.field(), *n)).collect();
        v.sort();
        v
    }
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Next => "next",
        Outcome::Wait { .. } => "wait",
        Outcome::Retry { .. } => "retry",
        Outcome::Fail(_) => "fail",
        Outcome::Attention(_) => "attention",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_figures_render_with_static_labels() {
        let m = WorkerMetrics::default();
        assert!(
            m.render().contains("provisioner_lease_takeovers_total 0\n"),
            "{}",
            m.render()
        );
        m.step_took(ProviderKind::Hostkey, "order", Duration::from_millis(30));
        m.takeovers(0);
        m.takeovers(2);
        let text = m.render();
        for line in [
            "provisioner_lease_takeovers_total 2",
            "provisioner_step_duration_seconds_bucket{provider=\"hostkey\",step=\"order\",le=\"0.05\"} 1",
            "provisioner_step_duration_seconds_count{provider=\"hostkey\",step=\"order\"} 1",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!WorkerMetrics::default().render().contains(STEP_DURATION));
    }

    #[test]
    fn counts_add_up_under_static_labels() {
        let m = WorkerMetrics::default();
        m.step(ProviderKind::Hostkey, "order", &Outcome::Next);
        m.step(
            ProviderKind::Hostkey,
            "order",
            &Outcome::retry("boom 01JD..."),
        );
        m.step(
            ProviderKind::Hostkey,
            "order",
            &Outcome::retry("another message"),
        );
        m.step(ProviderKind::Noop, "noop", &Outcome::wait("note"));
        m.step(
            ProviderKind::Noop,
            "noop",
            &Outcome::Attention("why".into()),
        );
        m.callback(CallbackResult::Delivered);
        m.callback(CallbackResult::Retry);
        m.callback(CallbackResult::Retry);
        assert_eq!(
            m.pending(),
            vec![
                ("callback|delivered".to_owned(), 1),
                ("callback|retry".to_owned(), 2),
                ("step|hostkey|order|next".to_owned(), 1),
                ("step|hostkey|order|retry".to_owned(), 2),
                ("step|noop|noop|attention".to_owned(), 1),
                ("step|noop|noop|wait".to_owned(), 1),
            ]
        );
    }
}
