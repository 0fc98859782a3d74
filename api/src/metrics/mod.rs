//! `GET /metrics`: Prometheus text format, no token (like `/healthz`).
//!
//! Three sources, all cheap:
//! - this api process ([`ApiMetrics`]): requests by route template, method and
//!   status, their latency (a histogram by route), jobs enqueued, billing webhook
//!   results. Kept by this instance's own recorder (never the global one: tests run
//!   several api instances in one process).
//! - Redis at scrape time: each shard's due-set in one script per shard, all shards
//!   at once (`Store::due_figures`), and each shard's job counts by state and
//!   provider, which the scripts keep (`Store::job_counts`).
//! - the workers' step and callback counters, which they flush to one hash every
//!   few seconds (`Store::worker_stats`).
//!
//! The figures read from Redis go into a recorder made for the one scrape and
//! dropped after it, so a scrape that cannot read Redis shows none of them rather
//! than the last ones it read.
//!
//! Labels are route templates (`/v1/jobs/{id}`), never raw paths, and otherwise
//! fixed names: no token, job id, hostname or anything else a request carried can
//! become a label. When Redis does not answer in time the page still has the
//! process's own figures, and `provisioner_redis_up` is 0.

mod drift;
mod guard;

use crate::AppState;
use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use provisioner_shared::ProviderKind;
use provisioner_shared::request::JobKind;
use provisioner_shared::store::{JobCount, ShardFigures, StoreError, WorkerStat};
use std::time::{Duration, Instant};

/// The Content-Type of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for Redis; shorter than Prometheus's default 10 s
/// scrape timeout, so the scraper gets our page rather than its own error.
const REDIS_WITHIN: Duration = Duration::from_secs(2);

/// The route label of a request no route matched.
const UNMATCHED: &str = "<unmatched>";

/// The request latency buckets, in seconds: an api answer is milliseconds; the
/// last bucket catches a slow Redis.
pub(crate) const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

const HTTP_REQUESTS: &str = "provisioner_http_requests_total";
const HTTP_DURATION: &str = "provisioner_http_request_duration_seconds";
const JOBS_ENQUEUED: &str = "provisioner_jobs_enqueued_total";
const WEBHOOKS: &str = "provisioner_webhooks_total";

/// What this api process has counted since it started, in its own recorder.
pub(crate) struct ApiMetrics {
    recorder: PrometheusRecorder,
}

impl std::fmt::Debug for ApiMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiMetrics").finish_non_exhaustive()
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        ::metrics::with_local_recorder(&recorder, || {
            describe_counter!(
                HTTP_REQUESTS,
                "HTTP requests answered, by route template, method and status."
            );
            describe_histogram!(
                HTTP_DURATION,
                Unit::Seconds,
                "Time to the response head, by route template (an event stream's life is not counted)."
            );
            describe_counter!(
                JOBS_ENQUEUED,
                "Jobs written by this api process (POST /v1/jobs and billing webhooks)."
            );
            describe_counter!(
                WEBHOOKS,
                "Billing webhook deliveries, by result: the action taken, duplicate, or the error code."
            );
        });
        ApiMetrics { recorder }
    }
}

impl ApiMetrics {
    /// One answered request. `route` is a route template or [`UNMATCHED`].
    fn request(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        ::metrics::with_local_recorder(&self.recorder, || {
            counter!(HTTP_REQUESTS, "route" => route.to_owned(), "method" => method, "status" => status.to_string())
                .increment(1);
            ::metrics::histogram!(HTTP_DURATION, "route" => route.to_owned())
                .record(took.as_secs_f64());
        });
    }

    /// A job was written (by `POST /v1/jobs` or a billing webhook).
    pub(crate) fn job_enqueued(&self, provider: ProviderKind, kind: JobKind) {
        ::metrics::with_local_recorder(&self.recorder, || {
            counter!(JOBS_ENQUEUED, "provider" => provider.as_str(), "kind" => kind.as_str())
                .increment(1);
        });
    }

    /// A billing webhook delivery ended in `result`: the action taken, `duplicate`,
    /// or the error code it was refused with (all fixed words of the api's code).
    pub(crate) fn webhook(&self, result: &str) {
        ::metrics::with_local_recorder(&self.recorder, || {
            counter!(WEBHOOKS, "result" => result.to_owned()).increment(1);
        });
    }

    fn render(&self) -> String {
        self.recorder.handle().render()
    }
}

/// Counts every answered request; a layer on the whole router, so it sees the
/// matched route template.
pub(crate) async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req.extensions().get::<MatchedPath>().cloned();
    let res = next.run(req).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    state
        .metrics
        .request(route, method, res.status().as_u16(), start.elapsed());
    res
}

