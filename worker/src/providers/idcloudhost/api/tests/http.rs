//! The client against a scripted fake on a random local port: the routes and slugs it
//! uses, the `apikey` header, form bodies, and how HTTP failures become `CallError`s.

use super::super::*;
use super::{GAPS_DELETE, GAPS_PAY_INVOICE, GAPS_VM_STARTING, SEED_VM_NOT_FOUND};
use crate::providers::fake_http::{FakeHttp, Reply, closed_port, reply};

fn api(fake: &FakeHttp) -> IdcloudhostApi {
    IdcloudhostApi::new(
        reqwest::Client::new(),
        fake.url(""),
        "meowmeowmeow".into(),
        Duration::from_secs(5),
    )
}

fn create<'a>(password: &'a SecretString) -> CreateVm<'a> {
    CreateVm {
        name: "web-1-example-com",
        description: "01JOB",
        os_name: "ubuntu",
        os_version: "22.04-lts",
        disks_gb: 20,
        vcpu: 2,
        ram_mb: 2048,
        username: "root",
        password,
        public_key: None,
        billing_account_id: Some(6),
        designated_pool_uuid: None,
        network_uuid: None,
        cloud_init: Some(r#"{"runcmd": ["/firstboot"]}"#),
        reserve_public_ip: Some(true),
    }
}

