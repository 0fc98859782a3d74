//! Extractors whose rejections use the API's error shape (axum's own answer in
//! plain text): a JSON object body, a raw body (for signatures over the exact bytes)
//! and the query string; and the one reader of a header sent at most once.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A request body that is a JSON object. Wrong Content-Type → 415, over
/// `api.body_limit` → 413, not JSON or not an object → 400, each naming `body`.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be sent as Content-Type: application/json",
            )
            .with_field("body"));
        }
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        json_object(&bytes).map(JsonObject)
    }
}

/// Bytes that must be a JSON object: not JSON or not an object → 400 naming `body`.
/// (Billing webhooks read theirs from the raw body once its signature has passed.)
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
        .with_field("body")
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::client(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the body must be a JSON object",
        )
        .with_field("body")),
    }
}

/// A header's value, sent at most once and as visible ASCII; a 400 naming `name`
/// (as given: `Idempotency-Key`, `webhook-id`) otherwise.
pub fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad_header(name, "must be sent once"));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| bad_header(name, "must be visible ASCII"))
}

/// 400 `invalid_header` naming the header.
pub fn bad_header(name: &'static str, problem: &str) -> ApiError {
    ApiError::client(
        StatusCode::BAD_REQUEST,
        "invalid_header",
        format!("{name} {problem}"),
    )
    .with_field(name)
}

/// The body's bytes as sent, within `api.body_limit` (over it → 413 naming `body`).
#[derive(Debug)]
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The limit itself is the router's `DefaultBodyLimit` layer.
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::client(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the body is larger than this API accepts (api.body_limit)",
                )
            } else {
                ApiError::client(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    "the body could not be read",
                )
            }
            .with_field("body")
        })?;
        Ok(RawBody(bytes))
    }
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn is_json(value: Option<&header::HeaderValue>) -> bool {
    let Some(mime) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The query string, deserialised; a malformed one is a 422 naming `query`.
#[derive(Debug)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| {
                ApiError::invalid("query", format!("the query string is not understood: {e}"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_header_is_read_once_and_as_visible_ascii() {
        let mut h = HeaderMap::new();
        assert_eq!(header(&h, "webhook-id").unwrap(), None);
        h.insert("webhook-id", HeaderValue::from_static("msg_1"));
        assert_eq!(header(&h, "webhook-id").unwrap(), Some("msg_1"));
        h.append("webhook-id", HeaderValue::from_static("msg_2"));
        let e = header(&h, "webhook-id").unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        h.insert(
            "Idempotency-Key",
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert!(header(&h, "Idempotency-Key").is_err());
    }

    #[test]
    fn json_content_types() {
        let ok = |s: &'static str| is_json(Some(&HeaderValue::from_static(s)));
        assert!(ok("application/json"));
        assert!(ok("Application/JSON; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!ok("application/x-www-form-urlencoded"));
        assert!(!is_json(None));
    }
}
