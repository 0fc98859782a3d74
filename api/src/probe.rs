//! `provisioner-api healthcheck`: GETs this host's `/healthz` and says whether it
//! answered 200, so a container's health check needs neither curl nor a shell
//! (Debian slim's `/bin/sh` is dash, which has no `/dev/tcp`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Longer than a healthy answer takes, shorter than a probe's usual timeout.
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("GET {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("GET {url} answered {status}")]
    Unhealthy {
        url: String,
        status: reqwest::StatusCode,
    },
}

/// The `/healthz` URL of an api listening on `listen`: an unspecified address
/// (`0.0.0.0`, `::`) is reached on loopback.
pub fn healthz_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/healthz", SocketAddr::new(ip, listen.port()))
}

/// GET `url`; `Ok` on a 200.
pub async fn healthcheck(url: &str) -> Result<(), ProbeError> {
    let unreachable = |source| ProbeError::Unreachable {
        url: url.to_owned(),
        source,
    };
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(unreachable)?;
    let res = client.get(url).send().await.map_err(unreachable)?;
    match res.status() {
        reqwest::StatusCode::OK => Ok(()),
        status => Err(ProbeError::Unhealthy {
            url: url.to_owned(),
            status,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_probed_on_loopback() {
        assert_eq!(
            healthz_url("0.0.0.0:8080".parse().unwrap()),
            "http://127.0.0.1:8080/healthz"
        );
        assert_eq!(
            healthz_url("[::]:9000".parse().unwrap()),
            "http://[::1]:9000/healthz"
        );
        assert_eq!(
            healthz_url("10.0.0.5:80".parse().unwrap()),
            "http://10.0.0.5:80/healthz"
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = healthcheck(&healthz_url(addr)).await.err().unwrap();
        assert!(matches!(e, ProbeError::Unreachable { .. }), "{e}");
    }
}
