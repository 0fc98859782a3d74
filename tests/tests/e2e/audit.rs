//! The audit trail of a job's provider calls (issue 13 point 1): every call a step
//! makes is on `GET /v1/jobs/{id}/calls`, in order, with status and latency, its
//! bodies redacted; the last `[audit] calls_per_job` are kept, as long as the job;
//! only a token with the `read` scope sees it. And the canary: secrets a job and its
//! account carry never reach the trail, at any of the four providers.

use provisioner_sandbox::hostkey::{HostkeyOptions, HostkeySim};
use provisioner_sandbox::idcloudhost::{IdcloudhostOptions, IdcloudhostSim};
use provisioner_sandbox::inferno::{InfernoOptions, InfernoSim};
use provisioner_sandbox::klikk::{KlikkOptions, KlikkSim};
use provisioner_shared::config::{ApiToken, Scope};
use provisioner_shared::secret::ConfigSecret;
use provisioner_shared::store::Keys;
use provisioner_tests::providers::start_hostkey;
use provisioner_tests::{API_TOKEN, TestApp, spawn_app, wait_until};
use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// A token that may act on jobs but not read them.
const WRITE_ONLY_TOKEN: &str = "test-write-only-token-5e1f";

fn hostkey_provision(hostname: &str, password: &str, ssh_key: &str) -> Value {
    json!({
        "kind": "provision",
        "account": "hk-nl",
        "reference": format!("svc-{hostname}"),
        "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
        "hostname": hostname,
        "root_password": password,
        "ssh_keys": [ssh_key],
    })
}

async fn enqueue(app: &TestApp, body: &Value) -> anyhow::Result<String> {
    Ok(app
        .api
        .post_job(body)
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned())
}

/// `GET /v1/jobs/{id}/calls` with `token`, `query` and `accept` as given: status, and
/// the body as text.
async fn calls_raw(
    app: &TestApp,
    id: &str,
    token: Option<&str>,
    query: &str,
    accept: Option<&str>,
) -> anyhow::Result<(StatusCode, String, String)> {
    let mut req = app
        .api
        .anonymous()
        .get(app.api.url(&format!("/v1/jobs/{id}/calls{query}")));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(accept) = accept {
        req = req.header("Accept", accept);
    }
    let res = req.send().await?;
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    Ok((status, kind, res.text().await?))
}

/// The trail as JSON (an array of calls).
async fn calls(app: &TestApp, id: &str) -> anyhow::Result<Vec<Value>> {
    let (status, _, body) = calls_raw(app, id, Some(API_TOKEN), "", None).await?;
    anyhow::ensure!(status == StatusCode::OK, "{status}: {body}");
    Ok(serde_json::from_str(&body)?)
}

/// A string no other test uses, letters and digits only.
fn canary(kind: &str) -> String {
    format!(
        "Canary{kind}{}",
        ulid::Ulid::new().to_string().to_ascii_lowercase()
    )
}

fn position(calls: &[Value], action: &str) -> Option<usize> {
    calls.iter().position(|c| c["action"] == action)
}

