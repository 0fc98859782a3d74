//! The job record: what Redis holds for one job, and the JSON view the API shows.
//!
//! A job hash has an immutable part (`req`: the request, written once) and a mutable
//! part (`run`: state, cursor, step records, outputs), so that a commit rewrites only
//! what can change. Both are JSON; secrets inside are `Sealed`.

use crate::plan::{self, Role, Span};
use crate::provider::ProviderKind;
use crate::request::{JobKind, JobRequest};
use crate::secret::Sealed;
use crate::store::Holds;
use crate::time::Millis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Waiting,
    Succeeded,
    Failed,
    Cancelled,
    NeedsAttention,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Waiting => "waiting",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::NeedsAttention => "needs_attention",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "waiting" => JobState::Waiting,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            "needs_attention" => JobState::NeedsAttention,
            _ => return None,
        })
    }

    /// Finished for good: nothing will run again unless an operator retries.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }

    /// Still owns its server (terminal and parked jobs do not run).
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Pending,
    Running,
    Waiting,
    Done,
    Failed,
    Skipped,
}

/// A money step's record of a call it is about to make, or made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    /// The step attempt that wrote it.
    pub attempt: u32,
    pub at: Millis,
    /// What identifies our order or payment at the provider (hostname, reference, invoice).
    pub reference: String,
    /// Provider-specific facts taken before the call (e.g. the order ids that existed).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub data: Value,
    /// Why the call's outcome is unknown (the error it met), once it has been sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub name: String,
    pub state: StepState,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub polls: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Set before a money call; cleared when its outcome is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// Step-local progress kept between polls (an async key, a sub-phase).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub scratch: Map<String, Value>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl StepRecord {
    pub fn pending(name: impl Into<String>) -> Self {
        StepRecord {
            name: name.into(),
            state: StepState::Pending,
            attempts: 0,
            polls: 0,
            started_at: None,
            finished_at: None,
            detail: None,
            intent: None,
            scratch: Map::new(),
        }
    }
}

/// What a job learned from its provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    /// The provision holds the lock on the server it obtained (taken once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_held: bool,
    /// PXE may be armed: the finalizers must run whatever happens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pxe_armed: bool,
    /// Secrets returned by the provider (a generated root password), sealed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Sealed>,
    /// Provider-specific facts (async keys, VM uuid, order item id).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
    /// Plain sentences about what the job could not do as asked (a root password a
    /// provider does not take), shown as the job JSON's `warnings`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Why a job failed or needs attention.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    pub step: String,
    pub message: String,
    /// The provider's own words, when it gave any.
    #[serde(default)]
    pub provider_message: Option<String>,
}

/// Where a job in its finalizers is headed once they are done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    Failed,
    Cancelled,
}

/// One delivery attempt of the job's outbound callback. Kept in the job hash's own
/// field (`cbl`), apart from `run`, because the deliverer is not the job's holder:
/// appending there never races the holder's compare-and-set on the version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackAttempt {
    pub at: Millis,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
}

/// How a job's credentials were read.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialsVia {
    /// `GET /v1/jobs/{id}/credentials`, by the named token.
    Api,
    /// In the completion callback (`[callbacks] include_credentials`).
    Callback,
    /// The server fetched its cloud-init document (Klikk).
    CloudInit,
}

/// One read of a job's credentials, kept (like the callback log) in the job hash's
/// own field (`crl`), so that recording it never races the holder's compare-and-set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialRead {
    pub at: Millis,
    pub via: CredentialsVia,
    /// The name of the token that read them (`via` = api); never the token.
    #[serde(default)]
    pub token: Option<String>,
}

/// The mutable part of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub state: JobState,
    pub cursor: usize,
    pub steps: Vec<StepRecord>,
    #[serde(default)]
    pub outputs: Outputs,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub updated_at: Millis,
    /// When each `[deadlines]` span runs out, set when the span's first step starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deadlines: BTreeMap<Span, Millis>,
    /// Set once a failure or cancel sends the job through its finalizers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
    /// The cancel signal has been acted on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cancel_seen: bool,
    /// Poke signals already acted on (see `Signals`).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub pokes_seen: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl RunState {
    /// A fresh job at its first step.
    pub fn new(steps: Vec<String>, now: Millis) -> Self {
        RunState {
            state: JobState::Queued,
            cursor: 0,
            steps: steps.into_iter().map(StepRecord::pending).collect(),
            outputs: Outputs::default(),
            error: None,
            note: None,
            updated_at: now,
            deadlines: BTreeMap::new(),
            ending: None,
            cancel_seen: false,
            pokes_seen: 0,
        }
    }

    pub fn current(&self) -> Option<&StepRecord> {
        self.steps.get(self.cursor)
    }

    /// Adds the compensation a cancelled provision needs once it is known to have
    /// created something (once: a second call adds nothing).
    pub fn add_compensation(&mut self, req: &JobRequest) {
        let created = self.outputs.server_id.is_some() || self.outputs.order_id.is_some();
        let compensating = self.steps.iter().any(|s| {
            plan::step_def(req.provider(), &s.name).is_some_and(|d| d.role == Role::Compensation)
        });
        if req.kind() == JobKind::Provision && created && !compensating {
            self.steps
                .extend(plan::compensation(req).into_iter().map(StepRecord::pending));
        }
    }
}

