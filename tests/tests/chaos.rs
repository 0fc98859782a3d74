//! The chaos target (issue 9): Provisioner's promise — never a duplicate order or
//! payment, never a paid server nobody tracks, never a leaked secret — on real
//! processes with faults injected. Each scenario starts its own `redis-server`, the
//! `provisioner-api` and `provisioner-worker` binaries of this build and the four
//! simulators (`provisioner_tests::chaos`), prints its seed, runs its load and
//! faults, and ends with one summary line and the verdict.
//!
//! - `r1_worker_kills`: 200 jobs, 50 `kill -9` of workers, failpoint crashes around
//!   the money calls.
//! - `r2_redis_kills`: the same load while redis-server is killed ×10 and restarted
//!   from its AOF; the api and workers are never restarted.
//! - `r3_prefetch`: a worker whose prefetched jobs wait past their lease while its
//!   slots run slow steps, a second worker beside it: no step may run twice.
//! - `r4_provider_faults`: 5xx, timeouts after the effect, garbled bodies, 429s and
//!   connection resets on all four simulators at once.
//! - `r5_sigstop`: a worker frozen past its lease mid money step, taken over, thawed:
//!   its late commit is refused, nothing is applied twice.
//! - `r8_secrets`: canary secrets through a mixed run at TRACE level, looked for in
//!   every log, answer, callback, `/metrics` and Redis key.
//!
//! - `json_logs`: the api and the worker started with `--log-format json` /
//!   `LOG_FORMAT=json` write one JSON object per line and stop on SIGTERM.
//!
//! `CHAOS=0` skips them; `CHAOS_SOAK=1` runs longer loads; `CHAOS_SEED=N` replays.

#[path = "chaos/json_logs.rs"]
mod json_logs;
#[path = "chaos/r1_worker_kills.rs"]
mod r1_worker_kills;
#[path = "chaos/r2_redis_kills.rs"]
mod r2_redis_kills;
#[path = "chaos/r3_prefetch.rs"]
mod r3_prefetch;
#[path = "chaos/r4_provider_faults.rs"]
mod r4_provider_faults;
#[path = "chaos/r5_sigstop.rs"]
mod r5_sigstop;
#[path = "chaos/r8_secrets.rs"]
mod r8_secrets;
