//! The engine: advances one job by one step, like a kube-rs reconciler.
//!
//! `Engine::drive` takes a job a worker has just leased and runs its current step;
//! while steps end in `Next` it keeps the lease and runs the next one at once (no new
//! claim, no reload). Each step's `Outcome` goes through the pure rules in
//! [`transition`] and is committed with a compare-and-set on the job's version.
//! Money steps write their intent before the call and reconcile before any retry.
//! A commit that ends a job (or parks it in `needs_attention`) creates the job's
//! outbound callback in the same script when the job has a `callback_url` (the
//! outbox: `crate::callbacks` delivers it).

mod lease;
mod outcome;
pub mod transition;

pub use lease::{Lease, LeaseError};
pub use outcome::{Outcome, StepError};

use crate::metrics::WorkerMetrics;
use crate::providers::{
    AnyProvider, CallError, JobEnv, KnownSecrets, Prepared, Providers, Reconciled, StepCx,
};
use futures::FutureExt;
use provisioner_shared::config::{Config, DeadlinesConfig, PollingConfig, RetryConfig};
use provisioner_shared::failpoint;
use provisioner_shared::job::{
    Ending, Intent, Job, JobSpec, JobState, Outputs, RunState, StepRecord, StepState,
};
use provisioner_shared::plan::{self, Role};
use provisioner_shared::secret::{CallbackTokens, Sealer};
use provisioner_shared::store::{ClaimedJob, Replication, Schedule, Store, Taken};
use provisioner_shared::time::Millis;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing::Instrument;
use transition::Next;

/// The engine's knobs, from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lease: Duration,
    pub step_timeout: Duration,
    pub max_chain: usize,
    pub polling: PollingConfig,
    pub retry: RetryConfig,
    pub deadlines: DeadlinesConfig,
    pub retention: Duration,
    /// A money call's "nothing there" counts only once its intent is this old.
    pub settle: Duration,
    /// How long an intent commit waits for its replicas (`redis.wait_timeout`).
    pub wait_timeout: Duration,
    /// How long a finished job's `Idempotency-Key` is still remembered.
    pub idempotency_ttl: Duration,
}

impl Settings {
    /// What must be left of a lease when a step starts: the step timeout and a margin
    /// for the commit after it (at most 2 s, and at most half of what the lease has
    /// beyond the step timeout, so a fresh lease always has room).
    pub fn step_reserve(&self) -> Duration {
        let spare = self.lease.saturating_sub(self.step_timeout) / 2;
        self.step_timeout + spare.min(Duration::from_secs(2))
    }

    pub fn from_config(c: &Config) -> Settings {
        Settings {
            lease: c.worker.lease,
            step_timeout: c.worker.step_timeout,
            max_chain: c.worker.max_chain,
            polling: c.polling.clone(),
            retry: c.retry.clone(),
            deadlines: c.deadlines.clone(),
            retention: c.retention.finished,
            settle: c.worker.settle,
            wait_timeout: c.redis.wait_timeout,
            idempotency_ttl: c.api.idempotency_ttl,
        }
    }
}

/// When each shard next has something due, as far as this process knows: the claim
/// loop sleeps until the earliest, and the engine lowers it when it schedules a job.
pub struct DueHints {
    shards: Vec<AtomicU64>,
    /// Wakes an idle claim loop when a due time moves earlier than it planned for.
    earlier: tokio::sync::Notify,
}

impl DueHints {
    pub fn new(shards: u16) -> Self {
        DueHints {
            shards: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            earlier: tokio::sync::Notify::new(),
        }
    }

    pub fn get(&self, shard: u16) -> Millis {
        Millis(self.shards[shard as usize].load(Ordering::Relaxed))
    }

    pub fn set(&self, shard: u16, at: Millis) {
        self.shards[shard as usize].store(at.0, Ordering::Relaxed);
    }

    /// Something in `shard` is due at `at` (or earlier than we thought).
    pub fn lower(&self, shard: u16, at: Millis) {
        let before = self.shards[shard as usize].fetch_min(at.0, Ordering::Relaxed);
        if at.0 < before {
            self.earlier.notify_one();
        }
    }

    /// Resolves when some due time moved earlier (at once if that happened since the
    /// last call), so a wait shorter than `max_idle` is not slept through.
    pub async fn moved_earlier(&self) {
        self.earlier.notified().await;
    }

    pub fn len(&self) -> u16 {
        self.shards.len() as u16
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }
}

/// How long a lock holder's record may still be in the making before it counts as
/// dead (the api writes the lock just before the record).
const LOCK_GRACE: Duration = Duration::from_secs(1);

