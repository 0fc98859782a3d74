//! Per-action request counters: tests assert how often the client called an action
//! (one login per token lifetime, one order per job, …); and per-(action, subject)
//! call counters: how often an action reached the provider's state for one server,
//! order or invoice (a step that ran twice shows up as 2).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Cheaply cloned map from action name to the number of requests received.
#[derive(Clone, Debug, Default)]
pub struct RequestCounters {
    counts: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl RequestCounters {
    /// Counts one request to `action`, faulted or not.
    pub fn hit(&self, action: &str) {
        *self.lock().entry(action.to_owned()).or_default() += 1;
    }

    /// Requests received for `action` so far.
    pub fn get(&self, action: &str) -> u64 {
        self.lock().get(action).copied().unwrap_or(0)
    }

    /// Requests received for every action.
    pub fn all(&self) -> BTreeMap<String, u64> {
        self.lock().clone()
    }

    /// Requests received in total.
    pub fn total(&self) -> u64 {
        self.lock().values().sum()
    }

    /// Starts counting from zero again.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The request parameters that name what a call acts on, in the order they are
/// looked at: the first one a request carries is its subject.
pub const SUBJECT_PARAMS: [&str; 9] = [
    "id",
    "uuid",
    "vm_uuid",
    "invoice_id",
    "orderid",
    "order_id",
    "reference",
    "hostname",
    "description",
];

/// Parameters that tell two calls of one action on one subject apart (HOSTKEY's
/// `eq/boot_dev` with `media=pxe` and with `media=disk` are two different calls).
pub const QUALIFIER_PARAMS: [&str; 1] = ["media"];

/// Which server, order or invoice a request acts on: the first of
/// [`SUBJECT_PARAMS`] that `param` finds, as `name=value`, followed by any
/// [`QUALIFIER_PARAMS`] it carries (`id=40514 media=pxe`).
pub fn subject_of(param: impl Fn(&str) -> Option<String>) -> Option<String> {
    let named = |name: &&str| {
        param(name)
            .filter(|v| !v.is_empty())
            .map(|v| format!("{name}={v}"))
    };
    let mut parts = vec![SUBJECT_PARAMS.iter().find_map(named)?];
    parts.extend(QUALIFIER_PARAMS.iter().filter_map(named));
    Some(parts.join(" "))
}

/// One line of [`CallCounters::all`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub action: String,
    /// `name=value` of the parameter that named the subject (`id=40514`), or `-`.
    pub subject: String,
    /// Requests that passed the fault knobs and were applied (whatever the answer).
    pub calls: u64,
}

/// Cheaply cloned map from (action, subject) to the number of requests applied.
#[derive(Clone, Debug, Default)]
pub struct CallCounters {
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl CallCounters {
    /// Counts one applied request to `action` on `subject` (`None` = `-`).
    pub fn hit(&self, action: &str, subject: Option<&str>) {
        let key = (action.to_owned(), subject.unwrap_or("-").to_owned());
        *self.lock().entry(key).or_default() += 1;
    }

    /// Applied requests to `action` on `subject` (`name=value`).
    pub fn get(&self, action: &str, subject: &str) -> u64 {
        self.lock()
            .get(&(action.to_owned(), subject.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every (action, subject) seen, sorted.
    pub fn all(&self) -> Vec<CallCount> {
        self.lock()
            .iter()
            .map(|((action, subject), calls)| CallCount {
                action: action.clone(),
                subject: subject.clone(),
                calls: *calls,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), u64>> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_action() {
        let counters = RequestCounters::default();
        counters.hit("auth/login");
        counters.hit("eq/show");
        counters.hit("eq/show");
        assert_eq!(counters.get("auth/login"), 1);
        assert_eq!(counters.get("eq/show"), 2);
        assert_eq!(counters.get("eq/list"), 0);
        assert_eq!(counters.total(), 3);
        counters.reset();
        assert_eq!(counters.total(), 0);
    }

    #[test]
    fn calls_count_per_subject() {
        let calls = CallCounters::default();
        let params = [("action", "boot_dev"), ("media", "pxe"), ("id", "40514")];
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let subject = subject_of(get);
        assert_eq!(subject.as_deref(), Some("id=40514 media=pxe"));
        calls.hit("eq/boot_dev", subject.as_deref());
        calls.hit("eq/boot_dev", subject.as_deref());
        calls.hit("eq/list", None);
        assert_eq!(calls.get("eq/boot_dev", "id=40514 media=pxe"), 2);
        assert_eq!(calls.get("eq/list", "-"), 1);
        assert_eq!(calls.all().len(), 2);
        assert_eq!(subject_of(|_| None), None);
    }
}
