//! `provctl`, the real binary, against a real stack: tables by default, `--json` for
//! scripts, the token from the environment or a file (never the command line), and
//! a watch that follows live jobs and exits with a code that says how they ended
//! (0 succeeded, 3 failed, 4 needs_attention, 5 cancelled, 6 not found or no token).

use provisioner_shared::{JobState, ProviderKind};
use provisioner_tests::chaos::binary;
use provisioner_tests::{API_TOKEN, TestApp, account, connect_store, force_state, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Output;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// What one run of provctl left: exit code, stdout, stderr.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Ran {
    fn from(o: Output) -> Ran {
        Ran {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// `provctl ARGS` against `app` with `env` on top of a clean environment (none of
/// the test process's `PROVISIONER_*`), stdin closed, output captured.
fn provctl(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Command {
    let path = binary("provctl").expect("the provctl binary of this build");
    let mut cmd = tokio::process::Command::new(path);
    cmd.args(args).stdin(std::process::Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("PROVISIONER") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PROVISIONER_URL", &app.api.base_url);
    cmd.envs(env.iter().copied());
    cmd.kill_on_drop(true);
    cmd
}

async fn run(app: &TestApp, args: &[&str]) -> anyhow::Result<Ran> {
    Ok(provctl(app, args, &[("PROVISIONER_TOKEN", API_TOKEN)])
        .output()
        .await?
        .into())
}

/// Redis, the api and two noop accounts; a worker when `worker`.
async fn stack(worker: bool) -> anyhow::Result<TestApp> {
    let app = spawn_app().tune(|c| {
        c.accounts
            .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
        c.accounts
            .push(account("noop-b", ProviderKind::Noop, "http://127.0.0.1:9/"));
    });
    let app = if worker { app.with_worker() } else { app };
    app.start().await
}

async fn post(app: &TestApp, body: Value) -> anyhow::Result<String> {
    Ok(app
        .api
        .post_job(&body)
        .await?
        .expect(StatusCode::ACCEPTED)?
        .id()
        .to_owned())
}

#[tokio::test]
async fn list_prints_a_table_by_default_and_the_apis_json_with_json() -> anyhow::Result<()> {
    let app = stack(false).await?;
    let a = post(
        &app,
        json!({"kind": "provision", "account": "noop", "reference": "svc-a", "order": {"steps": 2}}),
    )
    .await?;
    let b = post(
        &app,
        json!({"kind": "provision", "account": "noop-b", "reference": "svc-b", "order": {"steps": 1}}),
    )
    .await?;

    let table = run(&app, &["list"]).await?;
    assert_eq!(table.code, Some(0), "{table}");
    let lines: Vec<&str> = table.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID",
            "STATE",
            "KIND",
            "ACCOUNT",
            "REFERENCE",
            "STEP",
            "UPDATED"
        ],
        "{table}"
    );
    // Newest first, one row each, columns aligned under the header.
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[1].starts_with(&b) && lines[2].starts_with(&a),
        "{table}"
    );
    let state_at = lines[0].find("STATE").unwrap();
    for row in &lines[1..] {
        assert_eq!(&row[state_at..state_at + 6], "queued", "{table}");
    }
    assert!(
        lines[2].contains("noop ") && lines[2].contains("svc-a"),
        "{table}"
    );

    let listed = run(&app, &["list", "--json", "--account", "noop"]).await?;
    assert_eq!(listed.code, Some(0), "{listed}");
    let page: Value = serde_json::from_str(&listed.stdout)?;
    let ids: Vec<&str> = page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str()], "{listed}");

    let status = run(&app, &["status", &a, &b]).await?;
    assert_eq!(status.code, Some(0), "{status}");
    assert!(status.stdout.starts_with("ID"), "{status}");
    assert!(status.stdout.contains("step 1 of 2 (noop_1)"), "{status}");
    Ok(())
}

