//! Money (and once) steps: intent → call → result; with an intent left by an
//! earlier attempt, reconcile first. The intent is in Redis, and on its replicas,
//! before a byte of the call is sent.

use super::{Engine, Lease, LeaseError};
use crate::step::{CallError, JobEnv, MoneyStep, Outcome, Prepared, Reconciled};
use provisioner_shared::failpoint;
use provisioner_shared::job::{Intent, RunState, StepRecord};
use provisioner_shared::store::Replication;
use std::time::Duration;

impl Engine {
    /// intent → call → result; with an intent left by an earlier attempt, reconcile first.
    pub(super) async fn money_step(
        &self,
        step: &dyn MoneyStep,
        env: JobEnv<'_>,
        run: &mut RunState,
        lease: &mut Lease,
    ) -> Result<Outcome, LeaseError> {
        let now = env.now;
        let cursor = run.cursor;
        let step_name = run.steps[cursor].name.clone();
        if let Some(intent) = run.steps[cursor].intent.clone() {
            match step.reconcile(&mut env.cx(run)).await {
                Reconciled::Done => {
                    tracing::info!(
                        "reconciled: the earlier call had gone through; adopting its result"
                    );
                    return Ok(Outcome::Next);
                }
                Reconciled::Absent => {
                    // A request that was dropped on its way back may still be running at
                    // the provider: "nothing there" proves nothing until it settles.
                    let settled_at = intent.at.plus(self.settings.settle);
                    if now < settled_at {
                        return Ok(Outcome::Wait {
                            after: Some(settled_at.since(now)),
                            note: format!(
                                "the last {step_name} call's outcome is unknown; checking again once the provider has settled"
                            ),
                        });
                    }
                    run.steps[cursor].intent = None;
                    if run.steps[cursor].attempts >= self.settings.retry.max_attempts {
                        // The last attempt's call is proven not to have happened.
                        let last = intent.error.unwrap_or_else(|| "no answer".into());
                        return Ok(Outcome::fail(format!(
                            "gave up after {} attempts: {last}",
                            run.steps[cursor].attempts
                        )));
                    }
                    tracing::info!("reconciled: the earlier call left nothing; calling again");
                }
                Reconciled::Pending(note) => return Ok(Outcome::wait(note)),
                Reconciled::Unknown(reason) => return Ok(Outcome::Attention(reason)),
                Reconciled::Failed(e) => return Ok(lookup_again(&step_name, e)),
            }
        }
        if run.steps[cursor].intent.is_none()
            && let Some(refused) = self.guard_order(&env, &step_name).await
        {
            return Ok(refused);
        }
        let (reference, data) = match step.prepare(&mut env.cx(run)).await {
            Prepared::Skip(outcome) => return Ok(outcome),
            Prepared::Call { reference, data } => (reference, data),
        };
        if let Some(refused) = self.guard_amount(&env, &step_name, &data).await {
            return Ok(refused);
        }
        let attempt = run.steps[cursor].attempts + 1;
        run.steps[cursor].intent = Some(Intent {
            attempt,
            at: now,
            reference,
            data,
            error: None,
        });
        // The intent is in Redis (and on its replicas) before a single byte goes to the
        // provider, and the call gets a whole lease (a full commit, never the lean hold).
        let (_, replication) = lease.renew_replicated(run).await?;
        if let Replication::Short { wanted, acked } = replication {
            // Nothing was sent: drop the intent with the wait's commit, and wait for
            // Redis like for a provider (it costs the job no attempt).
            run.steps[cursor].intent = None;
            return Ok(Outcome::wait(format!(
                "the intent was confirmed by {acked} of {wanted} Redis replicas within {}; the {step_name} call was not sent yet",
                humantime::format_duration(self.settings.wait_timeout)
            )));
        }
        failpoint::hit("engine.intent_committed").await;
        let called = step.call(&mut env.cx(run)).await;
        failpoint::hit("engine.after_call").await;
        // Masked before it is logged or kept on the intent.
        let secrets = self.job_secrets(env, &run.outputs);
        let called = called.map_err(|e| e.scrubbed(&secrets));
        match called {
            Ok(()) => {
                run.steps[cursor].intent = None;
                Ok(Outcome::Next)
            }
            Err(e) if !e.maybe_applied() => {
                // The provider refused or never saw it: nothing to reconcile.
                run.steps[cursor].intent = None;
                Ok(e.into())
            }
            Err(e) => {
                let step = &mut run.steps[cursor];
                if let Some(intent) = step.intent.as_mut() {
                    intent.error = Some(e.to_string());
                }
                if step.attempts + 1 < self.settings.retry.max_attempts {
                    tracing::warn!(error = %e, "call outcome unknown; will reconcile before any retry");
                    return Ok(e.into());
                }
                Ok(self.look_up_last_attempt(step, &e.to_string()))
            }
        }
    }

    /// The last attempt of a money call whose outcome is unknown: count it, and look
    /// again once the provider has settled, so that a call proven not to have
    /// happened fails plainly (and one that did is adopted) instead of asking an
    /// operator.
    pub(super) fn look_up_last_attempt(&self, step: &mut StepRecord, why: &str) -> Outcome {
        step.attempts += 1;
        tracing::warn!(error = %why, "last attempt's outcome unknown; reconciling after the settle window");
        Outcome::Wait {
            after: Some(self.settings.settle.max(Duration::from_millis(1))),
            note: format!(
                "the last {} attempt's outcome is unknown ({why}); checking once the provider has settled",
                step.name
            ),
        }
    }
}

/// A reconciliation whose read failed looks again later. It costs the step no
/// attempt (nothing was sent, and nothing may be sent before the lookup answers);
/// the step's deadline bounds the waiting. A 429's `Retry-After` is kept.
fn lookup_again(step: &str, e: CallError) -> Outcome {
    match Outcome::from(e) {
        Outcome::Retry { error, .. } | Outcome::Fail(error) => Outcome::wait(format!(
            "cannot reconcile the last {step} call yet ({}); looking again",
            error.message
        )),
        other => other,
    }
}
