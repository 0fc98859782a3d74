//! R1: workers die under load. 200 jobs over the four providers (HOSTKEY with a PXE
//! reinstall), three workers of which two carry failpoints that abort them right
//! around the money calls (`engine.intent_committed`, `engine.after_call`,
//! `engine.after_step`), and 50 random `kill -9` of any worker, each restarted at
//! once. Must hold: every job terminal or needs_attention, none lost, no duplicate
//! order or payment, every order tracked.

use provisioner_tests::chaos::verdict::{judge, wait_settled};
use provisioner_tests::chaos::{self, ChaosSeed, ChaosStack, StackOptions};
use rand::Rng;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r1_worker_kills_leave_no_duplicate_and_no_lost_job() -> anyhow::Result<()> {
    if !chaos::enabled() {
        return Ok(());
    }
    let _serial = chaos::one_at_a_time().await;
    let seed = ChaosSeed::from_env("r1_worker_kills")?;
    let (jobs, kills) = if chaos::soak() {
        (1000, 250)
    } else {
        (200, 50)
    };
    let failpoints = "PROVISIONER_FAILPOINTS";
    let mut stack = ChaosStack::start(
        "r1",
        seed,
        StackOptions {
            workers: 3,
            jobs,
            worker_env: vec![
                Vec::new(),
                env(&[(
                    failpoints,
                    "engine.intent_committed=abort@0.02;engine.after_call=abort@0.03",
                )]),
                env(&[(
                    failpoints,
                    "engine.after_call=abort@0.02;engine.after_step=abort@0.005",
                )]),
            ],
            ..StackOptions::default()
        },
    )
    .await?;

    let load = tokio::spawn(stack.load(4).mixed(0, jobs, Duration::from_millis(100)));
    let mut rng = seed.rng("kills");
    let workers = stack.workers.len();
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1400))).await;
        stack
            .workers
            .kill_and_restart(rng.random_range(0..workers))?;
        stack.workers.revive_exited()?;
    }
    let accepted = load.await??;
    let settled = wait_settled(&stack, &accepted, Duration::from_secs(240)).await?;
    let mut report = judge(&stack, "R1", &accepted, &settled).await?;
    report.fault("kill -9 of a worker", kills);
    report.fault("failpoint aborts", stack.failpoint_aborts());
    report.conclude(&mut stack)
}
