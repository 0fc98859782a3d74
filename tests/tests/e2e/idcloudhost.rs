//! IDCloudHost end to end: the real worker and api against the IDCloudHost simulator,
//! over real HTTP and a real Redis.

use provisioner_sandbox::idcloudhost::{IdcloudhostEvent, InvoiceStatus, actions};
use provisioner_sandbox::sim::{FaultKnobs, FaultsConfig, Hang, RateLimit};
use provisioner_tests::providers::{
    IdcloudhostLedger, add_idcloudhost, idcloudhost_ledger, start_idcloudhost,
};
use provisioner_tests::{
    TestApp, TestRedis, spawn_api, spawn_app, spawn_worker, test_config, wait_until,
};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);
const PASSWORD: &str = "S3cure!pass";

/// Redis, the simulator and the api with the account `idc` (`pay_invoices` as given).
async fn stack(pay_invoices: bool) -> anyhow::Result<TestApp> {
    spawn_app()
        .idcloudhost("idc", start_idcloudhost().await?, pay_invoices)
        .start()
        .await
}

fn provision(hostname: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "idc",
        "reference": format!("svc-{hostname}"),
        "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 2, "ram_mb": 2048, "disk_gb": 20},
        "hostname": hostname,
        "root_password": PASSWORD,
        "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
    })
}

fn ledger(vms: usize, payments: usize, reinstalls: usize, deletions: usize) -> IdcloudhostLedger {
    IdcloudhostLedger {
        vms,
        payments,
        reinstalls,
        deletions,
    }
}

fn step<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

fn detail(job: &Value, name: &str) -> String {
    step(job, name)["detail"].as_str().unwrap_or("").to_owned()
}

/// What the tests here do on the stack, besides the api's own helpers.
trait Steps {
    async fn post(&self, body: &Value) -> anyhow::Result<String>;
    async fn provisioned(&self, hostname: &str) -> anyhow::Result<Value>;
    async fn wait_for_requests(&self, action: &str, n: u64) -> anyhow::Result<()>;
}

impl Steps for TestApp {
    async fn post(&self, body: &Value) -> anyhow::Result<String> {
        Ok(self.api.post_job(body).await?.id().to_owned())
    }

    async fn provisioned(&self, hostname: &str) -> anyhow::Result<Value> {
        let id = self.post(&provision(hostname)).await?;
        self.api.wait_for_state(&id, "succeeded", LONG).await
    }

    async fn wait_for_requests(&self, action: &str, n: u64) -> anyhow::Result<()> {
        wait_until(&format!("{n} × {action}"), LONG, || async {
            Ok((self.idcloudhost().requests(action) >= n).then_some(()))
        })
        .await
    }
}

#[tokio::test]
async fn provision_pays_the_vms_invoice_and_records_the_simulators_ip() -> anyhow::Result<()> {
    let s = stack(true).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s.post(&provision("web-1.example.com")).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;

    let uuid = job["server"]["id"].as_str().expect("a server id");
    let vm = s
        .idcloudhost()
        .vm(uuid)
        .expect("the simulator knows the VM");
    assert_eq!(vm.name, "web-1-example-com", "the hostname as a VM name");
    assert_eq!(vm.description, id, "the job id is our reference");
    assert_eq!(vm.username, "root");
    assert_eq!(job["server"]["ipv4"].as_str(), vm.public_ipv4.as_deref());
    assert_eq!(
        job["server"]["ipv6"].as_str(),
        Some(vm.public_ipv6.as_str())
    );
    assert_eq!(
        job["server"]["invoice_id"].as_str(),
        Some(vm.invoice_id.to_string().as_str())
    );
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 1, 0, 0));
    assert_eq!(s.idcloudhost().invoices()[0].status, InvoiceStatus::Paid);
    assert!(
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|st| st["state"] == "done"),
        "{job}"
    );
    assert!(!job.to_string().contains(PASSWORD), "{job}");
    Ok(())
}

#[tokio::test]
async fn without_pay_invoices_the_invoice_is_left_to_the_customer() -> anyhow::Result<()> {
    let s = stack(false).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let job = s.provisioned("unpaid.example.com").await?;
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 0, 0, 0));
    assert_eq!(s.idcloudhost().requests(actions::PAY_INVOICE), 0);
    assert_eq!(s.idcloudhost().invoices()[0].status, InvoiceStatus::Unpaid);
    assert!(
        detail(&job, "pay").contains("pay_invoices = false"),
        "{job}"
    );
    assert!(job["server"]["ipv4"].is_string(), "{job}");
    Ok(())
}

