//! The model's reference of what a job may do, checked against Redis and the
//! provider's ledger after every transition and at the end.

use super::cloud::{Cloud, Ledger};
use anyhow::{Context, bail, ensure};
use provisioner_shared::job::{Ending, JobState, RunState, StepState};
use provisioner_shared::store::Store;
use redis::AsyncCommands;

/// A job as Redis holds it after a transition.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub version: u64,
    pub fence: String,
    pub run_json: String,
    pub run: RunState,
    /// A cancel is recorded that the engine has not acted on yet.
    pub cancel_pending: bool,
    /// Its score in the due-set, if it has one.
    pub scheduled: bool,
}

impl Snapshot {
    pub fn state(&self) -> JobState {
        self.run.state
    }

    /// Nothing will move it without an operator: terminal, or parked with no cancel
    /// pending.
    pub fn has_ended(&self) -> bool {
        let state = self.state();
        state.is_terminal() || (state == JobState::NeedsAttention && !self.cancel_pending)
    }

    /// The name of the step the cursor is on, if any.
    pub fn current_step(&self) -> Option<&str> {
        self.run.current().map(|s| s.name.as_str())
    }
}

/// What the model remembers of one job between transitions.
#[derive(Debug)]
pub struct ModelJob {
    pub id: String,
    pub last: Option<Snapshot>,
    /// An operator's retry of this failed job was accepted in this transition.
    pub reopened: bool,
    /// It may leave `needs_attention`: an operator acted on it, or a cancel the
    /// engine has not seen yet was pending when it parked.
    pub may_leave_parked: bool,
}

impl ModelJob {
    pub fn new(id: String) -> Self {
        ModelJob {
            id,
            last: None,
            reopened: false,
            may_leave_parked: false,
        }
    }
}

pub async fn snapshot(store: &Store, id: &str) -> anyhow::Result<Snapshot> {
    let raw = store
        .load(id)
        .await?
        .with_context(|| format!("job {id} is gone from Redis"))?;
    let job = raw.decode()?;
    let mut c = store.connection();
    let shard = store.keys().shard_of(id);
    let score: Option<f64> = c.zscore(store.keys().due(shard), id).await?;
    Ok(Snapshot {
        version: raw.version,
        fence: raw.fence.clone(),
        run_json: raw.run_json.clone(),
        cancel_pending: job.signals.cancel && !job.run.cancel_seen,
        scheduled: score.is_some(),
        run: job.run,
    })
}

/// The provider's side, for every job: at most one order and one payment, and a
/// payment only for the job's own VM.
pub fn check_ledger(id: &str, ledger: &Ledger) -> anyhow::Result<()> {
    ensure!(
        ledger.vms.len() <= 1,
        "job {id} has {} VMs at the provider (a duplicate order): {:?}",
        ledger.vms.len(),
        ledger.vms
    );
    ensure!(
        ledger.payments.len() <= 1,
        "job {id} paid {} times (a duplicate payment): {:?}",
        ledger.payments.len(),
        ledger.payments
    );
    for paid in &ledger.payments {
        ensure!(
            ledger.vms.iter().any(|v| &v.id == paid),
            "job {id} paid for {paid}, which is not its VM ({:?})",
            ledger.vms
        );
    }
    Ok(())
}

