//! A private `redis-server` for tests and the demo: a child process on a free
//! loopback port with its own temporary directory, no persistence unless asked for,
//! killed on drop. `stop` kills it with SIGKILL (a crash) and `restart` brings it
//! back on the same port, so tests can prove that workers survive a Redis outage.
//!
//! Synchronous on purpose (std::process, std::net): sync and async callers alike can
//! use it, and nothing here needs a runtime.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a started server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts at finding a free port when another process takes ours first.
const PORT_ATTEMPTS: usize = 5;
const INSTALL_HINT: &str =
    "install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL";

/// Why a Redis server could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RedisServerError {
    #[error("redis-server not found on PATH: {INSTALL_HINT}")]
    NotFound,
    #[error("redis-server not found on PATH and installing it failed ({0}): {INSTALL_HINT}")]
    InstallFailed(String),
    #[error("could not start redis-server")]
    Spawn(#[source] io::Error),
    #[error("redis-server exited at start on port {port}: {log}")]
    Exited { port: u16, log: String },
    #[error("redis-server on port {port} did not answer PING within {waited:?}: {log}")]
    NotReady {
        port: u16,
        waited: Duration,
        log: String,
    },
    #[error("preparing redis-server's directory or port failed")]
    Io(#[from] io::Error),
    #[error("redis-cli not found on PATH (it builds the cluster): {INSTALL_HINT}")]
    CliNotFound,
    #[error("redis-cli --cluster create failed: {0}")]
    ClusterCreate(String),
    #[error(
        "the cluster on ports {ports:?} did not report cluster_state:ok within {waited:?}: {info}"
    )]
    ClusterNotReady {
        ports: Vec<u16>,
        waited: Duration,
        info: String,
    },
}

