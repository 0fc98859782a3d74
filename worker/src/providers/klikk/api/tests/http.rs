//! The client against a scripted fake Klikk on a random local port: what it sends
//! (endpoint, auth, JSON), and how HTTP failures become `CallError`s.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::*;
use super::{NOT_FOUND, ORDER_LIST, SEED000_CREATED, SEED000_SERVERS, SEED001_STATUS};

/// One scripted answer.
struct Reply {
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    /// Never answer (for the timeout test).
    hang: bool,
}

fn ok(body: &'static str) -> Reply {
    reply(200, body)
}

fn reply(status: u16, body: &'static str) -> Reply {
    Reply {
        status,
        headers: &[],
        body,
        hang: false,
    }
}

/// A request as the fake saw it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    json: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
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
                let reply = replies
                    .pop_front()
                    .unwrap_or_else(|| reply(500, "fake: no reply scripted"));
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

    fn endpoint(&self) -> Url {
        Url::parse(&format!("http://{}/api/v1", self.addr)).unwrap()
    }

    fn api(&self, auth: Auth, timeout: Duration) -> KlikkApi {
        KlikkApi::new(reqwest::Client::new(), self.endpoint(), auth, timeout)
    }

    fn token_api(&self) -> KlikkApi {
        self.api(Auth::Token("tok-1".into()), Duration::from_secs(5))
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap()
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
    let mut lines = head.lines();
    let mut request_line = lines.next().unwrap_or_default().split_whitespace();
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        json: serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null),
    })
}

#[tokio::test]
async fn posts_json_with_the_account_token_to_the_configured_endpoint() {
    let fake = Fake::start(vec![ok(SEED001_STATUS)]).await;
    let order = fake.token_api().order_status("73").await.unwrap();
    assert_eq!(order.items[0].id, "1293");

    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/api/v1")
    );
    assert_eq!(seen[0].header("x-account-token"), Some("tok-1"));
    assert_eq!(seen[0].header("authorization"), None);
    assert!(
        seen[0]
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(
        seen[0].json,
        serde_json::json!({"action": "order_status", "order_id": 73})
    );
}

#[tokio::test]
async fn basic_auth_when_the_account_has_no_token() {
    let fake = Fake::start(vec![ok(ORDER_LIST)]).await;
    let api = fake.api(
        Auth::Basic {
            username: "ops@example.com".into(),
            password: "pa55:word".into(),
        },
        Duration::from_secs(5),
    );
    assert_eq!(api.order_list().await.unwrap().len(), 3);
    let seen = fake.seen();
    // base64("ops@example.com:pa55:word")
    assert_eq!(
        seen[0].header("authorization"),
        Some("Basic b3BzQGV4YW1wbGUuY29tOnBhNTU6d29yZA==")
    );
    assert_eq!(seen[0].header("x-account-token"), None);
}

#[tokio::test]
async fn create_cancel_and_server_list_send_what_the_seeds_show() {
    let fake = Fake::start(vec![ok(SEED000_CREATED), ok(""), ok(SEED000_SERVERS)]).await;
    let api = fake.token_api();
    let keys = ["ssh-ed25519 AAAA ops".to_owned()];
    let created = api
        .order_create(&NewOrder {
            reference: "JOB-1",
            name: "web-1.example.com",
            product: "VPS",
            ram_gb: 1.0,
            cpu: 2,
            storage_gb: 25,
            os: Os::Id(2),
            authorized_keys: &keys,
            ip_allow: "203.0.113.0/24",
            public_ports_allow: None,
            ipv4: None,
            antiaffinity: None,
            firewall_id: None,
            firewall_addme: None,
            cloud_init_url: None,
        })
        .await
        .unwrap();
    assert_eq!(created.order_id, "73");
    api.order_cancel("73", Some("1293")).await.unwrap();
    let servers = api.server_list(Some("1293")).await.unwrap();
    assert_eq!(servers[0].name.as_deref(), Some("my.server.com"));

    let seen = fake.seen();
    assert_eq!(seen[0].json["action"], "order_create");
    assert_eq!(seen[0].json["reference"], "JOB-1");
    assert_eq!(
        seen[0].json["items"][0]["product"]["options"]["features"]["sshd"]["authorized_keys"],
        "ssh-ed25519 AAAA ops"
    );
    assert_eq!(
        seen[1].json,
        serde_json::json!({"action": "order_cancel", "order_id": 73, "order_item_id": 1293})
    );
    assert_eq!(
        seen[2].json,
        serde_json::json!({"action": "server_list", "order_item_id": 1293})
    );
}

#[tokio::test]
async fn http_failures_become_call_errors_with_klikks_words() {
    let fake = Fake::start(vec![
        reply(404, NOT_FOUND),
        reply(
            400,
            r#"{"status": 400, "message": "features.sshd.ip_allow is required"}"#,
        ),
        reply(
            401,
            r#"{"status": 401, "message": "Authentication failed"}"#,
        ),
        Reply {
            status: 429,
            headers: &[("retry-after", "7")],
            body: "",
            hang: false,
        },
        reply(502, "bad gateway"),
    ])
    .await;
    let api = fake.token_api();
    assert_eq!(
        api.order_cancel("99", None).await.unwrap_err(),
        CallError::Rejected {
            provider: "klikk",
            message: "Order not found".into(),
            status: Some(404),
        }
    );
    let refused = api.order_status("73").await.unwrap_err();
    assert_eq!(
        refused.provider_message().as_deref(),
        Some("features.sshd.ip_allow is required")
    );
    assert!(matches!(
        api.order_list().await.unwrap_err(),
        CallError::Unauthorized { message, .. } if message == "Authentication failed"
    ));
    assert_eq!(
        api.order_list().await.unwrap_err(),
        CallError::RateLimited {
            provider: "klikk",
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    let unknown = api.order_list().await.unwrap_err();
    assert!(unknown.maybe_applied(), "{unknown:?}");
    assert!(
        unknown.to_string().contains("HTTP 502: bad gateway"),
        "{unknown}"
    );
}

#[tokio::test]
async fn no_answer_in_time_is_unknown() {
    let fake = Fake::start(vec![Reply {
        status: 200,
        headers: &[],
        body: "",
        hang: true,
    }])
    .await;
    let api = fake.api(Auth::Token("tok-1".into()), Duration::from_millis(300));
    match api.order_list().await {
        Err(e @ CallError::Unknown { .. }) => assert!(e.maybe_applied()),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = KlikkApi::new(
        reqwest::Client::new(),
        Url::parse(&format!("http://{addr}/api")).unwrap(),
        Auth::Token("tok-1".into()),
        Duration::from_secs(2),
    );
    assert!(matches!(
        api.order_list().await,
        Err(CallError::NotSent { .. })
    ));
}

#[test]
fn debug_never_shows_credentials() {
    for auth in [
        Auth::Token("tok-secret-1".into()),
        Auth::Basic {
            username: "ops".into(),
            password: "tok-secret-1".into(),
        },
    ] {
        let api = KlikkApi::new(
            reqwest::Client::new(),
            Url::parse("https://klikk.example/api").unwrap(),
            auth,
            Duration::from_secs(5),
        );
        let debug = format!("{api:?}");
        assert!(!debug.contains("tok-secret-1"), "{debug}");
    }
}
