//! Billing webhooks in: `POST /v1/webhooks/billing` with Standard Webhooks
//! signatures. Valid deliveries act exactly once; forged, altered, stale, replayed
//! and headerless ones are refused and change nothing.

use futures::StreamExt;
use provisioner_sandbox::hostkey::HostkeyEvent;
use provisioner_shared::config::PlanConfig;
use provisioner_shared::{Config, ProviderKind};
use provisioner_tests::hooks::{Delivery, unix_now};
use provisioner_tests::providers::{add_hostkey, start_hostkey};
use provisioner_tests::{
    TestApi, TestRedis, WEBHOOK_SECRET, account, spawn_api, spawn_worker, test_config,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// A config with a `noop` account and plans `noop-1` (one step) and `noop-parked`
/// (its first step waits an hour).
fn noop_config(redis: &TestRedis) -> Config {
    let mut config = test_config(redis);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    let plan = |order: Value| PlanConfig {
        account: "noop".into(),
        order,
        reinstall: None,
    };
    config
        .plans
        .insert("noop-1".into(), plan(json!({"steps": 1})));
    config.plans.insert(
        "noop-parked".into(),
        plan(json!({"steps": 1, "wait_ms": 3_600_000})),
    );
    config
}

fn created(service_id: &str, plan: &str) -> Value {
    json!({"type": "service.created", "data": {"service_id": service_id, "plan": plan}})
}

fn event(kind: &str, service_id: &str) -> Value {
    json!({"type": kind, "data": {"service_id": service_id}})
}

async fn jobs_of(api: &TestApi, service_id: &str) -> anyhow::Result<Vec<Value>> {
    let page = api
        .list_jobs(&format!("reference={service_id}"))
        .await?
        .expect(StatusCode::OK)?;
    Ok(page.body["jobs"].as_array().cloned().unwrap_or_default())
}

fn jobs_named(reply: &provisioner_tests::Reply) -> Vec<String> {
    reply.body["jobs"]
        .as_array()
        .map(|j| {
            j.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_valid_delivery_acts_once_and_its_replays_do_nothing() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let api = spawn_api(noop_config(&redis)).await?;

    let first = Delivery::signed("msg_created_1", &created("svc-1", "noop-1"));
    let reply = first.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "provision");
    let job_id = jobs_named(&reply).pop().expect("the answer names the job");
    let jobs = jobs_of(&api, "svc-1").await?;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["id"], job_id.as_str());
    assert_eq!(jobs[0]["kind"], "provision");
    assert_eq!(jobs[0]["account"], "noop");

    // the same delivery again, and re-signed with a fresh timestamp: a duplicate
    let again = first.send(&api).await?.expect(StatusCode::OK)?;
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(jobs_named(&again), vec![job_id.clone()]);
    let resigned = Delivery::signed("msg_created_1", &created("svc-1", "noop-1"));
    resigned.send(&api).await?.expect(StatusCode::OK)?;

    // another event for the same live service: it names the live provision
    let second = Delivery::signed("msg_created_2", &created("svc-1", "noop-1"));
    let reply = second.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "already_provisioning");
    assert_eq!(jobs_named(&reply), vec![job_id.clone()]);
    assert_eq!(
        jobs_of(&api, "svc-1").await?.len(),
        1,
        "one live provision per service"
    );

    // an unknown event type is acknowledged and ignored
    let other = Delivery::signed("msg_other", &event("service.suspended", "svc-1"));
    let reply = other.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "ignored");
    assert_eq!(jobs_of(&api, "svc-1").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_bad_event_is_refused_naming_its_field_and_writes_nothing() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let hk = start_hostkey().await?;
    let mut config = noop_config(&redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    config.plans.insert(
        "vps-small".into(),
        PlanConfig {
            account: "hk-nl".into(),
            order: json!({"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"}),
            reinstall: None,
        },
    );
    let api = spawn_api(config).await?;
    let before = redis.keys().await?;
    let cases = [
        (created("svc-2", "no-such-plan"), "data.plan"),
        (
            json!({"type": "service.created", "data": {"plan": "noop-1"}}),
            "data.service_id",
        ),
        // a HOSTKEY provision needs a hostname and a root password
        (created("svc-2", "vps-small"), "data.hostname"),
        (
            json!({"type": "service.created", "data": {"service_id": "svc-2", "plan": "noop-1", "callback_url": "ftp://x"}}),
            "data.callback_url",
        ),
        (
            json!({"type": "invoice.paid", "data": {"service_id": [1]}}),
            "data.service_id",
        ),
        (json!({"type": "invoice.paid"}), "data"),
    ];
    for (i, (body, field)) in cases.iter().enumerate() {
        let reply = Delivery::signed(&format!("msg_bad_{i}"), body)
            .send(&api)
            .await?;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.error_field(), Some(*field), "{body}: {}", reply.text);
    }
    let not_json =
        Delivery::signed_with(WEBHOOK_SECRET, "msg_bad_x", unix_now(), b"{nope".to_vec());
    assert_eq!(not_json.send(&api).await?.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        redis.keys().await?,
        before,
        "a refused delivery writes nothing"
    );

    // a refused delivery did not use up its id: fixed, it goes through
    let fixed = json!({"type": "service.created", "data": {
        "service_id": "svc-2", "plan": "vps-small", "hostname": "svc-2.example.com",
        "root_password": "S3cure!pass", "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"]
    }});
    let reply = Delivery::signed("msg_bad_2", &fixed)
        .send(&api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let id = jobs_named(&reply).pop().expect("a job");
    let job = api.get_job(&id).await?.expect(StatusCode::OK)?.body;
    assert_eq!(job["reference"], "svc-2");
    assert_eq!(job["provider"], "hostkey");
    assert!(
        !job.to_string().contains("S3cure"),
        "no secret in the job JSON"
    );
    Ok(())
}

