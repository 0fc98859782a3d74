//! The HTTP contract: auth, the error shape, validation (which writes nothing),
//! enqueue and idempotency keys.

use crate::{hostkey_provision, noop_provision, start};
use provisioner_shared::config::{ApiToken, Scope};
use provisioner_shared::secret::ConfigSecret;
use provisioner_shared::store::Keys;
use provisioner_tests::{Reply, TestApi, TestRedis, spawn_api, test_config, wait_until};
use redis::AsyncCommands;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn keys(api: &TestApi) -> Keys {
    Keys::new(&api.config.redis.namespace, api.config.worker.shards)
}

/// Only the deployment's meta key (written at connect) may exist.
async fn assert_nothing_written(redis: &TestRedis, api: &TestApi) -> anyhow::Result<()> {
    let listed = api.list_jobs("").await?.expect(StatusCode::OK)?;
    assert_eq!(
        listed.body["jobs"],
        json!([]),
        "jobs were listed: {}",
        listed.text
    );
    assert_eq!(
        redis.keys().await?,
        vec![keys(api).meta()],
        "keys were written"
    );
    Ok(())
}

async fn post_raw(
    api: &TestApi,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> anyhow::Result<Reply> {
    let mut req = api.client.post(api.url("/v1/jobs")).body(body);
    if let Some(ct) = content_type {
        req = req.header(CONTENT_TYPE, ct);
    }
    Reply::read(req.send().await?).await
}

#[tokio::test]
async fn health_needs_no_token_and_readiness_sees_redis() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let anon = api.anonymous();
    let healthz = Reply::read(anon.get(api.url("/healthz")).send().await?).await?;
    assert_eq!(healthz.status, StatusCode::OK);
    let readyz = Reply::read(anon.get(api.url("/readyz")).send().await?).await?;
    assert_eq!(readyz.status, StatusCode::OK, "{}", readyz.text);
    Ok(())
}

#[tokio::test]
async fn readiness_follows_a_redis_outage_and_liveness_does_not() -> anyhow::Result<()> {
    let mut redis = TestRedis::start_private().await?;
    let api = spawn_api(test_config(&redis)).await?;
    let anon = api.anonymous();
    let status = |path: &'static str| {
        let (anon, url) = (anon.clone(), api.url(path));
        async move { anyhow::Ok(anon.get(url).send().await?.status()) }
    };
    assert_eq!(status("/readyz").await?, StatusCode::OK);

    redis.stop()?;
    let down = Reply::read(anon.get(api.url("/readyz")).send().await?).await?;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        down.text
    );
    assert_eq!(down.error_code(), Some("unavailable"));
    assert_eq!(status("/healthz").await?, StatusCode::OK);

    redis.restart().await?;
    wait_until(
        "/readyz to answer 200 again",
        Duration::from_secs(15),
        || async { Ok((status("/readyz").await? == StatusCode::OK).then_some(())) },
    )
    .await
}

#[tokio::test]
async fn v1_needs_a_valid_bearer_token() -> anyhow::Result<()> {
    let (redis, api) = start().await?;
    let anon = api.anonymous();
    let url = api.url("/v1/jobs");

    let none = Reply::read(anon.get(&url).send().await?).await?;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.error_code(), Some("unauthorized"));
    assert_eq!(none.headers["www-authenticate"], "Bearer");

    for malformed in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer    ",
        provisioner_tests::API_TOKEN,
    ] {
        let r = Reply::read(
            anon.get(&url)
                .header("authorization", malformed)
                .send()
                .await?,
        )
        .await?;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "{malformed:?}: {}",
            r.text
        );
    }

    let wrong = Reply::read(anon.get(&url).bearer_auth("not-the-token").send().await?).await?;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(wrong.error_code(), Some("forbidden"));
    // A prefix of the right token is still wrong.
    let prefix = &provisioner_tests::API_TOKEN[..8];
    let r = Reply::read(anon.get(&url).bearer_auth(prefix).send().await?).await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let r = Reply::read(anon.post(&url).json(&hostkey_provision()).send().await?).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_nothing_written(&redis, &api).await?;

    api.get("/v1/jobs").await?.expect(StatusCode::OK)?;
    Ok(())
}

