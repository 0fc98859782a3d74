//! One case of the model: its namespace, api, engine and provider, the workers it
//! has frozen, and what each transition does.

use super::checks::{ModelJob, Snapshot, check_end, check_ledger, check_move, snapshot};
use super::cloud::{Cloud, Fault, Ledger, Script};
use super::{MAX_JOBS, MAX_STALLED, Transition, model_settings};
use anyhow::{Context, bail, ensure};
use provisioner_shared::ProviderKind;
use provisioner_shared::job::{Ending, JobState, RunState};
use provisioner_shared::store::{ClaimedJob, Commit, CommitOutcome, Schedule, Store};
use provisioner_shared::time::Millis;
use provisioner_tests::{
    TestApi, TestRedis, account, connect_store, spawn_api, test_config, wait_until,
};
use provisioner_worker::engine::{DriveEnd, Engine};
use provisioner_worker::providers::Providers;
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "model";
/// Drives the drain may take per job before a job that has not ended counts as
/// never ending.
const DRAIN_DRIVES_PER_JOB: usize = 12;
/// Longer than any drive of the model takes: one that runs longer is stuck.
const DRIVE_LIMIT: Duration = Duration::from_secs(10);

type DriveFuture = Pin<Box<dyn Future<Output = DriveEnd>>>;

/// A worker frozen mid-drive, lease and all.
struct Stalled {
    drive: DriveFuture,
    script: Arc<Script>,
}

/// A claim as a worker got it: what a stale commit would send.
struct PastClaim {
    id: String,
    version: u64,
    fence: String,
    run_json: String,
}

enum Ran {
    Ended,
    Cut,
}

/// What a truthful operator does with a job that needs attention.
enum Settlement {
    Retry,
    Resolve(Value),
}

pub(crate) struct Case {
    // Dropped in this order: stalled workers, the api, then the namespace.
    stalled: Vec<Stalled>,
    api: TestApi,
    store: Store,
    engine: Arc<Engine>,
    cloud: Cloud,
    lease: Duration,
    jobs: Vec<ModelJob>,
    claims: Vec<PastClaim>,
    _namespace: TestRedis,
}

impl Case {
    pub(crate) async fn start(redis: &TestRedis) -> anyhow::Result<Case> {
        let namespace = redis.another_namespace();
        let mut config = test_config(&namespace);
        config.worker.shards = 1;
        config.accounts.push(account(
            ACCOUNT,
            ProviderKind::Idcloudhost,
            "http://127.0.0.1:9/",
        ));
        let api = spawn_api(config.clone()).await?;
        let store = connect_store(&config).await?;
        let cloud = Cloud::default();
        let settings = model_settings(&config);
        let lease = settings.lease;
        let providers = Providers::from_config(&config, &store, settings.step_timeout)?
            .with(ACCOUNT, cloud.clone());
        let engine = Engine::new(store.clone(), providers, config.sealer(), settings);
        Ok(Case {
            stalled: Vec::new(),
            api,
            store,
            engine: Arc::new(engine),
            cloud,
            lease,
            jobs: Vec::new(),
            claims: Vec::new(),
            _namespace: namespace,
        })
    }

    pub(crate) async fn apply(&mut self, t: &Transition) -> anyhow::Result<()> {
        match t {
            Transition::Enqueue => self.enqueue().await,
            Transition::Drive { faults, cut_after } => self.drive(faults, *cut_after, false).await,
            Transition::Stall { faults, cut_after } => {
                let keep = self.stalled.len() < MAX_STALLED;
                self.drive(faults, *cut_after, keep).await
            }
            Transition::Resume { which } => self.resume(*which).await,
            Transition::Expire => self.expire().await,
            Transition::Cancel { job } => self.cancel(*job).await,
            Transition::Retry { job } => self.retry(*job).await,
            Transition::Resolve { job, prefer_fail } => self.resolve(*job, *prefer_fail).await,
            Transition::ReplayStale {
                claim,
                current_version,
                lean,
            } => self.replay(*claim, *current_version, *lean).await,
        }
    }

    pub(crate) async fn enqueue(&mut self) -> anyhow::Result<()> {
        if self.jobs.len() >= MAX_JOBS {
            return Ok(());
        }
        let n = self.jobs.len();
        let body = json!({
            "kind": "provision",
            "account": ACCOUNT,
            "hostname": format!("model-{n}.example.com"),
            "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 1, "ram_mb": 1024, "disk_gb": 10},
            "root_password": "S3cure!pass",
        });
        let reply = self
            .api
            .post_job(&body)
            .await?
            .expect(StatusCode::ACCEPTED)?;
        self.jobs.push(ModelJob::new(reply.id().to_owned()));
        Ok(())
    }

