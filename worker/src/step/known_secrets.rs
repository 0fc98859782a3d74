//! The secrets a step's words must not repeat: what a client sent, what a job holds.
//! Here (not with the clients' redaction) because the engine masks outcomes with it.

use secrecy::{ExposeSecret, SecretString};
use std::borrow::Cow;
use std::fmt;

/// What a masked value becomes.
pub const MASK: &str = "[REDACTED]";

/// Secrets shorter than this are not searched for in text: they would mask ordinary
/// words and numbers (a HOSTKEY PIN has four digits, so four is the floor).
const MIN_KNOWN_LEN: usize = 4;

/// Secret values a client sent or a job holds, masked wherever a text repeats them
/// (raw, form-encoded, JSON-escaped or HTML-escaped): the provider may echo a
/// request back in a form or a warning the rules of `providers::redact` cannot see.
#[derive(Clone, Default)]
pub struct KnownSecrets {
    values: Vec<SecretString>,
}

impl fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KnownSecrets({} values)", self.values.len())
    }
}

impl KnownSecrets {
    pub fn new() -> Self {
        KnownSecrets::default()
    }

    /// Adds `secret` (one shorter than four characters is not searched for).
    pub fn add(&mut self, secret: &SecretString) {
        let s = secret.expose_secret();
        if s.chars().count() >= MIN_KNOWN_LEN && !self.values.iter().any(|v| v.expose_secret() == s)
        {
            self.values.push(secret.clone());
        }
    }

    pub fn with(mut self, secret: &SecretString) -> Self {
        self.add(secret);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every known secret masked, longest first (so a secret that holds
    /// another is masked whole).
    pub fn scrub<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut forms: Vec<String> = self
            .values
            .iter()
            .flat_map(|v| spellings(v.expose_secret()))
            .collect();
        forms.sort();
        forms.dedup();
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        let mut out = Cow::Borrowed(text);
        for form in forms {
            if out.contains(form.as_str()) {
                out = Cow::Owned(out.replace(form.as_str(), MASK));
            }
        }
        out
    }
}

/// How a secret may be spelled in an answer: as it is, form-encoded (`+` or `%20`
/// for a space), JSON-escaped (also with PHP's `\/`), HTML-escaped.
fn spellings(secret: &str) -> Vec<String> {
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let json = serde_json::to_string(secret).unwrap_or_default();
    let json = json.trim_matches('"').to_owned();
    let html = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#039;");
    let mut out = vec![
        secret.to_owned(),
        form.replace('+', "%20"),
        json.replace('/', "\\/"),
        form,
        json,
        html,
    ];
    out.sort();
    out.dedup();
    out
}
