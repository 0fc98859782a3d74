//! The step contract: the ground floor of the worker, where the engine and the
//! providers meet. It imports no other module of the crate; the engine and every
//! provider module import it, and never each other's insides.
//!
//! - [`Outcome`] and [`StepError`]: what a step answers (STYLE.md: outcomes, not
//!   booleans); the engine alone turns them into time.
//! - [`CallError`]: how a provider call failed, in the terms money decides on.
//! - [`StepCx`] and [`JobEnv`]: what one step of one job sees and may change.
//! - [`Provider`], [`Prepared`], [`Reconciled`]: what a provider offers, with its
//!   steps typed ([`StepName`]); [`AnyProvider`] holds one per account.
//! - [`KnownSecrets`]: the secrets a step's words must not repeat.

mod call_error;
mod cx;
mod known_secrets;
mod outcome;
mod provider;

pub use call_error::CallError;
pub use cx::{JobEnv, StepCx};
pub use known_secrets::{KnownSecrets, MASK};
pub use outcome::{Outcome, StepError};
pub(crate) use provider::step_names;
pub use provider::{
    ActionStep, AnyProvider, MoneyStep, NoMoney, Prepared, Provider, Reconciled, StepName, Upstream,
};
