//! Serving a simulator's router on a random loopback port, and stopping it.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A signal every part of a simulator can wait on: the server's graceful shutdown,
/// handlers that hang on purpose, the settler.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        let (tx, _) = watch::channel(false);
        Shutdown {
            tx: std::sync::Arc::new(tx),
        }
    }
}

impl Shutdown {
    /// Fires the signal (idempotent).
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// True once triggered.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    /// Resolves once the signal fired.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // An error means the sender is gone, which only happens when nobody can fire it.
        let _ = rx.wait_for(|fired| *fired).await;
    }
}

/// A running HTTP server on `127.0.0.1:<random port>`. Dropping it shuts it down
/// gracefully (in-flight requests finish; deliberately hanging ones are released).
#[derive(Debug)]
pub struct SimServer {
    addr: SocketAddr,
    base_url: String,
    shutdown: Shutdown,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl SimServer {
    /// Binds a random loopback port and serves `router` in a tokio task until
    /// `shutdown` fires. Must be called inside a tokio runtime.
    pub async fn serve(router: Router, shutdown: Shutdown) -> io::Result<SimServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve_on(router, shutdown, listener)
    }

    /// Like [`SimServer::serve`] on a listener the caller bound: the sandbox's
    /// `simulators` command and the demo keep fixed ports.
    pub fn serve_on(
        router: Router,
        shutdown: Shutdown,
        listener: tokio::net::TcpListener,
    ) -> io::Result<SimServer> {
        let addr = listener.local_addr()?;
        let signal = shutdown.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { signal.wait().await })
                .await
        });
        Ok(SimServer {
            addr,
            base_url: format!("http://{addr}"),
            shutdown,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight requests finish (bounded), and waits.
    pub async fn shutdown(mut self) {
        self.shutdown.trigger();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}
