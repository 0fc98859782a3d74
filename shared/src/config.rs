//! The configuration, loaded once at start: TOML file, then `PROVISIONER__SECTION__KEY`
//! environment overrides, then validation. A bad value stops the process with the
//! key's name (`worker.lease: must be longer than worker.step_timeout`).

use crate::provider::ProviderKind;
use crate::secret::{CallbackTokens, ConfigSecret, Sealer};
use crate::webhook::WebhookKey;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use url::Url;

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("config: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub redis: RedisConfig,
    #[serde(default)]
    pub api: ApiConfig,
    #[serde(default)]
    pub worker: WorkerConfig,
    #[serde(default)]
    pub polling: PollingConfig,
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default)]
    pub deadlines: DeadlinesConfig,
    #[serde(default)]
    pub secrets: SecretsConfig,
    #[serde(default)]
    pub callbacks: CallbacksConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub plans: BTreeMap<String, PlanConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// One URL, or several (a list, or comma-separated) for a Redis Cluster seed list.
    #[serde(default, deserialize_with = "string_or_list")]
    pub url: Vec<String>,
    /// Treat a single URL as a cluster seed as well.
    #[serde(default)]
    pub cluster: bool,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// How long one Redis command may take before it counts as failed.
    #[serde(default = "default_redis_timeout", with = "humantime_serde")]
    pub response_timeout: Duration,
    /// Replicas that must acknowledge a money step's intent (Redis `WAIT`) before its
    /// provider call is sent: `"auto"` (one, when the master has replicas), a
    /// number, or `0` (never wait).
    #[serde(default)]
    pub wait_replicas: WaitReplicas,
    /// How long an intent commit waits for its replicas; past it the call is not sent
    /// and the step is retried.
    #[serde(default = "default_wait_timeout", with = "humantime_serde")]
    pub wait_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: Vec::new(),
            cluster: false,
            namespace: default_namespace(),
            response_timeout: default_redis_timeout(),
            wait_replicas: WaitReplicas::default(),
            wait_timeout: default_wait_timeout(),
        }
    }
}

/// `redis.wait_replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitReplicas {
    /// One replica when the master has any (checked at start and every 30 s).
    #[default]
    Auto,
    /// Exactly this many (0 = never wait).
    Count(u32),
}

