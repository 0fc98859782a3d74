//! Every operation of `/openapi.json`, one `#[utoipa::path]` stub each, and the
//! list that puts them in the document ([`ApiDoc`]).
//!
//! To document a new route: add a stub here and its name to `paths(...)` below.
//! The stubs stand for the handlers (which stay free of documentation attributes)
//! and are never called; the tests check every routed `(method, path)` has one.

// The stubs only carry their attributes.
#![allow(dead_code)]

use super::Finish;
use super::schemas::{
    BadRequest, BillingEvent, CallsParams, DriftReport, EnqueueAnswer, ErrorEnvelope, Forbidden,
    Internal, Invalid, JobEvent, JobPage, JobPath, JobRequestBody, ListParams, NotFound,
    ResolutionBody, Session, SignIn, Status, TokenPath, TooLarge, Unauthorized,
    UnsupportedMediaType,
};
use crate::webhooks::Answer;
use provisioner_shared::calls::ProviderCall;
use provisioner_shared::credentials::Credentials;
use provisioner_shared::job::JobView;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Provisioner API",
        description = include_str!("description.md"),
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/", description = "this API")),
    tags(
        (name = "jobs", description = "Enqueue, read, list, act on and follow jobs."),
        (name = "inbound", description = "Signed billing webhooks, provider callbacks and cloud-init documents (no bearer token)."),
        (name = "operations", description = "Health, metrics, this document and the dashboard (no token)."),
        (name = "outbound", description = "What Provisioner sends: listed under `webhooks`, not served."),
    ),
    security(("bearer" = [])),
    paths(
        create_job,
        list_jobs,
        get_job,
        cancel_job,
        retry_job,
        resolve_job,
        job_events,
        job_credentials,
        job_calls,
        drift_report,
        billing_webhook,
        provider_callback,
        provider_callback_get,
        cloud_init_document,
        healthz,
        readyz,
        metrics,
        openapi,
        dashboard,
        sign_in,
        current_session,
        sign_out,
        job_callback,
    ),
    components(responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        TooLarge,
        UnsupportedMediaType,
        Invalid,
        Internal
    )),
    modifiers(&Finish),
)]
pub(super) struct ApiDoc;

/// The outbound job callback: moved from `paths` to the document's `webhooks`
/// (utoipa has no webhooks of its own), under this name.
pub(super) const JOB_CALLBACK: &str = "jobCallback";

