//! Where a callback may go: the address check happens at delivery time, on the
//! addresses the connection will actually use.
//!
//! The api already refused loopback and private URLs at enqueue, but a name can
//! resolve elsewhere by the time we call it. So, unless `callbacks.allow_private`,
//! the callback client resolves names through [`CallbackResolver`], which drops
//! loopback, private, link-local and similar addresses (`shared::net_guard`) before
//! the connector sees them: the connector connects only to addresses that passed,
//! so there is no window between check and connect (DNS rebinding cannot slip in).
//! IP literals never reach a resolver and are checked by [`check_literal`].
//!
//! The name lookup itself is a [`NameLookup`]: the system resolver in a deployment,
//! a test's own table in tests (a public-looking name that resolves to loopback, with
//! no network needed).

use provisioner_shared::net_guard;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    #[error("the callback URL is not valid: {0}")]
    BadUrl(String),
    #[error("the callback host is not public: {0} (callbacks.allow_private is off)")]
    NotPublic(String),
    #[error(
        "the callback host {0} resolves only to loopback, private or other non-public addresses (callbacks.allow_private is off)"
    )]
    ResolvesPrivate(String),
    #[error("cannot resolve the callback host {host}: {reason}")]
    Unresolved { host: String, reason: String },
}

/// What a name lookup yields: every address the name has.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send>>;

/// Turns a host name into addresses (the system resolver, or a test's table).
pub trait NameLookup: Send + Sync {
    fn lookup(&self, host: &str) -> Lookup;
}

/// The system resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl NameLookup for SystemLookup {
    fn lookup(&self, host: &str) -> Lookup {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The callback client's resolver: looks names up, and unless private addresses are
/// allowed hands the connector the public ones only (none: the call fails).
#[derive(Clone)]
pub struct CallbackResolver {
    lookup: Arc<dyn NameLookup>,
    allow_private: bool,
}

impl CallbackResolver {
    pub fn new(lookup: Arc<dyn NameLookup>, allow_private: bool) -> Self {
        CallbackResolver {
            lookup,
            allow_private,
        }
    }
}

impl Resolve for CallbackResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let found = self.lookup.lookup(&host);
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = found
                .await
                .map_err(|e| AddressError::Unresolved {
                    host: host.clone(),
                    reason: e.to_string(),
                })?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            let usable = if allow_private {
                found
            } else {
                public_only(found)
            };
            if usable.is_empty() {
                return Err(Box::new(AddressError::ResolvesPrivate(host)) as _);
            }
            Ok(Box::new(usable.into_iter()) as Addrs)
        })
    }
}

fn public_only(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    addrs
        .into_iter()
        .filter(|a| net_guard::is_global(a.ip()))
        .collect()
}

/// Parses the URL and, unless private addresses are allowed, refuses what the api
/// refuses at enqueue (a non-public address literal, a local-only name, a scheme
/// other than http(s)): the rule may have changed since, or the record come from a
/// deployment that allowed more. Names are then left to the resolver.
pub fn check_literal(raw: &str, allow_private: bool) -> Result<Url, AddressError> {
    let url = Url::parse(raw).map_err(|e| AddressError::BadUrl(e.to_string()))?;
    if allow_private {
        return Ok(url);
    }
    if !matches!(url.scheme(), "https" | "http") {
        return Err(AddressError::BadUrl(format!(
            "the {} scheme is not delivered to",
            url.scheme()
        )));
    }
    let host = url
        .host()
        .ok_or_else(|| AddressError::BadUrl("it names no host".into()))?;
    if let Some(why) = net_guard::refused_host(&host) {
        return Err(AddressError::NotPublic(why));
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
        for refused in [
            "https://[64:ff9b::7f00:1]/x",
            "https://[::127.0.0.1]/x",
            "https://[2002:7f00:1::]/x",
            "https://0x7f.1/x",
            "https://localhost./x",
            "file:///etc/passwd",
        ] {
            assert!(check_literal(refused, false).is_err(), "{refused}");
        }
    }

    /// A lookup that answers the same addresses for every name.
    struct Fixed(Vec<IpAddr>);

    impl NameLookup for Fixed {
        fn lookup(&self, _host: &str) -> Lookup {
            let found = self.0.clone();
            Box::pin(async move { Ok(found) })
        }
    }

    async fn resolved(found: &[&str], allow_private: bool) -> Result<Vec<IpAddr>, String> {
        let found = found.iter().map(|a| a.parse().unwrap()).collect();
        let resolver = CallbackResolver::new(Arc::new(Fixed(found)), allow_private);
        match resolver.resolve("hooks.example.com".parse().unwrap()).await {
            Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn the_connector_gets_only_the_public_addresses_a_name_has() {
        assert_eq!(
            resolved(&["127.0.0.1", "93.184.216.34", "64:ff9b::a00:1"], false).await,
            Ok(vec!["93.184.216.34".parse::<IpAddr>().unwrap()])
        );
        let err = resolved(&["::ffff:127.0.0.1", "10.0.0.8"], false)
            .await
            .unwrap_err();
        assert!(
            err.contains("hooks.example.com") && err.contains("allow_private is off"),
            "{err}"
        );
        assert_eq!(resolved(&["127.0.0.1"], true).await.map(|a| a.len()), Ok(1));
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
        let resolver = CallbackResolver::new(Arc::new(SystemLookup), false);
        let err = match resolver.resolve(name).await {
            Ok(_) => panic!("localhost must not resolve to a usable address"),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains("localhost") && (err.contains("private") || err.contains("resolve")),
            "{err}"
        );
    }
}