#[tokio::test]
async fn reinstall_then_deprovision_an_existing_vm() -> anyhow::Result<()> {
    let s = stack(true).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let job = s.provisioned("again.example.com").await?;
    let uuid = job["server"]["id"].as_str().unwrap().to_owned();

    let reinstall = json!({
        "kind": "reinstall", "account": "idc", "server_id": uuid,
        "root_password": "N3w!Secret", "reinstall": {"os_name": "debian", "os_version": "9.1"}
    });
    let rid = s.post(&reinstall).await?;
    let rjob = s.api.wait_for_state(&rid, "succeeded", LONG).await?;
    assert!(
        detail(&rjob, "await_reinstall").contains("running"),
        "{rjob}"
    );
    let vm = s.idcloudhost().vm(&uuid).unwrap();
    assert_eq!(
        (vm.os_name.as_str(), vm.os_version.as_str()),
        ("debian", "9.1")
    );
    assert_eq!(vm.reinstalls, 1);
    assert_eq!(rjob["server"]["ipv4"].as_str(), vm.public_ipv4.as_deref());

    let gone = json!({"kind": "deprovision", "account": "idc", "server_id": uuid});
    let did = s.post(&gone).await?;
    s.api.wait_for_state(&did, "succeeded", LONG).await?;
    assert!(s.idcloudhost().vm(&uuid).is_none(), "the VM is deleted");
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 1, 1, 1));

    // Deleting what is already gone (a 404) is done, not a failure.
    let again = s.post(&gone).await?;
    let job = s.api.wait_for_state(&again, "succeeded", LONG).await?;
    assert!(detail(&job, "delete_vm").contains("already gone"), "{job}");
    assert_eq!(idcloudhost_ledger(s.idcloudhost()).deletions, 1);
    Ok(())
}

#[tokio::test]
async fn a_vm_in_another_location_is_found_there_later() -> anyhow::Result<()> {
    let s = stack(true).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut body = provision("away.example.com");
    body["order"]["location"] = json!("bus02");
    let id = s.post(&body).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    let server_id = job["server"]["id"].as_str().unwrap().to_owned();
    let uuid = server_id
        .strip_prefix("bus02/")
        .expect("the server id names the location");
    assert_eq!(s.idcloudhost().vm(uuid).unwrap().location, "bus02");

    let gone = json!({"kind": "deprovision", "account": "idc", "server_id": server_id});
    let did = s.post(&gone).await?;
    s.api.wait_for_state(&did, "succeeded", LONG).await?;
    assert!(s.idcloudhost().vm(uuid).is_none());
    Ok(())
}

#[tokio::test]
async fn a_refused_order_fails_with_the_providers_words() -> anyhow::Result<()> {
    let s = stack(true).await?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut body = provision("refused.example.com");
    body["order"]["os_version"] = json!("99.99");
    let id = s.post(&body).await?;
    let job = s.api.wait_for_state(&id, "failed", LONG).await?;
    assert_eq!(job["error"]["step"], "create_vm", "{job}");
    let said = job["error"]["provider_message"].as_str().unwrap_or("");
    assert!(said.starts_with("os_version: Must be one of"), "{job}");
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(0, 0, 0, 0));
    Ok(())
}

#[tokio::test]
async fn a_crash_between_the_create_call_and_saving_its_result_is_reconciled() -> anyhow::Result<()>
{
    let s = stack(true).await?;
    // The VM is created upstream, but worker A dies before it hears the answer.
    s.idcloudhost().faults().set_action(
        actions::CREATE_VM,
        FaultKnobs {
            hang: Some(Hang {
                ms: 60_000,
                calls: Some(1),
                rate: None,
            }),
            ..Default::default()
        },
    )?;
    let a = spawn_worker(s.config.clone()).await?;
    let id = s.post(&provision("crash.example.com")).await?;
    s.wait_for_requests(actions::CREATE_VM, 1).await?;
    a.abort();
    assert_eq!(idcloudhost_ledger(s.idcloudhost()).vms, 1);

    let _b = spawn_worker(s.config.clone()).await?;
    let job = s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 1, 0, 0));
    assert_eq!(
        s.idcloudhost().requests(actions::CREATE_VM),
        1,
        "the VM was never created again"
    );
    assert!(detail(&job, "create_vm").contains("adopted"), "{job}");
    assert_eq!(
        s.idcloudhost().vms()[0].uuid,
        job["server"]["id"].as_str().unwrap()
    );
    Ok(())
}

#[tokio::test]
async fn a_create_answered_with_a_500_after_it_was_applied_is_adopted() -> anyhow::Result<()> {
    let s = stack(true).await?;
    s.idcloudhost().faults().set_action(
        actions::CREATE_VM,
        FaultKnobs {
            apply_then_500: 1,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    s.provisioned("fivehundred.example.com").await?;
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 1, 0, 0));
    assert_eq!(s.idcloudhost().requests(actions::CREATE_VM), 1);
    Ok(())
}

