//! Child processes: the real `provisioner-worker` and `provisioner-api` binaries that
//! the same `cargo build` put next to this executable, each with a generated config,
//! its log in a file, killed on drop; and what `/proc` says about their CPU and memory.
//!
//! When a binary is not there (a `cargo test` build links only the bench), this
//! executable plays it through a hidden role that calls the same library `run`, and
//! the header says so: its figures then include the bench's larger binary.

use anyhow::{Context, bail};
use provisioner_shared::Config;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Hidden first arguments under which this executable plays a worker or the api.
pub const WORKER_ROLE: &str = "__worker";
pub const API_ROLE: &str = "__api";

#[derive(Debug, Clone)]
enum Launcher {
    Binary(PathBuf),
    /// This executable with a hidden role.
    Myself(PathBuf, &'static str),
}

impl Launcher {
    fn find(name: &str, role: &'static str) -> anyhow::Result<Launcher> {
        let me = std::env::current_exe().context("locating this executable")?;
        let sibling = me.with_file_name(name);
        Ok(if sibling.is_file() {
            Launcher::Binary(sibling)
        } else {
            Launcher::Myself(me, role)
        })
    }

    fn command(&self) -> Command {
        match self {
            Launcher::Binary(path) => Command::new(path),
            Launcher::Myself(me, role) => {
                let mut c = Command::new(me);
                c.arg(role);
                c
            }
        }
    }

    fn describe(&self, name: &str) -> String {
        match self {
            Launcher::Binary(path) => {
                let age = fs::metadata(path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .map_or(String::new(), |d| format!(", built {} s ago", d.as_secs()));
                format!("{name} = {}{age}", path.display())
            }
            Launcher::Myself(..) => {
                format!("{name} = this executable (no {name} binary beside it)")
            }
        }
    }
}

/// Where the worker and the api come from.
#[derive(Debug, Clone)]
pub struct Binaries {
    worker: Launcher,
    api: Launcher,
}

impl Binaries {
    pub fn find() -> anyhow::Result<Binaries> {
        Ok(Binaries {
            worker: Launcher::find("provisioner-worker", WORKER_ROLE)?,
            api: Launcher::find("provisioner-api", API_ROLE)?,
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "{}; {}",
            self.worker.describe("provisioner-worker"),
            self.api.describe("provisioner-api")
        )
    }

    /// Starts a worker process on `config` (a TOML file), logging to `log`.
    pub fn spawn_worker(&self, config: &Path, log: &Path) -> anyhow::Result<Proc> {
        Proc::spawn("worker", self.worker.command(), config, log)
    }

    pub fn spawn_api(&self, config: &Path, log: &Path) -> anyhow::Result<Proc> {
        Proc::spawn("api", self.api.command(), config, log)
    }
}

/// A child process, killed (SIGKILL) on drop unless it was stopped before.
pub struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// CPU and memory of a process, from `/proc/<pid>/stat` and `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system time since it started.
    pub cpu_s: f64,
    /// `VmHWM`: the peak resident set.
    pub peak_rss_mb: f64,
}

impl Proc {
    fn spawn(
        name: &'static str,
        mut cmd: Command,
        config: &Path,
        log: &Path,
    ) -> anyhow::Result<Proc> {
        let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = cmd
            .arg("--config")
            .arg(config)
            // one line per request or step at `info` would measure the log writer
            .env(
                "RUST_LOG",
                std::env::var("BENCH_CHILD_LOG").unwrap_or("warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting the {name}"))?;
        Ok(Proc {
            name,
            child,
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the end of its log when the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the {} exited ({status}): {}", self.name, self.log_tail());
        }
        Ok(())
    }

    pub fn usage(&self) -> anyhow::Result<Usage> {
        usage_of(self.pid())
    }

    /// SIGTERM (a graceful stop), then SIGKILL if it is still there after `grace`.
    pub fn terminate(mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        let pid = self.pid().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return Ok(self.child.wait()?);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Lines of its log at WARN or ERROR level.
    pub fn problem_lines(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR ") || l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, else 100).
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// `pid` 0 means this process.
pub fn usage_of(pid: u32) -> anyhow::Result<Usage> {
    let dir = if pid == 0 {
        PathBuf::from("/proc/self")
    } else {
        PathBuf::from(format!("/proc/{pid}"))
    };
    let stat = fs::read_to_string(dir.join("stat")).context("reading /proc/<pid>/stat")?;
    // the command name may hold spaces: fields start after its closing parenthesis
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of stat(5); `state` (field 3) is index 0 here
    let cpu_ticks = ticks(11).zip(ticks(12)).map(|(u, s)| u + s);
    let status = fs::read_to_string(dir.join("status")).context("reading /proc/<pid>/status")?;
    let hwm_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    Ok(Usage {
        cpu_s: cpu_ticks.context("unexpected /proc/<pid>/stat")? / clock_ticks(),
        peak_rss_mb: hwm_kb.context("no VmHWM in /proc/<pid>/status")? / 1024.0,
    })
}

/// `__worker --config PATH`: what `provisioner-worker` does.
pub fn run_worker_role(args: &[String]) -> anyhow::Result<()> {
    let config = role_config(args)?;
    init_child_tracing();
    let runtime = provisioner_worker::build_runtime(&config)?;
    runtime.block_on(provisioner_worker::run(config))?;
    Ok(())
}

/// `__api --config PATH`: what `provisioner-api` does.
pub fn run_api_role(args: &[String]) -> anyhow::Result<()> {
    let config = role_config(args)?;
    init_child_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(provisioner_api::run(config))?;
    Ok(())
}

fn role_config(args: &[String]) -> anyhow::Result<Config> {
    let path = match args {
        [flag, path] if flag == "--config" => path,
        _ => bail!("a role takes --config PATH"),
    };
    Ok(Config::load(Some(Path::new(path)))?)
}

/// The binaries' own setup (`LOG_FORMAT` included), at `warn` unless `RUST_LOG` says.
fn init_child_tracing() {
    let log = provisioner_shared::bootstrap::LogArgs {
        log_format: match std::env::var("LOG_FORMAT").as_deref() {
            Ok("json") => provisioner_shared::bootstrap::LogFormat::Json,
            _ => provisioner_shared::bootstrap::LogFormat::Text,
        },
    };
    log.init("warn");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_a_peak_rss() {
        let u = usage_of(0).unwrap();
        assert!(u.peak_rss_mb > 0.5, "{u:?}");
        assert!(u.cpu_s >= 0.0, "{u:?}");
    }
}
