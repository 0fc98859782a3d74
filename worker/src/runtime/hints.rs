//! What the claim loop knows of each shard's next due time.

use provisioner_shared::time::Millis;
use std::sync::atomic::{AtomicU64, Ordering};

/// When each shard next has something due, as far as this process knows: the claim
/// loop sleeps until the earliest, and the handler lowers it with the due time a
/// drive ended on ([`DriveEnd::due`](crate::engine::DriveEnd::due)).
pub struct DueHints {
    shards: Vec<AtomicU64>,
    /// Wakes an idle claim loop when a due time moves earlier than it planned for.
    earlier: tokio::sync::Notify,
}

impl DueHints {
    pub fn new(shards: u16) -> Self {
        DueHints {
            shards: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            earlier: tokio::sync::Notify::new(),
        }
    }

    pub fn get(&self, shard: u16) -> Millis {
        Millis(self.shards[shard as usize].load(Ordering::Relaxed))
    }

    pub fn set(&self, shard: u16, at: Millis) {
        self.shards[shard as usize].store(at.0, Ordering::Relaxed);
    }

    /// Something in `shard` is due at `at` (or earlier than we thought).
    pub fn lower(&self, shard: u16, at: Millis) {
        let before = self.shards[shard as usize].fetch_min(at.0, Ordering::Relaxed);
        if at.0 < before {
            self.earlier.notify_one();
        }
    }

    /// Resolves when some due time moved earlier (at once if that happened since the
    /// last call), so a wait shorter than `max_idle` is not slept through.
    pub async fn moved_earlier(&self) {
        self.earlier.notified().await;
    }

    pub fn len(&self) -> u16 {
        self.shards.len() as u16
    }

    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }
}
