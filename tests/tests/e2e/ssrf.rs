//! Server-side request forgery: no URL taken from a request gets the worker to
//! connect to loopback, private, link-local or otherwise non-public addresses, in any
//! spelling (IPv6 forms embedding IPv4, decimal/octal/hex IPv4, userinfo tricks,
//! trailing dots), nor through a public-looking name that resolves to one at
//! delivery time, nor through a redirect. With `callbacks.allow_private = false`
//! every such URL is refused: with a 422 naming the field at enqueue, or at delivery
//! (listed on the job as a failed callback attempt); and a loopback canary sees no
//! connection at all.

use provisioner_shared::{Config, ProviderKind};
use provisioner_tests::{
    TestApi, TestRedis, account, spawn_api, spawn_worker_with, test_config, wait_until,
};
use provisioner_worker::StartOptions;
use provisioner_worker::callbacks::{Lookup, NameLookup};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const LONG: Duration = Duration::from_secs(60);

/// A listener that counts the connections it gets (and answers `reply`, if any).
struct Canary {
    port: u16,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Canary {
    async fn start(addr: &str, reply: Option<String>) -> io::Result<Canary> {
        let listener = TcpListener::bind(addr).await?;
        let port = listener.local_addr()?.port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                if let Some(reply) = &reply {
                    read_request(&mut stream).await;
                    let _ = stream.write_all(reply.as_bytes()).await;
                }
            }
        });
        Ok(Canary { port, hits, task })
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Reads one HTTP request (head and `Content-Length` body), so that the answer is
/// not cut off by a reset.
async fn read_request(stream: &mut tokio::net::TcpStream) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(head_end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= head_end + 4 + length {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
        }
    }
}

impl Drop for Canary {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The test's DNS: public-looking names that resolve to addresses the deliverer must
/// never connect to.
struct Table(HashMap<String, Vec<IpAddr>>);

impl NameLookup for Table {
    fn lookup(&self, host: &str) -> Lookup {
        let found = self.0.get(host.trim_end_matches('.')).cloned();
        Box::pin(async move {
            found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name"))
        })
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter()
        .map(|a| a.parse().expect("an address"))
        .collect()
}

fn config(redis: &TestRedis) -> Config {
    let mut config = test_config(redis);
    config.callbacks.allow_private = false;
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    config.accounts.push(account(
        "klikk",
        ProviderKind::Klikk,
        "http://127.0.0.1:9/api",
    ));
    config
}

/// How one URL fared.
#[derive(Debug)]
enum Verdict {
    RefusedAtEnqueue,
    /// Accepted, and refused by the deliverer's address check.
    RefusedAtDelivery(String),
    /// Anything else: accepted and delivered, or failed for another reason.
    Leaked(String),
}

async fn submit(api: &TestApi, body: &Value, field: &str) -> anyhow::Result<Result<String, ()>> {
    let reply = api.post_job(body).await?;
    if reply.status == StatusCode::UNPROCESSABLE_ENTITY {
        anyhow::ensure!(
            reply.error_field() == Some(field),
            "a 422 for {body} names {:?}, not {field}: {}",
            reply.error_field(),
            reply.text
        );
        return Ok(Err(()));
    }
    anyhow::ensure!(
        reply.status == StatusCode::ACCEPTED,
        "{body} answered {}: {}",
        reply.status,
        reply.text
    );
    Ok(Ok(reply.id().to_owned()))
}

/// The first callback attempt of an accepted job, judged.
async fn delivery_verdict(api: &TestApi, id: &str) -> anyhow::Result<Verdict> {
    let first = wait_until(&format!("a callback attempt on {id}"), LONG, || async {
        let job = api.get_job(id).await?.expect(StatusCode::OK)?.body;
        Ok(job["callbacks"].as_array().and_then(|l| l.first().cloned()))
    })
    .await?;
    let error = first["error"].as_str().unwrap_or("").to_owned();
    // The deliverer's address refusals name the setting that would allow them.
    let refused = first["status"].is_null() && error.contains("callbacks.allow_private is off");
    Ok(if refused {
        Verdict::RefusedAtDelivery(error)
    } else {
        Verdict::Leaked(first.to_string())
    })
}

#[tokio::test]
async fn ssrf_urls_are_refused_at_enqueue_or_delivery_and_reach_nothing() -> anyhow::Result<()> {
    let canary = Canary::start("127.0.0.1:0", None).await?;
    let canary6 = Canary::start("[::1]:0", None).await.ok();
    let p = canary.port;
    let q = canary6.as_ref().map_or(p, |c| c.port);
    // A public-looking name whose server redirects to the canary.
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{p}/hook\r\nContent-Length: 0\r\n\r\n"
    );
    let redirector = Canary::start("127.0.0.1:0", Some(redirect)).await?;
    let r = redirector.port;

