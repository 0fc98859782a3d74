//! Schemas of what has no Rust type of its own to derive from: request bodies as
//! sent (the api reads them as JSON objects and parses them field by field, into
//! types that are not the wire format), the error envelope, and the reusable error
//! responses. The job JSON's schemas come from its own types in
//! `provisioner_shared::job` (feature `openapi`).

// The types here only describe JSON: they are never built.
#![allow(dead_code)]

use provisioner_shared::job::{JobState, JobView};
use provisioner_shared::request::JobKind;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::{IntoParams, ToResponse, ToSchema};

/// A JSON string or a whole number (ids some providers give as numbers).
fn string_or_integer() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Integer]))
            .build(),
    )
}

/// Any JSON value but null (a string or a number, by the account's provider).
fn string_or_number() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Integer, Type::String]))
            .build(),
    )
}

/// Every error: `field` names the body field (`order.os_id`), query parameter or
/// header at fault, or is null.
#[derive(ToSchema)]
#[schema(as = Error)]
pub(super) struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(ToSchema)]
pub(super) struct ErrorBody {
    code: ErrorCode,
    message: String,
    /// The body field, query parameter or header at fault.
    #[schema(required)]
    field: Option<String>,
}

/// Every `error.code` the api answers with (the tests check the source uses no other).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ErrorCode {
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    InvalidJson,
    InvalidBody,
    UnsupportedMediaType,
    BodyTooLarge,
    InvalidField,
    InvalidHeader,
    IdempotencyConflict,
    IdempotencyInProgress,
    ServerBusy,
    InvalidState,
    NotReady,
    VersionConflict,
    Unavailable,
    Internal,
    InvalidSignature,
    StaleTimestamp,
    WebhookInProgress,
    RequestTimeout,
    TooManyStreams,
    CsrfFailed,
    CapReached,
    DryRunTimeout,
}

/// `POST /v1/jobs`. Which fields are required depends on `kind` and on the
/// account's provider: a provision takes `order` (and `hostname`, except at noop);
/// `root_password` is optional at every provider (see its description); `reinstall`
/// (the PXE reinstall after delivery) is HOSTKEY only. A reinstall or deprovision
/// names an existing server with `server_id` instead of `order`; a reinstall takes
/// `reinstall` (HOSTKEY also `hostname`); Klikk offers no reinstall (422). An
/// Inferno `server_id` is its order id, a whole number. A missing or ill-typed field
/// is a 422 naming it.
#[derive(ToSchema)]
#[schema(as = JobRequest)]
#[serde(deny_unknown_fields)]
pub(super) struct JobRequestBody {
    kind: JobKind,
    /// An `[[accounts]]` name; it decides the provider.
    account: String,
    /// The same as the `dry_run` query parameter; never stored.
    #[serde(default)]
    dry_run: bool,
    /// Yours (e.g. the billing service id); filterable.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    reference: String,
    /// What to order, by the account's provider.
    #[serde(default)]
    order: OrderBody,
    /// The existing server (reinstall, deprovision).
    #[serde(default)]
    #[schema(schema_with = string_or_integer)]
    server_id: String,
    /// RFC 1123 host name.
    #[serde(default)]
    #[schema(max_length = 253)]
    hostname: String,
    /// Optional at every provider; sealed at rest, never shown in a job. HOSTKEY and
    /// IDCloudHost get it with the order (and a reinstall); Klikk through the job's
    /// cloud-init document (`GET /v1/cloud-init/{id}/{token}`), unless
    /// `order.cloud_init_url` is the request's own (then it cannot be set: the job
    /// gets a warning); Inferno sets its own (the given one is not used: the job gets
    /// a warning). Without one, a password meeting the provider's policy is
    /// generated where Provisioner sets it.
    #[serde(default)]
    #[schema(min_length = 8, max_length = 128, write_only)]
    root_password: String,
    /// Public keys for root.
    #[serde(default)]
    #[schema(max_items = 32)]
    ssh_keys: Vec<String>,
    /// Sealed at rest; never shown again. At most 64 KiB.
    #[serde(default)]
    #[schema(write_only)]
    post_install_script: String,
    /// The OS to install after delivery (HOSTKEY) or for a reinstall, by provider.
    #[serde(default)]
    reinstall: ReinstallBody,
    /// Gets the signed job JSON when the job ends or needs attention. https and a
    /// public address unless `callbacks.allow_private`; refused (422) when no
    /// `[callbacks] secret` is configured.
    #[serde(default)]
    #[schema(format = "uri")]
    callback_url: String,
}

