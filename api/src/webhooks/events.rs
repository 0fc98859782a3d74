//! The billing events (CONTRACT.md, "Billing webhook") and what each does.
//!
//! - `service.created` → a provision job from `[plans.<plan>]`, `reference` =
//!   `service_id`, built as a `POST /v1/jobs` body and parsed the same way; one live
//!   provision per service (the service lock): a second event for a service whose
//!   provision is live names that job and does nothing.
//! - `service.terminated` → the service's newest provision job: still live → cancel it
//!   (its compensation cancels the server upstream); ended with a server (succeeded,
//!   or failed after ordering) → a deprovision of that server, unless one is already
//!   live or done; none, or ended without a server → `nothing` (202, so the sender
//!   stops retrying: there is nothing it could wait for).
//! - `invoice.paid` → every `waiting` job of the service is poked (due now).
//!
//! Jobs are found through the reference index (newest first), checked on the record.

use super::Answer;
use crate::AppState;
use crate::error::ApiError;
use crate::jobs::create::{Failure, create_job, parse as parse_request};
use crate::jobs::new_job_id;
use crate::jobs::server_lock::{ServerLock, Subject, Taken};
use axum::http::StatusCode;
use provisioner_shared::job::{Job, JobState};
use provisioner_shared::request::{FieldError, JobKind, JobRequest};
use provisioner_shared::store::Holds;
use provisioner_shared::store::{SignalKind, SignalOutcome};
use serde_json::{Map, Value, json};

/// Jobs of one service looked at, newest first.
const SERVICE_JOBS: usize = 100;

/// A parsed event, ready to act on.
pub(crate) enum Action {
    Provision {
        service_id: String,
        job_id: String,
        request: Box<JobRequest>,
    },
    Terminate {
        service_id: String,
    },
    Paid {
        service_id: String,
    },
    Ignore {
        event: String,
    },
}

/// The body → an action; a provision's job request is built and checked here, so a
/// bad event is refused before anything is written.
pub(crate) fn parse(state: &AppState, body: &[u8]) -> Result<Action, ApiError> {
    let root = crate::extract::json_object(body)?;
    let event = match root.get("type") {
        Some(Value::String(t)) if !t.is_empty() => t.clone(),
        _ => return Err(ApiError::invalid("type", "type: must be the event type")),
    };
    let known = matches!(
        event.as_str(),
        "service.created" | "service.terminated" | "invoice.paid"
    );
    if !known {
        return Ok(Action::Ignore { event });
    }
    let data = match root.get("data") {
        Some(Value::Object(d)) => d,
        _ => return Err(ApiError::invalid("data", "data: must be an object")),
    };
    let service_id = service_id(data)?;
    Ok(match event.as_str() {
        "service.created" => {
            let job_id = new_job_id();
            let body = provision_body(state, data, &service_id)?;
            let request = parse_request(state, &body, &job_id).map_err(data_field)?;
            Action::Provision {
                service_id,
                job_id,
                request: Box::new(request),
            }
        }
        "service.terminated" => Action::Terminate { service_id },
        _ => Action::Paid { service_id },
    })
}

/// `data.service_id`: a string, or a whole number (WHMCS ids are numbers).
fn service_id(data: &Map<String, Value>) -> Result<String, ApiError> {
    let id = match data.get("service_id") {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "data.service_id",
                "data.service_id: is required",
            ));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "data.service_id",
                "data.service_id: must be a string or a whole number",
            ));
        }
    };
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "data.service_id",
            "data.service_id: must be 1 to 128 printable characters",
        ));
    }
    Ok(id)
}

