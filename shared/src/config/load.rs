//! Where a config comes from, lowest layer first: the TOML file; the environment's
//! `PROVISIONER__SECTION__KEY` overrides (double underscores, any case; list items
//! by index, `PROVISIONER__ACCOUNTS__0__PIN`); `REDIS_URL` as the default of
//! `redis.url` when neither set it. figment merges the layers key by key; one typed
//! extraction then names the key of a bad value (`accounts[0].base_url`), and the
//! variable it came from when an override set it.

use super::{Config, ConfigError};
use figment::Figment;
use figment::providers::Serialized;
use figment::value::Value;
use std::path::Path;

/// The prefix of an override's name.
pub const ENV_PREFIX: &str = "PROVISIONER__";

/// The layers, and which keys the environment set.
struct Layers {
    figment: Figment,
    /// `(key as errors name it, variable)`: `("accounts[0].pin", "PROVISIONER__ACCOUNTS__0__PIN")`.
    from_env: Vec<(String, String)>,
}

impl Config {
    /// Reads `path` (if any) with the process's environment on top, and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::from_sources(&read(path)?, std::env::vars())
    }

    /// The TOML text alone, no environment (tests, the demo, the chaos harness).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Config::from_sources(text, std::iter::empty())
    }

    /// TOML text with the variables `vars` on top (those not named
    /// `PROVISIONER__…` or `REDIS_URL` are ignored), validated.
    pub fn from_sources(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let config = Config::shaped(text, vars)?;
        config.validate()?;
        Ok(config)
    }

    /// What `provisioner-api check-config` prints: a config that cannot be read names
    /// its one problem; a well-formed one, every problem it has.
    pub fn check(path: &Path) -> Result<Config, Vec<ConfigError>> {
        let text = read(Some(path)).map_err(|e| vec![e])?;
        let config = Config::shaped(&text, std::env::vars()).map_err(|e| vec![e])?;
        match config.problems() {
            problems if problems.is_empty() => Ok(config),
            problems => Err(problems),
        }
    }

    /// The layers, extracted into the typed config (not validated yet).
    pub(super) fn shaped(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let layers = Layers::new(text, vars)?;
        let merged: Value = layers
            .figment
            .extract()
            .map_err(|e| ConfigError::new("config", e.to_string()))?;
        serde_path_to_error::deserialize(&merged).map_err(|e| {
            let key = match e.path().to_string() {
                root if root == "." => "config".to_owned(),
                key => key,
            };
            let mut message = e.inner().to_string();
            if let Some((_, var)) = layers.from_env.iter().find(|(k, _)| *k == key) {
                message.push_str(&format!(" (set by {var})"));
            }
            ConfigError::new(key, message)
        })
    }
}

fn read(path: Option<&Path>) -> Result<String, ConfigError> {
    match path {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| ConfigError::new("--config", format!("cannot read {}: {e}", p.display()))),
        None => Ok(String::new()),
    }
}

impl Layers {
    fn new(
        text: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Layers, ConfigError> {
        let file: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::new("config file", e.to_string()))?;
        let mut layers = Layers {
            figment: Figment::from(Serialized::defaults(file)),
            from_env: Vec::new(),
        };
        let mut redis_url = None;
        for (name, raw) in vars {
            if name == "REDIS_URL" {
                redis_url = Some(raw);
            } else if let Some(path) = name.strip_prefix(ENV_PREFIX) {
                let key: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
                layers.overlay(&name, &key, env_value(&raw))?;
            }
        }
        if let Some(url) = redis_url {
            // `join`: only where no layer above set it.
            layers.figment = layers.figment.join(Serialized::default("redis.url", url));
        }
        Ok(layers)
    }

    /// Merges one override. figment's keys name tables only, so where the key
    /// reaches into a list (`accounts.0.pin`) the list is replaced by itself with
    /// that item changed.
    fn overlay(
        &mut self,
        var: &str,
        key: &[String],
        value: toml::Value,
    ) -> Result<(), ConfigError> {
        if key.iter().any(String::is_empty) {
            return Err(ConfigError::new(var, "is not a key (empty part)"));
        }
        let value = Value::serialize(value).map_err(|e| ConfigError::new(var, e.to_string()))?;
        for at in 1..key.len() {
            let list = key[..at].join(".");
            let Ok(Value::Array(tag, mut items)) = self.figment.find_value(&list) else {
                continue;
            };
            let index: usize = key[at].parse().map_err(|_| {
                ConfigError::new(var, format!("`{}` is not an index into {list}", key[at]))
            })?;
            let Some(item) = items.get_mut(index) else {
                return Err(ConfigError::new(
                    var,
                    format!("there is no item {index} in {list}"),
                ));
            };
            let rest = &key[at + 1..];
            *item = if rest.is_empty() {
                value
            } else {
                Figment::from(Serialized::defaults(item.clone()))
                    .merge(Serialized::default(&rest.join("."), value))
                    .extract()
                    .map_err(|e| ConfigError::new(var, e.to_string()))?
            };
            self.merge(Serialized::default(&list, Value::Array(tag, items)));
            self.from_env
                .push((format!("{list}[{index}]{}", suffix(rest)), var.to_owned()));
            return Ok(());
        }
        self.merge(Serialized::default(&key.join("."), value));
        self.from_env.push((key.join("."), var.to_owned()));
        Ok(())
    }
}

impl Layers {
    fn merge(&mut self, layer: Serialized<Value>) {
        self.figment = std::mem::replace(&mut self.figment, Figment::new()).merge(layer);
    }
}

/// `.a.b` for the key parts after a list index (empty for none).
fn suffix(rest: &[String]) -> String {
    rest.iter().map(|p| format!(".{p}")).collect()
}

/// An override's value is TOML when it reads as one (`32`, `true`, `["a", "b"]`),
/// else the text itself: `0123` stays a string (a PIN), as TOML has no leading zeros.
fn env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}