/// What to order, by the account's provider.
#[derive(ToSchema)]
#[serde(untagged)]
pub(super) enum OrderBody {
    Hostkey(HostkeyOrder),
    Klikk(KlikkOrder),
    Inferno(InfernoOrder),
    Idcloudhost(IdcloudhostOrder),
    Noop(NoopOrder),
}

/// A HOSTKEY order (seed 002).
#[derive(ToSchema)]
#[schema(title = "hostkey")]
#[serde(deny_unknown_fields)]
pub(super) struct HostkeyOrder {
    preset: String,
    location: HostkeyLocation,
    os_id: u64,
    #[schema(schema_with = string_or_number)]
    traffic_plan: String,
    deploy_period: DeployPeriod,
    #[serde(default)]
    soft_id: u64,
    /// Percent of the disk.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    root_size: u64,
    #[serde(default)]
    #[schema(value_type = i64, minimum = -1, maximum = 3)]
    jenkins_task: i64,
}

#[derive(ToSchema)]
pub(super) enum HostkeyLocation {
    NL,
    US,
    FI,
    DE,
    IS,
    TR,
}

#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
pub(super) enum DeployPeriod {
    Monthly,
    Quarterly,
    SemiAnnually,
    Annually,
}

/// A Klikk order (seeds 000, 001).
#[derive(ToSchema)]
#[schema(title = "klikk")]
#[serde(deny_unknown_fields)]
pub(super) struct KlikkOrder {
    #[serde(default)]
    #[schema(default = "VPS")]
    product: String,
    #[schema(exclusive_minimum = 0)]
    ram_gb: f64,
    #[schema(minimum = 1)]
    cpu: u64,
    #[schema(minimum = 1)]
    storage_gb: u64,
    /// An OS name (with `os_version`) or a numeric id.
    #[schema(schema_with = string_or_integer)]
    os: String,
    #[serde(default)]
    os_version: String,
    /// Who may reach SSH (seed 000 requires it).
    ip_allow: String,
    #[serde(default)]
    #[schema(schema_with = string_or_integer)]
    antiaffinity: String,
    #[serde(default)]
    #[schema(schema_with = string_or_integer)]
    firewall_id: String,
    #[serde(default)]
    firewall_addme: bool,
    #[serde(default)]
    ipv4: bool,
    #[serde(default)]
    public_ports_allow: String,
    /// Your own cloud-init document instead of the job's (then no root password can
    /// be set).
    #[serde(default)]
    #[schema(format = "uri")]
    cloud_init_url: String,
}

/// An Inferno order (seed 003).
#[derive(ToSchema)]
#[schema(title = "inferno")]
#[serde(deny_unknown_fields)]
pub(super) struct InfernoOrder {
    product_id: u64,
    os_template: String,
}

/// An IDCloudHost order (seed 004).
#[derive(ToSchema)]
#[schema(title = "idcloudhost")]
#[serde(deny_unknown_fields)]
pub(super) struct IdcloudhostOrder {
    os_name: String,
    os_version: String,
    #[schema(minimum = 1)]
    vcpu: u64,
    #[schema(minimum = 1)]
    ram_mb: u64,
    #[schema(minimum = 1)]
    disk_gb: u64,
    #[serde(default)]
    username: String,
    /// Location slug; default: the account's.
    #[serde(default)]
    location: String,
    #[serde(default)]
    billing_account_id: u64,
    #[serde(default)]
    designated_pool_uuid: String,
    #[serde(default)]
    network_uuid: String,
    /// A JSON object, or its text.
    #[serde(default)]
    #[schema(value_type = Object)]
    cloud_init: String,
    #[serde(default)]
    reserve_public_ip: bool,
}

/// The built-in provider for smoke tests and benchmarks.
#[derive(ToSchema)]
#[schema(title = "noop")]
#[serde(deny_unknown_fields)]
pub(super) struct NoopOrder {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000, default = 4)]
    steps: u32,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    wait_ms: u64,
}

/// The OS to install, by provider.
#[derive(ToSchema)]
#[serde(untagged)]
pub(super) enum ReinstallBody {
    Hostkey(HostkeyReinstall),
    Inferno(InfernoReinstall),
    Idcloudhost(IdcloudhostReinstall),
}

