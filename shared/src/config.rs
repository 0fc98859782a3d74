//! The configuration, loaded once at start: TOML file, then `PROVISIONER__SECTION__KEY`
//! environment overrides (`load.rs`), then validation (`validate.rs`). A bad value
//! stops the process with the key's name (`worker.lease: must be at least 1.25 ×
//! worker.step_timeout`). Every section defaults as a whole (`#[serde(default)]`
//! with its one `impl Default`), so a key left out keeps its default.

mod audit;
mod drift;
mod guard;
mod load;
mod validate;

pub use audit::AuditConfig;
pub use drift::DriftConfig;
pub use guard::{DailyAmountCap, OpenOrdersCap, price_cents};
pub use load::ENV_PREFIX;

use crate::provider::ProviderKind;
use crate::secret::{CallbackTokens, ConfigSecret, Sealer};
use crate::webhook::WebhookKey;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
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

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub redis: RedisConfig,
    pub api: ApiConfig,
    pub worker: WorkerConfig,
    pub polling: PollingConfig,
    pub retry: RetryConfig,
    pub deadlines: DeadlinesConfig,
    pub secrets: SecretsConfig,
    pub callbacks: CallbacksConfig,
    pub retention: RetentionConfig,
    pub accounts: Vec<Account>,
    pub plans: BTreeMap<String, PlanConfig>,
    pub audit: AuditConfig,
    pub drift: DriftConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// One URL, or several (a list, or comma-separated) for a Redis Cluster seed list.
    #[serde(deserialize_with = "string_or_list")]
    pub url: Vec<String>,
    /// Treat a single URL as a cluster seed as well.
    pub cluster: bool,
    pub namespace: String,
    /// How long one Redis command may take before it counts as failed.
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// Replicas that must acknowledge a money step's intent (Redis `WAIT`) before its
    /// provider call is sent: `"auto"` (one, when the master has replicas), a
    /// number, or `0` (never wait).
    pub wait_replicas: WaitReplicas,
    /// How long an intent commit waits for its replicas; past it the call is not sent
    /// and the step is retried.
    #[serde(with = "humantime_serde")]
    pub wait_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: Vec::new(),
            cluster: false,
            namespace: "provisioner".into(),
            response_timeout: Duration::from_secs(5),
            wait_replicas: WaitReplicas::default(),
            wait_timeout: Duration::from_secs(1),
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
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// Bearer tokens for `/v1`: plain strings (rights `read` + `write`), or tables
    /// with a name and scopes (`api_tokens`).
    #[serde(deserialize_with = "api_tokens")]
    pub tokens: Vec<ApiToken>,
    /// Standard Webhooks secrets for `POST /v1/webhooks/billing`: one, or a list
    /// while a sender rotates its secret (a delivery passes with any of them).
    #[serde(deserialize_with = "one_or_list")]
    pub webhook_secret: Vec<ConfigSecret>,
    pub public_url: Option<Url>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long an `Idempotency-Key` is remembered.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// How long a request may take before it is answered 408 (event streams are
    /// exempt: they are meant to stay open).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How many event streams (`GET /v1/jobs/{id}/events`) one api process serves
    /// at once; past it they are answered 503 with `Retry-After`.
    pub max_event_streams: usize,
    /// Event streams wake on the job's changes (Redis pub/sub); this slow re-read
    /// covers a change whose announcement was lost.
    #[serde(with = "humantime_serde")]
    pub events_fallback_poll: Duration,
    /// How long a dry run (`POST /v1/jobs?dry_run=true`) waits for a worker to run
    /// the provider's read-only checks before it is answered 504.
    #[serde(with = "humantime_serde")]
    pub dry_run_timeout: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tokens: Vec::new(),
            webhook_secret: Vec::new(),
            public_url: None,
            body_limit: 64 * 1024,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(30),
            max_event_streams: 256,
            events_fallback_poll: Duration::from_secs(5),
            dry_run_timeout: Duration::from_secs(20),
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
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    pub concurrency: usize,
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    #[serde(with = "humantime_serde")]
    pub step_timeout: Duration,
    pub shards: u16,
    pub runtime: RuntimeFlavor,
    /// Threads of the multi-thread runtime (default: the number of cores).
    pub worker_threads: Option<usize>,
    /// Jobs claimed beyond the free slots (default: `concurrency`); handed back at
    /// shutdown.
    pub prefetch: Option<usize>,
    /// Most jobs one claim script call may lease.
    pub max_claim: usize,
    /// Steps a worker may run back to back on a job it keeps leased.
    pub max_chain: usize,
    /// Longest an idle worker sleeps before it looks at the schedule again.
    #[serde(with = "humantime_serde")]
    pub max_idle: Duration,
    /// Grace period for in-flight steps at shutdown.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long after a money call with an unknown outcome the provider's state is
    /// trusted to show it: before that, "nothing there" proves nothing (a dropped
    /// request may still be running at the provider).
    #[serde(with = "humantime_serde")]
    pub settle: Duration,
    /// Where this worker serves its own `/metrics` and `/healthz` (for Prometheus to
    /// scrape it directly); unset, it serves nothing.
    pub listen: Option<SocketAddr>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            concurrency: 32,
            lease: Duration::from_secs(60),
            step_timeout: Duration::from_secs(30),
            shards: 16,
            runtime: RuntimeFlavor::MultiThread,
            worker_threads: None,
            prefetch: None,
            max_claim: 200,
            max_chain: 64,
            max_idle: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            settle: Duration::from_secs(30),
            listen: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollingConfig {
    #[serde(with = "humantime_serde")]
    pub initial: Duration,
    #[serde(with = "humantime_serde")]
    pub max: Duration,
    /// The ceiling of the poll interval while a job waits for an invoice paid
    /// outside, instead of `max`; unset, payment waits grow to `max` like every wait.
    #[serde(with = "humantime_serde")]
    pub payment: Option<Duration>,
}