#[tokio::test]
async fn service_terminated_deprovisions_a_provisioned_server_once() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let hk = start_hostkey().await?;
    let mut config = test_config(&redis);
    add_hostkey(&mut config, "hk-nl", &hk);
    config.plans.insert(
        "vps-small".into(),
        PlanConfig {
            account: "hk-nl".into(),
            order: json!({"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"}),
            reinstall: None,
        },
    );
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;

    let body = json!({"type": "service.created", "data": {
        "service_id": 4711, "plan": "vps-small", "hostname": "web-4711.example.com",
        "root_password": "S3cure!pass", "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com"]
    }});
    let reply = Delivery::signed("msg_c_4711", &body)
        .send(&api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let provision = jobs_named(&reply).pop().expect("a provision job");
    let job = api.wait_for_state(&provision, "succeeded", LONG).await?;
    let server_id = job["server"]["id"].as_str().expect("a server").to_owned();

    let terminated = Delivery::signed("msg_t_4711", &event("service.terminated", "4711"));
    let reply = terminated.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "deprovision", "{}", reply.text);
    let deprovision = jobs_named(&reply).pop().expect("a deprovision job");
    let job = api.wait_for_state(&deprovision, "succeeded", LONG).await?;
    assert_eq!(job["kind"], "deprovision");
    assert_eq!(job["server"]["id"], server_id.as_str());
    assert_eq!(job["reference"], "4711");
    let cancelled = hk
        .ledger()
        .count(|e| matches!(e, HostkeyEvent::Cancellation { .. }));
    assert_eq!(cancelled, 1, "the server was cancelled upstream once");

    // the same event again (a replay, or the sender's second copy): nothing more
    terminated.send(&api).await?.expect(StatusCode::OK)?;
    let again = Delivery::signed("msg_t_4711_b", &event("service.terminated", "4711"));
    let reply = again.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "already_deprovisioning");
    assert_eq!(jobs_named(&reply), vec![deprovision.clone()]);
    let kinds: Vec<String> = jobs_of(&api, "4711")
        .await?
        .iter()
        .map(|j| j["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds, vec!["deprovision", "provision"]);

    // a service we never provisioned: acknowledged, nothing done
    let unknown = Delivery::signed(
        "msg_t_none",
        &event("service.terminated", "no-such-service"),
    );
    let reply = unknown.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "nothing");
    Ok(())
}

#[tokio::test]
async fn service_terminated_cancels_a_live_provision() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let config = noop_config(&redis);
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    let reply = Delivery::signed("msg_c_live", &created("svc-live", "noop-parked"))
        .send(&api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let id = jobs_named(&reply).pop().expect("a job");
    api.wait_for_state(&id, "waiting", LONG).await?;
    let reply = Delivery::signed("msg_t_live", &event("service.terminated", "svc-live"))
        .send(&api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "cancel");
    assert_eq!(jobs_named(&reply), vec![id.clone()]);
    api.wait_for_state(&id, "cancelled", LONG).await?;
    Ok(())
}

