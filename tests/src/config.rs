//! Test configurations: the real `Config` loader fed a TOML document with fast
//! settings, so tests exercise the same validation a deployment does.

use crate::redis::TestRedis;
use provisioner_shared::Config;
use provisioner_shared::ProviderKind;
use provisioner_shared::config::Account;
use provisioner_shared::secret::{ConfigSecret, Sealer};

/// The one bearer token `test_config` accepts.
pub const API_TOKEN: &str = "test-token-9f2c1e";

/// A second token `test_config` accepts, named `billing`, that may also read a
/// server's credentials (scopes read, write, credentials).
pub const CREDENTIALS_TOKEN: &str = "test-billing-token-4d7a0b";

/// The Standard Webhooks secret `test_config` accepts billing webhooks with.
pub const WEBHOOK_SECRET: &str = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5";

/// The secret `test_config` signs outbound job callbacks with.
pub const CALLBACK_SECRET: &str = "whsec_dGVzdC1jYWxsYmFjay1zZWNyZXQtOTg3NjU0MzIx";

/// A valid config for `redis`'s namespace: polling every 50–100 ms (payment waits too), retries from
/// 50 ms, a 3 s lease, 4 shards, a fresh `secrets.key`, private callback URLs
/// allowed, two API tokens ([`API_TOKEN`], plain; [`CREDENTIALS_TOKEN`], with the
/// `credentials` scope), billing webhooks signed with
/// [`WEBHOOK_SECRET`], job callbacks signed with [`CALLBACK_SECRET`] and retried from
/// 50 ms for 10 s, and no accounts (add them with `config.accounts.push(account(..))`).
pub fn test_config(redis: &TestRedis) -> Config {
    test_config_at(redis.url(), redis.namespace())
}

/// [`test_config`] for a Redis at `url`, in `namespace`.
pub fn test_config_at(url: &str, namespace: &str) -> Config {
    let key = ConfigSecret(Sealer::generate_key()).expose().to_owned();
    let text = format!(
        r#"
[redis]
url = "{url}"
namespace = "{ns}"

[api]
listen = "127.0.0.1:0"
tokens = ["{API_TOKEN}", {{ name = "billing", token = "{CREDENTIALS_TOKEN}", scopes = ["read", "write", "credentials"] }}]
webhook_secret = "{WEBHOOK_SECRET}"
body_limit = 65536
idempotency_ttl = "10m"

[worker]
concurrency = 8
lease = "3s"
step_timeout = "2s"
shards = 4
max_idle = "100ms"
shutdown_grace = "1s"
settle = "300ms"

[polling]
initial = "50ms"
max = "100ms"

[retry]
max_attempts = 5
base = "50ms"
max = "500ms"

[drift]
enabled = false

[deadlines]
delivery = "30s"
install = "30s"
payment = "30s"

[secrets]
key = "{key}"

[callbacks]
secret = "{CALLBACK_SECRET}"
allow_private = true
retry_for = "10s"
retry_base = "50ms"
retry_max = "200ms"
timeout = "2s"
"#,
        url = url,
        ns = namespace,
    );
    Config::from_toml(&text).expect("the test config is valid")
}

/// An account with placeholder credentials for whatever `provider` requires.
/// Nothing is called at `base_url` unless a worker runs.
pub fn account(name: &str, provider: ProviderKind, base_url: &str) -> Account {
    let secret = |s: &str| Some(ConfigSecret::from(s));
    let (api_key, pin, token, client_id) = match provider {
        ProviderKind::Hostkey => (secret("test-api-key"), secret("1234"), None, None),
        ProviderKind::Klikk => (None, None, secret("test-account-token"), None),
        ProviderKind::Inferno => (secret("test-api-key"), None, None, Some(1)),
        ProviderKind::Idcloudhost => (secret("test-api-key"), None, None, None),
        ProviderKind::Noop => (None, None, None, None),
    };
    Account {
        name: name.to_owned(),
        provider,
        base_url: base_url.parse().expect("a test base_url is a URL"),
        api_key,
        pin,
        token,
        username: None,
        password: None,
        client_id,
        location: None,
        billing_account_id: None,
        pay_invoices: false,
        rate_limit: None,
        request_timeout: None,
        max_open_orders: None,
        max_amount_per_day: None,
    }
}
