//! R2: Redis dies under load. The R1 load (200 jobs over the four providers) while
//! redis-server is killed with `kill -9` ten times and restarted from its AOF
//! (`appendfsync always`) on the same port; the api and the workers are never
//! restarted and must carry on by themselves. Must hold: every job whose POST was
//! answered 202 (or 200 for its `Idempotency-Key` again) exists, every job terminal
//! or needs_attention, no duplicate, and no process died.

use provisioner_tests::chaos::verdict::{judge, wait_settled};
use provisioner_tests::chaos::{self, ChaosSeed, ChaosStack, StackOptions};
use rand::Rng;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r2_redis_kills_lose_no_accepted_job() -> anyhow::Result<()> {
    if !chaos::enabled() {
        return Ok(());
    }
    let _serial = chaos::one_at_a_time().await;
    let seed = ChaosSeed::from_env("r2_redis_kills")?;
    let (jobs, kills) = if chaos::soak() { (1000, 50) } else { (200, 10) };
    let mut stack = ChaosStack::start(
        "r2",
        seed,
        StackOptions {
            workers: 3,
            jobs,
            ..StackOptions::default()
        },
    )
    .await?;

    let load = tokio::spawn(stack.load(4).mixed(0, jobs, Duration::from_millis(100)));
    let mut rng = seed.rng("redis-kills");
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(1000..3000))).await;
        let down = Duration::from_millis(rng.random_range(100..1500));
        stack.kill_and_restart_redis(down).await?;
    }
    let accepted = load.await??;
    let settled = wait_settled(&stack, &accepted, Duration::from_secs(240)).await?;
    let mut report = judge(&stack, "R2", &accepted, &settled).await?;
    report.fault("kill -9 of redis-server", kills);
    // Nobody restarted them: each must still be its first run.
    if !stack.api.is_running() || stack.api.starts() != 1 {
        report.violations.push(format!(
            "the api did not survive the Redis kills:\n{}",
            stack.api.log_tail(15)
        ));
    }
    for w in stack.workers.lock().iter_mut() {
        if !w.is_running() || w.starts() != 1 {
            report.violations.push(format!(
                "{} did not survive the Redis kills:\n{}",
                w.name(),
                w.log_tail(15)
            ));
        }
    }
    report.conclude(&mut stack)
}
