//! The loader and the checks, through the same entry points the binaries use.

use super::*;

const KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn base() -> String {
    format!(
        r#"
[redis]
url = "redis://127.0.0.1:6379"
[secrets]
key = "{KEY}"
[[accounts]]
name = "hk"
provider = "hostkey"
base_url = "https://invapi.hostkey.com"
api_key = "k"
pin = "1234"
"#
    )
}

#[test]
fn env_overrides_win_and_are_typed() {
    let env = vec![
        ("PROVISIONER__WORKER__CONCURRENCY".into(), "7".into()),
        ("PROVISIONER__WORKER__LEASE".into(), "90s".into()),
        ("PROVISIONER__ACCOUNTS__0__PIN".into(), "9999".into()),
    ];
    let c = Config::from_sources(&base(), env).unwrap();
    assert_eq!(c.worker.concurrency, 7);
    assert_eq!(c.worker.lease, Duration::from_secs(90));
    assert_eq!(c.accounts[0].pin.as_ref().unwrap().expose(), "9999");
}

#[test]
fn bad_values_name_their_key() {
    let e = Config::from_sources(
        &base(),
        [("PROVISIONER__WORKER__LEASE".into(), "10s".into())],
    )
    .unwrap_err();
    assert_eq!(e.key, "worker.lease");
    let e = Config::from_sources(
        &base(),
        [("PROVISIONER__WORKER__SHARDS".into(), "\"x\"".into())],
    )
    .unwrap_err();
    assert_eq!(e.key, "worker.shards");
    let e = Config::from_toml(&base().replace("pin = \"1234\"", "")).unwrap_err();
    assert_eq!(e.key, "accounts[0].pin");
    let e = Config::from_toml(&base().replace(KEY, "c2hvcnQ=")).unwrap_err();
    assert_eq!(e.key, "secrets.key");
}

#[test]
fn redis_url_falls_back_to_env_and_accepts_a_seed_list() {
    let text = base().replace("url = \"redis://127.0.0.1:6379\"", "");
    let c = Config::from_sources(
        &text,
        [("REDIS_URL".into(), "redis://10.0.0.1:6379".into())],
    )
    .unwrap();
    assert_eq!(c.redis.url, vec!["redis://10.0.0.1:6379"]);
    assert!(!c.redis.is_cluster());
    let c = Config::from_sources(
        &text,
        [(
            "PROVISIONER__REDIS__URL".into(),
            "redis://a:7000,redis://b:7001".into(),
        )],
    )
    .unwrap();
    assert!(c.redis.is_cluster());
}

#[test]
fn secrets_come_from_env_or_file() {
    // SAFETY of the test: the variable name is unique to this test.
    let dir = std::env::temp_dir().join(format!("prov-secret-{}", std::process::id()));
    std::fs::write(&dir, "from-file\n").unwrap();
    let text = base().replace(
        "api_key = \"k\"",
        &format!("api_key = {{ file = \"{}\" }}", dir.display()),
    );
    let c = Config::from_toml(&text).unwrap();
    assert_eq!(
        c.accounts[0].api_key.as_ref().unwrap().expose(),
        "from-file"
    );
    assert!(!format!("{c:?}").contains("from-file"));
    std::fs::remove_file(dir).ok();
}

#[test]
fn webhook_secrets_are_one_or_a_list_and_checked() {
    let one = base().replace(
        "[secrets]",
        "[api]\nwebhook_secret = \"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD\"\n[secrets]",
    );
    let c = Config::from_toml(&one).unwrap();
    assert_eq!(c.webhook_keys().len(), 1);
    let env = [(
        "PROVISIONER__API__WEBHOOK_SECRET".to_owned(),
        r#"["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "raw,secret"]"#.to_owned(),
    )];
    let c = Config::from_sources(&base(), env).unwrap();
    assert_eq!(c.webhook_keys().len(), 2);
    let bad = [(
        "PROVISIONER__API__WEBHOOK_SECRET".to_owned(),
        "whsec_***".to_owned(),
    )];
    let e = Config::from_sources(&base(), bad).unwrap_err();
    assert_eq!(e.key, "api.webhook_secret[0]");
    let bad = [(
        "PROVISIONER__CALLBACKS__SECRET".to_owned(),
        "whsec_!".to_owned(),
    )];
    let e = Config::from_sources(&base(), bad).unwrap_err();
    assert_eq!(e.key, "callbacks.secret");
}

