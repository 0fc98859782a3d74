//! The dashboard's session (`/ui/session`): signing in with a token sets a signed
//! HttpOnly, SameSite=Strict cookie; `/v1` accepts the cookie in place of a bearer
//! token, with the token's scopes, and refuses a change without the CSRF token.

use provisioner_shared::ProviderKind;
use provisioner_tests::{API_TOKEN, Reply, TestApi, TestRedis, account, spawn_api, test_config};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

async fn start(
    tune: impl FnOnce(&mut provisioner_shared::Config),
) -> anyhow::Result<(TestRedis, TestApi)> {
    let redis = TestRedis::start().await?;
    let mut config = test_config(&redis);
    config
        .accounts
        .push(account("noop", ProviderKind::Noop, "http://127.0.0.1:9/"));
    tune(&mut config);
    let api = spawn_api(config).await?;
    Ok((redis, api))
}

/// `POST /ui/session` with `body`, from a client without a token.
async fn sign_in(api: &TestApi, body: &Value) -> anyhow::Result<Reply> {
    let res = api
        .anonymous()
        .post(api.url("/ui/session"))
        .json(body)
        .send()
        .await?;
    Reply::read(res).await
}

/// The `name=value` pair of a reply's `Set-Cookie`.
fn cookie_pair(reply: &Reply) -> String {
    let set = reply.headers[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().trim().to_owned()
}

/// A request on the session cookie alone (no `Authorization`).
async fn with_cookie(
    api: &TestApi,
    method: reqwest::Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<&Value>,
) -> anyhow::Result<Reply> {
    let mut req = api
        .anonymous()
        .request(method, api.url(path))
        .header(COOKIE, cookie);
    if let Some(c) = csrf {
        req = req.header("X-CSRF-Token", c);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    Reply::read(req.send().await?).await
}

fn noop_job() -> Value {
    json!({"kind": "provision", "account": "noop", "order": {"steps": 1}})
}

#[tokio::test]
async fn signing_in_sets_an_http_only_strict_cookie_and_answers_a_csrf_token() -> anyhow::Result<()>
{
    let (_redis, api) = start(|_| {}).await?;
    let r = sign_in(&api, &json!({"token": API_TOKEN}))
        .await?
        .expect(StatusCode::CREATED)?;
    let set = r.headers[SET_COOKIE].to_str()?.to_owned();
    assert!(set.starts_with("provisioner_session="), "{set}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(set.split("; ").any(|a| a == flag), "{set} lacks {flag}");
    }
    assert!(
        !set.contains("Secure"),
        "plain http: no Secure flag ({set})"
    );
    assert!(
        !set.contains(API_TOKEN),
        "the cookie does not carry the token"
    );
    let csrf = r.body["csrf_token"].as_str().unwrap();
    assert!(csrf.len() >= 32, "{}", r.body);
    assert_eq!(r.body["scopes"], json!(["read", "write"]));
    assert!(
        r.body["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        !r.text.contains(API_TOKEN),
        "the answer does not echo the token"
    );
    assert_eq!(r.headers["cache-control"], "no-store");

    // Who am I: the same session and CSRF token, from the cookie.
    let cookie = cookie_pair(&r);
    let me = with_cookie(
        &api,
        reqwest::Method::GET,
        "/ui/session",
        &cookie,
        None,
        None,
    )
    .await?
    .expect(StatusCode::OK)?;
    assert_eq!(me.body["csrf_token"], csrf);
    assert_eq!(me.body["token"], r.body["token"]);
    // Without the cookie: not signed in.
    let anon = Reply::read(api.anonymous().get(api.url("/ui/session")).send().await?).await?;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED, "{}", anon.text);
    Ok(())
}

#[tokio::test]
async fn the_cookie_is_secure_with_the_host_prefix_behind_https() -> anyhow::Result<()> {
    let (_redis, api) = start(|c| {
        c.api.public_url = Some("https://provisioner.example.com".parse().unwrap());
    })
    .await?;
    let r = sign_in(&api, &json!({"token": API_TOKEN}))
        .await?
        .expect(StatusCode::CREATED)?;
    let set = r.headers[SET_COOKIE].to_str()?;
    assert!(set.starts_with("__Host-provisioner_session="), "{set}");
    assert!(set.split("; ").any(|a| a == "Secure"), "{set}");
    Ok(())
}

#[tokio::test]
async fn a_bad_sign_in_names_the_field_and_sets_no_cookie() -> anyhow::Result<()> {
    let (_redis, api) = start(|_| {}).await?;
    for (body, status, field) in [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY, "token"),
        (
            json!({"token": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "token",
        ),
        (
            json!({"token": 42}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "token",
        ),
        (
            json!({"token": API_TOKEN, "remember": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "remember",
        ),
        (
            json!({"token": "not-a-token"}),
            StatusCode::FORBIDDEN,
            "token",
        ),
    ] {
        let r = sign_in(&api, &body).await?;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert_eq!(r.error_field(), Some(field), "{body}: {}", r.text);
        assert!(
            !r.headers.contains_key(SET_COOKIE),
            "{body}: a cookie was set"
        );
    }
    // Not JSON (what a cross-site form would send): refused, no cookie.
    let res = api
        .anonymous()
        .post(api.url("/ui/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={API_TOKEN}"))
        .send()
        .await?;
    let r = Reply::read(res).await?;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);
    assert!(!r.headers.contains_key(SET_COOKIE));
    Ok(())
}

#[tokio::test]
async fn the_cookie_reads_and_acts_only_with_the_csrf_token() -> anyhow::Result<()> {
    let (_redis, api) = start(|_| {}).await?;
    let r = sign_in(&api, &json!({"token": API_TOKEN}))
        .await?
        .expect(StatusCode::CREATED)?;
    let cookie = cookie_pair(&r);
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
    use reqwest::Method;

    // Reads need no CSRF token.
    with_cookie(&api, Method::GET, "/v1/jobs", &cookie, None, None)
        .await?
        .expect(StatusCode::OK)?;

    // A change without it, or with another one, is refused, and nothing is written.
    for wrong in [None, Some("not-the-token"), Some("")] {
        let r = with_cookie(
            &api,
            Method::POST,
            "/v1/jobs",
            &cookie,
            wrong,
            Some(&noop_job()),
        )
        .await?;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{wrong:?}: {}", r.text);
        assert_eq!(r.error_code(), Some("csrf_failed"));
        assert_eq!(r.error_field(), Some("X-CSRF-Token"));
    }
    let listed = api.list_jobs("").await?.expect(StatusCode::OK)?;
    assert_eq!(
        listed.body["jobs"],
        json!([]),
        "a refused request wrote a job"
    );

    // With it: accepted.
    let created = with_cookie(
        &api,
        Method::POST,
        "/v1/jobs",
        &cookie,
        Some(&csrf),
        Some(&noop_job()),
    )
    .await?;
    assert!(created.status.is_success(), "{}", created.text);
    let id = created.id().to_owned();
    with_cookie(
        &api,
        Method::POST,
        &format!("/v1/jobs/{id}/cancel"),
        &cookie,
        Some(&csrf),
        None,
    )
    .await?
    .expect(StatusCode::ACCEPTED)?;

    // A CSRF token of another sign-in does not fit this cookie.
    let other = sign_in(&api, &json!({"token": API_TOKEN}))
        .await?
        .expect(StatusCode::CREATED)?;
    let r = with_cookie(
        &api,
        Method::POST,
        "/v1/jobs",
        &cookie,
        other.body["csrf_token"].as_str(),
        Some(&noop_job()),
    )
    .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // A forged or altered cookie is not a session.
    let forged = format!("{cookie}A");
    let r = with_cookie(&api, Method::GET, "/v1/jobs", &forged, None, None).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    Ok(())
}

#[tokio::test]
async fn a_session_has_its_tokens_scopes() -> anyhow::Result<()> {
    let (_redis, api) = start(|c| {
        c.api.tokens.push(provisioner_shared::config::ApiToken {
            name: "viewer".into(),
            token: "viewer-token-5b1f".into(),
            scopes: [provisioner_shared::config::Scope::Read].into(),
        });
    })
    .await?;
    let r = sign_in(&api, &json!({"token": "viewer-token-5b1f"}))
        .await?
        .expect(StatusCode::CREATED)?;
    assert_eq!(r.body["token"], "viewer");
    assert_eq!(r.body["scopes"], json!(["read"]));
    let cookie = cookie_pair(&r);
    let csrf = r.body["csrf_token"].as_str().unwrap();
    use reqwest::Method;
    with_cookie(&api, Method::GET, "/v1/jobs", &cookie, None, None)
        .await?
        .expect(StatusCode::OK)?;
    let r = with_cookie(
        &api,
        Method::POST,
        "/v1/jobs",
        &cookie,
        Some(csrf),
        Some(&noop_job()),
    )
    .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.error_code(), Some("forbidden"));
    assert_eq!(r.error_field(), Some("write"), "the missing scope is named");
    Ok(())
}

#[tokio::test]
async fn bearer_tokens_are_unaffected_by_a_cookie() -> anyhow::Result<()> {
    let (_redis, api) = start(|_| {}).await?;
    let r = sign_in(&api, &json!({"token": API_TOKEN}))
        .await?
        .expect(StatusCode::CREATED)?;
    let cookie = cookie_pair(&r);
    // A bearer request needs no CSRF token, with or without a (stale) cookie beside it.
    for extra in [
        None,
        Some("provisioner_session=garbage"),
        Some(cookie.as_str()),
    ] {
        let mut req = api.client.post(api.url("/v1/jobs")).json(&noop_job());
        if let Some(c) = extra {
            req = req.header(COOKIE, c);
        }
        let r = Reply::read(req.send().await?).await?;
        assert!(r.status.is_success(), "{extra:?}: {}", r.text);
    }
    // `Authorization` decides alone: a wrong bearer token is refused even beside a
    // valid cookie.
    let r = Reply::read(
        api.anonymous()
            .get(api.url("/v1/jobs"))
            .bearer_auth("not-a-token")
            .header(COOKIE, &cookie)
            .send()
            .await?,
    )
    .await?;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // No credentials at all: 401 as before.
    let r = Reply::read(api.anonymous().get(api.url("/v1/jobs")).send().await?).await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn signing_out_needs_the_csrf_token_and_clears_the_cookie() -> anyhow::Result<()> {
    let (_redis, api) = start(|_| {}).await?;
    let r = sign_in(&api, &json!({"token": API_TOKEN}))
        .await?
        .expect(StatusCode::CREATED)?;
    let cookie = cookie_pair(&r);
    let csrf = r.body["csrf_token"].as_str().unwrap();
    use reqwest::Method;
    let refused = with_cookie(&api, Method::DELETE, "/ui/session", &cookie, None, None).await?;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let out = with_cookie(
        &api,
        Method::DELETE,
        "/ui/session",
        &cookie,
        Some(csrf),
        None,
    )
    .await?
    .expect(StatusCode::NO_CONTENT)?;
    let set = out.headers[SET_COOKIE].to_str()?;
    assert!(
        set.starts_with("provisioner_session=;") && set.contains("Max-Age=0"),
        "{set}"
    );
    // Signing out without a session: nothing to guard, the same answer.
    Reply::read(
        api.anonymous()
            .delete(api.url("/ui/session"))
            .send()
            .await?,
    )
    .await?
    .expect(StatusCode::NO_CONTENT)?;
    Ok(())
}

#[tokio::test]
async fn a_session_ends_when_its_token_is_given_a_new_value() -> anyhow::Result<()> {
    let (_redis, api) = start(|_| {}).await?;
    let r = sign_in(&api, &json!({"token": API_TOKEN}))
        .await?
        .expect(StatusCode::CREATED)?;
    let cookie = cookie_pair(&r);
    // The same `[secrets] key` (a second api process, or a restart) with the token
    // rotated: the cookie is refused.
    let mut config = (*api.config).clone();
    config.api.tokens[0].token = "rotated-token-77".into();
    let rotated = spawn_api(config.clone()).await?;
    let r = with_cookie(
        &rotated,
        reqwest::Method::GET,
        "/v1/jobs",
        &cookie,
        None,
        None,
    )
    .await?;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    // Unrotated, the other process accepts it (the key comes from `[secrets] key`).
    let same = spawn_api((*api.config).clone()).await?;
    with_cookie(&same, reqwest::Method::GET, "/v1/jobs", &cookie, None, None)
        .await?
        .expect(StatusCode::OK)?;
    Ok(())
}
