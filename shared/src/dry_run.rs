//! Dry runs: a request checked against its provider without ordering. The api never
//! calls a provider, so it hands the request to a worker through Redis
//! (`store::Store::ask_dry_run`) and waits for the worker's [`DryRunReport`].

use crate::request::JobRequest;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the api asks a worker: the parsed request, under a one-off id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DryRunAsk {
    pub id: String,
    pub request: JobRequest,
}

/// One step of the plan and the provider calls it would make.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    pub step: String,
    pub calls: Vec<String>,
}

/// A price as the provider states it (its own figures, its currency when it names one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub amount: String,
    pub currency: Option<String>,
}

/// A problem the checks found: the request field it is about, in the provider's words.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A worker's answer to a dry run; the api adds `dry_run` and `ok`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DryRunReport {
    pub plan: Vec<PlannedStep>,
    pub price: Option<Price>,
    /// The account's credit or balance where the provider's API shows it.
    pub balance: Option<Value>,
    pub problems: Vec<Problem>,
}

impl DryRunReport {
    /// The answer's JSON: `ok` is true when no problem was found.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "dry_run": true,
            "ok": self.problems.is_empty(),
            "plan": self.plan,
            "price": self.price,
            "balance": self.balance,
            "problems": self.problems,
        })
    }
}