#[tokio::test]
async fn the_token_comes_from_the_environment_or_a_file_never_the_command_line()
-> anyhow::Result<()> {
    let app = stack(false).await?;
    let id = post(
        &app,
        json!({"kind": "provision", "account": "noop", "order": {"steps": 1}}),
    )
    .await?;
    let get = ["get", id.as_str()];

    let from_env: Ran = provctl(&app, &get, &[("PROVISIONER_TOKEN", API_TOKEN)])
        .output()
        .await?
        .into();
    assert_eq!(from_env.code, Some(0), "{from_env}");
    assert!(from_env.stdout.starts_with("id "), "{from_env}");
    assert!(from_env.stdout.contains(&id), "{from_env}");

    let file = std::env::temp_dir().join(format!("provctl-token-{}", ulid::Ulid::new()));
    std::fs::write(&file, format!("{API_TOKEN}\n"))?;
    let path = file.to_str().unwrap();
    let from_file: Ran = provctl(&app, &["--token-file", path, "get", &id], &[])
        .output()
        .await?
        .into();
    let from_file_env: Ran = provctl(&app, &get, &[("PROVISIONER_TOKEN_FILE", path)])
        .output()
        .await?
        .into();
    let _ = std::fs::remove_file(&file);
    assert_eq!(from_file.code, Some(0), "{from_file}");
    assert_eq!(from_file_env.code, Some(0), "{from_file_env}");
    assert!(from_file_env.stdout.contains(&id), "{from_file_env}");

    // No token: the API's 401 in its own words, with where a token may come from.
    let none: Ran = provctl(&app, &get, &[]).output().await?.into();
    assert_eq!(none.code, Some(6), "{none}");
    assert!(none.stderr.contains("401"), "{none}");
    assert!(none.stderr.contains("PROVISIONER_TOKEN"), "{none}");
    let wrong: Ran = provctl(&app, &get, &[("PROVISIONER_TOKEN", "not-the-token")])
        .output()
        .await?
        .into();
    assert_eq!(wrong.code, Some(6), "{wrong}");

    // The old --token still works, hidden, with a warning; --help does not offer it.
    let argument: Ran = provctl(&app, &["--token", API_TOKEN, "get", &id], &[])
        .output()
        .await?
        .into();
    assert_eq!(argument.code, Some(0), "{argument}");
    assert!(argument.stderr.contains("warning: --token"), "{argument}");
    let help = run(&app, &["--help"]).await?;
    assert!(!help.stdout.contains("--token "), "{help}");
    assert!(help.stdout.contains("--token-file"), "{help}");
    assert!(help.stdout.contains("Exit codes"), "{help}");

    let missing = run(&app, &["get", "01JZZZZZZZZZZZZZZZZZZZZZZZ"]).await?;
    assert_eq!(missing.code, Some(6), "{missing}");
    assert!(missing.stderr.contains("404"), "{missing}");
    Ok(())
}

#[tokio::test]
async fn watch_follows_a_job_to_success_and_exits_0() -> anyhow::Result<()> {
    let app = stack(true).await?;
    let id = post(
        &app,
        json!({"kind": "provision", "account": "noop", "order": {"steps": 3, "wait_ms": 300}}),
    )
    .await?;
    let ran = run(&app, &["status", "--watch", &id, "--interval", "50ms"]).await?;
    assert_eq!(ran.code, Some(0), "{ran}");
    // Not a terminal: one line per change, the last one the end.
    let last = ran.stdout.lines().last().unwrap_or_default();
    assert!(last.starts_with(&id), "{ran}");
    assert!(
        last.contains("succeeded") && last.contains("3 of 3 steps"),
        "{ran}"
    );
    assert!(
        ran.stdout.contains("step 1 of 3 (noop_1)"),
        "the watch saw the job on its way: {ran}"
    );
    // --json: one job JSON per line per change, the last one succeeded.
    let json = run(&app, &["watch", &id, "--json"]).await?;
    assert_eq!(json.code, Some(0), "{json}");
    let lines: Vec<Value> = json
        .stdout
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines.last().unwrap()["state"], "succeeded", "{json}");
    Ok(())
}