    let redis = TestRedis::start().await?;
    let config = config(&redis);
    let api = spawn_api(config.clone()).await?;
    let table = Table(HashMap::from([
        ("hooks.billing-example.com".to_owned(), ips(&["127.0.0.1"])),
        ("v6.billing-example.com".to_owned(), ips(&["::1"])),
        (
            "meta.cloud-example.net".to_owned(),
            ips(&["169.254.169.254"]),
        ),
        (
            "nat64.cloud-example.net".to_owned(),
            ips(&["64:ff9b::7f00:1"]),
        ),
        ("compat.cloud-example.net".to_owned(), ips(&["::127.0.0.1"])),
        (
            "sixtofour.cloud-example.net".to_owned(),
            ips(&["2002:7f00:1::1"]),
        ),
        (
            "mixed.cloud-example.net".to_owned(),
            ips(&["10.0.0.8", "127.0.0.1", "fd00::8"]),
        ),
        (
            "rebind.example-hooks.org".to_owned(),
            ips(&["::ffff:127.0.0.1"]),
        ),
        ("redirect.example-hooks.org".to_owned(), ips(&["127.0.0.1"])),
    ]));
    let _worker = spawn_worker_with(
        config,
        StartOptions {
            callback_lookup: Some(Arc::new(table)),
        },
    )
    .await?;

    let callback_urls = vec![
        // loopback, in every spelling
        format!("https://127.0.0.1:{p}/hook"),
        format!("https://127.0.0.1.:{p}/hook"),
        format!("https://localhost:{p}/hook"),
        format!("https://localhost.:{p}/hook"),
        format!("https://api.localhost:{p}/hook"),
        format!("https://[::1]:{q}/hook"),
        format!("https://2130706433:{p}/hook"),
        format!("https://0177.0.0.1:{p}/hook"),
        format!("https://0x7f.1:{p}/hook"),
        format!("https://0x7f000001:{p}/hook"),
        format!("https://127.1:{p}/hook"),
        format!("https://127.0.0.%31:{p}/hook"),
        format!("https://0:{p}/hook"),
        format!("https://[::]:{p}/hook"),
        format!("https://[::ffff:127.0.0.1]:{p}/hook"),
        format!("https://[0:0:0:0:0:ffff:7f00:1]:{p}/hook"),
        // IPv6 forms embedding IPv4, and IPv6 special ranges
        format!("https://[::127.0.0.1]:{p}/hook"),
        format!("https://[64:ff9b::7f00:1]:{p}/hook"),
        format!("https://[64:ff9b::a9fe:a9fe]/latest/meta-data/"),
        format!("https://[64:ff9b:1::a00:1]:{p}/hook"),
        format!("https://[2002:7f00:1::1]:{p}/hook"),
        format!("https://[2002:a9fe:a9fe::1]/latest/meta-data/"),
        format!("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{p}/hook"),
        format!("https://[fec0::1]:{p}/hook"),
        format!("https://[fd00::1]:{p}/hook"),
        format!("https://[fe80::1]:{p}/hook"),
        format!("https://[ff02::1]:{p}/hook"),
        format!("https://[2001:db8::1]:{p}/hook"),
        format!("https://[100::1]:{p}/hook"),
        format!("https://[2001:20::1]:{p}/hook"),
        // cloud metadata, RFC 1918 and IPv4 special ranges
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://metadata.google.internal/computeMetadata/v1/".to_owned(),
        format!("https://10.0.0.1:{p}/hook"),
        format!("https://172.16.5.4:{p}/hook"),
        format!("https://192.168.1.1:{p}/hook"),
        format!("https://100.64.0.1:{p}/hook"),
        format!("https://192.0.0.1:{p}/hook"),
        format!("https://192.0.2.1:{p}/hook"),
        format!("https://198.18.0.1:{p}/hook"),
        format!("https://198.51.100.7:{p}/hook"),
        format!("https://203.0.113.9:{p}/hook"),
        format!("https://224.0.0.1:{p}/hook"),
        format!("https://240.0.0.1:{p}/hook"),
        format!("https://255.255.255.255:{p}/hook"),
        // userinfo tricks, other schemes
        format!("https://example.com@127.0.0.1:{p}/hook"),
        format!("https://example.com:x@127.0.0.1:{p}/hook"),
        format!("http://127.0.0.1:{p}/hook"),
        "file:///etc/passwd".to_owned(),
        format!("gopher://127.0.0.1:{p}/_hook"),
        format!("ftp://127.0.0.1:{p}/hook"),
        // public-looking names that resolve to non-public addresses at delivery
        format!("https://hooks.billing-example.com:{p}/hook"),
        format!("https://v6.billing-example.com:{q}/hook"),
        "https://meta.cloud-example.net/latest/meta-data/".to_owned(),
        format!("https://nat64.cloud-example.net:{p}/hook"),
        format!("https://compat.cloud-example.net:{p}/hook"),
        format!("https://sixtofour.cloud-example.net:{p}/hook"),
        format!("https://mixed.cloud-example.net:{p}/hook"),
        format!("https://rebind.example-hooks.org:{p}/hook"),
        // its server would redirect to the canary
        format!("https://redirect.example-hooks.org:{r}/hook"),
    ];
    let cloud_init_urls = [
        format!("https://127.0.0.1:{p}/cloud-init"),
        "https://[64:ff9b::a9fe:a9fe]/latest/user-data".to_owned(),
        "https://[::169.254.169.254]/latest/user-data".to_owned(),
        "https://0xa9fea9fe/latest/user-data".to_owned(),
        "https://[2002:a9fe:a9fe::]/latest/user-data".to_owned(),
        "file:///etc/shadow".to_owned(),
        format!("https://localhost.:{p}/cloud-init"),
    ];

