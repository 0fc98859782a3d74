//! `/ui/session`: the dashboard's sign-in. The page posts an API token once; the
//! answer sets a signed, HttpOnly, SameSite=Strict cookie and gives a CSRF token, so
//! the page never keeps the API token where a script could read it.
//!
//! - `POST /ui/session` `{"token": "…"}`: checks the token like the bearer check
//!   (a bad body → 4xx naming `token`, an unknown token → 403), sets the cookie and
//!   answers `{token, scopes, csrf_token, expires_at}` (`token` is the token's
//!   *name*). JSON only: a cross-site form cannot sign a browser in.
//! - `GET /ui/session`: the same answer for a valid cookie (the page reloads and
//!   asks again: the cookie is not readable by it), 401 otherwise.
//! - `DELETE /ui/session`: clears the cookie.
//!
//! Stateless: the cookie is `expires.nonce.name.mac`, the MAC (HMAC-SHA256 with a
//! key derived from `[secrets] key`, so every api process accepts it) covering the
//! SHA-256 of the token itself. A cookie dies with its expiry ([`LIFETIME`]), or
//! when its token is removed from `[api] tokens` or given a new value. The CSRF
//! token is an HMAC of the cookie; a request on a `/v1` route that changes anything
//! and rides on the cookie must carry it as `X-CSRF-Token` (403 otherwise). A
//! request with `Authorization` is checked as a bearer token only, cookie or not.

use crate::AppState;
use crate::auth;
use crate::error::ApiError;
use crate::extract::JsonObject;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use provisioner_shared::config::{ApiToken, Config};
use provisioner_shared::time::Millis;
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How long a dashboard sign-in lasts: a working day.
pub(crate) const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// The header that carries the CSRF token.
pub(crate) const CSRF_HEADER: &str = "X-CSRF-Token";

/// The cookie's name over plain HTTP.
const COOKIE: &str = "provisioner_session";
/// Over HTTPS: the `__Host-` prefix makes the browser refuse it unless it is
/// `Secure`, `Path=/` and host-only.
const HOST_COOKIE: &str = "__Host-provisioner_session";

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/ui/session", post(create).get(current).delete(remove))
}

/// Signs and checks session cookies and their CSRF tokens.
#[derive(Clone)]
pub(crate) struct Sessions {
    key: SecretSlice<u8>,
    secure: bool,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sessions([REDACTED])")
    }
}

/// A checked session: the token it stands for and the cookie's own value.
struct Session<'a> {
    token: &'a ApiToken,
    cookie: String,
    expires: u64,
}

impl Sessions {
    /// Keyed from `[secrets] key` (one label of its own, so the key opens nothing
    /// else); `Secure` cookies when `api.public_url` is https.
    pub(crate) fn new(config: &Config) -> Self {
        let secret = config
            .secrets
            .key
            .as_ref()
            .expect("[secrets] key is validated at load");
        let mut mac = HmacSha256::new_from_slice(secret.expose().trim().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"ui-session-key:v1");
        let key = mac.finalize().into_bytes().to_vec();
        let secure = config
            .api
            .public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https");
        Sessions {
            key: key.into(),
            secure,
        }
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure { HOST_COOKIE } else { COOKIE }
    }

    fn mac(&self, label: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes a key of any length");
        mac.update(label);
        mac
    }

    /// The MAC of a cookie's fields, bound to the token's value.
    fn cookie_mac(&self, expires: u64, nonce: &str, name: &str, token: &ApiToken) -> HmacSha256 {
        let mut mac = self.mac(b"ui-session:");
        mac.update(expires.to_string().as_bytes());
        mac.update(b".");
        mac.update(nonce.as_bytes());
        mac.update(b".");
        mac.update(name.as_bytes());
        mac.update(b".");
        mac.update(&Sha256::digest(token.token.expose().as_bytes()));
        mac
    }

    /// A new cookie value for `token`, valid until `expires` (Unix seconds).
    fn issue(&self, token: &ApiToken, expires: u64) -> String {
        let mut nonce = [0u8; 16];
        rand::fill(&mut nonce);
        let nonce = B64URL.encode(nonce);
        let name = B64URL.encode(token.name.as_bytes());
        let mac = self.cookie_mac(expires, &nonce, &name, token).finalize();
        format!(
            "{expires}.{nonce}.{name}.{}",
            B64URL.encode(mac.into_bytes())
        )
    }

