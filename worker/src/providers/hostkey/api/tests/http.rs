//! The client against a scripted fake invapi on a random local port: what it sends,
//! how it keeps its session, and how HTTP failures become `CallError`s.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::*;
use super::{AUTH_ERROR, CHECK_WAITING, LIST, ORDER, SEED_BAD_OS, SEED_LOGIN};

const FRESH_LOGIN: &str = r#"{"result":{"token":"tok-B","token_expire":4102444800}}"#;

/// One scripted answer.
struct Reply {
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    /// Never answer (for the timeout test).
    hang: bool,
}

fn ok(body: &'static str) -> Reply {
    Reply {
        status: 200,
        headers: &[],
        body,
        hang: false,
    }
}

/// A request as the fake saw it.
#[derive(Debug)]
struct Seen {
    path: String,
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
    addr: SocketAddr,
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
                let reply = replies.pop_front().unwrap_or(Reply {
                    status: 500,
                    headers: &[],
                    body: "fake: no reply scripted",
                    hang: false,
                });
                if reply.hang {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(stream);
                    });
                    continue;
                }
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
        Fake { addr, seen }
    }

    fn api(&self, timeout: Duration) -> HostkeyApi {
        // A base with a path, to check that `{resource}.php` is joined below it.
        let base = Url::parse(&format!("http://{}/invapi", self.addr)).unwrap();
        HostkeyApi::new(
            reqwest::Client::new(),
            base,
            "KEY-1".into(),
            "1907".into(),
            timeout,
        )
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap()
    }

    fn paths(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.path, s.get("action").unwrap_or("?")))
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
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    Some(Seen {
        path,
        content_type: header("content-type").unwrap_or_default(),
        form: serde_urlencoded::from_bytes(&buf[head_end..]).unwrap_or_default(),
    })
}

#[tokio::test]
async fn logs_in_then_posts_forms_with_the_token() {
    let fake = Fake::start(vec![ok(SEED_LOGIN), ok(LIST)]).await;
    let api = fake.api(Duration::from_secs(5));
    assert_eq!(api.list().await.unwrap(), ["34533", "42253"]);

    assert_eq!(
        fake.paths(),
        ["/invapi/auth.php login", "/invapi/eq.php list"]
    );
    let seen = fake.seen();
    assert_eq!(seen[0].get("key"), Some("KEY-1"));
    assert_eq!(seen[0].get("ttl"), Some("7200"));
    assert_eq!(seen[0].get("token"), None);
    assert_eq!(seen[1].content_type, "application/x-www-form-urlencoded");
    assert_eq!(
        seen[1].get("token"),
        Some("c92e48c4506320873286b84440e74sfd")
    );
    assert_eq!(seen[1].get("pin"), None, "eq/list takes no PIN");
}

#[tokio::test]
async fn the_token_is_cached_until_invalidated() {
    let fake = Fake::start(vec![
        ok(SEED_LOGIN),
        ok(LIST),
        ok(LIST),
        ok(FRESH_LOGIN),
        ok(LIST),
    ])
    .await;
    let api = fake.api(Duration::from_secs(5));
    api.list().await.unwrap();
    api.list().await.unwrap();
    api.invalidate_token().await;
    api.list().await.unwrap();
    assert_eq!(
        fake.paths(),
        [
            "/invapi/auth.php login",
            "/invapi/eq.php list",
            "/invapi/eq.php list",
            "/invapi/auth.php login",
            "/invapi/eq.php list"
        ]
    );
    assert_eq!(fake.seen()[4].get("token"), Some("tok-B"));
}

#[tokio::test]
async fn concurrent_calls_share_one_login() {
    let fake = Fake::start(vec![ok(SEED_LOGIN), ok(LIST), ok(LIST)]).await;
    let api = fake.api(Duration::from_secs(5));
    let (a, b) = tokio::join!(api.list(), api.list());
    assert_eq!((a.unwrap().len(), b.unwrap().len()), (2, 2));
    let logins = fake
        .seen()
        .iter()
        .filter(|s| s.get("action") == Some("login"))
        .count();
    assert_eq!(logins, 1);
}

