//! The provider side of the model: a scriptable in-memory cloud standing in for an
//! IDCloudHost account (plan `create_vm` → `pay` → `await_running`, compensation
//! `compensate_cancel`). It keeps its own ledger of what each job (by its id, the
//! reference the engine passes) created, paid and cancelled, and answers each call
//! as the current drive's script says. It is the test double of the provider only:
//! the engine, the store and Redis are the real ones.
//!
//! Its effects happen at once when a call is first polled, or never, or (for a
//! request still in flight, [`Fault::LateApply`]) by the provider itself within
//! [`LATE_APPLY`]: a worker frozen or cut at any await point can never apply a call
//! after the fact, so every duplicate it counts is the engine's doing.

use provisioner_shared::ProviderKind;
use provisioner_shared::plan;
use provisioner_worker::step::{
    CallError, Outcome, Prepared, Provider, Reconciled, StepCx, StepName,
};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long a request in flight may take to land at the provider; shorter than the
/// engine's settle window, which is what the engine promises to wait for.
pub const LATE_APPLY: Duration = Duration::from_millis(60);

/// How long a slow but timely answer takes (well inside the step timeout).
const SLOW: Duration = Duration::from_millis(30);

const PROVIDER: &str = "model-cloud";

/// What the provider does with one call, lookup or action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The truth: a call is applied and answered, a lookup reads the ledger.
    Ok,
    /// A 4xx: refused, nothing applied (a lookup: "cannot tell").
    Refuse,
    /// Nothing reached the provider (a lookup: the lookup itself failed).
    NotSent,
    /// Applied, then the answer was lost (a 502 on the way back).
    Lost,
    /// The answer is lost at once; the provider applies the request within
    /// [`LATE_APPLY`] (a lookup: the truth).
    LateApply,
    /// A 504 from a gateway that never passed the request on: nothing applied, but
    /// the engine cannot know that (a lookup: still pending; an action: not ready).
    NotReady,
    /// A 429 with a short Retry-After; nothing applied.
    RateLimited,
    /// Applied, and answered after [`SLOW`].
    Slow,
    /// Applied first when `applied`, then no answer at all: the step times out.
    Stuck { applied: bool },
    /// Applied first when `applied`, then the call waits for the test: the drive is
    /// cut there (a crash) or frozen (a stalled worker, resumed later). Released, it
    /// answers the truth when applied, else a lost connection.
    Hang { applied: bool },
}

tokio::task_local! {
    /// The script of the drive being polled (each drive's future runs in its scope).
    static SCRIPT: Arc<Script>;
}

/// One drive's answers, in the order its provider calls come; [`Fault::Ok`] once
/// they run out.
pub struct Script {
    faults: Mutex<VecDeque<Fault>>,
    hung: AtomicBool,
    release: watch::Sender<bool>,
}

impl Script {
    pub fn new(faults: &[Fault]) -> Arc<Script> {
        Arc::new(Script {
            faults: Mutex::new(faults.iter().copied().collect()),
            hung: AtomicBool::new(false),
            release: watch::Sender::new(false),
        })
    }

    /// `future` with this script as the one its provider calls follow.
    pub fn scope<F: Future>(
        self: &Arc<Self>,
        future: F,
    ) -> impl Future<Output = F::Output> + use<F> {
        SCRIPT.scope(self.clone(), future)
    }

    /// A call of this drive is waiting at a [`Fault::Hang`].
    pub fn is_hung(&self) -> bool {
        self.hung.load(Ordering::SeqCst)
    }

    /// Lets a hung call answer, and makes every later call of this drive healthy.
    pub fn release(&self) {
        self.faults.lock().unwrap().clear();
        self.hung.store(false, Ordering::SeqCst);
        self.release.send_replace(true);
    }

    fn next() -> Fault {
        SCRIPT
            .try_with(|s| s.faults.lock().unwrap().pop_front())
            .ok()
            .flatten()
            .unwrap_or(Fault::Ok)
    }