/// Tokens with scopes beside the plain test token (read + write).
fn scoped(name: &str, token: &str, scopes: &[Scope]) -> ApiToken {
    ApiToken {
        name: name.to_owned(),
        token: ConfigSecret::from(token),
        scopes: scopes.iter().copied().collect(),
    }
}

#[tokio::test]
async fn a_token_acts_only_within_its_scopes() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let mut config = test_config(&redis);
    config.accounts.push(provisioner_tests::account(
        "noop",
        provisioner_shared::ProviderKind::Noop,
        "http://127.0.0.1:9/",
    ));
    config
        .api
        .tokens
        .push(scoped("monitor", "monitor-token", &[Scope::Read]));
    config
        .api
        .tokens
        .push(scoped("robot", "robot-token", &[Scope::Write]));
    let api = spawn_api(config).await?;
    let anon = api.anonymous();
    let as_token = |token: &'static str, req: reqwest::RequestBuilder| async move {
        Reply::read(req.bearer_auth(token).send().await?).await
    };

    // read-only: may look, may not act; the refusal names the missing scope
    as_token("monitor-token", anon.get(api.url("/v1/jobs")))
        .await?
        .expect(StatusCode::OK)?;
    let body = noop_provision("noop", None);
    let r = as_token("monitor-token", anon.post(api.url("/v1/jobs")).json(&body)).await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.error_code(), Some("forbidden"));
    assert_eq!(r.error_field(), Some("write"));
    assert!(
        r.error_message().contains("`write` scope") && r.error_message().contains("monitor"),
        "{}",
        r.text
    );
    assert_nothing_written(&redis, &api).await?;

    // write-only: may act, may not read
    let made = as_token("robot-token", anon.post(api.url("/v1/jobs")).json(&body))
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let job = format!("/v1/jobs/{}", made.id());
    let r = as_token("robot-token", anon.get(api.url(&job))).await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_field(), Some("read"));
    let r = as_token("robot-token", anon.get(api.url(&format!("{job}/events")))).await?;
    assert_eq!(r.error_field(), Some("read"), "{}", r.text);

    // a plain token string keeps both
    api.get(&job).await?.expect(StatusCode::OK)?;
    Ok(())
}

#[tokio::test]
async fn unknown_routes_methods_and_jobs_answer_in_the_error_shape() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let r = Reply::read(api.anonymous().get(api.url("/nope")).send().await?).await?;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let r = api.send(reqwest::Method::DELETE, "/v1/jobs", None).await?;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{}", r.text);
    assert_eq!(r.error_code(), Some("method_not_allowed"));

    let unknown = ulid::Ulid::new().to_string();
    for path in [
        format!("/v1/jobs/{unknown}"),
        "/v1/jobs/not-a-job-id".to_owned(),
        format!("/v1/jobs/{unknown}/events"),
    ] {
        let r = api.get(&path).await?;
        assert_eq!(
            (r.status, r.error_code()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}"
        );
    }
    for action in ["cancel", "retry"] {
        let r = api
            .post(&format!("/v1/jobs/{unknown}/{action}"), None)
            .await?;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}: {}", r.text);
    }
    let r = api
        .post(
            &format!("/v1/jobs/{unknown}/resolve"),
            Some(&json!({"action": "fail"})),
        )
        .await?;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    Ok(())
}

