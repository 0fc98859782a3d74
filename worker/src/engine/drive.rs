//! The drive: one leased job, step after step, each result committed. Where a
//! step's result goes, in one place:
//!
//! | the step's `Outcome` | `transition::Next` | the commit's `Schedule` | then the drive |
//! |---|---|---|---|
//! | `Next` (chain left) | `Continue` | `Keep` (renew, or the lean hold) | runs the next step |
//! | `Next` (chain spent, stopping) | `Continue` | `After(0)` | `Released`, due now |
//! | `Wait`, `Retry` | `After(d)` | `After(d)` | `Released`, due in `d` |
//! | `Attention` | `Park` | `Park` (+ callback) | `Parked` |
//! | `Next` on the last step, `Fail` with no finalizer left | `Finish` | `Finish` (+ callback) | holds released, `Finished` |

use super::transition::Next;
use super::{DriveEnd, Engine, Lease};
use crate::providers::meter::{self, SharedRecorder};
use provisioner_shared::failpoint;
use provisioner_shared::job::JobState;
use provisioner_shared::store::{ClaimedJob, Schedule};
use provisioner_shared::time::Millis;
use std::time::{Duration, Instant};
use tracing::Instrument;

impl Engine {
    /// Runs a leased job's current step, and the next ones while they say `Next`.
    /// `stopping` tells it to hand the job back after the current step (shutdown).
    /// `claimed_at` is the claim's Redis time and the moment its reply came: the
    /// lease counts from the claim, not from when the job left the prefetch buffer.
    pub async fn drive(
        &self,
        claimed: ClaimedJob,
        claimed_at: (Millis, Instant),
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> DriveEnd {
        // Every provider call of this drive counts into this worker's recorder.
        let recorder: SharedRecorder = self.metrics.recorder();
        meter::metered(recorder, self.drive_metered(claimed, claimed_at, stopping)).await
    }

    async fn drive_metered(
        &self,
        claimed: ClaimedJob,
        claimed_at: (Millis, Instant),
        stopping: &(dyn Fn() -> bool + Sync),
    ) -> DriveEnd {
        let mut job = match claimed.decode() {
            Ok(job) => job,
            Err(e) => {
                // Left leased: it comes back after the lease, and is logged each time.
                tracing::error!(job_id = %claimed.id, error = %e, "cannot decode job record; leaving it alone");
                return DriveEnd::Abandoned;
            }
        };
        let mut lease = Lease::new(
            self.store.clone(),
            claimed.id.clone(),
            claimed.version,
            claimed.fence.clone(),
            claimed_at,
            self.settings.lease,
            self.settings.step_reserve(),
        );
        let started = Instant::now();
        // Chaining stops while a whole further step still fits well inside the lease.
        let chain_budget = self
            .settings
            .lease
            .mul_f32(0.8)
            .saturating_sub(self.settings.step_timeout);
        let mut chain = 0usize;
        // The trail's clock: one reading per claim, so that the calls of a chain of
        // steps are stamped in the order they were made (each commit's own reading of
        // Redis time is off by its round trip, differently each time).
        let trail_clock = (lease.now(), Instant::now());
        // Built once per claim, and only where a public URL is configured.
        let callback_url = self
            .provider_callbacks
            .as_ref()
            .map(|(base, tokens)| tokens.url(base, &claimed.id));
        loop {
            let before = job.run.state;
            // A step never starts without room for all of it in the lease: a job that
            // waited in the prefetch buffer, or a long chain, renews first (and one
            // that another worker has claimed meanwhile is let go).
            match lease.ensure(&job.run).await {
                Ok(Some(signals)) => job.signals = signals,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(job_id = %claimed.id, error = %e, "lease ran out before the step could start; letting the job go");
                    return DriveEnd::Abandoned;
                }
            }
            let span = tracing::info_span!(
                "step",
                job_id = %job.spec.id,
                account = %job.spec.request.account,
                provider = %job.spec.request.provider(),
                step = %job.run.current().map(|s| s.name.as_str()).unwrap_or("-"),
                // the api request that created the job, when it is known
                request_id = job.spec.request_id.as_deref().map(tracing::field::display),
            );
            // Every provider call of this attempt lands on the job's trail (saved
            // after the commit, or when the job is given up: the calls were made).
            let recorder = self.recorder(&job, trail_clock);
            let attempted = recorder
                .scope(self.attempt(&mut job, &mut lease, callback_url.as_deref()))
                .instrument(span.clone())
                .await;
            let next = match attempted {
                Ok(next) => next,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(error = %e, "step abandoned"));
                    self.save_calls(&job, &recorder, false).await;
                    return DriveEnd::Abandoned;
                }
            };
            chain += 1;
            if lease.remaining().is_zero() {
                span.in_scope(|| tracing::warn!(
                    "the lease ran out while the step ran (the worker was paused, or the step overran); \
                     its result is saved only if no other worker has claimed the job since"
                ));
            }
            self.hold_server(&mut job).await;
            let chaining = next == Next::Continue
                && chain < self.settings.max_chain
                && started.elapsed() < chain_budget
                && !stopping();
            let schedule = self.schedule(next, chaining);
            if chaining {
                // shown as running while this worker goes on with it
                job.run.state = JobState::Running;
            }
            // The outbox: a job that has just ended, or just needs attention, gets its
            // callback record in the same commit (never for a state it was already in).
            let callback = match schedule {
                Schedule::Finish { .. } | Schedule::Park if job.run.state != before => {
                    crate::callbacks::payload(&job)
                }
                _ => None,
            };
            failpoint::hit("engine.before_commit").await;
            let committed = lease
                .commit_with_callback(&job.run, schedule, callback.as_deref())
                .await;
            let sync = chain == 1 || matches!(schedule, Schedule::Finish { .. });
            self.save_calls(&job, &recorder, sync).await;
            match committed {
                Ok(signals) => job.signals = signals,
                Err(e) => {
                    span.in_scope(|| tracing::warn!(error = %e, "commit failed; the lease will recover the job"));
                    return DriveEnd::Abandoned;
                }
            }
            span.in_scope(|| {
                tracing::debug!(state = %job.run.state, note = job.run.note.as_deref().unwrap_or(""), "committed")
            });
            failpoint::hit("engine.after_commit").await;
            // due now in this shard: this worker's next claim picks it up
            let callback = callback.map(|_| lease.now());
            return match schedule {
                Schedule::Keep { .. } | Schedule::Hold => continue,
                Schedule::After(d) => DriveEnd::Released {
                    due: lease.now().plus(d),
                },
                Schedule::Park => DriveEnd::Parked { callback },
                Schedule::Finish { .. } => {
                    self.release_holds(&job).await;
                    self.release_guard(&job).await;
                    DriveEnd::Finished {
                        state: job.run.state,
                        callback,
                    }
                }
            };
        }
    }

    /// The commit's schedule for a transition's `Next` (the table above).
    fn schedule(&self, next: Next, chaining: bool) -> Schedule {
        match next {
            Next::Continue if chaining => Schedule::Keep {
                lease: self.settings.lease,
            },
            Next::Continue => Schedule::After(Duration::ZERO),
            Next::After(d) => Schedule::After(d),
            Next::Park => Schedule::Park,
            Next::Finish => Schedule::Finish {
                retention: self.settings.retention,
            },
        }
    }
}