    /// Waits until the test releases this drive (never, for a crash).
    async fn hang() {
        let Ok(script) = SCRIPT.try_with(Arc::clone) else {
            return;
        };
        script.hung.store(true, Ordering::SeqCst);
        let mut released = script.release.subscribe();
        let _ = released.wait_for(|r| *r).await;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vm {
    pub id: String,
    pub cancelled: bool,
}

/// What the provider knows of one job (by its reference).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Every VM created for it (more than one is a duplicate order).
    pub vms: Vec<Vm>,
    /// The VM each payment paid for (more than one is a duplicate payment).
    pub payments: Vec<String>,
    /// Requests still in flight ([`Fault::LateApply`]).
    pub in_flight: u32,
    /// Steps for which the provider gave an answer that leaves their outcome open (a
    /// lookup that could not tell, a compensation that did not go through): the only
    /// steps where the engine may ask an operator.
    pub unsure: BTreeSet<String>,
}

impl Ledger {
    /// The invoice id the provider gives the payment of `vm`.
    pub fn invoice_of(vm: &str) -> String {
        format!("inv-{vm}")
    }
}

/// The fake cloud; cheap to clone (one ledger underneath).
#[derive(Clone, Default)]
pub struct Cloud {
    inner: Arc<Mutex<CloudState>>,
}

#[derive(Default)]
struct CloudState {
    jobs: HashMap<String, Ledger>,
    next_vm: u64,
}

/// A step's effect at the provider.
#[derive(Debug, Clone)]
enum Effect {
    CreateVm,
    Pay { vm: String },
    CancelVm { vm: String },
    Nothing,
}

impl Cloud {
    pub fn ledger(&self, job: &str) -> Ledger {
        self.inner
            .lock()
            .unwrap()
            .jobs
            .get(job)
            .cloned()
            .unwrap_or_default()
    }

    pub fn in_flight(&self) -> u32 {
        let state = self.inner.lock().unwrap();
        state.jobs.values().map(|l| l.in_flight).sum()
    }

    fn mark_unsure(&self, job: &str, step: &str) {
        let mut state = self.inner.lock().unwrap();
        state
            .jobs
            .entry(job.to_owned())
            .or_default()
            .unsure
            .insert(step.to_owned());
    }

    /// Applies `effect` for `job`; returns the VM it is about (the new one for a
    /// create).
    fn apply(&self, job: &str, effect: &Effect) -> Option<String> {
        let mut state = self.inner.lock().unwrap();
        let n = state.next_vm;
        let ledger = state.jobs.entry(job.to_owned()).or_default();
        let vm = match effect {
            Effect::CreateVm => {
                let id = format!("vm-{n}");
                ledger.vms.push(Vm {
                    id: id.clone(),
                    cancelled: false,
                });
                Some(id)
            }
            Effect::Pay { vm } => {
                ledger.payments.push(vm.clone());
                Some(vm.clone())
            }
            Effect::CancelVm { vm } => {
                for v in ledger.vms.iter_mut().filter(|v| &v.id == vm) {
                    v.cancelled = true;
                }
                Some(vm.clone())
            }
            Effect::Nothing => None,
        };
        if matches!(effect, Effect::CreateVm) {
            state.next_vm += 1;
        }
        vm
    }

