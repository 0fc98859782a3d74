//! The real binaries as child processes: found next to this test executable (the
//! same `cargo` build and profile), started with a config file and environment of
//! our choosing, their stdout and stderr appended to one log file per process slot,
//! and killed with SIGKILL, frozen with SIGSTOP, thawed with SIGCONT or restarted.

use anyhow::{Context, bail};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `target/<profile>/<name>`: beside this test executable's `deps/` folder. Fails
/// naming the command that builds it when it is not there (a `cargo test` of the
/// `tests` package alone does not build other packages' binaries).
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().context("locating the test executable")?;
    let deps = me.parent().context("the test executable has a folder")?;
    let profile_dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().unwrap_or(deps)
    } else {
        deps
    };
    let path = profile_dir.join(name);
    if !path.is_file() {
        bail!(
            "{} is missing: the chaos tests run the real binaries of this build. Build them with \
             `cargo test --workspace` (or `cargo build -p provisioner-worker -p provisioner-api` \
             with the same profile as the tests) and run again",
            path.display()
        );
    }
    Ok(path)
}

/// A process slot: one binary with its arguments and environment, started again
/// after every kill. All its runs write to the same log, each after a header line.
pub struct Proc {
    name: String,
    binary: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// `PROVISIONER_FAILPOINTS_SEED` of the n-th start is this plus n, so a restarted
    /// worker does not replay the draw that killed it.
    failpoint_seed: Option<u64>,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
    /// Where the current run's output begins in the log.
    log_offset: u64,
    stopped: bool,
}

impl Proc {
    /// A slot named `name` (for messages and the log's header), not started yet.
    pub fn new(
        name: &str,
        binary: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        log: PathBuf,
    ) -> Proc {
        Proc {
            name: name.to_owned(),
            binary,
            args,
            env,
            failpoint_seed: None,
            log,
            child: None,
            starts: 0,
            log_offset: 0,
            stopped: false,
        }
    }

    /// Seeds the failpoint draws of every start from `seed`.
    pub fn with_failpoint_seed(mut self, seed: u64) -> Proc {
        self.failpoint_seed = Some(seed);
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// How many times it was started.
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Starts it (again). Its output is appended to the log.
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            bail!("{} is already running", self.name);
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        self.log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = Command::new(&self.binary);
        cmd.args(&self.args)
            // Plain text logs: the scans read them as they are written.
            .env("NO_COLOR", "1")
            .env_remove("REDIS_URL")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        if let Some(seed) = self.failpoint_seed {
            cmd.env(
                provisioner_shared::failpoint::SEED_ENV,
                seed.wrapping_add(u64::from(self.starts)).to_string(),
            );
        }
        writeln!(
            log,
            "==== chaos: start {} of {} ====",
            self.starts + 1,
            self.name
        )?;
        let child = cmd
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} ({})", self.name, self.binary.display()))?;
        self.child = Some(child);
        self.starts += 1;
        self.stopped = false;
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs (a frozen one runs too).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The exit status once it has exited by itself (a failpoint's abort), else None.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// `kill -9`: no shutdown, no flush, no commit; reaped at once.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A frozen process dies of SIGKILL too.
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stopped = false;
    }

    /// SIGSTOP: frozen mid-whatever, its sockets open, its leases running out.
    pub fn freeze(&mut self) -> anyhow::Result<()> {
        self.signal("STOP")?;
        self.stopped = true;
        Ok(())
    }

    /// SIGCONT: carries on where it was frozen.
    pub fn thaw(&mut self) -> anyhow::Result<()> {
        self.signal("CONT")?;
        self.stopped = false;
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub fn terminate(&mut self, grace: Duration) {
        if self.stopped {
            let _ = self.thaw();
        }
        if self.signal("TERM").is_err() {
            return;
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.is_running() {
                self.child = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let pid = self
            .pid()
            .with_context(|| format!("{} is not running", self.name))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stderr(Stdio::null())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -{signal} {pid} ({}) failed", self.name);
        }
        Ok(())
    }

    /// The whole log (every run).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The current run's log.
    pub fn current_log(&self) -> String {
        let text = self.log_text();
        text.get(self.log_offset as usize..)
            .unwrap_or_default()
            .to_owned()
    }

    /// The last `n` lines of the log, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Whether the current run has logged `needle` yet; fails with the log's end when
    /// the process exited without.
    pub fn has_logged(&mut self, needle: &str) -> anyhow::Result<bool> {
        if self.current_log().contains(needle) {
            return Ok(true);
        }
        if !self.is_running() {
            bail!(
                "{} exited before logging `{needle}`:\n{}",
                self.name,
                self.log_tail(20)
            );
        }
        Ok(false)
    }

    /// Waits until the current run's log contains `needle` (see [`Proc::has_logged`]).
    pub async fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.has_logged(needle)? {
            if Instant::now() >= deadline {
                bail!(
                    "{} did not log `{needle}` within {timeout:?}:\n{}",
                    self.name,
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The workers of a stack, shared with the tasks that kill them.
#[derive(Clone, Default)]
pub struct WorkerPool {
    workers: Arc<Mutex<Vec<Proc>>>,
}

impl WorkerPool {
    pub fn lock(&self) -> MutexGuard<'_, Vec<Proc>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn push(&self, proc: Proc) -> usize {
        let mut workers = self.lock();
        workers.push(proc);
        workers.len() - 1
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `kill -9` of worker `i`, started again at once (its leases stay behind).
    pub fn kill_and_restart(&self, i: usize) -> anyhow::Result<()> {
        let mut workers = self.lock();
        let w = &mut workers[i];
        w.kill9();
        w.start()
    }

    /// Starts again every worker that exited by itself (a failpoint's abort);
    /// returns how many had.
    pub fn revive_exited(&self) -> anyhow::Result<usize> {
        let mut revived = 0;
        for w in self.lock().iter_mut() {
            if w.child.is_some() && w.exited().is_some() {
                w.start()?;
                revived += 1;
            }
        }
        Ok(revived)
    }

    /// Waits until worker `i`'s current run logs `needle`.
    pub async fn wait_for_log(
        &self,
        i: usize,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.lock()[i].has_logged(needle)?;
            if found {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "worker {i} did not log `{needle}` within {timeout:?}:\n{}",
                    self.lock()[i].log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn freeze(&self, i: usize) -> anyhow::Result<()> {
        self.lock()[i].freeze()
    }

    pub fn thaw(&self, i: usize) -> anyhow::Result<()> {
        self.lock()[i].thaw()
    }

    pub fn log_text(&self, i: usize) -> String {
        self.lock()[i].log_text()
    }

    /// Every worker's log path.
    pub fn logs(&self) -> Vec<PathBuf> {
        self.lock().iter().map(|w| w.log.clone()).collect()
    }

    /// Stops every worker gracefully (SIGTERM, then SIGKILL after `grace`).
    pub fn terminate_all(&self, grace: Duration) {
        for w in self.lock().iter_mut() {
            w.terminate(grace);
        }
    }
}
