//! [`ChaosStack`]: one deployment for a scenario. A private `redis-server` with AOF
//! and `appendfsync always` (so a `kill -9` loses nothing it acknowledged), the four
//! simulators in this process, a receiver of job callbacks, the config file, the api
//! process and the worker processes, and a client of the api. Everything lives in a
//! temporary directory (`<name>.toml`, `api.log`, `worker-<i>.log`), removed at the
//! end unless `CHAOS_KEEP=1` or the scenario found a violation.

use super::canary::{Canaries, LeakScan};
use super::client::ChaosClient;
use super::process::{Proc, WorkerPool, binary};
use super::seed::ChaosSeed;
use crate::hooks::Receiver;
use anyhow::{Context, bail};
use provisioner_sandbox::hostkey::{HostkeyOptions, HostkeySim};
use provisioner_sandbox::idcloudhost::{IdcloudhostOptions, IdcloudhostSim};
use provisioner_sandbox::inferno::{InfernoOptions, InfernoSim};
use provisioner_sandbox::klikk::{KlikkOptions, KlikkSim};
use provisioner_sandbox::redis_server::RedisServer;
use provisioner_shared::Config;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a stack is set up. The defaults make jobs finish in seconds while keeping the
/// lease realistic: 2.5 × the step timeout, and every provider call well inside it.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Workers started with the stack (more can be added with `add_worker`).
    pub workers: usize,
    /// Extra environment of worker `i` (failpoints, `PROVISIONER__…` overrides).
    pub worker_env: Vec<Vec<(String, String)>>,
    /// `RUST_LOG` of the api and the workers (env `CHAOS_LOG` overrides it).
    pub rust_log: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub step_timeout: Duration,
    pub settle: Duration,
    pub max_attempts: u32,
    /// `[deadlines]`, all three.
    pub deadline: Duration,
    /// Every account's `rate_limit`.
    pub rate_limit: String,
    /// Jobs of the run, for the canary root passwords the scan looks for.
    pub jobs: usize,
    /// Virtual seconds per real second in the simulators.
    pub time_factor: f64,
    /// `worker.shards` (1: jobs are claimed strictly in the order they fell due).
    pub shards: u16,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            workers: 3,
            worker_env: Vec::new(),
            rust_log: "info".into(),
            concurrency: 8,
            lease: Duration::from_secs(5),
            step_timeout: Duration::from_secs(2),
            settle: Duration::from_secs(1),
            max_attempts: 8,
            deadline: Duration::from_secs(120),
            rate_limit: "200/s".into(),
            jobs: 0,
            time_factor: 3000.0,
            shards: 4,
        }
    }
}

/// The four simulated providers.
pub struct Sims {
    pub hostkey: HostkeySim,
    pub klikk: KlikkSim,
    pub inferno: InfernoSim,
    pub idc: IdcloudhostSim,
}

impl Sims {
    async fn start(seed: ChaosSeed, canaries: &Canaries, factor: f64) -> anyhow::Result<Sims> {
        let minute = Duration::from_secs(60);
        Ok(Sims {
            hostkey: HostkeySim::start(HostkeyOptions {
                time_factor: factor,
                api_key: canaries.hostkey_api_key.clone(),
                pin: canaries.hostkey_pin.clone(),
                credit: "1000000.00".into(),
                delivery: 10 * minute,
                stage_durations: [minute, 2 * minute, 2 * minute, minute, minute, minute],
                action_delay: Duration::from_secs(5),
                seed: seed.derive("hostkey"),
                ..HostkeyOptions::default()
            })
            .await?,
            klikk: KlikkSim::start(KlikkOptions {
                time_factor: factor,
                token: canaries.klikk_token.clone(),
                provisioning: 5 * minute,
                seed: seed.derive("klikk"),
                ..KlikkOptions::default()
            })
            .await?,
            inferno: InfernoSim::start(InfernoOptions {
                time_factor: factor,
                api_key: canaries.inferno_api_key.clone(),
                auto_pay: true,
                payment_delay: 2 * minute,
                install_duration: 5 * minute,
                seed: seed.derive("inferno"),
                ..InfernoOptions::default()
            })
            .await?,
            idc: IdcloudhostSim::start(IdcloudhostOptions {
                time_factor: factor,
                api_key: canaries.idc_api_key.clone(),
                credit: "1000000.00".into(),
                boot: 2 * minute,
                seed: seed.derive("idcloudhost"),
                ..IdcloudhostOptions::default()
            })
            .await?,
        })
    }
}

pub struct ChaosStack {
    pub name: String,
    pub seed: ChaosSeed,
    /// A short tag of the run (hostnames, references and canaries carry it).
    pub tag: String,
    pub canaries: Canaries,
    pub scan: Arc<LeakScan>,
    pub redis: RedisServer,
    pub sims: Sims,
    pub receiver: Receiver,
    pub config: Config,
    pub config_path: PathBuf,
    pub api: Proc,
    pub workers: WorkerPool,
    pub client: ChaosClient,
    pub options: StackOptions,
    dir: PathBuf,
    keep: bool,
    worker_binary: PathBuf,
    pub started: Instant,
}