/// The `POST /v1/jobs` body a `service.created` stands for.
fn provision_body(
    state: &AppState,
    data: &Map<String, Value>,
    service_id: &str,
) -> Result<Value, ApiError> {
    let plan_name = match data.get("plan") {
        Some(Value::String(p)) => p,
        None | Some(Value::Null) => {
            return Err(ApiError::invalid("data.plan", "data.plan: is required"));
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "data.plan",
                "data.plan: must be a string",
            ));
        }
    };
    let plan = state.config.plans.get(plan_name).ok_or_else(|| {
        ApiError::invalid(
            "data.plan",
            format!("data.plan: no plan named `{plan_name}` in this deployment's [plans]"),
        )
    })?;
    let mut body = json!({
        "kind": "provision",
        "account": plan.account,
        "reference": service_id,
        "order": plan.order,
    });
    if let Some(r) = &plan.reinstall {
        body["reinstall"] = r.clone();
    }
    // Other fields of `data` are the billing system's business and are ignored.
    for field in ["hostname", "root_password", "ssh_keys", "callback_url"] {
        match data.get(field) {
            None | Some(Value::Null) => {}
            Some(v) => body[field] = v.clone(),
        }
    }
    Ok(body)
}

/// A field error of the built request, named as the event's field.
fn data_field(e: FieldError) -> ApiError {
    let field = match e.field.as_str() {
        "reference" => "data.service_id".to_owned(),
        // From the plan, checked at config load: only a plan that no longer fits
        // its account can get here.
        f if f == "kind"
            || f == "account"
            || f.starts_with("order")
            || f.starts_with("reinstall") =>
        {
            "data.plan".to_owned()
        }
        f => format!("data.{f}"),
    };
    let message = if field == "data.plan" {
        format!("data.plan: the plan does not make a valid request ({e})")
    } else {
        format!("{field}: {}", e.message)
    };
    ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
}

fn answer(
    event: &str,
    service_id: &str,
    action: &str,
    jobs: Vec<String>,
    message: String,
) -> Answer {
    Answer {
        event: event.to_owned(),
        service_id: Some(service_id.to_owned()),
        action: action.to_owned(),
        jobs,
        message,
        duplicate: false,
    }
}

pub(crate) async fn apply(state: &AppState, action: Action) -> Result<Answer, ApiError> {
    match action {
        Action::Provision {
            service_id,
            job_id,
            request,
        } => provision(state, &service_id, &job_id, *request).await,
        Action::Terminate { service_id } => terminate(state, &service_id).await,
        Action::Paid { service_id } => paid(state, &service_id).await,
        Action::Ignore { event } => Ok(Answer {
            message: format!("event type `{event}` is not one this service acts on"),
            event,
            service_id: None,
            action: "ignored".into(),
            jobs: Vec::new(),
            duplicate: false,
        }),
    }
}

async fn provision(
    state: &AppState,
    service_id: &str,
    job_id: &str,
    request: JobRequest,
) -> Result<Answer, ApiError> {
    const EVENT: &str = "service.created";
    let lock = match ServerLock::take(state, Subject::Service { service_id }, job_id).await? {
        Taken::Held(lock) => lock,
        Taken::Busy { holder, state: st } => {
            return Ok(answer(
                EVENT,
                service_id,
                "already_provisioning",
                vec![holder.clone()],
                format!(
                    "service {service_id} already has a live provision, job {holder} ({st}); nothing was done"
                ),
            ));
        }
    };
    lock.confirm(state).await?;
    let holds = Holds {
        idempotency: None,
        locks: vec![lock.key().to_owned()],
    };
    match create_job(state, job_id, request, holds).await {
        Ok((_, job)) => Ok(answer(
            EVENT,
            service_id,
            "provision",
            vec![job.id().to_owned()],
            format!(
                "provision job {} enqueued for service {service_id}",
                job.id()
            ),
        )),
        Err(Failure {
            error,
            nothing_written,
        }) => {
            if nothing_written {
                lock.release(state).await;
            }
            Err(error)
        }
    }
}

/// The service's jobs, newest first.
async fn service_jobs(state: &AppState, service_id: &str) -> Result<Vec<Job>, ApiError> {
    let store = &state.store;
    let index = store.keys().index_reference(service_id);
    let ids = store.index_page(&index, None, SERVICE_JOBS).await?;
    let mut jobs = Vec::with_capacity(ids.len());
    for raw in store.load_many(&ids).await?.into_iter().flatten() {
        let job = raw.decode()?;
        if job.spec.request.reference.as_deref() == Some(service_id) {
            jobs.push(job);
        }
    }
    Ok(jobs)
}