impl<'de> Deserialize<'de> for WaitReplicas {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(u32),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Count(n) => Ok(WaitReplicas::Count(n)),
            Raw::Text(t) if t == "auto" => Ok(WaitReplicas::Auto),
            Raw::Text(t) if t == "off" => Ok(WaitReplicas::Count(0)),
            Raw::Text(t) => t.parse().map(WaitReplicas::Count).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{t}` is not \"auto\", \"off\" or a number of replicas"
                ))
            }),
        }
    }
}

impl RedisConfig {
    pub fn is_cluster(&self) -> bool {
        self.cluster || self.url.len() > 1
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Bearer tokens for `/v1`: plain strings (rights `read` + `write`), or tables
    /// with a name and scopes (`api_tokens`).
    #[serde(default, deserialize_with = "api_tokens")]
    pub tokens: Vec<ApiToken>,
    /// Standard Webhooks secrets for `POST /v1/webhooks/billing`: one, or a list
    /// while a sender rotates its secret (a delivery passes with any of them).
    #[serde(default, deserialize_with = "one_or_list")]
    pub webhook_secret: Vec<ConfigSecret>,
    pub public_url: Option<Url>,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body_limit")]
    pub body_limit: usize,
    /// How long an `Idempotency-Key` is remembered.
    #[serde(default = "default_idempotency_ttl", with = "humantime_serde")]
    pub idempotency_ttl: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: default_listen(),
            tokens: Vec::new(),
            webhook_secret: Vec::new(),
            public_url: None,
            body_limit: default_body_limit(),
            idempotency_ttl: default_idempotency_ttl(),
        }
    }
}

/// What an API token may do. Every token-guarded route needs one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read jobs: get, list, follow.
    Read,
    /// Act: enqueue, cancel, retry, resolve.
    Write,
    /// Read a server's login (`GET /v1/jobs/{id}/credentials`).
    Credentials,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Credentials];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Credentials => "credentials",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One accepted bearer token: its name (recorded where it acts, e.g. on a
/// credentials read; never the token), the secret, and what it may do.
#[derive(Debug, Clone)]
pub struct ApiToken {
    pub name: String,
    pub token: ConfigSecret,
    pub scopes: BTreeSet<Scope>,
}

impl ApiToken {
    /// What a plain token string may do: today's rights, so existing configs keep
    /// working.
    pub fn plain_scopes() -> BTreeSet<Scope> {
        BTreeSet::from([Scope::Read, Scope::Write])
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeFlavor {
    MultiThread,
    CurrentThread,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_lease", with = "humantime_serde")]
    pub lease: Duration,
    #[serde(default = "default_step_timeout", with = "humantime_serde")]
    pub step_timeout: Duration,
    #[serde(default = "default_shards")]
    pub shards: u16,
    #[serde(default = "default_runtime")]
    pub runtime: RuntimeFlavor,
    /// Threads of the multi-thread runtime (default: the number of cores).
    pub worker_threads: Option<usize>,
    /// Jobs claimed beyond the free slots (default: `concurrency`); handed back at
    /// shutdown.
    pub prefetch: Option<usize>,
    /// Most jobs one claim script call may lease.
    #[serde(default = "default_max_claim")]
    pub max_claim: usize,
    /// Steps a worker may run back to back on a job it keeps leased.
    #[serde(default = "default_max_chain")]
    pub max_chain: usize,
    /// Longest an idle worker sleeps before it looks at the schedule again.
    #[serde(default = "default_max_idle", with = "humantime_serde")]
    pub max_idle: Duration,
    /// Grace period for in-flight steps at shutdown.
    #[serde(default = "default_shutdown_grace", with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long after a money call with an unknown outcome the provider's state is
    /// trusted to show it: before that, "nothing there" proves nothing (a dropped
    /// request may still be running at the provider).
    #[serde(default = "default_settle", with = "humantime_serde")]
    pub settle: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: default_concurrency(),
            lease: default_lease(),
            step_timeout: default_step_timeout(),
            shards: default_shards(),
            runtime: default_runtime(),
            worker_threads: None,
            prefetch: None,
            max_claim: default_max_claim(),
            max_chain: default_max_chain(),
            max_idle: default_max_idle(),
            shutdown_grace: default_shutdown_grace(),
            settle: default_settle(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollingConfig {
    #[serde(default = "default_poll_initial", with = "humantime_serde")]
    pub initial: Duration,
    #[serde(default = "default_poll_max", with = "humantime_serde")]
    pub max: Duration,
    /// The ceiling of the poll interval while a job waits for an invoice paid
    /// outside, instead of `max`; unset, payment waits grow to `max` like every wait.
    #[serde(default, with = "humantime_serde")]
    pub payment: Option<Duration>,
}

impl Default for PollingConfig {
    fn default() -> Self {
        PollingConfig {
            initial: default_poll_initial(),
            max: default_poll_max(),
            payment: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_retry_base", with = "humantime_serde")]
    pub base: Duration,
    #[serde(default = "default_retry_max", with = "humantime_serde")]
    pub max: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: default_max_attempts(),
            base: default_retry_base(),
            max: default_retry_max(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlinesConfig {
    #[serde(default = "default_delivery", with = "humantime_serde")]
    pub delivery: Duration,
    #[serde(default = "default_install", with = "humantime_serde")]
    pub install: Duration,
    #[serde(default = "default_payment", with = "humantime_serde")]
    pub payment: Duration,
    /// What becomes of an unpaid order when the payment deadline fails its job.
    #[serde(default)]
    pub on_payment_timeout: PaymentTimeout,
}

impl Default for DeadlinesConfig {
    fn default() -> Self {
        DeadlinesConfig {
            delivery: default_delivery(),
            install: default_install(),
            payment: default_payment(),
            on_payment_timeout: PaymentTimeout::default(),
        }
    }
}

/// `[deadlines] on_payment_timeout`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentTimeout {
    /// Cancel the unpaid order upstream (Klikk `order_cancel`, Inferno `cancel`).
    #[default]
    Cancel,
    /// Leave it: the customer may still pay it, and an operator retry resumes.
    Keep,
}

impl PaymentTimeout {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentTimeout::Cancel => "cancel",
            PaymentTimeout::Keep => "keep",
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    pub key: Option<ConfigSecret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbacksConfig {
    pub secret: Option<ConfigSecret>,
    #[serde(default)]
    pub allow_private: bool,
    /// How long a job's outbound callback is retried.
    #[serde(default = "default_callback_window", with = "humantime_serde")]
    pub retry_for: Duration,
    /// Backoff between delivery attempts: exponential from `retry_base`, capped at
    /// `retry_max`, with full jitter.
    #[serde(default = "default_callback_retry_base", with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(default = "default_callback_retry_max", with = "humantime_serde")]
    pub retry_max: Duration,
    /// One delivery attempt's HTTP timeout.
    #[serde(default = "default_callback_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Add the server's login (`credentials`, as `GET /v1/jobs/{id}/credentials`
    /// gives it) to the signed callback of a job whose server exists. Off: the
    /// password then leaves only through the credentials route.
    #[serde(default)]
    pub include_credentials: bool,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            secret: None,
            allow_private: false,
            retry_for: default_callback_window(),
            retry_base: default_callback_retry_base(),
            retry_max: default_callback_retry_max(),
            timeout: default_callback_timeout(),
            include_credentials: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// How long a finished job (succeeded, failed, cancelled) stays readable.
    #[serde(default = "default_retention", with = "humantime_serde")]
    pub finished: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            finished: default_retention(),
        }
    }
}

/// One upstream account. Which keys are required depends on `provider`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    pub provider: ProviderKind,
    pub base_url: Url,
    pub api_key: Option<ConfigSecret>,
    pub pin: Option<ConfigSecret>,
    pub token: Option<ConfigSecret>,
    pub username: Option<String>,
    pub password: Option<ConfigSecret>,
    pub client_id: Option<u64>,
    pub location: Option<String>,
    pub billing_account_id: Option<u64>,
    #[serde(default)]
    pub pay_invoices: bool,
    /// Provider calls allowed for this account, e.g. `"10/s"` or `"300/m"`.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// HTTP timeout of one provider call (default: the step timeout).
    #[serde(default, with = "humantime_serde")]
    pub request_timeout: Option<Duration>,
}

/// `N/s`, `N/m` or `N/h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

impl RateLimit {
    pub fn parse(s: &str) -> Option<RateLimit> {
        let (n, unit) = s.trim().split_once('/')?;
        let n: f64 = n.trim().parse().ok()?;
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1.0,
            "m" | "min" | "minute" => 60.0,
            "h" | "hour" => 3600.0,
            _ => return None,
        };
        if n <= 0.0 || !n.is_finite() {
            return None;
        }
        Some(RateLimit {
            per_second: n / secs,
            burst: (n.ceil() as u32).clamp(1, 1000),
        })
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RateLimit::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("`{s}` is not a rate such as \"10/s\" or \"300/m\""))
        })
    }
}

