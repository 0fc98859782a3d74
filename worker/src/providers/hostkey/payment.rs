//! HOSTKEY's `pay` step: the order's invoice paid from the account's credit balance
//! (`whmcs/apply_credit`), at most once.
//!
//! `prepare` records, besides the invoice and its amount, the credit balance
//! (`whmcs/get_client`) and the newest entry of the credit log (`whmcs/getcredits`)
//! before the call. After an answer that was lost (a 5xx, a timeout), `reconcile`
//! answers from HOSTKEY's own state: the invoice paid → adopted; the invoice unpaid
//! with no credit on it, no transaction, no log entry naming it, and every move of the
//! balance since `prepare` explained by log entries for other invoices → nothing was
//! applied, so the engine may pay again once its settle window has passed; anything
//! else (credit partly applied, a balance that moved without a log entry, a status we
//! cannot read) is a contradiction that an operator must look at.

use super::api::{CreditMove, Invoice, InvoiceStatus};
use super::steps::Hostkey;
use crate::providers::fields::{Decimals, money_to_cents};
use crate::step::{CallError, Outcome, Prepared, Reconciled, StepCx};
use serde_json::{Value, json};

/// HOSTKEY prints money as WHMCS does.
fn cents(text: &str) -> Option<i64> {
    money_to_cents(text, Decimals::AtMostTwo)
}

/// The credit balance and its log, read so that the two agree: the balance before and
/// after the log read are the same.
struct CreditSnapshot {
    balance_cents: i64,
    log: Vec<CreditMove>,
}

impl CreditSnapshot {
    /// The id of the log's newest entry (WHMCS's credit log ids only grow).
    fn last_id(&self) -> u64 {
        self.log.iter().filter_map(|m| m.id).max().unwrap_or(0)
    }
}

/// Why a read of the credit balance gave no snapshot.
enum CreditRead {
    /// The provider's call failed.
    Call(CallError),
    /// The balance moved while the log was read (another payment): read again.
    Moving,
    /// The balance is printed in a form we cannot read.
    Unreadable(String),
}

/// What the reconciliation reads prove about an unpaid invoice.
#[derive(Debug, PartialEq, Eq)]
enum Applied {
    Nothing,
    /// A contradiction, said for an operator.
    Contradiction(String),
}

/// Decides, for an invoice still unpaid, whether any of our payment reached it: the
/// invoice carries no credit and no transaction, no new log entry names it, and the
/// balance moved exactly by the new entries (other invoices' payments).
fn applied_since(
    invoice: &Invoice,
    balance_before: i64,
    last_id_before: u64,
    now: &CreditSnapshot,
) -> Applied {
    let id = invoice.id.as_str();
    match invoice.credit.as_deref().map(cents) {
        None | Some(Some(0)) => {}
        Some(Some(c)) => {
            return Applied::Contradiction(format!(
                "invoice {id} is still unpaid but carries {}.{:02} of credit (partly paid)",
                c / 100,
                c % 100
            ));
        }
        Some(None) => {
            return Applied::Contradiction(format!(
                "invoice {id} shows credit `{}` that cannot be read",
                invoice.credit.as_deref().unwrap_or_default()
            ));
        }
    }
    if invoice.transactions > 0 {
        return Applied::Contradiction(format!(
            "invoice {id} is still unpaid but lists {} transaction(s)",
            invoice.transactions
        ));
    }
    let new: Vec<&CreditMove> = now
        .log
        .iter()
        .filter(|m| m.id.is_none_or(|n| n > last_id_before))
        .collect();
    if let Some(m) = new.iter().find(|m| m.names_invoice(id)) {
        return Applied::Contradiction(format!(
            "invoice {id} is still unpaid but the credit log says `{}` ({})",
            m.description,
            m.amount.as_deref().unwrap_or("no amount")
        ));
    }
    let mut explained = 0i64;
    for m in &new {
        match m.amount.as_deref().and_then(cents) {
            Some(c) => explained += c,
            None => {
                return Applied::Contradiction(format!(
                    "the credit log's entry `{}` has no readable amount",
                    m.description
                ));
            }
        }
    }
    let moved = now.balance_cents - balance_before;
    if moved != explained {
        return Applied::Contradiction(format!(
            "the credit balance moved by {moved} cents since the payment was prepared, \
             but the credit log explains only {explained} cents of it"
        ));
    }
    Applied::Nothing
}

