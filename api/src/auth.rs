//! Bearer-token check for `/v1`. No header or a malformed one → 401; a token that
//! matches none of `[api] tokens` → 403. The token is compared in constant time and
//! is never logged.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use provisioner_shared::config::Config;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

pub(crate) async fn require_token(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = bearer(req.headers())?;
    if !accepts(&state.config, token) {
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token is not accepted",
        ));
    }
    Ok(next.run(req).await)
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let unauthorized = |m: &str| ApiError::client(StatusCode::UNAUTHORIZED, "unauthorized", m);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("send `Authorization: Bearer <token>`"))?;
    let value = value
        .to_str()
        .map_err(|_| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(unauthorized(
            "the Authorization header must be `Bearer <token>`",
        ));
    }
    Ok(token)
}

/// Compares digests, not the tokens themselves: equal lengths, so neither a token's
/// length nor the position of its first wrong byte shows in the timing. Every
/// configured token is compared, matched or not.
fn accepts(config: &Config, token: &str) -> bool {
    let offered = Sha256::digest(token.as_bytes());
    let mut matched = Choice::from(0);
    for t in &config.api.tokens {
        matched |= Sha256::digest(t.expose().as_bytes()).ct_eq(&offered);
    }
    matched.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        h
    }

    #[test]
    fn malformed_headers_are_401() {
        for v in ["", "Bearer", "Bearer ", "Basic abc", "token"] {
            let e = bearer(&headers(v)).unwrap_err();
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED, "{v:?}");
        }
        assert_eq!(
            bearer(&HeaderMap::new()).unwrap_err().status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(bearer(&headers("bearer abc")).unwrap(), "abc");
    }
}
