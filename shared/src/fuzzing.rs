//! Entry points of the fuzz targets in `fuzz/` (cargo-fuzz) and of the replay of
//! their committed corpus as ordinary tests: each takes raw bytes as they arrive from
//! outside, feeds them to the parser, and panics when the parser panics or breaks one
//! of the invariants written beside it. Not an API: hidden from the docs, and nothing
//! but the fuzz targets and the tests calls it.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::ExposeSecret;
use serde_json::Value;

use crate::config::Config;
use crate::request::{JobRequest, ParseContext, check_outbound_url};
use crate::secret::Sealer;
use crate::webhook::{self, TOLERANCE, WebhookError, WebhookHeaders, WebhookKey};

/// The job id the fuzzed requests' secrets are sealed for.
const JOB_ID: &str = "job-fuzz";

/// One account of every provider (names as in the README's examples), production
/// rules for outbound URLs (`allow_private` off), and a callback secret.
const CONFIG: &str = r#"
[redis]
url = "redis://127.0.0.1:6379"
[secrets]
key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
[callbacks]
secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
[[accounts]]
name = "hk-nl"
provider = "hostkey"
base_url = "https://invapi.hostkey.com"
api_key = "k"
pin = "1234"
[[accounts]]
name = "klikk"
provider = "klikk"
base_url = "https://klikk.example/api"
token = "t"
[[accounts]]
name = "inferno"
provider = "inferno"
base_url = "https://inferno.example"
client_id = 7
api_key = "k"
[[accounts]]
name = "idc"
provider = "idcloudhost"
base_url = "https://api.idcloudhost.example"
api_key = "k"
billing_account_id = 1200
[[accounts]]
name = "noop"
provider = "noop"
base_url = "http://127.0.0.1:9/"
"#;

fn parse_context() -> &'static (Config, Sealer) {
    static CX: OnceLock<(Config, Sealer)> = OnceLock::new();
    CX.get_or_init(|| {
        let config = Config::from_toml(CONFIG).expect("the fuzz config is valid");
        let sealer = config.sealer();
        (config, sealer)
    })
}

/// A request body as `POST /v1/jobs` receives it. Invariants: a refusal names a
/// field with a 4xx status and says why; an accepted request seals each secret so
/// that it opens to exactly what was sent and is not readable in the stored form,
/// survives the store's serde round trip unchanged, and its outbound URLs pass the
/// same check again after normalisation (a URL that the parser rewrote into a
/// private one would be reached at delivery).
pub fn job_request(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (config, sealer) = parse_context();
    let cx = ParseContext {
        config,
        sealer,
        job_id: JOB_ID,
    };
    let request = match JobRequest::parse(&body, &cx) {
        Ok(request) => request,
        Err(e) => {
            assert!(!e.field.is_empty(), "a refusal names no field: {e:?}");
            assert!(!e.message.is_empty(), "a refusal says nothing: {e:?}");
            assert!((400..500).contains(&e.status), "not a 4xx: {e:?}");
            return;
        }
    };

    let stored = serde_json::to_value(&request).expect("a request serializes");
    let stored_text = stored.to_string();
    for (field, sealed) in [
        ("root_password", &request.root_password),
        ("post_install_script", &request.post_install_script),
    ] {
        let (Some(sealed), Some(sent)) = (sealed, body.get(field).and_then(Value::as_str)) else {
            assert!(sealed.is_none(), "{field} sealed from nothing");
            continue;
        };
        let opened = sealer.open(sealed, JOB_ID).expect("a sealed secret opens");
        assert_eq!(
            opened.expose_secret(),
            sent,
            "{field} does not open to what was sent"
        );
        // Short texts could occur in the base64 by chance; these cannot.
        if sent.len() >= 12 {
            let sealed_text = serde_json::to_string(sealed).expect("a sealed value serializes");
            assert!(
                !sealed_text.contains(sent),
                "{field} is readable once sealed"
            );
        }
    }
    let reread: JobRequest =
        serde_json::from_value(stored.clone()).expect("a stored request reads back");
    assert_eq!(
        serde_json::to_value(&reread).expect("a request serializes"),
        stored,
        "the store's round trip changes the request"
    );
    serde_json::from_str::<JobRequest>(&stored_text).expect("the stored text reads back");

    let cloud_init_url = stored
        .get("order")
        .and_then(|o| o.get("cloud_init_url"))
        .and_then(Value::as_str);
    for url in [
        request.callback_url.as_ref().map(|u| u.as_str()),
        cloud_init_url,
    ]
    .into_iter()
    .flatten()
    {
        let again = check_outbound_url(url, config.callbacks.allow_private, "url");
        assert_eq!(
            again.as_deref(),
            Ok(url),
            "an accepted URL does not pass its own check after normalisation"
        );
    }
}