#[derive(ToSchema)]
#[schema(title = "hostkey")]
#[serde(deny_unknown_fields)]
pub(super) struct HostkeyReinstall {
    os_id: u64,
}

#[derive(ToSchema)]
#[schema(title = "inferno")]
#[serde(deny_unknown_fields)]
pub(super) struct InfernoReinstall {
    os_template: String,
}

#[derive(ToSchema)]
#[schema(title = "idcloudhost")]
#[serde(deny_unknown_fields)]
pub(super) struct IdcloudhostReinstall {
    os_name: String,
    os_version: String,
}

/// `POST /v1/jobs/{id}/resolve`.
#[derive(ToSchema)]
#[schema(as = Resolution)]
#[serde(deny_unknown_fields)]
pub(super) struct ResolutionBody {
    action: ResolveAction,
    /// Only with `adopt`: 1 to 64 characters without spaces.
    #[serde(default)]
    #[schema(schema_with = string_or_integer)]
    order_id: String,
}

/// `adopt`: the step's call happened; `reorder`: nothing was made, call again;
/// `fail`: the job fails.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum ResolveAction {
    Adopt,
    Reorder,
    Fail,
}

/// A page of jobs, newest first.
#[derive(ToSchema)]
#[schema(as = JobList)]
pub(super) struct JobPage {
    jobs: Vec<JobView>,
    /// Pass it back as `cursor` for the next page; null when nothing may follow.
    #[schema(required)]
    next_cursor: Option<String>,
}

/// `GET /v1/jobs` filters; they combine.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListParams {
    state: Option<JobState>,
    account: Option<String>,
    reference: Option<String>,
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u32>,
    /// A `next_cursor` from an earlier page.
    cursor: Option<String>,
}

/// A job's path.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct JobPath {
    /// A job id (a ULID).
    #[param(pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    id: String,
}

/// A job's path with the token the worker put in a URL it gave a provider.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct TokenPath {
    /// A job id (a ULID).
    #[param(pattern = "^[0-7][0-9A-HJKMNP-TV-Z]{25}$")]
    id: String,
    /// The job's token, as given in the URL.
    token: String,
}

/// A billing event (Standard Webhooks body).
#[derive(ToSchema)]
pub(super) struct BillingEvent {
    /// `service.created`, `service.terminated`, `invoice.paid`; other types are
    /// answered 202 `ignored`.
    #[serde(rename = "type")]
    event: String,
    data: BillingData,
}

/// `service.created` also takes `plan` (a `[plans.<name>]`), `hostname`,
/// `root_password`, `ssh_keys` and `callback_url`.
#[derive(ToSchema)]
pub(super) struct BillingData {
    #[schema(schema_with = string_or_integer)]
    service_id: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    #[schema(write_only)]
    root_password: String,
    #[serde(default)]
    ssh_keys: Vec<String>,
    #[serde(default)]
    #[schema(format = "uri")]
    callback_url: String,
}

/// One server-sent event of `GET /v1/jobs/{id}/events`.
#[derive(ToSchema)]
pub(super) struct JobEvent {
    /// Always `job`.
    event: String,
    /// The job record's version.
    id: String,
    /// The job JSON (the `Job` schema), as text.
    #[schema(content_media_type = "application/json")]
    data: String,
}

/// `/healthz`'s and `/readyz`'s body.
#[derive(ToSchema)]
pub(super) struct Status {
    /// `ok` (healthz) or `ready` (readyz).
    status: String,
}

// The reusable error responses; each one's body is the error envelope.

/// `invalid_json` / `invalid_body` (not a JSON object) or `invalid_header`.
#[derive(ToResponse)]
pub(super) struct BadRequest(ErrorEnvelope);

/// `unauthorized`: no or malformed `Authorization: Bearer` header.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
pub(super) struct Unauthorized(ErrorEnvelope);

/// `forbidden`: the token is not accepted, or it lacks the scope this operation
/// needs (then `field` names the scope: `read`, `write` or `credentials`).
#[derive(ToResponse)]
pub(super) struct Forbidden(ErrorEnvelope);

/// `not_found`.
#[derive(ToResponse)]
pub(super) struct NotFound(ErrorEnvelope);

/// `body_too_large`: over `api.body_limit`.
#[derive(ToResponse)]
pub(super) struct TooLarge(ErrorEnvelope);

/// `unsupported_media_type`: the body must be `application/json`.
#[derive(ToResponse)]
pub(super) struct UnsupportedMediaType(ErrorEnvelope);

