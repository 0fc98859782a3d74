//! The built-in no-op provider: every step answers `Next` at once (after an optional
//! delay standing in for provider latency). For smoke tests and benchmarks.

use crate::step::{CallError, NoMoney, Outcome, Prepared, Provider, Reconciled, StepCx, StepName};
use provisioner_shared::request::NoopWork;
use std::time::Duration;

pub struct Noop;

/// A noop plan's steps are `noop_1` … `noop_n`; only the first may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    First,
    Later,
}

impl StepName for Step {
    fn parse(name: &str) -> Option<Step> {
        match name.strip_prefix("noop")? {
            "_1" => Some(Step::First),
            _ => Some(Step::Later),
        }
    }
}

impl Provider for Noop {
    type Action = Step;
    type Money = NoMoney;

    async fn run(&self, step: Step, cx: &mut StepCx<'_>) -> Outcome {
        if let Ok(NoopWork::Provision { order: o, .. }) = cx.work::<NoopWork>() {
            if let Some(ms) = o
                .wait_ms
                .filter(|_| step == Step::First && cx.step.polls == 0)
            {
                return Outcome::Wait {
                    after: Some(Duration::from_millis(ms)),
                    note: format!("waiting {ms} ms, as ordered"),
                };
            }
            if let Some(ms) = o.delay_ms.filter(|ms| *ms > 0) {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        Outcome::Next
    }

    async fn prepare(&self, step: NoMoney, _cx: &mut StepCx<'_>) -> Prepared {
        match step {}
    }

    async fn call(&self, step: NoMoney, _cx: &mut StepCx<'_>) -> Result<(), CallError> {
        match step {}
    }

    async fn reconcile(&self, step: NoMoney, _cx: &mut StepCx<'_>) -> Reconciled {
        match step {}
    }
}
