//! The engine's decisions, as pure functions of the run state, an outcome and `now`:
//! how a step's outcome moves the cursor, the job state and the schedule. No I/O and
//! no clock here, so every rule is unit-tested without Redis or a network.

use super::Settings;
use crate::step::{Outcome, StepError};
use provisioner_shared::config::PaymentTimeout;
use provisioner_shared::job::{Ending, JobError, JobState, RunState, StepRecord, StepState};
use provisioner_shared::plan::{self, Role, Span, StepDef};
use provisioner_shared::time::Millis;
use provisioner_shared::{JobRequest, ProviderKind};
use std::time::Duration;

/// What the driver does with the job after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run the (new) current step now, keeping the lease.
    Continue,
    /// Release the job; due again after this delay.
    After(Duration),
    /// Off the schedule: `needs_attention`.
    Park,
    /// Terminal.
    Finish,
}

/// A source of randomness for jitter, passed in so tests can pin it.
pub trait Jitter {
    /// A value in `[0, max]`.
    fn up_to(&mut self, max: Duration) -> Duration;
}

impl<R: rand::Rng> Jitter for R {
    fn up_to(&mut self, max: Duration) -> Duration {
        let ms = max.as_millis() as u64;
        Duration::from_millis(if ms == 0 {
            0
        } else {
            self.random_range(0..=ms)
        })
    }
}

fn def_of(provider: ProviderKind, step: &StepRecord) -> &'static StepDef {
    plan::step_def(provider, &step.name).unwrap_or(&UNKNOWN_STEP)
}

/// Steps the code no longer knows (a rolled-back deploy) fail clearly instead of panicking.
const UNKNOWN_STEP: StepDef = StepDef {
    name: "unknown",
    role: Role::Action,
    span: None,
    arms_pxe: false,
};

fn span_limit(s: &Settings, span: Span) -> Duration {
    match span {
        Span::Delivery => s.deadlines.delivery,
        Span::Install => s.deadlines.install,
        Span::Payment => s.deadlines.payment,
    }
}

/// Marks the current step as running and opens its span's deadline on first entry.
pub fn begin(run: &mut RunState, provider: ProviderKind, now: Millis, s: &Settings) {
    let Some(step) = run.steps.get_mut(run.cursor) else {
        return;
    };
    let def = def_of(provider, step);
    if step.started_at.is_none() {
        step.started_at = Some(now);
    }
    step.state = StepState::Running;
    run.state = JobState::Running;
    run.updated_at = now;
    if let (Some(span), Role::Action | Role::Money | Role::Once) = (def.span, def.role) {
        run.deadlines
            .entry(span)
            .or_insert_with(|| now.plus(span_limit(s, span)));
    }
}

/// When the current step's waiting must end. Finalizers and compensations get a
/// window of their own: a failure by deadline must still let them finish.
pub fn deadline(run: &RunState, provider: ProviderKind, s: &Settings) -> Option<(Millis, String)> {
    let step = run.steps.get(run.cursor)?;
    let def = def_of(provider, step);
    match def.role {
        Role::Finalizer | Role::Compensation => {
            let start = step.started_at?;
            Some((
                start.plus(s.deadlines.install),
                format!(
                    "install ({})",
                    humantime::format_duration(s.deadlines.install)
                ),
            ))
        }
        _ => {
            let span = def.span?;
            let at = *run.deadlines.get(&span)?;
            Some((
                at,
                format!(
                    "{span} ({})",
                    humantime::format_duration(span_limit(s, span))
                ),
            ))
        }
    }
}

/// The ceiling of a step's poll interval: `polling.max`, or for a payment wait
/// `polling.payment` when it is set. Every poll of a waiting order is a provider
/// call, so a high ceiling saves calls and a low one sees a payment sooner.
pub fn poll_ceiling(s: &Settings, span: Option<Span>) -> Duration {
    match (span, s.polling.payment) {
        (Some(Span::Payment), Some(payment)) => payment,
        _ => s.polling.max,
    }
}

/// The poll interval after the n-th wait (1-based): initial × 2^(n−1), capped at
/// `ceiling`, ±10 %.
pub fn poll_interval(
    s: &Settings,
    ceiling: Duration,
    polls: u32,
    jitter: &mut impl Jitter,
) -> Duration {
    let base = s.polling.initial.as_millis() as u64;
    let cap = ceiling.as_millis() as u64;
    let exp = polls.saturating_sub(1).min(30);
    let d = base.saturating_mul(1u64 << exp).min(cap);
    let spread = jitter.up_to(Duration::from_millis(d / 5)).as_millis() as u64;
    Duration::from_millis((d - d / 10 + spread).max(1))
}

