//! The settler: a task that applies a simulator's due state changes at their
//! virtual due time, so that side effects with no request behind them (a
//! post-install callback when an install completes) happen on time. It is not a
//! ticker: it sleeps until the next due time, a clock change, or a wake-up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::clock::{SimClock, VirtualTime};
use super::server::Shutdown;

/// The longest single sleep, so that a far deadline is re-checked now and then.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Handle to a running settler; the task stops when this is dropped.
#[derive(Debug)]
pub struct Settler {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Settler {
    /// Runs `settle(now)` now, again at each virtual time it returns, and whenever
    /// woken or the clock changes; stops on `shutdown`. `settle` applies every state
    /// change due by `now` and returns when the next one is due.
    pub fn spawn<F>(clock: SimClock, shutdown: Shutdown, mut settle: F) -> Settler
    where
        F: FnMut(VirtualTime) -> Option<VirtualTime> + Send + 'static,
    {
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        let task = tokio::spawn(async move {
            let mut clock_changed = clock.subscribe();
            loop {
                let next = settle(clock.now());
                let sleep = next
                    .and_then(|due| clock.real_until(due))
                    .map_or(MAX_SLEEP, |wait| wait.min(MAX_SLEEP));
                tokio::select! {
                    () = tokio::time::sleep(sleep) => {}
                    () = woken.notified() => {}
                    changed = clock_changed.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                    () = shutdown.wait() => return,
                }
            }
        });
        Settler { wake, task }
    }

    /// Makes the settler recompute its next due time (call after a state change that
    /// scheduled something).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// A cloneable handle that only wakes the settler (for request handlers).
    pub fn waker(&self) -> SettlerWaker {
        SettlerWaker(Arc::clone(&self.wake))
    }
}

/// Wakes a [`Settler`] without owning it.
#[derive(Clone, Debug)]
pub struct SettlerWaker(Arc<Notify>);

impl SettlerWaker {
    /// See [`Settler::wake`].
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

impl Drop for Settler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[tokio::test]
    async fn settles_at_the_due_virtual_time() {
        let clock = SimClock::new(0.0);
        let due = VirtualTime::from_start(Duration::from_secs(600));
        let settled = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&settled);
        let _settler = Settler::spawn(clock.clone(), Shutdown::default(), move |now| {
            if now >= due {
                seen.lock().unwrap().push(now);
                None
            } else {
                Some(due)
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(settled.lock().unwrap().is_empty());
        clock.advance(Duration::from_secs(600));
        for _ in 0..100 {
            if !settled.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(settled.lock().unwrap().len(), 1);
    }
}
