//! `spawn_worker`: the real worker (`provisioner_worker::start`) in this process.

use provisioner_shared::Config;
use provisioner_worker::{StartOptions, WorkerHandle};

pub struct TestWorker {
    handle: Option<WorkerHandle>,
}

/// Starts a worker for `config`; it claims jobs at once.
pub async fn spawn_worker(config: Config) -> anyhow::Result<TestWorker> {
    spawn_worker_with(config, StartOptions::default()).await
}

/// [`spawn_worker`] with options (e.g. a callback resolver of the test's own).
pub async fn spawn_worker_with(
    config: Config,
    options: StartOptions,
) -> anyhow::Result<TestWorker> {
    Ok(TestWorker {
        handle: Some(provisioner_worker::start_with(config, options).await?),
    })
}

impl TestWorker {
    /// `http://ADDR` of the worker's own `/metrics` and `/healthz`, when its config
    /// set `worker.listen` (port 0 gives it a free one).
    pub fn listen_url(&self) -> Option<String> {
        let addr = self.handle.as_ref()?.listening()?;
        Some(format!("http://{addr}"))
    }

    /// Graceful stop: in-flight steps finish and commit.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(h) = self.handle.take() {
            h.shutdown().await?;
        }
        Ok(())
    }

    /// Like a killed process: steps are dropped mid-call, their leases left behind.
    pub fn abort(mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}
