//! A newcomer's first hour (issue 14): `provisioner-sandbox demo` names the
//! dashboard and serves it while it runs, and `provisioner-sandbox simulators`
//! writes a config that the real `provisioner-api` and `provisioner-worker`
//! binaries take as it is, to provision one server at each provider.
//!
//! These run the binaries of this build as child processes (found beside the test
//! executable, like the chaos target's) and read their stdout line by line.

use provisioner_tests::chaos::process::binary;
use provisioner_tests::wait_until;
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const LONG: Duration = Duration::from_secs(150);
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyOnly ops@example.com";

/// Every simulator on a free port, so tests (and a developer's demo) never collide.
const FREE_SIM_PORTS: [&str; 8] = [
    "--hostkey-port",
    "0",
    "--klikk-port",
    "0",
    "--inferno-port",
    "0",
    "--idcloudhost-port",
    "0",
];

/// A child process whose stdout lines arrive on a channel and are kept for the
/// failure message; SIGTERM on drop (so the sandbox removes its redis-server),
/// SIGKILL if it is still there after a grace period.
struct Running {
    name: String,
    child: Option<Child>,
    lines: mpsc::UnboundedReceiver<String>,
    output: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(name: &str, args: &[&str]) -> anyhow::Result<Running> {
        let mut child = Command::new(binary(name)?)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let (tx, lines) = mpsc::unbounded_channel();
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        for (stream, tx) in [
            (
                Box::pin(stdout) as std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
                Some(tx),
            ),
            (Box::pin(stderr), None),
        ] {
            let output = Arc::clone(&output);
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    output.lock().unwrap().push(line.clone());
                    if let Some(tx) = &tx {
                        let _ = tx.send(line);
                    }
                }
            });
        }
        Ok(Running {
            name: name.to_owned(),
            child: Some(child),
            lines,
            output,
        })
    }

    /// Everything it wrote so far, for a failure message.
    fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// The next stdout line that starts with `prefix` (after its words, trimmed).
    async fn line_starting(&mut self, prefix: &str) -> anyhow::Result<String> {
        let wait = async {
            while let Some(line) = self.lines.recv().await {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Some(rest.trim().to_owned());
                }
            }
            None
        };
        match tokio::time::timeout(LONG, wait).await {
            Ok(Some(rest)) => Ok(rest),
            _ => anyhow::bail!(
                "{} never printed a line starting `{prefix}`; it wrote:\n{}",
                self.name,
                self.output()
            ),
        }
    }

    /// Waits for it to exit on its own.
    async fn exit_status(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let child = self.child.as_mut().expect("running");
        let status = tokio::time::timeout(LONG, child.wait()).await;
        match status {
            Ok(status) => {
                self.child = None;
                Ok(status?)
            }
            Err(_) => anyhow::bail!("{} did not exit; it wrote:\n{}", self.name, self.output()),
        }
    }

    /// SIGTERM, as a user's Ctrl-C would stop it cleanly.
    fn terminate(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(Child::id) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.terminate();
        if let Some(mut child) = self.child.take() {
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.start_kill();
        }
    }
}

/// True when something accepts connections on 127.0.0.1:`port`.
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"))
}

#[tokio::test]
async fn the_demo_names_its_dashboard_and_serves_it_while_it_runs() -> anyhow::Result<()> {
    let mut args = vec!["demo", "--exit", "--port", "0"];
    args.extend(FREE_SIM_PORTS);
    let mut demo = Running::start("provisioner-sandbox", &args)?;
    let redis = demo.line_starting("redis").await?;
    let dashboard = demo.line_starting("dashboard").await?;
    let (ui, token) = dashboard
        .split_once("#token=")
        .unwrap_or_else(|| panic!("the dashboard line carries no token: {dashboard}"));
    assert!(
        ui.starts_with("http://127.0.0.1:") && ui.ends_with("/ui"),
        "{dashboard}"
    );
    assert!(!token.is_empty(), "{dashboard}");

    // While the jobs run: the page answers, and the printed token is the api's.
    let http = reqwest::Client::new();
    let page = http.get(ui).send().await?;
    assert_eq!(page.status(), 200, "GET {ui}");
    assert!(page.text().await?.contains("<html"), "/ui is the dashboard");
    let base = ui.trim_end_matches("/ui");
    let jobs = http
        .get(format!("{base}/v1/jobs"))
        .bearer_auth(token)
        .send()
        .await?;
    assert_eq!(jobs.status(), 200, "the printed token lists jobs");
    let metrics = demo.line_starting("metrics").await?;
    assert_eq!(metrics, format!("{base}/metrics"));
    let provctl = demo.line_starting("provctl").await?;
    assert_eq!(
        provctl,
        format!("PROVISIONER_URL={base} PROVISIONER_TOKEN={token} provctl status --watch")
    );

    // `--exit`: it ends with its jobs, all four succeeded, and takes Redis along.
    let status = demo.exit_status().await?;
    assert!(status.success(), "the demo failed:\n{}", demo.output());
    let output = demo.output();
    for provider in ["hostkey", "klikk", "inferno", "idcloudhost"] {
        assert!(
            output
                .lines()
                .any(|l| l.starts_with(provider) && l.contains("succeeded")),
            "no summary line for {provider}:\n{output}"
        );
    }
    assert!(!output.contains("still up"), "--exit does not stay up");
    assert!(!listening(port_of(base)), "the api is gone after the demo");
    if redis.contains("private redis-server") {
        let url = redis.split_whitespace().next().unwrap_or_default();
        assert!(
            !listening(port_of(url)),
            "the demo's redis-server {url} outlived it"
        );
    }
    Ok(())
}