#[tokio::test]
async fn bad_input_names_the_field_and_writes_nothing() -> anyhow::Result<()> {
    let (redis, api) = start().await?;

    let without = |path: &str| {
        let mut v = hostkey_provision();
        match path.split_once('.') {
            Some((outer, inner)) => v[outer].as_object_mut().unwrap().remove(inner),
            None => v.as_object_mut().unwrap().remove(path),
        };
        v
    };
    let with = |path: &str, value: Value| {
        let mut v = hostkey_provision();
        match path.split_once('.') {
            Some((outer, inner)) => v[outer][inner] = value,
            None => v[path] = value,
        }
        v
    };
    let mut cases: Vec<(Value, &str)> = [
        "kind",
        "account",
        "order",
        "hostname",
        "order.preset",
        "order.location",
        "order.os_id",
        "order.traffic_plan",
        "order.deploy_period",
    ]
    .into_iter()
    .map(|f| (without(f), f))
    .collect();
    cases.extend([
        (with("kind", json!(5)), "kind"),
        (with("kind", json!("destroy")), "kind"),
        (with("account", json!("nope")), "account"),
        (with("order", json!([])), "order"),
        (with("order.os_id", json!("180")), "order.os_id"),
        (with("hostname", json!(7)), "hostname"),
        (with("hostname", json!("bad_host!")), "hostname"),
        (with("root_password", json!(12345678)), "root_password"),
        (with("ssh_keys", json!("ssh-ed25519 AAAA")), "ssh_keys"),
        (with("colour", json!("red")), "colour"),
        (
            json!({"kind": "deprovision", "account": "noop"}),
            "server_id",
        ),
    ]);
    for (body, field) in &cases {
        let r = api.post_job(body).await?;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {}",
            r.text
        );
        assert_eq!(r.error_field(), Some(*field), "{}", r.text);
        assert!(r.error_message().contains(field), "{}", r.text);
    }

    let json = Some("application/json");
    for (content_type, body, status) in [
        (json, "{\"kind\": ", StatusCode::BAD_REQUEST),
        (json, "[1, 2]", StatusCode::BAD_REQUEST),
        (json, "\"provision\"", StatusCode::BAD_REQUEST),
        (json, "", StatusCode::BAD_REQUEST),
        (Some("text/plain"), "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (None, "{}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ] {
        let r = post_raw(&api, content_type, body).await?;
        assert_eq!(r.status, status, "{content_type:?} {body:?}: {}", r.text);
        assert_eq!(r.error_field(), Some("body"), "{}", r.text);
    }

    let mut big = hostkey_provision();
    big["post_install_script"] = json!("x".repeat(api.config.api.body_limit));
    let r = post_raw(&api, json, serde_json::to_vec(&big)?).await?;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.error_field(), Some("body"));

    for key in ["", "tab\there", &"k".repeat(256)] {
        let r = api.post_job_with_key(&hostkey_provision(), key).await?;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{key:?}: {}", r.text);
        assert_eq!(r.error_field(), Some("Idempotency-Key"));
    }
    // A valid key with an invalid body: no reservation either.
    let r = api.post_job_with_key(&without("hostname"), "key-1").await?;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    assert_nothing_written(&redis, &api).await
}

#[tokio::test]
async fn a_valid_request_is_queued_and_shows_no_secret() -> anyhow::Result<()> {
    let (redis, api) = start().await?;
    let r = api
        .post_job(&hostkey_provision())
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let id = r.id().to_owned();
    assert_eq!(r.headers["location"], format!("/v1/jobs/{id}").as_str());
    let job = &r.body;
    assert_eq!(job["state"], "queued");
    assert_eq!(
        (job["kind"].as_str(), job["provider"].as_str()),
        (Some("provision"), Some("hostkey"))
    );
    assert_eq!(job["reference"], "whmcs-service-1234");
    assert_eq!(job["step"], "order");
    let steps: Vec<&str> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps.first(), Some(&"order"));
    assert!(
        steps.contains(&"create_pxe") && steps.contains(&"clear_pxe"),
        "{steps:?}"
    );

    let fetched = api.get_job(&id).await?.expect(StatusCode::OK)?;
    assert_eq!(fetched.body["id"], id.as_str());
    api.wait_for_state(&id, "queued", Duration::from_secs(5))
        .await?;

    // No secret in any answer, nor in plain text in Redis.
    let listed = api.list_jobs("").await?.expect(StatusCode::OK)?;
    for text in [&r.text, &fetched.text, &listed.text] {
        assert!(
            !text.contains("S3cure!pass") && !text.contains("top-secret-script"),
            "{text}"
        );
    }
    let mut c = redis.connection().await?;
    let record: Vec<String> = c.hvals(keys(&api).job(&id)).await?;
    assert!(!record.is_empty());
    assert!(
        record
            .iter()
            .all(|v| !v.contains("S3cure!pass") && !v.contains("top-secret-script"))
    );
    Ok(())
}