#[tokio::test]
async fn a_payment_refused_with_a_500_every_time_fails_plainly_and_pays_nothing()
-> anyhow::Result<()> {
    let s = stack(true).await?;
    // Every pay_invoice answers an HTML 500 without paying: the invoice record shows
    // nothing applied, so each retry pays again after the settle window, and the job
    // fails when the attempts run out instead of paging an operator.
    s.idcloudhost().faults().set_action(
        actions::PAY_INVOICE,
        FaultKnobs {
            error_rate: 1.0,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s.post(&provision("refused.example.com")).await?;
    let job = s.api.wait_for_state(&id, "failed", LONG).await?;
    assert_eq!(job["error"]["step"], "pay", "{job}");
    let message = job["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("gave up after"), "{job}");
    assert!(
        message.contains("Internal Server Error"),
        "the provider's words: {job}"
    );
    assert_eq!(
        s.idcloudhost().requests(actions::PAY_INVOICE),
        u64::from(s.config.retry.max_attempts),
        "one call per attempt, each after proof that the last one paid nothing"
    );
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 0, 0, 0));

    s.idcloudhost().faults().clear();
    s.api
        .post(&format!("/v1/jobs/{id}/retry"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    s.api.wait_for_state(&id, "succeeded", LONG).await?;
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 1, 0, 0));
    Ok(())
}

/// The fault seed of the tests that draw random faults, printed so a failure can be
/// replayed.
const FAULT_SEED: u64 = 0x5eed_0004;

#[tokio::test]
async fn payments_and_orders_answered_500_before_anything_happened_are_made_once()
-> anyhow::Result<()> {
    let mut s = stack(true).await?;
    // ~15 % of all calls answered with an HTML 500 before anything is done, and the
    // first pay call of every job among them.
    println!("fault seed {FAULT_SEED:#x}");
    let mut knobs = std::collections::BTreeMap::new();
    knobs.insert(
        actions::PAY_INVOICE.to_owned(),
        FaultKnobs {
            fail_next: 12,
            ..Default::default()
        },
    );
    s.idcloudhost().faults().set(FaultsConfig {
        seed: Some(FAULT_SEED),
        global: FaultKnobs {
            error_rate: 0.15,
            ..Default::default()
        },
        actions: knobs,
    })?;
    s.config.retry.max_attempts = 30;
    // This is about faults, not about the account's own rate limit (10/s by default).
    for account in &mut s.config.accounts {
        account.rate_limit = provisioner_shared::config::RateLimit::parse("500/s");
    }
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut ids = vec![];
    for i in 0..12 {
        ids.push(
            s.post(&provision(&format!("hiccup{i}.example.com")))
                .await?,
        );
    }
    let mut jobs = vec![];
    for id in &ids {
        jobs.push(s.api.wait_for_end(id, Duration::from_secs(120)).await?);
    }
    let not_done: Vec<String> = jobs
        .iter()
        .filter(|j| j["state"] != "succeeded")
        .map(|j| {
            format!(
                "{} {} at {}: {}",
                j["id"], j["state"], j["error"]["step"], j["error"]["message"]
            )
        })
        .collect();
    assert!(
        not_done.is_empty(),
        "fault seed {FAULT_SEED:#x}: {not_done:#?}"
    );
    assert!(s.idcloudhost().requests(actions::PAY_INVOICE) > 12);
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(12, 12, 0, 0));
    let events = s.idcloudhost().ledger().events();
    for job in &jobs {
        let vm = s
            .idcloudhost()
            .vm(job["server"]["id"].as_str().unwrap_or(""))
            .expect("the job's VM exists");
        assert_eq!(
            job["server"]["invoice_id"].as_str(),
            Some(vm.invoice_id.to_string().as_str()),
            "job {} paid its own VM's invoice",
            job["id"]
        );
        let paid = events
            .iter()
            .filter(|e| {
                matches!(e, IdcloudhostEvent::Payment { invoice_id, .. } if *invoice_id == vm.invoice_id)
            })
            .count();
        assert_eq!(paid, 1, "invoice {} paid {paid} times", vm.invoice_id);
    }
    Ok(())
}

#[tokio::test]
async fn a_payment_applied_but_answered_with_a_500_is_found_paid() -> anyhow::Result<()> {
    let s = stack(true).await?;
    s.idcloudhost().faults().set_action(
        actions::PAY_INVOICE,
        FaultKnobs {
            apply_then_500: 1,
            ..Default::default()
        },
    )?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let job = s.provisioned("paid-anyway.example.com").await?;
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 1, 0, 0));
    assert_eq!(s.idcloudhost().requests(actions::PAY_INVOICE), 1);
    assert!(detail(&job, "pay").contains("reconciliation"), "{job}");
    Ok(())
}

