//! What a scenario deploys: a Redis target, a generated config (the TOML file the child
//! processes read, and the same `Config` in this process), and jobs seeded straight
//! into the store (`Store::enqueue`, no HTTP in the way).

use super::options::{Options, runtime_name};
use anyhow::Context;
use futures::StreamExt;
use provisioner_sandbox::redis_server::{RedisCluster, RedisServer};
use provisioner_shared::config::RuntimeFlavor;
use provisioner_shared::job::{JobSpec, RunState};
use provisioner_shared::plan;
use provisioner_shared::request::{JobRequest, ParseContext};
use provisioner_shared::secret::ConfigSecret;
use provisioner_shared::secret::Sealer;
use provisioner_shared::{Config, Store};
use serde_json::{Value, json};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The bench's one API token.
pub const API_TOKEN: &str = "bench-token-5b1d";

/// Configs and logs of one bench run; removed at the end unless `BENCH_KEEP` is set.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn new() -> anyhow::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!(
            "provisioner-bench-{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        ));
        fs::create_dir_all(&path)?;
        Ok(ScratchDir { path })
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::env::var_os("BENCH_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A Redis to measure on: `--redis-url`, or a private server (or cluster) that lives
/// as long as this value, so every scenario starts from an empty one.
pub struct Target {
    pub urls: Vec<String>,
    pub cluster: bool,
    _server: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
}

impl Target {
    /// `--redis-url` (a comma-separated list is a cluster), else a fresh `redis-server`.
    pub async fn from_options(opts: &Options) -> anyhow::Result<Target> {
        if let Some(urls) = given_urls(opts) {
            return Ok(Target {
                cluster: urls.len() > 1,
                urls,
                _server: None,
                _cluster: None,
            });
        }
        Target::private_server().await
    }

    pub async fn private_server() -> anyhow::Result<Target> {
        let server = tokio::task::spawn_blocking(RedisServer::start)
            .await?
            .context("starting a private redis-server")?;
        Ok(Target {
            urls: vec![server.url()],
            cluster: false,
            _server: Some(server),
            _cluster: None,
        })
    }

    /// `--redis-url` when it lists several nodes, else a private 3-master cluster.
    pub async fn cluster(opts: &Options) -> anyhow::Result<Target> {
        if let Some(urls) = given_urls(opts).filter(|u| u.len() > 1) {
            return Ok(Target {
                urls,
                cluster: true,
                _server: None,
                _cluster: None,
            });
        }
        let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3))
            .await?
            .context("starting a private 3-master Redis Cluster")?;
        Ok(Target {
            urls: cluster.seed_urls(),
            cluster: true,
            _server: None,
            _cluster: Some(cluster),
        })
    }

    pub fn describe(&self) -> String {
        let whose = if self._server.is_some() || self._cluster.is_some() {
            "private"
        } else {
            "given"
        };
        if self.cluster {
            format!("{whose} cluster, seeds {}", self.urls.join(","))
        } else {
            format!("{whose} node {}", self.urls[0])
        }
    }
}

fn given_urls(opts: &Options) -> Option<Vec<String>> {
    opts.redis_url.as_ref().map(|u| {
        u.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
}

/// What differs between the deployments the scenarios make.
#[derive(Debug, Clone)]
pub struct Shape {
    pub concurrency: usize,
    pub runtime: RuntimeFlavor,
    /// `api.listen`; only the enqueue scenario serves HTTP.
    pub listen: Option<SocketAddr>,
}

/// A generated deployment config: the TOML file and the same config parsed here.
pub struct Deployment {
    pub file: PathBuf,
    pub config: Config,
}

impl Deployment {
    /// Writes `<name>.toml` for `target`, in a namespace of its own.
    pub fn write(
        dir: &super::deployment::ScratchDir,
        name: &str,
        target: &Target,
        shape: &Shape,
    ) -> anyhow::Result<Deployment> {
        let namespace = format!(
            "bench-{name}-{}",
            ulid::Ulid::new().to_string().to_ascii_lowercase()
        );
        let key = ConfigSecret(Sealer::generate_key()).expose().to_owned();
        let urls: Vec<String> = target.urls.iter().map(|u| format!("{u:?}")).collect();
        let listen = shape
            .listen
            .map_or("127.0.0.1:0".to_owned(), |a| a.to_string());
        // A long lease and step timeout: nothing here should ever expire. Deadlines
        // far away: the idle scenario parks jobs an hour out.
        let text = format!(
            r#"
[redis]
url = [{urls}]
cluster = {cluster}
namespace = "{namespace}"

[api]
listen = "{listen}"
tokens = ["{API_TOKEN}"]

[worker]
concurrency = {concurrency}
runtime = "{runtime}"
lease = "60s"
step_timeout = "30s"

[deadlines]
delivery = "48h"
install = "48h"
payment = "48h"

[secrets]
key = "{key}"

[[accounts]]
name = "noop"
provider = "noop"
base_url = "http://127.0.0.1:9/"
"#,
            urls = urls.join(", "),
            cluster = target.cluster,
            concurrency = shape.concurrency,
            runtime = runtime_name(shape.runtime),
        );
        let config = Config::from_toml(&text)
            .with_context(|| format!("the generated config is invalid:\n{text}"))?;
        let file = dir.file(&format!("{name}.toml"));
        fs::write(&file, &text)?;
        Ok(Deployment { file, config })
    }

    pub async fn store(&self) -> anyhow::Result<Store> {
        Ok(Store::connect(&self.config.redis, self.config.worker.shards).await?)
    }

    pub fn path(&self) -> &Path {
        &self.file
    }
}

/// The body of a noop provision with `order`.
pub fn noop_job(order: Value) -> Value {
    json!({"kind": "provision", "account": "noop", "order": order})
}

/// Enqueues `n` copies of `body` straight into the store, 64 at a time; returns their ids.
pub async fn seed_jobs(
    store: &Store,
    config: &Config,
    n: usize,
    body: &Value,
) -> anyhow::Result<Vec<String>> {
    let sealer = config.sealer();
    let request = {
        let cx = ParseContext {
            config,
            sealer: &sealer,
            job_id: "01JD0000000000000000000000",
        };
        JobRequest::parse(body, &cx).map_err(|e| anyhow::anyhow!("bad bench job: {e:?}"))?
    };
    let steps = plan::plan(&request);
    let ids: Vec<String> = (0..n).map(|_| ulid::Ulid::new().to_string()).collect();
    let mut writes = futures::stream::iter(ids.iter().cloned())
        .map(|id| {
            let now = store.clock();
            let spec = JobSpec {
                id,
                created_at: now,
                request: request.clone(),
                holds: Default::default(),
                request_id: None,
            };
            let run = RunState::new(steps.clone(), now);
            async move { store.enqueue(&spec, &run).await }
        })
        .buffer_unordered(64);
    while let Some(written) = writes.next().await {
        anyhow::ensure!(written?, "a seeded job id existed already");
    }
    drop(writes);
    Ok(ids)
}
