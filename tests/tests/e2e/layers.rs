//! Issue 11 point 3, the HTTP layers: `x-request-id` kept or made, echoed, and
//! carried into the job and the worker's step logs; `api.request_timeout` (408 with
//! the error body, nothing written); the cap on event streams (503 with
//! `Retry-After`); event streams woken by the job's changes, not by a poll.

use crate::api_jobs::next_job_event;
use crate::noop_provision;
use provisioner_shared::ProviderKind;
use provisioner_shared::job::JobState;
use provisioner_shared::store::{Commit, CommitOutcome, Schedule};
use provisioner_tests::{
    API_TOKEN, AppBuilder, CapturedLogs, TestApp, account, connect_store, force_state, spawn_app,
    spawn_worker, wait_until,
};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Longer than any test here runs: a stream that only polled would never see a change.
const NEVER: Duration = Duration::from_secs(3600);

/// The api with the account `noop`; `tune` adjusts the config before it starts.
fn noop_app() -> AppBuilder {
    spawn_app().tune(|c| {
        c.accounts
            .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"))
    })
}

fn request_id(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn open_events(app: &TestApp, id: &str) -> anyhow::Result<reqwest::Response> {
    Ok(app
        .api
        .client
        .get(app.api.url(&format!("/v1/jobs/{id}/events")))
        .send()
        .await?)
}

async fn create(app: &TestApp, body: &serde_json::Value) -> anyhow::Result<String> {
    Ok(app
        .api
        .post_job(body)
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned())
}

#[tokio::test]
async fn a_request_id_is_echoed_or_made_and_a_bad_one_replaced() -> anyhow::Result<()> {
    let app = noop_app().start().await?;
    let http = app.api.anonymous();
    let healthz = app.api.url("/healthz");

    let given = http
        .get(&healthz)
        .header("x-request-id", "client-req-7")
        .send()
        .await?;
    assert_eq!(request_id(given.headers()), "client-req-7", "echoed");

    let made = http.get(&healthz).send().await?;
    let other = http.get(&healthz).send().await?;
    let (a, b) = (request_id(made.headers()), request_id(other.headers()));
    assert_eq!(a.len(), 36, "a UUID is made: {a:?}");
    assert_ne!(a, b, "one per request");

    for bad in ["two words".to_owned(), "x".repeat(129), "a;b".to_owned()] {
        let res = http
            .get(&healthz)
            .header("x-request-id", bad.as_str())
            .send()
            .await?;
        let id = request_id(res.headers());
        assert!(
            id.len() == 36 && id != bad,
            "{bad:?} is replaced, got {id:?}"
        );
    }

    // Error answers carry one too.
    let missing = http.get(app.api.url("/no/such/route")).send().await?;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(request_id(missing.headers()).len(), 36);
    Ok(())
}

#[tokio::test]
async fn the_request_id_reaches_the_job_and_the_workers_step_logs() -> anyhow::Result<()> {
    let logs = CapturedLogs::start();
    let app = noop_app().with_worker().start().await?;

    let res = app
        .api
        .client
        .post(app.api.url("/v1/jobs"))
        .header("x-request-id", "req-layers-42")
        .json(&noop_provision("noop", None))
        .send()
        .await?;
    assert_eq!(request_id(res.headers()), "req-layers-42");
    let created = provisioner_tests::Reply::read(res)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(
        created.body["request_id"], "req-layers-42",
        "{}",
        created.text
    );
    let id = created.id().to_owned();
    let done = app
        .api
        .wait_for_state(&id, "succeeded", Duration::from_secs(20))
        .await?;
    assert_eq!(
        done["request_id"], "req-layers-42",
        "kept on the job: {done}"
    );

    let text = logs.text();
    let step_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("step{") && l.contains(&id))
        .collect();
    assert!(
        !step_lines.is_empty(),
        "the worker logged the job's steps:\n{text}"
    );
    for line in &step_lines {
        assert!(
            line.contains("request_id=req-layers-42"),
            "a step line without the request id: {line}"
        );
    }
    assert!(
        text.lines()
            .any(|l| l.contains("http{") && l.contains("request_id=req-layers-42")),
        "the api's request line carries it too:\n{text}"
    );

    // Without one, the job keeps the id the api made (the one it answered with).
    let res = app
        .api
        .client
        .post(app.api.url("/v1/jobs"))
        .json(&noop_provision("noop", None))
        .send()
        .await?;
    let made = request_id(res.headers());
    let created = provisioner_tests::Reply::read(res)
        .await?
        .expect(StatusCode::ACCEPTED)?;
    assert_eq!(created.body["request_id"], made.as_str());
    Ok(())
}

