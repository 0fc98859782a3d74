//! The jobs a scenario enqueues: provisions at the four providers (HOSTKEY with a PXE
//! reinstall), each with a hostname and reference of its own and the run's canary
//! root password and post-install script where the provider takes them.

use super::canary::Canaries;
use serde_json::{Value, json};

const SSH_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 ops@example.com";

/// The four providers, as the chaos config names their accounts, and the built-in
/// noop provider (jobs that only hold a worker slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    Hostkey,
    Klikk,
    Inferno,
    Idcloudhost,
    Noop,
}

impl Provider {
    pub const ALL: [Provider; 4] = [
        Provider::Hostkey,
        Provider::Klikk,
        Provider::Inferno,
        Provider::Idcloudhost,
    ];

    /// The account name in the chaos config.
    pub fn account(self) -> &'static str {
        match self {
            Provider::Hostkey => "hk",
            Provider::Klikk => "klikk",
            Provider::Inferno => "inferno",
            Provider::Idcloudhost => "idc",
            Provider::Noop => "noop",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Provider::Hostkey => "hostkey",
            Provider::Klikk => "klikk",
            Provider::Inferno => "inferno",
            Provider::Idcloudhost => "idcloudhost",
            Provider::Noop => "noop",
        }
    }

    /// The provider of job number `n` in a mixed load: round robin.
    pub fn of(n: usize) -> Provider {
        Provider::ALL[n % 4]
    }
}

/// A job the api accepted, with what the test needs to find it in the ledgers.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub n: usize,
    pub id: String,
    pub provider: Provider,
    pub hostname: String,
    /// The server a reinstall job names (none for a provision).
    pub server_id: Option<String>,
}

/// The hostname of job `n` in run `tag`.
pub fn hostname(tag: &str, n: usize) -> String {
    format!("c{n}-{tag}.chaos.example")
}

/// Job `n`'s provision request at `provider`; with `callback_url`, it reports there.
pub fn provision(
    provider: Provider,
    n: usize,
    tag: &str,
    canaries: &Canaries,
    callback_url: Option<&str>,
) -> Value {
    let host = hostname(tag, n);
    let mut body = match provider {
        Provider::Hostkey => json!({
            "order": {"preset": "vm.pico", "location": "NL", "os_id": 180, "traffic_plan": 25, "deploy_period": "monthly"},
            "root_password": canaries.root_password(n),
            "post_install_script": canaries.script(n),
            "reinstall": {"os_id": 183},
        }),
        Provider::Klikk => json!({
            "order": {"ram_gb": 1, "cpu": 1, "storage_gb": 25, "os": "Debian", "os_version": "10.4", "ip_allow": "203.0.113.0/24"},
        }),
        Provider::Inferno => json!({
            "order": {"product_id": 303, "os_template": "centos7-64-default"},
        }),
        Provider::Idcloudhost => json!({
            "order": {"os_name": "ubuntu", "os_version": "22.04-lts", "vcpu": 2, "ram_mb": 2048, "disk_gb": 20},
            "root_password": canaries.root_password(n),
        }),
        Provider::Noop => json!({"order": {"steps": 3}}),
    };
    body["kind"] = json!("provision");
    body["account"] = json!(provider.account());
    body["reference"] = json!(format!("chaos-{tag}-{n}"));
    body["hostname"] = json!(host);
    body["ssh_keys"] = json!([SSH_KEY]);
    if let Some(url) = callback_url {
        body["callback_url"] = json!(url);
    }
    body
}

/// A HOSTKEY PXE reinstall of server `server_id` (named `hostname`) as job `n`.
pub fn hostkey_reinstall(server_id: &str, hostname: &str, n: usize, canaries: &Canaries) -> Value {
    json!({
        "kind": "reinstall",
        "account": Provider::Hostkey.account(),
        "server_id": server_id,
        "hostname": hostname,
        "reinstall": {"os_id": 183},
        "root_password": canaries.root_password(n),
        "ssh_keys": [SSH_KEY],
    })
}

/// A noop job: `steps` steps of `delay_ms` each (it holds a worker slot that long).
pub fn noop(steps: u32, delay_ms: u64) -> Value {
    json!({"kind": "provision", "account": "noop", "order": {"steps": steps, "delay_ms": delay_ms}})
}

/// Posts a scenario's jobs, each under an `Idempotency-Key` of its own and sent again
/// until the api accepts it (so a POST whose answer was lost makes no second job).
#[derive(Clone)]
pub struct Load {
    pub client: super::client::ChaosClient,
    pub tag: String,
    pub canaries: Canaries,
    /// Jobs with `n % callback_every == 0` report to this URL.
    pub callback: Option<(String, usize)>,
    /// How long one job may take to be accepted (the api or Redis may be down).
    pub accept_within: std::time::Duration,
}

impl Load {
    /// Job `n`: a provision at `provider`.
    pub async fn provision(&self, n: usize, provider: Provider) -> anyhow::Result<Accepted> {
        let callback = self
            .callback
            .as_ref()
            .filter(|(_, every)| n.is_multiple_of(*every))
            .map(|(url, _)| url.as_str());
        let body = provision(provider, n, &self.tag, &self.canaries, callback);
        self.post(n, provider, body, None).await
    }

    /// Job `n`: a HOSTKEY reinstall of `server_id` (named `hostname`).
    pub async fn hostkey_reinstall(
        &self,
        n: usize,
        server_id: &str,
        hostname: &str,
    ) -> anyhow::Result<Accepted> {
        let body = hostkey_reinstall(server_id, hostname, n, &self.canaries);
        let mut a = self
            .post(n, Provider::Hostkey, body, Some(server_id.to_owned()))
            .await?;
        a.hostname = hostname.to_owned();
        Ok(a)
    }

    /// Job `n` with a request body of the scenario's own.
    pub async fn custom(
        &self,
        n: usize,
        provider: Provider,
        body: Value,
    ) -> anyhow::Result<Accepted> {
        self.post(n, provider, body, None).await
    }

    async fn post(
        &self,
        n: usize,
        provider: Provider,
        body: Value,
        server_id: Option<String>,
    ) -> anyhow::Result<Accepted> {
        let key = format!("chaos-{}-{n}", self.tag);
        let (id, _) = self
            .client
            .post_job_until_accepted(&body, &key, self.accept_within)
            .await?;
        Ok(Accepted {
            n,
            id,
            provider,
            hostname: body["hostname"].as_str().unwrap_or_default().to_owned(),
            server_id,
        })
    }

    /// Jobs `from..to` over the four providers in turn, one every `pace`.
    pub async fn mixed(
        self,
        from: usize,
        to: usize,
        pace: std::time::Duration,
    ) -> anyhow::Result<Vec<Accepted>> {
        let mut accepted = Vec::with_capacity(to.saturating_sub(from));
        for n in from..to {
            accepted.push(self.provision(n, Provider::of(n)).await?);
            tokio::time::sleep(pace).await;
        }
        Ok(accepted)
    }
}
