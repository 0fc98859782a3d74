//! The steps that must not run twice blindly: `order` (money) and `install` (once).
//! The engine writes their intent before the call and, after a lost answer, asks
//! `reconcile` before anything is sent again.
//!
//! Inferno's orders carry no reference of ours, so an order whose answer was lost is
//! found by listing orders: `prepare` records the ids that existed before the call and
//! the price of the product ordered (`list`; `orders` shows no product id, only each
//! order's `amount`), `reconcile` looks only at new orders at that price (an order of
//! another product is not ours, whoever placed it) and adopts one only when exactly
//! one appeared and no other job has claimed it (claims live in Redis,
//! [`OrderRegistry`](crate::providers::orders::OrderRegistry)). An `install` whose
//! answer was lost is looked up with `getinfo`.

use super::api::{InstallAnswer, InstallRequest, OrderSummary, Vps};
use super::steps::{Inferno, PROVIDER, order, order_id, ssh_key_ids, template};
use crate::providers::fields::{Decimals, money_to_cents};
use crate::step::{CallError, Prepared, Reconciled, StepCx};
use serde_json::{Value, json};

fn intent_data<'a>(cx: &'a StepCx<'_>, key: &str) -> Option<&'a Value> {
    cx.step.intent.as_ref().and_then(|i| i.data.get(key))
}

/// A store failure while reconciling: transient, so the engine looks again later.
fn store_trouble(what: &str, e: impl std::fmt::Display) -> CallError {
    CallError::Unknown {
        provider: PROVIDER,
        message: format!("cannot {what} in Redis: {e}"),
    }
}

/// Whether a new order can be the one this job placed: its `amount` is the price the
/// intent recorded, or one of the two is not shown (then it cannot be ruled out).
pub(super) fn could_be_ours(price: Option<&str>, order: &OrderSummary) -> bool {
    let cents = |t: &str| money_to_cents(t, Decimals::Rounded);
    match (
        price.and_then(cents),
        order.amount.as_deref().and_then(cents),
    ) {
        (Some(want), Some(got)) => want == got,
        _ => true,
    }
}

/// What reconciliation makes of the orders that appeared since the intent.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Adoption {
    /// This job had already claimed one of them: its call went through.
    Mine(String),
    /// Exactly one new order, claimed by nobody: ours.
    Adopt(String),
    /// None appeared: the call left nothing.
    Absent,
    /// Several, or one that another job holds: an operator must decide.
    Ambiguous(String),
}

