//! The simulated providers, started for a test, and their accounts.

use crate::config::account;
use provisioner_sandbox::hostkey::{HostkeyEvent, HostkeyOptions, HostkeySim};
use provisioner_shared::config::Account;
use provisioner_shared::secret::ConfigSecret;
use provisioner_shared::{Config, ProviderKind};
use std::time::Duration;

/// A HOSTKEY simulator fast enough for tests: delivery and every install stage take
/// a few virtual minutes, at 3 000× (about a second of real time in all).
pub async fn start_hostkey() -> anyhow::Result<HostkeySim> {
    let minute = Duration::from_secs(60);
    Ok(HostkeySim::start(HostkeyOptions {
        time_factor: 3000.0,
        delivery: 10 * minute,
        stage_durations: [minute, 2 * minute, 2 * minute, minute, minute, minute],
        action_delay: Duration::from_secs(5),
        ..HostkeyOptions::default()
    })
    .await?)
}

/// Adds the account `name` for `sim` to `config`.
pub fn add_hostkey(config: &mut Config, name: &str, sim: &HostkeySim) -> Account {
    let mut a = account(name, ProviderKind::Hostkey, sim.base_url());
    a.api_key = Some(ConfigSecret::from(sim.api_key()));
    a.pin = Some(ConfigSecret::from(sim.pin().as_str()));
    config.accounts.push(a.clone());
    a
}

/// How many orders and payments the HOSTKEY ledger holds.
pub fn hostkey_orders_and_payments(sim: &HostkeySim) -> (usize, usize) {
    let events = sim.ledger().events();
    (
        events
            .iter()
            .filter(|e| matches!(e, HostkeyEvent::Order { .. }))
            .count(),
        events
            .iter()
            .filter(|e| matches!(e, HostkeyEvent::Payment { .. }))
            .count(),
    )
}
