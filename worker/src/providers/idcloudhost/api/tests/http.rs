//! The client against a scripted fake on a random local port: the routes and slugs it
//! uses, the `apikey` header, form bodies, and how HTTP failures become `CallError`s.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::*;
use super::{GAPS_DELETE, GAPS_PAY_INVOICE, GAPS_VM_STARTING, SEED_VM_NOT_FOUND};

/// One scripted answer.
struct Reply {
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

fn reply(status: u16, body: &'static str) -> Reply {
    Reply {
        status,
        headers: &[],
        body,
    }
}

/// A request as the fake saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    /// Path and query.
    target: String,
    apikey: Option<String>,
    content_type: String,
    form: Vec<(String, String)>,
}

impl Seen {
    fn get(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

struct Fake {
    base: Url,
    seen: Arc<StdMutex<Vec<Seen>>>,
}

impl Fake {
    async fn start(replies: Vec<Reply>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let log = seen.clone();
        let mut replies: VecDeque<Reply> = replies.into();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let Some(request) = read_request(&mut stream).await else {
                    continue;
                };
                log.lock().unwrap().push(request);
                let reply = replies
                    .pop_front()
                    .unwrap_or_else(|| reply(500, "fake: no reply scripted"));
                let mut head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    reply.status,
                    reply.body.len()
                );
                for (k, v) in reply.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(reply.body.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        Fake {
            base: Url::parse(&format!("http://{addr}")).unwrap(),
            seen,
        }
    }

    fn api(&self) -> IdcloudhostApi {
        IdcloudhostApi::new(
            reqwest::Client::new(),
            self.base.clone(),
            "meowmeowmeow".into(),
            Duration::from_secs(5),
        )
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap()
    }

    fn targets(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.target))
            .collect()
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.trim().to_owned())
    };
    let length: usize = header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut words = head.split_whitespace();
    Some(Seen {
        method: words.next().unwrap_or_default().to_owned(),
        target: words.next().unwrap_or_default().to_owned(),
        apikey: header("apikey"),
        content_type: header("content-type").unwrap_or_default(),
        form: serde_urlencoded::from_bytes(&buf[head_end..]).unwrap_or_default(),
    })
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
    let fake = Fake::start(vec![
        reply(200, GAPS_VM_STARTING),
        reply(200, GAPS_VM_STARTING),
        reply(200, "[]"),
        reply(200, GAPS_PAY_INVOICE),
        reply(200, GAPS_DELETE),
    ])
    .await;
    let api = fake.api();
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
            .all(|s| s.apikey.as_deref() == Some("meowmeowmeow"))
    );
    let created = &seen[0];
    assert_eq!(created.content_type, "application/x-www-form-urlencoded");
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
    let fake = Fake::start(vec![reply(200, "[]")]).await;
    let api = IdcloudhostApi::new(
        reqwest::Client::new(),
        fake.base.join("/v1/").unwrap(),
        "k".into(),
        Duration::from_secs(5),
    );
    api.list_vms(Some("cyc01")).await.unwrap();
    assert_eq!(fake.targets(), ["GET /v1/cyc01/user-resource/vm/list"]);
}

#[tokio::test]
async fn http_errors_keep_the_providers_words() {
    let fake = Fake::start(vec![
        reply(400, r#"{"errors": {"name": "Must match the VM name pattern"}}"#),
        reply(401, r#"{"message": "Invalid authentication credentials"}"#),
        reply(403, r#"{"errors": {"consumer::resource_forbidden": {"msg": "Consumer not allowed to access resource.", "type": "consumer"}}}"#),
        reply(404, SEED_VM_NOT_FOUND),
        reply(404, SEED_VM_NOT_FOUND),
        Reply {
            status: 429,
            headers: &[("retry-after", "3")],
            body: "slow down",
        },
        reply(502, "<html>bad gateway</html>"),
    ])
    .await;
    let api = fake.api();
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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
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
