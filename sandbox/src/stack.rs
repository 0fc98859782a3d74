//! What the demo and the `simulators` command share: the four simulators on fixed
//! (or given) ports, a port that falls back to a free one with a message when it is
//! taken, and the config that points a stack at the four simulators.

use crate::hostkey::{HostkeyOptions, HostkeySim};
use crate::idcloudhost::{IdcloudhostOptions, IdcloudhostSim};
use crate::inferno::{InfernoOptions, InfernoSim};
use crate::klikk::{KlikkOptions, KlikkSim};
use crate::redis_server::{RedisServer, RedisServerError};
use provisioner_shared::secret::Sealer;
use secrecy::ExposeSecret;
use std::io;
use tokio::net::TcpListener;

/// The Redis a run uses, said on stdout: `REDIS_URL` when set, else a private
/// `redis-server`, killed when the returned handle drops (keep it for the run).
pub fn redis() -> Result<(Option<RedisServer>, String), RedisServerError> {
    if let Ok(url) = std::env::var("REDIS_URL")
        && !url.is_empty()
    {
        println!("redis       {url} (from REDIS_URL)");
        return Ok((None, url));
    }
    let server = RedisServer::start()?;
    let url = server.url();
    println!("redis       {url} (a private redis-server, removed at exit)");
    Ok((Some(server), url))
}

/// The ports the simulators take by default (0: any free port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimPorts {
    pub hostkey: u16,
    pub klikk: u16,
    pub inferno: u16,
    pub idcloudhost: u16,
}

impl Default for SimPorts {
    fn default() -> Self {
        SimPorts {
            hostkey: 8101,
            klikk: 8102,
            inferno: 8103,
            idcloudhost: 8104,
        }
    }
}

/// Binds `127.0.0.1:port`; when that port is taken, a free one, and says so on
/// stdout (`what` names the listener), so a second demo still starts.
pub async fn bind_or_free(port: u16, what: &str) -> io::Result<TcpListener> {
    match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => Ok(listener),
        Err(e) if port != 0 && e.kind() == io::ErrorKind::AddrInUse => {
            let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
            println!(
                "note        port {port} for {what} is taken: using {} instead",
                listener.local_addr()?.port()
            );
            Ok(listener)
        }
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot listen on 127.0.0.1:{port} for {what}: {e}"),
        )),
    }
}

/// The four simulators, each on its own port.
pub struct Sims {
    pub hostkey: HostkeySim,
    pub klikk: KlikkSim,
    pub inferno: InfernoSim,
    pub idc: IdcloudhostSim,
}

impl Sims {
    /// Starts the four at `speed` virtual seconds per real second on `ports`.
    pub async fn start(speed: f64, ports: SimPorts) -> io::Result<Sims> {
        Ok(Sims {
            hostkey: HostkeySim::start_on(
                HostkeyOptions {
                    time_factor: speed,
                    ..HostkeyOptions::default()
                },
                bind_or_free(ports.hostkey, "the HOSTKEY simulator").await?,
            )?,
            klikk: KlikkSim::start_on(
                KlikkOptions {
                    time_factor: speed,
                    ..KlikkOptions::default()
                },
                bind_or_free(ports.klikk, "the Klikk simulator").await?,
            )?,
            inferno: InfernoSim::start_on(
                InfernoOptions {
                    time_factor: speed,
                    ..InfernoOptions::default()
                },
                bind_or_free(ports.inferno, "the Inferno simulator").await?,
            )?,
            idc: IdcloudhostSim::start_on(
                IdcloudhostOptions {
                    time_factor: speed,
                    ..IdcloudhostOptions::default()
                },
                bind_or_free(ports.idcloudhost, "the IDCloudHost simulator").await?,
            )?,
        })
    }

