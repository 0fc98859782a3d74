//! What one step of one job sees and may change: the engine builds it, a provider
//! reads it.

use super::Outcome;
use provisioner_shared::JobRequest;
use provisioner_shared::credentials;
use provisioner_shared::job::{Outputs, RunState, StepRecord};
use provisioner_shared::request::ProviderWork;
use provisioner_shared::secret::{CallbackTokens, Sealed, Sealer};
use provisioner_shared::time::Millis;
use secrecy::SecretString;
use serde_json::Value;

/// What a step sees of its job and of the deployment, besides its own record.
#[derive(Clone, Copy)]
pub struct JobEnv<'a> {
    pub job_id: &'a str,
    pub request: &'a JobRequest,
    /// Redis time at the start of the step.
    pub now: Millis,
    pub sealer: &'a Sealer,
    /// Where the provider may POST when an install completes (cuts the wait short).
    pub callback_url: Option<&'a str>,
    /// `api.public_url` and the key of per-job URL tokens, when configured.
    pub public: Option<(&'a str, &'a CallbackTokens)>,
}

impl<'a> JobEnv<'a> {
    /// The context of the run's current step: built from the same `JobEnv` for
    /// every call of one attempt (prepare, call, reconcile), each time the engine
    /// lends the run again.
    pub fn cx<'r>(self, run: &'r mut RunState) -> StepCx<'r>
    where
        'a: 'r,
    {
        let RunState {
            steps,
            outputs,
            cursor,
            ..
        } = run;
        StepCx::new(self, &mut steps[*cursor], outputs)
    }
}

/// What one step of one job may see and change.
pub struct StepCx<'a> {
    pub job_id: &'a str,
    pub request: &'a JobRequest,
    pub step: &'a mut StepRecord,
    pub outputs: &'a mut Outputs,
    /// Redis time at the start of the step.
    pub now: Millis,
    pub callback_url: Option<&'a str>,
    public: Option<(&'a str, &'a CallbackTokens)>,
    sealer: &'a Sealer,
}

impl<'a> StepCx<'a> {
    pub fn new(env: JobEnv<'a>, step: &'a mut StepRecord, outputs: &'a mut Outputs) -> Self {
        StepCx {
            job_id: env.job_id,
            request: env.request,
            step,
            outputs,
            now: env.now,
            callback_url: env.callback_url,
            public: env.public,
            sealer: env.sealer,
        }
    }

    /// Opens a secret sealed for this job; a failure ends the step (wrong `secrets.key`).
    pub fn open(&self, sealed: &Sealed) -> Result<SecretString, Outcome> {
        self.sealer
            .open(sealed, self.job_id)
            .map_err(|e| Outcome::fail(format!("cannot open a secret of this job: {e}")))
    }

    pub fn seal(&self, secret: &str) -> Sealed {
        self.sealer.seal(secret, self.job_id)
    }

    /// The root password this job sets: the request's, else the one generated for
    /// it at enqueue; opened.
    pub fn root_password(&self) -> Result<Option<SecretString>, Outcome> {
        credentials::password_to_set(self.request, self.outputs, self.sealer, self.job_id)
            .map(|found| found.map(|(password, _)| password))
            .map_err(|e| Outcome::fail(format!("cannot open a secret of this job: {e}")))
    }

    /// Where a server of this job fetches its cloud-init document (the api serves
    /// it), when `api.public_url` is configured.
    pub fn cloud_init_url(&self) -> Option<String> {
        self.public
            .map(|(base, tokens)| tokens.cloud_init_url(base, self.job_id))
    }

    /// Records a plain warning on the job (once: a step may run again).
    pub fn warn(&mut self, text: impl Into<String>) {
        let text = text.into();
        if !self.outputs.warnings.contains(&text) {
            self.outputs.warnings.push(text);
        }
    }

    /// The server this job works on: the one it ordered, or the one it was given.
    pub fn server_id(&self) -> Result<String, Outcome> {
        self.outputs
            .server_id
            .clone()
            .or_else(|| self.request.server_id().map(ToString::to_string))
            .ok_or_else(|| Outcome::fail("no server id yet: the order step has not recorded one"))
    }

    /// This job's work at the provider `W` belongs to. The engine runs a job's steps
    /// only with its account's provider, so the refusal is the one place that says
    /// so, instead of a "not a … job" branch in every step.
    pub fn work<W: ProviderWork>(&self) -> Result<&'a W, Outcome> {
        W::of(&self.request.work).ok_or_else(|| {
            Outcome::fail(format!(
                "a {} job cannot run a {} step",
                self.request.provider(),
                W::PROVIDER
            ))
        })
    }

    pub fn scratch_str(&self, key: &str) -> Option<&str> {
        self.step.scratch.get(key).and_then(Value::as_str)
    }

    pub fn set_scratch(&mut self, key: &str, value: impl Into<Value>) {
        self.step.scratch.insert(key.to_owned(), value.into());
    }

    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.outputs.extra.get(key).and_then(Value::as_str)
    }

    pub fn set_extra(&mut self, key: &str, value: impl Into<Value>) {
        self.outputs.extra.insert(key.to_owned(), value.into());
    }

    /// A short, human line about what the step did (shown as the step's `detail`).
    pub fn detail(&mut self, text: impl Into<String>) {
        self.step.detail = Some(text.into());
    }
}
