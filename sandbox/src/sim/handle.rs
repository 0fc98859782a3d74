//! What every simulator's public handle shares: the server on its random port and
//! the [`SimCore`] behind it, with the accessors tests and the demo use on any
//! simulator.

use std::io;

use axum::Router;
use serde::Serialize;

use super::{CallCount, Faults, Ledger, SimClock, SimCore, SimServer};

/// A running simulator's server and core. Each `XxxSim` holds one and derefs to it,
/// so `base_url()`, `ledger()`, `faults()`, `clock()`, `requests(action)` and
/// `calls(action, subject)` read
/// the same on all four. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle<E> {
    server: SimServer,
    core: SimCore<E>,
}

impl<E> SimHandle<E>
where
    E: Clone + Serialize + Send + Sync + 'static,
{
    /// Serves the provider's `routes` with the `/_sandbox/*` control routes on a random
    /// loopback port (inside a tokio runtime); `name` is the provider's, for the log.
    pub async fn serve(core: SimCore<E>, routes: Router, name: &str) -> io::Result<SimHandle<E>> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Self::serve_on(core, routes, name, listener)
    }

    /// Like [`SimHandle::serve`] on a listener the caller bound (a fixed port).
    pub fn serve_on(
        core: SimCore<E>,
        routes: Router,
        name: &str,
        listener: tokio::net::TcpListener,
    ) -> io::Result<SimHandle<E>> {
        let router = routes.merge(core.control_routes());
        let server = SimServer::serve_on(router, core.shutdown.clone(), listener)?;
        tracing::info!(base_url = server.base_url(), "{name} sandbox listening");
        Ok(SimHandle { server, core })
    }
}

impl<E> SimHandle<E> {
    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.server.base_url()
    }

    /// Everything that moved money or touched a machine.
    pub fn ledger(&self) -> &Ledger<E> {
        &self.core.ledger
    }

    /// The fault knobs, per action name.
    pub fn faults(&self) -> &Faults {
        &self.core.faults
    }

    /// The virtual clock.
    pub fn clock(&self) -> &SimClock {
        &self.core.clock
    }

    /// Requests received for `action`.
    pub fn requests(&self, action: &str) -> u64 {
        self.core.requests.get(action)
    }

    /// Requests to `action` on `subject` (`name=value`, e.g. `id=40514`) that
    /// passed the fault knobs and were applied.
    pub fn calls(&self, action: &str, subject: &str) -> u64 {
        self.core.calls.get(action, subject)
    }

    /// Every (action, subject) applied so far, with its count.
    pub fn all_calls(&self) -> Vec<CallCount> {
        self.core.calls.all()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}
