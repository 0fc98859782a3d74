//! Standard Webhooks signatures: billing webhooks in, job callbacks out.
//!
//! A message is signed as `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`
//! over the raw body bytes and sent with the headers `webhook-id`,
//! `webhook-timestamp` (Unix seconds) and `webhook-signature`. The signature header
//! may hold several space-separated signatures (a sender rotating its secret signs
//! with the old and the new one); a message passes when any of them matches any of
//! our keys. Timestamps more than [`TOLERANCE`] away from now, in either direction,
//! are refused, so a captured message cannot be replayed later.
//!
//! Secrets are `whsec_<base64>` (the spec's form: the key is the decoded bytes). A
//! secret without that prefix is taken as it is: its UTF-8 bytes are the key. (The
//! reference libraries base64-decode a prefix-less secret instead; give senders
//! built on them the `whsec_` form.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use std::fmt;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// How far a message's timestamp may be from now, either way.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

pub const HEADER_ID: &str = "webhook-id";
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
pub const HEADER_SIGNATURE: &str = "webhook-signature";

const PREFIX: &str = "whsec_";
const VERSION: &str = "v1";
/// Signatures looked at in one header: rotation needs two or three, not hundreds.
const MAX_SIGNATURES: usize = 16;
/// Longest `webhook-id` accepted (it names a Redis key, through a digest).
const MAX_ID: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {header} header is malformed: {reason}")]
    BadHeader {
        header: &'static str,
        reason: &'static str,
    },
    #[error("the webhook-timestamp is {age_secs} s old; more than 5 minutes is refused")]
    Stale { age_secs: u64 },
    #[error(
        "the webhook-timestamp is {ahead_secs} s in the future; more than 5 minutes is refused"
    )]
    Future { ahead_secs: u64 },
    #[error("no signature in webhook-signature matches this message")]
    NoMatch,
    #[error("the secret is not valid: {0}")]
    BadSecret(&'static str),
}

impl WebhookError {
    /// A problem with the proof itself (answered 401), rather than with the form of
    /// the message or its age (400).
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            WebhookError::NoMatch | WebhookError::MissingHeader(HEADER_SIGNATURE)
        )
    }
}

/// One signing key. Prints redacted.
#[derive(Clone)]
pub struct WebhookKey(SecretSlice<u8>);

impl fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookKey([REDACTED])")
    }
}