/// Enqueue a job
///
/// The body is checked before anything is written; a bad field is a 422 naming it.
/// With an `Idempotency-Key`, the same key and the same body give the same job (200)
/// while the key is remembered (`api.idempotency_ttl`); the same key with another
/// body is a 409. A reinstall or deprovision of a server another live job holds is a
/// 409 `server_busy` naming that job. A provision of an account with
/// `max_open_orders` that has that many open provisions is a 422 `cap_reached` naming
/// the key (`accounts[N].max_open_orders`); so is one of an account that has ordered
/// its `max_amount_per_day` today (`accounts[N].max_amount_per_day`).
///
/// With `dry_run=true` (query) or `"dry_run": true` (body) nothing is written and
/// nothing is ordered: the request is parsed the same way (the same 4xx), then a
/// worker runs the provider's read-only checks and the answer is a `DryRun` (200;
/// `ok` is false when problems were found). A dry run ignores `Idempotency-Key`. No
/// worker answering within `api.dry_run_timeout` is a 504 `dry_run_timeout`.
#[utoipa::path(
    post, path = "/v1/jobs", tag = "jobs", operation_id = "createJob",
    security(("bearer" = ["write"])),
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255,
        description = "1 to 255 printable ASCII characters, sent once."),
        ("dry_run" = Option<bool>, Query,
        description = "`true` checks the request against the provider without ordering (a `DryRun` answer); `false` (the default) enqueues.")),
    request_body(content = JobRequestBody, examples(
        ("hostkey" = (summary = "HOSTKEY provision with a PXE reinstall", value = json!({
            "kind": "provision", "account": "hk-nl", "reference": "whmcs-service-1234",
            "order": {"preset": "vm.pico", "location": "NL", "os_id": 180,
                      "traffic_plan": 25, "deploy_period": "monthly"},
            "hostname": "web-1.example.com", "root_password": "S3cure!pass",
            "ssh_keys": ["ssh-ed25519 AAAA... ops@example.com"],
            "reinstall": {"os_id": 183},
            "callback_url": "https://billing.example.com/hooks/provisioner"}))),
        ("noop" = (summary = "A smoke-test job at the built-in noop provider", value = json!({
            "kind": "provision", "account": "noop", "order": {"steps": 2}}))),
        ("deprovision" = (summary = "Deprovision a server", value = json!({
            "kind": "deprovision", "account": "hk-nl", "server_id": "40514"}))),
    )),
    responses(
        (status = 202, description = "A new job, queued.", body = JobView,
            headers(("Location" = String, description = "`/v1/jobs/{id}`")),
            links(
                ("getJob" = (operation_id = "getJob", parameters(("id" = "$response.body#/id")))),
                ("cancelJob" = (operation_id = "cancelJob", parameters(("id" = "$response.body#/id")))),
                ("retryJob" = (operation_id = "retryJob", parameters(("id" = "$response.body#/id")))),
                ("resolveJob" = (operation_id = "resolveJob", parameters(("id" = "$response.body#/id")))),
                ("jobCredentials" = (operation_id = "jobCredentials", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 200, description = "The job an earlier request with the same `Idempotency-Key` and body created (with `Location`); or a dry run's answer (without).",
            body = EnqueueAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, description = "`idempotency_conflict` (same key, other body), `idempotency_in_progress` (retry), or `server_busy` (another live job holds the server).", body = ErrorEnvelope),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
        (status = 504, description = "`dry_run_timeout`: no worker answered a dry run within `api.dry_run_timeout`.", body = ErrorEnvelope),
    ),
)]
fn create_job() {}

/// List jobs, newest first
///
/// Filters combine. One request reads a bounded number of index entries;
/// `next_cursor` is set whenever more may follow (pass it back as `cursor`), so a
/// page may hold fewer than `limit` jobs and still have a next one.
#[utoipa::path(
    get, path = "/v1/jobs", tag = "jobs", operation_id = "listJobs",
    security(("bearer" = ["read"])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of jobs.", body = JobPage),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
    ),
)]
fn list_jobs() {}

/// One job
#[utoipa::path(
    get, path = "/v1/jobs/{id}", tag = "jobs", operation_id = "getJob",
    security(("bearer" = ["read"])),
    params(JobPath),
    responses(
        (status = 200, description = "The job.", body = JobView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ),
)]
fn get_job() {}

/// Request cancellation
///
/// Also settles a job that needs attention. Recorded on the job; the worker holding
/// it acts at its next commit (a job nobody holds is made due now). Finalizers (PXE
/// cleared, boot from disk) and compensation (the ordered server cancelled) run. No
/// body.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/cancel", tag = "jobs", operation_id = "cancelJob",
    security(("bearer" = ["write"])),
    params(JobPath),
    responses(
        (status = 202, description = "Cancellation recorded; the job as it now stands.", body = JobView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`invalid_state`: the job already ended.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
)]
fn cancel_job() {}

/// Resume a failed job, or poll a waiting one now
///
/// A `failed` job resumes at its failed step with fresh attempts; a `queued`,
/// `running` or `waiting` job is poked (its wait ends now). No body.
#[utoipa::path(
    post, path = "/v1/jobs/{id}/retry", tag = "jobs", operation_id = "retryJob",
    security(("bearer" = ["write"])),
    params(JobPath),
    responses(
        (status = 202, description = "The job as it now stands.", body = JobView),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`invalid_state` (succeeded, cancelled, or needs attention: resolve it) or `version_conflict` (it changed meanwhile: try again).", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
)]
fn retry_job() {}