/// The immutable part of a job, written once at enqueue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobSpec {
    pub id: String,
    pub created_at: Millis,
    pub request: JobRequest,
    /// The keys it took when it was created (its server or service lock, its
    /// `Idempotency-Key`): kept while it lives (`store::Holds`).
    #[serde(default, skip_serializing_if = "Holds::is_empty")]
    pub holds: Holds,
    /// The `x-request-id` of the HTTP request that created it: the worker's step
    /// spans carry it, so one id finds the request and every step it caused in the
    /// logs. None for jobs created before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Signals recorded on a job by the API while a worker may hold it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    pub cancel: bool,
    /// A counter: every poke (provider callback, `invoice.paid`, operator retry of a
    /// waiting job) adds one; the job is due now whenever it differs from `pokes_seen`.
    pub pokes: u64,
}

/// A job as loaded from Redis.
#[derive(Debug, Clone)]
pub struct Job {
    pub spec: JobSpec,
    pub run: RunState,
    pub version: u64,
    /// The fence of the claim that leased it last ('' if never claimed): commits
    /// compare it with the version (see `claim.lua`).
    pub fence: String,
    pub signals: Signals,
    /// Delivery attempts of the job's outbound callbacks, oldest first (empty for a
    /// job as claimed: the engine has no use for them).
    pub callbacks: Vec<CallbackAttempt>,
    /// Reads of the job's credentials, oldest first (empty for a job as claimed).
    pub credential_reads: Vec<CredentialRead>,
}

impl Job {
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    pub fn provider(&self) -> ProviderKind {
        self.spec.request.provider()
    }

