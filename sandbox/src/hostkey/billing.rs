//! `whmcs.php`: invoices, paying them from the credit balance, cancellations.
//! Billing is account-wide, so these actions do not depend on the token's server
//! snapshot (a just-ordered server's invoice can be paid before `eq/update_servers`).

use std::time::Duration;

use serde_json::json;

use super::state::{
    Account, Answer, CancellationRequest, CreditEntry, Params, Refused, WHMCS_ID, format_cents,
    parse_cents, refuse,
};
use super::{HostkeyEvent, InvoiceStatus, ServerStatus, views};
use crate::sim::VirtualTime;

/// How long a non-immediate cancellation waits: the end of a monthly period.
const BILLING_PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);

impl Account {
    /// `whmcs/get_related_invoices id=SERVER`.
    pub fn related_invoices(&self, params: &Params) -> Result<Answer, Refused> {
        let id = params.number("get_related_invoices", "id")?;
        if !self.servers.contains_key(&id) {
            return refuse(format!(
                "get_related_invoices: no service found for server {id}"
            ));
        }
        let invoices: Vec<_> = self
            .invoices
            .values()
            .rev()
            .filter(|invoice| invoice.server_id == id)
            .map(|invoice| views::invoice_row(self, invoice, false))
            .collect();
        Ok(Answer::json(
            &json!({ "result": "success", "invoices": invoices }),
        ))
    }

    /// `whmcs/get_invoice invoice_id=`.
    pub fn invoice(&self, params: &Params) -> Result<Answer, Refused> {
        let id = params.number("get_invoice", "invoice_id")?;
        match self.invoices.get(&id) {
            Some(invoice) => Ok(Answer::json(&views::invoice_detail(self, invoice))),
            None => refuse("get_invoice: Invoice ID Not Found"),
        }
    }

    /// `whmcs/get_invoices`, newest first; WHMCS's optional `status` filter.
    pub fn invoice_list(&self, params: &Params) -> Answer {
        let status = params.get("status");
        let rows: Vec<_> = self
            .invoices
            .values()
            .rev()
            .filter(|invoice| {
                status.is_none_or(|s| s.eq_ignore_ascii_case(invoice.status.as_str()))
            })
            .map(|invoice| views::invoice_row(self, invoice, true))
            .collect();
        Answer::json(&json!({
            "result": "success",
            "totalresults": rows.len(),
            "numreturned": rows.len(),
            "invoices": { "invoice": rows },
        }))
    }

    /// `whmcs/apply_credit invoice_id= amount=`: pays all or part of an invoice from
    /// the credit balance; answers like WHMCS ApplyCredit (GAPS.md).
    pub fn apply_credit(&mut self, params: &Params, now: VirtualTime) -> Result<Answer, Refused> {
        const ACTION: &str = "apply_credit";
        params.require(ACTION, &["invoice_id", "amount"])?;
        let invoice_id = params.number(ACTION, "invoice_id")?;
        let Some(amount) = params.get("amount").and_then(parse_cents) else {
            return refuse(format!("{ACTION}: amount must be an amount like 5.00"));
        };
        self.pay(invoice_id, amount, now)?;
        let paid = self.invoices[&invoice_id].status == InvoiceStatus::Paid;
        Ok(Answer::json(&json!({
            "result": "success",
            "invoiceid": invoice_id,
            "amount": format_cents(amount),
            "invoicepaid": paid,
        })))
    }