/// Settle a job that needs attention
///
/// `adopt`: the operator vouches that the step's call happened (optionally naming
/// the order, server or invoice id it made) and the job goes on after it. `reorder`:
/// the operator checked that nothing was made; the step runs again. `fail`: the job
/// fails (finalizers and compensation run).
#[utoipa::path(
    post, path = "/v1/jobs/{id}/resolve", tag = "jobs", operation_id = "resolveJob",
    security(("bearer" = ["write"])),
    params(JobPath),
    request_body = ResolutionBody,
    responses(
        (status = 202, description = "The job as it now stands.", body = JobView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`invalid_state` (the job does not need attention) or `version_conflict`.", body = ErrorEnvelope),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
    ),
)]
fn resolve_job() {}

/// Follow a job (server-sent events)
///
/// `text/event-stream`: first the job as it is, then an event whenever the job JSON
/// changes, until the job ends (the stream closes after the terminal state), its
/// record disappears, or the server shuts down. Each event is `event: job`,
/// `id: <record version>`, `data: <job JSON>`; comments keep the connection alive.
/// Browsers' `EventSource` cannot send the bearer header: read the stream with
/// `fetch` instead (the dashboard does).
#[utoipa::path(
    get, path = "/v1/jobs/{id}/events", tag = "jobs", operation_id = "jobEvents",
    security(("bearer" = ["read"])),
    params(JobPath),
    responses(
        (status = 200, description = "The event stream.", body = JobEvent, content_type = "text/event-stream",
            example = "event: job\nid: 7\ndata: {\"id\":\"01JD...\",\"state\":\"waiting\",...}\n\n"),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
        (status = 503, description = "`too_many_streams`: this process already serves `api.max_event_streams` streams; come back after `Retry-After` seconds.",
            body = ErrorEnvelope, headers(("Retry-After" = u32, description = "Seconds."))),
    ),
)]
fn job_events() {}

/// The login of a job's server
///
/// The one answer that carries a secret, for a token with the `credentials` scope
/// only. `password` is the request's `root_password` (`source: given`), the one
/// generated for the job (`generated`), or the one the provider set and reported
/// (`provider`: Inferno); null (with `source` null) when no password is known to be
/// set (a Klikk order with its own `cloud_init_url`, a Klikk worker without
/// `api.public_url`). Available once the server exists (`server.id` is set; for a
/// reinstall, once it succeeded); before that a 409 `not_ready`, and a deprovision
/// has none (409 `invalid_state`). Never cached (`Cache-Control: no-store`), never
/// logged; each read is recorded on the job first (`credential_reads`: when, and the
/// token's name).
#[utoipa::path(
    get, path = "/v1/jobs/{id}/credentials", tag = "jobs", operation_id = "jobCredentials",
    security(("bearer" = ["credentials"])),
    params(JobPath),
    responses(
        (status = 200, description = "The login.", body = Credentials,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "`not_ready`: the server does not exist yet (or the reinstall has not finished); `invalid_state`: a deprovision has no login.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
)]
fn job_credentials() {}

/// The job's audit trail of provider calls
///
/// Every call a step of the job made to its provider, oldest first: when, which
/// account, step and attempt, method, path (never a query string), the provider's
/// action, status, latency, and the request and response bodies as the worker's one
/// redaction left them, cut to `[audit] body_bytes`. The last `[audit]
/// calls_per_job` calls are kept, as long as the job.
#[utoipa::path(
    get, path = "/v1/jobs/{id}/calls", tag = "jobs", operation_id = "jobCalls",
    security(("bearer" = ["read"])),
    params(JobPath, CallsParams),
    responses(
        (status = 200, description = "The calls, oldest first.", content(
            (Vec<ProviderCall> = "application/json"),
            (ProviderCall = "application/x-ndjson"),
        )),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
    ),
)]
fn job_calls() {}