    /// The next due job, leased as a worker's claim loop leases it; when nothing is
    /// due yet but something will be within a lease (a wait, a retry, another
    /// worker's lease running out), it waits for that.
    async fn claim_next(&mut self) -> anyhow::Result<Option<(ClaimedJob, (Millis, Instant))>> {
        let horizon = self.lease + Duration::from_millis(100);
        let deadline = Instant::now() + horizon * 2;
        loop {
            if let Some(claimed) = self.claim().await? {
                return Ok(Some(claimed));
            }
            let soon = match self.store.earliest(&[0]).await?.first().copied().flatten() {
                Some(at) => at.since(self.store.time().await?) <= horizon,
                None => false,
            };
            if !soon || Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The due job with the lowest score, leased as a worker's claim loop leases it.
    async fn claim(&mut self) -> anyhow::Result<Option<(ClaimedJob, (Millis, Instant))>> {
        let batch = self.store.claim(0, 1, self.lease).await?;
        let at = (batch.now, Instant::now());
        let Some(claimed) = batch.jobs.into_iter().next() else {
            return Ok(None);
        };
        self.claims.push(PastClaim {
            id: claimed.id.clone(),
            version: claimed.version,
            fence: claimed.fence.clone(),
            run_json: claimed.run_json.clone(),
        });
        Ok(Some((claimed, at)))
    }

    fn start_drive(
        &self,
        claimed: ClaimedJob,
        at: (Millis, Instant),
        script: &Arc<Script>,
    ) -> DriveFuture {
        let engine = self.engine.clone();
        Box::pin(script.scope(async move { engine.drive(claimed, at, &|| false).await }))
    }

    /// Claims and drives; a cut drive is dropped (a crash), or frozen when `keep`.
    async fn drive(
        &mut self,
        faults: &[Fault],
        cut_after: Option<u32>,
        keep: bool,
    ) -> anyhow::Result<()> {
        let Some((claimed, at)) = self.claim_next().await? else {
            return Ok(());
        };
        let script = Script::new(faults);
        let mut drive = self.start_drive(claimed, at, &script);
        match run_drive(&mut drive, &script, cut_after).await? {
            Ran::Ended => {}
            Ran::Cut if keep => self.stalled.push(Stalled { drive, script }),
            Ran::Cut => drop(drive),
        }
        Ok(())
    }

    async fn resume(&mut self, which: usize) -> anyhow::Result<()> {
        if self.stalled.is_empty() {
            return Ok(());
        }
        let mut stalled = self.stalled.remove(which % self.stalled.len());
        stalled.script.release();
        match run_drive(&mut stalled.drive, &stalled.script, None).await? {
            Ran::Ended => Ok(()),
            Ran::Cut => bail!("a released drive hung again"),
        }
    }

    /// Waits (polling Redis time) until every score on the schedule has passed.
    async fn expire(&self) -> anyhow::Result<()> {
        let store = &self.store;
        let due_key = store.keys().due(0);
        wait_until(
            "every lease and wait to run out",
            Duration::from_secs(5),
            || {
                let due_key = due_key.clone();
                async move {
                    let mut c = store.connection();
                    let last: Vec<(String, f64)> = c.zrange_withscores(&due_key, -1, -1).await?;
                    let now = store.time().await?;
                    Ok(last
                        .first()
                        .is_none_or(|(_, score)| *score as u64 <= now.0)
                        .then_some(()))
                }
            },
        )
        .await
    }

    fn pick(&self, job: usize) -> Option<usize> {
        (!self.jobs.is_empty()).then(|| job % self.jobs.len())
    }

    async fn cancel(&mut self, job: usize) -> anyhow::Result<()> {
        let Some(j) = self.pick(job) else {
            return Ok(());
        };
        let reply = self
            .api
            .post(&format!("/v1/jobs/{}/cancel", self.jobs[j].id), None)
            .await?;
        match reply.status {
            StatusCode::ACCEPTED => self.jobs[j].may_leave_parked = true,
            StatusCode::CONFLICT => {}
            other => bail!("cancel answered {other}: {}", reply.text),
        }
        Ok(())
    }

    async fn retry(&mut self, job: usize) -> anyhow::Result<()> {
        let Some(j) = self.pick(job) else {
            return Ok(());
        };
        let reply = self
            .api
            .post(&format!("/v1/jobs/{}/retry", self.jobs[j].id), None)
            .await?;
        match reply.status {
            StatusCode::ACCEPTED => self.accepted_operator_action(j),
            StatusCode::CONFLICT => {}
            other => bail!("retry answered {other}: {}", reply.text),
        }
        Ok(())
    }

    fn accepted_operator_action(&mut self, j: usize) {
        let job = &mut self.jobs[j];
        match job.last.as_ref().map(Snapshot::state) {
            Some(JobState::Failed) => job.reopened = true,
            Some(JobState::NeedsAttention) => job.may_leave_parked = true,
            _ => {}
        }
    }

    async fn resolve(&mut self, job: usize, prefer_fail: bool) -> anyhow::Result<()> {
        let Some(j) = self.pick(job) else {
            return Ok(());
        };
        let id = self.jobs[j].id.clone();
        let now = snapshot(&self.store, &id).await?;
        if now.state() != JobState::NeedsAttention {
            return Ok(());
        }
        let Some(settlement) = self.truthful_settlement(&id, &now, prefer_fail) else {
            return Ok(());
        };
        let reply = match &settlement {
            Settlement::Retry => self.api.post(&format!("/v1/jobs/{id}/retry"), None).await?,
            Settlement::Resolve(body) => {
                self.api
                    .post(&format!("/v1/jobs/{id}/resolve"), Some(body))
                    .await?
            }
        };
        ensure!(
            reply.status == StatusCode::ACCEPTED,
            "a truthful operator's settlement was refused ({}): {}",
            reply.status,
            reply.text
        );
        self.accepted_operator_action(j);
        Ok(())
    }

    /// What an operator who looks at the provider does: adopt what exists, else
    /// call again (or fail); run a failed compensation again. Nothing while a request
    /// is still in flight (the provider shows no answer yet).
    fn truthful_settlement(
        &self,
        id: &str,
        now: &Snapshot,
        prefer_fail: bool,
    ) -> Option<Settlement> {
        let ledger = self.cloud.ledger(id);
        if ledger.in_flight > 0 {
            return None;
        }
        let cancelling = now.run.ending == Some(Ending::Cancelled);
        let found = match now.current_step()? {
            "compensate_cancel" => return Some(Settlement::Retry),
            "create_vm" => ledger.vms.first().map(|vm| vm.id.clone()),
            "pay" => ledger.payments.first().map(|vm| Ledger::invoice_of(vm)),
            _ => return None,
        };
        Some(Settlement::Resolve(match found {
            Some(order_id) => json!({"action": "adopt", "order_id": order_id}),
            None if cancelling || prefer_fail => json!({"action": "fail"}),
            None => json!({"action": "reorder"}),
        }))
    }

    async fn replay(
        &mut self,
        claim: usize,
        current_version: bool,
        lean: bool,
    ) -> anyhow::Result<()> {
        if self.claims.is_empty() {
            return Ok(());
        }
        let past = &self.claims[claim % self.claims.len()];
        let now = snapshot(&self.store, &past.id).await?;
        let version = if current_version {
            now.version
        } else {
            past.version
        };
        if version == now.version && past.fence == now.fence {
            // Not stale: the holder's own.
            return Ok(());
        }
        let run: RunState = serde_json::from_str(&past.run_json)?;
        let outcome = self
            .store
            .commit(Commit {
                id: &past.id,
                version,
                fence: &past.fence,
                run_json: &past.run_json,
                state: run.state,
                schedule: if lean {
                    Schedule::Hold
                } else {
                    Schedule::After(Duration::ZERO)
                },
                pokes_seen: run.pokes_seen,
                cancel_seen: run.cancel_seen,
                callback: None,
            })
            .await?;
        ensure!(
            outcome == CommitOutcome::Lost,
            "a stale commit (v{version}, fence {}) went through over v{} fence {}",
            past.fence,
            now.version,
            now.fence
        );
        Ok(())
    }

    /// Every job against the model, and the ledger.
    pub(crate) async fn check_all(&mut self) -> anyhow::Result<()> {
        for job in &mut self.jobs {
            let now = snapshot(&self.store, &job.id).await?;
            let ledger = self.cloud.ledger(&job.id);
            check_ledger(&job.id, &ledger)?;
            check_move(job, &now, &ledger)?;
            job.reopened = false;
            let changed = job.last.as_ref().is_none_or(|l| l.run_json != now.run_json);
            if now.state() == JobState::NeedsAttention {
                if changed {
                    job.may_leave_parked = now.cancel_pending;
                } else {
                    job.may_leave_parked |= now.cancel_pending;
                }
            } else {
                job.may_leave_parked = false;
            }
            job.last = Some(now);
        }
        Ok(())
    }

    /// Stalled workers resume, in-flight requests land, then the drain: a healthy
    /// provider and a live worker until every job has ended; an operator settles
    /// what needs attention, and the drain runs again.
    pub(crate) async fn finish(mut self) -> anyhow::Result<()> {
        while !self.stalled.is_empty() {
            self.resume(0).await?;
            self.check_all()
                .await
                .context("after a stalled worker resumed")?;
        }
        wait_until(
            "requests in flight to land",
            Duration::from_secs(5),
            || async { Ok((self.cloud.in_flight() == 0).then_some(())) },
        )
        .await?;
        self.drain().await.context("draining")?;
        for job in &self.jobs {
            let end = snapshot(&self.store, &job.id).await?;
            check_end(&job.id, &end, &self.cloud, false)?;
        }
        for j in 0..self.jobs.len() {
            self.resolve(j, false)
                .await
                .context("an operator settling")?;
        }
        self.check_all().await?;
        self.drain().await.context("draining after the operator")?;
        for job in &self.jobs {
            let end = snapshot(&self.store, &job.id).await?;
            check_end(&job.id, &end, &self.cloud, true)?;
        }
        Ok(())
    }

    async fn drain(&mut self) -> anyhow::Result<()> {
        let limit = DRAIN_DRIVES_PER_JOB * self.jobs.len();
        let mut drives = 0;
        loop {
            self.check_all().await?;
            let open: Vec<&str> = self
                .jobs
                .iter()
                .filter(|j| !j.last.as_ref().is_some_and(Snapshot::has_ended))
                .map(|j| j.id.as_str())
                .collect();
            if open.is_empty() {
                return Ok(());
            }
            ensure!(
                drives < limit,
                "jobs {open:?} have not ended after {drives} drives with a healthy provider"
            );
            if self.claim_and_drive_healthy().await? {
                drives += 1;
                continue;
            }
            let store = &self.store;
            let due_key = store.keys().due(0);
            wait_until("the next job to be due", Duration::from_secs(5), || {
                let due_key = due_key.clone();
                async move {
                    let mut c = store.connection();
                    let first: Vec<(String, f64)> = c.zrange_withscores(&due_key, 0, 0).await?;
                    let now = store.time().await?;
                    let Some((_, score)) = first.first() else {
                        bail!("live jobs, but nothing on the schedule");
                    };
                    Ok((*score as u64 <= now.0).then_some(()))
                }
            })
            .await?;
        }
    }

    async fn claim_and_drive_healthy(&mut self) -> anyhow::Result<bool> {
        let Some((claimed, at)) = self.claim().await? else {
            return Ok(false);
        };
        let script = Script::new(&[]);
        let mut drive = self.start_drive(claimed, at, &script);
        match run_drive(&mut drive, &script, None).await? {
            Ran::Ended => Ok(true),
            Ran::Cut => bail!("a healthy drive hung"),
        }
    }
}

/// Polls `drive` until it ends, its provider call hangs, or it has been polled
/// `cut_after` times (then it is left where it stands: at an await point).
async fn run_drive(
    drive: &mut DriveFuture,
    script: &Script,
    cut_after: Option<u32>,
) -> anyhow::Result<Ran> {
    let mut polls = 0u32;
    let run = std::future::poll_fn(|cx| {
        if cut_after.is_some_and(|limit| polls >= limit) {
            return Poll::Ready(Ran::Cut);
        }
        polls += 1;
        match drive.as_mut().poll(cx) {
            Poll::Ready(_) => Poll::Ready(Ran::Ended),
            Poll::Pending if script.is_hung() => Poll::Ready(Ran::Cut),
            Poll::Pending => Poll::Pending,
        }
    });
    tokio::time::timeout(DRIVE_LIMIT, run)
        .await
        .context("a drive neither ended nor reached its cut point")
}
