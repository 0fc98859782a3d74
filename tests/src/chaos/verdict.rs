//! The end of a scenario: wait until every accepted job has settled, read each one
//! through the api, hold the simulators' ledgers against them, scan everything for
//! canaries, and print one summary line.
//!
//! What counts as a violation:
//! - a job the api accepted that cannot be read (lost), or one that is neither
//!   terminal nor `needs_attention` when the drain ends (unsettled);
//! - more than one order for a job (counted by the reference each provider records:
//!   HOSTKEY's hostname, Klikk's `reference` = job id, IDCloudHost's description =
//!   job id; Inferno records none, so there every order must be one job's server),
//!   more than one payment of an invoice, or two jobs holding one server;
//! - an order no job tracks (not the server of any job, not cancelled), except where
//!   its job waits for an operator in `needs_attention`;
//! - a HOSTKEY server left booting into PXE by a job that ended, or a reinstall the
//!   simulator calls sudden; an Inferno install of an order that was installed before;
//! - a canary secret anywhere.

use super::canary::Leak;
use super::load::{Accepted, Provider};
use super::stack::ChaosStack;
use provisioner_sandbox::hostkey::HostkeyEvent;
use provisioner_sandbox::idcloudhost::IdcloudhostEvent;
use provisioner_sandbox::inferno::InfernoEvent;
use provisioner_sandbox::klikk::KlikkEvent;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// States a job ends in, or parks in for an operator.
pub const SETTLED: [&str; 4] = ["succeeded", "failed", "cancelled", "needs_attention"];

/// Every accepted job as the api shows it once the drain ended.
#[derive(Debug, Default)]
pub struct Settled {
    /// Job JSON by id (missing = the api does not know it).
    pub jobs: BTreeMap<String, Value>,
    /// From the start of the drain until the last job settled (or the timeout).
    pub drain: Duration,
    pub lost: Vec<String>,
    pub unsettled: Vec<String>,
    /// Jobs that `GET /v1/jobs/{id}` shows but the job list (`GET /v1/jobs`) does not.
    pub unlisted: Vec<String>,
}

impl Settled {
    pub fn state(&self, id: &str) -> &str {
        self.jobs
            .get(id)
            .and_then(|j| j["state"].as_str())
            .unwrap_or("")
    }

    pub fn server_id(&self, id: &str) -> Option<&str> {
        self.jobs.get(id).and_then(|j| j["server"]["id"].as_str())
    }
}