/// The last drift sweep's findings
///
/// Every `[drift] interval` one worker lists each account's servers and orders at
/// its provider and compares them with the jobs. Findings: `untracked` (a server or
/// order no job made or names), `gone` (a succeeded provision's server the provider
/// no longer lists), `unpaid` (an order unpaid past `deadlines.payment`). Each
/// account's listing is `ok`, `error` (with the provider's words) or `unsupported`.
/// Nothing is acted on.
#[utoipa::path(
    get, path = "/v1/drift", tag = "jobs", operation_id = "driftReport",
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The report.", body = DriftReport),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    ),
)]
fn drift_report() {}

/// A signed billing event
///
/// Standard Webhooks: `webhook-signature` = `v1,<base64 HMAC-SHA256(key,
/// "{webhook-id}.{webhook-timestamp}.{raw body}")>` with `api.webhook_secret`
/// (`whsec_<base64>`: the key is the decoded bytes); several space-separated
/// signatures may be sent, and one match with any configured secret is enough. The
/// signature is checked on the raw body before anything is parsed. Timestamps more
/// than 5 minutes away are refused. A `webhook-id` seen before is answered 200 with
/// what was done then and `"duplicate": true`. A refused delivery writes nothing, so
/// the sender's retry acts. Unknown event types are answered 202 `ignored`. 404 when
/// `api.webhook_secret` is not configured.
#[utoipa::path(
    post, path = "/v1/webhooks/billing", tag = "inbound", operation_id = "billingWebhook",
    security(()),
    params(
        ("webhook-id" = String, Header),
        ("webhook-timestamp" = String, Header, description = "Unix seconds.", pattern = "^[0-9]+$"),
        ("webhook-signature" = String, Header),
    ),
    request_body(content = BillingEvent, examples(
        ("service.created" = (value = json!({"type": "service.created", "data": {
            "service_id": "1234", "plan": "vps-small", "hostname": "web-1.example.com",
            "root_password": "S3cure!pass", "ssh_keys": []}}))),
        ("service.terminated" = (value = json!({"type": "service.terminated", "data": {"service_id": "1234"}}))),
        ("invoice.paid" = (value = json!({"type": "invoice.paid", "data": {"service_id": "1234"}}))),
    )),
    responses(
        (status = 202, description = "Acted on.", body = Answer),
        (status = 200, description = "A duplicate `webhook-id`: what was done the first time, `duplicate: true`.", body = Answer),
        (status = 400, description = "`invalid_header` (missing or malformed `webhook-id`/`webhook-timestamp`), `stale_timestamp`, `invalid_json` or `invalid_body`.", body = ErrorEnvelope),
        (status = 401, description = "`invalid_signature`: no signature, or none matches.", body = ErrorEnvelope),
        (status = 404, description = "Billing webhooks are off (`api.webhook_secret` not configured).", body = ErrorEnvelope),
        (status = 409, description = "`webhook_in_progress` (another copy of this delivery is being handled: retry), or a conflict of the job it would create.", body = ErrorEnvelope),
        (status = 413, response = TooLarge),
        (status = 422, description = "`invalid_field`: a bad event field, named (`data.plan`, `data.hostname`).", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
)]
fn billing_webhook() {}

/// A provider's "install done"
///
/// The per-job URL the worker gives a provider (HOSTKEY's `post_install_callback`):
/// `{api.public_url}/v1/callbacks/{id}/{token}`, where the token is an HMAC of the
/// job id. A valid call makes the job's wait end now (its next poll asks the
/// provider); it is trusted for nothing else. Any body is ignored. A wrong token and
/// an unknown job answer the same 404.
#[utoipa::path(
    post, path = "/v1/callbacks/{id}/{token}", tag = "inbound", operation_id = "providerCallback",
    security(()),
    params(TokenPath),
    responses(
        (status = 204, description = "Noted (also for a job that no longer waits)."),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ),
)]
fn provider_callback() {}

