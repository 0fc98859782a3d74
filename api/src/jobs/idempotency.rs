//! `Idempotency-Key`: the same key with the same body gives the same job.
//!
//! The key is a reservation (`provisioner_shared::store`'s one protocol) holding
//! the new job's id and the body's digest. What this guarantees, while the
//! reservation lives (`api.idempotency_ttl`):
//!
//! - **At most one job per key.** Every request that acts on a reservation creates
//!   the job under the reservation's job id, never a new one, and enqueue is
//!   create-if-absent. So when a creator was only slow (not dead) and another request
//!   took its reservation over, both write the same id and exactly one write lands;
//!   the other request answers with the job that did.
//! - **A dead creator does not block the key.** A request that finds a reservation
//!   but no job waits [`CREATOR_GRACE`] for it to appear, then takes the reservation
//!   over and creates the job itself.
//! - **Cleanup never removes someone else's reservation** (a takeover marks the
//!   value, and a release deletes only the value its request wrote).
//! - **Same key, other body → 409**, whatever state the first request is in.
//!
//! Once its job exists the key has no expiry while the job lives (a payment may
//! wait for days); when the job ends the worker gives it `api.idempotency_ttl`, and
//! after that a replay creates a new job.

use super::{CREATOR_GRACE, try_load};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{bad_header, header};
use axum::http::HeaderMap;
use provisioner_shared::job::Job;
use provisioner_shared::store::{self, Claim, Subject};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub(crate) const HEADER: &str = "Idempotency-Key";

/// A validated `Idempotency-Key`, as the digest that names its Redis key (the raw key
/// is the client's and never stored).
pub(crate) struct IdempotencyKey(String);

impl IdempotencyKey {
    /// 1..=255 printable ASCII characters, or absent.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ApiError> {
        let Some(key) = header(headers, HEADER)? else {
            return Ok(None);
        };
        if key.is_empty() || key.len() > 255 || key.contains('\t') {
            return Err(bad_header(
                HEADER,
                "must be 1 to 255 printable ASCII characters",
            ));
        }
        Ok(Some(IdempotencyKey(hex(&Sha256::digest(key.as_bytes())))))
    }
}

/// SHA-256 of the body's canonical JSON: object keys sorted at every depth, no
/// whitespace. Two bodies that differ only in key order or spacing are the same.
pub(crate) fn body_digest(body: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    canonical(body, &mut out);
    hex(&Sha256::digest(&out))
}

fn canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            // Sorted here rather than trusting Map's order, which a crate elsewhere in
            // the build could switch to insertion order (serde_json/preserve_order).
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k).expect("a string serialises");
                out.push(b':');
                canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar).expect("a scalar serialises"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reservation this request holds: create the job under [`Reservation::job_id`].
pub(crate) struct Reservation(store::Reservation);

impl Reservation {
    /// The Redis key of the reservation (kept in the job's holds).
    pub(crate) fn key(&self) -> &str {
        self.0.key()
    }

    /// The job to create: ours, or after a takeover the one the dead creator reserved.
    pub(crate) fn job_id(&self) -> &str {
        self.0.holder()
    }

    /// Its job exists: the key now lives as long as the job does (no expiry until
    /// the worker gives it one when the job ends). Best effort: a key left with its
    /// reservation TTL only shortens how long it is remembered.
    pub(crate) async fn keep(&self, state: &AppState) {
        if let Err(e) = state.store.keep(self.key(), self.job_id(), None).await {
            tracing::warn!(error = %e, job_id = %self.job_id(), "could not keep an idempotency key for its job's life");
        }
    }

    /// Gives the key back after a creation that wrote no job, unless someone has
    /// taken it over since. Best effort: a reservation left behind only makes the next
    /// replay wait [`CREATOR_GRACE`] before it takes over.
    pub(crate) async fn release(self, state: &AppState) {
        if let Err(e) = state.store.release(&self.0).await {
            tracing::warn!(error = %e, job_id = %self.job_id(), "could not release an idempotency reservation");
        }
    }
}

pub(crate) enum Reserved {
    /// Go on and create the job.
    Create(Reservation),
    /// The key's job exists: answer with it.
    Replay(Box<Job>),
}

/// Reserves `key` for a new job `job_id`, or finds the job an earlier request made.
pub(crate) async fn reserve(
    state: &AppState,
    key: &IdempotencyKey,
    digest: &str,
    job_id: &str,
) -> Result<Reserved, ApiError> {
    let subject = Subject::Idempotency { key_digest: &key.0 };
    let claim = Claim::new(job_id, Some(digest));
    let ttl = Some(state.config.api.idempotency_ttl);
    match state
        .store
        .reserve(subject, claim, ttl, CREATOR_GRACE)
        .await?
    {
        store::Reserved::Held(r) => Ok(Reserved::Create(Reservation(r))),
        store::Reserved::Taken { holder, .. } => match try_load(state, &holder).await? {
            Some(job) => Ok(Reserved::Replay(Box::new(job))),
            None => Err(in_progress()),
        },
        store::Reserved::Mismatch => Err(ApiError::conflict(
            "idempotency_conflict",
            "this Idempotency-Key was already used with a different body",
        )
        .with_field("Idempotency-Key")),
        store::Reserved::Settled(_) | store::Reserved::Contended => Err(in_progress()),
    }
}

fn in_progress() -> ApiError {
    ApiError::conflict(
        "idempotency_in_progress",
        "another request with this Idempotency-Key is being processed; try again",
    )
    .with_field("Idempotency-Key")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_change_the_digest() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": "s"}}"#).unwrap();
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        assert_eq!(body_digest(&a), body_digest(&b));
        assert_ne!(
            body_digest(&a),
            body_digest(&json!({"a": {"x": "s", "y": [2, 1]}, "b": 1}))
        );
    }

    #[test]
    fn header_rules() {
        let mut h = HeaderMap::new();
        assert!(IdempotencyKey::from_headers(&h).unwrap().is_none());
        h.insert("idempotency-key", HeaderValue::from_static("order-123"));
        assert!(IdempotencyKey::from_headers(&h).unwrap().is_some());
        h.insert("idempotency-key", HeaderValue::from_static(""));
        let e = IdempotencyKey::from_headers(&h).err().unwrap();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        h.insert(
            "idempotency-key",
            HeaderValue::from_str(&"k".repeat(256)).unwrap(),
        );
        assert!(IdempotencyKey::from_headers(&h).is_err());
    }
}