/// Exponential backoff with full jitter: uniform in [0, min(max, base × 2^(n−1))].
pub fn backoff(s: &Settings, attempts: u32, jitter: &mut impl Jitter) -> Duration {
    let base = s.retry.base.as_millis() as u64;
    let cap = s.retry.max.as_millis() as u64;
    let exp = attempts.saturating_sub(1).min(30);
    let ceiling = base.saturating_mul(1u64 << exp).min(cap);
    jitter
        .up_to(Duration::from_millis(ceiling))
        .max(Duration::from_millis(1))
}

/// Applies the current step's outcome.
pub fn apply(
    run: &mut RunState,
    provider: ProviderKind,
    outcome: Outcome,
    now: Millis,
    s: &Settings,
    jitter: &mut impl Jitter,
) -> Next {
    run.updated_at = now;
    let cursor = run.cursor;
    let Some(step) = run.steps.get(cursor) else {
        return finish(run);
    };
    let def = def_of(provider, step);
    match outcome {
        Outcome::Next => {
            let step = &mut run.steps[cursor];
            step.attempts += 1;
            step.state = StepState::Done;
            step.finished_at = Some(now);
            step.intent = None;
            run.note = None;
            if def.role == Role::Compensation {
                let done = step.detail.clone().unwrap_or_else(|| "done".into());
                tell_the_error(run, def, &done);
            }
            advance(run, provider)
        }
        Outcome::Wait { after, note } => {
            let limit = deadline(run, provider, s);
            if let Some((at, span)) = &limit
                && now >= *at
            {
                let mut msg = format!("the {span} deadline ran out while waiting: {note}");
                if def.span == Some(Span::Payment) && !is_cleanup(def) {
                    msg.push_str(&payment_timeout(run, provider, s));
                }
                return apply(run, provider, Outcome::fail(msg), now, s, jitter);
            }
            let step = &mut run.steps[cursor];
            step.polls += 1;
            step.state = StepState::Waiting;
            step.detail = Some(note.clone());
            run.note = Some(note);
            run.state = JobState::Waiting;
            let ceiling = poll_ceiling(s, def.span);
            let mut delay = after.unwrap_or_else(|| poll_interval(s, ceiling, step.polls, jitter));
            // Wake up at the deadline at the latest, so it is noticed on time.
            if let Some((at, _)) = limit {
                delay = delay.min(at.since(now)).max(Duration::from_millis(1));
            }
            Next::After(delay)
        }
        Outcome::Retry { after, error } => {
            let step = &mut run.steps[cursor];
            step.attempts += 1;
            if step.attempts >= s.retry.max_attempts {
                let error = StepError {
                    message: format!(
                        "gave up after {} attempts: {}",
                        step.attempts, error.message
                    ),
                    provider_message: error.provider_message,
                };
                return fail(run, provider, def, error, now);
            }
            let note = format!(
                "attempt {} failed: {}; retrying",
                step.attempts, error.message
            );
            step.state = StepState::Waiting;
            step.detail = Some(note.clone());
            run.note = Some(note);
            run.state = JobState::Waiting;
            let delay = match after {
                Some(d) => d.max(Duration::from_millis(1)),
                None => backoff(s, step.attempts, jitter),
            };
            Next::After(delay)
        }
        Outcome::Fail(error) => {
            run.steps[cursor].attempts += 1;
            fail(run, provider, def, error, now)
        }
        Outcome::Attention(reason) => attention(run, cursor, StepError::new(reason)),
    }
}

