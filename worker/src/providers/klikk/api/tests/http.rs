//! The client against a scripted fake Klikk on a random local port: what it sends
//! (endpoint, auth, JSON), and how HTTP failures become `CallError`s.

use super::super::*;
use super::{NOT_FOUND, ORDER_LIST, SEED000_CREATED, SEED000_SERVERS, SEED001_STATUS};
use crate::providers::fake_http::{FakeHttp, Reply, closed_port, ok, reply};

fn api(fake: &FakeHttp, auth: Auth, timeout: Duration) -> KlikkApi {
    KlikkApi::new(reqwest::Client::new(), fake.url("/api/v1"), auth, timeout)
}

fn token_api(fake: &FakeHttp) -> KlikkApi {
    api(fake, Auth::Token("tok-1".into()), Duration::from_secs(5))
}

#[tokio::test]
async fn posts_json_with_the_account_token_to_the_configured_endpoint() {
    let fake = FakeHttp::start(vec![ok(SEED001_STATUS)]).await;
    let order = token_api(&fake).order_status("73").await.unwrap();
    assert_eq!(order.items[0].id, "1293");

    let seen = fake.seen();
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
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
        seen[0].json(),
        serde_json::json!({"action": "order_status", "order_id": 73})
    );
}

#[tokio::test]
async fn basic_auth_when_the_account_has_no_token() {
    let fake = FakeHttp::start(vec![ok(ORDER_LIST)]).await;
    let api = api(
        &fake,
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
    let fake = FakeHttp::start(vec![ok(SEED000_CREATED), ok(""), ok(SEED000_SERVERS)]).await;
    let api = token_api(&fake);
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
    assert_eq!(seen[0].json()["action"], "order_create");
    assert_eq!(seen[0].json()["reference"], "JOB-1");
    assert_eq!(
        seen[0].json()["items"][0]["product"]["options"]["features"]["sshd"]["authorized_keys"],
        "ssh-ed25519 AAAA ops"
    );
    assert_eq!(
        seen[1].json(),
        serde_json::json!({"action": "order_cancel", "order_id": 73, "order_item_id": 1293})
    );
    assert_eq!(
        seen[2].json(),
        serde_json::json!({"action": "server_list", "order_item_id": 1293})
    );
}

#[tokio::test]
async fn http_failures_become_call_errors_with_klikks_words() {
    let fake = FakeHttp::start(vec![
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
    let api = token_api(&fake);
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
    let fake = FakeHttp::start(vec![Reply {
        status: 200,
        headers: &[],
        body: "",
        hang: true,
    }])
    .await;
    let api = api(
        &fake,
        Auth::Token("tok-1".into()),
        Duration::from_millis(300),
    );
    match api.order_list().await {
        Err(e @ CallError::Unknown { .. }) => assert!(e.maybe_applied()),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    let addr = closed_port().await;
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

#[tokio::test]
async fn non_json_answers_are_quoted_without_the_token() {
    // Klikk's gateway answering HTML, once with a 200 and once with a 500; each
    // repeats the header we sent.
    const PAGE: &str = "<html><body><h1>Bad gateway</h1>\n<pre>upstream rejected X-Account-Token: tok-secret-9 (ip 10.0.0.1)\nretry with token tok-secret-9</pre></body></html>";
    let fake = FakeHttp::start(vec![ok(PAGE), reply(500, PAGE)]).await;
    let api = api(
        &fake,
        Auth::Token("tok-secret-9".into()),
        Duration::from_secs(5),
    );
    let bad = api.order_list().await.unwrap_err();
    assert!(matches!(bad, CallError::BadResponse { .. }), "{bad:?}");
    let unknown = api.order_list().await.unwrap_err();
    assert!(matches!(unknown, CallError::Unknown { .. }), "{unknown:?}");
    for e in [bad, unknown] {
        let text = e.to_string();
        assert!(!text.contains("tok-secret-9"), "{text}");
        assert!(
            text.contains("upstream rejected X-Account-Token: [REDACTED]"),
            "{text}"
        );
    }
}
