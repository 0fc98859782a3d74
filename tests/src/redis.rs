//! `TestRedis`: an isolated Redis for one test.
//!
//! Where it comes from, first match wins:
//! 1. `REDIS_URL` is set: that server, with a namespace of its own (`t-<ulid>`) whose
//!    keys are deleted when the test ends. Fast, and how CI with a service runs.
//! 2. `provisioner_sandbox::redis_server::RedisServer` can start one (a
//!    `redis-server` on the PATH, or one it installs): a fresh server on a free port,
//!    killed when the test ends.
//! 3. A Docker engine answers on its socket: a `redis` container (testcontainers).
//!
//! Every test gets its own namespace in all three cases, so a test can assert on
//! "every key this test wrote" with [`TestRedis::keys`]. A test that stops and
//! restarts Redis asks for a server of its own with [`TestRedis::start_private`].

use anyhow::{Context, bail};
use provisioner_sandbox::redis_server::{RedisServer, RedisServerError};
use std::time::Duration;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage};

pub struct TestRedis {
    url: String,
    namespace: String,
    backend: Backend,
}

enum Backend {
    /// A server we share with others (`REDIS_URL`, or another `TestRedis`'s): clean
    /// our namespace up on drop.
    Shared,
    /// Our own server: killed when we go (and `stop`/`restart` in between). `None`
    /// only while a restart runs.
    Process(Option<RedisServer>),
    /// Held only to go away with us.
    Container {
        _container: Box<ContainerAsync<GenericImage>>,
    },
}

impl TestRedis {
    pub async fn start() -> anyhow::Result<TestRedis> {
        let namespace = fresh_namespace();
        if let Some(url) = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
            return Ok(TestRedis {
                url,
                namespace,
                backend: Backend::Shared,
            });
        }
        match start_server().await {
            Ok(server) => return Ok(TestRedis::on_server(server, namespace)),
            Err(RedisServerError::NotFound | RedisServerError::InstallFailed(_)) => {}
            Err(e) => return Err(e).context("starting redis-server"),
        }
        if docker_engine_answers().await {
            let container = GenericImage::new("redis", "7-alpine")
                .with_exposed_port(6379.tcp())
                .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
                .start()
                .await
                .context("starting a redis container")?;
            let host = container.get_host().await?;
            let port = container.get_host_port_ipv4(6379).await?;
            return Ok(TestRedis {
                url: format!("redis://{host}:{port}"),
                namespace,
                backend: Backend::Container {
                    _container: Box::new(container),
                },
            });
        }
        bail!(
            "no Redis for the tests: set REDIS_URL, install redis-server (apt-get install redis-server), \
             or run a Docker engine"
        )
    }

    /// A `redis-server` of this test's own even when `REDIS_URL` is set, for tests
    /// that [`stop`](Self::stop) and [`restart`](Self::restart) it.
    pub async fn start_private() -> anyhow::Result<TestRedis> {
        let namespace = fresh_namespace();
        let server = start_server()
            .await
            .context("starting a private redis-server")?;
        Ok(TestRedis::on_server(server, namespace))
    }

    fn on_server(server: RedisServer, namespace: String) -> TestRedis {
        TestRedis {
            url: server.url(),
            namespace,
            backend: Backend::Process(Some(server)),
        }
    }

    fn server(&mut self) -> anyhow::Result<&mut Option<RedisServer>> {
        match &mut self.backend {
            Backend::Process(server) => Ok(server),
            _ => bail!("only a TestRedis from start_private can be stopped and restarted"),
        }
    }

    /// Kills the server, like a crash.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(server) = self.server()? {
            server.stop();
        }
        Ok(())
    }

    /// Starts it again on the same port; returns once it answers PING.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let slot = self.server()?;
        let mut server = slot.take().context("a restart is already running")?;
        let (server, outcome) = tokio::task::spawn_blocking(move || {
            let outcome = server.restart();
            (server, outcome)
        })
        .await?;
        *self.server()? = Some(server);
        Ok(outcome?)
    }

    /// A namespace of its own on this test's server, cleaned up when it goes: many
    /// isolated stores on one `redis-server` (one per property-test case). It must
    /// not outlive `self`, whose server it uses.
    pub fn another_namespace(&self) -> TestRedis {
        TestRedis {
            url: self.url.clone(),
            namespace: fresh_namespace(),
            backend: Backend::Shared,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key prefix of this test; the config from `test_config` uses it.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub async fn connection(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url.as_str())?;
        Ok(client.get_multiplexed_async_connection().await?)
    }

    /// Every key of this test's namespace (`ns:…` and the sharded `{ns:N}:…`), sorted.
    pub async fn keys(&self) -> anyhow::Result<Vec<String>> {
        let mut c = self.connection().await?;
        let mut keys = Vec::new();
        for pattern in [
            format!("{}:*", self.namespace),
            format!("{{{}:*", self.namespace),
        ] {
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut c)
                    .await?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Backend::Shared = self.backend
            && let Err(e) = delete_namespace(&self.url, &self.namespace)
        {
            eprintln!(
                "TestRedis: could not clean up namespace {}: {e}",
                self.namespace
            );
        }
    }
}

fn fresh_namespace() -> String {
    format!("t-{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}

/// `RedisServer::start` blocks until the server answers: keep it off the runtime.
async fn start_server() -> Result<RedisServer, RedisServerError> {
    tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Blocking on purpose: it runs in `Drop`, where no await is possible.
fn delete_namespace(url: &str, namespace: &str) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut c = client.get_connection_with_timeout(Duration::from_secs(2))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    for pattern in [format!("{namespace}:*"), format!("{{{namespace}:*")] {
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)?;
            if !batch.is_empty() {
                redis::cmd("UNLINK").arg(&batch).exec(&mut c)?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    Ok(())
}

/// The engine answers `GET /_ping` on its socket: a `docker` binary alone proves
/// nothing (a CLI without a daemon is common in CI images).
async fn docker_engine_answers() -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    async fn ping<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut s: S) -> bool {
        if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            .await
            .is_err()
        {
            return false;
        }
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply).await;
        reply.starts_with(b"HTTP/1.") && reply.windows(3).any(|w| w == b"200")
    }
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let check = async {
        if let Some(path) = host.strip_prefix("unix://") {
            #[cfg(unix)]
            if let Ok(s) = tokio::net::UnixStream::connect(path).await {
                return ping(s).await;
            }
            false
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => ping(s).await,
                Err(_) => false,
            }
        } else {
            false
        }
    };
    tokio::time::timeout(Duration::from_secs(2), check)
        .await
        .unwrap_or(false)
}
