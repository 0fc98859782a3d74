//! One attempt of a job's current step: signals first, then the step its provider
//! resolves from the plan's name, under the step timeout, with panics caught; its
//! outcome masked, counted, logged and handed to the transition.

use super::transition::{self, Next};
use super::{Engine, Lease, LeaseError, unknown_step};
use crate::step::{ActionStep, JobEnv, KnownSecrets, MoneyStep, Outcome};
use futures::FutureExt;
use provisioner_shared::failpoint;
use provisioner_shared::job::{Ending, Job, JobSpec, JobState, Outputs, RunState};
use provisioner_shared::plan::{self, Role};
use provisioner_shared::time::Millis;
use std::panic::AssertUnwindSafe;

/// The current step, resolved by its provider.
enum Step<'p> {
    Action(Box<dyn ActionStep + 'p>),
    Money(Box<dyn MoneyStep + 'p>),
}

impl Engine {
    /// One step of `job`: signals first, then the current step under its timeout.
    pub(super) async fn attempt(
        &self,
        job: &mut Job,
        lease: &mut Lease,
        cb: Option<&str>,
    ) -> Result<Next, LeaseError> {
        let now = lease.now();
        let provider_kind = job.provider();
        if job.signals.cancel && !job.run.cancel_seen {
            return self.cancel(job, lease, cb).await;
        }
        match job.run.state {
            JobState::NeedsAttention => return Ok(Next::Park),
            s if s.is_terminal() => return Ok(Next::Finish),
            _ => {}
        }
        job.run.pokes_seen = job.signals.pokes;
        if job.run.ending == Some(Ending::Cancelled) && self.open_money_intent(job) {
            // A cancel waiting for its money call's outcome to settle.
            return Ok(self.settle_cancel(job, now, cb).await);
        }
        if let Some(next) = transition::skip_settled(&mut job.run, provider_kind) {
            return Ok(next);
        }
        let provider = match self.provider_of(&job.spec.request.account) {
            Ok(provider) => provider,
            Err(why) => return Ok(self.apply(job, Outcome::fail(why), now)),
        };
        let Some(step_name) = job.run.current().map(|s| s.name.clone()) else {
            return Ok(self.apply(job, Outcome::Next, now));
        };
        // The one place a stored step name is read: the plan says how the engine
        // treats it, the provider which of its steps it is.
        let def = plan::step_def(provider_kind, &step_name);
        let resolved = def.and_then(|def| match def.role {
            Role::Money | Role::Once => provider.money(&step_name).map(|s| (def, Step::Money(s))),
            _ => provider.action(&step_name).map(|s| (def, Step::Action(s))),
        });
        let Some((def, step)) = resolved else {
            return Ok(self.apply(job, Outcome::fail(unknown_step(&step_name)), now));
        };
        transition::begin(&mut job.run, provider_kind, now, &self.settings);
        if def.arms_pxe && !job.run.outputs.pxe_armed {
            // From here on the finalizers must run, so say so before the call is sent.
            job.run.outputs.pxe_armed = true;
            lease.renew(&job.run).await?;
        }
        let timeout = self.settings.step_timeout;
        let env = self.env(&job.spec, now, cb);
        let run = &mut job.run;
        let work = async {
            match &step {
                Step::Money(money) => self.money_step(money.as_ref(), env, run, lease).await,
                Step::Action(action) => Ok(action.run(&mut env.cx(run)).await),
            }
        };
        let started = std::time::Instant::now();
        let ran = tokio::time::timeout(timeout, AssertUnwindSafe(work).catch_unwind()).await;
        let took = started.elapsed();
        let outcome = match ran {
            Ok(Ok(Ok(outcome))) => outcome,
            Ok(Ok(Err(lost))) => return Err(lost),
            Ok(Err(panic)) => {
                let msg = panic_message(&panic);
                tracing::error!(panic = %msg, "step panicked");
                self.interrupted(&mut job.run, def.role, format!("the step panicked: {msg}"))
            }
            Err(_) => {
                let why = format!(
                    "the step took longer than {} and was stopped",
                    humantime::format_duration(self.settings.step_timeout)
                );
                self.interrupted(&mut job.run, def.role, why)
            }
        };
        // A provider that echoes the job's password must not put it in the record.
        let outcome = match outcome {
            Outcome::Next => Outcome::Next,
            other => other.scrubbed(&self.job_secrets(env, &job.run.outputs)),
        };
        failpoint::hit("engine.after_step").await;
        self.metrics.step(provider_kind, def.name, &outcome);
        self.metrics.step_took(provider_kind, def.name, took);
        log_outcome(&outcome);
        Ok(self.apply(job, outcome, lease.now()))
    }

    /// What a step sees of its job and of the deployment: built once per attempt,
    /// and lent the run state for each call ([`JobEnv::cx`]).
    pub(super) fn env<'a>(
        &'a self,
        spec: &'a JobSpec,
        now: Millis,
        cb: Option<&'a str>,
    ) -> JobEnv<'a> {
        JobEnv {
            job_id: &spec.id,
            request: &spec.request,
            now,
            sealer: &self.sealer,
            callback_url: cb,
            public: self
                .provider_callbacks
                .as_ref()
                .map(|(base, tokens)| (base.as_str(), tokens)),
        }
    }

    /// The job's own secrets (its root password, passwords the provider returned),
    /// masked wherever a step's words repeat them.
    pub(super) fn job_secrets(&self, env: JobEnv<'_>, outputs: &Outputs) -> KnownSecrets {
        let mut known = KnownSecrets::new();
        let sealed = env
            .request
            .root_password
            .iter()
            .chain(outputs.secrets.values());
        for secret in sealed {
            if let Ok(open) = self.sealer.open(secret, env.job_id) {
                known.add(&open);
            }
        }
        known
    }

    fn apply(&self, job: &mut Job, outcome: Outcome, now: Millis) -> Next {
        transition::apply(
            &mut job.run,
            job.spec.request.provider(),
            outcome,
            now,
            &self.settings,
            &mut rand::rng(),
        )
    }

    /// A step its timeout (or a panic) cut short. A money call cut on its last attempt may have
    /// gone through: like a lost answer, it is looked up once the provider has
    /// settled rather than parked unasked. (A lookup that never answers is retried,
    /// and parks the job once the attempts are spent: then nobody can tell.)
    fn interrupted(&self, run: &mut RunState, role: Role, why: String) -> Outcome {
        let cursor = run.cursor;
        let step = &mut run.steps[cursor];
        // An intent of this very attempt: the call (not the lookup) was cut.
        let call_cut = matches!(role, Role::Money | Role::Once)
            && step
                .intent
                .as_ref()
                .is_some_and(|i| i.attempt == step.attempts + 1);
        if !call_cut || step.attempts + 1 < self.settings.retry.max_attempts {
            return Outcome::retry(why);
        }
        if let Some(intent) = step.intent.as_mut() {
            intent.error = Some(why.clone());
        }
        self.look_up_last_attempt(step, &why)
    }
}

fn log_outcome(outcome: &Outcome) {
    match outcome {
        Outcome::Next => tracing::info!(outcome = "next", "step done"),
        Outcome::Wait { note, .. } => {
            tracing::debug!(outcome = "wait", note = %note, "step waiting")
        }
        Outcome::Retry { error, .. } => {
            tracing::warn!(outcome = "retry", error = %error.message, "step will retry")
        }
        Outcome::Fail(error) => tracing::warn!(
            outcome = "fail",
            error = %error.message,
            provider_message = error.provider_message.as_deref().unwrap_or(""),
            "step failed"
        ),
        Outcome::Attention(reason) => {
            tracing::warn!(outcome = "attention", reason = %reason, "step needs attention")
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