/// The standard methods by name; anything else is `other`, so a client inventing
/// methods cannot grow the label set.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// What one scrape read from Redis (each part `None` when it could not be read).
#[derive(Debug, Default)]
struct Snapshot {
    due: Option<Vec<ShardFigures>>,
    jobs: Option<Vec<JobCount>>,
    workers: Option<Vec<(WorkerStat, u64)>>,
    guards: Option<Vec<guard::AccountGuard>>,
    drift: Option<provisioner_shared::drift::DriftReport>,
}

impl Snapshot {
    fn redis_up(&self) -> bool {
        self.due.is_some() && self.jobs.is_some() && self.workers.is_some()
    }

    /// The page of these figures, from a recorder made for it alone.
    fn render(&self) -> String {
        let recorder = PrometheusBuilder::new().build_recorder();
        ::metrics::with_local_recorder(&recorder, || {
            describe_gauge!(
                "provisioner_build_info",
                "Always 1; the version of this api process."
            );
            gauge!("provisioner_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            describe_gauge!(
                "provisioner_redis_up",
                "1 when this scrape could read Redis; the Redis figures are missing when 0."
            );
            gauge!("provisioner_redis_up").set(if self.redis_up() { 1.0 } else { 0.0 });
            if let Some(shards) = &self.due {
                record_schedule(shards);
            }
            if let Some(jobs) = &self.jobs {
                record_jobs(jobs);
            }
            if let Some(stats) = &self.workers {
                record_workers(stats);
            }
            if let Some(guards) = &self.guards {
                guard::record(guards);
            }
            if let Some(report) = &self.drift {
                drift::record(report);
            }
        });
        recorder.handle().render()
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let (due, jobs, workers, guards, drift) = tokio::join!(
        tokio::time::timeout(REDIS_WITHIN, state.store.due_figures()),
        tokio::time::timeout(REDIS_WITHIN, state.store.job_counts()),
        tokio::time::timeout(REDIS_WITHIN, state.store.worker_stats()),
        tokio::time::timeout(REDIS_WITHIN, guard::read(&state.store, &state.config)),
        tokio::time::timeout(REDIS_WITHIN, state.store.drift()),
    );
    let snapshot = Snapshot {
        due: settle(due, "the due-sets"),
        jobs: settle(jobs, "the job counts"),
        workers: settle(workers, "the worker counters"),
        guards: settle(guards, "the guardrails' open orders"),
        drift: settle(drift, "the drift report").flatten(),
    };
    let page = format!("{}{}", snapshot.render(), state.metrics.render());
    let mut res = page.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn settle<T>(
    read: Result<Result<T, StoreError>, tokio::time::error::Elapsed>,
    what: &str,
) -> Option<T> {
    match read {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "metrics: cannot read {what}");
            None
        }
        Err(_) => {
            tracing::warn!("metrics: reading {what} took longer than {REDIS_WITHIN:?}");
            None
        }
    }
}

fn record_schedule(shards: &[ShardFigures]) {
    describe_gauge!(
        "provisioner_scheduled_jobs",
        "Members of each shard's due-set: waiting, due and leased jobs, and callback records."
    );
    for s in shards {
        gauge!("provisioner_scheduled_jobs", "shard" => s.shard.to_string()).set(s.members as f64);
    }
    describe_gauge!(
        "provisioner_due_jobs",
        "Jobs and callback records due now that no worker has claimed: the backlog."
    );
    gauge!("provisioner_due_jobs").set(shards.iter().map(|s| s.due).sum::<u64>() as f64);
    describe_gauge!(
        "provisioner_oldest_due_seconds",
        Unit::Seconds,
        "How late the most overdue unclaimed job or callback is (0 when none is due)."
    );
    let oldest = shards
        .iter()
        .map(ShardFigures::oldest_due)
        .max()
        .unwrap_or_default();
    gauge!("provisioner_oldest_due_seconds").set(oldest.as_secs_f64());
}

fn record_jobs(jobs: &[JobCount]) {
    describe_gauge!(
        "provisioner_jobs",
        "Jobs by state and provider, all shards: live states are the jobs in them now; \
         succeeded, failed and cancelled count every job that ended so, retention-expired ones included."
    );
    for j in jobs {
        gauge!("provisioner_jobs", "state" => j.state.clone(), "provider" => j.provider.clone())
            .set(j.jobs as f64);
    }
}

