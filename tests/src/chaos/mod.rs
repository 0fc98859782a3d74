//! The chaos harness (issue 9): Provisioner's promise — never a duplicate order or
//! payment, never a paid server nobody tracks, never a leaked secret — proved on
//! real processes with faults injected.
//!
//! A scenario starts a [`ChaosStack`]: a real `redis-server` (AOF, `appendfsync
//! always`, restartable on its port after `kill -9`), the real `provisioner-api` and
//! N `provisioner-worker` binaries as child processes reading a config file written
//! here ([`process`]), their logs in files of a temporary directory, and the four
//! provider simulators in this process (they are the providers, not what is killed;
//! their ledgers and call counters are the evidence). It drives a load of jobs
//! ([`load`]) through a client that reads every answer for leaked secrets
//! ([`client`], [`canary`]), injects faults on a schedule drawn from the run's seed
//! ([`seed`]), waits until every job has settled, and judges the outcome
//! ([`verdict`]): every job terminal or `needs_attention`, no accepted job lost, at
//! most one order per job and one payment per invoice, every order tracked by a job,
//! and no canary secret anywhere (logs, answers, `/metrics`, callbacks, every Redis
//! key and value, in plain text and in base64).
//!
//! `CHAOS=0` skips the target; `CHAOS_SOAK=1` makes the loads longer; `CHAOS_SEED`
//! replays a run; `CHAOS_KEEP=1` keeps the temporary directory (configs and logs).

pub mod canary;
pub mod client;
pub mod load;
pub mod process;
pub mod seed;
pub mod stack;
pub mod verdict;

pub use canary::{Canaries, Leak, LeakScan};
pub use client::{ChaosClient, Posted};
pub use load::{Accepted, Provider};
pub use process::{Proc, WorkerPool, binary};
pub use seed::ChaosSeed;
pub use stack::{ChaosStack, StackOptions};
pub use verdict::{Report, Settled};

/// False when `CHAOS=0`: the scenarios return at once (a developer's quick run).
pub fn enabled() -> bool {
    !matches!(std::env::var("CHAOS").as_deref(), Ok("0" | "false" | "no"))
}

/// True when `CHAOS_SOAK=1`: more jobs, more faults, longer runs.
pub fn soak() -> bool {
    matches!(
        std::env::var("CHAOS_SOAK").as_deref(),
        Ok("1" | "true" | "yes")
    )
}

/// One scenario at a time: each starts a dozen processes on a 2-core machine, and
/// the timing-sensitive ones (prefetch, SIGSTOP) must not share the CPU with another.
pub async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}