/// Polls the job list until every job of `accepted` is settled or `timeout` passes,
/// then reads each job on its own (`GET /v1/jobs/{id}`).
pub async fn wait_settled(
    stack: &ChaosStack,
    accepted: &[Accepted],
    timeout: Duration,
) -> anyhow::Result<Settled> {
    let start = Instant::now();
    let wanted: BTreeSet<&str> = accepted.iter().map(|a| a.id.as_str()).collect();
    let mut listed: BTreeSet<String> = BTreeSet::new();
    loop {
        if let Ok(list) = stack.client.list_all().await {
            let mut states: BTreeMap<String, String> = list
                .iter()
                .filter_map(|j| {
                    Some((
                        j["id"].as_str()?.to_owned(),
                        j["state"].as_str()?.to_owned(),
                    ))
                })
                .collect();
            listed = states.keys().cloned().collect();
            // A job the list misses is read on its own (and reported below).
            for id in wanted.iter().filter(|id| !listed.contains(**id)) {
                if let Ok(Some(job)) = stack.client.get_job(id).await {
                    let state = job["state"].as_str().unwrap_or("").to_owned();
                    states.insert((*id).to_owned(), state);
                }
            }
            let settled = wanted
                .iter()
                .filter(|id| {
                    states
                        .get(**id)
                        .is_some_and(|s| SETTLED.contains(&s.as_str()))
                })
                .count();
            if settled == wanted.len() {
                break;
            }
        }
        if start.elapsed() >= timeout {
            break;
        }
        // Keep restarting what a failpoint killed while the jobs drain.
        stack.workers.revive_exited()?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drain = start.elapsed();
    let mut out = Settled {
        drain,
        ..Settled::default()
    };
    for a in accepted {
        match stack.client.get_job(&a.id).await? {
            None => out
                .lost
                .push(format!("{} (#{} at {})", a.id, a.n, a.provider.name())),
            Some(job) => {
                if !listed.contains(&a.id) {
                    out.unlisted.push(format!(
                        "{} ({} #{}, {})",
                        a.id,
                        a.provider.name(),
                        a.n,
                        job["state"].as_str().unwrap_or("?")
                    ));
                }
                let state = job["state"].as_str().unwrap_or("?").to_owned();
                if !SETTLED.contains(&state.as_str()) {
                    out.unsettled.push(format!(
                        "{} ({} #{}) is {state} at {} ({})",
                        a.id,
                        a.provider.name(),
                        a.n,
                        job["step"].as_str().unwrap_or("-"),
                        job["note"].as_str().unwrap_or("")
                    ));
                }
                out.jobs.insert(a.id.clone(), job);
            }
        }
    }
    Ok(out)
}

/// What a scenario found, and the line it prints.
#[derive(Debug, Default)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub jobs: usize,
    pub states: BTreeMap<String, usize>,
    /// Faults injected, by kind (`kill -9`, failpoint aborts, redis kills, …).
    pub faults: Vec<(String, u64)>,
    pub drain: Duration,
    pub lost: Vec<String>,
    pub unsettled: Vec<String>,
    pub duplicates: Vec<String>,
    pub untracked: Vec<String>,
    /// Other broken promises (scenario-specific).
    pub violations: Vec<String>,
    pub leaks: Vec<Leak>,
    /// What is worth knowing but breaks no promise.
    pub notes: Vec<String>,
}

impl Report {
    pub fn fault(&mut self, kind: &str, n: u64) {
        self.faults.push((kind.to_owned(), n));
    }

    /// `chaos R1 seed=…: 200 jobs (…), faults …, 0 lost, 0 duplicates, …, drained in …`.
    pub fn summary_line(&self) -> String {
        let states: Vec<String> = self
            .states
            .iter()
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(kind, n)| format!("{n} {kind}"))
            .collect();
        format!(
            "chaos {} seed={}: {} jobs ({}); faults: {}; {} lost, {} unsettled, {} duplicates, {} untracked, {} other violations, {} leaks; drained in {:.1}s",
            self.scenario,
            self.seed,
            self.jobs,
            states.join(", "),
            if faults.is_empty() {
                "none".to_owned()
            } else {
                faults.join(", ")
            },
            self.lost.len(),
            self.unsettled.len(),
            self.duplicates.len(),
            self.untracked.len(),
            self.violations.len(),
            self.leaks.len(),
            self.drain.as_secs_f64()
        )
    }

    /// Every broken promise, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut all = Vec::new();
        all.extend(self.lost.iter().map(|l| format!("lost: {l}")));
        all.extend(self.unsettled.iter().map(|u| format!("unsettled: {u}")));
        all.extend(self.duplicates.iter().map(|d| format!("duplicate: {d}")));
        all.extend(self.untracked.iter().map(|u| format!("untracked: {u}")));
        all.extend(self.violations.iter().cloned());
        all.extend(self.leaks.iter().map(|l| format!("leak: {l}")));
        all
    }

    /// Prints the summary line (and notes), then fails listing every problem.
    pub fn conclude(self, stack: &mut ChaosStack) -> anyhow::Result<()> {
        println!("{}", self.summary_line());
        for note in &self.notes {
            println!("  note: {note}");
        }
        let problems = self.problems();
        if problems.is_empty() {
            return Ok(());
        }
        stack.keep_dir();
        let shown: Vec<&String> = problems.iter().take(40).collect();
        anyhow::bail!(
            "{}\n{} problem(s) (seed {}; logs in {}):\n  {}{}",
            self.summary_line(),
            problems.len(),
            self.seed,
            stack.dir().display(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n  "),
            if problems.len() > shown.len() {
                format!("\n  … and {} more", problems.len() - shown.len())
            } else {
                String::new()
            }
        )
    }
}

