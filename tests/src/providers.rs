//! The simulated providers, started for a test, and their accounts.

use crate::config::account;
use provisioner_sandbox::hostkey::{HostkeyEvent, HostkeyOptions, HostkeySim};
use provisioner_sandbox::idcloudhost::{IdcloudhostEvent, IdcloudhostOptions, IdcloudhostSim};
use provisioner_sandbox::inferno::{InfernoEvent, InfernoOptions, InfernoSim};
use provisioner_sandbox::klikk::{KlikkEvent, KlikkOptions, KlikkSim};
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

/// Logs in at the simulator and applies `amount` of credit to `invoice`, as a person
/// at HOSTKEY's panel would.
pub async fn hostkey_apply_credit_by_hand(
    hk: &HostkeySim,
    invoice: u64,
    amount: &str,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let base = hk.base_url().trim_end_matches('/');
    let login: serde_json::Value = http
        .post(format!("{base}/auth.php"))
        .form(&[("action", "login"), ("key", hk.api_key())])
        .send()
        .await?
        .json()
        .await?;
    let token = login["result"]["token"].as_str().unwrap_or("").to_owned();
    let paid: serde_json::Value = http
        .post(format!("{base}/whmcs.php"))
        .form(&[
            ("action", "apply_credit"),
            ("token", token.as_str()),
            ("invoice_id", invoice.to_string().as_str()),
            ("amount", amount),
        ])
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(paid["result"] == "success", "apply_credit by hand: {paid}");
    Ok(())
}

/// A Klikk simulator fast enough for tests: a paid order is set up in five virtual
/// minutes, at 3 000× (a tenth of a second). New orders are paid at once (the profile
/// has credit) unless `sim.set_auto_pay(false)`.
pub async fn start_klikk() -> anyhow::Result<KlikkSim> {
    Ok(KlikkSim::start(KlikkOptions {
        time_factor: 3000.0,
        provisioning: Duration::from_secs(5 * 60),
        ..KlikkOptions::default()
    })
    .await?)
}

/// Adds the account `name` for `sim` to `config`, signing with the account token.
pub fn add_klikk(config: &mut Config, name: &str, sim: &KlikkSim) -> Account {
    let mut a = account(name, ProviderKind::Klikk, &sim.endpoint());
    a.token = Some(ConfigSecret::from(sim.token()));
    config.accounts.push(a.clone());
    a
}

/// Adds the account `name` for `sim` to `config`, signing with HTTP Basic.
pub fn add_klikk_basic(config: &mut Config, name: &str, sim: &KlikkSim) -> Account {
    let mut a = account(name, ProviderKind::Klikk, &sim.endpoint());
    a.token = None;
    a.username = Some(sim.username().to_owned());
    a.password = Some(ConfigSecret::from(sim.password()));
    config.accounts.push(a.clone());
    a
}

/// What the Klikk ledger holds, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KlikkLedger {
    pub orders: usize,
    pub payments: usize,
    pub servers: usize,
    /// `order_cancel` calls that cancelled something (a completed order does not change).
    pub cancels: usize,
    /// `order_cancel` calls on completed or already cancelled orders.
    pub not_renewed: usize,
}

/// Counts the Klikk ledger's events by kind.
pub fn klikk_ledger(sim: &KlikkSim) -> KlikkLedger {
    sim.ledger()
        .events()
        .iter()
        .fold(KlikkLedger::default(), |mut n, e| {
            match e {
                KlikkEvent::Order { .. } => n.orders += 1,
                KlikkEvent::Paid { .. } => n.payments += 1,
                KlikkEvent::ServerCreated { .. } => n.servers += 1,
                KlikkEvent::Cancel { changed: true, .. } => n.cancels += 1,
                KlikkEvent::Cancel { changed: false, .. } => n.not_renewed += 1,
            }
            n
        })
}

/// An IDCloudHost simulator fast enough for tests: a VM boots in two virtual minutes,
/// at 3 000× (40 ms of real time).
pub async fn start_idcloudhost() -> anyhow::Result<IdcloudhostSim> {
    Ok(IdcloudhostSim::start(IdcloudhostOptions {
        time_factor: 3000.0,
        boot: Duration::from_secs(2 * 60),
        ..IdcloudhostOptions::default()
    })
    .await?)
}

/// Adds the account `name` for `sim` to `config`: its key and billing account, the
/// default location, and `pay_invoices` as given.
pub fn add_idcloudhost(
    config: &mut Config,
    name: &str,
    sim: &IdcloudhostSim,
    pay_invoices: bool,
) -> Account {
    let mut a = account(name, ProviderKind::Idcloudhost, sim.base_url());
    a.api_key = Some(ConfigSecret::from(sim.api_key()));
    a.billing_account_id = Some(sim.billing_account_id());
    a.pay_invoices = pay_invoices;
    config.accounts.push(a.clone());
    a
}

/// What the IDCloudHost ledger holds, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdcloudhostLedger {
    pub vms: usize,
    pub payments: usize,
    pub reinstalls: usize,
    pub deletions: usize,
}

/// Counts the IDCloudHost ledger's events by kind.
pub fn idcloudhost_ledger(sim: &IdcloudhostSim) -> IdcloudhostLedger {
    sim.ledger()
        .events()
        .iter()
        .fold(IdcloudhostLedger::default(), |mut n, e| {
            match e {
                IdcloudhostEvent::VmCreated { .. } => n.vms += 1,
                IdcloudhostEvent::Payment { .. } => n.payments += 1,
                IdcloudhostEvent::Reinstall { .. } => n.reinstalls += 1,
                IdcloudhostEvent::Deleted { .. } => n.deletions += 1,
            }
            n
        })
}

/// An Inferno simulator fast enough for tests: orders pay themselves two virtual
/// minutes after they are placed and an install takes five, at 3 000× (well under a
/// second of real time). `auto_pay: false` leaves orders Pending until `mark_paid`.
pub async fn start_inferno(auto_pay: bool) -> anyhow::Result<InfernoSim> {
    Ok(InfernoSim::start(InfernoOptions {
        time_factor: 3000.0,
        auto_pay,
        payment_delay: Duration::from_secs(2 * 60),
        install_duration: Duration::from_secs(5 * 60),
        ..InfernoOptions::default()
    })
    .await?)
}

/// Adds the account `name` for `sim` to `config`: its `cid` and `key`.
pub fn add_inferno(config: &mut Config, name: &str, sim: &InfernoSim) -> Account {
    let mut a = account(name, ProviderKind::Inferno, sim.base_url());
    a.client_id = Some(sim.client_id());
    a.api_key = Some(ConfigSecret::from(sim.api_key()));
    config.accounts.push(a.clone());
    a
}

/// What the Inferno ledger holds, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InfernoLedger {
    pub orders: usize,
    pub payments: usize,
    /// Installs started (first installs and reinstalls).
    pub installs: usize,
    pub reinstalls: usize,
    pub cancels: usize,
}

/// Counts the Inferno ledger's events by kind.
pub fn inferno_ledger(sim: &InfernoSim) -> InfernoLedger {
    sim.ledger()
        .events()
        .iter()
        .fold(InfernoLedger::default(), |mut n, e| {
            match e {
                InfernoEvent::Order { .. } => n.orders += 1,
                InfernoEvent::Paid { .. } => n.payments += 1,
                InfernoEvent::Install { reinstall, .. } => {
                    n.installs += 1;
                    n.reinstalls += usize::from(*reinstall);
                }
                InfernoEvent::Cancel { .. } => n.cancels += 1,
                InfernoEvent::InstallCompleted { .. } | InfernoEvent::Power { .. } => {}
            }
            n
        })
}