/// One job's move from its last snapshot to `now`: forward only, a terminal job
/// never changes unless an operator retried it, a parked one only when an
/// operator (or a pending cancel) moves it, `needs_attention` only where the
/// provider left the outcome open, and every live job on the schedule.
pub fn check_move(job: &ModelJob, now: &Snapshot, ledger: &Ledger) -> anyhow::Result<()> {
    let id = &job.id;
    let state = now.state();
    match state {
        JobState::Queued | JobState::Running | JobState::Waiting => ensure!(
            now.scheduled,
            "job {id} is {state} but not on the schedule: nothing will ever run it"
        ),
        s if s.is_terminal() => ensure!(
            !now.scheduled,
            "job {id} is {state} but still on the schedule"
        ),
        _ => {}
    }
    let Some(last) = &job.last else {
        ensure!(
            state == JobState::Queued,
            "job {id} starts {state}, not queued"
        );
        return Ok(());
    };
    let before = last.state();
    if before.is_terminal() {
        if job.reopened && before == JobState::Failed {
            ensure!(
                state == JobState::Queued,
                "job {id} retried by an operator is {state}, not queued"
            );
        } else {
            ensure!(
                now.version == last.version && now.run_json == last.run_json,
                "job {id} changed after it ended {before}: now {state}\nbefore: {}\nafter: {}",
                last.run_json,
                now.run_json
            );
        }
    }
    if before == JobState::NeedsAttention && !job.may_leave_parked {
        ensure!(
            now.version == last.version && now.run_json == last.run_json,
            "job {id} left needs_attention (now {state}) with no operator action\nbefore: {}\nafter: {}",
            last.run_json,
            now.run_json
        );
    }
    ensure!(
        now.run.steps.len() >= last.run.steps.len(),
        "job {id} lost steps: {} → {}",
        last.run.steps.len(),
        now.run.steps.len()
    );
    for (i, (was, is)) in last.run.steps.iter().zip(&now.run.steps).enumerate() {
        ensure!(
            was.name == is.name,
            "job {id}: step {i} was {} and is now {}",
            was.name,
            is.name
        );
        ensure!(
            was.state != StepState::Done || is.state == StepState::Done,
            "job {id}: step {} went back from done to {:?}\nbefore: {}\nafter: {}",
            was.name,
            is.state,
            last.run_json,
            now.run_json
        );
    }
    ensure!(
        now.run.cursor >= last.run.cursor || job.reopened,
        "job {id}'s cursor went back from {} to {} with no operator retry",
        last.run.cursor,
        now.run.cursor
    );
    let parked_anew = state == JobState::NeedsAttention
        && (before != JobState::NeedsAttention || now.run_json != last.run_json);
    if parked_anew {
        check_attention(id, now, ledger)?;
    }
    Ok(())
}

/// `needs_attention` only with a reason, and only at a step whose outcome the
/// provider left open (a lookup that could not tell, a compensation that failed).
fn check_attention(id: &str, now: &Snapshot, ledger: &Ledger) -> anyhow::Result<()> {
    let reason = now
        .run
        .error
        .as_ref()
        .map(|e| e.message.as_str())
        .unwrap_or("");
    ensure!(
        !reason.is_empty(),
        "job {id} needs attention with no reason: {}",
        now.run_json
    );
    let step = now.current_step().unwrap_or("(none)");
    if !ledger.unsure.contains(step) {
        bail!(
            "job {id} needs attention at {step}, though the provider answered every lookup of it \
             truthfully (its unsure steps: {:?}): {reason}\nrecord: {}",
            ledger.unsure,
            now.run_json
        );
    }
    Ok(())
}

/// After the drain: the job ended (terminal, or `needs_attention` with a reason) and
/// what the provider holds for it is accounted for.
pub fn check_end(id: &str, end: &Snapshot, cloud: &Cloud, settled: bool) -> anyhow::Result<()> {
    let ledger = cloud.ledger(id);
    check_ledger(id, &ledger)?;
    let state = end.state();
    let run = &end.run;
    let known = run
        .outputs
        .server_id
        .as_ref()
        .or(run.outputs.order_id.as_ref());
    let live_vm = ledger.vms.iter().find(|v| !v.cancelled);
    match state {
        JobState::NeedsAttention => {
            ensure!(
                !settled,
                "job {id} still needs attention after an operator settled it truthfully: {}",
                end.run_json
            );
            ensure!(
                run.error.as_ref().is_some_and(|e| !e.message.is_empty()),
                "job {id} needs attention with no reason"
            );
        }
        JobState::Succeeded => {
            let vm = live_vm.with_context(|| {
                format!("job {id} succeeded with no live VM at the provider: {ledger:?}")
            })?;
            ensure!(
                known == Some(&vm.id),
                "job {id} succeeded but records {known:?}, not its VM {}",
                vm.id
            );
            ensure!(
                ledger.payments.len() == 1,
                "job {id} succeeded with {} payments",
                ledger.payments.len()
            );
        }
        JobState::Cancelled => {
            if let Some(vm) = live_vm {
                bail!(
                    "job {id} ended cancelled but its VM {} still runs (and bills) at the provider\nrecord: {}",
                    vm.id,
                    end.run_json
                );
            }
        }
        JobState::Failed => {
            if let Some(vm) = live_vm {
                ensure!(
                    known == Some(&vm.id),
                    "job {id} failed and records {known:?}, but the provider runs its VM {}: \
                     a server nobody tracks\nrecord: {}",
                    vm.id,
                    end.run_json
                );
            }
        }
        live => bail!("job {id} did not end: it is {live}: {}", end.run_json),
    }
    if state == JobState::Cancelled || run.ending == Some(Ending::Cancelled) {
        ensure!(
            run.cancel_seen,
            "job {id} is cancelled without having seen a cancel"
        );
    }
    Ok(())
}
