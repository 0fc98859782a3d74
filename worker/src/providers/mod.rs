//! Provider clients: one module per provider, each with the same shape.
//!
//! Each module has `api.rs` (a typed HTTP client that parses every documented answer
//! leniently and quotes the provider's own error text) and `mod.rs` (the steps of the
//! provider's plans on top of that client, behind the [`Provider`] trait). A provider
//! module never reaches the engine or Redis: it sees one step's context and answers
//! with an [`Outcome`].
//!
//! What the clients share sits beside them: [`http`] (every request goes out through
//! the account's [`Gate`] and comes back as a body or a [`CallError`]), [`fields`]
//! (ids, numbers and money as providers print them), [`lenient_json`] (the seeds'
//! not-quite-JSON), [`redact`] (the one masking of secrets in quoted answers),
//! [`error`] and [`gate`].

pub mod error;
#[cfg(test)]
pub(crate) mod fake_http;
pub mod fields;
pub mod gate;
pub mod hostkey;
pub mod http;
pub mod idcloudhost;
pub mod inferno;
pub mod klikk;
pub mod lenient_json;
pub mod noop;
pub mod orders;
pub mod redact;

pub use error::CallError;
pub use gate::Gate;
pub use redact::KnownSecrets;

use crate::engine::Outcome;
use futures::future::BoxFuture;
use provisioner_shared::config::{Account, Config};
use provisioner_shared::credentials;
use provisioner_shared::job::{Outputs, StepRecord};
use provisioner_shared::secret::{CallbackTokens, Sealed, Sealer};
use provisioner_shared::store::Store;
use provisioner_shared::time::Millis;
use provisioner_shared::{JobRequest, ProviderKind};
use secrecy::SecretString;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

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
            .or_else(|| self.request.server_id.clone())
            .ok_or_else(|| Outcome::fail("no server id yet: the order step has not recorded one"))
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

/// A money step's preparation: what is about to be paid or ordered.
#[derive(Debug)]
pub enum Prepared {
    /// Write this intent, then call. `reference` identifies our order or payment at
    /// the provider; `data` holds facts taken before the call (for reconciliation).
    Call { reference: String, data: Value },
    /// Nothing to call (already paid, no invoice yet, …).
    Skip(Outcome),
}

/// What reconciliation found for an intent without a result.
#[derive(Debug)]
pub enum Reconciled {
    /// The call had happened: its result is now recorded in the outputs.
    Done,
    /// The lookup proves nothing happened: calling again is safe.
    Absent,
    /// The provider is still working on it.
    Pending(String),
    /// Cannot be known: an operator must look.
    Unknown(String),
    /// The lookup itself failed (e.g. transient): try again later, intent kept.
    Failed(CallError),
}

impl Reconciled {
    /// A reconciliation's read failed. It decides nothing: a transient failure, or an
    /// answer in a shape we could not read (a garbled body), is read again later;
    /// only a refusal (the provider said no, our credentials) needs an operator.
    pub fn lookup_failed(e: CallError, doing: impl std::fmt::Display) -> Reconciled {
        if e.is_transient() || matches!(e, CallError::BadResponse { .. }) {
            Reconciled::Failed(e)
        } else {
            Reconciled::Unknown(format!("{doing}: {e}"))
        }
    }
}

/// The operations every provider module offers. Action, finalizer and compensation
/// steps go through `run`; money steps through `prepare` → `call` → `reconcile`, so
/// that the engine (not the provider) writes the intent before the call.
pub trait Provider: Send + Sync {
    fn run(&self, step: &str, cx: &mut StepCx<'_>) -> impl Future<Output = Outcome> + Send;
    fn prepare(&self, step: &str, cx: &mut StepCx<'_>) -> impl Future<Output = Prepared> + Send;
    fn call(
        &self,
        step: &str,
        cx: &mut StepCx<'_>,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
    fn reconcile(&self, step: &str, cx: &mut StepCx<'_>)
    -> impl Future<Output = Reconciled> + Send;
}

/// A configured account's provider client. Built once per account at start, so the
/// size difference between variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum AnyProvider {
    Hostkey(hostkey::Hostkey),
    Idcloudhost(idcloudhost::Idcloudhost),
    Inferno(inferno::Inferno),
    Klikk(klikk::Klikk),
    Noop(noop::Noop),
    /// A provider given from outside ([`Providers::with`]).
    Injected(Injected),
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyProvider::Hostkey($p) => $e,
            AnyProvider::Idcloudhost($p) => $e,
            AnyProvider::Inferno($p) => $e,
            AnyProvider::Klikk($p) => $e,
            AnyProvider::Noop($p) => $e,
            AnyProvider::Injected($p) => $e,
        }
    };
}

impl AnyProvider {
    pub async fn run(&self, step: &str, cx: &mut StepCx<'_>) -> Outcome {
        dispatch!(self, p => p.run(step, cx).await)
    }

