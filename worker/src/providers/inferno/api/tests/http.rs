//! The client against a scripted fake `api_client.php` on a random local port: what it
//! sends, and how HTTP failures become `CallError`s.

use super::super::*;
use super::{SEED_CREATE, SEED_INSTALL_904, SEED_INSTALL_OK, SSHKEY_ADD};
use crate::providers::fake_http::{FakeHttp, Reply, closed_port, ok, reply};

/// Inferno's panel answers as PHP does by default.
async fn start(replies: Vec<Reply>) -> FakeHttp {
    FakeHttp::start_with_content_type("text/html; charset=UTF-8", replies).await
}

fn status(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Reply {
    Reply {
        headers,
        ..reply(status, body)
    }
}

fn api(fake: &FakeHttp, timeout: Duration) -> InfernoApi {
    // A base with a path, to check that `api_client.php` is joined below it.
    InfernoApi::new(
        reqwest::Client::new(),
        fake.url("/panel"),
        777,
        "KEY-777".into(),
        timeout,
    )
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn every_call_is_a_form_post_to_api_client_php_with_cid_and_key() {
    let fake = start(vec![ok(SEED_CREATE)]).await;
    let created = api(&fake, SECOND).create(303).await.unwrap();
    assert_eq!(created.order_id, "47000");
    let seen = fake.seen();
    let r = &seen[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("POST", "/panel/api_client.php")
    );
    assert_eq!(r.content_type(), "application/x-www-form-urlencoded");
    assert_eq!(r.get("action"), Some("create"));
    assert_eq!(r.get("cid"), Some("777"));
    assert_eq!(r.get("key"), Some("KEY-777"));
    assert_eq!(r.get("pid"), Some("303"));
}

#[tokio::test]
async fn sshkey_add_sends_the_key_urlencoded_in_the_body() {
    let fake = start(vec![ok(SSHKEY_ADD)]).await;
    let key = "ssh-rsa AAAA+body/x== ops@example.com";
    assert_eq!(api(&fake, SECOND).sshkey_add(key).await.unwrap(), "12");
    let seen = fake.seen();
    assert_eq!(seen[0].get("sshkey"), Some(key));
    assert!(
        seen[0]
            .body
            .contains("sshkey=ssh-rsa+AAAA%2Bbody%2Fx%3D%3D+ops%40example.com"),
        "{}",
        seen[0].body
    );
    assert!(!seen[0].target.contains("sshkey"), "not in the URL");
}

#[tokio::test]
async fn install_sends_its_parameters_and_reads_print_r() {
    let fake = start(vec![ok(SEED_INSTALL_OK), ok(SEED_INSTALL_904)]).await;
    let api = api(&fake, SECOND);
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
    let fake = start(vec![
        status(429, &[("retry-after", "7")], "slow down"),
        status(502, &[], "<html>Bad Gateway</html>"),
        status(403, &[], r#"{"result":"fail","message":"Wrong key"}"#),
        status(400, &[], r#"{"result":"fail","message":"Unknown action"}"#),
        status(404, &[], "Not Found"),
    ])
    .await;
    let api = api(&fake, SECOND);
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
    let fake = start(vec![Reply {
        hang: true,
        ..ok("")
    }])
    .await;
    let e = api(&fake, Duration::from_millis(200))
        .create(303)
        .await
        .unwrap_err();
    assert!(e.maybe_applied(), "{e:?}");

    let addr = closed_port().await;
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

#[tokio::test]
async fn an_answer_echoing_the_api_key_is_quoted_without_it() {
    const ECHO: &str =
        "Array\n(\n    [result] => maybe\n    [msg] => unknown client 777 with KEY-777\n)\n";
    let fake = FakeHttp::start(vec![ok(ECHO), reply(503, ECHO)]).await;
    let api = api(&fake, Duration::from_secs(5));
    for _ in 0..2 {
        let text = api.orders().await.unwrap_err().to_string();
        assert!(!text.contains("KEY-777"), "{text}");
        assert!(
            text.contains("unknown client 777 with [REDACTED]"),
            "{text}"
        );
    }
}