#[tokio::test]
async fn invoice_paid_makes_a_parked_job_due_now() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let config = noop_config(&redis);
    let api = spawn_api(config.clone()).await?;
    let _worker = spawn_worker(config).await?;
    let reply = Delivery::signed("msg_c_paid", &created("svc-paid", "noop-parked"))
        .send(&api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let id = jobs_named(&reply).pop().expect("a job");
    // its next poll is an hour away
    api.wait_for_state(&id, "waiting", LONG).await?;

    let reply = Delivery::signed("msg_paid", &event("invoice.paid", "svc-paid"))
        .send(&api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "poke");
    assert_eq!(jobs_named(&reply), vec![id.clone()]);
    // far below the hour it was parked for
    api.wait_for_state(&id, "succeeded", Duration::from_secs(20))
        .await?;
    Ok(())
}

#[tokio::test]
async fn rotation_a_header_with_an_old_and_a_new_signature_passes() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let api = spawn_api(noop_config(&redis)).await?;
    let body = created("svc-rot", "noop-1").to_string().into_bytes();
    let ts = unix_now();
    let old = Delivery::signed_with(
        "whsec_b2xkLXNlY3JldC1ub3QtY29uZmlndXJlZA==",
        "msg_rot",
        ts,
        body.clone(),
    );
    let new = Delivery::signed_with(WEBHOOK_SECRET, "msg_rot", ts, body);
    let both = Delivery {
        signature: Some(format!(
            "{} {}",
            old.signature.clone().unwrap_or_default(),
            new.signature.clone().unwrap_or_default()
        )),
        ..new
    };
    assert_eq!(old.send(&api).await?.status, StatusCode::UNAUTHORIZED);
    let reply = both.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "provision");
    Ok(())
}

/// Which refusal each generated delivery must get.
fn bad_delivery(i: usize, accepted: &Delivery) -> (Delivery, StatusCode) {
    let now = unix_now();
    let id = format!("msg_bad_{i}");
    let body = created(&format!("svc-bad-{i}"), "noop-1")
        .to_string()
        .into_bytes();
    let good = Delivery::signed_with(WEBHOOK_SECRET, &id, now, body.clone());
    let unauthorized = StatusCode::UNAUTHORIZED;
    let bad_request = StatusCode::BAD_REQUEST;
    match i % 10 {
        // forged: signed with a secret of the attacker's
        0 => {
            let secret = format!(
                "whsec_{}",
                ["Zm9yZ2Vk", "YXR0YWNrZXI=", "c2VjcmV0LXg="][i % 3]
            );
            (Delivery::signed_with(&secret, &id, now, body), unauthorized)
        }
        // altered after signing: one byte of the body, or a field added
        1 => {
            let mut d = good;
            let at = i % d.body.len();
            d.body[at] = d.body[at].wrapping_add(1);
            (d, unauthorized)
        }
        2 => {
            let mut d = good;
            let mut v: Value = serde_json::from_slice(&d.body).unwrap_or_default();
            v["data"]["plan"] = json!("noop-parked");
            d.body = v.to_string().into_bytes();
            (d, unauthorized)
        }
        // stale, or from the future, properly signed for that time
        3 => {
            let ts = now - 301 - (i as i64 % 5000);
            (
                Delivery::signed_with(WEBHOOK_SECRET, &id, ts, body),
                bad_request,
            )
        }
        4 => {
            let ts = now + 301 + (i as i64 % 5000);
            (
                Delivery::signed_with(WEBHOOK_SECRET, &id, ts, body),
                bad_request,
            )
        }
        // replayed: the accepted delivery's signature under a fresh timestamp or id
        5 => {
            let signed_at: i64 = accepted
                .timestamp
                .as_deref()
                .and_then(|t| t.parse().ok())
                .unwrap_or(now);
            let later = signed_at + 1 + (i as i64 % 200);
            (
                Delivery {
                    timestamp: Some(later.to_string()),
                    ..accepted.clone()
                },
                unauthorized,
            )
        }
        6 => (
            Delivery {
                id: Some(id),
                ..accepted.clone()
            },
            unauthorized,
        ),
        // headers missing or malformed
        7 => (
            Delivery {
                signature: None,
                ..good
            },
            unauthorized,
        ),
        8 => match i % 3 {
            0 => (Delivery { id: None, ..good }, bad_request),
            1 => (
                Delivery {
                    timestamp: None,
                    ..good
                },
                bad_request,
            ),
            _ => (
                Delivery {
                    timestamp: Some(format!("{now}.5")),
                    ..good
                },
                bad_request,
            ),
        },
        _ => {
            let junk = ["v1,", "v1,!!!!", "v2,abcd", "garbage", "v1a,xyz v0,abc"][i % 5];
            (
                Delivery {
                    signature: Some(junk.to_owned()),
                    ..good
                },
                unauthorized,
            )
        }
    }
}