    /// An operator's `retry` of a failed job: resume at the step that failed, with a
    /// fresh attempt budget. The finalizers that already ran stay done.
    pub fn retry_failed(&mut self, now: Millis) -> Result<(), &'static str> {
        if self.run.state != JobState::Failed {
            return Err("only a failed job can be retried (a waiting job is polled now instead)");
        }
        let Some(failed) = self
            .run
            .steps
            .iter()
            .position(|s| s.state == StepState::Failed)
        else {
            return Err("this job has no failed step to resume");
        };
        let provider = self.provider();
        let def = |s: &StepRecord| plan::step_def(provider, &s.name);
        // If the finalizers already undid the PXE setup, resuming at the failed step
        // would wait for an install that can never start: go back to the first step
        // of the install span and arm PXE again.
        let finalized = self.run.steps[failed..].iter().any(|s| {
            s.state == StepState::Done && def(s).is_some_and(|d| d.role == Role::Finalizer)
        });
        let idx = if finalized {
            self.run
                .steps
                .iter()
                .position(|s| {
                    def(s).is_some_and(|d| {
                        d.span == Some(plan::Span::Install) && d.role == Role::Action
                    })
                })
                .filter(|&i| i <= failed)
                .unwrap_or(failed)
        } else {
            failed
        };
        for (i, s) in self.run.steps.iter_mut().enumerate() {
            let role = plan::step_def(provider, &s.name).map(|d| d.role);
            let rerun = i == idx
                || (i > idx && i <= failed)
                || (i > idx && s.state == StepState::Skipped)
                // finalizers after the failed step run again at their turn
                || (i > idx && role == Some(Role::Finalizer));
            if rerun {
                s.state = StepState::Pending;
                s.attempts = 0;
                s.polls = 0;
                s.finished_at = None;
                s.detail = None;
                s.intent = None;
                if i != failed {
                    s.started_at = None;
                    s.scratch.clear();
                }
            }
        }
        // A span that ran out must get a new window, or the retried step fails at once.
        self.run.deadlines.clear();
        if finalized {
            self.run.outputs.pxe_armed = false;
        }
        self.run.cursor = idx;
        self.run.state = JobState::Queued;
        self.run.error = None;
        self.run.ending = None;
        self.run.note = Some("retried by an operator".into());
        self.run.updated_at = now;
        Ok(())
    }

    /// An operator's `retry` of a job parked at a compensation or finalizer that
    /// could not finish (a cancellation refused upstream, PXE not cleared): that step
    /// runs again with a fresh attempt budget. A parked money step is resolved
    /// instead (adopt, reorder or fail): retrying it blindly could pay twice.
    pub fn retry_parked(&mut self, now: Millis) -> Result<(), &'static str> {
        if self.run.state != JobState::NeedsAttention {
            return Err("only a job in needs_attention can be retried this way");
        }
        let provider = self.provider();
        let cursor = self.run.cursor;
        let Some(step) = self.run.steps.get_mut(cursor) else {
            return Err("this job has no current step");
        };
        let role = plan::step_def(provider, &step.name).map(|d| d.role);
        if step.intent.is_some() || !matches!(role, Some(Role::Compensation | Role::Finalizer)) {
            return Err(
                "settle it with resolve (adopt, reorder or fail): the outcome of a money call is unknown",
            );
        }
        step.state = StepState::Pending;
        step.attempts = 0;
        step.polls = 0;
        step.finished_at = None;
        step.detail = None;
        self.run.state = JobState::Queued;
        self.run.error = None;
        self.run.note = Some("retried by an operator".into());
        self.run.updated_at = now;
        Ok(())
    }

    /// An operator settles a `needs_attention` job. On a job that is being
    /// cancelled, `adopt` records what exists (the compensation then cancels it
    /// upstream), `fail` settles that call as nothing to cancel (the job ends
    /// cancelled, after compensating what earlier steps created), and `reorder` is
    /// refused.
    pub fn resolve(&mut self, resolution: Resolution, now: Millis) -> Result<(), &'static str> {
        if self.run.state != JobState::NeedsAttention {
            return Err("only a job in needs_attention can be resolved");
        }
        let cancelling = self.run.ending == Some(Ending::Cancelled);
        if cancelling && resolution == Resolution::Reorder {
            return Err(
                "it is being cancelled: resolve with adopt (what exists is then cancelled upstream) or fail (nothing to cancel)",
            );
        }
        let failing = matches!(resolution, Resolution::Fail);
        let cursor = self.run.cursor;
        let step = self
            .run
            .steps
            .get_mut(cursor)
            .ok_or("job has no current step")?;
        match resolution {
            Resolution::Adopt { order_id } => {
                // The operator vouches that the call happened: record its result.
                step.intent = None;
                step.state = StepState::Done;
                step.finished_at = Some(now);
                step.detail = Some(match &order_id {
                    Some(id) => format!("adopted {id} by an operator"),
                    None => "adopted by an operator".to_owned(),
                });
                if let Some(id) = order_id {
                    let outputs = &mut self.run.outputs;
                    match step.name.as_str() {
                        "pay" => outputs.invoice_id = Some(id),
                        _ if outputs.server_id.is_none()
                            && self.spec.request.provider() == ProviderKind::Hostkey =>
                        {
                            outputs.server_id = Some(id.clone());
                            outputs.order_id = Some(id);
                        }
                        _ => outputs.order_id = Some(id),
                    }
                }
                self.run.cursor += 1;
                self.run.state = JobState::Queued;
                if cancelling {
                    self.run.add_compensation(&self.spec.request);
                }
            }
            Resolution::Reorder => {
                step.intent = None;
                step.state = StepState::Pending;
                step.attempts = 0;
                step.detail = Some("operator asked to call again".into());
                self.run.state = JobState::Queued;
            }
            Resolution::Fail => {
                step.state = StepState::Failed;
                step.finished_at = Some(now);
                step.intent = None;
                let verb = if cancelling {
                    "cancel settled by an operator"
                } else {
                    "failed by an operator"
                };
                let message = self
                    .run
                    .error
                    .as_ref()
                    .map(|e| format!("{verb}: {}", e.message))
                    .unwrap_or_else(|| verb.into());
                self.run.error = Some(JobError {
                    step: step.name.clone(),
                    message,
                    provider_message: self
                        .run
                        .error
                        .as_ref()
                        .and_then(|e| e.provider_message.clone()),
                });
                // The cursor stays on the failed step: the worker moves past it to
                // the finalizers (if PXE is armed) and ends the job as failed (or as
                // cancelled, when it was being cancelled); no other step runs.
                if cancelling {
                    // "Nothing to cancel" is about this call only: what earlier
                    // steps created (the VM ordered before an unknown payment) is
                    // still cancelled upstream.
                    self.run.add_compensation(&self.spec.request);
                } else {
                    self.run.ending = Some(Ending::Failed);
                }
                self.run.state = JobState::Queued;
            }
        }
        if !failing {
            self.run.error = None;
        }
        self.run.note = Some("resolved by an operator".into());
        self.run.updated_at = now;
        Ok(())
    }
}