impl ChaosStack {
    /// Starts everything and returns once the api answers `/readyz` (workers are
    /// started, not waited for).
    pub async fn start(
        name: &str,
        seed: ChaosSeed,
        options: StackOptions,
    ) -> anyhow::Result<ChaosStack> {
        let started = Instant::now();
        let mut options = options;
        if let Ok(level) = std::env::var("CHAOS_LOG") {
            options.rust_log = level;
        }
        let api_binary = binary("provisioner-api")?;
        let worker_binary = binary("provisioner-worker")?;
        let tag = format!("{:06x}", seed.derive("tag") & 0xff_ffff);
        let dir = std::env::temp_dir().join(format!(
            "provisioner-chaos-{name}-{}-{}",
            seed.value(),
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        let canaries = Canaries::new(seed.derive("canaries"));
        let scan = Arc::new(LeakScan::new(&canaries, options.jobs));
        let redis = tokio::task::spawn_blocking(|| {
            RedisServer::start_with_args(&["--appendonly", "yes", "--appendfsync", "always"])
        })
        .await?
        .context("starting redis-server with AOF")?;
        let sims = Sims::start(seed, &canaries, options.time_factor).await?;
        let receiver = Receiver::start(|_| 200).await?;
        let api_port = free_port()?;
        let text = config_text(&redis.url(), api_port, &sims, &canaries, &options);
        let config = Config::from_toml(&text).context("the chaos config")?;
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, &text)?;
        let mut api = Proc::new(
            "api",
            api_binary,
            vec!["--config".into(), config_path.display().to_string()],
            vec![("RUST_LOG".into(), options.rust_log.clone())],
            dir.join("api.log"),
        );
        api.start()?;
        let client = ChaosClient::new(
            &format!("http://127.0.0.1:{api_port}"),
            &canaries.api_token,
            scan.clone(),
        )?;
        let up = Instant::now();
        while !client.ready().await {
            if !api.is_running() {
                bail!("the api exited at start:\n{}", api.log_tail(20));
            }
            if up.elapsed() > Duration::from_secs(30) {
                bail!(
                    "the api did not answer /readyz within 30s:\n{}",
                    api.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let mut stack = ChaosStack {
            name: name.to_owned(),
            seed,
            tag,
            canaries,
            scan,
            redis,
            sims,
            receiver,
            config,
            config_path,
            api,
            workers: WorkerPool::default(),
            client,
            options: options.clone(),
            dir,
            keep: std::env::var_os("CHAOS_KEEP").is_some(),
            worker_binary,
            started,
        };
        for i in 0..options.workers {
            let env = options.worker_env.get(i).cloned().unwrap_or_default();
            stack.add_worker(env)?;
        }
        Ok(stack)
    }

    /// Starts one more worker with extra environment `env`; returns its index.
    pub fn add_worker(&mut self, env: Vec<(String, String)>) -> anyhow::Result<usize> {
        let i = self.workers.len();
        let mut all = vec![("RUST_LOG".to_owned(), self.options.rust_log.clone())];
        all.extend(env);
        let mut proc = Proc::new(
            &format!("worker-{i}"),
            self.worker_binary.clone(),
            vec!["--config".into(), self.config_path.display().to_string()],
            all,
            self.dir.join(format!("worker-{i}.log")),
        )
        .with_failpoint_seed(self.seed.derive(&format!("failpoints-{i}")));
        proc.start()?;
        Ok(self.workers.push(proc))
    }

    /// The temporary directory with the config and the logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps the directory after the run (a violation was found: the logs are the
    /// evidence).
    pub fn keep_dir(&mut self) {
        self.keep = true;
    }

    /// Every log file of the run.
    pub fn log_files(&self) -> Vec<PathBuf> {
        let mut logs = vec![self.api.log_path().to_owned()];
        logs.extend(self.workers.logs());
        logs
    }

    /// A load of jobs through this stack's api; every `callback_every`-th job reports
    /// to the stack's callback receiver (0: none).
    pub fn load(&self, callback_every: usize) -> super::load::Load {
        super::load::Load {
            client: self.client.clone(),
            tag: self.tag.clone(),
            canaries: self.canaries.clone(),
            callback: (callback_every > 0).then(|| (self.receiver.url.clone(), callback_every)),
            accept_within: Duration::from_secs(60),
        }
    }

    /// How long until job `id` is due (negative: overdue), from its score in the
    /// due-set and Redis's clock; `None` when it is in no due-set (finished, parked).
    /// A claimed job is due when its lease runs out.
    pub async fn due_in_ms(&self, id: &str) -> anyhow::Result<Option<i64>> {
        let keys = provisioner_shared::store::Keys::new(
            &self.config.redis.namespace,
            self.config.worker.shards,
        );
        let client = redis::Client::open(self.redis.url())?;
        let mut c = client.get_multiplexed_async_connection().await?;
        let score: Option<f64> = redis::cmd("ZSCORE")
            .arg(keys.due(keys.shard_of(id)))
            .arg(id)
            .query_async(&mut c)
            .await?;
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(&mut c).await?;
        let now = secs * 1000 + micros / 1000;
        Ok(score.map(|s| s as i64 - now))
    }

    /// How many times the workers' failpoints aborted them (their logs say so).
    pub fn failpoint_aborts(&self) -> u64 {
        self.workers
            .logs()
            .iter()
            .map(|log| {
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .matches(": aborting the process")
                    .count() as u64
            })
            .sum()
    }

    /// `kill -9` of redis-server, then a restart on the same port and data (AOF).
    pub async fn kill_and_restart_redis(&mut self, down_for: Duration) -> anyhow::Result<()> {
        self.redis.stop();
        tokio::time::sleep(down_for).await;
        tokio::task::block_in_place(|| self.redis.restart()).context("restarting redis-server")
    }

    /// SIGTERM to every process (workers first), SIGKILL after a grace period.
    pub fn stop_processes(&mut self) {
        self.workers.terminate_all(Duration::from_secs(3));
        self.api.terminate(Duration::from_secs(3));
    }
}

impl Drop for ChaosStack {
    fn drop(&mut self) {
        self.stop_processes();
        if self.keep {
            println!(
                "chaos {}: logs and config kept in {}",
                self.name,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A port nothing listens on right now, for a child process to bind.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The config file every process of the stack reads.
fn config_text(
    redis_url: &str,
    api_port: u16,
    sims: &Sims,
    canaries: &Canaries,
    o: &StackOptions,
) -> String {
    format!(
        r#"# A chaos run's deployment: fast polls and retries, a lease of {lease} over steps of {step}.
[redis]
url = "{redis_url}"
namespace = "chaos"
response_timeout = "2s"

[api]
listen = "127.0.0.1:{api_port}"
tokens = ["{api_token}"]
webhook_secret = "{webhook_secret}"
public_url = "http://127.0.0.1:{api_port}"

[worker]
concurrency = {concurrency}
lease = "{lease}"
step_timeout = "{step}"
shards = {shards}
max_idle = "100ms"
shutdown_grace = "2s"
settle = "{settle}"

[polling]
initial = "100ms"
max = "300ms"
payment = "200ms"

[retry]
max_attempts = {max_attempts}
base = "100ms"
max = "1s"

[deadlines]
delivery = "{deadline}"
install = "{deadline}"
payment = "{deadline}"

[secrets]
key = "{secrets_key}"

[callbacks]
secret = "{callback_secret}"
allow_private = true
retry_for = "60s"
retry_base = "100ms"
retry_max = "1s"
timeout = "2s"

[[accounts]]
name = "hk"
provider = "hostkey"
base_url = "{hk_url}"
api_key = "{hk_key}"
pin = "{hk_pin}"
rate_limit = "{rate}"

[[accounts]]
name = "klikk"
provider = "klikk"
base_url = "{klikk_url}"
token = "{klikk_token}"
rate_limit = "{rate}"

[[accounts]]
name = "inferno"
provider = "inferno"
base_url = "{inferno_url}"
client_id = {inferno_cid}
api_key = "{inferno_key}"
rate_limit = "{rate}"

[[accounts]]
name = "idc"
provider = "idcloudhost"
base_url = "{idc_url}"
api_key = "{idc_key}"
billing_account_id = {idc_ba}
pay_invoices = true
rate_limit = "{rate}"

[[accounts]]
name = "noop"
provider = "noop"
base_url = "http://127.0.0.1:9/"
"#,
        api_token = canaries.api_token,
        webhook_secret = canaries.webhook_secret(),
        callback_secret = canaries.callback_secret(),
        secrets_key = canaries.secrets_key_config(),
        concurrency = o.concurrency,
        lease = ms(o.lease),
        step = ms(o.step_timeout),
        settle = ms(o.settle),
        max_attempts = o.max_attempts,
        shards = o.shards,
        deadline = ms(o.deadline),
        rate = o.rate_limit,
        hk_url = sims.hostkey.base_url(),
        hk_key = canaries.hostkey_api_key,
        hk_pin = canaries.hostkey_pin,
        klikk_url = sims.klikk.endpoint(),
        klikk_token = canaries.klikk_token,
        inferno_url = sims.inferno.base_url(),
        inferno_cid = sims.inferno.client_id(),
        inferno_key = canaries.inferno_api_key,
        idc_url = sims.idc.base_url(),
        idc_key = canaries.idc_api_key,
        idc_ba = sims.idc.billing_account_id(),
    )
}
