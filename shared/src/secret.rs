//! Secrets: encryption at rest and the secret forms the config accepts.
//!
//! Secrets in a job (root password, post-install script, passwords a provider returns)
//! are sealed with XChaCha20-Poly1305 before they reach Redis, with the job id as
//! associated data so that a sealed value copied into another job does not open.
//! In memory they are `SecretString`s, which print as `[REDACTED]`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

const SEALED_PREFIX: &str = "xc1:";

/// A secret encrypted for one job. Safe to store and to log (it prints redacted anyway).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed([REDACTED])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("must be the base64 of exactly 32 bytes")]
    BadKey,
    #[error("sealed value is malformed")]
    Malformed,
    #[error(
        "sealed value does not open with this key (wrong `secrets.key`, or copied from another job)"
    )]
    WrongKey,
}

/// Seals and opens job secrets with the deployment's `[secrets] key`.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

impl Sealer {
    pub fn from_base64(key: &SecretString) -> Result<Self, SecretError> {
        let bytes = B64
            .decode(key.expose_secret().trim())
            .map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        Ok(Sealer {
            cipher: XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)?,
        })
    }

    /// A fresh random key as base64, for the sandbox and tests.
    pub fn generate_key() -> SecretString {
        let mut k = [0u8; 32];
        rand::rng().fill_bytes(&mut k);
        SecretString::from(B64.encode(k))
    }

    pub fn seal(&self, plaintext: &str, job_id: &str) -> Sealed {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: job_id.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Sealed(format!("{SEALED_PREFIX}{}", B64.encode(out)))
    }

    pub fn open(&self, sealed: &Sealed, job_id: &str) -> Result<SecretString, SecretError> {
        let raw = sealed
            .0
            .strip_prefix(SEALED_PREFIX)
            .ok_or(SecretError::Malformed)?;
        let bytes = B64.decode(raw).map_err(|_| SecretError::Malformed)?;
        if bytes.len() < 24 + 16 {
            return Err(SecretError::Malformed);
        }
        let (nonce, ct) = bytes.split_at(24);
        let pt = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: job_id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::WrongKey)?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| SecretError::Malformed)
    }
}

/// Tokens of the per-job URLs a provider is given: the provider callback
/// (`/v1/callbacks/{id}/{token}`) and the cloud-init document
/// (`/v1/cloud-init/{id}/{token}`). Derived, never stored: a token is the hex of
/// HMAC-SHA256 keyed with the `[secrets] key` bytes over a label of its purpose and
/// the job id (`"provider-callback:" + id`, `"cloud-init:" + id`), so the api can
/// check a URL the worker built without either writing anything, a token opens only
/// its job, and a callback token does not open the document holding a password.
#[derive(Clone)]
pub struct CallbackTokens {
    key: secrecy::SecretSlice<u8>,
}

impl fmt::Debug for CallbackTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackTokens([REDACTED])")
    }
}

impl CallbackTokens {
    /// From the `[secrets] key` (the base64 of 32 bytes).
    pub fn from_base64(key: &SecretString) -> Result<Self, SecretError> {
        let bytes = B64
            .decode(key.expose_secret().trim())
            .map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        Ok(CallbackTokens { key: bytes.into() })
    }

