//! Provider clients: one module per provider, each with the same shape.
//!
//! Each module has `api.rs` (a typed HTTP client that parses every documented answer
//! leniently and quotes the provider's own error text) and `steps.rs` (the steps of
//! the provider's plans on top of that client, typed by its own step enums, behind
//! the [`Provider`] trait; money steps may sit in a file of their own). A provider
//! module never reaches the engine or Redis keys: it imports the step contract
//! (`crate::step`), sees one step's context and answers with an [`Outcome`].
//! [`Providers`] builds every configured account's client.
//!
//! What the clients share sits beside them: [`http`] (every request goes out through
//! the account's [`Gate`] and comes back as a body or a [`CallError`]), [`fields`]
//! (ids, numbers and money as providers print them), [`lenient_json`] (the seeds'
//! not-quite-JSON), [`redact`] (the one masking of secrets in quoted answers),
//! [`error`] (HTTP answers as `CallError`s), [`gate`] and [`meter`] (the calls
//! counted for the worker's `/metrics`).
//!
//! [`Outcome`]: crate::step::Outcome
//! [`CallError`]: crate::step::CallError

pub mod error;
#[cfg(test)]
pub(crate) mod fake_http;
pub mod fields;
pub mod gate;
pub mod hostkey;
pub mod http;
pub mod idcloudhost;
pub mod inferno;
pub mod klikk;
pub mod lenient_json;
pub mod meter;
pub mod noop;
pub mod orders;
pub mod redact;
#[cfg(test)]
mod tests;

pub use gate::Gate;

use crate::step::{AnyProvider, Provider};
use provisioner_shared::ProviderKind;
use provisioner_shared::config::{Account, Config};
use provisioner_shared::store::Store;
use std::collections::HashMap;
use std::time::Duration;

/// The provider client of every configured account.
pub struct Providers {
    by_account: HashMap<String, Box<dyn AnyProvider>>,
}

impl Providers {
    pub fn from_config(
        config: &Config,
        store: &Store,
        step_timeout: Duration,
    ) -> Result<Providers, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("provisioner/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let mut by_account = HashMap::new();
        for account in &config.accounts {
            // A provider call must end before its step's timeout, with room to spare.
            let timeout = account
                .request_timeout
                .unwrap_or(step_timeout.mul_f32(0.8))
                .min(step_timeout);
            let gate = Gate::new(
                store.clone(),
                &account.name,
                account.provider.as_str(),
                account.rate_limit,
            )
            .with_max_queue(step_timeout / 4);
            by_account.insert(
                account.name.clone(),
                Self::client(account, http.clone(), gate, timeout, store),
            );
        }
        Ok(Providers { by_account })
    }

    fn client(
        account: &Account,
        http: reqwest::Client,
        gate: Gate,
        timeout: Duration,
        store: &Store,
    ) -> Box<dyn AnyProvider> {
        match account.provider {
            ProviderKind::Hostkey => Box::new(hostkey::Hostkey::new(account, http, gate, timeout)),
            ProviderKind::Klikk => Box::new(klikk::Klikk::new(account, http, gate, timeout)),
            ProviderKind::Idcloudhost => {
                Box::new(idcloudhost::Idcloudhost::new(account, http, gate, timeout))
            }
            ProviderKind::Noop => Box::new(noop::Noop),
            ProviderKind::Inferno => Box::new(inferno::Inferno::new(
                account,
                http,
                gate,
                timeout,
                orders::OrderRegistry::new(store.clone(), &account.name),
            )),
        }
    }

    /// Serves `account` with `provider` instead of the client its config names: a
    /// test's scriptable provider (the engine's model test), or an embedding
    /// program's own. The engine runs the plan of the account's provider kind and
    /// treats it like any other client.
    pub fn with(mut self, account: &str, provider: impl Provider + 'static) -> Self {
        self.by_account
            .insert(account.to_owned(), Box::new(provider));
        self
    }

    pub fn get(&self, account: &str) -> Option<&dyn AnyProvider> {
        self.by_account.get(account).map(|p| p.as_ref())
    }
}