async fn terminate(state: &AppState, service_id: &str) -> Result<Answer, ApiError> {
    const EVENT: &str = "service.terminated";
    let jobs = service_jobs(state, service_id).await?;
    let Some(provision) = jobs
        .iter()
        .find(|j| j.spec.request.kind() == JobKind::Provision)
    else {
        return Ok(answer(
            EVENT,
            service_id,
            "nothing",
            Vec::new(),
            format!("service {service_id} has no provision job; nothing was done"),
        ));
    };
    let mut provision = provision.clone();
    if provision.run.state.is_live() {
        match state
            .store
            .signal(provision.id(), SignalKind::Cancel)
            .await?
        {
            SignalOutcome::Recorded { .. } | SignalOutcome::Parked => {
                return Ok(answer(
                    EVENT,
                    service_id,
                    "cancel",
                    vec![provision.id().to_owned()],
                    format!(
                        "provision job {} cancelled: its compensation cancels what it ordered",
                        provision.id()
                    ),
                ));
            }
            SignalOutcome::NotFound => {
                return Ok(answer(
                    EVENT,
                    service_id,
                    "nothing",
                    Vec::new(),
                    format!("the provision job of service {service_id} is gone; nothing was done"),
                ));
            }
            // It ended meanwhile: act on how it ended.
            SignalOutcome::Finished(_) => {
                if let Some(raw) = state.store.load(provision.id()).await? {
                    provision = raw.decode()?;
                }
            }
        }
    }
    let server_id = provision
        .run
        .outputs
        .server_id
        .clone()
        .or_else(|| provision.spec.request.server_id().map(ToString::to_string));
    let Some(server_id) = server_id.filter(|_| provision.run.state != JobState::Cancelled) else {
        return Ok(answer(
            EVENT,
            service_id,
            "nothing",
            vec![provision.id().to_owned()],
            format!(
                "provision job {} ended {} without a server to deprovision; nothing was done",
                provision.id(),
                provision.run.state
            ),
        ));
    };
    let req = &provision.spec.request;
    let already = jobs.iter().find(|j| {
        j.spec.request.kind() == JobKind::Deprovision
            && j.spec.request.account == req.account
            && j.spec.request.server_id().map(|s| s.as_str()) == Some(server_id.as_str())
            && (j.run.state.is_live() || j.run.state == JobState::Succeeded)
    });
    if let Some(d) = already {
        return Ok(answer(
            EVENT,
            service_id,
            "already_deprovisioning",
            vec![d.id().to_owned()],
            format!(
                "server {server_id} is already deprovisioned by job {} ({})",
                d.id(),
                d.run.state
            ),
        ));
    }
    let mut body = json!({
        "kind": "deprovision",
        "account": req.account,
        "server_id": server_id,
        "reference": service_id,
    });
    // The billing system hears how the deprovision ends, as it heard the provision.
    if let Some(url) = &req.callback_url {
        body["callback_url"] = json!(url.as_str());
    }
    let job_id = new_job_id();
    let request = parse_request(state, &body, &job_id)?;
    match create_job(state, &job_id, request, Holds::default()).await {
        Ok((_, job)) => Ok(answer(
            EVENT,
            service_id,
            "deprovision",
            vec![job.id().to_owned()],
            format!(
                "deprovision job {} enqueued for server {server_id}",
                job.id()
            ),
        )),
        Err(Failure { error, .. }) => Err(error),
    }
}

async fn paid(state: &AppState, service_id: &str) -> Result<Answer, ApiError> {
    let jobs = service_jobs(state, service_id).await?;
    let mut poked = Vec::new();
    for job in jobs.iter().filter(|j| j.run.state == JobState::Waiting) {
        if let SignalOutcome::Recorded { .. } =
            state.store.signal(job.id(), SignalKind::Poke).await?
        {
            poked.push(job.id().to_owned());
        }
    }
    let (action, message) = if poked.is_empty() {
        (
            "nothing",
            format!("service {service_id} has no waiting job; nothing was done"),
        )
    } else {
        (
            "poke",
            format!(
                "{} waiting job(s) of service {service_id} made due now",
                poked.len()
            ),
        )
    };
    Ok(answer("invoice.paid", service_id, action, poked, message))
}