/// A `redis-server` child process, killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    dir: PathBuf,
    port: u16,
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A server on a free port of 127.0.0.1 with `--save "" --appendonly no`, in its
    /// own temporary directory; returns once it answers PING.
    pub fn start() -> Result<RedisServer, RedisServerError> {
        Self::start_with_args(&[])
    }

    /// Like [`RedisServer::start`], with extra `redis-server` arguments appended
    /// (later arguments win, so e.g. `["--appendonly", "yes"]` turns AOF on; the
    /// data directory survives [`RedisServer::restart`]).
    pub fn start_with_args(extra: &[&str]) -> Result<RedisServer, RedisServerError> {
        let binary = redis_server_binary()?;
        let mut server = RedisServer {
            binary,
            dir: make_temp_dir()?,
            port: 0,
            extra: extra.iter().map(|arg| (*arg).to_owned()).collect(),
            child: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port()?;
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                // Another process took the port between our probe and the bind.
                Err(err @ RedisServerError::Exited { .. }) => last_error = Some(err),
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or(RedisServerError::NotFound))
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True while the child process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// Kills the server with SIGKILL, like a crash (no shutdown save).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean it is already gone, which is what we want.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (and the same data directory).
    pub fn restart(&mut self) -> Result<(), RedisServerError> {
        self.stop();
        let mut last_error = None;
        // The old socket may linger for a moment after a kill.
        for _ in 0..PORT_ATTEMPTS {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(err @ RedisServerError::Exited { .. }) => {
                    last_error = Some(err);
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(err) => return Err(err),
            }
        }
        Err(last_error.unwrap_or(RedisServerError::NotFound))
    }

    fn spawn_and_wait(&mut self) -> Result<(), RedisServerError> {
        let log_path = self.dir.join("redis.log");
        let log = fs::File::create(&log_path)?;
        let child = Command::new(&self.binary)
            .arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--daemonize", "no"])
            .args(["--logfile", ""])
            .arg("--dir")
            .arg(&self.dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(RedisServerError::Spawn)?;
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return Err(RedisServerError::Exited {
                    port: self.port,
                    log: log_tail(&log_path),
                });
            }
            if ping(self.port) {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                self.stop();
                return Err(RedisServerError::NotReady {
                    port: self.port,
                    waited: READY_TIMEOUT,
                    log: log_tail(&log_path),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// How long a new cluster may take until every node agrees on the slots.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The cluster bus listens on the client port + 10 000 (Redis's fixed offset).
const CLUSTER_BUS_OFFSET: u16 = 10_000;

/// A local Redis Cluster: `masters` nodes with `--cluster-enabled yes`, each a
/// [`RedisServer`] with its own port and temporary directory, joined by
/// `redis-cli --cluster create … --cluster-replicas 0`. Every node is killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` nodes (at least 3, as `redis-cli --cluster create` demands),
    /// creates the cluster and returns once every node says `cluster_state:ok`.
    pub fn start(masters: usize) -> Result<RedisCluster, RedisServerError> {
        if masters < 3 {
            return Err(RedisServerError::ClusterCreate(format!(
                "a cluster needs at least 3 masters, not {masters}"
            )));
        }
        let binary = redis_server_binary()?;
        let cli = find_on_path("redis-cli").ok_or(RedisServerError::CliNotFound)?;
        let mut nodes = Vec::with_capacity(masters);
        for _ in 0..masters {
            nodes.push(start_cluster_node(&binary)?);
        }
        let cluster = RedisCluster { nodes };
        let output = Command::new(cli)
            .args(["--cluster", "create"])
            .args(cluster.addresses())
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()?;
        if !output.status.success() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            return Err(RedisServerError::ClusterCreate(
                lines[lines.len().saturating_sub(5)..].join(" | "),
            ));
        }
        cluster.wait_until_ok()?;
        Ok(cluster)
    }

    /// `redis://127.0.0.1:PORT` of every node: the seed list for `redis.url`.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The client port of every node.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    fn addresses(&self) -> Vec<String> {
        self.ports()
            .into_iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect()
    }

    /// Slots are assigned at once, but each node learns the others' over the bus:
    /// a client that connects earlier can be told CLUSTERDOWN.
    fn wait_until_ok(&self) -> Result<(), RedisServerError> {
        let started = Instant::now();
        let masters = self.nodes.len();
        loop {
            let mut last = String::new();
            let all_ok = self.ports().into_iter().all(|port| {
                let info = query(port, &["CLUSTER", "INFO"]).unwrap_or_default();
                let ok = info.contains("cluster_state:ok")
                    && info.contains("cluster_slots_assigned:16384")
                    && info.contains(&format!("cluster_known_nodes:{masters}"));
                if !ok {
                    last = info.lines().take(4).collect::<Vec<_>>().join(" ");
                }
                ok
            });
            if all_ok {
                return Ok(());
            }
            if started.elapsed() > CLUSTER_READY_TIMEOUT {
                return Err(RedisServerError::ClusterNotReady {
                    ports: self.ports(),
                    waited: CLUSTER_READY_TIMEOUT,
                    info: last,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One cluster node on a free port whose bus port (+10 000) is free too.
fn start_cluster_node(binary: &Path) -> Result<RedisServer, RedisServerError> {
    let mut server = RedisServer {
        binary: binary.to_owned(),
        dir: make_temp_dir()?,
        port: 0,
        extra: [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "5000",
        ]
        .iter()
        .map(|arg| (*arg).to_owned())
        .collect(),
        child: None,
    };
    let mut last_error = None;
    for _ in 0..PORT_ATTEMPTS * 4 {
        let port = free_port()?;
        let Some(bus) = port.checked_add(CLUSTER_BUS_OFFSET) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, bus)).is_err() {
            continue;
        }
        server.port = port;
        match server.spawn_and_wait() {
            Ok(()) => return Ok(server),
            Err(err @ RedisServerError::Exited { .. }) => last_error = Some(err),
            Err(err) => return Err(err),
        }
    }
    Err(last_error.unwrap_or(RedisServerError::NotFound))
}

/// Sends one command and returns the raw reply (enough for `CLUSTER INFO`).
fn query(port: u16, args: &[&str]) -> io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    while !reply_complete(&reply) {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&reply).into_owned())
}

/// A whole RESP reply has arrived: a bulk string's announced length, else one line.
fn reply_complete(reply: &[u8]) -> bool {
    let Some(end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if reply[0] != b'$' {
        return true;
    }
    let len: i64 = std::str::from_utf8(&reply[1..end])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1);
    len < 0 || reply.len() >= end + 2 + len as usize + 2
}

/// Finds `redis-server` on PATH; when it is missing and this process runs as root,
/// installs the Debian package non-interactively and looks again.
pub fn redis_server_binary() -> Result<PathBuf, RedisServerError> {
    if let Some(found) = find_on_path("redis-server") {
        return Ok(found);
    }
    if !running_as_root() {
        return Err(RedisServerError::NotFound);
    }
    // Tests start servers in parallel: one install at a time.
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(found) = find_on_path("redis-server") {
        return Ok(found);
    }
    apt_get(&["update"])?;
    apt_get(&["install", "-y", "--no-install-recommends", "redis-server"])?;
    find_on_path("redis-server").ok_or(RedisServerError::NotFound)
}

fn apt_get(args: &[&str]) -> Result<(), RedisServerError> {
    let output = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| RedisServerError::InstallFailed(format!("apt-get: {err}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("").trim().to_owned();
    Err(RedisServerError::InstallFailed(format!(
        "apt-get {} exited with {}: {last}",
        args.first().unwrap_or(&""),
        output.status
    )))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> io::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn make_temp_dir() -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "provisioner-redis-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// True when the server on `port` answers `+PONG` (not `-LOADING`, not nothing).
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 16];
    match stream.read(&mut reply) {
        Ok(n) => reply[..n].starts_with(b"+PONG"),
        Err(_) => false,
    }
}

/// The last lines of the server's log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() {
        "no log output".to_owned()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(server: &RedisServer, cmd: &[u8]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        stream.write_all(cmd).unwrap();
        let mut reply = [0u8; 64];
        let n = stream.read(&mut reply).unwrap();
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    #[test]
    fn starts_stops_and_restarts_on_the_same_port() {
        let mut server = RedisServer::start().expect("redis-server starts");
        assert!(server.url().starts_with("redis://127.0.0.1:"));
        let port = server.port();
        assert_eq!(
            command(&server, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"),
            "+OK\r\n"
        );
        server.stop();
        assert!(!server.is_running());
        assert!(!ping(port));
        server.restart().expect("restarts");
        assert_eq!(server.port(), port);
        assert!(server.is_running());
        // No persistence by default: the crash lost the key.
        assert_eq!(
            command(&server, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
            "$-1\r\n"
        );
    }

    #[test]
    fn append_only_data_survives_a_crash() {
        let mut server =
            RedisServer::start_with_args(&["--appendonly", "yes", "--appendfsync", "always"])
                .expect("redis-server starts");
        command(&server, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
        server.stop();
        server.restart().expect("restarts");
        assert_eq!(
            command(&server, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
            "$1\r\nv\r\n"
        );
    }

    #[test]
    fn a_three_master_cluster_serves_every_slot_and_dies_with_its_handle() {
        let cluster = RedisCluster::start(3).expect("the cluster comes up");
        let ports = cluster.ports();
        assert_eq!(cluster.seed_urls().len(), 3);
        for &port in &ports {
            let info = query(port, &["CLUSTER", "INFO"]).unwrap();
            assert!(info.contains("cluster_state:ok"), "{info}");
            let nodes = query(port, &["CLUSTER", "NODES"]).unwrap();
            assert_eq!(nodes.matches("master").count(), 3, "{nodes}");
        }
        drop(cluster);
        assert!(ports.iter().all(|&port| !ping(port)));
    }

    #[test]
    fn missing_binary_message_says_what_to_install() {
        let message = RedisServerError::NotFound.to_string();
        assert!(
            message.contains("apt-get install redis-server"),
            "{message}"
        );
        assert!(message.contains("REDIS_URL"), "{message}");
    }
}