#[tokio::test]
async fn two_vms_with_one_hostname_each_pay_only_their_own_invoice() -> anyhow::Result<()> {
    provisioner_tests::init_tracing();
    let redis = TestRedis::start().await?;
    let idc = start_idcloudhost().await?;
    let mut config = test_config(&redis);
    // One IDCloudHost account, two of ours: one leaves invoices to the customer.
    add_idcloudhost(&mut config, "idc", &idc, true);
    add_idcloudhost(&mut config, "idc-manual", &idc, false);
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config.clone()).await?;

    let mut first = provision("twin.example.com");
    first["account"] = json!("idc-manual");
    let a = api.post_job(&first).await?.id().to_owned();
    let a_job = api.wait_for_state(&a, "succeeded", LONG).await?;
    let a_vm = idc.vm(a_job["server"]["id"].as_str().unwrap()).unwrap();

    // The second VM's invoice is paid by the customer while the worker lists invoices:
    // the only unpaid invoice it then sees under that hostname is the first VM's.
    idc.faults().set_action(
        actions::INVOICES,
        FaultKnobs {
            slow_ms: 400,
            ..Default::default()
        },
    )?;
    let b = api
        .post_job(&provision("twin.example.com"))
        .await?
        .id()
        .to_owned();
    wait_until("the pay step to list invoices", LONG, || async {
        Ok((idc.requests(actions::INVOICES) >= 1).then_some(()))
    })
    .await?;
    let b_vm = idc
        .vms()
        .into_iter()
        .find(|vm| vm.description == b)
        .expect("the second job's VM");
    assert_eq!(a_vm.name, b_vm.name, "one hostname, one VM name");
    let paid = reqwest::Client::new()
        .post(format!(
            "{}/v1/payment/pay_invoice",
            idc.base_url().trim_end_matches('/')
        ))
        .header("apikey", idc.api_key())
        .form(&[("invoice_id", b_vm.invoice_id.to_string())])
        .send()
        .await?;
    assert!(
        paid.status().is_success(),
        "paid by hand: {}",
        paid.text().await?
    );

    let b_job = api.wait_for_state(&b, "succeeded", LONG).await?;
    assert_eq!(
        b_job["server"]["invoice_id"].as_str(),
        Some(b_vm.invoice_id.to_string().as_str()),
        "the second job's invoice is its own VM's: {b_job}"
    );
    let invoices = idc.invoices();
    let status_of = |id: u64| invoices.iter().find(|i| i.id == id).map(|i| i.status);
    assert_eq!(
        status_of(a_vm.invoice_id),
        Some(InvoiceStatus::Unpaid),
        "the first VM's invoice is left to its customer"
    );
    assert_eq!(status_of(b_vm.invoice_id), Some(InvoiceStatus::Paid));
    assert_eq!(
        idcloudhost_ledger(&idc),
        ledger(2, 1, 0, 0),
        "one payment: by hand"
    );
    Ok(())
}

#[tokio::test]
async fn cancel_while_the_vm_boots_deletes_it() -> anyhow::Result<()> {
    let s = stack(true).await?;
    // Slow the boot down so that the cancel lands while the job waits for it.
    s.idcloudhost().clock().set_factor(1.0);
    let _worker = spawn_worker(s.config.clone()).await?;
    let id = s.post(&provision("cancel.example.com")).await?;
    wait_until("the job to await the VM", LONG, || async {
        let job = s.api.get_job(&id).await?.body;
        Ok((job["step"] == "await_running").then_some(()))
    })
    .await?;
    s.api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(reqwest::StatusCode::ACCEPTED)?;
    let job = s.api.wait_for_state(&id, "cancelled", LONG).await?;
    assert_eq!(step(&job, "compensate_cancel")["state"], "done", "{job}");
    assert!(
        s.idcloudhost().vms().is_empty(),
        "our VM is deleted upstream"
    );
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(1, 1, 0, 1));
    Ok(())
}

#[tokio::test]
async fn a_rate_limited_account_slows_down_but_every_job_ends() -> anyhow::Result<()> {
    let s = stack(true).await?;
    s.idcloudhost().faults().set_global(FaultKnobs {
        rate_limit: Some(RateLimit {
            next: 0,
            max_per_sec: Some(20.0),
            retry_after_secs: 1,
            rate: 0.0,
        }),
        ..Default::default()
    })?;
    let _worker = spawn_worker(s.config.clone()).await?;
    let mut ids = vec![];
    for i in 0..6 {
        ids.push(s.post(&provision(&format!("storm{i}.example.com"))).await?);
    }
    for id in &ids {
        s.api
            .wait_for_state(id, "succeeded", Duration::from_secs(120))
            .await?;
    }
    assert_eq!(idcloudhost_ledger(s.idcloudhost()), ledger(6, 6, 0, 0));
    Ok(())
}