#[tokio::test]
async fn watch_exits_4_on_needs_attention_3_on_failed_and_5_on_cancelled() -> anyhow::Result<()> {
    let app = stack(false).await?;
    let store = connect_store(&app.config).await?;
    let parked = post(
        &app,
        json!({"kind": "provision", "account": "noop", "order": {"steps": 2}}),
    )
    .await?;
    force_state(&store, &parked, JobState::NeedsAttention).await?;
    let ran = run(&app, &["watch", &parked]).await?;
    assert_eq!(ran.code, Some(4), "{ran}");
    assert!(ran.stdout.contains("needs_attention"), "{ran}");

    // A person gives up on it; the worker ends it failed while the watch looks on.
    let mut worker_config = app.config.clone();
    worker_config.api.public_url = Some(app.api.base_url.parse()?);
    let _worker = provisioner_tests::spawn_worker(worker_config).await?;
    let waiting = post(
        &app,
        json!({"kind": "provision", "account": "noop", "order": {"steps": 2, "wait_ms": 600000}}),
    )
    .await?;
    app.api
        .wait_for_state(&waiting, "waiting", Duration::from_secs(20))
        .await?;
    let resolved = run(&app, &["resolve", &parked, "fail"]).await?;
    assert_eq!(resolved.code, Some(0), "{resolved}");
    let failed = run(&app, &["watch", &parked, "--interval", "50ms"]).await?;
    assert_eq!(failed.code, Some(3), "{failed}");
    let last = failed.stdout.lines().last().unwrap_or_default();
    assert!(last.contains("failed"), "{failed}");

    // A watch started on a waiting job ends when the job is cancelled.
    let mut watcher = provctl(
        &app,
        &["watch", &waiting, "--interval", "50ms"],
        &[("PROVISIONER_TOKEN", API_TOKEN)],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()?;
    let mut out = tokio::io::BufReader::new(watcher.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).await?;
    assert!(
        first.starts_with(&waiting) && first.contains("waiting"),
        "{first}"
    );
    let cancelled = run(&app, &["cancel", &waiting]).await?;
    assert_eq!(cancelled.code, Some(0), "{cancelled}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).await?;
    let status = watcher.wait().await?;
    assert_eq!(status.code(), Some(5), "{first}{rest}");
    assert!(rest.contains("cancelled"), "{first}{rest}");

    // Several jobs: the one that needs a person decides.
    let other = post(
        &app,
        json!({"kind": "provision", "account": "noop", "order": {"steps": 1}}),
    )
    .await?;
    app.api
        .wait_for_state(&other, "succeeded", Duration::from_secs(20))
        .await?;
    let again = post(
        &app,
        json!({"kind": "provision", "account": "noop-b", "order": {"steps": 1, "wait_ms": 600000}}),
    )
    .await?;
    app.api
        .wait_for_state(&again, "waiting", Duration::from_secs(20))
        .await?;
    force_state(&store, &again, JobState::NeedsAttention).await?;
    let both = run(&app, &["watch", &other, &again]).await?;
    assert_eq!(both.code, Some(4), "{both}");
    let by_state = run(&app, &["status", "--state", "needs_attention", "--watch"]).await?;
    assert_eq!(by_state.code, Some(4), "{by_state}");
    assert!(by_state.stdout.contains(&again), "{by_state}");
    Ok(())
}

/// The health checks the deploy files use: `provisioner-api healthcheck` asks a
/// running api's `/healthz`, `provisioner-worker healthcheck` the config's Redis;
/// each says 1 when nothing answers.
#[tokio::test]
async fn the_binaries_healthchecks_say_whether_their_service_answers() -> anyhow::Result<()> {
    let app = stack(false).await?;
    let check = |bin: &str, args: Vec<String>| {
        let mut cmd = tokio::process::Command::new(binary(bin).expect("the binary of this build"));
        cmd.args(args).stdin(std::process::Stdio::null());
        for (key, _) in std::env::vars() {
            if key == "REDIS_URL" || key.starts_with("PROVISIONER") {
                cmd.env_remove(key);
            }
        }
        cmd.kill_on_drop(true);
        cmd
    };
    let healthz = format!("{}/healthz", app.api.base_url);
    let up: Ran = check(
        "provisioner-api",
        vec!["healthcheck".into(), "--url".into(), healthz],
    )
    .output()
    .await?
    .into();
    assert_eq!(up.code, Some(0), "{up}");
    let down: Ran = check(
        "provisioner-api",
        vec![
            "healthcheck".into(),
            "--url".into(),
            "http://127.0.0.1:9/healthz".into(),
        ],
    )
    .output()
    .await?
    .into();
    assert_eq!(down.code, Some(1), "{down}");

    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let config = |url: &str| {
        format!(
            "[redis]\nurl = \"{url}\"\nnamespace = \"{}\"\n[worker]\nshards = {}\n[secrets]\nkey = \"{key}\"\n",
            app.redis.namespace(),
            app.config.worker.shards
        )
    };
    let dir = std::env::temp_dir().join(format!("provctl-health-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir)?;
    let (good, bad) = (dir.join("good.toml"), dir.join("bad.toml"));
    std::fs::write(&good, config(app.redis.url()))?;
    std::fs::write(&bad, config("redis://127.0.0.1:9"))?;
    let worker = |path: &std::path::Path| {
        check(
            "provisioner-worker",
            vec![
                "--config".into(),
                path.display().to_string(),
                "healthcheck".into(),
            ],
        )
    };
    let redis_up: Ran = worker(&good).output().await?.into();
    let redis_down: Ran = worker(&bad).output().await?.into();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(redis_up.code, Some(0), "{redis_up}");
    assert_eq!(redis_down.code, Some(1), "{redis_down}");
    assert!(redis_down.stderr.contains("healthcheck"), "{redis_down}");
    Ok(())
}
