//! The log lines a test's own processes write, captured so a test can say what an
//! operator's log would show (e.g. that no secret ever reaches it).

use std::io;
use std::sync::{Arc, Mutex};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt;

/// Every event emitted on this thread while it lives, as plain fmt lines: the
/// provisioner crates at TRACE, the rest at DEBUG. A `#[tokio::test]` runs on a
/// current-thread runtime, so the api, the worker and the simulators it starts all
/// log here. Start it first thing in the test; dropping it ends the capture.
pub struct CapturedLogs {
    lines: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::dispatcher::DefaultGuard,
}

impl CapturedLogs {
    pub fn start() -> CapturedLogs {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let filter = EnvFilter::new(
            "debug,provisioner_worker=trace,provisioner_shared=trace,provisioner_api=trace,provisioner_sandbox=trace",
        );
        let guard = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish()
            .set_default();
        CapturedLogs {
            lines,
            _guard: guard,
        }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        let bytes = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
