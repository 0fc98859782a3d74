//! The drift sweep (issue 13 point 3): every `[drift] interval`, one worker (the one
//! that takes the lease in Redis) lists each account's servers and orders at its
//! provider ([`crate::step::Provider::inventory`], read-only) and compares them with
//! the account's jobs. What it finds is written as one report for `GET /v1/drift`
//! and `/metrics`; nothing is acted on.
//!
//! - `untracked`: a server or order that no job (live or finished) made or names.
//! - `gone`: a succeeded provision's server the provider no longer lists (and no
//!   succeeded deprovision took away).
//! - `unpaid`: an order still unpaid past `deadlines.payment`.

use crate::providers::Providers;
use crate::step::Upstream;
use provisioner_shared::config::Config;
use provisioner_shared::drift::{AccountDrift, DriftReport, Finding, FindingKind};
use provisioner_shared::job::{Job, JobState};
use provisioner_shared::request::JobKind;
use provisioner_shared::store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

/// Job ids read per round trip when listing an account's jobs.
const PAGE: usize = 500;

/// The sweep of one worker process.
pub struct Sweeper {
    store: Store,
    providers: Providers,
    /// Account name and provider, in config order.
    accounts: Vec<(String, String)>,
    every: Duration,
    payment_deadline: Duration,
    holder: String,
}

impl Sweeper {
    /// `None` when `[drift]` turns the sweep off.
    pub fn from_config(
        config: &Config,
        store: Store,
        providers: Providers,
        holder: String,
    ) -> Option<Sweeper> {
        let every = config.drift.every()?;
        Some(Sweeper {
            store,
            providers,
            accounts: config
                .accounts
                .iter()
                .map(|a| (a.name.clone(), a.provider.as_str().to_owned()))
                .collect(),
            every,
            payment_deadline: config.deadlines.payment,
            holder,
        })
    }

    /// Tries for the lease a few times per interval, sweeping whenever
    /// it wins, until `stop`.
    pub async fn run_until(self, stop: impl Future<Output = ()>) {
        let poll = (self.every / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        let ticks = async {
            loop {
                // The first try waits too: a worker that restarts does not sweep at
                // once (the lease decides who sweeps, not who started last).
                tokio::time::sleep(poll).await;
                match self.store.take_drift_lease(&self.holder, self.every).await {
                    Ok(true) => match self.sweep().await {
                        Ok(report) => {
                            tracing::info!(findings = report.findings.len(), "drift sweep done")
                        }
                        Err(e) => tracing::warn!(error = %e, "drift sweep failed"),
                    },
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot take the drift lease"),
                }
            }
        };
        tokio::select! {
            () = ticks => {}
            () = stop => {}
        }
    }

    /// One sweep over every account; the report replaces the last one.
    pub async fn sweep(&self) -> Result<DriftReport, StoreError> {
        let mut report = DriftReport::default();
        for (account, provider) in &self.accounts {
            let Some(client) = self.providers.get(account) else {
                continue;
            };
            let listed = client.inventory().await;
            let now = self.store.time().await?;
            let (status, error, upstream) = match listed {
                Ok(Some(list)) => ("ok", None, list),
                Ok(None) => ("unsupported", None, Vec::new()),
                Err(e) => ("error", Some(e.to_string()), Vec::new()),
            };
            report.accounts.push(AccountDrift {
                account: account.clone(),
                provider: provider.clone(),
                status: status.to_owned(),
                error,
                listed: upstream.len(),
            });
            if status != "ok" {
                continue;
            }
            let jobs = self.jobs_of(account).await?;
            let deadline_ms = u64::try_from(self.payment_deadline.as_millis()).unwrap_or(u64::MAX);
            report
                .findings
                .extend(compare(account, &upstream, &jobs, now.0, deadline_ms));
        }
        report.swept_at = self.store.time().await?;
        self.store.save_drift(&report).await?;
        Ok(report)
    }

    async fn jobs_of(&self, account: &str) -> Result<Vec<Job>, StoreError> {
        let index = self.store.keys().index_account(account);
        let mut jobs = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let ids = self
                .store
                .index_page(&index, before.as_deref(), PAGE)
                .await?;
            let Some(last) = ids.last().cloned() else {
                break;
            };
            for raw in self.store.load_many(&ids).await?.into_iter().flatten() {
                if let Ok(job) = raw.decode() {
                    jobs.push(job);
                }
            }
            before = Some(last);
        }
        Ok(jobs)
    }
}

/// The findings of one account: its provider's list against its jobs.
fn compare(
    account: &str,
    upstream: &[Upstream],
    jobs: &[Job],
    now_ms: u64,
    payment_ms: u64,
) -> Vec<Finding> {
    let by_id: BTreeMap<&str, &Job> = jobs.iter().map(|j| (j.id(), j)).collect();
    // Every server or order id a job made or names, with the job.
    let mut named: BTreeMap<String, &Job> = BTreeMap::new();
    let mut removed: BTreeSet<String> = BTreeSet::new();
    for job in jobs {
        let out = &job.run.outputs;
        for id in [out.server_id.clone(), out.order_id.clone()]
            .into_iter()
            .flatten()
        {
            named.insert(id, job);
        }
        if let Some(s) = job.spec.request.server_id() {
            named.entry(s.to_string()).or_insert(job);
            if job.spec.request.kind() == JobKind::Deprovision
                && job.run.state == JobState::Succeeded
            {
                removed.insert(s.to_string());
            }
        }
    }
    let listed: BTreeSet<&str> = upstream.iter().map(|u| u.id.as_str()).collect();
    let mut findings = Vec::new();
    for u in upstream {
        let job: Option<&Job> = u
            .reference
            .as_deref()
            .and_then(|r| by_id.get(r).copied())
            .or_else(|| named.get(&u.id).copied());
        if job.is_none() {
            findings.push(Finding {
                account: account.to_owned(),
                kind: FindingKind::Untracked,
                server_id: u.id.clone(),
                job_id: None,
                detail: u.detail.clone(),
            });
        }
        let since = u.created_ms.or(job.map(|j| j.spec.created_at.0));
        if u.unpaid
            && let Some(since) = since
            && now_ms.saturating_sub(since) > payment_ms
        {
            findings.push(Finding {
                account: account.to_owned(),
                kind: FindingKind::Unpaid,
                server_id: u.id.clone(),
                job_id: job.map(|j| j.id().to_owned()),
                detail: u.detail.clone(),
            });
        }
    }
    for job in jobs {
        if job.spec.request.kind() != JobKind::Provision || job.run.state != JobState::Succeeded {
            continue;
        }
        let Some(server) = &job.run.outputs.server_id else {
            continue;
        };
        if !listed.contains(server.as_str()) && !removed.contains(server) {
            findings.push(Finding {
                account: account.to_owned(),
                kind: FindingKind::Gone,
                server_id: server.clone(),
                job_id: Some(job.id().to_owned()),
                detail: "the provider no longer lists this server".into(),
            });
        }
    }
    findings
}