/// A free loopback port, for the api of the written config.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

fn provisions() -> [(&'static str, Value); 4] {
    [
        (
            "hostkey",
            json!({
                "kind": "provision", "account": "hk-nl", "reference": "by-hand-1",
                "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
                "hostname": "h1.example.com", "root_password": "S3cure!pass", "ssh_keys": [KEY]
            }),
        ),
        (
            "klikk",
            json!({
                "kind": "provision", "account": "klikk", "reference": "by-hand-2",
                "order": {"ram_gb": 1, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "12", "ip_allow": "0.0.0.0/0"},
                "hostname": "k1.example.com", "ssh_keys": [KEY]
            }),
        ),
        (
            "inferno",
            json!({
                "kind": "provision", "account": "inferno", "reference": "by-hand-3",
                "order": {"product_id": 303, "os_template": "debian12-64-default"},
                "hostname": "i1.example.com", "ssh_keys": [KEY]
            }),
        ),
        (
            "idcloudhost",
            json!({
                "kind": "provision", "account": "idc", "reference": "by-hand-4",
                "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 2, "ram_mb": 2048, "disk_gb": 20},
                "hostname": "d1.example.com", "root_password": "S3cure!pass", "ssh_keys": [KEY]
            }),
        ),
    ]
}

#[tokio::test]
async fn the_simulators_config_runs_the_real_binaries_at_every_provider() -> anyhow::Result<()> {
    let file =
        std::env::temp_dir().join(format!("provisioner-newcomer-{}.toml", ulid::Ulid::new()));
    let path = file.to_str().expect("a UTF-8 temp path").to_owned();
    let api_port = free_port()?.to_string();
    let mut args = vec!["simulators", "--config-out", &path, "--api-port", &api_port];
    args.extend(FREE_SIM_PORTS);
    let mut sims = Running::start("provisioner-sandbox", &args)?;
    let token = sims.line_starting("api token").await?;
    sims.line_starting("ready").await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)?.permissions().mode();
        assert_eq!(mode & 0o077, 0, "the config holds secrets: owner only");
    }

    let api = Running::start("provisioner-api", &["--config", &path])?;
    let worker = Running::start("provisioner-worker", &["--config", &path])?;
    let base = format!("http://127.0.0.1:{api_port}");
    let http = reqwest::Client::new();
    wait_until("the api to answer /readyz", LONG, || async {
        let ok = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        Ok(ok.then_some(()))
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\napi:\n{}", api.output()))?;

    let mut ids = Vec::new();
    for (provider, body) in provisions() {
        let res = http
            .post(format!("{base}/v1/jobs"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        let status = res.status();
        let job: Value = res.json().await?;
        assert!(status.is_success(), "{provider}: {status} {job}");
        ids.push((provider, job["id"].as_str().unwrap_or_default().to_owned()));
    }
    for (provider, id) in &ids {
        let job = wait_until(&format!("the {provider} job to end"), LONG, || async {
            let job: Value = http
                .get(format!("{base}/v1/jobs/{id}"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            let ended = matches!(
                job["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled" | "needs_attention")
            );
            Ok(ended.then_some(job))
        })
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nworker:\n{}", worker.output()))?;
        assert_eq!(job["state"], "succeeded", "{provider}: {job}");
        assert!(job["server"]["id"].is_string(), "{provider}: {job}");
    }

    drop(worker);
    drop(api);
    sims.terminate();
    let status = sims.exit_status().await?;
    assert!(
        status.success(),
        "Ctrl-C ends it cleanly:\n{}",
        sims.output()
    );
    let _ = std::fs::remove_file(&file);
    Ok(())
}

#[tokio::test]
async fn the_sandbox_help_is_an_answer_not_an_error() -> anyhow::Result<()> {
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["simulators", "--help"],
    ] {
        let out = Command::new(binary("provisioner-sandbox")?)
            .args(args)
            .output()
            .await?;
        assert!(out.status.success(), "{args:?} exited {}", out.status);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Usage:"), "{args:?}: {text}");
    }
    Ok(())
}