/// The "now" of the fuzzed webhooks, Unix seconds: the Standard Webhooks test vector's
/// timestamp, so the seeds (the vector among them) are within the tolerance.
pub const WEBHOOK_NOW: i64 = 1_649_367_553;

/// The keys the fuzzed webhooks are checked against: the spec's test vector secret and
/// a raw (prefix-less) one.
pub const WEBHOOK_SECRETS: [&str; 2] = ["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "raw-secret-7"];

fn webhook_keys() -> &'static [WebhookKey] {
    static KEYS: OnceLock<Vec<WebhookKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        WEBHOOK_SECRETS
            .iter()
            .map(|s| WebhookKey::parse(s).expect("the fuzz secrets are valid"))
            .collect()
    })
}

/// A billing webhook: `id\ntimestamp\nsignature\nbody` (the first three lines are the
/// headers; an empty line stands for an absent header; the body is the rest, raw).
/// Invariants: a message passes only when one of its signatures is the HMAC of one of
/// our keys over exactly this id, timestamp and body; signing the same id, timestamp
/// and body with our key passes (when the id is a valid one) and any change of the
/// body then fails; a secret read from the input never panics.
pub fn webhook(data: &[u8]) {
    let mut parts = data.splitn(4, |b| *b == b'\n');
    let mut header = || {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let (id, timestamp, signature) = (header(), header(), header());
    let body = parts.next().unwrap_or_default();
    let present = |h: &Option<String>| h.clone().filter(|h| !h.is_empty());
    let (id, timestamp, signature) = (present(&id), present(&timestamp), present(&signature));
    let keys = webhook_keys();
    let headers = WebhookHeaders {
        id: id.as_deref(),
        timestamp: timestamp.as_deref(),
        signature: signature.as_deref(),
    };

    if let Ok(verified) = webhook::verify(keys, headers, body, WEBHOOK_NOW) {
        let id = id.as_deref().expect("a verified message has an id");
        assert_eq!(verified.id, id);
        let expected: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| mac_of(&k.sign(id, verified.timestamp, body)))
            .collect();
        let forged = signature
            .as_deref()
            .unwrap_or_default()
            .split_ascii_whitespace()
            .filter_map(|s| s.strip_prefix("v1,"))
            .filter_map(|s| B64.decode(s).ok())
            .all(|mac| !expected.contains(&mac));
        assert!(!forged, "a message passed without our signature");
        assert!(
            (verified.timestamp - WEBHOOK_NOW).unsigned_abs() <= TOLERANCE.as_secs(),
            "a message outside the tolerance passed"
        );
    }

    // Our own signature over the same parts passes, and fails once the body changes.
    if let Some(id) = id.as_deref() {
        let valid_id =
            !id.is_empty() && id.len() <= 256 && id.bytes().all(|b| b.is_ascii_graphic());
        let ts = WEBHOOK_NOW + body.len() as i64 % 300;
        let ts_text = ts.to_string();
        let signed = keys[0].sign(id, ts, body);
        let headers = WebhookHeaders {
            id: Some(id),
            timestamp: Some(&ts_text),
            signature: Some(&signed),
        };
        let result = webhook::verify(keys, headers, body, WEBHOOK_NOW);
        if valid_id {
            assert_eq!(
                result.map(|v| v.timestamp),
                Ok(ts),
                "our own signature fails"
            );
            let mut altered = body.to_vec();
            altered.push(b'x');
            assert_eq!(
                webhook::verify(keys, headers, &altered, WEBHOOK_NOW),
                Err(WebhookError::NoMatch),
                "an altered body passes"
            );
        } else {
            assert!(result.is_err(), "an invalid webhook-id passes");
        }
        let _ = WebhookKey::parse(id);
    }
}

/// The MAC bytes of a `v1,<base64>` signature we made.
fn mac_of(signature: &str) -> Vec<u8> {
    B64.decode(&signature[3..])
        .expect("our signatures are base64")
}

/// The committed corpus of fuzz target `target` (`fuzz/corpus/<target>/`): each file's
/// name and bytes, sorted by name. Panics when the folder is missing or empty, so a
/// replay test cannot pass by reading nothing.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus of {target} cannot be read: {e}"))
        .map(|entry| {
            let path = entry.expect("a corpus entry").path();
            let bytes = std::fs::read(&path).expect("a corpus file reads");
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, bytes)
        })
        .collect();
    assert!(!files.is_empty(), "the corpus of {target} is empty");
    files.sort();
    files
}

/// Feeds every file of `target`'s corpus to `entry`, naming the file that panics.
pub fn replay(target: &str, entry: fn(&[u8])) -> usize {
    let files = corpus(target);
    for (name, bytes) in &files {
        let outcome = std::panic::catch_unwind(|| entry(bytes));
        assert!(
            outcome.is_ok(),
            "fuzz/corpus/{target}/{name} fails (see the panic above)"
        );
    }
    files.len()
}

#[cfg(test)]
mod tests;