    let mut verdicts: Vec<(String, Verdict)> = Vec::new();
    let mut accepted = Vec::new();
    for url in &callback_urls {
        let body = json!({"kind": "provision", "account": "noop", "order": {"steps": 1}, "callback_url": url});
        match submit(&api, &body, "callback_url").await? {
            Err(()) => verdicts.push((url.clone(), Verdict::RefusedAtEnqueue)),
            Ok(id) => accepted.push((url.clone(), id)),
        }
    }
    for url in &cloud_init_urls {
        let body = json!({
            "kind": "provision",
            "account": "klikk",
            "hostname": "web-1.example.com",
            "order": {"ram_gb": 1, "cpu": 1, "storage_gb": 25, "os": "Debian", "ip_allow": "198.51.100.0/24", "cloud_init_url": url},
            "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"],
        });
        match submit(&api, &body, "order.cloud_init_url").await? {
            Err(()) => verdicts.push((format!("cloud_init_url {url}"), Verdict::RefusedAtEnqueue)),
            Ok(id) => verdicts.push((
                format!("cloud_init_url {url}"),
                Verdict::Leaked(format!("accepted as job {id}")),
            )),
        }
    }
    for (url, id) in &accepted {
        verdicts.push((url.clone(), delivery_verdict(&api, id).await?));
    }

    let leaked: Vec<String> = verdicts
        .iter()
        .filter_map(|(url, v)| match v {
            Verdict::Leaked(how) => Some(format!("{url}: {how}")),
            _ => None,
        })
        .collect();
    assert!(verdicts.len() >= 60, "{} URLs tried", verdicts.len());
    assert!(
        leaked.is_empty(),
        "{} of {} SSRF URLs were not refused:\n{}",
        leaked.len(),
        verdicts.len(),
        leaked.join("\n")
    );
    // The names were accepted at enqueue (they look public) and refused at delivery.
    let at_delivery: Vec<&str> = verdicts
        .iter()
        .filter_map(|(_, v)| match v {
            Verdict::RefusedAtDelivery(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        at_delivery.len() >= 9,
        "refused at delivery: {at_delivery:?}"
    );
    assert_eq!(canary.hits(), 0, "the loopback canary was reached");
    assert_eq!(
        canary6.as_ref().map_or(0, Canary::hits),
        0,
        "the [::1] canary was reached"
    );
    assert_eq!(redirector.hits(), 0, "the redirecting server was reached");
    Ok(())
}

/// Even where private addresses are allowed (so the deliverer may connect to the
/// redirecting server on loopback), a redirect is an answer, never followed.
#[tokio::test]
async fn a_callback_redirect_is_not_followed() -> anyhow::Result<()> {
    let canary = Canary::start("127.0.0.1:0", None).await?;
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{}/hook\r\nContent-Length: 0\r\n\r\n",
        canary.port
    );
    let redirector = Canary::start("127.0.0.1:0", Some(redirect)).await?;
    let redis = TestRedis::start().await?;
    let mut config = config(&redis);
    config.callbacks.allow_private = true;
    let api = spawn_api(config.clone()).await?;
    let table = Table(HashMap::from([(
        "redirect.example-hooks.org".to_owned(),
        ips(&["127.0.0.1"]),
    )]));
    let _worker = spawn_worker_with(
        config,
        StartOptions {
            callback_lookup: Some(Arc::new(table)),
        },
    )
    .await?;
    for url in [
        format!("http://127.0.0.1:{}/hook", redirector.port),
        format!("http://redirect.example-hooks.org:{}/hook", redirector.port),
    ] {
        let body = json!({"kind": "provision", "account": "noop", "order": {"steps": 1}, "callback_url": url});
        let id = submit(&api, &body, "callback_url")
            .await?
            .map_err(|()| anyhow::anyhow!("{url} refused at enqueue"))?;
        let first = wait_until("the callback's first attempt", LONG, || async {
            let job = api.get_job(&id).await?.expect(StatusCode::OK)?.body;
            Ok(job["callbacks"].as_array().and_then(|l| l.first().cloned()))
        })
        .await?;
        assert_eq!(first["status"], 307, "{first}");
        assert!(
            first["error"].as_str().unwrap_or("").contains("307"),
            "{first}"
        );
    }
    assert!(redirector.hits() >= 2);
    assert_eq!(canary.hits(), 0, "a redirect was followed");
    Ok(())
}