/// Sends the head of `POST /v1/jobs` and only part of its body, then waits for the
/// answer: a client (or proxy) that stalls mid-request.
async fn stalled_post(app: &TestApp) -> anyhow::Result<String> {
    let addr = app.api.base_url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await?;
    let head = format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\nConnection: close\r\n\r\n\
         {{\"kind\": \"provision\", "
    );
    tcp.write_all(head.as_bytes()).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tcp.read_to_end(&mut answer)).await??;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_request_unanswered_within_the_timeout_gets_408_and_writes_nothing() -> anyhow::Result<()>
{
    let app = noop_app()
        .tune(|c| {
            c.api.request_timeout = Duration::from_millis(300);
            c.api.events_fallback_poll = NEVER;
        })
        .start()
        .await?;
    let store = connect_store(&app.config).await?;
    let id = create(&app, &noop_provision("noop", None)).await?;
    let mut events = open_events(&app, &id).await?;
    let mut buf = String::new();
    next_job_event(&mut events, &mut buf)
        .await?
        .expect("the job as it is");

    let answer = stalled_post(&app).await?;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("x-request-id: "),
        "{answer}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(body)?;
    assert_eq!(body["error"]["code"], "request_timeout", "{answer}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("api.request_timeout"),
        "{answer}"
    );
    let listed = app.api.list_jobs("").await?.expect(StatusCode::OK)?;
    assert_eq!(
        listed.body["jobs"].as_array().map(Vec::len),
        Some(1),
        "only the first job exists: {}",
        listed.text
    );

    // The event stream opened before is exempt: it outlived the timeout.
    force_state(&store, &id, JobState::Running).await?;
    let running = next_job_event(&mut events, &mut buf)
        .await?
        .expect("the stream is still open");
    assert_eq!(running["state"], "running");
    Ok(())
}

#[tokio::test]
async fn event_streams_past_the_cap_get_503_with_retry_after() -> anyhow::Result<()> {
    let app = noop_app()
        .tune(|c| c.api.max_event_streams = 2)
        .start()
        .await?;
    let store = connect_store(&app.config).await?;
    let first = create(&app, &noop_provision("noop", None)).await?;
    let second = create(&app, &noop_provision("noop", None)).await?;
    let mut a = open_events(&app, &first).await?;
    let mut b = open_events(&app, &second).await?;
    let (mut buf_a, mut buf_b) = (String::new(), String::new());
    next_job_event(&mut a, &mut buf_a)
        .await?
        .expect("a is open");
    next_job_event(&mut b, &mut buf_b)
        .await?
        .expect("b is open");

    let refused = provisioner_tests::Reply::read(open_events(&app, &first).await?).await?;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    assert_eq!(refused.error_code(), Some("too_many_streams"));
    assert!(
        refused.error_message().contains("api.max_event_streams"),
        "{}",
        refused.text
    );
    let retry_after: u64 = refused.headers["retry-after"].to_str()?.parse()?;
    assert!(retry_after > 0);
    // Other routes are not capped.
    app.api.get_job(&first).await?.expect(StatusCode::OK)?;

    // A stream that ends gives its place back.
    force_state(&store, &first, JobState::Succeeded).await?;
    while next_job_event(&mut a, &mut buf_a).await?.is_some() {}
    wait_until(
        "a new stream to be let in",
        Duration::from_secs(10),
        || async {
            let res = open_events(&app, &second).await?;
            Ok((res.status() == StatusCode::OK).then_some(()))
        },
    )
    .await?;
    drop(b);
    Ok(())
}

#[tokio::test]
async fn an_event_stream_follows_a_running_job_without_polling() -> anyhow::Result<()> {
    let app = noop_app()
        .tune(|c| c.api.events_fallback_poll = NEVER)
        .start()
        .await?;
    let id = create(
        &app,
        &json!({"kind": "provision", "account": "noop", "order": {"steps": 3}}),
    )
    .await?;
    let mut events = open_events(&app, &id).await?;
    let mut buf = String::new();
    let first = next_job_event(&mut events, &mut buf)
        .await?
        .expect("the job as it is");
    assert_eq!(first["state"], "queued");

    // Only now does a worker run it: every event after the first came from a wake-up
    // (next_job_event gives each 10 s; the fallback poll is an hour away).
    let _worker = spawn_worker(app.config.clone()).await?;
    let mut last = first;
    while let Some(event) = next_job_event(&mut events, &mut buf).await? {
        last = event;
    }
    assert_eq!(last["state"], "succeeded", "{last}");
    Ok(())
}

#[tokio::test]
async fn step_holds_and_commits_announce_the_job_they_wrote() -> anyhow::Result<()> {
    use futures::StreamExt;
    let app = noop_app().start().await?;
    let store = connect_store(&app.config).await?;
    let mut changes = store.changes_stream().await?;
    let id = create(&app, &noop_provision("noop", None)).await?;
    let mut next_change = async || {
        tokio::time::timeout(Duration::from_secs(10), changes.next())
            .await
            .ok()
            .flatten()
    };

    // hold.lua: the lean commit of a step chain, on a claimed job.
    let shard = store.keys().shard_of(&id);
    let claimed = wait_until("the job to be claimed", Duration::from_secs(10), || async {
        let batch = store.claim(shard, 10, Duration::from_secs(30)).await?;
        Ok(batch.jobs.into_iter().find(|j| j.id == id))
    })
    .await?;
    let job = claimed.decode()?;
    let run_json = serde_json::to_string(&job.run)?;
    let outcome = store
        .commit(Commit {
            id: &id,
            version: job.version,
            fence: &job.fence,
            run_json: &run_json,
            state: JobState::Running,
            schedule: Schedule::Hold,
            pokes_seen: 0,
            cancel_seen: false,
            callback: None,
        })
        .await?;
    assert_ne!(outcome, CommitOutcome::Lost);
    assert_eq!(
        next_change().await.as_deref(),
        Some(id.as_str()),
        "hold.lua"
    );

    // commit.lua
    force_state(&store, &id, JobState::Waiting).await?;
    assert_eq!(
        next_change().await.as_deref(),
        Some(id.as_str()),
        "commit.lua"
    );
    Ok(())
}