    fn mac(&self, purpose: Purpose, job_id: &str) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(purpose.label());
        mac.update(job_id.as_bytes());
        mac
    }

    fn token_for(&self, purpose: Purpose, job_id: &str) -> String {
        use hmac::Mac;
        use std::fmt::Write;
        let digest = self.mac(purpose, job_id).finalize().into_bytes();
        let mut out = String::with_capacity(64);
        for b in digest {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    fn verify_for(&self, purpose: Purpose, job_id: &str, token: &str) -> bool {
        use hmac::Mac;
        let Some(bytes) = decode_hex(token) else {
            return false;
        };
        self.mac(purpose, job_id).verify_slice(&bytes).is_ok()
    }

    /// The provider callback token of `job_id`: 64 lowercase hex digits.
    pub fn token(&self, job_id: &str) -> String {
        self.token_for(Purpose::ProviderCallback, job_id)
    }

    /// The URL a provider calls for `job_id`: `{public_url}/v1/callbacks/{id}/{token}`
    /// (a path prefix in `public_url` is kept).
    pub fn url(&self, public_url: &str, job_id: &str) -> String {
        format!(
            "{}/v1/callbacks/{job_id}/{}",
            public_url.trim_end_matches('/'),
            self.token(job_id)
        )
    }

    /// Whether `token` is `job_id`'s provider callback token, compared in constant time.
    pub fn verify(&self, job_id: &str, token: &str) -> bool {
        self.verify_for(Purpose::ProviderCallback, job_id, token)
    }

    /// The URL a server fetches its cloud-init document from:
    /// `{public_url}/v1/cloud-init/{id}/{token}`.
    pub fn cloud_init_url(&self, public_url: &str, job_id: &str) -> String {
        format!(
            "{}/v1/cloud-init/{job_id}/{}",
            public_url.trim_end_matches('/'),
            self.token_for(Purpose::CloudInit, job_id)
        )
    }

    /// Whether `token` is `job_id`'s cloud-init token, compared in constant time.
    pub fn verify_cloud_init(&self, job_id: &str, token: &str) -> bool {
        self.verify_for(Purpose::CloudInit, job_id, token)
    }
}

/// What a derived token is for: each has its own HMAC label.
#[derive(Debug, Clone, Copy)]
enum Purpose {
    ProviderCallback,
    CloudInit,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::ProviderCallback => b"provider-callback:",
            Purpose::CloudInit => b"cloud-init:",
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A secret in the config file: a literal string, `{ env = "NAME" }` or
/// `{ file = "/run/secrets/name" }`, so that secrets never have to sit in the file.
#[derive(Clone)]
pub struct ConfigSecret(pub SecretString);

impl fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl ConfigSecret {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<&str> for ConfigSecret {
    fn from(s: &str) -> Self {
        ConfigSecret(SecretString::from(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for ConfigSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Literal(String),
            Number(i64),
            Ref(SecretRef),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SecretRef {
            env: Option<String>,
            file: Option<String>,
        }
        match Repr::deserialize(d).map_err(|_| {
            D::Error::custom("expected a string, { env = \"NAME\" } or { file = \"PATH\" }")
        })? {
            Repr::Literal(s) => Ok(ConfigSecret(SecretString::from(s))),
            Repr::Number(n) => Ok(ConfigSecret(SecretString::from(n.to_string()))),
            Repr::Ref(SecretRef {
                env: Some(name),
                file: None,
            }) => std::env::var(&name)
                .map(|v| ConfigSecret(SecretString::from(v)))
                .map_err(|_| D::Error::custom(format!("environment variable {name} is not set"))),
            Repr::Ref(SecretRef {
                env: None,
                file: Some(path),
            }) => std::fs::read_to_string(&path)
                .map(|v| {
                    ConfigSecret(SecretString::from(
                        v.trim_end_matches(['\n', '\r']).to_owned(),
                    ))
                })
                .map_err(|e| D::Error::custom(format!("cannot read secret file {path}: {e}"))),
            Repr::Ref(_) => Err(D::Error::custom(
                "give exactly one of { env = \"NAME\" } or { file = \"PATH\" }",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_value_opens_only_for_its_job() {
        let sealer = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        let sealed = sealer.seal("S3cure!pass", "job-1");
        assert!(!format!("{sealed:?}").contains("S3cure"));
        assert!(!serde_json::to_string(&sealed).unwrap().contains("S3cure"));
        assert_eq!(
            sealer.open(&sealed, "job-1").unwrap().expose_secret(),
            "S3cure!pass"
        );
        assert!(matches!(
            sealer.open(&sealed, "job-2"),
            Err(SecretError::WrongKey)
        ));
        let other = Sealer::from_base64(&Sealer::generate_key()).unwrap();
        assert!(matches!(
            other.open(&sealed, "job-1"),
            Err(SecretError::WrongKey)
        ));
    }

    #[test]
    fn callback_tokens_are_per_job_and_per_key() {
        let key = Sealer::generate_key();
        let tokens = CallbackTokens::from_base64(&key).unwrap();
        let t = tokens.token("01JD0000000000000000000000");
        assert_eq!(t.len(), 64);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(t, tokens.token("01JD0000000000000000000000"));
        assert!(tokens.verify("01JD0000000000000000000000", &t));
        assert!(!tokens.verify("01JD0000000000000000000001", &t));
        assert!(!tokens.verify("01JD0000000000000000000000", &t[..63]));
        let last = if t.ends_with('0') { "1" } else { "0" };
        let flipped = format!("{}{last}", &t[..63]);
        assert!(!tokens.verify("01JD0000000000000000000000", &flipped));
        assert!(!tokens.verify("01JD0000000000000000000000", &format!("{}g", &t[..63])));
        let other = CallbackTokens::from_base64(&Sealer::generate_key()).unwrap();
        assert!(!other.verify("01JD0000000000000000000000", &t));
        assert!(!format!("{tokens:?}").contains(key.expose_secret()));
    }

    #[test]
    fn a_callback_token_does_not_open_the_cloud_init_document() {
        let tokens = CallbackTokens::from_base64(&Sealer::generate_key()).unwrap();
        let id = "01JD0000000000000000000000";
        let url = tokens.cloud_init_url("https://p.example.com/base/", id);
        let token = url.rsplit('/').next().unwrap();
        assert!(url.starts_with(&format!("https://p.example.com/base/v1/cloud-init/{id}/")));
        assert!(tokens.verify_cloud_init(id, token));
        assert!(!tokens.verify(id, token), "not a provider callback token");
        assert!(!tokens.verify_cloud_init(id, &tokens.token(id)));
        assert!(!tokens.verify_cloud_init("01JD0000000000000000000001", token));
    }

    #[test]
    fn key_must_be_32_bytes() {
        assert!(Sealer::from_base64(&SecretString::from("c2hvcnQ=")).is_err());
    }
}