    /// The CSRF token of a cookie value.
    fn csrf(&self, cookie: &str) -> String {
        let mut mac = self.mac(b"ui-csrf:");
        mac.update(cookie.as_bytes());
        B64URL.encode(mac.finalize().into_bytes())
    }

    /// The session a cookie value stands for, if it is ours, unexpired and its
    /// token is still configured with the same value.
    fn check<'a>(&self, config: &'a Config, cookie: &str, now: u64) -> Option<Session<'a>> {
        let mut parts = cookie.split('.');
        let (expires, nonce, name, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expires_at: u64 = expires.parse().ok()?;
        if expires_at <= now {
            return None;
        }
        let token_name = String::from_utf8(B64URL.decode(name).ok()?).ok()?;
        let mac = B64URL.decode(mac).ok()?;
        let token = config.api.tokens.iter().find(|t| t.name == token_name)?;
        self.cookie_mac(expires_at, nonce, name, token)
            .verify_slice(&mac)
            .ok()?;
        Some(Session {
            token,
            cookie: cookie.to_owned(),
            expires: expires_at,
        })
    }

    /// Whether `offered` is the CSRF token of `cookie`, compared in constant time.
    fn csrf_matches(&self, cookie: &str, offered: &str) -> bool {
        let expected = self.csrf(cookie);
        expected.len() == offered.len() && bool::from(expected.as_bytes().ct_eq(offered.as_bytes()))
    }

    fn set_cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}",
            self.cookie_name()
        ))
        .expect("a cookie of base64url and digits is a valid header value")
    }

    /// The value of this config's session cookie among the request's cookies.
    fn offered<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        let name = self.cookie_name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.trim())
    }

    /// Whether the request carries this config's session cookie at all.
    pub(crate) fn present(&self, headers: &HeaderMap) -> bool {
        self.offered(headers).is_some()
    }

    /// The token a request's session cookie stands for. A cookie that is not
    /// valid → 401; a method that changes something without the matching
    /// `X-CSRF-Token` → 403 naming that header.
    pub(crate) fn authenticate<'a>(
        &self,
        config: &'a Config,
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<&'a ApiToken, ApiError> {
        let session = self
            .offered(headers)
            .and_then(|c| self.check(config, c, now()))
            .ok_or_else(ended)?;
        if !is_safe(method) {
            let offered = headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !self.csrf_matches(&session.cookie, offered.trim()) {
                return Err(csrf_refused());
            }
        }
        Ok(session.token)
    }
}

fn is_safe(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD || *method == Method::OPTIONS
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn ended() -> ApiError {
    ApiError::client(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "no valid dashboard session (signed out, expired, or its token changed): sign in again",
    )
}

fn csrf_refused() -> ApiError {
    ApiError::client(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        format!("a request on the dashboard session must carry the {CSRF_HEADER} header its sign-in gave"),
    )
    .with_field(CSRF_HEADER)
}

/// `expires` (Unix seconds) as RFC 3339 UTC.
fn rfc3339(expires: u64) -> String {
    Millis(expires.saturating_mul(1000)).to_rfc3339()
}

fn answer(status: StatusCode, sessions: &Sessions, session: &Session<'_>) -> Response {
    let body = json!({
        "token": session.token.name,
        "scopes": session.token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "csrf_token": sessions.csrf(&session.cookie),
        "expires_at": rfc3339(session.expires),
    });
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn create(
    State(state): State<AppState>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    if let Some(extra) = body.keys().find(|k| *k != "token") {
        return Err(ApiError::invalid(
            extra,
            format!("{extra}: unknown field (send only `token`)"),
        ));
    }
    let offered = match body.get("token") {
        None => return Err(ApiError::invalid("token", "token: required")),
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim(),
        Some(_) => {
            return Err(ApiError::invalid(
                "token",
                "token: must be a non-empty string (one of the API's tokens)",
            ));
        }
    };
    let Some(token) = auth::matching(&state.config, offered) else {
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this token is not accepted",
        )
        .with_field("token"));
    };
    let sessions = &state.sessions;
    let expires = now() + LIFETIME.as_secs();
    let cookie = sessions.issue(token, expires);
    let session = Session {
        token,
        cookie,
        expires,
    };
    let mut res = answer(StatusCode::CREATED, sessions, &session);
    res.headers_mut().insert(
        header::SET_COOKIE,
        sessions.set_cookie(&session.cookie, LIFETIME.as_secs()),
    );
    Ok(res)
}

