//! The built-in no-op provider: every step answers `Next` at once (after an optional
//! delay standing in for provider latency). For smoke tests and benchmarks.

use super::{CallError, Prepared, Provider, Reconciled, StepCx};
use crate::engine::Outcome;
use provisioner_shared::request::Order;
use std::time::Duration;

pub struct Noop;

impl Provider for Noop {
    async fn run(&self, step: &str, cx: &mut StepCx<'_>) -> Outcome {
        if let Some(Order::Noop(o)) = &cx.request.order {
            if let Some(ms) = o.wait_ms.filter(|_| step == "noop_1" && cx.step.polls == 0) {
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

    async fn prepare(&self, _step: &str, _cx: &mut StepCx<'_>) -> Prepared {
        Prepared::Skip(Outcome::Next)
    }

    async fn call(&self, _step: &str, _cx: &mut StepCx<'_>) -> Result<(), CallError> {
        Ok(())
    }

    async fn reconcile(&self, _step: &str, _cx: &mut StepCx<'_>) -> Reconciled {
        Reconciled::Absent
    }
}
