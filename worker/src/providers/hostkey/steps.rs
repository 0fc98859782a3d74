//! The steps of HOSTKEY's plans, on top of the typed client.

use crate::engine::Outcome;
use crate::providers::{CallError, Prepared, Provider, Reconciled, StepCx};
use provisioner_shared::config::Account;
use std::time::Duration;

pub struct Hostkey {}

impl Hostkey {
    pub fn new(_account: &Account, _http: reqwest::Client, _timeout: Duration) -> Self {
        Hostkey {}
    }
}

impl Provider for Hostkey {
    async fn run(&self, step: &str, _cx: &mut StepCx<'_>) -> Outcome {
        Outcome::fail(format!("hostkey step {step} not implemented"))
    }
    async fn prepare(&self, _step: &str, _cx: &mut StepCx<'_>) -> Prepared {
        Prepared::Skip(Outcome::fail("not implemented"))
    }
    async fn call(&self, _step: &str, _cx: &mut StepCx<'_>) -> Result<(), CallError> {
        Ok(())
    }
    async fn reconcile(&self, _step: &str, _cx: &mut StepCx<'_>) -> Reconciled {
        Reconciled::Absent
    }
}