#[tokio::test]
async fn thousands_of_forged_altered_stale_replayed_and_headerless_deliveries_change_nothing()
-> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let api = spawn_api(noop_config(&redis)).await?;
    let accepted = Delivery::signed("msg_accepted", &created("svc-ok", "noop-1"));
    accepted.send(&api).await?.expect(StatusCode::ACCEPTED)?;
    let keys_before = redis.keys().await?;
    let jobs_before = api
        .list_jobs("limit=200")
        .await?
        .expect(StatusCode::OK)?
        .body;

    const N: usize = 3000;
    let results: Vec<(usize, StatusCode, StatusCode, String)> = futures::stream::iter(0..N)
        .map(|i| {
            let (delivery, expected) = bad_delivery(i, &accepted);
            let api = &api;
            async move {
                let reply = delivery.send(api).await?;
                Ok::<_, anyhow::Error>((i, expected, reply.status, reply.text))
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    assert_eq!(results.len(), N);
    for (i, expected, got, text) in &results {
        assert_eq!(got, expected, "delivery {i} (variant {}): {text}", i % 10);
    }

    // an exact replay of the accepted delivery is a harmless duplicate
    for _ in 0..20 {
        let reply = accepted.send(&api).await?.expect(StatusCode::OK)?;
        assert_eq!(reply.body["duplicate"], true);
    }

    assert_eq!(redis.keys().await?, keys_before, "no key was written");
    let jobs_after = api
        .list_jobs("limit=200")
        .await?
        .expect(StatusCode::OK)?
        .body;
    assert_eq!(jobs_after, jobs_before, "no job was created or changed");
    assert_eq!(jobs_after["jobs"].as_array().map(Vec::len), Some(1));
    Ok(())
}

#[tokio::test]
async fn without_a_webhook_secret_the_route_is_off() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let mut config = noop_config(&redis);
    config.api.webhook_secret.clear();
    let api = spawn_api(config).await?;
    let reply = Delivery::signed("msg_off", &created("svc-off", "noop-1"))
        .send(&api)
        .await?;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.error_message().contains("webhook_secret"));
    assert!(jobs_of(&api, "svc-off").await?.is_empty());
    Ok(())
}

/// A deployed Redis holds webhook ids as the previous version wrote them: its
/// answer (JSON) is replayed as it is, and its `pending:` mark of a handler that
/// died is taken over after the grace, so the delivery acts once.
#[tokio::test]
async fn webhook_ids_written_by_the_previous_version_are_honoured() -> anyhow::Result<()> {
    use provisioner_shared::store::{Keys, Subject};
    let redis = TestRedis::start().await?;
    let api = spawn_api(noop_config(&redis)).await?;
    let keys = Keys::new(&api.config.redis.namespace, api.config.worker.shards);
    let mut c = redis.connection().await?;
    let answered = r#"{"type":"invoice.paid","service_id":"svc-old","action":"nothing","jobs":[],"message":"from before the upgrade","duplicate":false}"#;
    let _: () = redis::AsyncCommands::set(
        &mut c,
        keys.reservation(&Subject::Webhook {
            id: "msg_old_answered",
        }),
        answered,
    )
    .await?;
    let _: () = redis::AsyncCommands::set(
        &mut c,
        keys.reservation(&Subject::Webhook {
            id: "msg_old_pending",
        }),
        "pending:01JD0000000000000000000000",
    )
    .await?;

    let reply = Delivery::signed("msg_old_answered", &event("invoice.paid", "svc-old"))
        .send(&api)
        .await?
        .expect(StatusCode::OK)?;
    assert_eq!(reply.body["duplicate"], true, "{}", reply.text);
    assert_eq!(reply.body["message"], "from before the upgrade");

    let reply = Delivery::signed("msg_old_pending", &created("svc-new", "noop-1"))
        .send(&api)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(reply.body["action"], "provision", "{}", reply.text);
    assert_eq!(jobs_of(&api, "svc-new").await?.len(), 1);
    Ok(())
}
