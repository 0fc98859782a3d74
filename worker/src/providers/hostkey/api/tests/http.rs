//! The client against a scripted fake invapi on a random local port: what it sends,
//! how it keeps its session, and how HTTP failures become `CallError`s.

use super::super::*;
use super::{AUTH_ERROR, CHECK_WAITING, LIST, ORDER, SEED_BAD_OS, SEED_LOGIN};
use crate::providers::fake_http::{FakeHttp, Reply, closed_port, ok};

const FRESH_LOGIN: &str = r#"{"result":{"token":"tok-B","token_expire":4102444800}}"#;

fn api(fake: &FakeHttp, timeout: Duration) -> HostkeyApi {
    // A base with a path, to check that `{resource}.php` is joined below it.
    HostkeyApi::new(
        reqwest::Client::new(),
        fake.url("/invapi"),
        "KEY-1".into(),
        "1907".into(),
        timeout,
    )
}

/// Every request as `path action`.
fn paths(fake: &FakeHttp) -> Vec<String> {
    fake.seen()
        .iter()
        .map(|s| format!("{} {}", s.target, s.get("action").unwrap_or("?")))
        .collect()
}

#[tokio::test]
async fn logs_in_then_posts_forms_with_the_token() {
    let fake = FakeHttp::start(vec![ok(SEED_LOGIN), ok(LIST)]).await;
    let api = api(&fake, Duration::from_secs(5));
    assert_eq!(api.list().await.unwrap(), ["34533", "42253"]);

    assert_eq!(
        paths(&fake),
        ["/invapi/auth.php login", "/invapi/eq.php list"]
    );
    let seen = fake.seen();
    assert_eq!(seen[0].get("key"), Some("KEY-1"));
    assert_eq!(seen[0].get("ttl"), Some("7200"));
    assert_eq!(seen[0].get("token"), None);
    assert_eq!(seen[1].content_type(), "application/x-www-form-urlencoded");
    assert_eq!(
        seen[1].get("token"),
        Some("c92e48c4506320873286b84440e74sfd")
    );
    assert_eq!(seen[1].get("pin"), None, "eq/list takes no PIN");
}

#[tokio::test]
async fn the_token_is_cached_until_invalidated() {
    let fake = FakeHttp::start(vec![
        ok(SEED_LOGIN),
        ok(LIST),
        ok(LIST),
        ok(FRESH_LOGIN),
        ok(LIST),
    ])
    .await;
    let api = api(&fake, Duration::from_secs(5));
    api.list().await.unwrap();
    api.list().await.unwrap();
    api.invalidate_token().await;
    api.list().await.unwrap();
    assert_eq!(
        paths(&fake),
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
    let fake = FakeHttp::start(vec![ok(SEED_LOGIN), ok(LIST), ok(LIST)]).await;
    let api = api(&fake, Duration::from_secs(5));
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
    let fake = FakeHttp::start(vec![
        ok(SEED_LOGIN),
        ok(AUTH_ERROR),
        ok(FRESH_LOGIN),
        ok(LIST),
    ])
    .await;
    let api = api(&fake, Duration::from_secs(5));
    assert_eq!(api.list().await.unwrap(), ["34533", "42253"]);
    let seen = fake.seen();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[2].get("action"), Some("login"));
    assert_eq!(seen[3].get("token"), Some("tok-B"));
}

#[tokio::test]
async fn a_second_auth_error_is_unauthorized() {
    let fake = FakeHttp::start(vec![
        ok(SEED_LOGIN),
        ok(AUTH_ERROR),
        ok(FRESH_LOGIN),
        ok(AUTH_ERROR),
    ])
    .await;
    let api = api(&fake, Duration::from_secs(5));
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
    let fake = FakeHttp::start(vec![ok(r#"{"result":-1,"error":"API key not found"}"#)]).await;
    let api = api(&fake, Duration::from_secs(5));
    match api.list().await {
        Err(CallError::Unauthorized { message, .. }) => assert_eq!(message, "API key not found"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn pin_and_keys_go_where_the_seed_says() {
    let fake = FakeHttp::start(vec![
        ok(SEED_LOGIN),
        ok(ORDER),
        ok(ORDER),
        ok(CHECK_WAITING),
        ok(ORDER),
    ])
    .await;
    let api = api(&fake, Duration::from_secs(5));
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
    assert_eq!(seen[3].target, "/invapi/eq_callback.php");
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
    let fake = FakeHttp::start(vec![ok(SEED_LOGIN), ok(ORDER), ok(ORDER)]).await;
    let api = api(&fake, Duration::from_secs(5));
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
    let fake = FakeHttp::start(vec![
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
    let api = api(&fake, Duration::from_secs(5));
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
    let fake = FakeHttp::start(vec![
        ok(SEED_LOGIN),
        Reply {
            status: 200,
            headers: &[],
            body: "",
            hang: true,
        },
    ])
    .await;
    let api = api(&fake, Duration::from_millis(300));
    match api.apply_credit("23451", "5.00").await {
        Err(e @ CallError::Unknown { .. }) => assert!(e.maybe_applied()),
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    let addr = closed_port().await;
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

#[tokio::test]
async fn an_answer_echoing_what_we_sent_is_quoted_without_the_pin_or_password() {
    // A PHP error page that repeats the request in its own words (no `key=value`):
    // only the client knows these are the PIN and the root password.
    const ECHO: &str =
        "<b>Fatal error</b>: order failed for pin 1907 with password 'Ech0-Pass!9' (session tok-B)";
    let fake = FakeHttp::start(vec![
        ok(FRESH_LOGIN),
        ok(ECHO),
        Reply {
            status: 500,
            headers: &[],
            body: ECHO,
            hang: false,
        },
    ])
    .await;
    let api = api(&fake, Duration::from_secs(5));
    let root_pass = SecretString::from("Ech0-Pass!9");
    let order = OrderInstance {
        target: OrderTarget::Reinstall { server_id: "42253" },
        os_id: 180,
        root_pass: &root_pass,
        hostname: None,
        ssh_key: None,
        soft_id: None,
        os_name: None,
        own_os: false,
        root_size: None,
        post_install_callback: None,
        post_install_script: None,
        jenkins_task: None,
    };
    for _ in 0..2 {
        let text = api.order_instance(&order).await.unwrap_err().to_string();
        for secret in ["1907", "Ech0-Pass!9", "tok-B"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("order failed for pin [REDACTED]"), "{text}");
    }
}