/// `POST /v1/jobs/{id}/resolve` bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Adopt { order_id: Option<String> },
    Reorder,
    Fail,
}

/// The job JSON of CONTRACT.md. It never holds a secret. (With the `openapi`
/// feature, `/openapi.json` marks every field required: none is ever skipped.)
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Job))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobView {
    /// The job id, a ULID.
    pub id: String,
    pub kind: JobKind,
    pub account: String,
    pub provider: ProviderKind,
    pub reference: Option<String>,
    pub state: JobState,
    /// The current step; null once the job has ended.
    pub step: Option<String>,
    /// What the job waits for, e.g. "(3/5) post-install tasks completed" or
    /// "awaiting payment".
    pub note: Option<String>,
    pub steps: Vec<StepView>,
    pub server: ServerView,
    pub error: Option<JobError>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub created_at: String,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub updated_at: String,
    /// Delivery attempts of the job's callback, the last 50.
    pub callbacks: Vec<CallbackView>,
    /// Plain sentences about what the job could not do as asked, e.g. a
    /// `root_password` Inferno does not take (it sets its own). Empty when there is
    /// nothing to say.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Every read of the server's login, the last 100 (empty in a callback's own
    /// body).
    #[serde(default)]
    pub credential_reads: Vec<CredentialReadView>,
    /// The `x-request-id` of the request that created the job (null for older jobs).
    #[serde(default)]
    pub request_id: Option<String>,
}

/// One read of the server's login.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CredentialRead))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialReadView {
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    pub via: CredentialsVia,
    /// The name of the token that read them (`via: api`); never the token itself.
    pub token: Option<String>,
}

/// One step of the job's plan.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Step))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepView {
    pub name: String,
    pub state: StepState,
    pub attempts: u32,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub started_at: Option<String>,
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub finished_at: Option<String>,
    pub detail: Option<String>,
}

/// What the job knows of its server: the provider's ids and addresses.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Server))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerView {
    pub id: Option<String>,
    pub order_id: Option<String>,
    pub invoice_id: Option<String>,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// One delivery attempt of the job's callback.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = CallbackAttempt))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallbackView {
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub at: String,
    /// The receiver's HTTP status; null when nothing was answered.
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl JobView {
    pub fn of(job: &Job) -> JobView {
        let run = &job.run;
        let req = &job.spec.request;
        let o = &run.outputs;
        JobView {
            id: job.spec.id.clone(),
            kind: req.kind(),
            account: req.account.clone(),
            provider: req.provider(),
            reference: req.reference.clone(),
            state: run.state,
            step: if run.state.is_terminal() {
                None
            } else {
                run.current().map(|s| s.name.clone())
            },
            note: run.note.clone(),
            steps: run
                .steps
                .iter()
                .map(|s| StepView {
                    name: s.name.clone(),
                    state: s.state,
                    attempts: s.attempts,
                    started_at: s.started_at.map(Millis::to_rfc3339),
                    finished_at: s.finished_at.map(Millis::to_rfc3339),
                    detail: s.detail.clone(),
                })
                .collect(),
            server: ServerView {
                id: o
                    .server_id
                    .clone()
                    .or_else(|| req.server_id().map(ToString::to_string)),
                order_id: o.order_id.clone(),
                invoice_id: o.invoice_id.clone(),
                ipv4: o.ipv4.clone(),
                ipv6: o.ipv6.clone(),
            },
            error: run.error.clone(),
            created_at: job.spec.created_at.to_rfc3339(),
            updated_at: run.updated_at.to_rfc3339(),
            callbacks: job
                .callbacks
                .iter()
                .map(|c| CallbackView {
                    at: c.at.to_rfc3339(),
                    status: c.status,
                    error: c.error.clone(),
                })
                .collect(),
            warnings: o.warnings.clone(),
            credential_reads: job
                .credential_reads
                .iter()
                .map(|r| CredentialReadView {
                    at: r.at.to_rfc3339(),
                    via: r.via,
                    token: r.token.clone(),
                })
                .collect(),
            request_id: job.spec.request_id.clone(),
        }
    }
}
