//! Operations: `/metrics` (the api's counters, the schedule read from Redis, the
//! workers' flushed counters), `/openapi.json` (every route described, each one
//! served) and the `/ui` dashboard. None of them needs a token.

use provisioner_shared::{Config, ProviderKind};
use provisioner_tests::hooks::{Delivery, Receiver};
use provisioner_tests::{
    API_TOKEN, Reply, TestApi, TestRedis, WEBHOOK_SECRET, account, spawn_api, spawn_worker,
    test_config, wait_until,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(60);

/// What a request carries that must never become a label.
const HOSTNAME: &str = "metrics-secret-host.example.com";
const ROOT_PASSWORD: &str = "Zq7!metrics-root-pw";
const REFERENCE: &str = "svc-ref-metrics-4711";

fn config(redis: &TestRedis) -> Config {
    let mut config = test_config(redis);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    config
}

/// `GET /metrics` without a token: the page's text, after checking its type.
async fn scrape(api: &TestApi) -> anyhow::Result<String> {
    provisioner_tests::api::metrics_page(&api.url("/metrics")).await
}

/// The value of one series (`name{labels}` exactly as rendered), if present.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

fn has_family(page: &str, name: &str, kind: &str) -> bool {
    page.contains(&format!("# HELP {name} ")) && page.contains(&format!("# TYPE {name} {kind}\n"))
}

#[tokio::test]
async fn metrics_count_requests_jobs_webhooks_schedule_and_worker_steps_without_ids_or_secrets()
-> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let config = config(&redis);
    let api = spawn_api(config.clone()).await?;
    let receiver = Receiver::start(|_| 200).await?;

    let before = scrape(&api).await?;
    assert_eq!(value(&before, "provisioner_redis_up"), Some(1.0));
    assert_eq!(value(&before, "provisioner_due_jobs"), Some(0.0));
    assert!(!before.contains("provisioner_steps_total{"), "{before}");

    // Two jobs, no worker yet: both are the backlog.
    let waits = json!({
        "kind": "provision", "account": "noop", "reference": REFERENCE,
        "order": {"steps": 2, "wait_ms": 20},
        "hostname": HOSTNAME, "root_password": ROOT_PASSWORD,
        "callback_url": receiver.url,
    });
    let plain = json!({"kind": "provision", "account": "noop", "order": {"steps": 3}});
    let mut ids = Vec::new();
    for body in [&waits, &plain] {
        ids.push(
            api.post_job(body)
                .await?
                .expect(StatusCode::ACCEPTED)?
                .id()
                .to_owned(),
        );
    }
    let backlog = wait_until("the backlog to be overdue", LONG, || async {
        let page = scrape(&api).await?;
        let late = value(&page, "provisioner_oldest_due_seconds").unwrap_or(0.0);
        Ok((late > 0.0).then_some(page))
    })
    .await?;
    assert_eq!(
        value(&backlog, "provisioner_due_jobs"),
        Some(2.0),
        "{backlog}"
    );
    let scheduled: f64 = (0..config.worker.shards)
        .filter_map(|s| {
            value(
                &backlog,
                &format!("provisioner_scheduled_jobs{{shard=\"{s}\"}}"),
            )
        })
        .sum();
    assert_eq!(scheduled, 2.0, "{backlog}");
    assert_eq!(
        value(
            &backlog,
            "provisioner_jobs_enqueued_total{provider=\"noop\",kind=\"provision\"}"
        ),
        Some(2.0),
        "{backlog}"
    );

    // Requests of several kinds: by template, unauthenticated, unmatched, webhooks.
    api.get_job(&ids[0]).await?.expect(StatusCode::OK)?;
    let unauthorized = api
        .anonymous()
        .get(api.url(&format!("/v1/jobs/{}", ids[1])))
        .send()
        .await?;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    api.get(&format!("/v1/jobs/{}/nowhere", ids[0]))
        .await?
        .expect(StatusCode::NOT_FOUND)?;
    let paid = json!({"type": "invoice.paid", "data": {"service_id": "svc-nobody"}});
    let reply = Delivery::signed("msg_metrics_1", &paid).send(&api).await?;
    assert_eq!(
        reply.expect(StatusCode::ACCEPTED)?.body["action"],
        "nothing"
    );
    let mut forged = Delivery::signed("msg_metrics_2", &paid);
    forged.body = br#"{"type": "invoice.paid", "data": {"service_id": "svc-other"}}"#.to_vec();
    forged.send(&api).await?.expect(StatusCode::UNAUTHORIZED)?;

    // A worker runs both jobs and delivers the callback; its shutdown flushes its counts.
    let worker = spawn_worker(config.clone()).await?;
    for id in &ids {
        api.wait_for_state(id, "succeeded", LONG).await?;
    }
    wait_until("the callback to be delivered", LONG, || async {
        let job = api.get_job(&ids[0]).await?.expect(StatusCode::OK)?.body;
        let delivered = job["callbacks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|a| a["status"] == 200));
        Ok(delivered.then_some(()))
    })
    .await?;
    worker.shutdown().await?;

    let after = scrape(&api).await?;
    // Every family, now that each has samples (an empty one is not shown).
    for (name, kind) in [
        ("provisioner_http_requests_total", "counter"),
        ("provisioner_http_request_duration_seconds", "histogram"),
        ("provisioner_jobs_enqueued_total", "counter"),
        ("provisioner_webhooks_total", "counter"),
        ("provisioner_scheduled_jobs", "gauge"),
        ("provisioner_due_jobs", "gauge"),
        ("provisioner_oldest_due_seconds", "gauge"),
        ("provisioner_steps_total", "counter"),
        ("provisioner_callbacks_total", "counter"),
        ("provisioner_redis_up", "gauge"),
        ("provisioner_jobs", "gauge"),
    ] {
        assert!(
            has_family(&after, name, kind),
            "no {kind} {name} in\n{after}"
        );
    }
    let expect = |series: &str, at_least: f64| {
        let got = value(&after, series);
        assert!(
            got.is_some_and(|v| v >= at_least),
            "{series}: {got:?} (want ≥ {at_least}) in\n{after}"
        );
    };
    // 2 + 3 steps: one of them waited once first.
    expect(
        "provisioner_steps_total{provider=\"noop\",step=\"noop\",outcome=\"next\"}",
        5.0,
    );
    expect(
        "provisioner_steps_total{provider=\"noop\",step=\"noop\",outcome=\"wait\"}",
        1.0,
    );
    expect("provisioner_callbacks_total{result=\"delivered\"}", 1.0);
    expect(
        "provisioner_http_requests_total{route=\"/v1/jobs/{id}\",method=\"GET\",status=\"200\"}",
        1.0,
    );
    expect(
        "provisioner_http_requests_total{route=\"/v1/jobs/{id}\",method=\"GET\",status=\"401\"}",
        1.0,
    );
    expect(
        "provisioner_http_requests_total{route=\"/v1/jobs\",method=\"POST\",status=\"202\"}",
        2.0,
    );
    expect(
        "provisioner_http_requests_total{route=\"<unmatched>\",method=\"GET\",status=\"404\"}",
        1.0,
    );
    expect(
        "provisioner_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}",
        2.0,
    );
    expect(
        "provisioner_http_request_duration_seconds_count{route=\"/v1/jobs/{id}\"}",
        2.0,
    );
    expect(
        "provisioner_http_request_duration_seconds_bucket{route=\"/v1/jobs/{id}\",le=\"+Inf\"}",
        2.0,
    );
    expect("provisioner_webhooks_total{result=\"nothing\"}", 1.0);
    expect(
        "provisioner_webhooks_total{result=\"invalid_signature\"}",
        1.0,
    );
    assert_eq!(value(&after, "provisioner_due_jobs"), Some(0.0), "{after}");
    assert_eq!(
        value(&after, "provisioner_oldest_due_seconds"),
        Some(0.0),
        "{after}"
    );

    for leak in [
        ids[0].as_str(),
        ids[1].as_str(),
        HOSTNAME,
        ROOT_PASSWORD,
        REFERENCE,
        API_TOKEN,
        WEBHOOK_SECRET,
        "svc-nobody",
        "/hook",
        "nowhere",
    ] {
        assert!(
            !leak.is_empty() && !after.contains(leak),
            "/metrics shows {leak:?}:\n{after}"
        );
    }
    Ok(())
}

/// The contract's routes (CONTRACT.md, "HTTP API").
const CONTRACT_ROUTES: [(&str, &str); 19] = [
    ("post", "/v1/jobs"),
    ("get", "/v1/jobs"),
    ("get", "/v1/jobs/{id}"),
    ("post", "/v1/jobs/{id}/cancel"),
    ("post", "/v1/jobs/{id}/retry"),
    ("post", "/v1/jobs/{id}/resolve"),
    ("get", "/v1/jobs/{id}/events"),
    ("post", "/v1/webhooks/billing"),
    ("post", "/v1/callbacks/{id}/{token}"),
    ("get", "/v1/callbacks/{id}/{token}"),
    ("get", "/v1/cloud-init/{id}/{token}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/ui"),
    ("post", "/ui/session"),
    ("get", "/ui/session"),
    ("delete", "/ui/session"),
];

#[tokio::test]
async fn openapi_describes_every_route_and_the_router_serves_each_one() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let api = spawn_api(config(&redis)).await?;
    let res = api.anonymous().get(api.url("/openapi.json")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()?
            .starts_with("application/json"),
        "{:?}",
        res.headers()
    );
    let doc: Value = res.json().await?;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path) in CONTRACT_ROUTES {
        assert!(
            paths.get(path).is_some_and(|p| p.get(method).is_some()),
            "{method} {path} is not described"
        );
    }

    // Every described operation reaches a handler (or the token check in front of
    // one), never the router's fallbacks.
    let job_id = ulid::Ulid::new().to_string();
    let mut operations = 0;
    for (path, item) in paths {
        let url = api.url(
            &path
                .replace("{id}", &job_id)
                .replace("{token}", "not-a-token"),
        );
        for method in item.as_object().expect("a path item").keys() {
            let Ok(m) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            if !matches!(
                m,
                Method::GET | Method::POST | Method::PUT | Method::DELETE | Method::PATCH
            ) {
                continue;
            }
            operations += 1;
            let res = api.anonymous().request(m.clone(), &url).send().await?;
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            let message = body["error"]["message"].as_str().unwrap_or("");
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{m} {path}: {body}");
            assert!(
                !(status == StatusCode::NOT_FOUND && message.starts_with("no route")),
                "{m} {path} is described but not routed: {body}"
            );
        }
    }
    assert!(
        operations >= CONTRACT_ROUTES.len(),
        "{operations} operations"
    );
    Ok(())
}

