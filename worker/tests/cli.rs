//! The `provisioner-worker` binary as an operator meets it: `--help`, and a bad
//! config or failpoint spec that stops it at start (exit 2) naming what is wrong.
//! Being an integration test of this package, it also makes `cargo test` build the
//! binary that the chaos tests (`tests/tests/chaos/`) start as a child process.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_provisioner-worker");

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
        "provisioner-worker-cli-{}-{name}.toml",
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
    cmd.output().expect("the worker binary runs")
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
    let path = config_file("bad-key", |t| {
        t.replace("concurrency = 4", "concurrency = 0")
    });
    let out = run(&["--config", path.to_str().unwrap()], &[]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("worker.concurrency"),
        "{}",
        stderr(&out)
    );
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
    let out = run(&["completions", "zsh"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("provisioner-worker"));
}

#[test]
fn the_config_path_may_come_from_the_environment() {
    let path = config_file("env-path", |t| {
        t.replace("concurrency = 4", "concurrency = 0")
    });
    let out = run(&[], &[("PROVISIONER_CONFIG", path.to_str().unwrap())]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("worker.concurrency"),
        "{}",
        stderr(&out)
    );
}
