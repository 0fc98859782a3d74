//! R4: every provider misbehaves at once. On all four simulators: 20 % of requests
//! answered 500, 5 % applied and then held past the client's timeout, 5 % applied and
//! answered HTTP 200 with a truncated body, 10 % refused 429 with `Retry-After: 1`,
//! 2.5 % closed without an answer before they are applied and 2.5 % after. Must
//! hold: every job terminal before its deadlines, no duplicate, no `needs_attention`
//! where the provider's state proves the outcome (only Inferno, whose orders carry no
//! reference, may be ambiguous), and no call sent while a `Retry-After` runs (beyond
//! what was already on the wire when the 429 went out).

use provisioner_sandbox::hostkey::HostkeyEvent;
use provisioner_sandbox::idcloudhost::IdcloudhostEvent;
use provisioner_sandbox::inferno::InfernoEvent;
use provisioner_sandbox::klikk::KlikkEvent;
use provisioner_sandbox::sim::{FaultKnobs, FaultsConfig, Hang, RateLimit};
use provisioner_tests::chaos::Accepted;
use provisioner_tests::chaos::load::Provider;
use provisioner_tests::chaos::verdict::{judge, shorten, wait_settled};
use provisioner_tests::chaos::{self, ChaosSeed, ChaosStack, StackOptions};
use std::collections::BTreeMap;
use std::time::Duration;

/// A request that arrives this soon after a 429 was on its way before the client
/// could know (the gate of another worker let it through just before).
const IN_FLIGHT_GRACE_MS: u64 = 100;