/// The same, as GET
///
/// Seed 002 only says the URL is "invoked": GET is accepted too.
#[utoipa::path(
    get, path = "/v1/callbacks/{id}/{token}", tag = "inbound", operation_id = "providerCallbackGet",
    security(()),
    params(TokenPath),
    responses(
        (status = 204, description = "Noted."),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ),
)]
fn provider_callback_get() {}

/// A Klikk server's cloud-init document
///
/// Klikk's API takes no root password: the worker puts
/// `{api.public_url}/v1/cloud-init/{id}/{token}` in the order's `cloud_init_url`
/// (unless the request gives its own), and the new server fetches this
/// `#cloud-config` document when it first boots. It sets root's password (the
/// request's `root_password`, else a generated one) and the request's `ssh_keys`.
/// The token is an HMAC of the job id with a label of its own (a provider callback
/// token does not open it). Served while the job runs and for an hour after it
/// ended; never cached (`Cache-Control: no-store`). A wrong token, an unknown job
/// and a job without such a document answer the same 404.
#[utoipa::path(
    get, path = "/v1/cloud-init/{id}/{token}", tag = "inbound", operation_id = "cloudInitDocument",
    security(()),
    params(TokenPath),
    responses(
        (status = 200, description = "The document.", body = String, content_type = "text/cloud-config",
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    ),
)]
fn cloud_init_document() {}

/// Liveness
///
/// The process serves HTTP. Never touches Redis (a Redis outage must not get the API
/// restarted).
#[utoipa::path(
    get, path = "/healthz", tag = "operations", operation_id = "healthz",
    security(()),
    responses((status = 200, description = "Up: `{\"status\": \"ok\"}`.", body = Status)),
)]
fn healthz() {}

/// Readiness
///
/// Redis answers PING within 2 s.
#[utoipa::path(
    get, path = "/readyz", tag = "operations", operation_id = "readyz",
    security(()),
    responses(
        (status = 200, description = "Ready: `{\"status\": \"ready\"}`.", body = Status),
        (status = 503, description = "`unavailable`: Redis is not reachable.", body = ErrorEnvelope),
    ),
)]
fn readyz() {}

/// Prometheus metrics
///
/// Prometheus text exposition format 0.0.4. From this api process:
/// `provisioner_http_requests_total{route,method,status}` (route = the route
/// template, never the raw path), `provisioner_http_request_duration_seconds{route}`
/// (histogram, time to the response head),
/// `provisioner_jobs_enqueued_total{provider,kind}`,
/// `provisioner_webhooks_total{result}` (action taken, `duplicate`, or the error
/// code), `provisioner_build_info{version}`, `provisioner_redis_up`. From Redis at
/// scrape time (one script per shard, run concurrently):
/// `provisioner_scheduled_jobs{shard}` (members of each due-set, leased jobs and
/// callback records included), `provisioner_due_jobs` (due now and unclaimed: the
/// backlog), `provisioner_oldest_due_seconds` (how late the most overdue one is).
/// From all workers (flushed to Redis every 10 s and at shutdown):
/// `provisioner_steps_total{provider,step,outcome}` (outcome: next, wait, retry,
/// fail, attention), `provisioner_callbacks_total{result}` (delivered, retry,
/// abandoned). No label carries a secret, a job id or a hostname. When Redis does
/// not answer within 2 s the page still has the process's figures and
/// `provisioner_redis_up 0`.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    security(()),
    responses(
        (status = 200, description = "The metrics page.", body = String, content_type = "text/plain; version=0.0.4",
            example = "# HELP provisioner_due_jobs Jobs and callback records due now that no worker has claimed: the backlog.\n# TYPE provisioner_due_jobs gauge\nprovisioner_due_jobs 0\n"),
    ),
)]
fn metrics() {}

/// This document
///
/// Generated from the code (`utoipa`): every route, request, response and error.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1.", body = Object)),
)]
fn openapi() {}