#[tokio::test]
async fn an_auth_error_means_one_new_login_and_one_repeat() {
    let fake = Fake::start(vec![
        ok(SEED_LOGIN),
        ok(AUTH_ERROR),
        ok(FRESH_LOGIN),
        ok(LIST),
    ])
    .await;
    let api = fake.api(Duration::from_secs(5));
    assert_eq!(api.list().await.unwrap(), ["34533", "42253"]);
    let seen = fake.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2].get("action"), Some("login"));
    assert_eq!(seen[3].get("token"), Some("tok-B"));
}

#[tokio::test]
async fn a_second_auth_error_is_unauthorized() {
    let fake = Fake::start(vec![
        ok(SEED_LOGIN),
        ok(AUTH_ERROR),
        ok(FRESH_LOGIN),
        ok(AUTH_ERROR),
    ])
    .await;
    let api = fake.api(Duration::from_secs(5));
    match api.show("42253").await {
        Err(CallError::Unauthorized { message, .. }) => {
            assert_eq!(message, "auth: token expired or invalid")
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(fake.seen().len(), 4, "no third attempt");
}

#[tokio::test]
async fn a_refused_key_is_unauthorized_without_a_call() {
    let fake = Fake::start(vec![ok(r#"{"result":-1,"error":"API key not found"}"#)]).await;
    let api = fake.api(Duration::from_secs(5));
    match api.list().await {
        Err(CallError::Unauthorized { message, .. }) => assert_eq!(message, "API key not found"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn pin_and_keys_go_where_the_seed_says() {
    let fake = Fake::start(vec![
        ok(SEED_LOGIN),
        ok(ORDER),
        ok(ORDER),
        ok(CHECK_WAITING),
        ok(ORDER),
    ])
    .await;
    let api = fake.api(Duration::from_secs(5));
    api.reboot("42253").await.unwrap();
    api.boot_dev("42253", BootMedia::Pxe).await.unwrap();
    let status = api.check("aa719bfc").await.unwrap();
    assert!(matches!(
        status,
        KeyStatus::Stage {
            stage: Some(0),
            of: 5,
            ..
        }
    ));
    api.clear_pxe("42253", "srv-1.example.com").await.unwrap();

    let seen = fake.seen();
    assert_eq!(
        (seen[1].get("action"), seen[1].get("id"), seen[1].get("pin")),
        (Some("reboot"), Some("42253"), Some("1907"))
    );
    assert_eq!(
        (seen[2].get("media"), seen[2].get("pin")),
        (Some("pxe"), Some("1907"))
    );
    assert_eq!(seen[3].path, "/invapi/eq_callback.php");
    assert_eq!(
        (seen[3].get("key"), seen[3].get("reinstall_key")),
        (Some("aa719bfc"), Some("aa719bfc"))
    );
    assert!(seen[3].get("token").is_some());
    assert_eq!(
        (seen[4].get("hostname"), seen[4].get("pin")),
        (Some("srv-1.example.com"), None)
    );
}

#[tokio::test]
async fn order_instance_sends_a_new_order_or_a_reinstall() {
    let fake = Fake::start(vec![ok(SEED_LOGIN), ok(ORDER), ok(ORDER)]).await;
    let api = fake.api(Duration::from_secs(5));
    let root_pass = SecretString::from("mdLus8Ng!");
    let mut order = OrderInstance {
        target: OrderTarget::New {
            preset: "vm.pico",
            location_name: "NL",
            traffic_plan: "25",
            deploy_period: "monthly",
            deploy_notify: false,
        },
        os_id: 180,
        root_pass: &root_pass,
        hostname: Some("srv-1.example.com"),
        ssh_key: None,
        soft_id: None,
        os_name: None,
        own_os: true,
        root_size: Some(100),
        post_install_callback: Some("https://hooks.example.com/hk"),
        post_install_script: None,
        jenkins_task: Some(-1),
    };
    let answer = api.order_instance(&order).await.unwrap();
    assert_eq!(answer.server_id.as_deref(), Some("42253"));
    assert!(!format!("{order:?}").contains("mdLus8Ng"));
    order.target = OrderTarget::Reinstall { server_id: "42253" };
    api.order_instance(&order).await.unwrap();

    let seen = fake.seen();
    let new = &seen[1];
    for (k, v) in [
        ("action", "order_instance"),
        ("pin", "1907"),
        ("preset", "vm.pico"),
        ("location_name", "NL"),
        ("traffic_plan", "25"),
        ("deploy_period", "monthly"),
        ("deploy_notify", "false"),
        ("os_id", "180"),
        ("root_pass", "mdLus8Ng!"),
        ("own_os", "1"),
        ("root_size", "100"),
        ("jenkins_task", "-1"),
        ("post_install_callback", "https://hooks.example.com/hk"),
    ] {
        assert_eq!(new.get(k), Some(v), "{k}");
    }
    assert_eq!(
        (new.get("id"), new.get("ssh_key"), new.get("soft_id")),
        (None, None, None)
    );
    let reinstall = &seen[2];
    assert_eq!(
        (reinstall.get("id"), reinstall.get("preset")),
        (Some("42253"), None)
    );
}

#[tokio::test]
async fn provider_errors_and_http_statuses_become_call_errors() {
    let fake = Fake::start(vec![
        ok(SEED_LOGIN),
        ok(SEED_BAD_OS),
        Reply {
            status: 503,
            headers: &[],
            body: "busy",
            hang: false,
        },
        Reply {
            status: 429,
            headers: &[("retry-after", "7")],
            body: "",
            hang: false,
        },
        Reply {
            status: 404,
            headers: &[],
            body: r#"{"result":-1,"error":"no such server"}"#,
            hang: false,
        },
    ])
    .await;
    let api = fake.api(Duration::from_secs(5));
    match api.reinstall("42253").await {
        Err(CallError::Rejected {
            message, status, ..
        }) => {
            assert_eq!(
                message,
                "reinstall: extra software Odoo (#49) is not compatible with Ubuntu 22.04"
            );
            assert_eq!(status, None);
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    let unknown = api.show("1").await.unwrap_err();
    assert!(
        matches!(&unknown, CallError::Unknown { message, .. } if message == "HTTP 503: busy"),
        "{unknown:?}"
    );
    assert_eq!(
        api.show("1").await.unwrap_err(),
        CallError::RateLimited {
            provider: "hostkey",
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    assert_eq!(
        api.show("1").await.unwrap_err(),
        CallError::Rejected {
            provider: "hostkey",
            message: "no such server".into(),
            status: Some(404),
        }
    );
}

#[tokio::test]
async fn no_answer_in_time_is_unknown() {
    let fake = Fake::start(vec![
        ok(SEED_LOGIN),
        Reply {
            status: 200,
            headers: &[],
            body: "",
            hang: true,
        },
    ])
    .await;
    let api = fake.api(Duration::from_millis(300));
    match api.apply_credit("23451", "5.00").await {
        Err(e @ CallError::Unknown { .. }) => assert!(e.maybe_applied()),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = Url::parse(&format!("http://{addr}/")).unwrap();
    let api = HostkeyApi::new(
        reqwest::Client::new(),
        base,
        "KEY-1".into(),
        "1907".into(),
        Duration::from_secs(2),
    );
    assert!(matches!(api.list().await, Err(CallError::NotSent { .. })));
}

#[test]
fn debug_never_shows_credentials() {
    let api = HostkeyApi::new(
        reqwest::Client::new(),
        Url::parse("https://invapi.hostkey.com").unwrap(),
        "KEY-1".into(),
        "1907".into(),
        Duration::from_secs(5),
    );
    let debug = format!("{api:?}");
    assert!(
        !debug.contains("KEY-1") && !debug.contains("1907"),
        "{debug}"
    );
}
