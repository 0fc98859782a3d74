//! Issue 9, R11: the engine as a state machine, checked against a model.
//!
//! Each case is a generated sequence of transitions run against the real engine
//! (`Engine::drive`, in this process), the real store and its scripts on a real
//! Redis (a namespace of the case's own on one `redis-server`), the real api for
//! enqueue, cancel, retry and resolve, and a scriptable fake provider ([`cloud`])
//! that keeps a ledger of every VM and payment per job. The transitions: enqueue a
//! job; a worker claims the next due job and drives it, the provider answering as
//! the drive's script says (refusals, 5xx before or after applying, lost answers,
//! requests still in flight, 429s, slow and stuck calls); a worker crashes mid-drive
//! (its future dropped at a hung provider call or after a number of polls: any
//! await point); a worker stalls there with its lease and resumes later (a
//! duplicate delivery: another worker may have claimed the job meanwhile); time
//! passes until every lease and wait has run out; a stale commit is replayed; cancel
//! and poke; an operator retries or truthfully resolves a job that needs attention.
//!
//! After every transition ([`checks`]): at most one order and one payment per job in
//! the provider's ledger; a job moves forward only (done steps stay done, a terminal
//! job never changes unless an operator retries it, a parked one only when an
//! operator or a pending cancel moves it); `needs_attention` only with a reason and
//! at a step whose outcome the provider left open; every live job on the schedule.
//! At the end every job ends: stalled workers resume, then a healthy provider and a
//! live worker drain the schedule within a bounded number of drives (each job
//! terminal or `needs_attention` with a reason), an operator settles what needs
//! attention, and everything is terminal with nothing left at the provider that its
//! job does not account for.
//!
//! `PROPTEST_CASES` sets the number of cases (default [`DEFAULT_CASES`]);
//! `MODEL_SEED` replays a run (every run prints its seed).

mod case;
mod checks;
mod cloud;
mod regressions;

use anyhow::{Context, bail};
use case::Case;
use cloud::Fault;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{
    Config as ProptestConfig, RngAlgorithm, TestError, TestRng, TestRunner,
};
use provisioner_shared::Config;
use provisioner_tests::TestRedis;
use provisioner_worker::engine::Settings;
use std::time::{Duration, Instant};

/// Cases per run unless `PROPTEST_CASES` says otherwise.
const DEFAULT_CASES: u32 = 48;
/// Jobs per case, at most.
const MAX_JOBS: usize = 3;
/// Workers frozen at once, at most.
const MAX_STALLED: usize = 2;
/// Transitions per case, at most (after a first enqueue).
const MAX_TRANSITIONS: usize = 32;

/// The engine's knobs for the model: a short lease, so that time passing costs a
/// fraction of a second; a settle window longer than a request may stay in flight
/// at the provider ([`cloud::LATE_APPLY`]); two attempts per step, so that a case
/// reaches a step's last attempt often.
fn model_settings(config: &Config) -> Settings {
    let mut s = Settings::from_config(config);
    s.lease = Duration::from_millis(400);
    s.step_timeout = Duration::from_millis(150);
    s.settle = Duration::from_millis(200);
    s.retry.max_attempts = 2;
    s.retry.base = Duration::from_millis(10);
    s.retry.max = Duration::from_millis(40);
    s.polling.initial = Duration::from_millis(10);
    s.polling.max = Duration::from_millis(40);
    s
}

