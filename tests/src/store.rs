//! Direct access to the store, for what a test must arrange that no API call does:
//! until the worker is part of the harness, [`force_state`] plays its part and moves
//! a job the way the engine's commit would.

use anyhow::{Context, bail};
use provisioner_shared::Config;
use provisioner_shared::job::{JobError, JobState, StepState};
use provisioner_shared::store::{Commit, CommitOutcome, Schedule, Store};
use std::time::Duration;

/// A store on the config's namespace, opened as the api and the worker open it.
pub async fn connect_store(config: &Config) -> anyhow::Result<Store> {
    Store::connect(&config.redis, config.worker.shards)
        .await
        .context("connecting the test's store")
}

/// Moves a job nobody holds to `state`, with the step records and error that state
/// implies: terminal states leave the schedule, `needs_attention` is parked, live
/// states are due in an hour (so nothing runs them by surprise).
pub async fn force_state(store: &Store, id: &str, state: JobState) -> anyhow::Result<()> {
    let raw = store
        .load(id)
        .await?
        .with_context(|| format!("no job {id}"))?;
    let mut job = raw.decode()?;
    let now = store.clock();
    let run = &mut job.run;
    let cursor = run.cursor.min(run.steps.len().saturating_sub(1));
    let step_name = run
        .steps
        .get(cursor)
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let failure = |message: &str| JobError {
        step: step_name.clone(),
        message: message.to_owned(),
        provider_message: Some("forced by a test".to_owned()),
    };
    let step_state = match state {
        JobState::Queued => StepState::Pending,
        JobState::Running => StepState::Running,
        JobState::Waiting | JobState::NeedsAttention => StepState::Waiting,
        JobState::Succeeded => StepState::Done,
        JobState::Failed => StepState::Failed,
        JobState::Cancelled => StepState::Skipped,
    };
    if let Some(step) = run.steps.get_mut(cursor) {
        step.state = step_state;
        step.started_at.get_or_insert(now);
        if state.is_terminal() {
            step.finished_at = Some(now);
        }
    }
    if state == JobState::Succeeded {
        for s in &mut run.steps {
            s.state = StepState::Done;
        }
    }
    run.error = match state {
        JobState::Failed => Some(failure("failed (forced by a test)")),
        JobState::NeedsAttention => Some(failure("outcome unknown (forced by a test)")),
        _ => None,
    };
    run.state = state;
    run.updated_at = now;
    let schedule = match state {
        s if s.is_terminal() => Schedule::Finish {
            retention: Duration::ZERO,
        },
        JobState::NeedsAttention => Schedule::Park,
        _ => Schedule::After(Duration::from_secs(3600)),
    };
    let run_json = serde_json::to_string(&job.run)?;
    let outcome = store
        .commit(Commit {
            id,
            version: job.version,
            fence: &job.fence,
            run_json: &run_json,
            state,
            schedule,
            pokes_seen: job.run.pokes_seen,
            cancel_seen: job.run.cancel_seen,
            callback: None,
        })
        .await?;
    if outcome == CommitOutcome::Lost {
        bail!("job {id} changed while the test was forcing it to {state}");
    }
    Ok(())
}