#[test]
fn tokens_are_plain_strings_or_tables_with_scopes() {
    let file = std::env::temp_dir().join(format!("prov-token-{}", std::process::id()));
    std::fs::write(&file, "from-file\n").unwrap();
    let text = base().replace(
        "[secrets]",
        &format!(
            r#"[api]
tokens = [
  "legacy-token",
  {{ name = "billing", token = "billing-token", scopes = ["read", "write", "credentials"] }},
  {{ name = "monitor", token = {{ file = "{}" }}, scopes = ["read"] }},
  {{ token = "unnamed" }},
  {{ file = "{}" }},
]
[secrets]"#,
            file.display(),
            file.display()
        ),
    );
    let c = Config::from_toml(&text).unwrap();
    std::fs::remove_file(file).ok();
    let t = &c.api.tokens;
    assert_eq!(t.len(), 5);
    assert_eq!(
        (t[4].name.as_str(), t[4].token.expose()),
        ("tokens[4]", "from-file")
    );
    assert_eq!(
        t[4].scopes,
        ApiToken::plain_scopes(),
        "the deploy example's form"
    );
    assert_eq!(
        (t[0].name.as_str(), t[0].token.expose()),
        ("tokens[0]", "legacy-token")
    );
    assert_eq!(t[0].scopes, ApiToken::plain_scopes());
    assert_eq!(t[1].name, "billing");
    assert!(t[1].allows(Scope::Credentials) && t[1].allows(Scope::Write));
    assert_eq!(t[2].token.expose(), "from-file");
    assert!(t[2].allows(Scope::Read) && !t[2].allows(Scope::Write));
    assert_eq!(t[3].name, "tokens[3]");
    assert!(!t[3].allows(Scope::Credentials));
    assert!(!format!("{c:?}").contains("billing-token"));

    // an env override in the old comma-separated form keeps working
    let env = [("PROVISIONER__API__TOKENS".to_owned(), "a,b".to_owned())];
    let c = Config::from_sources(&base(), env).unwrap();
    let names: Vec<&str> = c.api.tokens.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["tokens[0]", "tokens[1]"]);
    assert!(c.api.tokens.iter().all(|t| !t.allows(Scope::Credentials)));
}