/// `[plans.NAME]`: what a billing webhook's `plan` maps to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    pub account: String,
    pub order: serde_json::Value,
    pub reinstall: Option<serde_json::Value>,
}

fn default_namespace() -> String {
    "provisioner".into()
}
fn default_redis_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_listen() -> SocketAddr {
    "127.0.0.1:8080".parse().unwrap()
}
fn default_body_limit() -> usize {
    64 * 1024
}
fn default_idempotency_ttl() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_concurrency() -> usize {
    32
}
fn default_lease() -> Duration {
    Duration::from_secs(60)
}
fn default_step_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_shards() -> u16 {
    16
}
fn default_runtime() -> RuntimeFlavor {
    RuntimeFlavor::MultiThread
}
fn default_max_claim() -> usize {
    200
}
fn default_max_chain() -> usize {
    64
}
fn default_max_idle() -> Duration {
    Duration::from_secs(1)
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_wait_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_settle() -> Duration {
    Duration::from_secs(30)
}
fn default_poll_initial() -> Duration {
    Duration::from_secs(5)
}
fn default_poll_max() -> Duration {
    Duration::from_secs(60)
}
fn default_max_attempts() -> u32 {
    8
}
fn default_retry_base() -> Duration {
    Duration::from_secs(1)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(300)
}
fn default_delivery() -> Duration {
    Duration::from_secs(2 * 3600)
}
fn default_install() -> Duration {
    Duration::from_secs(3 * 3600)
}
fn default_payment() -> Duration {
    Duration::from_secs(72 * 3600)
}
fn default_callback_window() -> Duration {
    Duration::from_secs(24 * 3600)
}
fn default_callback_retry_base() -> Duration {
    Duration::from_secs(5)
}
fn default_callback_retry_max() -> Duration {
    Duration::from_secs(3600)
}
fn default_callback_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_retention() -> Duration {
    Duration::from_secs(90 * 24 * 3600)
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::One(s) => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
        Repr::Many(v) => v,
    })
}