/// The report of a scenario: jobs and their states, the ledger checks, the scan.
pub async fn judge(
    stack: &ChaosStack,
    scenario: &str,
    accepted: &[Accepted],
    settled: &Settled,
) -> anyhow::Result<Report> {
    let mut report = Report {
        scenario: scenario.to_owned(),
        seed: stack.seed.value(),
        jobs: accepted.len(),
        drain: settled.drain,
        lost: settled.lost.clone(),
        unsettled: settled.unsettled.clone(),
        violations: settled
            .unlisted
            .iter()
            .map(|u| format!("missing from GET /v1/jobs: {u}"))
            .collect(),
        ..Report::default()
    };
    for a in accepted {
        *report
            .states
            .entry(settled.state(&a.id).to_owned())
            .or_default() += 1;
    }
    let parked: Vec<String> = accepted
        .iter()
        .filter(|a| settled.state(&a.id) == "needs_attention")
        .map(|a| {
            let job = &settled.jobs[&a.id];
            format!(
                "needs_attention: job {} ({}) at {}: {}",
                a.id,
                a.provider.name(),
                job["error"]["step"].as_str().unwrap_or("-"),
                shorten(job["error"]["message"].as_str().unwrap_or(""), 200)
            )
        })
        .collect();
    report.notes.extend(parked.iter().take(12).cloned());
    if parked.len() > 12 {
        report.notes.push(format!(
            "… and {} more jobs in needs_attention",
            parked.len() - 12
        ));
    }
    check_ledgers(stack, accepted, settled, &mut report);
    scan_everything(stack, &mut report).await?;
    Ok(report)
}

/// `text` cut to about `max` characters (provider answers quoted in errors are long).
pub fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Every server id one job tracks, and a duplicate for any server two jobs track.
fn servers_tracked(
    accepted: &[Accepted],
    settled: &Settled,
    provider: Provider,
    report: &mut Report,
) -> BTreeMap<String, String> {
    let mut tracked: BTreeMap<String, String> = BTreeMap::new();
    for a in accepted.iter().filter(|a| a.provider == provider) {
        let Some(job) = settled.jobs.get(&a.id) else {
            continue;
        };
        // A reinstall job holds the server a provision made: not a second claim.
        if job["kind"] != "provision" {
            continue;
        }
        let ids: BTreeSet<&str> = [&job["server"]["id"], &job["server"]["order_id"]]
            .into_iter()
            .filter_map(Value::as_str)
            .collect();
        for id in ids {
            if let Some(other) = tracked.insert(id.to_owned(), a.id.clone())
                && other != a.id
            {
                report.duplicates.push(format!(
                    "{}: jobs {other} and {} both hold server/order {id}",
                    provider.name(),
                    a.id
                ));
            }
        }
    }
    tracked
}

