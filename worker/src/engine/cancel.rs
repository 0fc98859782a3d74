//! A cancel: finalizers and compensation, after any open money intent is settled
//! (so that the compensation knows whether something was created).

use super::transition::{self, Next};
use super::{Engine, Lease, LeaseError, unknown_step};
use crate::step::Reconciled;
use provisioner_shared::job::{Ending, Job, StepState};
use provisioner_shared::plan::{self, Role};
use provisioner_shared::time::Millis;
use std::time::Duration;

impl Engine {
    /// Acts on a cancel. A money step's open intent is settled first, so that the
    /// compensation knows whether something was created.
    pub(super) async fn cancel(
        &self,
        job: &mut Job,
        lease: &mut Lease,
        cb: Option<&str>,
    ) -> Result<Next, LeaseError> {
        let now = lease.now();
        tracing::info!("cancel requested: running finalizers and compensation");
        if job.run.ending.is_none() && self.open_money_intent(job) {
            return Ok(self.settle_cancel(job, now, cb).await);
        }
        Ok(transition::cancel(&mut job.run, &job.spec.request, now))
    }

    /// Whether the current step is a money (or once) step with an open intent.
    pub(super) fn open_money_intent(&self, job: &Job) -> bool {
        job.run.current().is_some_and(|s| {
            s.intent.is_some()
                && plan::step_def(job.provider(), &s.name)
                    .is_some_and(|d| matches!(d.role, Role::Money | Role::Once))
        })
    }

    /// A cancelled job whose current money call has an unknown outcome: look it up.
    /// Found → the compensation cancels it; proven absent → nothing to cancel; too
    /// early to tell → wait for the settle window; unknowable → `needs_attention`
    /// (never forgotten: something may be billed upstream).
    pub(super) async fn settle_cancel(&self, job: &mut Job, now: Millis, cb: Option<&str>) -> Next {
        let cursor = job.run.cursor;
        let name = job.run.steps[cursor].name.clone();
        let settled_at = job.run.steps[cursor]
            .intent
            .as_ref()
            .map(|i| i.at.plus(self.settings.settle));
        let env = self.env(&job.spec, now, cb);
        let step = self
            .provider_of(&job.spec.request.account)
            .and_then(|provider| provider.money(&name).ok_or_else(|| unknown_step(&name)));
        let found = match step {
            Ok(step) => tokio::time::timeout(
                self.settings.step_timeout,
                step.reconcile(&mut env.cx(&mut job.run)),
            )
            .await
            .ok(),
            Err(why) => Some(Reconciled::Unknown(why)),
        };
        let run = &mut job.run;
        match found {
            Some(Reconciled::Done) => {
                let step = &mut run.steps[cursor];
                step.state = StepState::Done;
                step.finished_at = Some(now);
                step.intent = None;
            }
            Some(Reconciled::Absent) if settled_at.is_none_or(|at| now >= at) => {
                run.steps[cursor].intent = None;
            }
            Some(Reconciled::Absent) => {
                let after = settled_at.map_or(Duration::ZERO, |at| at.since(now));
                let note = format!(
                    "cancel requested: waiting for the provider to settle the last {name} call"
                );
                return transition::defer_cancel(run, now, after, note);
            }
            Some(Reconciled::Failed(e))
                if run.steps[cursor].polls < self.settings.retry.max_attempts =>
            {
                // A lookup that failed to read decides nothing: look again soon, a
                // bounded number of times.
                let after = transition::backoff(
                    &self.settings,
                    run.steps[cursor].polls + 1,
                    &mut rand::rng(),
                );
                run.steps[cursor].polls += 1;
                let note = format!(
                    "cancel requested: cannot look up the last {name} call yet ({e}); looking again"
                );
                return transition::defer_cancel(run, now, after, note);
            }
            other => {
                let why = match other {
                    Some(Reconciled::Unknown(r)) | Some(Reconciled::Pending(r)) => r,
                    Some(Reconciled::Failed(e)) => e.to_string(),
                    _ => "the lookup timed out".into(),
                };
                let why = self.job_secrets(env, &run.outputs).scrub(&why);
                tracing::warn!(reason = %why, "cancel requested while a money call's outcome is unknown; needs attention");
                let reason = format!(
                    "cancel requested while the outcome of the last {name} call is unknown ({why}); \
                     something may be billed at the provider: check there, then resolve: adopt what \
                     exists (it is then cancelled upstream) or fail (nothing to cancel)"
                );
                return transition::cancel_unsettled(run, now, reason);
            }
        }
        run.cancel_seen = true;
        run.ending = Some(Ending::Cancelled);
        transition::wind_down(run, &job.spec.request, now)
    }
}