fn fail(
    run: &mut RunState,
    provider: ProviderKind,
    def: &StepDef,
    error: StepError,
    now: Millis,
) -> Next {
    let cursor = run.cursor;
    // A money call whose outcome is unknown must not be forgotten by a failure.
    if run.steps[cursor].intent.is_some() {
        let reason = format!(
            "the outcome of the last {} call is unknown ({}); check at the provider, then resolve: adopt, reorder or fail",
            run.steps[cursor].name, error.message
        );
        return attention(
            run,
            cursor,
            StepError {
                message: reason,
                provider_message: error.provider_message,
            },
        );
    }
    // A cancelled job that cannot cancel what it created may leave a server billed;
    // the cleanup after a payment timeout only leaves an unpaid order, and says so.
    if def.role == Role::Compensation && run.ending == Some(Ending::Cancelled) {
        let reason = format!(
            "could not cancel what this job created at the provider ({}): {}; it may still be billed: \
             retry to run the cancellation again, or cancel it at the provider and resolve with fail",
            def.name, error.message
        );
        return attention(
            run,
            cursor,
            StepError {
                message: reason,
                provider_message: error.provider_message,
            },
        );
    }
    if def.role == Role::Finalizer {
        let reason = format!(
            "could not finish {}: {}; the server may still boot into the installer: fix it at the provider, then retry or resolve",
            def.name, error.message
        );
        return attention(
            run,
            cursor,
            StepError {
                message: reason,
                provider_message: error.provider_message,
            },
        );
    }
    if def.role == Role::Compensation {
        tell_the_error(run, def, &format!("failed: {}", error.message));
    }
    let step = &mut run.steps[cursor];
    step.state = StepState::Failed;
    step.finished_at = Some(now);
    step.detail = Some(error.message.clone());
    run.note = Some(error.message.clone());
    // The first error is the one worth showing; finalizers do not overwrite it.
    if run.error.is_none() {
        run.error = Some(JobError {
            step: step.name.clone(),
            message: error.message,
            provider_message: error.provider_message,
        });
    }
    if run.ending.is_none() {
        run.ending = Some(Ending::Failed);
    }
    advance(run, provider)
}

fn is_cleanup(def: &StepDef) -> bool {
    matches!(def.role, Role::Finalizer | Role::Compensation)
}

/// What a payment deadline does to the unpaid order of a provision that placed one
/// (`[deadlines] on_payment_timeout`): with "cancel", the provider's cleanup steps
/// are appended (they run as the job fails, like a cancel's compensation); with
/// "keep", nothing. Returns the words the job's error adds, saying which.
fn payment_timeout(run: &mut RunState, provider: ProviderKind, s: &Settings) -> String {
    let cleanup = plan::payment_timeout_cleanup(provider);
    let Some(order) = run.outputs.order_id.clone() else {
        return String::new();
    };
    if cleanup.is_empty() || run.steps.iter().any(|st| cleanup.contains(&st.name)) {
        return String::new();
    }
    let setting = s.deadlines.on_payment_timeout;
    match setting {
        PaymentTimeout::Cancel => {
            run.steps
                .extend(cleanup.into_iter().map(StepRecord::pending));
            format!(
                "; cancelling its unpaid order {order} at {provider} \
                 (deadlines.on_payment_timeout = \"{}\")",
                setting.as_str()
            )
        }
        PaymentTimeout::Keep => format!(
            "; its unpaid order {order} is kept at {provider} \
             (deadlines.on_payment_timeout = \"{}\"): once it is paid, retry the job, or \
             cancel the order there",
            setting.as_str()
        ),
    }
}

/// Adds how a compensation step ended to the job's error, so that the error of a
/// job that failed says what was undone (a cancel has no error to add to).
fn tell_the_error(run: &mut RunState, def: &StepDef, outcome: &str) {
    if let Some(e) = run.error.as_mut() {
        e.message.push_str(&format!("; {}: {outcome}", def.name));
    }
}

fn attention(run: &mut RunState, cursor: usize, error: StepError) -> Next {
    let step = &mut run.steps[cursor];
    step.state = StepState::Waiting;
    step.detail = Some(error.message.clone());
    run.note = Some(error.message.clone());
    run.state = JobState::NeedsAttention;
    run.error = Some(JobError {
        step: step.name.clone(),
        message: error.message,
        provider_message: error.provider_message,
    });
    Next::Park
}

/// Whether a pending step runs, given how the job is ending.
fn should_run(run: &RunState, def: &StepDef) -> bool {
    match run.ending {
        None => def.role != Role::Compensation,
        Some(_) => match def.role {
            Role::Finalizer => run.outputs.pxe_armed,
            Role::Compensation => true,
            Role::Action | Role::Money | Role::Once => false,
        },
    }
}

