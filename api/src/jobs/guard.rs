//! The spend guardrail at enqueue (`accounts[].max_open_orders`): a provision takes
//! a place among its account's open provisions before it is written, or is refused
//! with 422 `cap_reached` naming the cap. A request that then writes nothing gives
//! its place back.

use crate::AppState;
use crate::error::ApiError;
use axum::http::StatusCode;
use provisioner_shared::JobKind;
use provisioner_shared::request::JobRequest;

/// A place taken for a job not written yet.
pub(crate) struct Place {
    account: String,
    job_id: String,
}

impl Place {
    /// The job was not written: its place is free again.
    pub(crate) async fn give_back(self, state: &AppState) {
        if let Err(e) = state.store.guard_release(&self.account, &self.job_id).await {
            tracing::warn!(job_id = %self.job_id, error = %e, "cannot give back the place of a job that was not written; it counts as open until pruned");
        }
    }
}

/// Takes `job_id`'s place when `request` is a provision of a capped account.
pub(crate) async fn take(
    state: &AppState,
    request: &JobRequest,
    job_id: &str,
) -> Result<Option<Place>, ApiError> {
    if request.kind() != JobKind::Provision {
        return Ok(None);
    }
    refuse_spent_day(state, &request.account).await?;
    let Some(cap) = state.config.open_orders_cap(&request.account) else {
        return Ok(None);
    };
    let account = request.account.as_str();
    let mut took = state.store.guard_take(account, job_id, cap.cap).await?;
    if !took.taken && prune(state, account).await? {
        took = state.store.guard_take(account, job_id, cap.cap).await?;
    }
    if !took.taken {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cap_reached",
            format!(
                "{}: account `{account}` has {} open provisions, its cap is {}; retry once one of them has ended",
                cap.key, took.open, cap.cap
            ),
        )
        .with_field(cap.key));
    }
    Ok(Some(Place {
        account: account.to_owned(),
        job_id: job_id.to_owned(),
    }))
}

/// `accounts[].max_amount_per_day`: a provision of an account that has ordered
/// its cap today (UTC) is refused (the price of this one is counted by the worker,
/// right before its order).
async fn refuse_spent_day(state: &AppState, account: &str) -> Result<(), ApiError> {
    let Some(cap) = state.config.daily_amount_cap(account) else {
        return Ok(());
    };
    let spent = state
        .store
        .guard_spent(account, state.store.clock())
        .await?;
    if spent < cap.cents {
        return Ok(());
    }
    let shown = |c: u64| format!("{}.{:02}", c / 100, c % 100);
    Err(ApiError::client(
        StatusCode::UNPROCESSABLE_ENTITY,
        "cap_reached",
        format!(
            "{}: account `{account}` has ordered {} today (UTC), its cap is {}; retry tomorrow",
            cap.key,
            shown(spent),
            shown(cap.cents)
        ),
    )
    .with_field(cap.key))
}

/// Lets go of the places of jobs that have ended (a worker that died between a
/// job's terminal commit and its release). Only ended jobs: a holder without a
/// record may be a request about to write it. True when a place was freed.
async fn prune(state: &AppState, account: &str) -> Result<bool, ApiError> {
    let mut freed = false;
    for id in state.store.guard_holders(account).await? {
        if let Some(s) = state.store.state_of(&id).await?
            && s.is_terminal()
        {
            state.store.guard_release(account, &id).await?;
            freed = true;
        }
    }
    Ok(freed)
}