/// Decides from the new orders and who claimed each (DESIGN: adopt only when exactly
/// one new order appeared that no other job has claimed).
pub(super) fn adoption(job_id: &str, new: &[(String, Option<String>)]) -> Adoption {
    if let Some((id, _)) = new.iter().find(|(_, h)| h.as_deref() == Some(job_id)) {
        return Adoption::Mine(id.clone());
    }
    match new {
        [] => Adoption::Absent,
        [(id, None)] => Adoption::Adopt(id.clone()),
        [(id, Some(other))] => Adoption::Ambiguous(format!(
            "the only order that appeared at Inferno since this job's order call, {id}, is \
             claimed by job {other}"
        )),
        many => Adoption::Ambiguous(format!(
            "{} orders appeared at Inferno since this job's order call ({}) and Inferno keeps \
             no reference of ours to tell which is this job's",
            many.len(),
            many.iter()
                .map(|(id, h)| match h {
                    Some(job) => format!("{id}, claimed by job {job}"),
                    None => id.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

impl Inferno {
    pub(super) async fn order_prepare(&self, cx: &mut StepCx<'_>) -> Prepared {
        let order = match order(cx) {
            Ok(order) => order,
            Err(o) => return Prepared::Skip(o),
        };
        let product_id = order.product_id;
        // The product's price: the only mark of it that `orders` shows (as `amount`).
        let price = match self.api.products().await {
            Ok(products) => products
                .into_iter()
                .find(|p| p.id == product_id.to_string())
                .and_then(|p| p.price),
            Err(e) => return Prepared::Skip(e.into()),
        };
        // The orders that exist before the call: reconciliation looks only at new ones.
        let known: Vec<String> = match self.api.orders().await {
            Ok(orders) => orders.into_iter().map(|o| o.id).collect(),
            Err(e) => return Prepared::Skip(e.into()),
        };
        Prepared::Call {
            reference: format!("product {product_id}"),
            data: json!({ "known": known, "product_id": product_id, "price": price }),
        }
    }

    pub(super) async fn order_call(&self, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let order = order(cx).map_err(|o| CallError::refused_before_call(PROVIDER, &o))?;
        let created = self.api.create(order.product_id).await?;
        let id = created.order_id;
        // Claimed before the result is saved, so that no other job's reconciliation can
        // take it; a claim that fails leaves the intent open and reconciliation claims it.
        match self.orders.claim(&id, cx.job_id).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(CallError::Unknown {
                    provider: PROVIDER,
                    message: format!("order {id} was placed, but another job has claimed it"),
                });
            }
            Err(e) => {
                return Err(CallError::Unknown {
                    provider: PROVIDER,
                    message: format!("order {id} was placed but cannot be claimed yet: {e}"),
                });
            }
        }
        self.orders.record_status(&id, "Pending").await;
        cx.outputs.order_id = Some(id.clone());
        cx.outputs.server_id = Some(id.clone());
        cx.outputs.invoice_id = created.invoice_id.clone();
        cx.detail(format!(
            "ordered: order {id}{}",
            created
                .invoice_id
                .map(|i| format!(", invoice {i}"))
                .unwrap_or_default()
        ));
        Ok(())
    }

    pub(super) async fn order_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        let known: Vec<&str> = intent_data(cx, "known")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let listed = match self.api.orders().await {
            Ok(o) => o,
            Err(e) => {
                return Reconciled::lookup_failed(
                    e,
                    "cannot list orders to reconcile the order call",
                );
            }
        };
        let price = intent_data(cx, "price")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let new: Vec<_> = listed
            .into_iter()
            .filter(|o| !known.contains(&o.id.as_str()))
            .collect();
        let ids: Vec<String> = new.iter().map(|o| o.id.clone()).collect();
        let holders = match self.orders.claimants(&ids).await {
            Ok(h) => h,
            Err(e) => return Reconciled::Failed(store_trouble("read the order claims", e)),
        };
        // An order at another price is another product's: never this job's, even when
        // it is the only new one (someone else ordered meanwhile).
        let (pairs, others): (Vec<_>, Vec<_>) =
            ids.into_iter()
                .zip(holders)
                .zip(&new)
                .partition(|((_, holder), order)| {
                    holder.as_deref() == Some(cx.job_id) || could_be_ours(price.as_deref(), order)
                });
        let pairs: Vec<(String, Option<String>)> = pairs.into_iter().map(|(p, _)| p).collect();
        if !others.is_empty() {
            tracing::info!(
                orders = %others.iter().map(|((id, _), _)| id.as_str()).collect::<Vec<_>>().join(", "),
                price = price.as_deref().unwrap_or(""),
                "new orders at another price than ours are not this job's"
            );
        }
        let (id, how) = match adoption(cx.job_id, &pairs) {
            Adoption::Absent => return Reconciled::Absent,
            Adoption::Ambiguous(why) => {
                return Reconciled::Unknown(format!(
                    "{why}; check the orders at Inferno, then resolve: adopt with the order_id \
                     that is this job's, or reorder"
                ));
            }
            Adoption::Mine(id) => (id, "already claimed by this job"),
            Adoption::Adopt(id) => match self.orders.claim(&id, cx.job_id).await {
                Ok(true) => (id, "the one new order at our product's price, adopted"),
                Ok(false) => {
                    return Reconciled::Unknown(format!(
                        "order {id} appeared after this job's order call, but another job \
                         claimed it first; check at Inferno, then resolve"
                    ));
                }
                Err(e) => return Reconciled::Failed(store_trouble("claim the order", e)),
            },
        };
        let order = new.iter().find(|o| o.id == id);
        self.orders
            .record_status(&id, order.map_or("Pending", |o| o.status.as_str()))
            .await;
        cx.outputs.order_id = Some(id.clone());
        cx.outputs.server_id = Some(id.clone());
        cx.outputs.invoice_id = order.and_then(|o| o.invoice_id.clone());
        cx.detail(format!("order {id} found by listing orders ({how})"));
        Reconciled::Done
    }

    /// Before `run=1`: whether the order has a VPS yet, so that reconciliation can
    /// tell an install that went through from one that never left.
    pub(super) async fn install_prepare(&self, cx: &mut StepCx<'_>) -> Prepared {
        let id = match order_id(cx) {
            Ok(id) => id,
            Err(o) => return Prepared::Skip(o),
        };
        if let Err(o) = template(cx) {
            return Prepared::Skip(o);
        }
        let info = match self.api.getinfo(&id).await {
            Ok(i) => i,
            Err(e) => return Prepared::Skip(e.into()),
        };
        self.orders
            .record_status(&id, info.order_status.as_str())
            .await;
        let vps = match &info.vps {
            Vps::Absent { .. } => "absent",
            Vps::Present(v) if v.installing() => "installing",
            Vps::Present(_) => "up",
        };
        Prepared::Call {
            reference: id,
            data: json!({ "vps": vps }),
        }
    }

    pub(super) async fn install_call(&self, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let rejected = |message: &str| CallError::Rejected {
            provider: PROVIDER,
            message: message.to_owned(),
            status: None,
        };
        let id = order_id(cx).map_err(|_| rejected("no Inferno order yet"))?;
        let template = template(cx).map_err(|o| CallError::refused_before_call(PROVIDER, &o))?;
        let keys = ssh_key_ids(cx);
        let request = InstallRequest {
            order_id: &id,
            template,
            ssh_key_ids: &keys,
            run: true,
        };
        match self.api.install(&request).await? {
            InstallAnswer::Accepted { message } => cx.detail(format!(
                "install of {template} started on order {id}: {message}"
            )),
            // Seed: "If the VPS is already being created" → 904. That install is the
            // one this step wanted (an earlier attempt's, or one started by hand).
            InstallAnswer::AlreadyInstalling { message } => cx.detail(format!(
                "an install was already under way on order {id}; adopted it (Inferno: {message})"
            )),
        }
        Ok(())
    }

    /// After a lost `run=1` answer: an install running, or a VPS that did not exist
    /// before, proves it went through; no VPS proves nothing happened (a repeat would
    /// meet 904 anyway if it had been queued). A VPS that was up and still is cannot
    /// tell whether a reinstall came and went: an operator decides.
    pub(super) async fn install_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        let Ok(id) = order_id(cx) else {
            return Reconciled::Absent;
        };
        let before = intent_data(cx, "vps")
            .and_then(Value::as_str)
            .unwrap_or("absent")
            .to_owned();
        let info = match self.api.getinfo(&id).await {
            Ok(i) => i,
            Err(e) => {
                return Reconciled::lookup_failed(
                    e,
                    format!("cannot look up order {id} to tell whether its install started"),
                );
            }
        };
        match &info.vps {
            Vps::Present(v) if v.installing() => {
                cx.detail(format!(
                    "an install is under way on order {id} (found on reconciliation)"
                ));
                Reconciled::Done
            }
            Vps::Present(_) if before == "absent" => {
                cx.detail(format!(
                    "order {id} has its VPS now: the install had gone through"
                ));
                Reconciled::Done
            }
            Vps::Absent { .. } => Reconciled::Absent,
            Vps::Present(_) => Reconciled::Unknown(format!(
                "cannot tell whether the reinstall of order {id} started: its VPS was up before \
                 the call and is up and not installing now; check at Inferno, then resolve \
                 (adopt if it was reinstalled, reorder to install again)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(id: &str, holder: Option<&str>) -> (String, Option<String>) {
        (id.to_owned(), holder.map(str::to_owned))
    }

    #[test]
    fn adopts_only_one_new_unclaimed_order() {
        assert_eq!(adoption("J", &[]), Adoption::Absent);
        assert_eq!(
            adoption("J", &[pair("47001", None)]),
            Adoption::Adopt("47001".into())
        );
        assert!(matches!(
            adoption("J", &[pair("47001", Some("K"))]),
            Adoption::Ambiguous(why) if why.contains("claimed by job K")
        ));
        assert!(matches!(
            adoption("J", &[pair("47001", None), pair("47002", None)]),
            Adoption::Ambiguous(why) if why.contains("47001") && why.contains("47002")
        ));
        assert!(matches!(
            adoption("J", &[pair("47001", None), pair("47002", Some("K"))]),
            Adoption::Ambiguous(_)
        ));
    }

    fn listed(id: &str, amount: Option<&str>) -> OrderSummary {
        OrderSummary {
            id: id.into(),
            number: None,
            amount: amount.map(str::to_owned),
            invoice_id: None,
            status: super::super::api::OrderStatus::Pending,
        }
    }

    #[test]
    fn only_an_order_at_our_products_price_can_be_ours() {
        assert!(could_be_ours(Some("5.00"), &listed("1", Some("5.00"))));
        assert!(could_be_ours(Some("5.00"), &listed("1", Some("5"))));
        assert!(!could_be_ours(Some("5.00"), &listed("1", Some("9.00"))));
        // What is not shown cannot rule an order out.
        assert!(could_be_ours(None, &listed("1", Some("9.00"))));
        assert!(could_be_ours(Some("5.00"), &listed("1", None)));
    }

    #[test]
    fn an_order_this_job_claimed_is_its_own_whatever_else_appeared() {
        assert_eq!(
            adoption("J", &[pair("47001", None), pair("47002", Some("J"))]),
            Adoption::Mine("47002".into())
        );
    }
}
