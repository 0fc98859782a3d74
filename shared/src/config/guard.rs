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
        if let Some(amount) = self.max_amount_per_day {
            if !(amount.is_finite() && amount > 0.0) {
                problems.push((
                    "max_amount_per_day",
                    "must be a positive amount (leave it out for no cap)".to_owned(),
                ));
            }
            if !PRICED.contains(&self.provider) {
                problems.push((
                    "max_amount_per_day",
                    format!(
                        "provider {} states no price with its order, so spending cannot be counted; only inferno does",
                        self.provider
                    ),
                ));
            }
        }
        problems
    }
}

/// Providers whose order step knows the price it orders at (Inferno: the product's
/// price in `list`).
const PRICED: [ProviderKind; 1] = [ProviderKind::Inferno];

/// One account's amount per day, in cents, with where it is in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyAmountCap {
    pub key: String,
    pub cents: u64,
}

/// A price as a provider writes it ("5.00", "5", 5.5) in cents.
pub fn price_cents(price: &serde_json::Value) -> Option<u64> {
    let x = match price {
        serde_json::Value::String(s) => s.trim().parse::<f64>().ok()?,
        other => other.as_f64()?,
    };
    (x.is_finite() && x >= 0.0).then(|| (x * 100.0).round() as u64)
}

/// One account's cap, with where it is in the config (errors and reasons name
/// `accounts[N].max_open_orders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOrdersCap {
    pub key: String,
    pub cap: u32,
}

impl Config {
    /// `account`'s `max_amount_per_day`, if it has one.
    pub fn daily_amount_cap(&self, account: &str) -> Option<DailyAmountCap> {
        self.accounts
            .iter()
            .enumerate()
            .find(|(_, a)| a.name == account)
            .and_then(|(i, a)| {
                a.max_amount_per_day.map(|amount| DailyAmountCap {
                    key: format!("accounts[{i}].max_amount_per_day"),
                    cents: (amount * 100.0).round() as u64,
                })
            })
    }

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
    fn an_amount_per_day_only_where_the_order_states_a_price() {
        let e = Config::from_toml(&format!("{BASE}max_amount_per_day = 50.0\n")).unwrap_err();
        assert_eq!(e.key, "accounts[1].max_amount_per_day");
        assert!(e.message.contains("states no price"), "{e}");
        let inferno = BASE.replace(
            "provider = \"hostkey\"\nbase_url = \"https://invapi.hostkey.com\"\napi_key = \"k\"\npin = \"1234\"\n",
            "provider = \"inferno\"\nbase_url = \"https://inferno.example\"\napi_key = \"k\"\nclient_id = 1\nmax_amount_per_day = 12.5\n",
        );
        let c = Config::from_toml(&inferno).unwrap();
        assert_eq!(
            c.daily_amount_cap("hk"),
            Some(DailyAmountCap {
                key: "accounts[1].max_amount_per_day".into(),
                cents: 1250
            })
        );
        let e = Config::from_toml(&inferno.replace("12.5", "0.0")).unwrap_err();
        assert_eq!(e.key, "accounts[1].max_amount_per_day");
    }

    #[test]
    fn prices_read_as_cents() {
        assert_eq!(price_cents(&serde_json::json!("5.00")), Some(500));
        assert_eq!(price_cents(&serde_json::json!(9.5)), Some(950));
        assert_eq!(price_cents(&serde_json::json!("n/a")), None);
    }

    #[test]
    fn a_negative_cap_does_not_parse() {
        assert!(Config::from_toml(&format!("{BASE}max_open_orders = -1\n")).is_err());
    }
}