#[tokio::test]
async fn an_idempotency_key_gives_the_same_job_for_the_same_body() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let body = hostkey_provision();
    let first = api
        .post_job_with_key(&body, "order-1234")
        .await?
        .expect(StatusCode::ACCEPTED)?;

    // The same body with its keys in another order and other spacing is the same body.
    let mut text = String::from("{ ");
    let obj = body.as_object().unwrap();
    let reordered: Vec<String> = obj
        .iter()
        .rev()
        .map(|(k, v)| format!("{k:?} :  {v}"))
        .collect();
    text.push_str(&reordered.join(" ,\n"));
    text.push_str(" }");
    let res = api
        .client
        .post(api.url("/v1/jobs"))
        .header("Idempotency-Key", "order-1234")
        .header(CONTENT_TYPE, "application/json")
        .body(text)
        .send()
        .await?;
    let replay = Reply::read(res).await?.expect(StatusCode::OK)?;
    assert_eq!(replay.id(), first.id());

    let mut other = body.clone();
    other["hostname"] = json!("web-2.example.com");
    let conflict = api.post_job_with_key(&other, "order-1234").await?;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text);
    assert_eq!(conflict.error_code(), Some("idempotency_conflict"));

    let second = api
        .post_job_with_key(&body, "order-5678")
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_ne!(second.id(), first.id());
    let listed = api.list_jobs("").await?.expect(StatusCode::OK)?;
    assert_eq!(listed.body["jobs"].as_array().unwrap().len(), 2);
    Ok(())
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_job() -> anyhow::Result<()> {
    let (_redis, api) = start().await?;
    let body = noop_provision("noop", Some("race-1"));
    let replies =
        futures::future::join_all((0..8).map(|_| api.post_job_with_key(&body, "race-key"))).await;
    let replies: Vec<Reply> = replies.into_iter().collect::<Result<_, _>>()?;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::ACCEPTED)
        .count();
    assert_eq!(created, 1, "{replies:#?}");
    assert!(
        replies
            .iter()
            .all(|r| r.status.is_success() && r.id() == replies[0].id()),
        "{replies:#?}"
    );
    let listed = api
        .list_jobs("reference=race-1")
        .await?
        .expect(StatusCode::OK)?;
    assert_eq!(listed.body["jobs"].as_array().unwrap().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_reservation_whose_creator_died_is_taken_over_under_its_job_id() -> anyhow::Result<()> {
    let (redis, api) = start().await?;
    let body = noop_provision("noop", Some("dead-creator"));
    let first = api
        .post_job_with_key(&body, "dead-key")
        .await?
        .expect(StatusCode::ACCEPTED)?;
    let id = first.id().to_owned();

    // Leave the reservation but remove the job, as if the creator died before its
    // enqueue landed.
    let k = keys(&api);
    let mut c = redis.connection().await?;
    let _: () = c.del(k.job(&id)).await?;
    let _: () = c.zrem(k.due(k.shard_of(&id)), &id).await?;
    for index in [
        k.index_all(),
        k.index_account("noop"),
        k.index_reference("dead-creator"),
    ] {
        let _: () = c.zrem(index, &id).await?;
    }
    api.get_job(&id).await?.expect(StatusCode::NOT_FOUND)?;

    let started = Instant::now();
    let replay = api
        .post_job_with_key(&body, "dead-key")
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(replay.id(), id, "the takeover keeps the reserved job id");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the creator got its grace"
    );
    api.get_job(&id).await?.expect(StatusCode::OK)?;

    let again = api
        .post_job_with_key(&body, "dead-key")
        .await?
        .expect(StatusCode::OK)?;
    assert_eq!(again.id(), id);
    Ok(())
}