fn check_ledgers(
    stack: &ChaosStack,
    accepted: &[Accepted],
    settled: &Settled,
    report: &mut Report,
) {
    let attention = |id: &str| settled.state(id) == "needs_attention";
    let ended = |id: &str| matches!(settled.state(id), "succeeded" | "failed" | "cancelled");

    // HOSTKEY: orders by hostname, payments by invoice, every server a job's.
    let by_host: BTreeMap<&str, &Accepted> = accepted
        .iter()
        .filter(|a| a.provider == Provider::Hostkey && a.server_id.is_none())
        .map(|a| (a.hostname.as_str(), a))
        .collect();
    let tracked = servers_tracked(accepted, settled, Provider::Hostkey, report);
    let hk = stack.sims.hostkey.ledger().events();
    let mut orders: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut payments: BTreeMap<u64, usize> = BTreeMap::new();
    let mut cancelled = BTreeSet::new();
    for e in &hk {
        match e {
            HostkeyEvent::Order {
                server_id,
                hostname,
                reinstall: false,
                ..
            } => orders.entry(hostname).or_default().push(*server_id),
            HostkeyEvent::Payment { invoice_id, .. } => {
                *payments.entry(*invoice_id).or_default() += 1
            }
            HostkeyEvent::Cancellation { server_id } => {
                cancelled.insert(*server_id);
            }
            HostkeyEvent::SuddenReinstall { server_id } => report.violations.push(format!(
                "hostkey: server {server_id} was wiped by a reboot into a finished install"
            )),
            _ => {}
        }
    }
    for (host, servers) in &orders {
        let job = by_host
            .get(host)
            .map_or("no job".to_owned(), |a| a.id.clone());
        if servers.len() > 1 {
            report.duplicates.push(format!(
                "hostkey: {} orders for {host} ({job}): servers {servers:?}",
                servers.len()
            ));
        }
        for server in servers {
            if tracked.contains_key(&server.to_string()) || cancelled.contains(server) {
                continue;
            }
            match by_host.get(host) {
                Some(a) if attention(&a.id) => report.notes.push(format!(
                    "hostkey: server {server} ({host}) waits for an operator with job {}",
                    a.id
                )),
                _ => report.untracked.push(format!(
                    "hostkey: server {server} ({host}, {job}, {}) is tracked by no job",
                    by_host.get(host).map_or("", |a| settled.state(&a.id))
                )),
            }
        }
    }
    for (invoice, n) in &payments {
        if *n > 1 {
            report
                .duplicates
                .push(format!("hostkey: invoice {invoice} paid {n} times"));
        }
    }
    for a in accepted
        .iter()
        .filter(|a| a.provider == Provider::Hostkey && ended(&a.id))
    {
        let Some(id) = settled.server_id(&a.id).and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        if let Some(server) = stack.sims.hostkey.server(id)
            && server.pxe_config
        {
            report.violations.push(format!(
                "hostkey: job {} ended {} with PXE still armed on server {id}",
                a.id,
                settled.state(&a.id)
            ));
        }
    }

    // Klikk: orders by reference (= job id), payments by order.
    let tracked = servers_tracked(accepted, settled, Provider::Klikk, report);
    let mut orders: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut paid: BTreeMap<u64, usize> = BTreeMap::new();
    let mut cancelled = BTreeSet::new();
    for e in stack.sims.klikk.ledger().events() {
        match e {
            KlikkEvent::Order {
                order_id,
                reference,
                ..
            } => orders
                .entry(reference.unwrap_or_else(|| "(none)".into()))
                .or_default()
                .push(order_id),
            KlikkEvent::Paid { order_id } => *paid.entry(order_id).or_default() += 1,
            KlikkEvent::Cancel {
                order_id,
                changed: true,
                ..
            } => {
                cancelled.insert(order_id);
            }
            _ => {}
        }
    }
    for (reference, ids) in &orders {
        if ids.len() > 1 {
            report.duplicates.push(format!(
                "klikk: {} orders with reference {reference}: {ids:?}",
                ids.len()
            ));
        }
        for id in ids {
            if tracked.contains_key(&id.to_string()) || cancelled.contains(id) {
                continue;
            }
            if attention(reference) {
                report.notes.push(format!(
                    "klikk: order {id} waits for an operator with job {reference}"
                ));
            } else {
                report.untracked.push(format!(
                    "klikk: order {id} (reference {reference}, {}) is tracked by no job",
                    settled.state(reference)
                ));
            }
        }
    }
    for (order, n) in &paid {
        if *n > 1 {
            report
                .duplicates
                .push(format!("klikk: order {order} paid {n} times"));
        }
    }

    // Inferno: no reference on an order, so every order must be some job's server,
    // apart from at most one per job parked in needs_attention.
    let tracked = servers_tracked(accepted, settled, Provider::Inferno, report);
    let mut untracked = Vec::new();
    let mut paid: BTreeMap<u64, usize> = BTreeMap::new();
    let mut installed = BTreeSet::new();
    for e in stack.sims.inferno.ledger().events() {
        match e {
            InfernoEvent::Order { order_id, .. }
                if !tracked.contains_key(&order_id.to_string()) =>
            {
                untracked.push(order_id)
            }
            InfernoEvent::Paid { order_id, .. } => *paid.entry(order_id).or_default() += 1,
            InfernoEvent::Install {
                order_id,
                reinstall,
                ..
            } if reinstall || !installed.insert(order_id) => {
                report.violations.push(format!(
                    "inferno: order {order_id} was installed a second time (the new VPS wiped)"
                ));
            }
            _ => {}
        }
    }
    let cancelled: BTreeSet<u64> = stack
        .sims
        .inferno
        .ledger()
        .events()
        .iter()
        .filter_map(|e| match e {
            InfernoEvent::Cancel { order_id } => Some(*order_id),
            _ => None,
        })
        .collect();
    untracked.retain(|o| !cancelled.contains(o));
    let parked = accepted
        .iter()
        .filter(|a| a.provider == Provider::Inferno && attention(&a.id))
        .count();
    if untracked.len() > parked {
        report.untracked.push(format!(
            "inferno: {} orders no job tracks ({untracked:?}), {parked} inferno jobs need attention",
            untracked.len()
        ));
    } else if !untracked.is_empty() {
        report.notes.push(format!(
            "inferno: {} orders wait for an operator with {parked} jobs in needs_attention",
            untracked.len()
        ));
    }
    for (order, n) in &paid {
        if *n > 1 {
            report
                .duplicates
                .push(format!("inferno: order {order} paid {n} times"));
        }
    }

    // IDCloudHost: VMs by description (= job id), payments by invoice.
    let tracked = servers_tracked(accepted, settled, Provider::Idcloudhost, report);
    let tracked_uuids: BTreeSet<&str> = tracked
        .keys()
        .map(|k| k.rsplit('/').next().unwrap_or(k))
        .collect();
    let mut vms: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut payments: BTreeMap<u64, usize> = BTreeMap::new();
    let mut deleted = BTreeSet::new();
    for e in stack.sims.idc.ledger().events() {
        match e {
            IdcloudhostEvent::VmCreated {
                uuid, description, ..
            } => vms.entry(description).or_default().push(uuid),
            IdcloudhostEvent::Payment { invoice_id, .. } => {
                *payments.entry(invoice_id).or_default() += 1
            }
            IdcloudhostEvent::Deleted { uuid } => {
                deleted.insert(uuid);
            }
            _ => {}
        }
    }
    for (description, uuids) in &vms {
        if uuids.len() > 1 {
            report.duplicates.push(format!(
                "idcloudhost: {} VMs with description {description}: {uuids:?}",
                uuids.len()
            ));
        }
        for uuid in uuids {
            if tracked_uuids.contains(uuid.as_str()) || deleted.contains(uuid) {
                continue;
            }
            if attention(description) {
                report.notes.push(format!(
                    "idcloudhost: VM {uuid} waits for an operator with job {description}"
                ));
            } else {
                report.untracked.push(format!(
                    "idcloudhost: VM {uuid} (description {description}, {}) is tracked by no job",
                    settled.state(description)
                ));
            }
        }
    }
    for (invoice, n) in &payments {
        if *n > 1 {
            report
                .duplicates
                .push(format!("idcloudhost: invoice {invoice} paid {n} times"));
        }
    }
}

