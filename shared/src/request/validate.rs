//! The rules of single values: references, host names, passwords, SSH keys and
//! the outbound URLs we will fetch or call (through [`crate::net_guard`]).

use super::FieldError;
use super::fields::Fields;
use crate::provider::ProviderKind;
use serde_json::Value;

const MAX_SSH_KEYS: usize = 32;

pub(super) fn parse_reference(r: &str, field: &str) -> Result<String, FieldError> {
    if r.is_empty() || r.len() > 128 || r.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must be 1 to 128 printable characters",
        ));
    }
    Ok(r.to_owned())
}

/// RFC 1123 host names: labels of letters, digits and '-', not at either end.
pub fn parse_hostname(h: &str, field: &str) -> Result<String, FieldError> {
    let h = h.trim_end_matches('.');
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !ok {
        return Err(FieldError::new(
            field,
            "must be a host name: labels of letters, digits and '-', dot-separated, at most 253 characters",
        ));
    }
    Ok(h.to_ascii_lowercase())
}

pub(super) fn check_password(
    p: &str,
    provider: ProviderKind,
    field: &str,
) -> Result<(), FieldError> {
    let len = p.chars().count();
    if !(8..=128).contains(&len) {
        return Err(FieldError::new(field, "must be 8 to 128 characters"));
    }
    if p.chars().any(|c| c.is_control()) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    let upper = p.chars().any(|c| c.is_ascii_uppercase());
    let lower = p.chars().any(|c| c.is_ascii_lowercase());
    let special = p.chars().any(|c| !c.is_ascii_alphanumeric());
    let digit = p.chars().any(|c| c.is_ascii_digit());
    // HOSTKEY's rule (seed 002): upper and lower case Latin letters and a special character.
    let ok = match provider {
        ProviderKind::Hostkey => upper && lower && special,
        _ => upper && lower && (digit || special),
    };
    if !ok {
        let rule = match provider {
            ProviderKind::Hostkey => {
                "upper- and lower-case letters and at least one special character"
            }
            _ => "upper- and lower-case letters and a digit or special character",
        };
        return Err(FieldError::new(field, format!("must contain {rule}")));
    }
    Ok(())
}

pub(super) fn parse_ssh_keys(f: &Fields<'_>) -> Result<Vec<String>, FieldError> {
    let items = match f.present("ssh_keys") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(f.err("ssh_keys", "must be a list of public keys")),
    };
    if items.len() > MAX_SSH_KEYS {
        return Err(f.err("ssh_keys", format!("takes at most {MAX_SSH_KEYS} keys")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let field = format!("ssh_keys[{i}]");
            let s = v
                .as_str()
                .ok_or_else(|| FieldError::new(&field, "must be a string"))?
                .trim();
            let key_type = s.split_whitespace().next().unwrap_or("");
            let known = key_type.starts_with("ssh-")
                || key_type.starts_with("ecdsa-")
                || key_type.starts_with("sk-");
            if !known || s.split_whitespace().count() < 2 || s.len() > 16 * 1024 || s.contains('\n')
            {
                return Err(FieldError::new(
                    &field,
                    "must be one OpenSSH public key line (ssh-ed25519 AAAA… comment)",
                ));
            }
            Ok(s.to_owned())
        })
        .collect()
}

/// URLs we will fetch or call (`callback_url`, `cloud_init_url`): https, no
/// credentials, and no host that is not public ([`net_guard`](crate::net_guard):
/// loopback, private, link-local, reserved and special-purpose addresses in any
/// spelling the URL standard reads as an address, `localhost` and other local-only
/// names) unless the config allows it (tests, the sandbox); then `http` is accepted
/// too.
pub fn check_outbound_url(
    raw: &str,
    allow_private: bool,
    field: &str,
) -> Result<String, FieldError> {
    let url =
        url::Url::parse(raw).map_err(|e| FieldError::new(field, format!("is not a URL: {e}")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err(FieldError::new(field, "must be an https:// URL")),
    }
    let host = url
        .host()
        .ok_or_else(|| FieldError::new(field, "must name a host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(field, "must not carry credentials"));
    }
    if !allow_private && let Some(why) = crate::net_guard::refused_host(&host) {
        return Err(FieldError::new(
            field,
            format!("must point at a public host: {why}"),
        ));
    }
    Ok(url.to_string())
}

/// Writes a checked value's own text; shared by the newtypes below.
macro_rules! text_newtype {
    ($ty:ident) => {
        impl $ty {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A value read back from a stored job: it was checked when the job was
            /// enqueued, and is not checked again (a rule tightened later must not
            /// make a live job unreadable).
            pub(super) fn stored(text: String) -> $ty {
                $ty(text)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
    };
}

/// A host name (RFC 1123), lower-cased and without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hostname(String);
text_newtype!(Hostname);

impl Hostname {
    pub fn parse(raw: &str, field: &str) -> Result<Hostname, FieldError> {
        parse_hostname(raw, field).map(Hostname)
    }
}

/// A provider's name of an existing server: 1 to 64 characters without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerId(String);
text_newtype!(ServerId);

impl ServerId {
    /// `raw` as given (a whole number is given as its digits); surrounding spaces go.
    pub fn parse(raw: &str, field: &str) -> Result<ServerId, FieldError> {
        check_id(raw.trim(), field).map(ServerId)
    }

    /// Whether it is a whole number (how Inferno names its orders, seed 003).
    pub fn is_numeric(&self) -> bool {
        self.0.bytes().all(|b| b.is_ascii_digit())
    }
}

/// Where a job's callbacks go: checked by [`check_outbound_url`] at enqueue, and
/// again (by address) by the worker's delivery before each call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallbackUrl(String);
text_newtype!(CallbackUrl);

impl CallbackUrl {
    pub fn parse(raw: &str, allow_private: bool, field: &str) -> Result<CallbackUrl, FieldError> {
        check_outbound_url(raw, allow_private, field).map(CallbackUrl)
    }
}

/// The rule of an identifier we pass on to a provider.
pub(super) fn check_id(id: &str, field: &str) -> Result<String, FieldError> {
    if id.is_empty() || id.len() > 64 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(FieldError::new(
            field,
            "must be 1 to 64 characters without spaces",
        ));
    }
    Ok(id.to_owned())
}