#[tokio::test]
async fn a_hostkey_provisions_trail_lists_login_order_and_payment_in_order() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .with_worker()
        .start()
        .await?;
    let id = enqueue(
        &app,
        &hostkey_provision(
            "trail.example.com",
            "S3cure!pass",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com",
        ),
    )
    .await?;
    // A job that has made no call yet may already answer: an empty trail, not a 404.
    let (status, _, _) = calls_raw(&app, &id, Some(API_TOKEN), "", None).await?;
    assert_eq!(status, StatusCode::OK);
    app.api.wait_for_state(&id, "succeeded", LONG).await?;

    let trail = calls(&app, &id).await?;
    let login = position(&trail, "login").expect("the trail has the login");
    let order = position(&trail, "order_instance").expect("the trail has the order");
    let payment = position(&trail, "apply_credit").expect("the trail has the payment");
    assert!(
        login < order && order < payment,
        "login, order, payment in order: {trail:#?}"
    );
    assert_eq!(trail[order]["step"], "order");
    assert_eq!(trail[order]["path"], "/eq.php");
    assert_eq!(trail[login]["path"], "/auth.php");
    for call in &trail {
        assert_eq!(call["provider"], "hostkey", "{call}");
        assert_eq!(call["account"], "hk-nl", "{call}");
        assert_eq!(call["method"], "POST", "{call}");
        assert_eq!(call["status"], 200, "{call}");
        assert!(call["latency_ms"].is_u64(), "{call}");
        assert!(call["attempt"].as_u64().is_some_and(|a| a >= 1), "{call}");
        assert!(
            call["at"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{call}"
        );
        assert!(
            !call["path"].as_str().unwrap_or("?").contains('?'),
            "{call}"
        );
    }
    let times: Vec<&str> = trail.iter().filter_map(|c| c["at"].as_str()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "oldest first: {times:?}"
    );
    // The bodies are there, redacted: the login sent the account's key, the answer
    // held a token, the order the root password.
    let login_call = &trail[login];
    let sent = login_call["request"].as_str().unwrap_or("");
    assert!(sent.contains("action=login"), "{login_call}");
    assert!(sent.contains("key=[REDACTED]"), "{login_call}");
    assert!(!sent.contains(app.hostkey().api_key()), "{login_call}");
    let answer = login_call["response"].as_str().unwrap_or("");
    assert!(answer.contains("[REDACTED]"), "{login_call}");
    let order_call = &trail[order];
    assert!(
        !order_call.to_string().contains("S3cure!pass"),
        "{order_call}"
    );
    assert!(
        order_call["response"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{order_call}"
    );

    // The same trail as JSON lines: by Accept, and by ?format=jsonl.
    for (query, accept) in [("", Some("application/x-ndjson")), ("?format=jsonl", None)] {
        let (status, kind, body) = calls_raw(&app, &id, Some(API_TOKEN), query, accept).await?;
        assert_eq!(status, StatusCode::OK);
        assert!(kind.starts_with("application/x-ndjson"), "{kind}");
        let lines: Vec<Value> = body
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert_eq!(lines, trail);
        if query.is_empty() {
            // For the report: what an export looks like.
            for line in body.lines().take(10) {
                println!("TRAIL {line}");
            }
        }
    }
    let (status, _, body) = calls_raw(&app, &id, Some(API_TOKEN), "?format=xml", None).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("format"), "{body}");
    Ok(())
}

