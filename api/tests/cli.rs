//! The `provisioner-api` binary as an operator meets it: `--help`, and a bad
//! config, argument or failpoint spec that stops it at start (exit 2) naming what
//! is wrong.
//! Being an integration test of this package, it also makes `cargo test` build the
//! binary that the chaos tests (`tests/tests/chaos/`) start as a child process.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_provisioner-api");

/// A config file that passes validation, with `tune` applied to its text.
fn config_file(name: &str, tune: impl FnOnce(String) -> String) -> PathBuf {
    let text = tune(
        r#"
[redis]
url = "redis://127.0.0.1:9"

[worker]
concurrency = 4

[secrets]
key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
"#
        .to_owned(),
    );
    let path = std::env::temp_dir().join(format!(
        "provisioner-api-cli-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).expect("the temp dir is writable");
    path
}

/// Runs the binary with a clean environment (no `REDIS_URL`, no overrides).
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (key, _) in std::env::vars() {
        if key == "REDIS_URL" || key.starts_with("PROVISIONER") {
            cmd.env_remove(key);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("the api binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_exits_0_with_the_usage() {
    let out = run(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let usage = String::from_utf8_lossy(&out.stdout);
    assert!(usage.contains("--config"), "{usage}");
}

#[test]
fn a_bad_config_value_exits_2_naming_the_key() {
    let path = config_file("bad-key", |t| t + "\n[api]\nlisten = \"nowhere\"\n");
    let out = run(&["--config", path.to_str().unwrap()], &[]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("api.listen"), "{}", stderr(&out));
}

#[test]
fn an_unknown_argument_exits_2_naming_it() {
    let out = run(&["--confg", "x.toml"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--confg"), "{}", stderr(&out));
}

#[test]
fn a_bad_env_override_exits_2_naming_the_variable() {
    let path = config_file("bad-env", |t| t);
    let out = run(
        &["--config", path.to_str().unwrap()],
        &[("PROVISIONER__WORKER__LEASE", "soon")],
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("worker.lease"), "{}", stderr(&out));
}

#[test]
fn a_missing_config_file_exits_2_naming_it() {
    let out = run(&["--config", "/nonexistent/provisioner.toml"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("/nonexistent/provisioner.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_failpoint_spec_that_does_not_parse_exits_2_naming_the_variable() {
    let path = config_file("bad-failpoint", |t| t);
    let out = run(
        &["--config", path.to_str().unwrap()],
        &[("PROVISIONER_FAILPOINTS", "engine.after_call=explode")],
    );
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("PROVISIONER_FAILPOINTS"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_are_printed_for_a_shell() {
    let out = run(&["completions", "bash"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("provisioner-api") && script.contains("check-config"),
        "{script}"
    );
}

#[test]
fn an_unknown_log_format_exits_2_naming_it() {
    let out = run(&["--log-format", "xml"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("xml"), "{}", stderr(&out));
}

#[test]
fn check_config_lists_every_problem_with_its_key() {
    let good = config_file("check-good", |t| t);
    let out = run(&["check-config", good.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let bad = config_file("check-bad", |t| {
        t.replace("concurrency = 4", "concurrency = 0\nshards = 0")
            + "\n[[accounts]]\nname = \"hk\"\nprovider = \"hostkey\"\nbase_url = \"https://invapi.hostkey.com\"\n"
    });
    let out = run(
        &["check-config", bad.to_str().unwrap()],
        &[("PROVISIONER__RETRY__MAX_ATTEMPTS", "0")],
    );
    let _ = std::fs::remove_file(&good);
    let _ = std::fs::remove_file(&bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let listed = String::from_utf8_lossy(&out.stdout);
    let keys: Vec<&str> = listed.lines().filter_map(|l| l.split(':').next()).collect();
    assert_eq!(
        keys,
        [
            "worker.concurrency",
            "worker.shards",
            "retry.max_attempts",
            "accounts[0].api_key",
            "accounts[0].pin"
        ],
        "{listed}"
    );
}