    /// Moves `amount` of credit to an invoice; a fully paid invoice starts its
    /// server's delivery.
    pub fn pay(&mut self, invoice_id: u64, amount: i64, now: VirtualTime) -> Result<(), Refused> {
        const ACTION: &str = "apply_credit";
        let Some(invoice) = self.invoices.get_mut(&invoice_id) else {
            return refuse(format!("{ACTION}: Invoice ID Not Found"));
        };
        match invoice.status {
            InvoiceStatus::Paid => {
                return refuse(format!("{ACTION}: Invoice #{invoice_id} is already paid"));
            }
            InvoiceStatus::Cancelled => {
                return refuse(format!("{ACTION}: Invoice #{invoice_id} is cancelled"));
            }
            InvoiceStatus::Unpaid => {}
        }
        if amount <= 0 {
            return refuse(format!("{ACTION}: Amount must be greater than zero"));
        }
        if amount > invoice.balance_cents() {
            return refuse(format!(
                "{ACTION}: Amount exceeds invoice balance of {}",
                format_cents(invoice.balance_cents())
            ));
        }
        if amount > self.credit_cents {
            return refuse(format!(
                "{ACTION}: Amount exceeds available credit of {}",
                format_cents(self.credit_cents)
            ));
        }
        self.credit_cents -= amount;
        invoice.paid_cents += amount;
        let entry_id = 2526 + self.credit_log.len() as u64;
        self.credit_log.push(CreditEntry {
            id: entry_id,
            at: now,
            description: format!("Credit Applied to Invoice #{invoice_id}"),
            amount_cents: -amount,
        });
        let fully_paid = invoice.balance_cents() == 0;
        let server_id = invoice.server_id;
        if fully_paid {
            invoice.status = InvoiceStatus::Paid;
            invoice.paid_at = Some(now);
        }
        self.ledger.record_at(
            HostkeyEvent::Payment {
                invoice_id,
                amount: format_cents(amount),
            },
            now,
        );
        let delivery = self.opts.delivery;
        if let Some(server) = self.servers.get_mut(&server_id)
            && fully_paid
            && server.status == ServerStatus::Pending
            && server.delivery_due.is_none()
        {
            server.delivery_due = Some(now + delivery);
        }
        Ok(())
    }

    /// `whmcs/get_client`: the customer record; `credit` is the credit balance.
    pub fn client(&self) -> Answer {
        Answer::json(&views::client(self))
    }

    /// `whmcs/getcredits`: the credit log, oldest first, in the seed's envelope. The
    /// seed asks for a server `id` yet shows the client's whole log: so does this one
    /// (with or without `id`).
    pub fn credit_log(&self) -> Answer {
        Answer::json(&views::credit_log(self))
    }

    /// `whmcs/request_cancellation id= cancellation_type=`: 1 cancels at once (after
    /// the action delay), 0 at the end of the billing period. The seed shows no
    /// answer; this one is WHMCS's AddCancelRequest answer.
    pub fn request_cancellation(
        &mut self,
        params: &Params,
        now: VirtualTime,
    ) -> Result<Answer, Refused> {
        const ACTION: &str = "request_cancellation";
        params.require(ACTION, &["id", "cancellation_type"])?;
        let id = params.number(ACTION, "id")?;
        let immediate = match params.get("cancellation_type") {
            Some("1") => true,
            Some("0") => false,
            _ => return refuse(format!("{ACTION}: cancellation_type must be 0 or 1")),
        };
        let Some(server) = self.servers.get_mut(&id) else {
            return refuse(format!("{ACTION}: no service found for server {id}"));
        };
        if server.status == ServerStatus::Cancelled || self.cancellations.contains_key(&id) {
            return refuse(format!(
                "{ACTION}: Existing Cancellation Request Exists for server {id}"
            ));
        }
        server.cancel_due = Some(if immediate {
            now + self.opts.action_delay
        } else {
            server.ordered_at + BILLING_PERIOD
        });
        self.cancellations.insert(
            id,
            CancellationRequest {
                immediate,
                reason: params
                    .get("terminate_reason_custom")
                    .unwrap_or("")
                    .to_owned(),
            },
        );
        self.ledger
            .record_at(HostkeyEvent::Cancellation { server_id: id }, now);
        Ok(Answer::json(&json!({
            "result": "success",
            "serviceid": id,
            "userid": WHMCS_ID,
        })))
    }

    /// `whmcs/get_cancellation_requests [id=]`.
    pub fn cancellation_requests(&self, params: &Params) -> Answer {
        let only = params.get("id").and_then(|id| id.parse::<u64>().ok());
        let requests: Vec<_> = self
            .cancellations
            .iter()
            .filter(|(id, _)| only.is_none_or(|only| only == **id))
            .map(|(id, request)| {
                json!({
                    "id": id,
                    "type": if request.immediate { "Immediate" } else { "End of Billing Period" },
                    "reason": request.reason,
                })
            })
            .collect();
        Answer::json(&json!({ "result": "success", "requests": requests }))
    }
}