/// One secret or a list of them. A single string is never split: a raw secret may
/// hold any character.
fn one_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ConfigSecret>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Many(Vec<ConfigSecret>),
        One(ConfigSecret),
    }
    Ok(match Repr::deserialize(d)? {
        Repr::Many(v) => v,
        Repr::One(s) => vec![s],
    })
}

/// `[api] tokens`: one string (comma-separated: an env override), or a list whose
/// items are strings or tables `{ name = "billing", token = "..." | { env = ... } |
/// { file = ... }, scopes = ["read", "write", "credentials"] }`. A string has the
/// scopes `read` and `write` and the name `tokens[i]`; a table without `scopes` too.
fn api_tokens<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ApiToken>, D::Error> {
    use serde::de::Error;
    let plain = |i: usize, token: ConfigSecret| ApiToken {
        name: format!("tokens[{i}]"),
        token,
        scopes: ApiToken::plain_scopes(),
    };
    let items = match toml::Value::deserialize(d)? {
        toml::Value::String(s) => {
            return Ok(s
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .enumerate()
                .map(|(i, p)| plain(i, ConfigSecret::from(p)))
                .collect());
        }
        toml::Value::Array(items) => items,
        other @ toml::Value::Table(_) => vec![other],
        _ => {
            return Err(D::Error::custom(
                "expected a token, a list of tokens, or tables { name, token, scopes }",
            ));
        }
    };
    let mut tokens = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = |field: &str, e: &dyn std::fmt::Display| {
            D::Error::custom(format!("tokens[{i}]{field}: {e}"))
        };
        // A string, or `{ env = ... }` / `{ file = ... }`: a plain token.
        let toml::Value::Table(mut table) = item else {
            let secret = ConfigSecret::deserialize(item).map_err(|e| at("", &e))?;
            tokens.push(plain(i, secret));
            continue;
        };
        if table.contains_key("env") || table.contains_key("file") {
            let secret =
                ConfigSecret::deserialize(toml::Value::Table(table)).map_err(|e| at("", &e))?;
            tokens.push(plain(i, secret));
            continue;
        }
        if let Some(key) = table
            .keys()
            .find(|k| !matches!(k.as_str(), "name" | "token" | "scopes"))
        {
            return Err(at(
                "",
                &format!("`{key}` is not one of name, token, scopes"),
            ));
        }
        let token = table
            .remove("token")
            .ok_or_else(|| at(".token", &"is required"))?;
        let token = ConfigSecret::deserialize(token).map_err(|e| at(".token", &e))?;
        let name = match table.remove("name") {
            None => format!("tokens[{i}]"),
            Some(toml::Value::String(n)) if !n.trim().is_empty() => n.trim().to_owned(),
            Some(_) => return Err(at(".name", &"must be a non-empty string")),
        };
        let scopes = match table.remove("scopes") {
            None => ApiToken::plain_scopes(),
            Some(toml::Value::Array(list)) => {
                let mut scopes = BTreeSet::new();
                for (j, v) in list.iter().enumerate() {
                    let scope = v.as_str().and_then(Scope::parse).ok_or_else(|| {
                        at(
                            &format!(".scopes[{j}]"),
                            &format!("`{v}` is not one of read, write, credentials"),
                        )
                    })?;
                    scopes.insert(scope);
                }
                if scopes.is_empty() {
                    return Err(at(
                        ".scopes",
                        &"must list at least one of read, write, credentials",
                    ));
                }
                scopes
            }
            Some(_) => {
                return Err(at(
                    ".scopes",
                    &"must be a list such as [\"read\", \"credentials\"]",
                ));
            }
        };
        tokens.push(ApiToken {
            name,
            token,
            scopes,
        });
    }
    Ok(tokens)
}

