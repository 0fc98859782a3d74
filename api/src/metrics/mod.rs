//! `GET /metrics`: Prometheus text format, no token (like `/healthz`).
//!
//! Three sources, all cheap:
//! - this api process ([`ApiMetrics`]): requests by route template, method and
//!   status, their latency (a histogram by route), jobs enqueued, billing webhook
//!   results. Counted in memory under one short mutex per request.
//! - Redis at scrape time: each shard's due-set in one script per shard, all shards
//!   at once (`Store::due_figures`).
//! - the workers' step and callback counters, which they flush to one hash every
//!   few seconds (`Store::worker_stats`).
//!
//! Labels are route templates (`/v1/jobs/{id}`), never raw paths, and otherwise
//! fixed names: no token, job id, hostname or anything else a request carried can
//! become a label. When Redis does not answer in time the page still has the
//! process's own figures, and `provisioner_redis_up` is 0.

mod exposition;

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use exposition::{CONTENT_TYPE, Exposition, Histogram, Kind};
use provisioner_shared::ProviderKind;
use provisioner_shared::request::JobKind;
use provisioner_shared::store::{ShardFigures, StoreError, WorkerStat};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a scrape waits for Redis; shorter than Prometheus's default 10 s
/// scrape timeout, so the scraper gets our page rather than its own error.
const REDIS_WITHIN: Duration = Duration::from_secs(2);

/// The route label of a request no route matched.
const UNMATCHED: &str = "<unmatched>";