async fn current(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let sessions = &state.sessions;
    let session = sessions
        .offered(&headers)
        .and_then(|c| sessions.check(&state.config, c, now()))
        .ok_or_else(ended)?;
    Ok(answer(StatusCode::OK, sessions, &session))
}

/// Signs out: the cookie is cleared. A valid session must show its CSRF token (a
/// page elsewhere cannot sign the operator out); without one there is nothing to
/// guard and the answer is the same 204.
async fn remove(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let sessions = &state.sessions;
    if let Some(cookie) = sessions.offered(&headers)
        && sessions.check(&state.config, cookie, now()).is_some()
    {
        let offered = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !sessions.csrf_matches(cookie, offered.trim()) {
            return Err(csrf_refused());
        }
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, sessions.set_cookie("", 0));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use provisioner_shared::config::Scope;
    use provisioner_shared::secret::ConfigSecret;
    use std::collections::BTreeSet;

    fn config(public_url: Option<&str>) -> Config {
        let mut c = Config::default();
        c.secrets.key = Some(ConfigSecret::from(STANDARD.encode([7u8; 32]).as_str()));
        c.api.public_url = public_url.map(|u| u.parse().unwrap());
        c.api.tokens = vec![ApiToken {
            name: "ops.alice".into(),
            token: ConfigSecret::from("tok-alice"),
            scopes: BTreeSet::from([Scope::Read, Scope::Write]),
        }];
        c
    }

    #[test]
    fn a_cookie_opens_its_token_until_it_expires_or_the_token_changes() {
        let mut c = config(None);
        let s = Sessions::new(&c);
        let cookie = s.issue(&c.api.tokens[0], 1_000);
        assert_eq!(s.check(&c, &cookie, 999).unwrap().token.name, "ops.alice");
        assert!(s.check(&c, &cookie, 1_000).is_none(), "expired");
        // Tampering with any field breaks the MAC.
        let later = cookie.replacen("1000", "9000", 1);
        assert!(s.check(&c, &later, 999).is_none());
        assert!(s.check(&c, &format!("{cookie}x"), 999).is_none());
        assert!(s.check(&c, "", 999).is_none());
        // Another process with the same `[secrets] key` accepts it.
        assert!(Sessions::new(&c).check(&c, &cookie, 999).is_some());
        // The token given a new value: the cookie dies.
        c.api.tokens[0].token = ConfigSecret::from("tok-alice-2");
        assert!(s.check(&c, &cookie, 999).is_none());
    }

    #[test]
    fn the_csrf_token_belongs_to_one_cookie() {
        let c = config(None);
        let s = Sessions::new(&c);
        let a = s.issue(&c.api.tokens[0], 1_000);
        let b = s.issue(&c.api.tokens[0], 1_000);
        assert_ne!(a, b, "every sign-in has its own nonce");
        assert!(s.csrf_matches(&a, &s.csrf(&a)));
        assert!(!s.csrf_matches(&a, &s.csrf(&b)));
        assert!(!s.csrf_matches(&a, ""));
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_https() {
        let plain = Sessions::new(&config(Some("http://127.0.0.1:8080")));
        let v = plain.set_cookie("v", 60);
        assert_eq!(
            v.to_str().unwrap(),
            "provisioner_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let tls = Sessions::new(&config(Some("https://prov.example.com")));
        assert_eq!(
            tls.set_cookie("v", 60).to_str().unwrap(),
            "__Host-provisioner_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let s = Sessions::new(&config(None));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; provisioner_session=abc; b=2"),
        );
        assert_eq!(s.offered(&h), Some("abc"));
        let tls = Sessions::new(&config(Some("https://prov.example.com")));
        assert_eq!(
            tls.offered(&h),
            None,
            "over https only the __Host- name counts"
        );
    }
}