fn knobs() -> FaultKnobs {
    FaultKnobs {
        error_rate: 0.20,
        hang: Some(Hang {
            // longer than the client's timeout (0.8 × the 2 s step timeout)
            ms: 2500,
            calls: None,
            rate: Some(0.05),
        }),
        malformed_rate: 0.05,
        rate_limit: Some(RateLimit {
            rate: 0.10,
            retry_after_secs: 1,
            ..RateLimit::default()
        }),
        reset_rate: 0.025,
        apply_then_reset_rate: 0.025,
        ..FaultKnobs::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r4_provider_faults_everywhere_end_every_job_without_a_duplicate() -> anyhow::Result<()> {
    if !chaos::enabled() {
        return Ok(());
    }
    let _serial = chaos::one_at_a_time().await;
    let seed = ChaosSeed::from_env("r4_provider_faults")?;
    let jobs = if chaos::soak() { 400 } else { 80 };
    let mut stack = ChaosStack::start(
        "r4",
        seed,
        StackOptions {
            workers: 3,
            jobs,
            max_attempts: 12,
            // Every 429 pauses the whole account for its Retry-After: at 10 % of the
            // calls of a busy account that is minutes of pauses in all, so the
            // deadlines (which this scenario must never see fire) get room for them.
            deadline: Duration::from_secs(360),
            ..StackOptions::default()
        },
    )
    .await?;
    let sims = &stack.sims;
    let faults = [
        ("hostkey", sims.hostkey.faults()),
        ("klikk", sims.klikk.faults()),
        ("inferno", sims.inferno.faults()),
        ("idcloudhost", sims.idc.faults()),
    ];
    for (name, f) in &faults {
        f.set(FaultsConfig {
            seed: Some(seed.derive(&format!("faults-{name}"))),
            global: knobs(),
            ..FaultsConfig::default()
        })?;
    }

    let accepted = stack
        .load(4)
        .mixed(0, jobs, Duration::from_millis(50))
        .await?;
    let settled = wait_settled(&stack, &accepted, Duration::from_secs(400)).await?;
    let mut report = judge(&stack, "R4", &accepted, &settled).await?;

    let sims = &stack.sims;
    let faults = [
        ("hostkey", sims.hostkey.faults()),
        ("klikk", sims.klikk.faults()),
        ("inferno", sims.inferno.faults()),
        ("idcloudhost", sims.idc.faults()),
    ];
    let requests: u64 = [
        sims.hostkey.all_calls(),
        sims.klikk.all_calls(),
        sims.inferno.all_calls(),
        sims.idc.all_calls(),
    ]
    .iter()
    .flatten()
    .map(|c| c.calls)
    .sum();
    report.fault(
        "provider calls applied (of which ~12% garbled, held or cut)",
        requests,
    );
    for (name, f) in &faults {
        report.fault(&format!("429s from {name}"), f.too_many_sent());
        let early = f.early_calls();
        let (in_flight, eager): (Vec<_>, Vec<_>) = early
            .iter()
            .partition(|c| c.after_429_ms <= IN_FLIGHT_GRACE_MS);
        if !in_flight.is_empty() {
            let within = |ms: u64| in_flight.iter().filter(|c| c.after_429_ms <= ms).count();
            report.notes.push(format!(
                "{name}: {} calls arrived within {IN_FLIGHT_GRACE_MS} ms of a 429, taken as already on their way ({} within 10 ms, {} within 50 ms)",
                in_flight.len(),
                within(10),
                within(50)
            ));
        }
        for c in eager.iter().take(10) {
            report.violations.push(format!(
                "{name}: {} sent {} ms after a 429 whose Retry-After was {} ms",
                c.action, c.after_429_ms, c.retry_after_ms
            ));
        }
        if eager.len() > 10 {
            report.violations.push(format!(
                "{name}: … {} more calls inside a Retry-After",
                eager.len() - 10
            ));
        }
    }

    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for a in &accepted {
        let Some(job) = settled.jobs.get(&a.id) else {
            continue;
        };
        let message = job["error"]["message"].as_str().unwrap_or("").to_owned();
        let step = job["error"]["step"].as_str().unwrap_or("-").to_owned();
        match job["state"].as_str() {
            Some("failed") if message.contains("deadline ran out") => report.violations.push(format!(
                "job {} ({}) missed its deadline at {step}: {message}",
                a.id,
                a.provider.name()
            )),
            Some("failed") => {
                *failures
                    .entry(format!("{} at {step}: {}", a.provider.name(), cut(&message)))
                    .or_default() += 1
            }
            Some("needs_attention") if a.provider == Provider::Inferno && step == "order" => {
                report.notes.push(format!(
                    "inferno job {} needs attention at its order (no reference to match): {}",
                    a.id,
                    cut(&message)
                ))
            }
            Some("needs_attention") => report.violations.push(format!(
                "job {} ({}) needs attention at {step} although the provider's state proves the outcome ({}): {}",
                a.id,
                a.provider.name(),
                evidence(&stack, a, job, &step),
                cut(&message)
            )),
            _ => {}
        }
    }
    for (why, n) in failures {
        report.notes.push(format!("{n} failed: {why}"));
    }
    report.conclude(&mut stack)
}

/// What the simulator's ledger says about the step a job needs attention at.
fn evidence(stack: &ChaosStack, a: &Accepted, job: &serde_json::Value, step: &str) -> String {
    let server = job["server"]["id"].as_str().unwrap_or("");
    let invoice = job["server"]["invoice_id"].as_str().unwrap_or("");
    let sims = &stack.sims;
    match (a.provider, step) {
        (Provider::Hostkey, "order") => format!(
            "the ledger has {} order(s) for {}",
            sims.hostkey.ledger().count(|e| matches!(e, HostkeyEvent::Order { hostname, reinstall: false, .. } if *hostname == a.hostname)),
            a.hostname
        ),
        (Provider::Hostkey, "pay") => format!(
            "the ledger has {} payment(s) of invoice {invoice}",
            sims.hostkey.ledger().count(|e| matches!(e, HostkeyEvent::Payment { invoice_id, .. } if invoice_id.to_string() == invoice))
        ),
        (Provider::Hostkey, "reboot") => format!(
            "the ledger has {} reboot(s) and {} install start(s) of server {server}",
            sims.hostkey.ledger().count(|e| matches!(e, HostkeyEvent::Reboot { server_id } if server_id.to_string() == server)),
            sims.hostkey.ledger().count(|e| matches!(e, HostkeyEvent::InstallStarted { server_id } if server_id.to_string() == server))
        ),
        (Provider::Klikk, "order") => format!(
            "the ledger has {} order(s) with reference {}",
            sims.klikk.ledger().count(|e| matches!(e, KlikkEvent::Order { reference: Some(r), .. } if *r == a.id)),
            a.id
        ),
        (Provider::Idcloudhost, "create_vm") => format!(
            "the ledger has {} VM(s) with description {}",
            sims.idc.ledger().count(|e| matches!(e, IdcloudhostEvent::VmCreated { description, .. } if *description == a.id)),
            a.id
        ),
        (Provider::Idcloudhost, "pay") => format!(
            "the ledger has {} payment(s) of invoice {invoice}",
            sims.idc.ledger().count(|e| matches!(e, IdcloudhostEvent::Payment { invoice_id, .. } if invoice_id.to_string() == invoice))
        ),
        (Provider::Inferno, "install") => format!(
            "the ledger has {} install(s) of order {server}",
            sims.inferno.ledger().count(|e| matches!(e, InfernoEvent::Install { order_id, .. } if order_id.to_string() == server))
        ),
        _ => "no ledger evidence looked up".to_owned(),
    }
}

fn cut(s: &str) -> String {
    shorten(s, 160)
}