/// How a drive ended, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriveEnd {
    /// Released to the schedule (waiting, retrying, or handed on at shutdown).
    Released,
    Finished(JobState),
    Parked,
    /// Another worker holds it now, or Redis could not be reached: the lease recovers it.
    Abandoned,
}

pub struct Engine {
    store: Store,
    providers: Providers,
    sealer: Sealer,
    settings: Settings,
    hints: Arc<DueHints>,
    /// `api.public_url` and the token key, when providers may call us back (and
    /// fetch a job's cloud-init document).
    provider_callbacks: Option<(String, CallbackTokens)>,
    /// Step outcomes counted for `/metrics` (flushed to Redis by the worker, not here).
    metrics: Arc<WorkerMetrics>,
}

impl Engine {
    pub fn new(
        store: Store,
        providers: Providers,
        sealer: Sealer,
        settings: Settings,
        hints: Arc<DueHints>,
    ) -> Self {
        Engine {
            store,
            providers,
            sealer,
            settings,
            hints,
            provider_callbacks: None,
            metrics: Arc::default(),
        }
    }

    /// Counts step outcomes into `metrics` (shared with the callback deliverer).
    pub fn with_metrics(mut self, metrics: Arc<WorkerMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &Arc<WorkerMetrics> {
        &self.metrics
    }

    /// Gives providers a callback URL per job (`{public_url}/v1/callbacks/{id}/{token}`)
    /// that cuts their waits short (HOSTKEY's `post_install_callback`).
    pub fn with_provider_callbacks(mut self, public_url: &str, tokens: CallbackTokens) -> Self {
        self.provider_callbacks = Some((public_url.to_owned(), tokens));
        self
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs a leased job's current step, and the next ones while they say `Next`.
    /// `stopping` tells it to hand the job back after the current step (shutdown).
    /// `claimed_at` is the claim's Redis time and the moment its reply came: the
    /// lease counts from the claim, not from when the job left the prefetch buffer.
    pub async fn drive(
        &self,
        claimed: ClaimedJob,
        claimed_at: (Millis, Instant),
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> DriveEnd {
        let mut job = match claimed.decode() {
            Ok(job) => job,
            Err(e) => {
                // Left leased: it comes back after the lease, and is logged each time.
                tracing::error!(job_id = %claimed.id, error = %e, "cannot decode job record; leaving it alone");
                return DriveEnd::Abandoned;
            }
        };
        let mut lease = Lease::new(
            self.store.clone(),
            claimed.id.clone(),
            claimed.version,
            claimed.fence.clone(),
            claimed_at,
            self.settings.lease,
            self.settings.step_reserve(),
        );
        let shard = self.store.keys().shard_of(&claimed.id);
        let started = std::time::Instant::now();
        // Chaining stops while a whole further step still fits well inside the lease.
        let chain_budget = self
            .settings
            .lease
            .mul_f32(0.8)
            .saturating_sub(self.settings.step_timeout);
        let mut chain = 0usize;
        // Built once per claim, and only where a public URL is configured.
        let callback_url = self
            .provider_callbacks
            .as_ref()
            .map(|(base, tokens)| tokens.url(base, &claimed.id));
        loop {
            let before = job.run.state;
            // A step never starts without room for all of it in the lease: a job that
            // waited in the prefetch buffer, or a long chain, renews first (and one
            // that another worker has claimed meanwhile is let go).
            match lease.ensure(&job.run).await {
                Ok(Some(signals)) => job.signals = signals,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(job_id = %claimed.id, error = %e, "lease ran out before the step could start; letting the job go");
                    return DriveEnd::Abandoned;
                }
            }
            let span = tracing::info_span!(
                "step",
                job_id = %job.spec.id,
                account = %job.spec.request.account,
                provider = %job.spec.request.provider,
                step = %job.run.current().map(|s| s.name.as_str()).unwrap_or("-"),
            );
            let next = match self
                .step(&mut job, &mut lease, callback_url.as_deref())
                .instrument(span.clone())
                .await
            {
                Ok(next) => next,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(error = %e, "step abandoned"));
                    return DriveEnd::Abandoned;
                }
            };
            chain += 1;
            if lease.remaining().is_zero() {
                span.in_scope(|| tracing::warn!(
                    "the lease ran out while the step ran (the worker was paused, or the step overran); \
                     its result is saved only if no other worker has claimed the job since"
                ));
            }
            self.hold_server(&mut job).await;
            let keep_going = next == Next::Continue
                && chain < self.settings.max_chain
                && started.elapsed() < chain_budget
                && !stopping();
            let schedule = match next {
                Next::Continue if keep_going => Schedule::Keep {
                    lease: self.settings.lease,
                },
                Next::Continue => Schedule::After(Duration::ZERO),
                Next::After(d) => Schedule::After(d),
                Next::Park => Schedule::Park,
                Next::Finish => Schedule::Finish {
                    retention: self.settings.retention,
                },
            };
            if keep_going {
                // shown as running while this worker goes on with it
                job.run.state = provisioner_shared::JobState::Running;
            }
            // The outbox: a job that has just ended, or just needs attention, gets its
            // callback record in the same commit (never for a state it was already in).
            let callback = match schedule {
                Schedule::Finish { .. } | Schedule::Park if job.run.state != before => {
                    crate::callbacks::payload(&job)
                }
                _ => None,
            };
            failpoint::hit("engine.before_commit").await;
            match lease
                .commit_with_callback(&job.run, schedule, callback.as_deref())
                .await
            {
                Ok(signals) => job.signals = signals,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(error = %e, "commit failed; the lease will recover the job"));
                    return DriveEnd::Abandoned;
                }
            }
            span.in_scope(|| {
                tracing::debug!(state = %job.run.state, note = job.run.note.as_deref().unwrap_or(""), "committed")
            });
            failpoint::hit("engine.after_commit").await;
            if callback.is_some() {
                // due now in this shard: this worker's next claim picks it up
                self.hints.lower(shard, lease.now());
            }
            match schedule {
                Schedule::Keep { .. } | Schedule::Hold => continue,
                Schedule::After(d) => {
                    self.hints.lower(shard, lease.now().plus(d));
                    return DriveEnd::Released;
                }
                Schedule::Park => return DriveEnd::Parked,
                Schedule::Finish { .. } => {
                    self.release_holds(&job).await;
                    return DriveEnd::Finished(job.run.state);
                }
            }
        }
    }

    /// A provision holds the server it has just obtained until it ends, so no
    /// reinstall or deprovision of it can start meanwhile (taken before the commit
    /// that records the server; a crash in between retakes it at the next step).
    async fn hold_server(&self, job: &mut Job) {
        let outputs = &job.run.outputs;
        let (Some(server), false) = (&outputs.server_id, outputs.server_held) else {
            return;
        };
        if job.spec.request.kind != provisioner_shared::JobKind::Provision {
            return;
        }
        let key = self
            .store
            .keys()
            .server_lock(&job.spec.request.account, server);
        match self.store.take_lock(&key, job.id(), LOCK_GRACE).await {
            Ok(Taken::Held) => job.run.outputs.server_held = true,
            Ok(Taken::Busy { holder, state }) => {
                // Cannot happen through the api (the server is new); say so loudly
                // and go on: the provision's own work must not stop for it.
                tracing::error!(server = %server, holder = %holder, %state, "another live job holds the server this provision just obtained");
                job.run.outputs.server_held = true;
            }
            Ok(Taken::Contended) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the server lock yet; trying again at the next step")
            }
        }
    }

    /// The job has ended: its locks and idempotency key expire from now on.
    async fn release_holds(&self, job: &Job) {
        let retention = self.settings.retention;
        let lock_ttl = (!retention.is_zero()).then_some(retention);
        self.store
            .release_holds(job, lock_ttl, self.settings.idempotency_ttl)
            .await;
    }

    /// One step of `job`: signals first, then the current step under its timeout.
    async fn step(
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
        let Some(provider) = self.providers.get(&job.spec.request.account) else {
            let outcome = Outcome::fail(format!(
                "account `{}` is not in this worker's config",
                job.spec.request.account
            ));
            return Ok(self.apply(job, outcome, now));
        };
        let Some(step_name) = job.run.current().map(|s| s.name.clone()) else {
            return Ok(self.apply(job, Outcome::Next, now));
        };
        let Some(def) = plan::step_def(provider_kind, &step_name) else {
            let outcome = Outcome::fail(format!(
                "step `{step_name}` is unknown to this worker version"
            ));
            return Ok(self.apply(job, outcome, now));
        };
        transition::begin(&mut job.run, provider_kind, now, &self.settings);
        if def.arms_pxe && !job.run.outputs.pxe_armed {
            // From here on the finalizers must run, so say so before the call is sent.
            job.run.outputs.pxe_armed = true;
            lease.renew(&job.run).await?;
        }
        let timeout = self.settings.step_timeout;
        let work = async {
            match def.role {
                Role::Money | Role::Once => {
                    self.money_step(provider, job, lease, &step_name, cb).await
                }
                _ => {
                    let mut cx = self.cx(&job.spec, &mut job.run, now, cb);
                    Ok(provider.run(&step_name, &mut cx).await)
                }
            }
        };
        let ran = tokio::time::timeout(timeout, AssertUnwindSafe(work).catch_unwind()).await;
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
            other => other.scrubbed(&self.job_secrets(&job.spec, &job.run.outputs)),
        };
        failpoint::hit("engine.after_step").await;
        self.metrics.step(provider_kind, def.name, &outcome);
        log_outcome(&outcome);
        Ok(self.apply(job, outcome, lease.now()))
    }

    /// The context of the job's current step: what it sees of its job and of the
    /// deployment, and the parts of the run state it may change.
    fn cx<'a>(
        &'a self,
        spec: &'a JobSpec,
        run: &'a mut RunState,
        now: Millis,
        cb: Option<&'a str>,
    ) -> StepCx<'a> {
        let env = JobEnv {
            job_id: &spec.id,
            request: &spec.request,
            now,
            sealer: &self.sealer,
            callback_url: cb,
            public: self
                .provider_callbacks
                .as_ref()
                .map(|(base, tokens)| (base.as_str(), tokens)),
        };
        let RunState {
            steps,
            outputs,
            cursor,
            ..
        } = run;
        StepCx::new(env, &mut steps[*cursor], outputs)
    }

    /// The job's own secrets (its root password, passwords the provider returned),
    /// masked wherever a step's words repeat them.
    fn job_secrets(&self, spec: &JobSpec, outputs: &Outputs) -> KnownSecrets {
        let mut known = KnownSecrets::new();
        let sealed = spec
            .request
            .root_password
            .iter()
            .chain(outputs.secrets.values());
        for secret in sealed {
            if let Ok(open) = self.sealer.open(secret, &spec.id) {
                known.add(&open);
            }
        }
        known
    }

    fn apply(&self, job: &mut Job, outcome: Outcome, now: Millis) -> Next {
        transition::apply(
            &mut job.run,
            job.spec.request.provider,
            outcome,
            now,
            &self.settings,
            &mut rand::rng(),
        )
    }

    /// intent → call → result; with an intent left by an earlier attempt, reconcile first.
    async fn money_step(
        &self,
        provider: &AnyProvider,
        job: &mut Job,
        lease: &mut Lease,
        step_name: &str,
        cb: Option<&str>,
    ) -> Result<Outcome, LeaseError> {
        let now = lease.now();
        let run = &mut job.run;
        let cursor = run.cursor;
        if let Some(intent) = run.steps[cursor].intent.clone() {
            let mut cx = self.cx(&job.spec, run, now, cb);
            match provider.reconcile(step_name, &mut cx).await {
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
                Reconciled::Failed(e) => return Ok(lookup_again(step_name, e)),
            }
        }
        let mut cx = self.cx(&job.spec, run, now, cb);
        let (reference, data) = match provider.prepare(step_name, &mut cx).await {
            Prepared::Skip(outcome) => return Ok(outcome),
            Prepared::Call { reference, data } => (reference, data),
        };
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
        let (_, replication) = lease.renew_replicated(&job.run).await?;
        if let Replication::Short { wanted, acked } = replication {
            // Nothing was sent: drop the intent with the wait's commit, and wait for
            // Redis like for a provider (it costs the job no attempt).
            job.run.steps[cursor].intent = None;
            return Ok(Outcome::wait(format!(
                "the intent was confirmed by {acked} of {wanted} Redis replicas within {}; the {step_name} call was not sent yet",
                humantime::format_duration(self.settings.wait_timeout)
            )));
        }
        failpoint::hit("engine.intent_committed").await;
        let run = &mut job.run;
        let mut cx = self.cx(&job.spec, run, now, cb);
        let called = provider.call(step_name, &mut cx).await;
        failpoint::hit("engine.after_call").await;
        // Masked before it is logged or kept on the intent.
        let called = called.map_err(|e| e.scrubbed(&self.job_secrets(&job.spec, &run.outputs)));
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
    fn look_up_last_attempt(&self, step: &mut StepRecord, why: &str) -> Outcome {
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

    /// Acts on a cancel. A money step's open intent is settled first, so that the
    /// compensation knows whether something was created.
    async fn cancel(
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
    fn open_money_intent(&self, job: &Job) -> bool {
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
    async fn settle_cancel(&self, job: &mut Job, now: Millis, cb: Option<&str>) -> Next {
        let cursor = job.run.cursor;
        let name = job.run.steps[cursor].name.clone();
        let settled_at = job.run.steps[cursor]
            .intent
            .as_ref()
            .map(|i| i.at.plus(self.settings.settle));
        let found = match self.providers.get(&job.spec.request.account) {
            Some(provider) => {
                let mut cx = self.cx(&job.spec, &mut job.run, now, cb);
                tokio::time::timeout(
                    self.settings.step_timeout,
                    provider.reconcile(&name, &mut cx),
                )
                .await
                .ok()
            }
            None => Some(Reconciled::Unknown(format!(
                "account `{}` is not in this worker's config",
                job.spec.request.account
            ))),
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
                let why = self.job_secrets(&job.spec, &run.outputs).scrub(&why);
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
