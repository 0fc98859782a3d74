//! R3: prefetched jobs whose lease runs out in the buffer. Worker A runs with
//! `concurrency = 2`, `prefetch = 2`; its slots are held by slow noop jobs (two
//! steps of nearly the step timeout each), while it claims HOSTKEY reinstall jobs
//! into its buffer. Those wait there for most of their lease, then run a chain of
//! slow PXE steps (`slow_ms` on `eq/reinstall`, `eq/create_pxe`, `eq/boot_dev`).
//! Worker B runs beside it and claims whatever lease runs out. Must hold: no step
//! reaches the provider twice (the simulator's per-(action, server) call counters),
//! and the usual ledger checks.
//!
//! Expected to fail while a lease's clock starts when its job starts running rather
//! than when it was claimed (`Lease::new`): A then thinks a buffered job has its
//! whole lease left, holds instead of renewing, and B takes the job over mid-step.

use provisioner_sandbox::sim::FaultKnobs;
use provisioner_tests::chaos::load::{self, Provider};
use provisioner_tests::chaos::verdict::{hostkey_calls_twice, judge, wait_settled};
use provisioner_tests::chaos::{self, Accepted, ChaosSeed, ChaosStack, StackOptions};
use provisioner_tests::wait_until;
use std::time::Duration;

/// A lease of 10 s over steps of at most 4 s.
const LEASE: Duration = Duration::from_secs(10);
const STEP: Duration = Duration::from_secs(4);
/// A noop step of nearly the step timeout: two of them hold a slot for ~7.8 s.
const FILLER_STEP_MS: u64 = 3900;
/// Each slowed HOSTKEY call takes this long at the simulator.
const SLOW_MS: u64 = 1900;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn wait_state(
    stack: &ChaosStack,
    id: &str,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> anyhow::Result<()> {
    wait_until(what, Duration::from_secs(60), || async {
        Ok(stack
            .client
            .get_job(id)
            .await?
            .filter(|j| done(j))
            .map(|_| ()))
    })
    .await
}

fn first_step_done(job: &serde_json::Value) -> bool {
    job["steps"][0]["state"] == "done"
}

/// Waits until a worker holds job `id`: a claimed job is due only when its lease
/// runs out, more than a step from now.
async fn wait_claimed(stack: &ChaosStack, id: &str, what: &str) -> anyhow::Result<()> {
    wait_until(what, Duration::from_secs(60), || async {
        Ok(stack
            .due_in_ms(id)
            .await?
            .filter(|ms| *ms > STEP.as_millis() as i64)
            .map(|_| ()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_a_prefetched_job_past_its_lease_runs_no_step_twice() -> anyhow::Result<()> {
    if !chaos::enabled() {
        return Ok(());
    }
    let _serial = chaos::one_at_a_time().await;
    let seed = ChaosSeed::from_env("r3_prefetch")?;
    let rounds = if chaos::soak() { 4 } else { 1 };
    let mut stack = ChaosStack::start(
        "r3",
        seed,
        StackOptions {
            workers: 0,
            jobs: 64,
            lease: LEASE,
            step_timeout: STEP,
            // one due-set: jobs are claimed in the order they fell due
            shards: 1,
            ..StackOptions::default()
        },
    )
    .await?;
    let a = stack.add_worker(env(&[
        ("PROVISIONER__WORKER__CONCURRENCY", "2"),
        ("PROVISIONER__WORKER__PREFETCH", "2"),
    ]))?;
    stack
        .workers
        .wait_for_log(a, "worker started", Duration::from_secs(30))
        .await?;
    let load = stack.load(0);
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut n = 0;

    // Servers to reinstall: plain provisions, run by A alone.
    let mut servers = Vec::new();
    for _ in 0..2 * rounds {
        let mut body = load::provision(Provider::Hostkey, n, &stack.tag, &stack.canaries, None);
        let obj = body.as_object_mut().expect("an object");
        obj.remove("reinstall");
        obj.remove("post_install_script");
        servers.push(load.custom(n, Provider::Hostkey, body).await?);
        n += 1;
    }
    let mut ready = Vec::new();
    for s in &servers {
        wait_state(&stack, &s.id, "a server to reinstall", |j| {
            j["state"] == "succeeded"
        })
        .await?;
        let job = stack.client.get_job(&s.id).await?.expect("it exists");
        ready.push((
            job["server"]["id"].as_str().unwrap_or_default().to_owned(),
            s.hostname.clone(),
        ));
    }
    accepted.extend(servers);

    let slow = FaultKnobs {
        slow_ms: SLOW_MS,
        ..FaultKnobs::default()
    };
    for action in ["eq/reinstall", "eq/create_pxe", "eq/boot_dev"] {
        stack
            .sims
            .hostkey
            .faults()
            .set_action(action, slow.clone())?;
    }

    let mut b = None;
    let mut buffered = Vec::new();
    for round in 0..rounds {
        // F1 holds slot 1 for two steps; F2 starts halfway through and holds slot 2.
        let noop = |n| load.custom(n, Provider::Noop, load::noop(2, FILLER_STEP_MS));
        let f1 = noop(n).await?;
        n += 1;
        wait_claimed(&stack, &f1.id, "A to start filler 1").await?;
        wait_state(&stack, &f1.id, "filler 1's first step", first_step_done).await?;
        let f2 = noop(n).await?;
        n += 1;
        wait_claimed(&stack, &f2.id, "A to start filler 2").await?;
        // F3 and the two reinstalls fall due while both slots are busy; when F1 ends,
        // A claims all three: F3 takes the free slot, R1 and R2 wait in the buffer
        // (R1 until F2 ends, R2 until F3 ends: most of their lease).
        let f3 = noop(n).await?;
        n += 1;
        let mut reinstalls = Vec::new();
        for (server, hostname) in &ready[2 * round..2 * round + 2] {
            // Due times have millisecond resolution: apart, they are claimed in order.
            tokio::time::sleep(Duration::from_millis(5)).await;
            reinstalls.push(load.hostkey_reinstall(n, server, hostname).await?);
            n += 1;
        }
        for r in &reinstalls {
            wait_claimed(&stack, &r.id, "A to claim the reinstalls into its buffer").await?;
        }
        if b.is_none() {
            let i = stack.add_worker(Vec::new())?;
            stack
                .workers
                .wait_for_log(i, "worker started", Duration::from_secs(30))
                .await?;
            b = Some(i);
        }
        buffered.extend(reinstalls.iter().map(|r| r.id.clone()));
        accepted.extend([f1, f2, f3]);
        accepted.extend(reinstalls);
    }

    let settled = wait_settled(&stack, &accepted, Duration::from_secs(180)).await?;
    let mut report = judge(&stack, "R3", &accepted, &settled).await?;
    report.fault(
        "prefetched reinstalls waiting out most of their lease",
        buffered.len() as u64,
    );
    report.violations.extend(
        hostkey_calls_twice(&stack, &accepted, &settled)
            .into_iter()
            .map(|t| format!("step run twice: {t}")),
    );
    let lost_leases = stack.workers.log_text(a).matches("lease lost").count();
    report.notes.push(format!(
        "worker A logged `lease lost` {lost_leases} times (a lease ran out under a running step)"
    ));
    report.conclude(&mut stack)
}
