//! The client against a scripted fake `api_client.php` on a random local port: what it
//! sends, and how HTTP failures become `CallError`s.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex as StdMutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::*;
use super::{SEED_CREATE, SEED_INSTALL_904, SEED_INSTALL_OK, SSHKEY_ADD};

/// One scripted answer.
struct Reply {
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
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

fn status(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Reply {
    Reply {
        status,
        headers,
        body,
        hang: false,
    }
}

/// A request as the fake saw it.
#[derive(Debug)]
struct Seen {
    target: String,
    method: String,
    content_type: String,
    raw_body: String,
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
                let reply = replies
                    .pop_front()
                    .unwrap_or_else(|| status(500, &[], "fake: no reply scripted"));
                if reply.hang {
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        drop(stream);
                    });
                    continue;
                }
                let mut head = format!(
                    "HTTP/1.1 {} X\r\ncontent-type: text/html; charset=UTF-8\r\ncontent-length: {}\r\nconnection: close\r\n",
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

    fn api(&self, timeout: Duration) -> InfernoApi {
        // A base with a path, to check that `api_client.php` is joined below it.
        let base = Url::parse(&format!("http://{}/panel", self.addr)).unwrap();
        InfernoApi::new(reqwest::Client::new(), base, 777, "KEY-777".into(), timeout)
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
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let length: usize = header("content-length").parse().unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let raw_body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let mut first = head.lines().next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_owned();
    let target = first.next().unwrap_or_default().to_owned();
    Some(Seen {
        form: serde_urlencoded::from_str(&raw_body).unwrap_or_default(),
        content_type: header("content-type"),
        raw_body,
        method,
        target,
    })
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn every_call_is_a_form_post_to_api_client_php_with_cid_and_key() {
    let fake = Fake::start(vec![ok(SEED_CREATE)]).await;
    let created = fake.api(SECOND).create(303).await.unwrap();
    assert_eq!(created.order_id, "47000");
    let seen = fake.seen();
    let r = &seen[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/panel/api_client.php")
    );
    assert_eq!(r.content_type, "application/x-www-form-urlencoded");
    assert_eq!(r.get("action"), Some("create"));
    assert_eq!(r.get("cid"), Some("777"));
    assert_eq!(r.get("key"), Some("KEY-777"));
    assert_eq!(r.get("pid"), Some("303"));
}

#[tokio::test]
async fn sshkey_add_sends_the_key_urlencoded_in_the_body() {
    let fake = Fake::start(vec![ok(SSHKEY_ADD)]).await;
    let key = "ssh-rsa AAAA+body/x== ops@example.com";
    assert_eq!(fake.api(SECOND).sshkey_add(key).await.unwrap(), "12");
    let seen = fake.seen();
    assert_eq!(seen[0].get("sshkey"), Some(key));
    assert!(
        seen[0]
            .raw_body
            .contains("sshkey=ssh-rsa+AAAA%2Bbody%2Fx%3D%3D+ops%40example.com"),
        "{}",
        seen[0].raw_body
    );
    assert!(!seen[0].target.contains("sshkey"), "not in the URL");
}

#[tokio::test]
async fn install_sends_its_parameters_and_reads_print_r() {
    let fake = Fake::start(vec![ok(SEED_INSTALL_OK), ok(SEED_INSTALL_904)]).await;
    let api = fake.api(SECOND);
    let ids = vec!["7".to_owned(), "12".to_owned()];
    let mut request = InstallRequest {
        order_id: "47000",
        template: "centos7-64-default",
        ssh_key_ids: &ids,
        run: true,
    };
    assert!(matches!(
        api.install(&request).await.unwrap(),
        InstallAnswer::Accepted { .. }
    ));
    request.run = false;
    request.ssh_key_ids = &[];
    assert!(matches!(
        api.install(&request).await.unwrap(),
        InstallAnswer::AlreadyInstalling { .. }
    ));
    let seen = fake.seen();
    assert_eq!(seen[0].get("orderid"), Some("47000"));
    assert_eq!(seen[0].get("ostpl"), Some("centos7-64-default"));
    assert_eq!(seen[0].get("sshkey_ids"), Some("7,12"));
    assert_eq!(seen[0].get("run"), Some("1"));
    assert_eq!(seen[1].get("run"), Some("0"));
    assert_eq!(seen[1].get("sshkey_ids"), None, "no empty sshkey_ids");
}

#[tokio::test]
async fn http_failures_become_call_errors() {
    let fake = Fake::start(vec![
        status(429, &[("retry-after", "7")], "slow down"),
        status(502, &[], "<html>Bad Gateway</html>"),
        status(403, &[], r#"{"result":"fail","message":"Wrong key"}"#),
        status(400, &[], r#"{"result":"fail","message":"Unknown action"}"#),
        status(404, &[], "Not Found"),
    ])
    .await;
    let api = fake.api(SECOND);
    assert_eq!(
        api.orders().await.unwrap_err(),
        CallError::RateLimited {
            provider: "inferno",
            retry_after: Some(Duration::from_secs(7))
        }
    );
    let e = api.orders().await.unwrap_err();
    assert!(
        matches!(&e, CallError::Unknown { message, .. } if message.contains("502")),
        "{e:?}"
    );
    assert!(e.maybe_applied());
    assert_eq!(
        api.orders().await.unwrap_err(),
        CallError::Unauthorized {
            provider: "inferno",
            message: "Wrong key".into()
        }
    );
    assert_eq!(
        api.orders().await.unwrap_err(),
        CallError::Rejected {
            provider: "inferno",
            message: "Unknown action".into(),
            status: Some(400)
        }
    );
    assert!(matches!(
        api.orders().await.unwrap_err(),
        CallError::Rejected {
            status: Some(404),
            ..
        }
    ));
}

#[tokio::test]
async fn a_hung_answer_is_an_unknown_outcome_and_a_closed_port_is_not_sent() {
    let fake = Fake::start(vec![Reply {
        hang: true,
        ..ok("")
    }])
    .await;
    let e = fake
        .api(Duration::from_millis(200))
        .create(303)
        .await
        .unwrap_err();
    assert!(e.maybe_applied(), "{e:?}");

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let api = InfernoApi::new(
        reqwest::Client::new(),
        Url::parse(&format!("http://{addr}")).unwrap(),
        1,
        "k".into(),
        SECOND,
    );
    assert!(matches!(
        api.create(1).await.unwrap_err(),
        CallError::NotSent { .. }
    ));
}

#[test]
fn the_key_never_shows_in_debug_output() {
    let api = InfernoApi::new(
        reqwest::Client::new(),
        Url::parse("https://cp.example.test").unwrap(),
        777,
        "KEY-SECRET-1".into(),
        SECOND,
    );
    let text = format!("{api:?}");
    assert!(!text.contains("KEY-SECRET-1"), "{text}");
    assert!(
        text.contains("https://cp.example.test/api_client.php"),
        "{text}"
    );
}