#[tokio::test]
async fn the_dashboard_is_one_page_with_a_strict_csp_and_needs_no_token() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let api = spawn_api(config(&redis)).await?;
    let res = api.anonymous().get(api.url("/ui")).send().await?;
    assert_eq!(res.status(), StatusCode::OK);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{:?}",
        res.headers()
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    let csp = header("content-security-policy");
    for part in [
        "default-src 'none'",
        "script-src 'sha256-",
        "style-src 'sha256-",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "CSP {csp:?} lacks {part:?}");
    }
    assert!(
        !csp.contains("unsafe-eval") && !csp.contains("http"),
        "{csp}"
    );
    let page = res.text().await?;
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("<title>Provisioner</title>"));
    // It talks to this API on a session cookie (signed in through `ui/session`),
    // sending the session's CSRF token with every change.
    for needle in [
        "v1/jobs",
        "/events",
        "\"resolve\"",
        "\"cancel\"",
        "\"retry\"",
        "ui/session",
        "X-CSRF-Token",
    ] {
        assert!(page.contains(needle), "the page lacks {needle:?}");
    }
    assert!(!page.contains("https://") && !page.contains("http://"));
    Ok(())
}

/// Checks `value` against `schema` (resolved in `doc`): the keywords the api's
/// document uses (`$ref`, `type`, `enum`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `oneOf`/`anyOf`). Returns what differs.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .ok_or_else(|| format!("{at}: {r} resolves to nothing"))?;
        return conforms(doc, target, value, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let fits = options
                .iter()
                .filter(|o| conforms(doc, o, value, at).is_ok())
                .count();
            let ok = if key == "oneOf" { fits == 1 } else { fits >= 1 };
            if !ok {
                return Err(format!("{at}: {value} fits {fits} of {key} {schema}"));
            }
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let is = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !types.iter().any(|t| is(t)) {
            return Err(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    if let Value::Object(object) = value {
        for field in schema["required"].as_array().into_iter().flatten() {
            let field = field.as_str().unwrap_or("");
            if !object.contains_key(field) {
                return Err(format!("{at}: required `{field}` is missing"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => conforms(doc, s, v, &format!("{at}.{key}"))?,
                None if schema["additionalProperties"] == false => {
                    return Err(format!("{at}: `{key}` is not in the schema"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            conforms(doc, item, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The schema `/openapi.json` gives for `method path`'s `status` JSON answer.
fn answer_schema<'a>(doc: &'a Value, method: &str, path: &str, status: &str) -> &'a Value {
    let mut response = &doc["paths"][path][method]["responses"][status];
    if let Some(r) = response.get("$ref").and_then(Value::as_str) {
        response = doc.pointer(r.trim_start_matches('#')).expect("a response");
    }
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: no JSON schema"
    );
    schema
}

/// Real answers of a live api (a job that ran to its end, a fresh one, a page, a
/// login, errors) validate against the schemas the api's own document gives them:
/// the derived job JSON schema matches the job JSON.
#[tokio::test]
async fn real_answers_match_the_documents_schemas() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let config = config(&redis);
    let api = spawn_api(config.clone()).await?;
    let doc: Value = api
        .anonymous()
        .get(api.url("/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let check = |method: &str, path: &str, status: &str, body: &Value| {
        let schema = answer_schema(&doc, method, path, status);
        if let Err(e) = conforms(&doc, schema, body, "$") {
            panic!("{method} {path} {status} does not match its schema: {e}\n{body:#}");
        }
    };
    // The checker is not blind: a job without its state does not pass.
    let fresh = api
        .post_job(
            &json!({"kind": "provision", "account": "noop", "order": {"steps": 2},
            "reference": "openapi-1", "root_password": ROOT_PASSWORD}),
        )
        .await?
        .expect(StatusCode::ACCEPTED)?;
    check("post", "/v1/jobs", "202", &fresh.body);
    let mut broken = fresh.body.clone();
    broken.as_object_mut().unwrap().remove("state");
    let job_schema = answer_schema(&doc, "get", "/v1/jobs/{id}", "200");
    assert!(conforms(&doc, job_schema, &broken, "$").is_err());
    broken = fresh.body.clone();
    broken["steps"][0]["state"] = json!("exploded");
    assert!(conforms(&doc, job_schema, &broken, "$").is_err());

    let worker = spawn_worker(config.clone()).await?;
    let id = fresh.id().to_owned();
    let ended = api.wait_for_end(&id, LONG).await?;
    worker.shutdown().await?;
    assert_eq!(ended["state"], "succeeded", "{ended}");
    assert!(ended["steps"][0]["started_at"].is_string(), "{ended}");
    check("get", "/v1/jobs/{id}", "200", &ended);

    let page = api.list_jobs("limit=1").await?.expect(StatusCode::OK)?;
    check("get", "/v1/jobs", "200", &page.body);
    let cancelled = api
        .post(&format!("/v1/jobs/{id}/cancel"), None)
        .await?
        .expect(StatusCode::CONFLICT)?;
    check("post", "/v1/jobs/{id}/cancel", "409", &cancelled.body);
    let missing = api
        .get_job(&ulid::Ulid::new().to_string())
        .await?
        .expect(StatusCode::NOT_FOUND)?;
    check("get", "/v1/jobs/{id}", "404", &missing.body);
    let invalid = api
        .post_job(&json!({"kind": "provision", "account": "nobody"}))
        .await?
        .expect(StatusCode::UNPROCESSABLE_ENTITY)?;
    check("post", "/v1/jobs", "422", &invalid.body);
    let unauthorized = Reply::read(api.anonymous().get(api.url("/v1/jobs")).send().await?)
        .await?
        .expect(StatusCode::UNAUTHORIZED)?;
    check("get", "/v1/jobs", "401", &unauthorized.body);
    api.stop().await
}
