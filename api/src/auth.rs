//! Bearer tokens and scopes for `/v1`. No header or a malformed one → 401; a token
//! that matches none of `[api] tokens` → 403 `forbidden`; a token without the scope
//! the route needs → 403 `forbidden` with `field` = the missing scope. Tokens are
//! compared in constant time and never logged; the matched token's *name* travels
//! on to the handler as [`Caller`] (a credentials read records it).
//!
//! Every token-guarded route needs exactly one scope ([`required_scope`]): reading
//! jobs `read`, acting on them `write`, a server's login `credentials`.
//!
//! A request without `Authorization` may ride on the dashboard's session cookie
//! instead (`session`): it stands for the token it was signed in with (same name,
//! same scopes), and a request that changes anything must carry the session's
//! `X-CSRF-Token`. A request with `Authorization` is judged by that header alone.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use provisioner_shared::config::{ApiToken, Config, Scope};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who called: the name of the token that was accepted (never the token).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub token: String,
}

/// The scope a token-guarded route needs; `None` for a route this table does not
/// know (refused: a route nobody mapped is never open by accident).
pub(crate) fn required_scope(method: &Method, route: &str) -> Option<Scope> {
    let reads = *method == Method::GET || *method == Method::HEAD;
    match route {
        "/v1/jobs" | "/v1/drift" if reads => Some(Scope::Read),
        "/v1/jobs" if *method == Method::POST => Some(Scope::Write),
        "/v1/jobs/{id}" | "/v1/jobs/{id}/events" | "/v1/jobs/{id}/calls" if reads => {
            Some(Scope::Read)
        }
        "/v1/jobs/{id}/credentials" if reads => Some(Scope::Credentials),
        "/v1/jobs/{id}/cancel" | "/v1/jobs/{id}/retry" | "/v1/jobs/{id}/resolve"
            if *method == Method::POST =>
        {
            Some(Scope::Write)
        }
        _ => None,
    }
}

pub(crate) async fn require_token(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = if req.headers().contains_key(header::AUTHORIZATION)
        || !state.sessions.present(req.headers())
    {
        let offered = bearer(req.headers())?;
        let Some(token) = matching(&state.config, offered) else {
            return Err(ApiError::client(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this token is not accepted",
            ));
        };
        token
    } else {
        state
            .sessions
            .authenticate(&state.config, req.headers(), req.method())?
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    let method = req.method().clone();
    let Some(scope) = required_scope(&method, &route) else {
        tracing::error!(%method, %route, "a token-guarded route has no scope: refused");
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{method} {route} is not open to any token"),
        ));
    };
    if !token.allows(scope) {
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "this token ({}) lacks the `{scope}` scope, which {method} {route} needs",
                token.name
            ),
        )
        .with_field(scope.as_str()));
    }
    req.extensions_mut().insert(Caller {
        token: token.name.clone(),
    });
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

/// The configured token `offered` is. Compares digests, not the tokens themselves:
/// equal lengths, so neither a token's length nor the position of its first wrong
/// byte shows in the timing; every configured token is compared, matched or not.
pub(crate) fn matching<'a>(config: &'a Config, offered: &str) -> Option<&'a ApiToken> {
    let offered = Sha256::digest(offered.as_bytes());
    let mut found = None;
    for t in &config.api.tokens {
        let same: bool = Sha256::digest(t.token.expose().as_bytes())
            .ct_eq(&offered)
            .into();
        if same {
            found = Some(t);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use serde_json::Value;

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

    /// Every token-guarded operation in the OpenAPI document has a scope here, and
    /// the document names the same one (`security: [{"bearer": [scope]}]`).
    #[test]
    fn every_guarded_route_needs_the_scope_the_document_names() {
        let doc: Value = crate::openapi::document_value();
        let mut guarded = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Ok(m) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                let security = op.get("security").unwrap_or(&doc["security"]);
                let Some(bearer) = security
                    .as_array()
                    .and_then(|s| s.iter().find_map(|r| r.get("bearer")))
                else {
                    assert!(
                        required_scope(&m, path).is_none(),
                        "{m} {path} has a scope but no bearer security"
                    );
                    continue;
                };
                guarded += 1;
                let scope = required_scope(&m, path)
                    .unwrap_or_else(|| panic!("{m} {path} is guarded but has no scope"));
                assert_eq!(
                    bearer.as_array().map(Vec::as_slice),
                    Some([Value::from(scope.as_str())].as_slice()),
                    "{m} {path}: the document's scope"
                );
            }
        }
        assert!(guarded >= 8, "{guarded} guarded operations");
        assert_eq!(
            required_scope(&Method::DELETE, "/v1/jobs/{id}"),
            None,
            "an unmapped route is refused"
        );
    }
}