    pub async fn prepare(&self, step: &str, cx: &mut StepCx<'_>) -> Prepared {
        dispatch!(self, p => p.prepare(step, cx).await)
    }

    pub async fn call(&self, step: &str, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        dispatch!(self, p => p.call(step, cx).await)
    }

    pub async fn reconcile(&self, step: &str, cx: &mut StepCx<'_>) -> Reconciled {
        dispatch!(self, p => p.reconcile(step, cx).await)
    }
}

/// The provider client of every configured account.
pub struct Providers {
    by_account: HashMap<String, AnyProvider>,
}

impl Providers {
    pub fn from_config(
        config: &Config,
        store: &Store,
        step_timeout: Duration,
    ) -> Result<Providers, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("provisioner/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let mut by_account = HashMap::new();
        for account in &config.accounts {
            // A provider call must end before its step's timeout, with room to spare.
            let timeout = account
                .request_timeout
                .unwrap_or(step_timeout.mul_f32(0.8))
                .min(step_timeout);
            let gate = Gate::new(
                store.clone(),
                &account.name,
                account.provider.as_str(),
                account.rate_limit,
            )
            .with_max_queue(step_timeout / 4);
            by_account.insert(
                account.name.clone(),
                Self::client(account, http.clone(), gate, timeout, store),
            );
        }
        Ok(Providers { by_account })
    }

    fn client(
        account: &Account,
        http: reqwest::Client,
        gate: Gate,
        timeout: Duration,
        store: &Store,
    ) -> AnyProvider {
        match account.provider {
            ProviderKind::Hostkey => {
                AnyProvider::Hostkey(hostkey::Hostkey::new(account, http, gate, timeout))
            }
            ProviderKind::Klikk => {
                AnyProvider::Klikk(klikk::Klikk::new(account, http, gate, timeout))
            }
            ProviderKind::Idcloudhost => AnyProvider::Idcloudhost(idcloudhost::Idcloudhost::new(
                account, http, gate, timeout,
            )),
            ProviderKind::Noop => AnyProvider::Noop(noop::Noop),
            ProviderKind::Inferno => AnyProvider::Inferno(inferno::Inferno::new(
                account,
                http,
                gate,
                timeout,
                orders::OrderRegistry::new(store.clone(), &account.name),
            )),
        }
    }

    /// Serves `account` with `provider` instead of the client its config names: a
    /// test's scriptable provider (the engine's model test), or an embedding
    /// program's own. The engine runs the plan of the account's provider kind and
    /// treats it like any other client.
    pub fn with(mut self, account: &str, provider: impl Provider + 'static) -> Self {
        self.by_account.insert(
            account.to_owned(),
            AnyProvider::Injected(Injected(Box::new(provider))),
        );
        self
    }

    pub fn get(&self, account: &str) -> Option<&AnyProvider> {
        self.by_account.get(account)
    }
}

/// A [`Provider`] of the caller's own, boxed: the trait's futures are not
/// object-safe, so it is held through [`ErasedProvider`].
pub struct Injected(Box<dyn ErasedProvider>);

/// [`Provider`] with boxed futures, so that one of any type can be stored.
trait ErasedProvider: Send + Sync {
    fn run_boxed<'a, 'b>(&'a self, step: &'a str, cx: &'a mut StepCx<'b>)
    -> BoxFuture<'a, Outcome>;
    fn prepare_boxed<'a, 'b>(
        &'a self,
        step: &'a str,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Prepared>;
    fn call_boxed<'a, 'b>(
        &'a self,
        step: &'a str,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<(), CallError>>;
    fn reconcile_boxed<'a, 'b>(
        &'a self,
        step: &'a str,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Reconciled>;
}

impl<P: Provider> ErasedProvider for P {
    fn run_boxed<'a, 'b>(
        &'a self,
        step: &'a str,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(Provider::run(self, step, cx))
    }

    fn prepare_boxed<'a, 'b>(
        &'a self,
        step: &'a str,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Prepared> {
        Box::pin(Provider::prepare(self, step, cx))
    }

    fn call_boxed<'a, 'b>(
        &'a self,
        step: &'a str,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Result<(), CallError>> {
        Box::pin(Provider::call(self, step, cx))
    }

    fn reconcile_boxed<'a, 'b>(
        &'a self,
        step: &'a str,
        cx: &'a mut StepCx<'b>,
    ) -> BoxFuture<'a, Reconciled> {
        Box::pin(Provider::reconcile(self, step, cx))
    }
}

impl Provider for Injected {
    async fn run(&self, step: &str, cx: &mut StepCx<'_>) -> Outcome {
        self.0.run_boxed(step, cx).await
    }

    async fn prepare(&self, step: &str, cx: &mut StepCx<'_>) -> Prepared {
        self.0.prepare_boxed(step, cx).await
    }

    async fn call(&self, step: &str, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        self.0.call_boxed(step, cx).await
    }

    async fn reconcile(&self, step: &str, cx: &mut StepCx<'_>) -> Reconciled {
        self.0.reconcile_boxed(step, cx).await
    }
}
