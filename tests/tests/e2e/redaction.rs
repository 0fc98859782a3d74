//! Secrets in quoted provider answers: a provider that prints a PHP warning before
//! its JSON makes the client quote the answer as it came, and that answer carries
//! the server's root password. The quote must keep the provider's words and lose the
//! password everywhere it travels: the job JSON, `error.provider_message`, the signed
//! job callback and the worker's log.

use provisioner_sandbox::sim::{FaultKnobs, Preface};
use provisioner_tests::hooks::Receiver;
use provisioner_tests::providers::{add_hostkey, start_hostkey};
use provisioner_tests::{
    CapturedLogs, TestRedis, spawn_api, spawn_worker, test_config, wait_until,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// What PHP prints ahead of a script's output when it trips over a notice.
const PHP_WARNING: &str = "<br />\n<b>Warning</b>:  Undefined array key \"deploy_key\" in <b>/var/www/invapi/eq.php</b> on line <b>412</b><br />\n";

/// A root password no other test uses, so that finding it anywhere is this test's leak.
fn unique_password() -> String {
    format!(
        "Leak{}!pw",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

fn provision(hostname: &str, password: &str, callback_url: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": format!("svc-{hostname}"),
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": hostname,
        "root_password": password,
        "callback_url": callback_url,
    })
}

#[tokio::test]
async fn a_php_warning_before_eq_show_quotes_the_answer_without_the_root_password()
-> anyhow::Result<()> {
    let logs = CapturedLogs::start();
    let redis = TestRedis::start().await?;
    let hk = start_hostkey().await?;
    let mut config = test_config(&redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    let receiver = Receiver::start(|_| 200).await?;
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;

    // First a 200 whose body is no longer JSON (an answer in an unknown shape), then a
    // 500 with the same body (an HTTP error quoting it).
    let cases = [
        (None, "leak-200.example.com"),
        (Some(500), "leak-500.example.com"),
    ];
    for (n, (status, hostname)) in cases.into_iter().enumerate() {
        let password = unique_password();
        hk.faults().set_action(
            "eq/show",
            FaultKnobs {
                preface: Some(Preface {
                    text: PHP_WARNING.to_owned(),
                    status,
                }),
                ..FaultKnobs::default()
            },
        )?;
        let id = api
            .post_job(&provision(hostname, &password, &receiver.url))
            .await?
            .expect(StatusCode::ACCEPTED)?
            .id()
            .to_owned();
        let job = api.wait_for_state(&id, "failed", LONG).await?;
        let delivered = wait_until("the failed job's callback", LONG, || async {
            Ok(receiver.received().get(n).cloned())
        })
        .await?;

        let job_text = job.to_string();
        assert!(
            !job_text.contains(&password),
            "the job JSON carries the root password: {job_text}"
        );
        let error = &job["error"];
        let message = error["message"].as_str().unwrap_or("");
        let quoted = error["provider_message"].as_str().unwrap_or(message);
        // The provider's own words stay: the warning and the server it was about.
        assert!(quoted.contains("Undefined array key"), "{error}");
        assert!(quoted.contains(hostname), "{error}");
        assert!(quoted.contains("[REDACTED]"), "{error}");
        if status.is_none() {
            assert!(
                error["provider_message"].is_string(),
                "a body in an unknown shape is quoted as the provider's words: {error}"
            );
        }

        assert!(delivered.verifies());
        let body = String::from_utf8_lossy(&delivered.body).into_owned();
        assert!(
            !body.contains(&password),
            "the signed callback carries the root password: {body}"
        );
        assert_eq!(delivered.json()["id"], id.as_str());

        let log = logs.text();
        assert!(
            log.contains("unknown shape") || log.contains("HTTP 500"),
            "the capture saw the worker's error lines"
        );
        assert!(
            !log.contains(&password),
            "the worker's log carries the root password"
        );
    }
    Ok(())
}
