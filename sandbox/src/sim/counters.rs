//! Per-action request counters: tests assert how often the client called an action
//! (one login per token lifetime, one order per job, …).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

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
}