impl Default for PollingConfig {
    fn default() -> Self {
        PollingConfig {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(60),
            payment: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub base: Duration,
    #[serde(with = "humantime_serde")]
    pub max: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 8,
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlinesConfig {
    #[serde(with = "humantime_serde")]
    pub delivery: Duration,
    #[serde(with = "humantime_serde")]
    pub install: Duration,
    #[serde(with = "humantime_serde")]
    pub payment: Duration,
    /// What becomes of an unpaid order when the payment deadline fails its job.
    pub on_payment_timeout: PaymentTimeout,
}

impl Default for DeadlinesConfig {
    fn default() -> Self {
        DeadlinesConfig {
            delivery: Duration::from_secs(2 * 3600),
            install: Duration::from_secs(3 * 3600),
            payment: Duration::from_secs(72 * 3600),
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
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    pub key: Option<ConfigSecret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbacksConfig {
    pub secret: Option<ConfigSecret>,
    pub allow_private: bool,
    /// How long a job's outbound callback is retried.
    #[serde(with = "humantime_serde")]
    pub retry_for: Duration,
    /// Backoff between delivery attempts: exponential from `retry_base`, capped at
    /// `retry_max`, with full jitter.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// One delivery attempt's HTTP timeout.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Add the server's login (`credentials`, as `GET /v1/jobs/{id}/credentials`
    /// gives it) to the signed callback of a job whose server exists. Off: the
    /// password then leaves only through the credentials route.
    pub include_credentials: bool,
}

impl Default for CallbacksConfig {
    fn default() -> Self {
        CallbacksConfig {
            secret: None,
            allow_private: false,
            retry_for: Duration::from_secs(24 * 3600),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            include_credentials: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// How long a finished job (succeeded, failed, cancelled) stays readable.
    #[serde(with = "humantime_serde")]
    pub finished: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            finished: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

/// One upstream account. Which keys are required depends on `provider`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    pub provider: ProviderKind,
    /// The provider's API. Required for every provider but `noop`, which calls
    /// nothing: left out, it is [`Account::UNSET_BASE_URL`] and validation names it.
    #[serde(default = "Account::unset_base_url")]
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
    /// Spend guardrail: how many provisions of this account may be open (enqueued
    /// and not yet ended) at once; past it an enqueue is refused (`guard.rs`).
    #[serde(default)]
    pub max_open_orders: Option<u32>,
    /// Spend guardrail: the most this account may order per UTC day, in the
    /// provider's currency as its API states prices (only where the order states
    /// one: Inferno).
    #[serde(default)]
    pub max_amount_per_day: Option<f64>,
}

impl Account {
    /// What `base_url` holds when the config left it out (`.invalid` never resolves).
    pub const UNSET_BASE_URL: &'static str = "http://base-url.unset.invalid/";

    fn unset_base_url() -> Url {
        Url::parse(Self::UNSET_BASE_URL).expect("a valid URL")
    }

    /// False when the config left `base_url` out (only a `noop` account may).
    pub fn has_base_url(&self) -> bool {
        self.base_url.as_str() != Self::UNSET_BASE_URL
    }
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

#[cfg(test)]
mod tests;
