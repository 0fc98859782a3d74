//! `accounts[].max_open_orders`: the spend guardrail's config, and its checks.

use super::{Account, Config};
use crate::provider::ProviderKind;

impl Account {
    /// The guardrail keys' problems, as (key within the account, message).
    pub(super) fn guard_problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Some(cap) = self.max_open_orders {
            if cap == 0 {
                problems.push((
                    "max_open_orders",
                    "must be at least 1 (leave it out for no cap)".to_owned(),
                ));
            }
            if self.provider == ProviderKind::Noop {
                problems.push((
                    "max_open_orders",
                    "provider noop places no orders; leave it out".to_owned(),
                ));
            }
        }
        problems
    }
}

/// One account's cap, with where it is in the config (errors and reasons name
/// `accounts[N].max_open_orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrdersCap {
    pub key: String,
    pub cap: u32,
}

impl Config {
    /// `account`'s `max_open_orders`, if it has one.
    pub fn open_orders_cap(&self, account: &str) -> Option<OpenOrdersCap> {
        self.accounts
            .iter()
            .enumerate()
            .find(|(_, a)| a.name == account)
            .and_then(|(i, a)| {
                a.max_open_orders.map(|cap| OpenOrdersCap {
                    key: format!("accounts[{i}].max_open_orders"),
                    cap,
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[redis]
url = "redis://127.0.0.1:6379"
[secrets]
key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
[[accounts]]
name = "nothing"
provider = "noop"
[[accounts]]
name = "hk"
provider = "hostkey"
base_url = "https://invapi.hostkey.com"
api_key = "k"
pin = "1234"
"#;

    #[test]
    fn a_cap_is_read_and_named_by_its_place() {
        let c = Config::from_toml(&format!("{BASE}max_open_orders = 3\n")).unwrap();
        assert_eq!(
            c.open_orders_cap("hk"),
            Some(OpenOrdersCap {
                key: "accounts[1].max_open_orders".into(),
                cap: 3
            })
        );
        assert_eq!(c.open_orders_cap("nothing"), None);
    }

    #[test]
    fn a_zero_cap_is_refused_naming_the_key() {
        let e = Config::from_toml(&format!("{BASE}max_open_orders = 0\n")).unwrap_err();
        assert_eq!(e.key, "accounts[1].max_open_orders");
        assert!(e.message.contains("at least 1"), "{e}");
    }

    #[test]
    fn a_cap_on_an_account_that_orders_nothing_is_refused() {
        let text = BASE.replace(
            "provider = \"noop\"\n",
            "provider = \"noop\"\nmax_open_orders = 2\n",
        );
        let e = Config::from_toml(&text).unwrap_err();
        assert_eq!(e.key, "accounts[0].max_open_orders");
    }

    #[test]
    fn a_negative_cap_does_not_parse() {
        assert!(Config::from_toml(&format!("{BASE}max_open_orders = -1\n")).is_err());
    }
}
