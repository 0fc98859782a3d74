//! The ledger: an append-only record of everything a simulator did that moves money
//! or touches a machine (orders, payments, PXE changes, reboots, cancellations).
//! Tests assert on it ("one order, one payment, PXE cleared, no sudden reinstall").

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::Serialize;

use super::clock::{SimClock, VirtualTime, unix_millis};

/// One ledger line: what happened, and when in real and in virtual time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LedgerEntry<E> {
    /// 1, 2, 3, … in the order of recording.
    pub seq: u64,
    /// Real wall-clock time of recording, Unix milliseconds.
    pub real_unix_ms: u64,
    /// Virtual wall-clock time the event happened at, Unix milliseconds.
    pub virtual_unix_ms: u64,
    /// Virtual time since the simulator started, milliseconds.
    pub virtual_elapsed_ms: u64,
    /// What happened.
    pub event: E,
}

/// Append-only, cheaply cloned list of a simulator's events.
#[derive(Clone)]
pub struct Ledger<E> {
    entries: Arc<Mutex<Vec<LedgerEntry<E>>>>,
    clock: SimClock,
}

impl<E> std::fmt::Debug for Ledger<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("len", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl<E: Clone> Ledger<E> {
    /// An empty ledger stamping entries with `clock`.
    pub fn new(clock: SimClock) -> Self {
        Ledger {
            entries: Arc::new(Mutex::new(Vec::new())),
            clock,
        }
    }

    /// Records `event` as happening now; returns its sequence number.
    pub fn record(&self, event: E) -> u64 {
        let now = self.clock.now();
        self.record_at(event, now)
    }

    /// Records `event` as happening at virtual time `at` (a state change that was
    /// due earlier and is only now being applied lazily).
    pub fn record_at(&self, event: E, at: VirtualTime) -> u64 {
        let mut entries = self.lock();
        let seq = entries.len() as u64 + 1;
        entries.push(LedgerEntry {
            seq,
            real_unix_ms: unix_millis(SystemTime::now()),
            virtual_unix_ms: unix_millis(self.clock.wall(at)),
            virtual_elapsed_ms: u64::try_from(at.since_start().as_millis()).unwrap_or(u64::MAX),
            event,
        });
        seq
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> Vec<LedgerEntry<E>> {
        self.lock().clone()
    }

    /// Every event, oldest first, without timestamps.
    pub fn events(&self) -> Vec<E> {
        self.lock()
            .iter()
            .map(|entry| entry.event.clone())
            .collect()
    }

    /// How many events match `predicate`.
    pub fn count(&self, predicate: impl Fn(&E) -> bool) -> usize {
        self.lock()
            .iter()
            .filter(|entry| predicate(&entry.event))
            .count()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing happened yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<E> Ledger<E> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LedgerEntry<E>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Event {
        Order { id: u64 },
        Payment { amount: String },
    }

    #[test]
    fn records_in_order_with_virtual_time() {
        let clock = SimClock::new(0.0);
        let ledger = Ledger::new(clock.clone());
        assert!(ledger.is_empty());
        ledger.record(Event::Order { id: 1 });
        clock.advance(Duration::from_secs(60));
        let seq = ledger.record(Event::Payment {
            amount: "5.00".into(),
        });
        assert_eq!(seq, 2);
        let entries = ledger.entries();
        assert_eq!(entries[0].virtual_elapsed_ms, 0);
        assert_eq!(entries[1].virtual_elapsed_ms, 60_000);
        assert_eq!(
            entries[1].virtual_unix_ms - entries[0].virtual_unix_ms,
            60_000
        );
        assert_eq!(
            ledger.count(|e| matches!(e, Event::Payment { .. })),
            1,
            "{:?}",
            ledger.events()
        );
    }

    #[test]
    fn record_at_keeps_the_due_time() {
        let clock = SimClock::new(0.0);
        let ledger = Ledger::new(clock.clone());
        clock.advance(Duration::from_secs(600));
        ledger.record_at(
            Event::Order { id: 7 },
            VirtualTime::from_start(Duration::from_secs(300)),
        );
        assert_eq!(ledger.entries()[0].virtual_elapsed_ms, 300_000);
    }

    #[test]
    fn serialises_as_tagged_json() {
        let ledger = Ledger::new(SimClock::new(0.0));
        ledger.record(Event::Order { id: 3 });
        let json = serde_json::to_value(ledger.entries()).unwrap();
        assert_eq!(json[0]["event"]["type"], "order");
        assert_eq!(json[0]["event"]["id"], 3);
        assert_eq!(json[0]["seq"], 1);
    }
}