/// Every log file, `/metrics`, every callback received, every Redis key and value;
/// the api answers were scanned as they came.
async fn scan_everything(stack: &ChaosStack, report: &mut Report) -> anyhow::Result<()> {
    let scan = &stack.scan;
    for log in stack.log_files() {
        scan.check_file(&log);
    }
    match stack.client.metrics().await {
        Ok(_) => {}
        Err(e) => report.notes.push(format!("/metrics unreadable: {e:#}")),
    }
    let callbacks = stack.receiver.received();
    for (i, cb) in callbacks.iter().enumerate() {
        let headers = format!(
            "{} {} {}",
            cb.id.as_deref().unwrap_or(""),
            cb.timestamp.as_deref().unwrap_or(""),
            cb.signature.as_deref().unwrap_or("")
        );
        scan.check(&format!("job callback #{i} (headers)"), headers.as_bytes());
        scan.check(&format!("job callback #{i} (body)"), &cb.body);
    }
    let keys = scan.check_redis(&stack.redis.url()).await?;
    report.leaks = scan.leaks();
    report.notes.push(format!(
        "secrets scan: {} MB of logs, answers and callbacks ({} callbacks), {keys} Redis keys",
        scan.scanned_bytes() / 1_000_000,
        callbacks.len()
    ));
    Ok(())
}

