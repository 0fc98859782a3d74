//! Every long-running binary writes JSON logs through the one setup
//! (`provisioner_shared::bootstrap`): `--log-format json` or `LOG_FORMAT=json`, each
//! line one JSON object with its level and fields. Until the bootstrap, only the
//! worker read `LOG_FORMAT`; the api ignored it.

use provisioner_sandbox::redis_server::RedisServer;
use provisioner_tests::chaos::process::{Proc, binary};
use provisioner_tests::chaos::stack::free_port;
use serde_json::Value;
use std::time::Duration;

const UP: Duration = Duration::from_secs(30);

/// The run's lines after the harness's own header, each of which must be JSON.
fn json_lines(proc: &Proc) -> Vec<Value> {
    let log = proc.current_log();
    log.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("===="))
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}: not a JSON line ({e}): {l}\n{log}", proc.name()))
        })
        .collect()
}

#[tokio::test]
async fn the_api_and_the_worker_log_json_when_asked() -> anyhow::Result<()> {
    if std::env::var("CHAOS").is_ok_and(|v| v == "0") {
        return Ok(());
    }
    let redis = tokio::task::spawn_blocking(RedisServer::start).await??;
    let dir = std::env::temp_dir().join(format!("provisioner-json-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[redis]\nurl = \"{}\"\nnamespace = \"json-logs\"\n[api]\nlisten = \"127.0.0.1:{}\"\n\
             [secrets]\nkey = \"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n",
            redis.url(),
            free_port()?
        ),
    )?;
    let config = config.display().to_string();
    let info = ("RUST_LOG".to_owned(), "info".to_owned());
    let mut api = Proc::new(
        "api",
        binary("provisioner-api")?,
        vec!["--config".into(), config.clone()],
        vec![info.clone(), ("LOG_FORMAT".into(), "json".into())],
        dir.join("api.log"),
    );
    let mut worker = Proc::new(
        "worker",
        binary("provisioner-worker")?,
        vec![
            "--config".into(),
            config,
            "--log-format".into(),
            "json".into(),
        ],
        vec![info],
        dir.join("worker.log"),
    );
    api.start()?;
    worker.start()?;
    api.wait_for_log("api listening", UP).await?;
    worker.wait_for_log("worker started", UP).await?;
    api.terminate(Duration::from_secs(10));
    worker.terminate(Duration::from_secs(10));
    for (proc, message) in [(&api, "api listening"), (&worker, "worker started")] {
        let lines = json_lines(proc);
        let first = lines
            .iter()
            .find(|l| l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("{}: no `{message}` line: {lines:?}", proc.name()));
        assert_eq!(first["level"], "INFO", "{first}");
        assert!(
            lines
                .iter()
                .any(|l| l["fields"]["message"] == "shutting down"),
            "{}: SIGTERM is the one shutdown signal: {lines:?}",
            proc.name()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