/// What this api process has counted since it started.
#[derive(Debug, Default)]
pub(crate) struct ApiMetrics {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    routes: BTreeMap<String, RouteCounts>,
    enqueued: BTreeMap<(&'static str, &'static str), u64>,
    webhooks: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct RouteCounts {
    /// (method, status) → responses.
    responses: BTreeMap<(&'static str, u16), u64>,
    latency: Histogram,
}

impl ApiMetrics {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One answered request. `route` is a route template or [`UNMATCHED`].
    fn request(&self, route: &str, method: &'static str, status: u16, took: Duration) {
        let mut counts = self.lock();
        // Allocates only the first time a route is seen.
        let per_route = match counts.routes.get_mut(route) {
            Some(r) => r,
            None => counts.routes.entry(route.to_owned()).or_default(),
        };
        *per_route.responses.entry((method, status)).or_insert(0) += 1;
        per_route.latency.observe(took);
    }

    /// A job was written (by `POST /v1/jobs` or a billing webhook).
    pub(crate) fn job_enqueued(&self, provider: ProviderKind, kind: JobKind) {
        *self
            .lock()
            .enqueued
            .entry((provider.as_str(), kind.as_str()))
            .or_insert(0) += 1;
    }

    /// A billing webhook delivery ended in `result`: the action taken, `duplicate`,
    /// or the error code it was refused with (all fixed words of the api's code).
    pub(crate) fn webhook(&self, result: &str) {
        let mut counts = self.lock();
        match counts.webhooks.get_mut(result) {
            Some(n) => *n += 1,
            None => {
                counts.webhooks.insert(result.to_owned(), 1);
            }
        }
    }

    fn render(&self, out: &mut Exposition) {
        let counts = self.lock();
        out.family(
            "provisioner_http_requests_total",
            Kind::Counter,
            "HTTP requests answered, by route template, method and status.",
        );
        for (route, r) in &counts.routes {
            for ((method, status), n) in &r.responses {
                let status = status.to_string();
                let labels = [
                    ("route", route.as_str()),
                    ("method", method),
                    ("status", &status),
                ];
                out.sample("provisioner_http_requests_total", &labels, *n);
            }
        }
        out.family(
            "provisioner_http_request_duration_seconds",
            Kind::Histogram,
            "Time to the response head, by route template (an event stream's life is not counted).",
        );
        for (route, r) in &counts.routes {
            out.histogram(
                "provisioner_http_request_duration_seconds",
                &[("route", route)],
                &r.latency,
            );
        }
        out.family(
            "provisioner_jobs_enqueued_total",
            Kind::Counter,
            "Jobs written by this api process (POST /v1/jobs and billing webhooks).",
        );
        for ((provider, kind), n) in &counts.enqueued {
            let labels = [("provider", *provider), ("kind", *kind)];
            out.sample("provisioner_jobs_enqueued_total", &labels, *n);
        }
        out.family(
            "provisioner_webhooks_total",
            Kind::Counter,
            "Billing webhook deliveries, by result: the action taken, duplicate, or the error code.",
        );
        for (result, n) in &counts.webhooks {
            out.sample("provisioner_webhooks_total", &[("result", result)], *n);
        }
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

/// `GET /metrics`.
pub(crate) async fn scrape(State(state): State<AppState>) -> Response {
    let (due, workers) = tokio::join!(
        tokio::time::timeout(REDIS_WITHIN, state.store.due_figures()),
        tokio::time::timeout(REDIS_WITHIN, state.store.worker_stats()),
    );
    let due = settle(due, "the due-sets");
    let workers = settle(workers, "the worker counters");
    let redis_up = due.is_some() && workers.is_some();

    let mut out = Exposition::default();
    out.family(
        "provisioner_build_info",
        Kind::Gauge,
        "Always 1; the version of this api process.",
    );
    out.sample(
        "provisioner_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );
    out.family(
        "provisioner_redis_up",
        Kind::Gauge,
        "1 when this scrape could read Redis; the Redis figures are missing when 0.",
    );
    out.sample("provisioner_redis_up", &[], u64::from(redis_up));
    state.metrics.render(&mut out);
    if let Some(shards) = due {
        render_schedule(&mut out, &shards);
    }
    if let Some(stats) = workers {
        render_workers(&mut out, &stats);
    }
    let mut res = out.finish().into_response();
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

fn render_schedule(out: &mut Exposition, shards: &[ShardFigures]) {
    out.family(
        "provisioner_scheduled_jobs",
        Kind::Gauge,
        "Members of each shard's due-set: waiting, due and leased jobs, and callback records.",
    );
    for s in shards {
        let shard = s.shard.to_string();
        out.sample(
            "provisioner_scheduled_jobs",
            &[("shard", &shard)],
            s.members,
        );
    }
    out.family(
        "provisioner_due_jobs",
        Kind::Gauge,
        "Jobs and callback records due now that no worker has claimed: the backlog.",
    );
    out.sample(
        "provisioner_due_jobs",
        &[],
        shards.iter().map(|s| s.due).sum(),
    );
    out.family(
        "provisioner_oldest_due_seconds",
        Kind::Gauge,
        "How late the most overdue unclaimed job or callback is (0 when none is due).",
    );
    let oldest = shards
        .iter()
        .map(ShardFigures::oldest_due)
        .max()
        .unwrap_or_default();
    out.sample_f64("provisioner_oldest_due_seconds", &[], oldest.as_secs_f64());
}

fn render_workers(out: &mut Exposition, stats: &[(WorkerStat, u64)]) {
    out.family(
        "provisioner_steps_total",
        Kind::Counter,
        "Steps run by all workers, by provider, step and outcome (next, wait, retry, fail, attention); flushed every 10 s.",
    );
    for (stat, n) in stats {
        if let WorkerStat::Step {
            provider,
            step,
            outcome,
        } = stat
        {
            let labels = [
                ("provider", provider.as_str()),
                ("step", step),
                ("outcome", outcome),
            ];
            out.sample("provisioner_steps_total", &labels, *n);
        }
    }
    out.family(
        "provisioner_callbacks_total",
        Kind::Counter,
        "Job callback delivery attempts by all workers, by result (delivered, retry, abandoned); flushed every 10 s.",
    );
    for (stat, n) in stats {
        if let WorkerStat::Callback { result } = stat {
            out.sample("provisioner_callbacks_total", &[("result", result)], *n);
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
        let mut out = Exposition::default();
        m.render(&mut out);
        let text = out.finish();
        for line in [
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
    fn schedule_and_worker_figures() {
        let shard = |shard, members, due, earliest: Option<u64>| ShardFigures {
            shard,
            members,
            due,
            earliest: earliest.map(provisioner_shared::time::Millis),
            now: provisioner_shared::time::Millis(100_000),
        };
        let mut out = Exposition::default();
        render_schedule(
            &mut out,
            &[
                shard(0, 5, 2, Some(97_500)),
                shard(1, 3, 0, Some(160_000)),
                shard(2, 0, 0, None),
            ],
        );
        render_workers(
            &mut out,
            &[
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
            ],
        );
        let text = out.finish();
        for line in [
            "provisioner_scheduled_jobs{shard=\"0\"} 5",
            "provisioner_scheduled_jobs{shard=\"2\"} 0",
            "provisioner_due_jobs 2",
            "provisioner_oldest_due_seconds 2.5",
            "provisioner_steps_total{provider=\"noop\",step=\"noop\",outcome=\"next\"} 7",
            "provisioner_callbacks_total{result=\"delivered\"} 1",
        ] {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line:?} in\n{text}"
            );
        }
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
