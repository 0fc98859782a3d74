//! Where a callback may go: the address check happens at delivery time, on the
//! addresses the connection will actually use.
//!
//! The api already refused loopback and private URLs at enqueue, but a name can
//! resolve elsewhere by the time we call it. So, unless `callbacks.allow_private`,
//! the callback client resolves names through [`PublicOnly`], which drops loopback,
//! private, link-local and similar addresses (`shared::request::is_private_ip`)
//! before the connector sees them: there is no window between check and connect.
//! IP literals never reach a resolver and are checked by [`check_literal`].

use provisioner_shared::request::is_private_ip;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("the callback URL is not valid: {0}")]
    BadUrl(String),
    #[error(
        "the callback host {0} is a loopback or private address (callbacks.allow_private is off)"
    )]
    Private(String),
    #[error(
        "the callback host {0} resolves only to loopback or private addresses (callbacks.allow_private is off)"
    )]
    ResolvesPrivate(String),
    #[error("cannot resolve the callback host {host}: {reason}")]
    Unresolved { host: String, reason: String },
}

/// A resolver that hands the connector public addresses only.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| AddressError::Unresolved {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .collect();
            let public = public_only(found);
            if public.is_empty() {
                return Err(Box::new(AddressError::ResolvesPrivate(host)) as _);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

fn public_only(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    addrs
        .into_iter()
        .filter(|a| !is_private_ip(a.ip()))
        .collect()
}

/// Parses the URL and refuses a private IP literal (names are left to the resolver).
pub fn check_literal(raw: &str, allow_private: bool) -> Result<Url, AddressError> {
    let url = Url::parse(raw).map_err(|e| AddressError::BadUrl(e.to_string()))?;
    if allow_private {
        return Ok(url);
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(_)) => return Ok(url),
        None => return Err(AddressError::BadUrl("it names no host".into())),
    };
    if is_private_ip(ip) {
        return Err(AddressError::Private(ip.to_string()));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_checked_unless_private_is_allowed() {
        assert!(check_literal("https://127.0.0.1/x", false).is_err());
        assert!(check_literal("https://[::1]/x", false).is_err());
        assert!(check_literal("https://10.1.2.3/x", false).is_err());
        assert!(check_literal("https://[::ffff:192.168.1.1]/x", false).is_err());
        assert!(check_literal("https://8.8.8.8/x", false).is_ok());
        assert!(check_literal("https://billing.example.com/x", false).is_ok());
        assert!(check_literal("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_literal("not a url", true).is_err());
    }

    #[test]
    fn resolved_private_addresses_are_dropped() {
        let addrs = vec![
            "127.0.0.1:443".parse().unwrap(),
            "192.168.0.10:443".parse().unwrap(),
            "93.184.216.34:443".parse().unwrap(),
            "[fe80::1]:443".parse().unwrap(),
        ];
        assert_eq!(
            public_only(addrs),
            vec!["93.184.216.34:443".parse::<SocketAddr>().unwrap()]
        );
    }

    #[tokio::test]
    async fn a_name_for_loopback_resolves_to_nothing_usable() {
        let name: Name = "localhost".parse().unwrap();
        let err = match PublicOnly.resolve(name).await {
            Ok(_) => panic!("localhost must not resolve to a usable address"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("localhost") && (err.contains("private") || err.contains("resolve")),
            "{err}"
        );
    }
}