/// The dashboard
///
/// One static page (no external resources): signs in through `/ui/session` with an
/// API token (the page keeps no token: an HttpOnly session cookie does; `#token=` in
/// the URL signs in at once and is stripped), lists jobs with filters and paging, shows a job's
/// step timeline, error and callbacks, follows a live job, and offers cancel, retry
/// and resolve with a confirmation. Served with a Content-Security-Policy that
/// allows only its own inline script and style, and `X-Content-Type-Options:
/// nosniff`.
#[utoipa::path(
    get, path = "/ui", tag = "operations", operation_id = "dashboard",
    security(()),
    responses((status = 200, description = "The page.", body = String, content_type = "text/html")),
)]
fn dashboard() {}

/// Sign the dashboard in
///
/// Checks `token` like the bearer check and sets the session cookie
/// (`provisioner_session`, or `__Host-provisioner_session` with `Secure` behind an
/// https `api.public_url`): HttpOnly, SameSite=Strict, Path=/, 8 hours. Requests
/// made on the cookie have the token's scopes; each POST on it must send the
/// answer's `csrf_token` as `X-CSRF-Token` (403 `csrf_failed` otherwise).
#[utoipa::path(
    post, path = "/ui/session", tag = "operations", operation_id = "signIn",
    security(()),
    request_body = SignIn,
    responses(
        (status = 201, description = "Signed in; `Set-Cookie` carries the session.", body = Session),
        (status = 400, response = BadRequest),
        (status = 403, description = "`forbidden` (`field` = `token`): the token is not accepted. No cookie is set.", body = ErrorEnvelope),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = Invalid),
        (status = 500, response = Internal),
    ),
)]
fn sign_in() {}

/// The dashboard's session
///
/// Who the session cookie stands for, and its CSRF token again (the page cannot read
/// the cookie).
#[utoipa::path(
    get, path = "/ui/session", tag = "operations", operation_id = "currentSession",
    security(()),
    responses(
        (status = 200, description = "Signed in.", body = Session),
        (status = 401, response = Unauthorized),
        (status = 500, response = Internal),
    ),
)]
fn current_session() {}

/// Sign the dashboard out
///
/// Clears the cookie. With a valid session cookie, `X-CSRF-Token` must match it (403
/// `csrf_failed` otherwise); without one, the same 204.
#[utoipa::path(
    delete, path = "/ui/session", tag = "operations", operation_id = "signOut",
    security(()),
    params(("X-CSRF-Token" = Option<String>, Header)),
    responses(
        (status = 204, description = "Signed out; `Set-Cookie` clears the cookie."),
        (status = 403, description = "`csrf_failed`: `X-CSRF-Token` missing or not this session's.", body = ErrorEnvelope),
        (status = 500, response = Internal),
    ),
)]
fn sign_out() {}

/// Job callback (outbound)
///
/// When a job with a `callback_url` ends (succeeded, failed, cancelled) or needs
/// attention, the job JSON is POSTed there, signed with `[callbacks] secret` in the
/// Standard Webhooks scheme (`webhook-id` is the same for every attempt of one
/// callback: de-duplicate on it; timestamp and signature are fresh each time).
/// Anything but a 2xx is retried with exponential backoff and full jitter for
/// `callbacks.retry_for` (24 h); redirects are not followed. Every attempt is listed
/// on the job under `callbacks`. The body's own `callbacks` and `credential_reads`
/// lists are empty. With `[callbacks] include_credentials` (off by default) a job
/// whose server exists also carries `credentials` (the `Credentials` object), added
/// at each attempt and recorded as a read. Delivery never changes the job.
#[utoipa::path(
    post, path = "jobCallback", tag = "outbound", operation_id = "jobCallback",
    security(()),
    params(
        ("webhook-id" = String, Header),
        ("webhook-timestamp" = String, Header),
        ("webhook-signature" = String, Header),
    ),
    request_body = JobView,
    responses((status = "2XX", description = "Delivered; any other answer is retried.")),
)]
fn job_callback() {}