fn intent_str(cx: &StepCx<'_>, key: &str) -> Option<String> {
    let data = &cx.step.intent.as_ref()?.data;
    data.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn intent_u64(cx: &StepCx<'_>, key: &str) -> Option<u64> {
    cx.step.intent.as_ref()?.data.get(key)?.as_u64()
}

/// The invoice and amount the intent names.
fn intent_invoice(cx: &StepCx<'_>) -> (String, String) {
    (
        intent_str(cx, "invoice_id").unwrap_or_default(),
        intent_str(cx, "amount").unwrap_or_default(),
    )
}

impl Hostkey {
    /// The balance, the log, the balance again: equal balances mean the log fits them.
    async fn credit_snapshot(&self, server_id: &str) -> Result<CreditSnapshot, CreditRead> {
        let read_balance = async || {
            let text = self.api.client_credit().await.map_err(CreditRead::Call)?;
            cents(&text).ok_or(CreditRead::Unreadable(text))
        };
        let before = read_balance().await?;
        let log = self
            .api
            .credit_log(server_id)
            .await
            .map_err(CreditRead::Call)?;
        let after = read_balance().await?;
        if before != after {
            return Err(CreditRead::Moving);
        }
        Ok(CreditSnapshot {
            balance_cents: after,
            log,
        })
    }

    pub(super) async fn pay_prepare(&self, cx: &mut StepCx<'_>) -> Prepared {
        let id = match cx.server_id() {
            Ok(id) => id,
            Err(o) => return Prepared::Skip(o),
        };
        // Only this order's invoices: never an unrelated unpaid one (GAPS).
        let invoices = match self.api.related_invoices(&id).await {
            Ok(i) => i,
            Err(e) => return Prepared::Skip(e.into()),
        };
        if let Some(inv) = invoices.iter().find(|i| i.status == InvoiceStatus::Unpaid) {
            let Some(amount) = inv.amount_due().map(str::to_owned) else {
                return Prepared::Skip(Outcome::fail(format!(
                    "invoice {} shows no amount due",
                    inv.id
                )));
            };
            // What the account looks like before the call: reconciliation compares.
            let credit = match self.credit_snapshot(&id).await {
                Ok(c) => c,
                Err(CreditRead::Call(e)) => return Prepared::Skip(e.into()),
                Err(CreditRead::Moving) => {
                    return Prepared::Skip(Outcome::Wait {
                        after: Some(std::time::Duration::from_millis(250)),
                        note: "the credit balance moved while it was read; reading again".into(),
                    });
                }
                Err(CreditRead::Unreadable(text)) => {
                    return Prepared::Skip(Outcome::fail(format!(
                        "hostkey shows the credit balance as `{text}`, which is no amount"
                    )));
                }
            };
            cx.outputs.invoice_id = Some(inv.id.clone());
            return Prepared::Call {
                reference: inv.id.clone(),
                data: json!({
                    "invoice_id": inv.id,
                    "amount": amount,
                    "credit_cents": credit.balance_cents,
                    "credit_log_last": credit.last_id(),
                }),
            };
        }
        if let Some(inv) = invoices.iter().find(|i| i.status == InvoiceStatus::Paid) {
            cx.outputs.invoice_id = Some(inv.id.clone());
            cx.detail(format!("invoice {} already paid", inv.id));
            return Prepared::Skip(Outcome::Next);
        }
        Prepared::Skip(Outcome::wait(format!(
            "waiting for the invoice of server {id}"
        )))
    }

    pub(super) async fn pay_call(&self, cx: &mut StepCx<'_>) -> Result<(), CallError> {
        let (invoice, amount) = intent_invoice(cx);
        let paid = self.api.apply_credit(&invoice, &amount).await?;
        if paid.invoice_paid == Some(false) {
            return Err(CallError::Rejected {
                provider: "hostkey",
                message: format!(
                    "credit of {amount} applied to invoice {invoice}, but it is not paid in full"
                ),
                status: None,
            });
        }
        cx.detail(format!("invoice {invoice} paid ({amount}) from credit"));
        Ok(())
    }

    /// Answers from HOSTKEY's state whether the payment the intent names happened.
    pub(super) async fn pay_reconcile(&self, cx: &mut StepCx<'_>) -> Reconciled {
        let (invoice, _) = intent_invoice(cx);
        let resolve = "check it at HOSTKEY, then resolve (adopt if paid, reorder to pay again)";
        let inv = match self.api.invoice(&invoice).await {
            Ok(inv) => inv,
            Err(e) => {
                return Reconciled::lookup_failed(e, format!("cannot look up invoice {invoice}"));
            }
        };
        match inv.status {
            InvoiceStatus::Paid => {
                cx.outputs.invoice_id = Some(invoice.clone());
                cx.detail(format!("invoice {invoice} paid (found on reconciliation)"));
                return Reconciled::Done;
            }
            InvoiceStatus::Unpaid => {}
            other => {
                return Reconciled::Unknown(format!(
                    "a payment of invoice {invoice} was attempted and the invoice is now \
                     {other:?}; {resolve}"
                ));
            }
        }
        let (Some(before), Some(last_id)) = (
            cx.step
                .intent
                .as_ref()
                .and_then(|i| i.data.get("credit_cents"))
                .and_then(Value::as_i64),
            intent_u64(cx, "credit_log_last"),
        ) else {
            // An intent written before the balance was recorded proves nothing.
            return Reconciled::Unknown(format!(
                "a payment of invoice {invoice} was attempted but the invoice is still unpaid, \
                 and the credit balance before it is not known; {resolve}"
            ));
        };
        let server = cx.server_id().unwrap_or_default();
        let now = match self.credit_snapshot(&server).await {
            Ok(now) => now,
            Err(CreditRead::Call(e)) => {
                return Reconciled::lookup_failed(
                    e,
                    format!("cannot read the credit balance to reconcile invoice {invoice}"),
                );
            }
            Err(CreditRead::Moving) => {
                return Reconciled::Pending(
                    "the credit balance moved while it was read; reading again".into(),
                );
            }
            Err(CreditRead::Unreadable(text)) => {
                return Reconciled::Unknown(format!(
                    "hostkey shows the credit balance as `{text}`; {resolve}"
                ));
            }
        };
        match applied_since(&inv, before, last_id, &now) {
            Applied::Nothing => Reconciled::Absent,
            Applied::Contradiction(why) => Reconciled::Unknown(format!(
                "a payment of invoice {invoice} was attempted and cannot be told: {why}; {resolve}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpaid(credit: &str, transactions: usize) -> Invoice {
        Invoice {
            id: "23500".into(),
            status: InvoiceStatus::Unpaid,
            subtotal: Some("5.00".into()),
            credit: Some(credit.into()),
            total: Some("5.00".into()),
            balance: Some("5.00".into()),
            currency: None,
            date: None,
            due_date: None,
            description: None,
            notes: None,
            items: vec![],
            transactions,
        }
    }

    fn applied(id: u64, invoice: u64, amount: &str) -> CreditMove {
        CreditMove {
            id: Some(id),
            date: None,
            description: format!("Credit Applied to Invoice #{invoice}"),
            amount: Some(amount.into()),
        }
    }

    fn snapshot(balance_cents: i64, log: Vec<CreditMove>) -> CreditSnapshot {
        CreditSnapshot { balance_cents, log }
    }

    #[test]
    fn nothing_applied_when_the_balance_and_the_invoice_did_not_move() {
        let log = vec![applied(2526, 23499, "-5.00")];
        let now = snapshot(99_500, log);
        assert_eq!(now.last_id(), 2526);
        assert_eq!(
            applied_since(&unpaid("0.00", 0), 99_500, 2526, &now),
            Applied::Nothing
        );
    }

    #[test]
    fn other_invoices_paid_meanwhile_explain_a_moved_balance() {
        let log = vec![
            applied(2526, 23499, "-5.00"),
            applied(2527, 23501, "-5.00"),
            applied(2528, 23502, "-5"),
        ];
        let now = snapshot(98_500, log);
        assert_eq!(
            applied_since(&unpaid("0.00", 0), 99_500, 2526, &now),
            Applied::Nothing
        );
    }

    #[test]
    fn any_trace_of_our_payment_is_a_contradiction() {
        let contradiction = |a: Applied, needle: &str| match a {
            Applied::Contradiction(why) => assert!(why.contains(needle), "{why}"),
            Applied::Nothing => panic!("expected a contradiction ({needle})"),
        };
        let quiet = snapshot(99_500, vec![]);
        contradiction(
            applied_since(&unpaid("2.00", 0), 99_500, 0, &quiet),
            "partly paid",
        );
        contradiction(
            applied_since(&unpaid("0.00", 1), 99_500, 0, &quiet),
            "transaction",
        );
        contradiction(
            applied_since(&unpaid("2.5.00", 0), 99_500, 0, &quiet),
            "cannot be read",
        );
        let ours = snapshot(99_000, vec![applied(2527, 23500, "-5.00")]);
        contradiction(
            applied_since(&unpaid("0.00", 0), 99_500, 2526, &ours),
            "Invoice #23500",
        );
        // The balance fell by our amount and no log entry says why.
        let unexplained = snapshot(99_000, vec![applied(2526, 23499, "-5.00")]);
        contradiction(
            applied_since(&unpaid("0.00", 0), 99_500, 2526, &unexplained),
            "explains only 0 cents",
        );
    }
}
