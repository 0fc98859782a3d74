//! Refusals an enqueue makes before it writes anything, for requests a provider is
//! known to refuse. The api never calls a provider: it goes by what workers recorded.

use crate::AppState;
use crate::error::ApiError;
use provisioner_shared::ProviderKind;
use provisioner_shared::request::{JobKind, JobRequest};

/// Inferno's API cancels only unpaid (Pending) orders (seed 003 §5), so a deprovision
/// of an order a worker last saw paid (or cancelled) would only fail upstream: refuse
/// it now, saying why. An order no worker has seen is let through; the worker's
/// `cancel` then fails with Inferno's own words if it must.
pub(crate) async fn refuse_uncancellable_inferno_order(
    state: &AppState,
    request: &JobRequest,
) -> Result<(), ApiError> {
    let (JobKind::Deprovision, ProviderKind::Inferno, Some(order_id)) =
        (request.kind(), request.provider(), request.server_id())
    else {
        return Ok(());
    };
    let order_id = order_id.as_str();
    let seen = match state.store.order_status(&request.account, order_id).await {
        Ok(seen) => seen,
        Err(e) => {
            // Advisory only: without it the worker still meets Inferno's refusal.
            tracing::warn!(error = %e, order_id, "cannot read the order's last seen status");
            return Ok(());
        }
    };
    let Some(status) = seen.map(|s| s.trim().to_owned()) else {
        return Ok(());
    };
    if status.eq_ignore_ascii_case("pending") {
        return Ok(());
    }
    let message = if status.eq_ignore_ascii_case("cancelled") {
        format!(
            "server_id: Inferno order {order_id} is already cancelled; there is nothing to deprovision"
        )
    } else {
        format!(
            "server_id: Inferno's API can only cancel unpaid (Pending) orders, and order {order_id} \
             was last seen {status}; cancel it in Inferno's control panel or through Inferno's \
             support instead"
        )
    };
    Err(ApiError::invalid("server_id", message))
}