/// `invalid_field`: `error.field` names the field (`order.ram_gb`, `hostname`,
/// `limit`). `cap_reached` (enqueue only): the account's spend guardrail is reached,
/// and `error.field` names its config key (`accounts[0].max_open_orders`).
#[derive(ToResponse)]
pub(super) struct Invalid(ErrorEnvelope);

/// `internal`: details are in the service's log, never in the answer.
#[derive(ToResponse)]
pub(super) struct Internal(ErrorEnvelope);

/// `POST /ui/session`: the dashboard's sign-in.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SignIn {
    /// One of `[api] tokens`.
    #[schema(min_length = 1)]
    token: String,
}

/// A dashboard session: who the cookie stands for, and the CSRF token every POST
/// made on the cookie must send as `X-CSRF-Token` (the page cannot read the cookie).
#[derive(ToSchema)]
pub(super) struct Session {
    /// The token's name (never the token).
    token: String,
    scopes: Vec<SessionScope>,
    csrf_token: String,
    #[schema(format = DateTime)]
    expires_at: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum SessionScope {
    Read,
    Write,
    Credentials,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CallsParams {
    /// `json` (the default) or `jsonl` (JSON lines; also chosen by
    /// `Accept: application/x-ndjson`).
    #[param(inline)]
    format: Option<CallsFormat>,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum CallsFormat {
    Json,
    Jsonl,
}

/// A dry run's answer: the job's plan with the provider calls each step would make,
/// the price where the provider's API states it (HOSTKEY `presets/list`, Inferno
/// `list`; null at Klikk and IDCloudHost), the account's credit or balance where its
/// API shows it (HOSTKEY `whmcs/get_client`, IDCloudHost `unpaid_amount`), and every
/// problem found.
#[derive(ToSchema)]
pub(super) struct DryRun {
    /// Always true.
    dry_run: bool,
    /// True when no problem was found.
    ok: bool,
    plan: Vec<PlannedStep>,
    price: Option<DryRunPrice>,
    /// As the provider shows it (an object), or null.
    #[schema(value_type = Option<Object>)]
    balance: Option<String>,
    problems: Vec<DryRunProblem>,
}

/// One step of the plan and the provider calls it would make.
#[derive(ToSchema)]
pub(super) struct PlannedStep {
    step: String,
    calls: Vec<String>,
}

/// A price as the provider states it.
#[derive(ToSchema)]
pub(super) struct DryRunPrice {
    /// As the provider states it.
    amount: String,
    currency: Option<String>,
}

/// A problem a dry run found.
#[derive(ToSchema)]
pub(super) struct DryRunProblem {
    /// The request field it is about (`account` for the account itself).
    field: String,
    /// In the provider's own words where it gave any.
    message: String,
}

/// A `POST /v1/jobs` 200: the job an earlier request with the same `Idempotency-Key`
/// created, or a dry run's answer.
#[derive(ToSchema)]
#[serde(untagged)]
pub(super) enum EnqueueAnswer {
    Job(Box<JobView>),
    DryRun(DryRun),
}

/// `GET /v1/drift`: the last sweep's report. Before the first sweep: `swept_at`
/// null, no accounts, no findings.
#[derive(ToSchema)]
pub(super) struct DriftReport {
    /// When the last sweep finished.
    #[schema(format = DateTime)]
    swept_at: Option<String>,
    accounts: Vec<DriftAccount>,
    findings: Vec<DriftFinding>,
}

/// One account's listing in a sweep.
#[derive(ToSchema)]
pub(super) struct DriftAccount {
    account: String,
    provider: String,
    status: DriftStatus,
    /// The provider's words, when the listing failed.
    #[schema(required = false)]
    error: Option<String>,
    /// Servers and orders the provider listed.
    listed: u64,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum DriftStatus {
    Ok,
    Error,
    Unsupported,
}

/// Something at a provider the jobs do not account for.
#[derive(ToSchema)]
pub(super) struct DriftFinding {
    account: String,
    kind: DriftKind,
    /// The provider's id of the server or order.
    server_id: String,
    /// The job it concerns, when one is known.
    #[schema(required = false)]
    job_id: Option<String>,
    /// What the provider shows, in its words.
    detail: String,
}

/// `untracked`: a server or order no job made or names; `gone`: a succeeded
/// provision's server the provider no longer lists; `unpaid`: an order unpaid past
/// `deadlines.payment`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum DriftKind {
    Untracked,
    Gone,
    Unpaid,
}