/// HOSTKEY calls that must reach the provider at most once per job when no worker
/// crashes: each one either is money, or sends a server into a new install stage.
pub const HOSTKEY_ONCE: [(&str, &str); 5] = [
    ("eq/reinstall", ""),
    ("eq/create_pxe", ""),
    ("eq/boot_dev", " media=pxe"),
    ("eq/reboot", ""),
    ("eq/boot_dev", " media=disk"),
];

/// Every HOSTKEY call of [`HOSTKEY_ONCE`], order and payment that reached the
/// simulator more often than the jobs that needed it (by the call counters): each
/// PXE job sends each of those calls once to its server.
pub fn hostkey_calls_twice(
    stack: &ChaosStack,
    accepted: &[Accepted],
    settled: &Settled,
) -> Vec<String> {
    let sim = &stack.sims.hostkey;
    let mut twice = Vec::new();
    let mut pxe_jobs: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for a in accepted.iter().filter(|a| a.provider == Provider::Hostkey) {
        let job = settled.jobs.get(&a.id);
        if a.server_id.is_none() {
            let n = sim.calls("eq/order_instance", &format!("hostname={}", a.hostname));
            if n > 1 {
                twice.push(format!(
                    "job {}: eq/order_instance for {} sent {n} times",
                    a.id, a.hostname
                ));
            }
        }
        if let Some(invoice) = job.and_then(|j| j["server"]["invoice_id"].as_str()) {
            let n = sim.calls("whmcs/apply_credit", &format!("invoice_id={invoice}"));
            if n > 1 {
                twice.push(format!(
                    "job {}: whmcs/apply_credit of invoice {invoice} sent {n} times",
                    a.id
                ));
            }
        }
        let runs_pxe = job
            .and_then(|j| j["steps"].as_array())
            .is_some_and(|steps| steps.iter().any(|s| s["name"] == "create_pxe"));
        let server = a
            .server_id
            .as_deref()
            .or_else(|| job.and_then(|j| j["server"]["id"].as_str()));
        if let (true, Some(server)) = (runs_pxe, server) {
            pxe_jobs.entry(server.to_owned()).or_default().push(&a.id);
        }
    }
    for (server, jobs) in &pxe_jobs {
        for (action, qualifier) in HOSTKEY_ONCE {
            let n = sim.calls(action, &format!("id={server}{qualifier}"));
            if n as usize > jobs.len() {
                twice.push(format!(
                    "{action}{qualifier} on server {server} reached the provider {n} times for {} job(s) {jobs:?}",
                    jobs.len()
                ));
            }
        }
    }
    twice
}