    /// Prints where each simulator listens.
    pub fn print(&self, speed: f64) {
        println!(
            "simulators  hostkey {}  klikk {}",
            self.hostkey.base_url(),
            self.klikk.base_url()
        );
        println!(
            "            inferno {}  idcloudhost {}  ({speed}× time)",
            self.inferno.base_url(),
            self.idc.base_url(),
        );
    }

    pub async fn shutdown(self) {
        self.hostkey.shutdown().await;
        self.klikk.shutdown().await;
        self.inferno.shutdown().await;
        self.idc.shutdown().await;
    }
}

/// What a config for the four simulators needs besides them.
pub struct ConfigParts<'a> {
    pub redis_url: &'a str,
    pub namespace: &'a str,
    /// The api's bearer token.
    pub token: &'a str,
    /// The billing webhooks' Standard Webhooks secret (`whsec_…`).
    pub webhook_secret: &'a str,
    /// Where the api listens, e.g. `127.0.0.1:8080`.
    pub listen: &'a str,
    /// How the simulators reach the api (HOSTKEY's callbacks, Klikk's cloud-init).
    pub public_url: &'a str,
}

/// A complete config (TOML): Redis, the api, a worker, a fresh secrets key, one
/// account per simulator with the credentials it accepts (`hk-nl`, `klikk`,
/// `inferno`, `idc`) and a Klikk plan `vps-small` for billing webhooks.
pub fn config_text(parts: &ConfigParts<'_>, sims: &Sims) -> String {
    let key = Sealer::generate_key();
    format!(
        r#"# Written by provisioner-sandbox: the four simulators' accounts.
[redis]
url = "{redis_url}"
namespace = "{namespace}"

[api]
listen = "{listen}"
public_url = "{public_url}"
tokens = ["{token}"]
webhook_secret = "{webhook_secret}"

[worker]
concurrency = 16
lease = "30s"
step_timeout = "10s"

[polling]
initial = "500ms"
max = "2s"
payment = "2s"

[retry]
base = "200ms"
max = "5s"

[secrets]
key = "{key}"

[callbacks]
allow_private = true

[[accounts]]
name = "hk-nl"
provider = "hostkey"
base_url = "{hk_url}"
api_key = "{hk_key}"
pin = "{hk_pin}"

[[accounts]]
name = "klikk"
provider = "klikk"
base_url = "{klikk_url}"
token = "{klikk_token}"

[[accounts]]
name = "inferno"
provider = "inferno"
base_url = "{inferno_url}"
client_id = {inferno_cid}
api_key = "{inferno_key}"

[[accounts]]
name = "idc"
provider = "idcloudhost"
base_url = "{idc_url}"
api_key = "{idc_key}"
billing_account_id = {idc_ba}
pay_invoices = true

[plans.vps-small]
account = "klikk"
order = {{ ram_gb = 1, cpu = 1, storage_gb = 25, os = "Debian", os_version = "12", ip_allow = "0.0.0.0/0" }}
"#,
        redis_url = parts.redis_url,
        namespace = parts.namespace,
        listen = parts.listen,
        public_url = parts.public_url,
        token = parts.token,
        webhook_secret = parts.webhook_secret,
        key = key.expose_secret(),
        hk_url = sims.hostkey.base_url(),
        hk_key = sims.hostkey.api_key(),
        hk_pin = sims.hostkey.pin(),
        klikk_url = sims.klikk.endpoint(),
        klikk_token = sims.klikk.token(),
        inferno_url = sims.inferno.base_url(),
        inferno_cid = sims.inferno.client_id(),
        inferno_key = sims.inferno.api_key(),
        idc_url = sims.idc.base_url(),
        idc_key = sims.idc.api_key(),
        idc_ba = sims.idc.billing_account_id(),
    )
}

/// A fresh api token: 128 random bits, hex.
pub fn generate_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh Standard Webhooks secret (`whsec_` and 24 random bytes, base64).
pub fn generate_webhook_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A namespace of its own per run, so runs on one Redis never meet.
pub fn fresh_namespace(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}