impl WebhookKey {
    /// `whsec_<base64>`, or any other non-empty string taken as raw bytes.
    pub fn parse(secret: &str) -> Result<WebhookKey, WebhookError> {
        let secret = secret.trim();
        let bytes = match secret.strip_prefix(PREFIX) {
            Some(b64) => B64
                .decode(b64)
                .map_err(|_| WebhookError::BadSecret("whsec_ must be followed by base64"))?,
            None => secret.as_bytes().to_vec(),
        };
        if bytes.is_empty() {
            return Err(WebhookError::BadSecret("it is empty"));
        }
        Ok(WebhookKey(SecretSlice::from(bytes)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256>>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The `webhook-signature` value for one message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("{VERSION},{}", B64.encode(self.mac(id, timestamp, body)))
    }
}

/// The three headers of a message, as received (each absent or not).
#[derive(Debug, Clone, Copy, Default)]
pub struct WebhookHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// A message that passed: its id (for de-duplication) and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub id: String,
    pub timestamp: i64,
}

/// Checks a message against every key we accept. `now` is Unix seconds.
pub fn verify(
    keys: &[WebhookKey],
    headers: WebhookHeaders<'_>,
    body: &[u8],
    now: i64,
) -> Result<Verified, WebhookError> {
    let id = headers.id.ok_or(WebhookError::MissingHeader(HEADER_ID))?;
    if id.is_empty() || id.len() > MAX_ID || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WebhookError::BadHeader {
            header: HEADER_ID,
            reason: "must be 1 to 256 printable ASCII characters without spaces",
        });
    }
    let raw_ts = headers
        .timestamp
        .ok_or(WebhookError::MissingHeader(HEADER_TIMESTAMP))?;
    let timestamp: i64 = raw_ts
        .trim()
        .parse()
        .ok()
        .filter(|_| raw_ts.trim().bytes().all(|b| b.is_ascii_digit()))
        .ok_or(WebhookError::BadHeader {
            header: HEADER_TIMESTAMP,
            reason: "must be whole Unix seconds",
        })?;
    let tolerance = TOLERANCE.as_secs() as i64;
    if now - timestamp > tolerance {
        return Err(WebhookError::Stale {
            age_secs: (now - timestamp) as u64,
        });
    }
    if timestamp - now > tolerance {
        return Err(WebhookError::Future {
            ahead_secs: (timestamp - now) as u64,
        });
    }
    let header = headers
        .signature
        .ok_or(WebhookError::MissingHeader(HEADER_SIGNATURE))?;
    let candidates: Vec<Vec<u8>> = header
        .split_ascii_whitespace()
        .take(MAX_SIGNATURES)
        .filter_map(|s| s.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, sig)| B64.decode(sig).ok())
        .collect();
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        let expected = key.mac(id, timestamp, body);
        for candidate in &candidates {
            // Every pair is compared, in constant time, whatever matched before.
            matched |= candidate.as_slice().ct_eq(&expected);
        }
    }
    if bool::from(matched) {
        Ok(Verified {
            id: id.to_owned(),
            timestamp,
        })
    } else {
        Err(WebhookError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn headers<'a>(sig: &'a str, ts: &'a str) -> WebhookHeaders<'a> {
        WebhookHeaders {
            id: Some(ID),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    fn key() -> WebhookKey {
        WebhookKey::parse(SECRET).unwrap()
    }

    #[test]
    fn signs_the_spec_test_vector() {
        assert_eq!(key().sign(ID, TS, BODY), SIGNATURE);
    }

    #[test]
    fn verifies_the_spec_test_vector() {
        let ts = TS.to_string();
        let v = verify(&[key()], headers(SIGNATURE, &ts), BODY, TS + 10).unwrap();
        assert_eq!(v.id, ID);
        assert_eq!(v.timestamp, TS);
    }

    #[test]
    fn tampering_with_anything_signed_fails() {
        let ts = TS.to_string();
        let keys = [key()];
        let altered = br#"{"email":"test@example.com","username":"test_user2"}"#;
        assert_eq!(
            verify(&keys, headers(SIGNATURE, &ts), altered, TS),
            Err(WebhookError::NoMatch)
        );
        let other_id = WebhookHeaders {
            id: Some("msg_other"),
            ..headers(SIGNATURE, &ts)
        };
        assert_eq!(
            verify(&keys, other_id, BODY, TS),
            Err(WebhookError::NoMatch)
        );
        let later = (TS + 1).to_string();
        assert_eq!(
            verify(&keys, headers(SIGNATURE, &later), BODY, TS),
            Err(WebhookError::NoMatch)
        );
        let wrong = WebhookKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            verify(&[wrong], headers(SIGNATURE, &ts), BODY, TS),
            Err(WebhookError::NoMatch)
        );
        // a signature with one bit flipped
        let mut raw = B64.decode(&SIGNATURE[3..]).unwrap();
        raw[0] ^= 1;
        let flipped = format!("v1,{}", B64.encode(raw));
        assert_eq!(
            verify(&keys, headers(&flipped, &ts), BODY, TS),
            Err(WebhookError::NoMatch)
        );
        // the right bytes under another version tag do not count
        let v2 = SIGNATURE.replacen("v1,", "v1a,", 1);
        assert_eq!(
            verify(&keys, headers(&v2, &ts), BODY, TS),
            Err(WebhookError::NoMatch)
        );
    }

    #[test]
    fn any_of_several_signatures_and_keys_may_match() {
        let ts = TS.to_string();
        let multi = format!(
            "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= garbage {SIGNATURE} v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE="
        );
        assert!(verify(&[key()], headers(&multi, &ts), BODY, TS).is_ok());
        let old = WebhookKey::parse("old-raw-secret").unwrap();
        assert!(verify(&[old.clone(), key()], headers(SIGNATURE, &ts), BODY, TS).is_ok());
        let none = "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=";
        assert_eq!(
            verify(&[old, key()], headers(none, &ts), BODY, TS),
            Err(WebhookError::NoMatch)
        );
    }

    #[test]
    fn timestamps_outside_five_minutes_either_way_are_refused() {
        let keys = [key()];
        let ts = TS.to_string();
        assert!(verify(&keys, headers(SIGNATURE, &ts), BODY, TS + 300).is_ok());
        assert!(verify(&keys, headers(SIGNATURE, &ts), BODY, TS - 300).is_ok());
        assert_eq!(
            verify(&keys, headers(SIGNATURE, &ts), BODY, TS + 301),
            Err(WebhookError::Stale { age_secs: 301 })
        );
        assert_eq!(
            verify(&keys, headers(SIGNATURE, &ts), BODY, TS - 301),
            Err(WebhookError::Future { ahead_secs: 301 })
        );
        for bad in ["", "12.5", "-5", "1e9", "soon", " 1649367553x"] {
            assert!(
                matches!(
                    verify(&keys, headers(SIGNATURE, bad), BODY, TS),
                    Err(WebhookError::BadHeader {
                        header: HEADER_TIMESTAMP,
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_headers_are_named_and_classified() {
        let keys = [key()];
        let ts = TS.to_string();
        let full = headers(SIGNATURE, &ts);
        let no_sig = WebhookHeaders {
            signature: None,
            ..full
        };
        let e = verify(&keys, no_sig, BODY, TS).unwrap_err();
        assert_eq!(e, WebhookError::MissingHeader(HEADER_SIGNATURE));
        assert!(e.is_unauthenticated());
        let no_id = WebhookHeaders { id: None, ..full };
        let e = verify(&keys, no_id, BODY, TS).unwrap_err();
        assert_eq!(e, WebhookError::MissingHeader(HEADER_ID));
        assert!(!e.is_unauthenticated());
        let no_ts = WebhookHeaders {
            timestamp: None,
            ..full
        };
        assert_eq!(
            verify(&keys, no_ts, BODY, TS),
            Err(WebhookError::MissingHeader(HEADER_TIMESTAMP))
        );
        let spaced = WebhookHeaders {
            id: Some("msg 1"),
            ..full
        };
        assert!(matches!(
            verify(&keys, spaced, BODY, TS),
            Err(WebhookError::BadHeader {
                header: HEADER_ID,
                ..
            })
        ));
    }

    #[test]
    fn secrets_with_and_without_prefix() {
        assert!(WebhookKey::parse("whsec_not base64!").is_err());
        assert!(WebhookKey::parse("").is_err());
        assert!(WebhookKey::parse("whsec_").is_err());
        let raw = WebhookKey::parse("plain-shared-secret").unwrap();
        let sig = raw.sign(ID, TS, BODY);
        let ts = TS.to_string();
        assert!(verify(std::slice::from_ref(&raw), headers(&sig, &ts), BODY, TS).is_ok());
        assert!(!format!("{raw:?}").contains("plain"));
    }
}