    /// The provider applies `effect` by itself a little later.
    fn apply_later(&self, job: &str, effect: Effect) {
        self.inner
            .lock()
            .unwrap()
            .jobs
            .entry(job.to_owned())
            .or_default()
            .in_flight += 1;
        let cloud = self.clone();
        let job = job.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(LATE_APPLY).await;
            cloud.apply(&job, &effect);
            if let Some(l) = cloud.inner.lock().unwrap().jobs.get_mut(&job) {
                l.in_flight -= 1;
            }
        });
    }

    /// The step's effect, from what the job has recorded.
    fn effect(step: &str, cx: &StepCx<'_>) -> Effect {
        let vm = known_vm(cx);
        match (step, vm) {
            ("create_vm", _) => Effect::CreateVm,
            ("pay", Some(vm)) => Effect::Pay { vm },
            ("compensate_cancel", Some(vm)) => Effect::CancelVm { vm },
            _ => Effect::Nothing,
        }
    }

    /// Records a call's answer in the job's outputs, as a client does.
    fn answer(step: &str, vm: Option<String>, cx: &mut StepCx<'_>) {
        match (step, vm) {
            ("create_vm", Some(vm)) => cx.outputs.server_id = Some(vm),
            ("pay", Some(vm)) => cx.outputs.invoice_id = Some(Ledger::invoice_of(&vm)),
            _ => {}
        }
    }

    /// What the ledger says of a money step (a truthful lookup).
    fn lookup(&self, step: &str, cx: &mut StepCx<'_>) -> Reconciled {
        let ledger = self.ledger(cx.job_id);
        match step {
            "create_vm" => match ledger.vms.first() {
                Some(vm) => {
                    cx.outputs.server_id = Some(vm.id.clone());
                    Reconciled::Done
                }
                None => Reconciled::Absent,
            },
            "pay" => match ledger.payments.first() {
                Some(vm) => {
                    cx.outputs.invoice_id = Some(Ledger::invoice_of(vm));
                    Reconciled::Done
                }
                None => Reconciled::Absent,
            },
            other => Reconciled::Unknown(format!("the model has no money step {other}")),
        }
    }

    /// An action step's truthful answer, once its effect (if any) is applied.
    fn act(&self, step: &str, cx: &mut StepCx<'_>) -> Outcome {
        match step {
            "await_running" => {
                let ledger = self.ledger(cx.job_id);
                let known = known_vm(cx);
                match ledger.vms.iter().find(|v| Some(&v.id) == known.as_ref()) {
                    Some(vm) if !vm.cancelled => Outcome::Next,
                    Some(vm) => Outcome::fail(format!("{} is cancelled", vm.id)),
                    None => Outcome::fail("no such VM"),
                }
            }
            "compensate_cancel" => Outcome::Next,
            other => Outcome::fail(format!("the model has no step {other}")),
        }
    }
}

/// The VM the job has recorded (by a call's answer, a lookup or an operator).
pub fn known_vm(cx: &StepCx<'_>) -> Option<String> {
    cx.outputs
        .server_id
        .clone()
        .or_else(|| cx.outputs.order_id.clone())
}

fn unknown(message: &str) -> CallError {
    CallError::Unknown {
        provider: PROVIDER,
        message: message.to_owned(),
    }
}

fn not_sent() -> CallError {
    CallError::NotSent {
        provider: PROVIDER,
        message: "connection refused".into(),
    }
}

fn refused() -> CallError {
    CallError::Rejected {
        provider: PROVIDER,
        message: "the model refuses this".into(),
        status: Some(422),
    }
}

fn rate_limited() -> CallError {
    CallError::RateLimited {
        provider: PROVIDER,
        retry_after: Some(Duration::from_millis(20)),
    }
}

