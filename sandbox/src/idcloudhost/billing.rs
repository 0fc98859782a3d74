//! `payment/*`: the billing account, what it owes, its invoices, and paying them from
//! the credit balance. Payment routes take no location slug (GAPS).

use serde_json::{Value, json};

use super::state::{Account, Answer, Params, Refusal, format_cents, money};
use super::{IdcloudhostEvent, InvoiceStatus, views};
use crate::sim::VirtualTime;

impl Account {
    /// The `billing_account_id` parameter, which must name the account's.
    fn billing_param(&self, params: &Params) -> Result<u64, Refusal> {
        let id = params.whole("billing_account_id")?;
        if id != self.opts.billing_account_id {
            return Err(Refusal::bad("Provided billing account is incorrect."));
        }
        Ok(id)
    }

    fn unpaid_cents(&self) -> i64 {
        self.invoices
            .values()
            .filter(|i| i.status == InvoiceStatus::Unpaid)
            .map(|i| i.total_cents())
            .sum()
    }

    /// `GET payment/billing_account?billing_account_id=`.
    pub fn billing_account(&self, params: &Params) -> Answer {
        self.billing_param(params)?;
        Ok(views::billing_account(self, self.unpaid_cents()))
    }

    /// `GET payment/billing_account/list`.
    pub fn billing_accounts(&self) -> Answer {
        Ok(json!([views::billing_account(self, self.unpaid_cents())]))
    }

    /// `GET payment/billing_account/unpaid_amount`: the seed's `{"message": 59.96}`.
    pub fn unpaid_amount(&self, params: &Params) -> Answer {
        self.billing_param(params)?;
        Ok(json!({ "message": money(self.unpaid_cents()) }))
    }

    /// `GET payment/invoice/list`: newest first, as the seed lists them.
    pub fn invoice_list(&self, params: &Params) -> Answer {
        let billing = self.billing_param(params)?;
        Ok(Value::Array(
            self.invoices
                .values()
                .rev()
                .filter(|i| i.billing_account_id == billing)
                .map(|i| views::invoice(self, i))
                .collect(),
        ))
    }

    /// `GET payment/invoice?invoice_id=`.
    pub fn invoice_details(&self, params: &Params) -> Answer {
        let id = params.whole("invoice_id")?;
        self.invoices
            .get(&id)
            .map(|i| views::invoice(self, i))
            .ok_or_else(|| Refusal::not_found(format!("Invoice #{id} not found.")))
    }

    /// `POST payment/pay_invoice` (GAPS: answers like `pay_amount`). Pays all of it from
    /// credit, or nothing.
    pub fn pay_invoice(&mut self, params: &Params, now: VirtualTime) -> Answer {
        if self.opts.payments_forbidden {
            return Err(Refusal::forbidden());
        }
        let id = params.whole("invoice_id")?;
        let Some(invoice) = self.invoices.get(&id) else {
            return Err(Refusal::not_found(format!("Invoice #{id} not found.")));
        };
        if invoice.status == InvoiceStatus::Paid {
            return Err(Refusal::bad(format!("Invoice #{id} is already paid.")));
        }
        let total = invoice.total_cents();
        if total > self.credit_cents {
            return Err(Refusal::bad(format!(
                "Not enough credit to pay invoice #{id}: {} due, {} available.",
                format_cents(total),
                format_cents(self.credit_cents)
            )));
        }
        self.settle_invoice(id, now);
        Ok(json!({
            "amount_left": 0.0,
            "amount_used": money(total),
            "error_log": "",
            "message": format!("All amount were used. Invoices (#{id}) were paid fully or partially."),
            "paid_invoices": [id],
            "success": true,
        }))
    }

    /// `POST payment/pay_all`: the oldest unpaid invoices first, while credit lasts.
    pub fn pay_all(&mut self, params: &Params, now: VirtualTime) -> Answer {
        if self.opts.payments_forbidden {
            return Err(Refusal::forbidden());
        }
        let billing = self.billing_param(params)?;
        let unpaid: Vec<(u64, i64)> = self
            .invoices
            .values()
            .filter(|i| i.status == InvoiceStatus::Unpaid && i.billing_account_id == billing)
            .map(|i| (i.id, i.total_cents()))
            .collect();
        let (mut paid, mut left_unpaid, mut used) = (Vec::new(), Vec::new(), 0);
        for (id, total) in unpaid {
            if total <= self.credit_cents {
                self.settle_invoice(id, now);
                paid.push(id);
                used += total;
            } else {
                left_unpaid.push(format!("#{id}"));
            }
        }
        let list = |ids: &[u64]| {
            ids.iter()
                .map(|id| format!("#{id}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let message = if paid.is_empty() {
            "No invoices were paid.".to_owned()
        } else {
            format!("Invoices ({}) were paid fully.", list(&paid))
        };
        let error_log = if left_unpaid.is_empty() {
            String::new()
        } else {
            format!("Not enough credit for invoices {}.", left_unpaid.join(", "))
        };
        Ok(json!({
            "amount_left": 0.0,
            "amount_used": money(used),
            "error_log": error_log,
            "message": message,
            "paid_invoices": paid,
            "success": left_unpaid.is_empty(),
        }))
    }

    /// Moves an invoice's total from credit to the invoice (the caller checked both).
    fn settle_invoice(&mut self, id: u64, now: VirtualTime) {
        let Some(invoice) = self.invoices.get_mut(&id) else {
            return;
        };
        let total = invoice.total_cents();
        invoice.status = InvoiceStatus::Paid;
        invoice.paid_at = Some(now);
        self.credit_cents -= total;
        self.ledger.record_at(
            IdcloudhostEvent::Payment {
                invoice_id: id,
                amount: format_cents(total),
            },
            now,
        );
    }
}