/// A current step that is settled already (an operator failed it) or that the job's
/// ending rules out is never run: the cursor moves on to the next step that runs.
pub fn skip_settled(run: &mut RunState, provider: ProviderKind) -> Option<Next> {
    let step = run.steps.get(run.cursor)?;
    let settled = matches!(
        step.state,
        StepState::Done | StepState::Failed | StepState::Skipped
    );
    let ruled_out = step.state == StepState::Pending && !should_run(run, def_of(provider, step));
    (settled || ruled_out).then(|| advance(run, provider))
}

/// Moves the cursor to the next step that runs, skipping the rest; past the end the
/// job reaches its terminal state.
pub fn advance(run: &mut RunState, provider: ProviderKind) -> Next {
    loop {
        run.cursor += 1;
        let Some(step) = run.steps.get(run.cursor) else {
            return finish(run);
        };
        if step.state != StepState::Pending {
            continue;
        }
        let def = def_of(provider, step);
        if should_run(run, def) {
            run.state = JobState::Queued;
            return Next::Continue;
        }
        run.steps[run.cursor].state = StepState::Skipped;
    }
}

/// The terminal state (or, after a cancel or failure, where the finalizers lead).
fn finish(run: &mut RunState) -> Next {
    run.cursor = run.steps.len();
    run.state = match run.ending {
        None => JobState::Succeeded,
        Some(Ending::Failed) => JobState::Failed,
        Some(Ending::Cancelled) => JobState::Cancelled,
    };
    match run.state {
        JobState::Succeeded => run.note = None,
        JobState::Cancelled => run.note = Some("cancelled".into()),
        _ => {}
    }
    Next::Finish
}

/// A cancel that cannot tell whether the current money step's call created
/// something: the job is on its way out as cancelled, keeps the intent, and waits
/// for an operator, who adopts what exists (the compensation then cancels it
/// upstream) or settles it as nothing to cancel.
pub fn cancel_unsettled(run: &mut RunState, now: Millis, reason: String) -> Next {
    run.cancel_seen = true;
    run.updated_at = now;
    run.ending = Some(Ending::Cancelled);
    let cursor = run.cursor;
    attention(run, cursor, StepError::new(reason))
}

/// Acts on an operator's cancel: skip what has not run, keep the finalizers (if PXE
/// is armed) and add compensation when a provision already created something.
pub fn cancel(run: &mut RunState, req: &JobRequest, now: Millis) -> Next {
    run.cancel_seen = true;
    run.updated_at = now;
    if run.state.is_terminal() {
        return Next::Finish;
    }
    if run.ending.is_some() {
        // already on its way out (failing or cancelled): let the finalizers finish
        return if run.state == JobState::NeedsAttention {
            Next::Park
        } else {
            Next::Continue
        };
    }
    run.ending = Some(Ending::Cancelled);
    wind_down(run, req, now)
}

/// A cancelled job waits for its current money step's outcome to settle (the
/// provider may still be applying a call whose answer was lost) before it decides
/// whether anything needs cancelling upstream.
pub fn defer_cancel(run: &mut RunState, now: Millis, after: Duration, note: String) -> Next {
    run.cancel_seen = true;
    run.updated_at = now;
    run.ending = Some(Ending::Cancelled);
    let step = &mut run.steps[run.cursor];
    step.state = StepState::Waiting;
    step.detail = Some(note.clone());
    run.note = Some(note);
    run.state = JobState::Waiting;
    Next::After(after.max(Duration::from_millis(1)))
}

/// The rest of a cancel once the current step's outcome is known: compensation for
/// what a provision created, the current step skipped (unless it is a finalizer that
/// must still run), the cursor on.
pub fn wind_down(run: &mut RunState, req: &JobRequest, now: Millis) -> Next {
    run.add_compensation(req);
    let Some(step) = run.steps.get(run.cursor) else {
        return finish(run);
    };
    let def = def_of(req.provider(), step);
    if def.role == Role::Finalizer && run.outputs.pxe_armed && step.state != StepState::Done {
        run.state = JobState::Queued;
        return Next::Continue;
    }
    let step = &mut run.steps[run.cursor];
    if step.state != StepState::Done {
        step.state = StepState::Skipped;
        step.finished_at = Some(now);
        step.detail = Some("cancelled".into());
    }
    step.intent = None;
    run.error = None;
    advance(run, req.provider())
}

#[cfg(test)]
mod tests;