#[derive(Debug, Clone)]
pub(crate) enum Transition {
    Enqueue,
    /// A worker claims the next due job (waiting for one that comes due within a
    /// lease) and drives it; a hung call or `cut_after` polls end it like a crash
    /// (the future is dropped).
    Drive {
        faults: Vec<Fault>,
        cut_after: Option<u32>,
    },
    /// Like `Drive`, but the cut worker is frozen with its lease and kept.
    Stall {
        faults: Vec<Fault>,
        cut_after: Option<u32>,
    },
    /// A frozen worker goes on (its hung call answers) and runs to its end.
    Resume {
        which: usize,
    },
    /// Time passes until everything on the schedule is due (leases, waits).
    Expire,
    Cancel {
        job: usize,
    },
    /// `POST /retry`: a poke for a live job, a retry for a failed or parked one.
    Retry {
        job: usize,
    },
    /// An operator settles a job that needs attention, from the provider's truth.
    Resolve {
        job: usize,
        prefer_fail: bool,
    },
    /// A commit of a past claim, sent again: with its own version, or with the
    /// job's current version and the claim's (old) fence; on the lean path or not.
    ReplayStale {
        claim: usize,
        current_version: bool,
        lean: bool,
    },
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        5 => Just(Fault::Ok),
        1 => Just(Fault::Refuse),
        1 => Just(Fault::NotSent),
        2 => Just(Fault::Lost),
        1 => Just(Fault::LateApply),
        1 => Just(Fault::NotReady),
        1 => Just(Fault::RateLimited),
        1 => Just(Fault::Slow),
        2 => any::<bool>().prop_map(|applied| Fault::Stuck { applied }),
        2 => any::<bool>().prop_map(|applied| Fault::Hang { applied }),
    ]
}

fn transition() -> impl Strategy<Value = Transition> {
    let faults = || vec(fault(), 0..4);
    // Mostly early: a drive's first few polls are where its commits are in flight.
    let cut = || {
        prop_oneof![
            4 => Just(None),
            2 => (1u32..6).prop_map(Some),
            1 => (6u32..30).prop_map(Some),
        ]
    };
    prop_oneof![
        1 => Just(Transition::Enqueue),
        6 => (faults(), cut()).prop_map(|(faults, cut_after)| Transition::Drive { faults, cut_after }),
        3 => (faults(), cut()).prop_map(|(faults, cut_after)| Transition::Stall { faults, cut_after }),
        2 => (0..MAX_STALLED).prop_map(|which| Transition::Resume { which }),
        3 => Just(Transition::Expire),
        1 => (0..MAX_JOBS).prop_map(|job| Transition::Cancel { job }),
        1 => (0..MAX_JOBS).prop_map(|job| Transition::Retry { job }),
        1 => (0..MAX_JOBS, any::<bool>())
            .prop_map(|(job, prefer_fail)| Transition::Resolve { job, prefer_fail }),
        1 => (0..16usize, any::<bool>(), any::<bool>()).prop_map(|(claim, current_version, lean)| {
            Transition::ReplayStale { claim, current_version, lean }
        }),
    ]
}

#[test]
fn the_engine_keeps_its_promises_against_a_model() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let cases = match std::env::var("PROPTEST_CASES") {
        Ok(n) => n.parse().context("PROPTEST_CASES must be a number")?,
        Err(_) => DEFAULT_CASES,
    };
    let seed: u64 = match std::env::var("MODEL_SEED") {
        Ok(s) => s.parse().context("MODEL_SEED must be a number")?,
        Err(_) => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }
    };
    eprintln!("model: {cases} cases, MODEL_SEED={seed}");
    let rt = runtime()?;
    let redis = rt.block_on(TestRedis::start())?;
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    };
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        config,
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let started = Instant::now();
    let outcome = runner.run(&vec(transition(), 1..=MAX_TRANSITIONS), |plan| {
        rt.block_on(run_case(&redis, &plan))
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))
    });
    eprintln!("model: done in {:.1?}", started.elapsed());
    match outcome {
        Ok(()) => Ok(()),
        Err(TestError::Fail(why, plan)) => bail!(
            "the engine broke a promise (replay with MODEL_SEED={seed}); minimal case, after one \
             enqueue: {plan:#?}\n{why}"
        ),
        Err(TestError::Abort(why)) => bail!("the model run stopped (MODEL_SEED={seed}): {why}"),
    }
}

/// The model's runtime: one thread, so that a case's interleaving is the one its
/// transitions spell out.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// One generated case, from a fresh namespace to the last check.
pub(crate) async fn run_case(redis: &TestRedis, plan: &[Transition]) -> anyhow::Result<()> {
    let mut case = Case::start(redis).await?;
    case.enqueue().await?;
    case.check_all().await.context("after the first enqueue")?;
    for (i, t) in plan.iter().enumerate() {
        case.apply(t)
            .await
            .with_context(|| format!("transition {i}: {t:?}"))?;
        case.check_all()
            .await
            .with_context(|| format!("after transition {i}: {t:?}"))?;
    }
    case.finish().await.context("at the end")
}
