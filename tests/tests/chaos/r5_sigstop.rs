//! R5: a worker frozen past its lease. Worker A (`concurrency = 1`, no prefetch, and
//! a failpoint that sleeps after each money call: `engine.after_call=sleep(1500)`)
//! takes a HOSTKEY PXE provision, sends its order and is SIGSTOPped before it can
//! save the result. Worker B starts, the lease runs out, B takes the job over and
//! finishes it (reconciling the order by hostname) along with more jobs; then A gets
//! SIGCONT. Must hold: A's late commit changes nothing (the job stays as B ended it),
//! A's log says at WARN or above that its late work on that job was refused or
//! abandoned (`lease lost`, or any warning naming the job), nothing reaches the
//! provider twice (call counters), and every job ends correctly.

use provisioner_tests::chaos::load::Provider;
use provisioner_tests::chaos::verdict::{hostkey_calls_twice, judge, wait_settled};
use provisioner_tests::chaos::{self, ChaosSeed, ChaosStack, StackOptions};
use provisioner_tests::wait_until;
use std::time::{Duration, Instant};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r5_a_frozen_worker_commits_nothing_late() -> anyhow::Result<()> {
    if !chaos::enabled() {
        return Ok(());
    }
    let _serial = chaos::one_at_a_time().await;
    let seed = ChaosSeed::from_env("r5_sigstop")?;
    let jobs = if chaos::soak() { 80 } else { 16 };
    let mut stack = ChaosStack::start(
        "r5",
        seed,
        StackOptions {
            workers: 0,
            jobs,
            ..StackOptions::default()
        },
    )
    .await?;
    let lease = stack.options.lease;
    let a = stack.add_worker(env(&[
        ("PROVISIONER__WORKER__CONCURRENCY", "1"),
        ("PROVISIONER__WORKER__PREFETCH", "0"),
        ("PROVISIONER_FAILPOINTS", "engine.after_call=sleep(1500)"),
    ]))?;
    stack
        .workers
        .wait_for_log(a, "worker started", Duration::from_secs(30))
        .await?;
    let load = stack.load(0);
    let frozen_job = load.provision(0, Provider::Hostkey).await?;
    // The order reached the provider: A now sleeps before saving its result.
    wait_until("A to send the order", Duration::from_secs(30), || async {
        Ok((stack.sims.hostkey.calls(
            "eq/order_instance",
            &format!("hostname={}", frozen_job.hostname),
        ) > 0)
            .then_some(()))
    })
    .await?;
    stack.workers.freeze(a)?;
    let frozen_at = Instant::now();

    let b = stack.add_worker(Vec::new())?;
    let more = tokio::spawn(load.clone().mixed(1, jobs, Duration::from_millis(50)));
    let settled_state = wait_until(
        "B to take the frozen job over and finish it",
        Duration::from_secs(120),
        || async {
            let job = stack.client.get_job(&frozen_job.id).await?;
            Ok(job.and_then(|j| {
                let state = j["state"].as_str()?.to_owned();
                chaos::verdict::SETTLED
                    .contains(&state.as_str())
                    .then_some(state)
            }))
        },
    )
    .await?;
    let frozen_for = frozen_at.elapsed();
    let before_thaw = stack.workers.log_text(a).len();
    stack.workers.thaw(a)?;
    let refused = wait_until(
        "A to log that its late work was refused or abandoned",
        Duration::from_secs(20),
        || async {
            let log = stack.workers.log_text(a);
            let after = log.get(before_thaw..).unwrap_or_default();
            Ok(after
                .lines()
                .find(|l| {
                    l.contains("lease lost")
                        || (l.contains(&frozen_job.id)
                            && (l.contains(" WARN ") || l.contains(" ERROR ")))
                })
                .map(str::to_owned))
        },
    )
    .await;

    let mut accepted = vec![frozen_job.clone()];
    accepted.extend(more.await??);
    let settled = wait_settled(&stack, &accepted, Duration::from_secs(180)).await?;
    let mut report = judge(&stack, "R5", &accepted, &settled).await?;
    report.fault("SIGSTOP past the lease", 1);
    report.notes.push(format!(
        "worker A frozen for {:.1}s (lease {lease:?}); the job it held ended {settled_state} on worker B (worker-{b})",
        frozen_for.as_secs_f64()
    ));
    match refused {
        Ok(line) => report.notes.push(format!("worker A after SIGCONT: {line}")),
        Err(e) => {
            let log = stack.workers.log_text(a);
            let after: Vec<&str> = log
                .get(before_thaw..)
                .unwrap_or_default()
                .lines()
                .take(6)
                .collect();
            report.violations.push(format!(
                "worker A's late work on job {} left no warning in its log ({e:#}); its log after SIGCONT:\n    {}",
                frozen_job.id,
                after.join("\n    ")
            ));
        }
    }
    if settled.state(&frozen_job.id) != settled_state {
        report.violations.push(format!(
            "job {} was {settled_state} when A resumed, and is {} now: A's late commit was applied",
            frozen_job.id,
            settled.state(&frozen_job.id)
        ));
    }
    if frozen_for < lease {
        report.violations.push(format!(
            "the scenario did not hold A past its lease ({frozen_for:?} < {lease:?})"
        ));
    }
    if settled_state != "succeeded" {
        report.violations.push(format!(
            "the frozen job {} ended {settled_state}, not succeeded",
            frozen_job.id
        ));
    }
    report.violations.extend(
        hostkey_calls_twice(&stack, &accepted, &settled)
            .into_iter()
            .map(|t| format!("applied twice: {t}")),
    );
    report.conclude(&mut stack)
}
