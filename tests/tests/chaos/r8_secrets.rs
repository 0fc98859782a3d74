//! R8: canary secrets. Every secret of the run is a distinctive string (the API
//! token, the billing webhook and callback secrets, `secrets.key`, the accounts' API
//! keys, PIN and token, each job's root password and post-install script). A mixed
//! run at TRACE level (`RUST_LOG=trace` on the api and the workers) with provider
//! faults, a worker kill, billing webhooks and job callbacks on every job; then every
//! log file, every api answer the test read, `/metrics`, every callback received and
//! every Redis key and value are searched for each canary, in plain text and in
//! base64. Must hold: not one occurrence (sealed values are ciphertext). The same
//! scan runs at the end of every scenario; this one makes the logs as talkative as
//! they get, and first proves the scan finds canaries where they are (the config).

use provisioner_sandbox::sim::{FaultKnobs, FaultsConfig, Hang};
use provisioner_tests::chaos::verdict::{judge, wait_settled};
use provisioner_tests::chaos::{self, ChaosSeed, ChaosStack, LeakScan, StackOptions};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r8_no_canary_secret_leaks_at_trace_level() -> anyhow::Result<()> {
    if !chaos::enabled() {
        return Ok(());
    }
    let _serial = chaos::one_at_a_time().await;
    let seed = ChaosSeed::from_env("r8_secrets")?;
    let jobs = if chaos::soak() { 200 } else { 40 };
    let mut stack = ChaosStack::start(
        "r8",
        seed,
        StackOptions {
            workers: 2,
            jobs,
            rust_log: "trace".into(),
            ..StackOptions::default()
        },
    )
    .await?;

    // The scan must be able to fail: the config file holds every fixed canary.
    let control = LeakScan::new(&stack.canaries, 0);
    control.check_file(&stack.config_path);
    let found: std::collections::BTreeSet<String> =
        control.leaks().into_iter().map(|l| l.secret).collect();
    let expected = stack.canaries.fixed().len();
    anyhow::ensure!(
        found.len() == expected,
        "the scan finds only {} of the {expected} canaries in the config file that holds them all: {found:?}",
        found.len()
    );

    // Error paths log the most: some of every kind of fault, on every provider.
    let knobs = FaultKnobs {
        error_rate: 0.05,
        malformed_rate: 0.05,
        apply_then_reset_rate: 0.02,
        hang: Some(Hang {
            ms: 2500,
            calls: None,
            rate: Some(0.02),
        }),
        ..FaultKnobs::default()
    };
    let sims = &stack.sims;
    for (name, f) in [
        ("hostkey", sims.hostkey.faults()),
        ("klikk", sims.klikk.faults()),
        ("inferno", sims.inferno.faults()),
        ("idcloudhost", sims.idc.faults()),
    ] {
        f.set(FaultsConfig {
            seed: Some(seed.derive(&format!("faults-{name}"))),
            global: knobs.clone(),
            ..FaultsConfig::default()
        })?;
    }

    let load = tokio::spawn(stack.load(1).mixed(0, jobs, Duration::from_millis(100)));
    // Signed billing webhooks: one the api acts on (nothing to poke), one forged.
    let secret = stack.canaries.webhook_secret();
    let paid = json!({"type": "invoice.paid", "data": {"service_id": "chaos-r8-1"}});
    let (status, body) = stack
        .client
        .billing_webhook(&secret, "msg_chaos_r8_1", &paid)
        .await?;
    anyhow::ensure!(
        status == 202,
        "the signed webhook was refused: {status} {body}"
    );
    let forged = "whsec_Zm9yZ2VkLWtleS1mb3ItY2hhb3MtcjgtMDEyMzQ1Njc4OQ==";
    let (status, _) = stack
        .client
        .billing_webhook(forged, "msg_chaos_r8_2", &paid)
        .await?;
    anyhow::ensure!(status == 401, "a forged webhook got {status}");
    // Kill a worker while jobs are under way (a restart logs its config's reading).
    provisioner_tests::wait_until("a few HOSTKEY orders", Duration::from_secs(60), || async {
        Ok((stack.sims.hostkey.requests("eq/order_instance") >= 3).then_some(()))
    })
    .await?;
    stack.workers.kill_and_restart(0)?;

    let accepted = load.await??;
    let settled = wait_settled(&stack, &accepted, Duration::from_secs(180)).await?;
    // Callbacks are delivered after the jobs end: wait for one per job.
    provisioner_tests::wait_until(
        "a callback for every job",
        Duration::from_secs(60),
        || async { Ok((stack.receiver.received().len() >= accepted.len()).then_some(())) },
    )
    .await?;
    let mut report = judge(&stack, "R8", &accepted, &settled).await?;
    report.fault("worker kill -9", 1);
    report.fault("billing webhooks (one forged)", 2);
    let logs: u64 = stack
        .log_files()
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    report.notes.push(format!(
        "{} canaries ({} fixed, a root password and a script per job), {} MB of TRACE logs",
        stack.canaries.fixed().len() + 2 * jobs,
        stack.canaries.fixed().len(),
        logs / 1_000_000
    ));
    report.conclude(&mut stack)
}
