//! Which jobs changed, for the event streams: ONE Redis subscriber per api process
//! (to the channel `commit.lua` and `hold.lua` publish job ids on), fanned out to
//! the streams through a `watch` per followed job, so a stream wakes on its own
//! job's changes only and no stream polls Redis in a loop.
//!
//! The subscriber starts with the first stream and ends at shutdown. A dropped
//! pub/sub connection is subscribed again (backing off to 5 s); every stream is
//! woken after each (re)subscription, since what was published meanwhile is lost.
//! The streams' slow fallback poll (`api.events_fallback_poll`) covers the rest.

use provisioner_shared::store::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

/// The per-job wake-ups; cheap to share (`Arc`).
#[derive(Default)]
pub(crate) struct Changes {
    jobs: Mutex<HashMap<String, watch::Sender<()>>>,
    started: OnceLock<()>,
}

/// A stream's hold on its job's wake-ups; dropping it forgets the job once no
/// stream follows it any more.
pub(crate) struct JobWatch {
    changes: Arc<Changes>,
    id: String,
    rx: Option<watch::Receiver<()>>,
}

impl Changes {
    /// Follows `id` from now on: a change announced after this call wakes
    /// [`JobWatch::changed`]. Starts the subscriber on first use.
    pub(crate) fn watch(
        self: &Arc<Self>,
        store: &Store,
        closing: watch::Receiver<bool>,
        id: &str,
    ) -> JobWatch {
        self.start(store, closing);
        let rx = self
            .lock()
            .entry(id.to_owned())
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        JobWatch {
            changes: Arc::clone(self),
            id: id.to_owned(),
            rx: Some(rx),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<()>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, id: &str) {
        if let Some(tx) = self.lock().get(id) {
            tx.send_replace(());
        }
    }

    fn notify_all(&self) {
        for tx in self.lock().values() {
            tx.send_replace(());
        }
    }

    fn start(self: &Arc<Self>, store: &Store, closing: watch::Receiver<bool>) {
        self.started.get_or_init(|| {
            tokio::spawn(Arc::clone(self).subscribe(store.clone(), closing));
        });
    }

    async fn subscribe(self: Arc<Self>, store: Store, mut closing: watch::Receiver<bool>) {
        use futures::StreamExt;
        const FIRST: Duration = Duration::from_millis(100);
        const MAX: Duration = Duration::from_secs(5);
        let mut backoff = FIRST;
        loop {
            match store.changes_stream().await {
                Ok(mut ids) => {
                    backoff = FIRST;
                    self.notify_all();
                    loop {
                        tokio::select! {
                            _ = closing.wait_for(|closed| *closed) => return,
                            id = ids.next() => match id {
                                Some(id) => self.notify(&id),
                                None => break,
                            },
                        }
                    }
                    tracing::warn!("job changes: the subscription ended; subscribing again");
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "job changes: cannot subscribe");
                }
            }
            tokio::select! {
                _ = closing.wait_for(|closed| *closed) => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX);
        }
    }
}

impl JobWatch {
    /// Waits for the job's next announced change (changes since the last call
    /// count, several as one).
    pub(crate) async fn changed(&mut self) {
        let sent = match self.rx.as_mut() {
            Some(rx) => rx.changed().await.is_ok(),
            None => false,
        };
        if !sent {
            // The sender lives while a receiver does; never here in practice.
            std::future::pending::<()>().await;
        }
    }
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        let mut jobs = self.changes.lock();
        drop(self.rx.take());
        if jobs
            .get(&self.id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            jobs.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watch_wakes_on_its_job_only_and_is_forgotten_when_dropped() {
        let changes = Arc::new(Changes::default());
        let rx = changes
            .lock()
            .entry("a".into())
            .or_insert_with(|| watch::channel(()).0)
            .subscribe();
        let mut a = JobWatch {
            changes: Arc::clone(&changes),
            id: "a".into(),
            rx: Some(rx),
        };
        changes.notify("b");
        assert!(!a.rx.as_ref().unwrap().has_changed().unwrap());
        changes.notify("a");
        changes.notify("a");
        a.changed().await;
        assert!(!a.rx.as_ref().unwrap().has_changed().unwrap(), "two as one");
        drop(a);
        assert!(changes.lock().is_empty());
    }
}
