//! The spend guardrail's re-check right before a provision's order step
//! (`accounts[].max_open_orders` in this worker's config): the job takes (or keeps)
//! its place among the account's open provisions; past the cap it waits in
//! `needs_attention` naming the cap, and nothing is ordered. The place is let go
//! after the job's terminal commit.

use super::Engine;
use crate::step::{JobEnv, Outcome};
use provisioner_shared::JobKind;
use provisioner_shared::config::price_cents;
use provisioner_shared::job::Job;

/// The steps that place a provision's order (one per provider plan).
const ORDER_STEPS: [&str; 2] = ["order", "create_vm"];

impl Engine {
    /// `None`: the order may go. Runs only where no intent is left (an earlier call
    /// that may have gone through is reconciled, never refused).
    pub(super) async fn guard_order(&self, env: &JobEnv<'_>, step: &str) -> Option<Outcome> {
        if env.request.kind() != JobKind::Provision || !ORDER_STEPS.contains(&step) {
            return None;
        }
        let account = env.request.account.as_str();
        let cap = self.settings.open_orders_caps.get(account)?;
        match self.store.guard_take(account, env.job_id, cap.cap).await {
            Ok(took) if took.taken => None,
            Ok(took) => Some(Outcome::Attention(format!(
                "{} reached: account `{account}` has {} open provisions, its cap is {}; nothing was ordered (resolve with `reorder` once one has ended, or `fail`)",
                cap.key, took.open, cap.cap
            ))),
            Err(e) => Some(Outcome::wait(format!(
                "cannot check {} yet ({e}); nothing was ordered",
                cap.key
            ))),
        }
    }

    /// `accounts[].max_amount_per_day`, right before the intent: the order's price
    /// (`price` in the intent's data, from the provider's price list) is counted on
    /// today's total unless it would pass the cap. Counted before the call, so a
    /// call that then fails counts too (never less than was spent).
    pub(super) async fn guard_amount(
        &self,
        env: &JobEnv<'_>,
        step: &str,
        data: &serde_json::Value,
    ) -> Option<Outcome> {
        if env.request.kind() != JobKind::Provision || !ORDER_STEPS.contains(&step) {
            return None;
        }
        let account = env.request.account.as_str();
        let cap = self.settings.daily_amount_caps.get(account)?;
        let Some(cents) = data.get("price").and_then(price_cents) else {
            return Some(Outcome::wait(format!(
                "{} is set, but the price of this order is not known yet; nothing was ordered",
                cap.key
            )));
        };
        let shown = |c: u64| format!("{}.{:02}", c / 100, c % 100);
        match self
            .store
            .guard_spend(account, env.job_id, env.now, cents, cap.cents)
            .await
        {
            Ok(took) if took.taken => None,
            Ok(took) => Some(Outcome::Attention(format!(
                "{} reached: account `{account}` ordered {} today (UTC), this order costs {}, the cap is {}; nothing was ordered (resolve with `reorder` tomorrow, or `fail`)",
                cap.key,
                shown(took.open),
                shown(cents),
                shown(cap.cents)
            ))),
            Err(e) => Some(Outcome::wait(format!(
                "cannot check {} yet ({e}); nothing was ordered",
                cap.key
            ))),
        }
    }

    /// The job has ended: its place among its account's open provisions is free.
    pub(super) async fn release_guard(&self, job: &Job) {
        if job.spec.request.kind() != JobKind::Provision {
            return;
        }
        let account = &job.spec.request.account;
        if let Err(e) = self.store.guard_release(account, job.id()).await {
            // The api prunes places of ended jobs when an enqueue meets the cap.
            tracing::warn!(error = %e, "cannot free the job's place under its account's guardrail");
        }
    }
}