#[tokio::test]
async fn vm_routes_carry_the_slug_and_payment_routes_do_not() {
    let fake = FakeHttp::start(vec![
        reply(200, GAPS_VM_STARTING),
        reply(200, GAPS_VM_STARTING),
        reply(200, "[]"),
        reply(200, GAPS_PAY_INVOICE),
        reply(200, GAPS_DELETE),
    ])
    .await;
    let api = api(&fake);
    let password = SecretString::from("S3cure-pass");
    let vm = api
        .create_vm(Some("bus02"), &create(&password))
        .await
        .unwrap();
    assert_eq!(vm.status, VmStatus::Starting);
    api.vm(None, &vm.uuid).await.unwrap();
    assert!(api.invoices(6).await.unwrap().is_empty());
    api.pay_invoice("3782544").await.unwrap();
    assert_eq!(
        api.delete_vm(Some("bus02"), &vm.uuid).await.unwrap(),
        Deletion::Deleted
    );

    assert_eq!(
        fake.targets(),
        [
            "POST /v1/bus02/user-resource/vm",
            "GET /v1/user-resource/vm?uuid=7c2f4d0e-1a3b-4c5d-8e9f-0a1b2c3d4e5f",
            "GET /v1/payment/invoice/list?billing_account_id=6",
            "POST /v1/payment/pay_invoice",
            "DELETE /v1/bus02/user-resource/vm",
        ]
    );
    let seen = fake.seen();
    assert!(
        seen.iter()
            .all(|s| s.header("apikey") == Some("meowmeowmeow"))
    );
    let created = &seen[0];
    assert_eq!(created.content_type(), "application/x-www-form-urlencoded");
    for (k, v) in [
        ("name", "web-1-example-com"),
        ("description", "01JOB"),
        ("os_name", "ubuntu"),
        ("disks", "20"),
        ("ram", "2048"),
        ("password", "S3cure-pass"),
        ("billing_account_id", "6"),
        ("reserve_public_ip", "true"),
        ("cloud_init", r#"{"runcmd": ["/firstboot"]}"#),
    ] {
        assert_eq!(created.get(k), Some(v), "{k}");
    }
    assert_eq!(
        created.get("public_key"),
        None,
        "absent options are not sent"
    );
    assert_eq!(seen[3].get("invoice_id"), Some("3782544"));
    assert_eq!(seen[4].get("uuid"), Some(vm.uuid.as_str()));
}

#[tokio::test]
async fn a_base_url_ending_in_v1_gets_no_second_v1() {
    let fake = FakeHttp::start(vec![reply(200, "[]")]).await;
    let api = IdcloudhostApi::new(
        reqwest::Client::new(),
        fake.url("").join("/v1/").unwrap(),
        "k".into(),
        Duration::from_secs(5),
    );
    api.list_vms(Some("cyc01")).await.unwrap();
    assert_eq!(fake.targets(), ["GET /v1/cyc01/user-resource/vm/list"]);
}

#[tokio::test]
async fn http_errors_keep_the_providers_words() {
    let fake = FakeHttp::start(vec![
        reply(400, r#"{"errors": {"name": "Must match the VM name pattern"}}"#),
        reply(401, r#"{"message": "Invalid authentication credentials"}"#),
        reply(403, r#"{"errors": {"consumer::resource_forbidden": {"msg": "Consumer not allowed to access resource.", "type": "consumer"}}}"#),
        reply(404, SEED_VM_NOT_FOUND),
        reply(404, SEED_VM_NOT_FOUND),
        Reply {
            status: 429,
            headers: &[("retry-after", "3")],
            body: "slow down",
            hang: false,
        },
        reply(502, "<html>bad gateway</html>"),
    ])
    .await;
    let api = api(&fake);
    let password = SecretString::from("S3cure-pass");
    match api.create_vm(None, &create(&password)).await {
        Err(CallError::Rejected {
            message, status, ..
        }) => {
            assert_eq!(message, "name: Must match the VM name pattern");
            assert_eq!(status, Some(400));
        }
        other => panic!("{other:?}"),
    }
    match api.list_vms(None).await {
        Err(CallError::Unauthorized { message, .. }) => {
            assert_eq!(message, "Invalid authentication credentials")
        }
        other => panic!("{other:?}"),
    }
    match api.pay_invoice("1").await {
        Err(CallError::Unauthorized { message, .. }) => {
            assert_eq!(message, "Consumer not allowed to access resource.")
        }
        other => panic!("{other:?}"),
    }
    match api.vm(None, "aaaaaaaa-0000-bbbb-1111-cccccccccccc").await {
        Err(CallError::Rejected {
            message, status, ..
        }) => {
            assert!(message.starts_with("No such virtual machine exists."));
            assert_eq!(status, Some(404));
        }
        other => panic!("{other:?}"),
    }
    match api
        .delete_vm(None, "aaaaaaaa-0000-bbbb-1111-cccccccccccc")
        .await
    {
        Ok(Deletion::AlreadyGone(said)) => assert!(said.contains("No such virtual machine")),
        other => panic!("{other:?}"),
    }
    match api.invoices(6).await {
        Err(CallError::RateLimited { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3)))
        }
        other => panic!("{other:?}"),
    }
    match api.unpaid_amount(6).await {
        Err(e @ CallError::Unknown { .. }) => {
            assert!(e.maybe_applied());
            assert!(e.to_string().contains("502"), "{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_not_sent() {
    let addr = closed_port().await;
    let api = IdcloudhostApi::new(
        reqwest::Client::new(),
        Url::parse(&format!("http://{addr}")).unwrap(),
        "k".into(),
        Duration::from_secs(5),
    );
    let e = api.pay_invoice("1").await.unwrap_err();
    assert!(matches!(e, CallError::NotSent { .. }), "{e:?}");
    assert!(!e.maybe_applied());
}

#[test]
fn the_client_never_prints_its_key() {
    let api = IdcloudhostApi::new(
        reqwest::Client::new(),
        Url::parse("https://api.example").unwrap(),
        "meowmeowmeow".into(),
        Duration::from_secs(5),
    );
    let password = SecretString::from("S3cure-pass");
    let printed = format!("{api:?} {:?}", create(&password));
    assert!(!printed.contains("meowmeowmeow"), "{printed}");
    assert!(!printed.contains("S3cure-pass"), "{printed}");
}

#[tokio::test]
async fn an_answer_echoing_the_vm_password_or_the_key_is_quoted_without_them() {
    const ECHO: &str = "<html><body>Internal Server Error: cannot set Vm-Pass-7x for root (apikey meowmeowmeow)</body></html>";
    let fake = FakeHttp::start(vec![reply(200, ECHO), reply(500, ECHO)]).await;
    let api = api(&fake);
    let password = SecretString::from("Vm-Pass-7x");
    for _ in 0..2 {
        let text = api
            .create_vm(None, &create(&password))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            !text.contains("Vm-Pass-7x") && !text.contains("meowmeowmeow"),
            "{text}"
        );
        assert!(text.contains("cannot set [REDACTED] for root"), "{text}");
    }
}