#[test]
fn bad_token_entries_name_the_item() {
    let with = |tokens: &str| {
        let text = base().replace("[secrets]", &format!("[api]\ntokens = {tokens}\n[secrets]"));
        Config::from_toml(&text).unwrap_err()
    };
    let e = with(r#"[{ token = "x", scopes = ["read", "admin"] }]"#);
    assert_eq!(e.key, "api.tokens");
    assert!(
        e.message.contains("tokens[0].scopes[1]") && e.message.contains("admin"),
        "{e}"
    );
    let e = with(r#"["a", { name = "n", scopes = ["read"] }]"#);
    assert!(e.message.contains("tokens[1].token: is required"), "{e}");
    let e = with(r#"[{ token = "x", scopes = [] }]"#);
    assert!(e.message.contains("tokens[0].scopes"), "{e}");
    let e = with(r#"[{ token = "x", role = "admin" }]"#);
    assert!(e.message.contains("`role`"), "{e}");
    let e = with(r#"[{ name = "n", token = "x" }, { name = "n", token = "y" }]"#);
    assert_eq!(e.key, "api.tokens[1].name");
}

#[test]
fn polling_payment_is_an_optional_ceiling() {
    let c = Config::from_toml(&base()).unwrap();
    assert_eq!(
        c.polling.payment, None,
        "no default: payment waits grow to max"
    );
    let env = [("PROVISIONER__POLLING__PAYMENT".to_owned(), "10m".to_owned())];
    let c = Config::from_sources(&base(), env).unwrap();
    assert_eq!(
        c.polling.payment,
        Some(Duration::from_secs(600)),
        "the key is still taken"
    );
    let env = [("PROVISIONER__POLLING__PAYMENT".to_owned(), "0s".to_owned())];
    let e = Config::from_sources(&base(), env).unwrap_err();
    assert_eq!(e.key, "polling.payment");
}

#[test]
fn rate_limits_parse() {
    assert_eq!(RateLimit::parse("10/s").unwrap().per_second, 10.0);
    assert_eq!(RateLimit::parse("300/m").unwrap().per_second, 5.0);
    assert!(RateLimit::parse("ten/s").is_none());
}

#[test]
fn list_items_are_overridden_by_index_and_strings_keep_their_zeros() {
    let env = [
        (
            "PROVISIONER__ACCOUNTS__0__PIN".to_owned(),
            "0123".to_owned(),
        ),
        (
            "provisioner__accounts__0__api_key".to_owned(),
            "k2".to_owned(),
        ),
    ];
    let c = Config::from_sources(&base(), env).unwrap();
    let hk = &c.accounts[0];
    assert_eq!(hk.pin.as_ref().unwrap().expose(), "0123");
    assert_eq!(hk.name, "hk", "the rest of the item stays");
    let e = Config::from_sources(
        &base(),
        [("PROVISIONER__ACCOUNTS__3__PIN".to_owned(), "1".to_owned())],
    )
    .unwrap_err();
    assert_eq!(e.key, "PROVISIONER__ACCOUNTS__3__PIN");
    assert!(e.message.contains("no item 3"), "{e}");
}

#[test]
fn a_bad_override_names_the_key_and_the_variable() {
    let e = Config::from_sources(
        &base(),
        [("PROVISIONER__WORKER__LEASE".to_owned(), "soon".to_owned())],
    )
    .unwrap_err();
    assert_eq!(e.key, "worker.lease");
    assert!(e.message.contains("PROVISIONER__WORKER__LEASE"), "{e}");
    let e = Config::from_sources(
        &base(),
        [(
            "PROVISIONER__ACCOUNTS__0__BASE_URL".to_owned(),
            "not a url".to_owned(),
        )],
    )
    .unwrap_err();
    assert_eq!(e.key, "accounts[0].base_url");
    assert!(
        e.message.contains("PROVISIONER__ACCOUNTS__0__BASE_URL"),
        "{e}"
    );
}

#[test]
fn redis_url_is_only_a_default() {
    let env = |url: &str| {
        vec![
            ("REDIS_URL".to_owned(), "redis://from-env:6379".to_owned()),
            ("PROVISIONER__REDIS__URL".to_owned(), url.to_owned()),
        ]
    };
    let c = Config::from_sources(
        &base(),
        [("REDIS_URL".to_owned(), "redis://x:1".to_owned())],
    )
    .unwrap();
    assert_eq!(c.redis.url, ["redis://127.0.0.1:6379"], "the file's wins");
    let c = Config::from_sources(&base(), env("redis://override:6379")).unwrap();
    assert_eq!(c.redis.url, ["redis://override:6379"], "an override wins");
}

#[test]
fn sections_left_out_take_their_defaults() {
    let c = Config::from_toml(&base()).unwrap();
    assert_eq!(c.worker.concurrency, WorkerConfig::default().concurrency);
    assert_eq!(c.worker.lease, Duration::from_secs(60));
    assert_eq!(c.redis.namespace, "provisioner");
    assert_eq!(c.api.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(c.retention.finished, Duration::from_secs(90 * 24 * 3600));
    let partial = base() + "\n[worker]\nconcurrency = 3\n";
    let c = Config::from_toml(&partial).unwrap();
    assert_eq!(
        (c.worker.concurrency, c.worker.shards),
        (3, 16),
        "a key left out of a section keeps its default"
    );
}

#[test]
fn every_problem_is_listed_with_its_key() {
    let text = base().replace("pin = \"1234\"", "").replace(
        "[secrets]",
        "[worker]\nconcurrency = 0\nshards = 0\n[secrets]",
    );
    let c: Config = Config::shaped(&text, std::iter::empty()).unwrap();
    let keys: Vec<String> = c.problems().into_iter().map(|p| p.key).collect();
    assert_eq!(
        keys,
        ["worker.concurrency", "worker.shards", "accounts[0].pin"]
    );
}

#[test]
fn a_noop_account_needs_no_base_url_but_the_others_do() {
    let noop = base() + "\n[[accounts]]\nname = \"dry\"\nprovider = \"noop\"\n";
    let c = Config::from_toml(&noop).unwrap();
    assert_eq!(c.accounts[1].provider, ProviderKind::Noop);
    assert!(!c.accounts[1].has_base_url());
    assert!(c.accounts[0].has_base_url());
    let e = Config::from_toml(&base().replace("base_url = \"https://invapi.hostkey.com\"", ""))
        .unwrap_err();
    assert_eq!(e.key, "accounts[0].base_url");
    assert_eq!(e.message, "is required for provider hostkey");
}

#[test]
fn the_api_layer_keys_have_defaults_and_are_checked() {
    let c = Config::from_toml(&base()).unwrap();
    assert_eq!(
        (
            c.api.request_timeout,
            c.api.max_event_streams,
            c.api.events_fallback_poll
        ),
        (Duration::from_secs(30), 256, Duration::from_secs(5))
    );
    let set = base()
        + "\n[api]\nrequest_timeout = \"2s\"\nmax_event_streams = 8\nevents_fallback_poll = \"1m\"\n";
    let c = Config::from_toml(&set).unwrap();
    assert_eq!(
        (
            c.api.request_timeout,
            c.api.max_event_streams,
            c.api.events_fallback_poll
        ),
        (Duration::from_secs(2), 8, Duration::from_secs(60))
    );
    for (key, zero) in [
        ("request_timeout", "0s"),
        ("max_event_streams", "0"),
        ("events_fallback_poll", "0s"),
    ] {
        let var = format!("PROVISIONER__API__{}", key.to_uppercase());
        let e = Config::from_sources(&base(), [(var, zero.to_owned())]).unwrap_err();
        assert_eq!(e.key, format!("api.{key}"));
    }
}