fn record_workers(stats: &[(WorkerStat, u64)]) {
    describe_counter!(
        "provisioner_steps_total",
        "Steps run by all workers, by provider, step and outcome (next, wait, retry, fail, attention); flushed every 10 s."
    );
    describe_counter!(
        "provisioner_callbacks_total",
        "Job callback delivery attempts by all workers, by result (delivered, retry, abandoned); flushed every 10 s."
    );
    for (stat, n) in stats {
        match stat {
            WorkerStat::Step {
                provider,
                step,
                outcome,
            } => counter!(
                "provisioner_steps_total",
                "provider" => provider.clone(),
                "step" => step.clone(),
                "outcome" => outcome.clone()
            )
            .absolute(*n),
            WorkerStat::Callback { result } => {
                counter!("provisioner_callbacks_total", "result" => result.clone()).absolute(*n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_counters_render_with_route_templates_and_fixed_labels() {
        let m = ApiMetrics::default();
        m.request("/v1/jobs/{id}", "GET", 200, Duration::from_millis(2));
        m.request("/v1/jobs/{id}", "GET", 200, Duration::from_millis(30));
        m.request("/v1/jobs/{id}", "GET", 404, Duration::from_millis(1));
        m.request(UNMATCHED, "other", 404, Duration::from_millis(1));
        m.job_enqueued(ProviderKind::Hostkey, JobKind::Provision);
        m.job_enqueued(ProviderKind::Hostkey, JobKind::Provision);
        m.webhook("provision");
        m.webhook("invalid_signature");
        m.webhook("invalid_signature");
        let text = m.render();
        for line in [
            "# TYPE provisioner_http_requests_total counter",
            "# TYPE provisioner_http_request_duration_seconds histogram",
            "provisioner_http_requests_total{route=\"/v1/jobs/{id}\",method=\"GET\",status=\"200\"} 2",
            "provisioner_http_requests_total{route=\"/v1/jobs/{id}\",method=\"GET\",status=\"404\"} 1",
            "provisioner_http_requests_total{route=\"<unmatched>\",method=\"other\",status=\"404\"} 1",
            "provisioner_http_request_duration_seconds_bucket{route=\"/v1/jobs/{id}\",le=\"0.005\"} 2",
            "provisioner_http_request_duration_seconds_count{route=\"/v1/jobs/{id}\"} 3",
            "provisioner_jobs_enqueued_total{provider=\"hostkey\",kind=\"provision\"} 2",
            "provisioner_webhooks_total{result=\"invalid_signature\"} 2",
            "provisioner_webhooks_total{result=\"provision\"} 1",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn two_instances_keep_their_own_counts() {
        let a = ApiMetrics::default();
        let b = ApiMetrics::default();
        a.webhook("provision");
        assert!(
            a.render()
                .contains("provisioner_webhooks_total{result=\"provision\"} 1\n")
        );
        assert!(
            !b.render().contains("provisioner_webhooks_total{"),
            "{}",
            b.render()
        );
    }

    #[test]
    fn schedule_jobs_and_worker_figures() {
        let shard = |shard, members, due, earliest: Option<u64>| ShardFigures {
            shard,
            members,
            due,
            earliest: earliest.map(provisioner_shared::time::Millis),
            now: provisioner_shared::time::Millis(100_000),
        };
        let snapshot = Snapshot {
            due: Some(vec![
                shard(0, 5, 2, Some(97_500)),
                shard(1, 3, 0, Some(160_000)),
                shard(2, 0, 0, None),
            ]),
            jobs: Some(vec![JobCount {
                state: "succeeded".into(),
                provider: "noop".into(),
                jobs: 4,
            }]),
            workers: Some(vec![
                (
                    WorkerStat::Step {
                        provider: "noop".into(),
                        step: "noop".into(),
                        outcome: "next".into(),
                    },
                    7,
                ),
                (
                    WorkerStat::Callback {
                        result: "delivered".into(),
                    },
                    1,
                ),
            ]),
            guards: Some(vec![guard::AccountGuard {
                account: "hk".into(),
                open: 2,
                cap: Some(3),
                spent: Some((1250, 5000)),
            }]),
            drift: None,
        };
        let text = snapshot.render();
        for line in [
            "provisioner_redis_up 1",
            "provisioner_scheduled_jobs{shard=\"0\"} 5",
            "provisioner_scheduled_jobs{shard=\"2\"} 0",
            "provisioner_due_jobs 2",
            "provisioner_oldest_due_seconds 2.5",
            "provisioner_jobs{state=\"succeeded\",provider=\"noop\"} 4",
            "provisioner_steps_total{provider=\"noop\",step=\"noop\",outcome=\"next\"} 7",
            "provisioner_callbacks_total{result=\"delivered\"} 1",
            "provisioner_account_open_orders{account=\"hk\"} 2",
            "provisioner_account_open_orders_cap{account=\"hk\"} 3",
            "provisioner_account_spent_today{account=\"hk\"} 12.5",
            "provisioner_account_spent_today_cap{account=\"hk\"} 50",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn without_redis_only_the_process_figures_and_redis_down() {
        let text = Snapshot::default().render();
        assert!(text.contains("provisioner_redis_up 0\n"), "{text}");
        assert!(!text.contains("provisioner_due_jobs"), "{text}");
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