impl Config {
    /// Reads `path` (if any), applies env overrides, validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| {
                ConfigError::new("--config", format!("cannot read {}: {e}", p.display()))
            })?,
            None => String::new(),
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        Config::from_toml_with_env(&text, &env)
    }

    /// Parses TOML text, applying the given `PROVISIONER__…` overrides and `REDIS_URL`.
    pub fn from_toml_with_env(text: &str, env: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("config file", e.to_string()))?;
        for (k, v) in env {
            if let Some(path) = k.strip_prefix("PROVISIONER__") {
                let segments: Vec<String> =
                    path.split("__").map(|s| s.to_ascii_lowercase()).collect();
                set_path(&mut root, &segments, env_value(v))
                    .map_err(|m| ConfigError::new(k.clone(), m))?;
            }
        }
        let has_url = root
            .get("redis")
            .and_then(|r| r.as_table())
            .is_some_and(|r| r.contains_key("url"));
        if !has_url && let Some((_, url)) = env.iter().find(|(k, _)| k == "REDIS_URL") {
            let redis = root
                .entry("redis")
                .or_insert_with(|| toml::Value::Table(Default::default()));
            if let Some(t) = redis.as_table_mut() {
                t.insert("url".into(), toml::Value::String(url.clone()));
            }
        }
        let de = toml::Value::Table(root);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::new(
                if key == "." { "config".into() } else { key },
                e.inner().to_string(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.redis.url.is_empty() {
            return Err(ConfigError::new(
                "redis.url",
                "is required (or set REDIS_URL), e.g. redis://127.0.0.1:6379",
            ));
        }
        for u in &self.redis.url {
            let parsed = Url::parse(u)
                .map_err(|e| ConfigError::new("redis.url", format!("`{u}` is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "redis" | "rediss") {
                return Err(ConfigError::new(
                    "redis.url",
                    "must start with redis:// or rediss://",
                ));
            }
        }
        if self.redis.namespace.is_empty()
            || !self
                .redis
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            return Err(ConfigError::new(
                "redis.namespace",
                "must be non-empty letters, digits, '-', '_', '.', ':' (no braces)",
            ));
        }
        if self.redis.wait_timeout.is_zero()
            || self.redis.wait_timeout >= self.redis.response_timeout
        {
            return Err(ConfigError::new(
                "redis.wait_timeout",
                "must be more than 0 and shorter than redis.response_timeout",
            ));
        }
        let w = &self.worker;
        if w.concurrency == 0 {
            return Err(ConfigError::new("worker.concurrency", "must be at least 1"));
        }
        if w.shards == 0 || w.shards > 1024 {
            return Err(ConfigError::new(
                "worker.shards",
                "must be between 1 and 1024",
            ));
        }
        if w.step_timeout.is_zero() {
            return Err(ConfigError::new(
                "worker.step_timeout",
                "must be more than 0",
            ));
        }
        if w.lease < w.step_timeout + w.step_timeout / 4 {
            return Err(ConfigError::new(
                "worker.lease",
                "must be at least 1.25 × worker.step_timeout, so a step always ends before its lease",
            ));
        }
        if w.max_claim == 0 || w.max_chain == 0 {
            return Err(ConfigError::new(
                "worker.max_claim",
                "max_claim and max_chain must be at least 1",
            ));
        }
        if self.polling.initial.is_zero() || self.polling.initial > self.polling.max {
            return Err(ConfigError::new(
                "polling.initial",
                "must be more than 0 and at most polling.max",
            ));
        }
        if self.polling.payment.is_some_and(|p| p.is_zero()) {
            return Err(ConfigError::new("polling.payment", "must be more than 0"));
        }
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::new("retry.max_attempts", "must be at least 1"));
        }
        if self.retry.base.is_zero() || self.retry.base > self.retry.max {
            return Err(ConfigError::new(
                "retry.base",
                "must be more than 0 and at most retry.max",
            ));
        }
        match &self.secrets.key {
            None => {
                return Err(ConfigError::new(
                    "secrets.key",
                    "is required: the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)",
                ));
            }
            Some(k) => {
                Sealer::from_base64(&k.0)
                    .map_err(|e| ConfigError::new("secrets.key", e.to_string()))?;
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in self.api.tokens.iter().enumerate() {
            if t.token.expose().is_empty() {
                return Err(ConfigError::new(
                    format!("api.tokens[{i}].token"),
                    "must not be empty",
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err(ConfigError::new(
                    format!("api.tokens[{i}].name"),
                    format!("`{}` is used twice", t.name),
                ));
            }
        }
        for (i, s) in self.api.webhook_secret.iter().enumerate() {
            WebhookKey::parse(s.expose())
                .map_err(|e| ConfigError::new(format!("api.webhook_secret[{i}]"), e.to_string()))?;
        }
        if let Some(s) = &self.callbacks.secret {
            WebhookKey::parse(s.expose())
                .map_err(|e| ConfigError::new("callbacks.secret", e.to_string()))?;
        }
        let cb = &self.callbacks;
        if cb.retry_base.is_zero() || cb.retry_base > cb.retry_max {
            return Err(ConfigError::new(
                "callbacks.retry_base",
                "must be more than 0 and at most callbacks.retry_max",
            ));
        }
        if cb.timeout.is_zero() || cb.timeout >= self.worker.lease {
            return Err(ConfigError::new(
                "callbacks.timeout",
                "must be more than 0 and shorter than worker.lease",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = |f: &str| format!("accounts[{i}].{f}");
            if a.name.is_empty()
                || !a
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(ConfigError::new(
                    key("name"),
                    "must be letters, digits, '-', '_' or '.'",
                ));
            }
            if !seen.insert(a.name.clone()) {
                return Err(ConfigError::new(
                    key("name"),
                    format!("`{}` is used twice", a.name),
                ));
            }
            if !matches!(a.base_url.scheme(), "http" | "https") {
                return Err(ConfigError::new(key("base_url"), "must be an http(s) URL"));
            }
            let need = |present: bool, f: &str| {
                if present {
                    Ok(())
                } else {
                    Err(ConfigError::new(
                        key(f),
                        format!("is required for provider {}", a.provider),
                    ))
                }
            };
            match a.provider {
                ProviderKind::Hostkey => {
                    need(a.api_key.is_some(), "api_key")?;
                    need(a.pin.is_some(), "pin")?;
                }
                ProviderKind::Klikk => {
                    if a.token.is_none() && (a.username.is_none() || a.password.is_none()) {
                        return Err(ConfigError::new(
                            key("token"),
                            "is required for provider klikk (or username + password for HTTP Basic)",
                        ));
                    }
                }
                ProviderKind::Inferno => {
                    need(a.client_id.is_some(), "client_id")?;
                    need(a.api_key.is_some(), "api_key")?;
                }
                ProviderKind::Idcloudhost => {
                    need(a.api_key.is_some(), "api_key")?;
                }
                ProviderKind::Noop => {}
            }
        }
        for (name, plan) in &self.plans {
            let Some(account) = self.account(&plan.account) else {
                return Err(ConfigError::new(
                    format!("plans.{name}.account"),
                    format!("no account named `{}`", plan.account),
                ));
            };
            crate::request::check_plan(account.provider, plan)
                .map_err(|e| ConfigError::new(format!("plans.{name}.{}", e.field), e.message))?;
        }
        Ok(())
    }

    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }

    pub fn sealer(&self) -> Sealer {
        let key = self.secrets.key.as_ref().expect("validated at load");
        Sealer::from_base64(&key.0).expect("validated at load")
    }

    /// The tokens of provider callback URLs, keyed with `[secrets] key`.
    pub fn callback_tokens(&self) -> CallbackTokens {
        let key = self.secrets.key.as_ref().expect("validated at load");
        CallbackTokens::from_base64(&key.0).expect("validated at load")
    }

    /// The keys a billing webhook may be signed with (`api.webhook_secret`).
    pub fn webhook_keys(&self) -> Vec<WebhookKey> {
        self.api
            .webhook_secret
            .iter()
            .map(|s| WebhookKey::parse(s.expose()).expect("validated at load"))
            .collect()
    }

    /// The key outbound job callbacks are signed with (`[callbacks] secret`).
    pub fn callback_key(&self) -> Option<WebhookKey> {
        self.callbacks
            .secret
            .as_ref()
            .map(|s| WebhookKey::parse(s.expose()).expect("validated at load"))
    }
}

/// Env values are TOML when they parse as a TOML value (`32`, `true`, `["a"]`), else strings.
fn env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (first, rest) = path.split_first().ok_or("empty key")?;
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let next = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(Default::default()));
    set_value_path(next, rest, value)
}

fn set_value_path(
    node: &mut toml::Value,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match node {
        toml::Value::Table(t) => set_path(t, path, value),
        toml::Value::Array(items) => {
            let (first, rest) = path.split_first().ok_or("empty key")?;
            let idx: usize = first
                .parse()
                .map_err(|_| format!("`{first}` is not an index into a list"))?;
            let item = items
                .get_mut(idx)
                .ok_or_else(|| format!("there is no item {idx} in that list"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_value_path(item, rest, value)
            }
        }
        _ => Err("cannot set a key inside a plain value".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    fn base() -> String {
        format!(
            r#"
[redis]
url = "redis://127.0.0.1:6379"
[secrets]
key = "{KEY}"
[[accounts]]
name = "hk"
provider = "hostkey"
base_url = "https://invapi.hostkey.com"
api_key = "k"
pin = "1234"
"#
        )
    }

    #[test]
    fn env_overrides_win_and_are_typed() {
        let env = vec![
            ("PROVISIONER__WORKER__CONCURRENCY".into(), "7".into()),
            ("PROVISIONER__WORKER__LEASE".into(), "90s".into()),
            ("PROVISIONER__ACCOUNTS__0__PIN".into(), "9999".into()),
        ];
        let c = Config::from_toml_with_env(&base(), &env).unwrap();
        assert_eq!(c.worker.concurrency, 7);
        assert_eq!(c.worker.lease, Duration::from_secs(90));
        assert_eq!(c.accounts[0].pin.as_ref().unwrap().expose(), "9999");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Config::from_toml_with_env(
            &base(),
            &[("PROVISIONER__WORKER__LEASE".into(), "10s".into())],
        )
        .unwrap_err();
        assert_eq!(e.key, "worker.lease");
        let e = Config::from_toml_with_env(
            &base(),
            &[("PROVISIONER__WORKER__SHARDS".into(), "\"x\"".into())],
        )
        .unwrap_err();
        assert_eq!(e.key, "worker.shards");
        let e = Config::from_toml_with_env(&base().replace("pin = \"1234\"", ""), &[]).unwrap_err();
        assert_eq!(e.key, "accounts[0].pin");
        let e = Config::from_toml_with_env(&base().replace(KEY, "c2hvcnQ="), &[]).unwrap_err();
        assert_eq!(e.key, "secrets.key");
    }

    #[test]
    fn redis_url_falls_back_to_env_and_accepts_a_seed_list() {
        let text = base().replace("url = \"redis://127.0.0.1:6379\"", "");
        let c = Config::from_toml_with_env(
            &text,
            &[("REDIS_URL".into(), "redis://10.0.0.1:6379".into())],
        )
        .unwrap();
        assert_eq!(c.redis.url, vec!["redis://10.0.0.1:6379"]);
        assert!(!c.redis.is_cluster());
        let c = Config::from_toml_with_env(
            &text,
            &[(
                "PROVISIONER__REDIS__URL".into(),
                "redis://a:7000,redis://b:7001".into(),
            )],
        )
        .unwrap();
        assert!(c.redis.is_cluster());
    }

    #[test]
    fn secrets_come_from_env_or_file() {
        // SAFETY of the test: the variable name is unique to this test.
        let dir = std::env::temp_dir().join(format!("prov-secret-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        let text = base().replace(
            "api_key = \"k\"",
            &format!("api_key = {{ file = \"{}\" }}", dir.display()),
        );
        let c = Config::from_toml_with_env(&text, &[]).unwrap();
        assert_eq!(
            c.accounts[0].api_key.as_ref().unwrap().expose(),
            "from-file"
        );
        assert!(!format!("{c:?}").contains("from-file"));
        std::fs::remove_file(dir).ok();
    }

    #[test]
    fn webhook_secrets_are_one_or_a_list_and_checked() {
        let one = base().replace(
            "[secrets]",
            "[api]\nwebhook_secret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"\n[secrets]",
        );
        let c = Config::from_toml_with_env(&one, &[]).unwrap();
        assert_eq!(c.webhook_keys().len(), 1);
        let env = [(
            "PROVISIONER__API__WEBHOOK_SECRET".to_owned(),
            r#"["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "raw,secret"]"#.to_owned(),
        )];
        let c = Config::from_toml_with_env(&base(), &env).unwrap();
        assert_eq!(c.webhook_keys().len(), 2);
        let bad = [(
            "PROVISIONER__API__WEBHOOK_SECRET".to_owned(),
            "whsec_***".to_owned(),
        )];
        let e = Config::from_toml_with_env(&base(), &bad).unwrap_err();
        assert_eq!(e.key, "api.webhook_secret[0]");
        let bad = [(
            "PROVISIONER__CALLBACKS__SECRET".to_owned(),
            "whsec_!".to_owned(),
        )];
        let e = Config::from_toml_with_env(&base(), &bad).unwrap_err();
        assert_eq!(e.key, "callbacks.secret");
    }

    #[test]
    fn tokens_are_plain_strings_or_tables_with_scopes() {
        let file = std::env::temp_dir().join(format!("prov-token-{}", std::process::id()));
        std::fs::write(&file, "from-file\n").unwrap();
        let text = base().replace(
            "[secrets]",
            &format!(
                r#"[api]
tokens = [
  "legacy-token",
  {{ name = "billing", token = "billing-token", scopes = ["read", "write", "credentials"] }},
  {{ name = "monitor", token = {{ file = "{}" }}, scopes = ["read"] }},
  {{ token = "unnamed" }},
  {{ file = "{}" }},
]
[secrets]"#,
                file.display(),
                file.display()
            ),
        );
        let c = Config::from_toml_with_env(&text, &[]).unwrap();
        std::fs::remove_file(file).ok();
        let t = &c.api.tokens;
        assert_eq!(t.len(), 5);
        assert_eq!(
            (t[4].name.as_str(), t[4].token.expose()),
            ("tokens[4]", "from-file")
        );
        assert_eq!(
            t[4].scopes,
            ApiToken::plain_scopes(),
            "the deploy example's form"
        );
        assert_eq!(
            (t[0].name.as_str(), t[0].token.expose()),
            ("tokens[0]", "legacy-token")
        );
        assert_eq!(t[0].scopes, ApiToken::plain_scopes());
        assert_eq!(t[1].name, "billing");
        assert!(t[1].allows(Scope::Credentials) && t[1].allows(Scope::Write));
        assert_eq!(t[2].token.expose(), "from-file");
        assert!(t[2].allows(Scope::Read) && !t[2].allows(Scope::Write));
        assert_eq!(t[3].name, "tokens[3]");
        assert!(!t[3].allows(Scope::Credentials));
        assert!(!format!("{c:?}").contains("billing-token"));

        // an env override in the old comma-separated form keeps working
        let env = [("PROVISIONER__API__TOKENS".to_owned(), "a,b".to_owned())];
        let c = Config::from_toml_with_env(&base(), &env).unwrap();
        let names: Vec<&str> = c.api.tokens.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["tokens[0]", "tokens[1]"]);
        assert!(c.api.tokens.iter().all(|t| !t.allows(Scope::Credentials)));
    }

    #[test]
    fn bad_token_entries_name_the_item() {
        let with = |tokens: &str| {
            let text = base().replace("[secrets]", &format!("[api]\ntokens = {tokens}\n[secrets]"));
            Config::from_toml_with_env(&text, &[]).unwrap_err()
        };
        let e = with(r#"[{ token = "x", scopes = ["read", "admin"] }]"#);
        assert_eq!(e.key, "api.tokens");
        assert!(
            e.message.contains("tokens[0].scopes[1]") && e.message.contains("admin"),
            "{e}"
        );
        let e = with(r#"["a", { name = "n", scopes = ["read"] }]"#);
        assert!(e.message.contains("tokens[1].token: is required"), "{e}");
        let e = with(r#"[{ token = "x", scopes = [] }]"#);
        assert!(e.message.contains("tokens[0].scopes"), "{e}");
        let e = with(r#"[{ token = "x", role = "admin" }]"#);
        assert!(e.message.contains("`role`"), "{e}");
        let e = with(r#"[{ name = "n", token = "x" }, { name = "n", token = "y" }]"#);
        assert_eq!(e.key, "api.tokens[1].name");
    }

    #[test]
    fn polling_payment_is_an_optional_ceiling() {
        let c = Config::from_toml_with_env(&base(), &[]).unwrap();
        assert_eq!(
            c.polling.payment, None,
            "no default: payment waits grow to max"
        );
        let env = [("PROVISIONER__POLLING__PAYMENT".to_owned(), "10m".to_owned())];
        let c = Config::from_toml_with_env(&base(), &env).unwrap();
        assert_eq!(
            c.polling.payment,
            Some(Duration::from_secs(600)),
            "the key is still taken"
        );
        let env = [("PROVISIONER__POLLING__PAYMENT".to_owned(), "0s".to_owned())];
        let e = Config::from_toml_with_env(&base(), &env).unwrap_err();
        assert_eq!(e.key, "polling.payment");
    }

    #[test]
    fn rate_limits_parse() {
        assert_eq!(RateLimit::parse("10/s").unwrap().per_second, 10.0);
        assert_eq!(RateLimit::parse("300/m").unwrap().per_second, 5.0);
        assert!(RateLimit::parse("ten/s").is_none());
    }
}