/// A step of the model's plan (IDCloudHost's), under its plan name: the model
/// answers by name, and the engine has already sorted money from action steps.
#[derive(Debug, Clone, Copy)]
pub struct Named(&'static str);

impl StepName for Named {
    fn parse(name: &str) -> Option<Named> {
        plan::step_def(ProviderKind::Idcloudhost, name).map(|d| Named(d.name))
    }
}

impl Provider for Cloud {
    type Action = Named;
    type Money = Named;

    async fn run(&self, Named(step): Named, cx: &mut StepCx<'_>) -> Outcome {
        let fault = Script::next();
        let compensation = step == "compensate_cancel";
        if compensation && fault != Fault::Ok {
            self.mark_unsure(cx.job_id, step);
        }
        let effect = Cloud::effect(step, cx);
        match fault {
            Fault::Ok => {
                self.apply(cx.job_id, &effect);
                self.act(step, cx)
            }
            Fault::Refuse => Outcome::from(refused()),
            Fault::NotSent => Outcome::from(not_sent()),
            Fault::Lost => {
                self.apply(cx.job_id, &effect);
                Outcome::from(unknown("502 Bad Gateway"))
            }
            Fault::LateApply => {
                self.apply_later(cx.job_id, effect);
                Outcome::from(unknown("502 Bad Gateway"))
            }
            Fault::NotReady => Outcome::wait("not ready yet"),
            Fault::RateLimited => Outcome::from(rate_limited()),
            Fault::Slow => {
                self.apply(cx.job_id, &effect);
                tokio::time::sleep(SLOW).await;
                self.act(step, cx)
            }
            Fault::Stuck { applied } => {
                if applied {
                    self.apply(cx.job_id, &effect);
                }
                std::future::pending().await
            }
            Fault::Hang { applied } => {
                if applied {
                    self.apply(cx.job_id, &effect);
                }
                Script::hang().await;
                if applied {
                    self.act(step, cx)
                } else {
                    Outcome::from(unknown("connection reset"))
                }
            }
        }
    }

    async fn prepare(&self, Named(step): Named, cx: &mut StepCx<'_>) -> Prepared {
        // No check of its own (a real client may skip what is already paid): every
        // call the engine makes reaches the ledger, so it counts every duplicate.
        if step == "pay" && known_vm(cx).is_none() {
            return Prepared::Skip(Outcome::fail("nothing to pay: the job knows no VM"));
        }
        Prepared::Call {
            reference: cx.job_id.to_owned(),
            data: serde_json::Value::Null,
        }
    }

    async fn call(&self, Named(step): Named, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let effect = Cloud::effect(step, cx);
        match Script::next() {
            Fault::Ok => {
                let vm = self.apply(cx.job_id, &effect);
                Cloud::answer(step, vm, cx);
                Ok(())
            }
            Fault::Refuse => Err(refused()),
            Fault::NotSent => Err(not_sent()),
            Fault::Lost => {
                self.apply(cx.job_id, &effect);
                Err(unknown("502 Bad Gateway"))
            }
            Fault::LateApply => {
                self.apply_later(cx.job_id, effect);
                Err(unknown("502 Bad Gateway"))
            }
            Fault::NotReady => Err(unknown("504 Gateway Timeout")),
            Fault::RateLimited => Err(rate_limited()),
            Fault::Slow => {
                let vm = self.apply(cx.job_id, &effect);
                tokio::time::sleep(SLOW).await;
                Cloud::answer(step, vm, cx);
                Ok(())
            }
            Fault::Stuck { applied } => {
                if applied {
                    self.apply(cx.job_id, &effect);
                }
                std::future::pending().await
            }
            Fault::Hang { applied } => {
                let vm = applied.then(|| self.apply(cx.job_id, &effect)).flatten();
                Script::hang().await;
                if applied {
                    Cloud::answer(step, vm, cx);
                    Ok(())
                } else {
                    Err(unknown("connection reset"))
                }
            }
        }
    }

    async fn reconcile(&self, Named(step): Named, cx: &mut StepCx<'_>) -> Reconciled {
        let fault = Script::next();
        if !matches!(fault, Fault::Ok | Fault::LateApply | Fault::Slow) {
            self.mark_unsure(cx.job_id, step);
        }
        match fault {
            Fault::Ok | Fault::LateApply => self.lookup(step, cx),
            Fault::Refuse => Reconciled::Unknown("the model cannot tell".into()),
            Fault::NotSent => Reconciled::Failed(not_sent()),
            Fault::Lost => Reconciled::Failed(unknown("502 Bad Gateway")),
            Fault::NotReady => Reconciled::Pending("the provider is still working on it".into()),
            Fault::RateLimited => Reconciled::Failed(rate_limited()),
            Fault::Slow => {
                tokio::time::sleep(SLOW).await;
                self.lookup(step, cx)
            }
            Fault::Stuck { .. } => std::future::pending().await,
            Fault::Hang { .. } => {
                Script::hang().await;
                self.lookup(step, cx)
            }
        }
    }
}