#[tokio::test]
async fn the_trail_needs_the_read_scope_and_a_known_job() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .tune(|c| {
            c.api.tokens.push(ApiToken {
                name: "writer".into(),
                token: ConfigSecret::from(WRITE_ONLY_TOKEN),
                scopes: [Scope::Write].into_iter().collect(),
            })
        })
        .start()
        .await?;
    let id = enqueue(
        &app,
        &hostkey_provision(
            "scope.example.com",
            "S3cure!pass",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com",
        ),
    )
    .await?;
    let (status, _, _) = calls_raw(&app, &id, None, "", None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, body) = calls_raw(&app, &id, Some(WRITE_ONLY_TOKEN), "", None).await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("read"),
        "the answer names the missing scope: {body}"
    );
    let (status, _, body) = calls_raw(&app, &id, Some(API_TOKEN), "", None).await?;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "[]"));
    let unknown = ulid::Ulid::new().to_string();
    let (status, _, _) = calls_raw(&app, &unknown, Some(API_TOKEN), "", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = calls_raw(&app, "not-a-job", Some(API_TOKEN), "", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn only_the_last_calls_are_kept_and_the_trail_expires_with_its_job() -> anyhow::Result<()> {
    let app = spawn_app()
        .hostkey("hk-nl", start_hostkey().await?)
        .tune(|c| {
            c.audit.calls_per_job = 3;
            c.retention.finished = Duration::from_secs(5);
        })
        .with_worker()
        .start()
        .await?;
    let id = enqueue(
        &app,
        &hostkey_provision(
            "bound.example.com",
            "S3cure!pass",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com",
        ),
    )
    .await?;
    let job = app.api.wait_for_state(&id, "succeeded", LONG).await?;
    // The worker saves a step's calls just after its commit: the trail is complete
    // once it has the ended job's expiry.
    let keys = Keys::new(app.redis.namespace(), app.config.worker.shards);
    let mut c = app.redis.connection().await?;
    wait_until("the trail to get the ended job's expiry", LONG, || async {
        let mut c = app.redis.connection().await?;
        let ttl: i64 = c.pttl(keys.calls(&id)).await?;
        Ok((ttl > 0).then_some(()))
    })
    .await?;
    let trail = calls(&app, &id).await?;
    assert_eq!(trail.len(), 3, "the last 3 calls: {trail:#?}");
    let last_step = job["steps"]
        .as_array()
        .and_then(|s| s.last())
        .map(|s| s["name"].clone())
        .unwrap_or_default();
    assert_eq!(
        trail[2]["step"], last_step,
        "the newest call is kept: {trail:#?}"
    );
    assert!(
        position(&trail, "login").is_none(),
        "the oldest calls went first: {trail:#?}"
    );

    // The trail expires with the job: the same TTL, the retention's.
    let job_ttl: i64 = c.pttl(keys.job(&id)).await?;
    let calls_ttl: i64 = c.pttl(keys.calls(&id)).await?;
    assert!(
        0 < calls_ttl && calls_ttl <= job_ttl && job_ttl <= 5_000,
        "job {job_ttl} ms, trail {calls_ttl} ms"
    );
    wait_until("the job's retention to run out", LONG, || async {
        let mut c = app.redis.connection().await?;
        let gone: bool = !c.exists::<_, bool>(keys.job(&id)).await?;
        Ok(gone.then_some(()))
    })
    .await?;
    let left: bool = c.exists(keys.calls(&id)).await?;
    assert!(!left, "the trail outlived its job");
    let (status, _, _) = calls_raw(&app, &id, Some(API_TOKEN), "", None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}

/// Every value under the test's namespace, as raw text, by key.
async fn raw_values(app: &TestApp) -> anyhow::Result<Vec<(String, String)>> {
    let mut c = app.redis.connection().await?;
    let mut out = Vec::new();
    for key in app.redis.keys().await? {
        let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut c).await?;
        let text = match kind.as_str() {
            "string" => c.get::<_, Option<String>>(&key).await?.unwrap_or_default(),
            "hash" => {
                let h: Vec<String> = c.hgetall::<_, Vec<String>>(&key).await?;
                h.join("\n")
            }
            "list" => c.lrange::<_, Vec<String>>(&key, 0, -1).await?.join("\n"),
            "set" => c.smembers::<_, Vec<String>>(&key).await?.join("\n"),
            "zset" => c.zrange::<_, Vec<String>>(&key, 0, -1).await?.join("\n"),
            _ => String::new(),
        };
        out.push((key, text));
    }
    Ok(out)
}

#[tokio::test]
async fn no_secret_of_a_job_or_its_account_reaches_the_trail_at_any_provider() -> anyhow::Result<()>
{
    let api_key = canary("Key");
    let pin = canary("Pin");
    let token = canary("Token");
    let password = format!("{}!9", canary("Root"));
    let ssh_body = canary("Ssh");
    let ssh_key = format!("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5{ssh_body} ops@example.com");
    let minute = Duration::from_secs(60);
    let hostkey = HostkeySim::start(HostkeyOptions {
        time_factor: 3000.0,
        delivery: 10 * minute,
        stage_durations: [minute, 2 * minute, 2 * minute, minute, minute, minute],
        action_delay: Duration::from_secs(5),
        api_key: format!("{api_key}hk"),
        pin: pin.clone(),
        ..HostkeyOptions::default()
    })
    .await?;
    let klikk = KlikkSim::start(KlikkOptions {
        time_factor: 3000.0,
        provisioning: 5 * minute,
        token: token.clone(),
        ..KlikkOptions::default()
    })
    .await?;
    let inferno = InfernoSim::start(InfernoOptions {
        time_factor: 3000.0,
        auto_pay: true,
        payment_delay: 2 * minute,
        install_duration: 5 * minute,
        api_key: format!("{api_key}inf"),
        ..InfernoOptions::default()
    })
    .await?;
    let idcloudhost = IdcloudhostSim::start(IdcloudhostOptions {
        time_factor: 3000.0,
        boot: 2 * minute,
        api_key: format!("{api_key}idc"),
        ..IdcloudhostOptions::default()
    })
    .await?;
    let app = spawn_app()
        .hostkey("hk-nl", hostkey)
        .klikk("klikk", klikk)
        .inferno("inferno", inferno)
        .idcloudhost("idc", idcloudhost, true)
        .with_worker()
        .start()
        .await?;

    let requests = [
        hostkey_provision("canary-hk.example.com", &password, &ssh_key),
        json!({
            "kind": "provision", "account": "klikk", "reference": "svc-canary-klikk",
            "hostname": "canary-klikk.example.com",
            "order": {"ram_gb": 0.5, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "203.0.113.0/24"},
            "root_password": password, "ssh_keys": [ssh_key],
        }),
        json!({
            "kind": "provision", "account": "inferno", "reference": "svc-canary-inferno",
            "hostname": "canary-inferno.example.com",
            "order": {"product_id": 303, "os_template": "centos7-64-default"},
            "root_password": password, "ssh_keys": [ssh_key],
        }),
        json!({
            "kind": "provision", "account": "idc", "reference": "svc-canary-idc",
            "hostname": "canary-idc.example.com",
            "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 2, "ram_mb": 2048, "disk_gb": 20},
            "root_password": password, "ssh_keys": [ssh_key],
        }),
    ];
    let mut ids = Vec::new();
    for body in &requests {
        ids.push(enqueue(&app, body).await?);
    }
    let canaries = [&api_key, &pin, &token, &password, &ssh_body];
    for (id, body) in ids.iter().zip(&requests) {
        let job = app.api.wait_for_end(id, LONG).await?;
        assert_eq!(job["state"], "succeeded", "{job}");
        // The password the server has (Inferno's is the provider's own) is a secret too.
        let login = app.api.credentials(id).await?.expect(StatusCode::OK)?.body;
        let server_password = login["password"].as_str().unwrap_or("").to_owned();
        let trail = calls(&app, id).await?;
        assert!(!trail.is_empty(), "{}: an empty trail", body["account"]);
        for (query, accept) in [
            ("", None),
            ("?format=jsonl", None),
            ("", Some("application/x-ndjson")),
        ] {
            let (status, _, text) = calls_raw(&app, id, Some(API_TOKEN), query, accept).await?;
            assert_eq!(status, StatusCode::OK);
            for secret in canaries {
                assert!(
                    !text.contains(secret.as_str()),
                    "{}: the trail carries a canary ({secret}): {text}",
                    body["account"]
                );
            }
            if server_password.len() >= 4 {
                assert!(
                    !text.contains(&server_password),
                    "{}: the trail carries the server's password: {text}",
                    body["account"]
                );
            }
        }
    }

    // Nor in Redis: no key holds the account's secrets or the root password; the
    // trails hold no canary at all (the job record keeps the public ssh key, the
    // request as given).
    let keys = Keys::new(app.redis.namespace(), app.config.worker.shards);
    let trails: Vec<String> = ids.iter().map(|id| keys.calls(id)).collect();
    let values = raw_values(&app).await?;
    assert!(
        trails.iter().all(|t| values.iter().any(|(k, _)| k == t)),
        "every job has a trail in Redis"
    );
    for (key, text) in &values {
        for secret in [&api_key, &pin, &token, &password] {
            assert!(!text.contains(secret.as_str()), "{key} holds {secret}");
        }
        if trails.contains(key) {
            assert!(!text.contains(&ssh_body), "{key} holds the ssh key");
        }
    }
    Ok(())
}
