//! The `Provider` trait: what every provider module offers the engine, with its
//! steps typed. A provider reads a stored step name once ([`StepName::parse`]) into
//! its own enums; the engine resolves a job's current step through [`AnyProvider`]
//! (one boxed client per account), so an unknown name is one error, found there.

use super::{CallError, Outcome, StepCx};
use futures::future::BoxFuture;
use provisioner_shared::dry_run::{DryRunReport, Problem};
use provisioner_shared::request::JobRequest;
use serde_json::Value;
use std::future::Future;

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

/// One server or order as the provider lists it, for the drift sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The id a job's `server_id` (or `order_id`) would hold.
    pub id: String,
    /// The job id this entry carries as our reference (IDCloudHost: the VM's
    /// description), when the provider keeps one.
    pub reference: Option<String>,
    /// Its name and status, in the provider's words.
    pub detail: String,
    /// An order still waiting for its payment.
    pub unpaid: bool,
    /// When the provider says it was created (ms since the epoch); without it an
    /// unpaid order's age is its job's.
    pub created_ms: Option<u64>,
}

/// A provider's own step names, read once from the plan a job stores.
pub trait StepName: Copy + Send + Sync + 'static {
    /// The step called `name`; `None` for a name this provider has no such step of.
    fn parse(name: &str) -> Option<Self>;
}

/// Declares a provider's step enum from its plan names, with [`StepName`] and
/// `name` (for the provider's own messages).
macro_rules! step_names {
    ($(#[$meta:meta])* $vis:vis enum $ty:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $ty {
            $($(#[$vmeta])* $variant),+
        }

        impl $ty {
            /// The plan's name of this step.
            #[allow(dead_code)]
            $vis fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl $crate::step::StepName for $ty {
            fn parse(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($ty::$variant),)+
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use step_names;

/// For a provider without money steps: no name parses to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoMoney {}

impl StepName for NoMoney {
    fn parse(_: &str) -> Option<Self> {
        None
    }
}

/// The operations every provider module offers. Action, finalizer and compensation
/// steps go through `run`; money (and once) steps through `prepare` → `call` →
/// `reconcile`, so that the engine (not the provider) writes the intent before the
/// call. Each takes the provider's own step type: no match on strings, no "no such
/// step" branch.
pub trait Provider: Send + Sync {
    /// Its action, finalizer and compensation steps.
    type Action: StepName;
    /// Its money and once steps.
    type Money: StepName;

    fn run(&self, step: Self::Action, cx: &mut StepCx<'_>) -> impl Future<Output = Outcome> + Send;
    fn prepare(
        &self,
        step: Self::Money,
        cx: &mut StepCx<'_>,
    ) -> impl Future<Output = Prepared> + Send;
    fn call(
        &self,
        step: Self::Money,
        cx: &mut StepCx<'_>,
    ) -> impl Future<Output = Result<(), CallError>> + Send;
    fn reconcile(
        &self,
        step: Self::Money,
        cx: &mut StepCx<'_>,
    ) -> impl Future<Output = Reconciled> + Send;

    /// A dry run: the provider's read-only checks of `request` (never an order or a
    /// payment), with the calls its steps would make and the price where stated.
    /// A provider without checks says so as a problem.
    fn dry_run<'a>(
        &'a self,
        request: &'a JobRequest,
    ) -> impl Future<Output = DryRunReport> + Send + 'a {
        let _ = request;
        async {
            DryRunReport {
                problems: vec![Problem::new(
                    "account",
                    "this provider has no read-only checks for a dry run",
                )],
                ..DryRunReport::default()
            }
        }
    }

    /// Every server and order of the account, read-only, for the drift sweep;
    /// `None`: this provider has no listing (the sweep reports it unsupported).
    fn inventory(&self) -> impl Future<Output = Result<Option<Vec<Upstream>>, CallError>> + Send {
        async { Ok(None) }
    }
}

/// Any [`Provider`], boxed per account: resolves a stored step name to one of its
/// steps. The trait's futures are not object-safe; these are boxed.
pub trait AnyProvider: Send + Sync {
    /// The action step called `name`, if this provider has one.
    fn action<'p>(&'p self, name: &str) -> Option<Box<dyn ActionStep + 'p>>;
    /// The money (or once) step called `name`, if this provider has one.
    fn money<'p>(&'p self, name: &str) -> Option<Box<dyn MoneyStep + 'p>>;
    /// [`Provider::dry_run`], boxed.
    fn dry_run<'a>(&'a self, request: &'a JobRequest) -> BoxFuture<'a, DryRunReport>;
    /// [`Provider::inventory`], boxed.
    fn inventory(&self) -> BoxFuture<'_, Result<Option<Vec<Upstream>>, CallError>>;
}

/// An action step of one provider, resolved.
pub trait ActionStep: Send + Sync {
    fn run<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Outcome>;
}

/// A money step of one provider, resolved.
pub trait MoneyStep: Send + Sync {
    fn prepare<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Prepared>;
    fn call<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Result<(), CallError>>;
    fn reconcile<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Reconciled>;
}

/// A provider and one of its steps.
struct Bound<'p, P, S> {
    provider: &'p P,
    step: S,
}

impl<P: Provider> AnyProvider for P {
    fn action<'p>(&'p self, name: &str) -> Option<Box<dyn ActionStep + 'p>> {
        let step = P::Action::parse(name)?;
        Some(Box::new(Bound {
            provider: self,
            step,
        }))
    }

    fn money<'p>(&'p self, name: &str) -> Option<Box<dyn MoneyStep + 'p>> {
        let step = P::Money::parse(name)?;
        Some(Box::new(Bound {
            provider: self,
            step,
        }))
    }

    fn dry_run<'a>(&'a self, request: &'a JobRequest) -> BoxFuture<'a, DryRunReport> {
        Box::pin(Provider::dry_run(self, request))
    }

    fn inventory(&self) -> BoxFuture<'_, Result<Option<Vec<Upstream>>, CallError>> {
        Box::pin(Provider::inventory(self))
    }
}

impl<P: Provider> ActionStep for Bound<'_, P, P::Action> {
    fn run<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Outcome> {
        Box::pin(self.provider.run(self.step, cx))
    }
}

impl<P: Provider> MoneyStep for Bound<'_, P, P::Money> {
    fn prepare<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Prepared> {
        Box::pin(self.provider.prepare(self.step, cx))
    }

    fn call<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Result<(), CallError>> {
        Box::pin(self.provider.call(self.step, cx))
    }

    fn reconcile<'a, 'b>(&'a self, cx: &'a mut StepCx<'b>) -> BoxFuture<'a, Reconciled> {
        Box::pin(self.provider.reconcile(self.step, cx))
    }
}
