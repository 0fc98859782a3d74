//! The checks a config passes once it has the right shape: every value in range,
//! the keys a provider needs, plans that name an account. Each problem names its key;
//! all of them are collected, so `provisioner-api check-config` can list them at once.

use super::{Config, ConfigError};
use crate::provider::ProviderKind;
use crate::secret::Sealer;
use crate::webhook::WebhookKey;
use std::collections::BTreeSet;
use url::Url;

/// The problems found so far.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn add(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigError::new(key, message));
    }

    /// Adds the problem unless `ok`.
    fn unless(&mut self, ok: bool, key: impl Into<String>, message: impl Into<String>) {
        if !ok {
            self.add(key, message);
        }
    }
}

impl Config {
    /// Every problem of an otherwise well-formed config, in the order of the file's
    /// sections; empty when it is valid.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut p = Problems::default();
        self.check_redis(&mut p);
        self.check_worker(&mut p);
        self.check_secrets(&mut p);
        self.check_callbacks(&mut p);
        self.check_accounts(&mut p);
        self.check_api_layers(&mut p);
        for (key, message) in self.audit.problems() {
            p.add(key, message);
        }
        for (key, message) in self.drift.problems() {
            p.add(key, message);
        }
        p.0
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(first) => Err(first),
            None => Ok(()),
        }
    }

    fn check_redis(&self, p: &mut Problems) {
        let r = &self.redis;
        p.unless(
            !r.url.is_empty(),
            "redis.url",
            "is required (or set REDIS_URL), e.g. redis://127.0.0.1:6379",
        );
        for u in &r.url {
            match Url::parse(u) {
                Err(e) => p.add("redis.url", format!("`{u}` is not a URL: {e}")),
                Ok(parsed) => p.unless(
                    matches!(parsed.scheme(), "redis" | "rediss"),
                    "redis.url",
                    "must start with redis:// or rediss://",
                ),
            }
        }
        p.unless(
            !r.namespace.is_empty()
                && r.namespace
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)),
            "redis.namespace",
            "must be non-empty letters, digits, '-', '_', '.', ':' (no braces)",
        );
        p.unless(
            !r.wait_timeout.is_zero() && r.wait_timeout < r.response_timeout,
            "redis.wait_timeout",
            "must be more than 0 and shorter than redis.response_timeout",
        );
    }

    fn check_worker(&self, p: &mut Problems) {
        let w = &self.worker;
        p.unless(
            w.concurrency > 0,
            "worker.concurrency",
            "must be at least 1",
        );
        p.unless(
            (1..=1024).contains(&w.shards),
            "worker.shards",
            "must be between 1 and 1024",
        );
        p.unless(
            !w.step_timeout.is_zero(),
            "worker.step_timeout",
            "must be more than 0",
        );
        p.unless(
            w.lease >= w.step_timeout + w.step_timeout / 4,
            "worker.lease",
            "must be at least 1.25 × worker.step_timeout, so a step always ends before its lease",
        );
        p.unless(
            w.max_claim > 0 && w.max_chain > 0,
            "worker.max_claim",
            "max_claim and max_chain must be at least 1",
        );
        let poll = &self.polling;
        p.unless(
            !poll.initial.is_zero() && poll.initial <= poll.max,
            "polling.initial",
            "must be more than 0 and at most polling.max",
        );
        p.unless(
            !poll.payment.is_some_and(|d| d.is_zero()),
            "polling.payment",
            "must be more than 0",
        );
        p.unless(
            self.retry.max_attempts > 0,
            "retry.max_attempts",
            "must be at least 1",
        );
        p.unless(
            !self.retry.base.is_zero() && self.retry.base <= self.retry.max,
            "retry.base",
            "must be more than 0 and at most retry.max",
        );
    }

    fn check_secrets(&self, p: &mut Problems) {
        match &self.secrets.key {
            None => p.add(
                "secrets.key",
                "is required: the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)",
            ),
            Some(k) => {
                if let Err(e) = Sealer::from_base64(&k.0) {
                    p.add("secrets.key", e.to_string());
                }
            }
        }
        let mut names = BTreeSet::new();
        for (i, t) in self.api.tokens.iter().enumerate() {
            p.unless(
                !t.token.expose().is_empty(),
                format!("api.tokens[{i}].token"),
                "must not be empty",
            );
            if !names.insert(t.name.as_str()) {
                p.add(
                    format!("api.tokens[{i}].name"),
                    format!("`{}` is used twice", t.name),
                );
            }
        }
        for (i, s) in self.api.webhook_secret.iter().enumerate() {
            if let Err(e) = WebhookKey::parse(s.expose()) {
                p.add(format!("api.webhook_secret[{i}]"), e.to_string());
            }
        }
        if let Some(s) = &self.callbacks.secret
            && let Err(e) = WebhookKey::parse(s.expose())
        {
            p.add("callbacks.secret", e.to_string());
        }
    }

    fn check_callbacks(&self, p: &mut Problems) {
        let w = &self.worker;
        let cb = &self.callbacks;
        p.unless(
            !cb.retry_base.is_zero() && cb.retry_base <= cb.retry_max,
            "callbacks.retry_base",
            "must be more than 0 and at most callbacks.retry_max",
        );
        p.unless(
            !cb.timeout.is_zero() && cb.timeout < w.lease,
            "callbacks.timeout",
            "must be more than 0 and shorter than worker.lease",
        );
    }

    /// The api's request timeout and event-stream keys.
    fn check_api_layers(&self, p: &mut Problems) {
        let a = &self.api;
        p.unless(
            !a.request_timeout.is_zero(),
            "api.request_timeout",
            "must be more than 0",
        );
        p.unless(
            a.max_event_streams > 0,
            "api.max_event_streams",
            "must be at least 1",
        );
        p.unless(
            !a.events_fallback_poll.is_zero(),
            "api.events_fallback_poll",
            "must be more than 0",
        );
        p.unless(
            !a.dry_run_timeout.is_zero(),
            "api.dry_run_timeout",
            "must be more than 0",
        );
    }

    fn check_accounts(&self, p: &mut Problems) {
        let mut seen = BTreeSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            let key = |f: &str| format!("accounts[{i}].{f}");
            p.unless(
                !a.name.is_empty()
                    && a.name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
                key("name"),
                "must be letters, digits, '-', '_' or '.'",
            );
            if !seen.insert(a.name.as_str()) {
                p.add(key("name"), format!("`{}` is used twice", a.name));
            }
            if a.has_base_url() {
                p.unless(
                    matches!(a.base_url.scheme(), "http" | "https"),
                    key("base_url"),
                    "must be an http(s) URL",
                );
            } else {
                p.unless(
                    a.provider == ProviderKind::Noop,
                    key("base_url"),
                    format!("is required for provider {}", a.provider),
                );
            }
            let mut need = |present: bool, f: &str| {
                p.unless(
                    present,
                    key(f),
                    format!("is required for provider {}", a.provider),
                )
            };
            match a.provider {
                ProviderKind::Hostkey => {
                    need(a.api_key.is_some(), "api_key");
                    need(a.pin.is_some(), "pin");
                }
                ProviderKind::Klikk => p.unless(
                    a.token.is_some() || (a.username.is_some() && a.password.is_some()),
                    key("token"),
                    "is required for provider klikk (or username + password for HTTP Basic)",
                ),
                ProviderKind::Inferno => {
                    need(a.client_id.is_some(), "client_id");
                    need(a.api_key.is_some(), "api_key");
                }
                ProviderKind::Idcloudhost => need(a.api_key.is_some(), "api_key"),
                ProviderKind::Noop => {}
            }
            for (f, message) in a.guard_problems() {
                p.add(key(f), message);
            }
        }
        for (name, plan) in &self.plans {
            let Some(account) = self.account(&plan.account) else {
                p.add(
                    format!("plans.{name}.account"),
                    format!("no account named `{}`", plan.account),
                );
                continue;
            };
            if let Err(e) = crate::request::check_plan(account.provider, plan) {
                p.add(format!("plans.{name}.{}", e.field), e.message);
            }
        }
    }
}
