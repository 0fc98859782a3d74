//! Canary secrets: every secret of a chaos run (the API token, the billing webhook and
//! callback secrets, `secrets.key`, each account's key, PIN and token, each job's
//! root password and post-install script) is a distinctive string, and
//! [`LeakScan`] looks for each of them in whatever the run produced — log files, api
//! answers, `/metrics`, job callbacks, every Redis key and value — in plain text and
//! in base64 (at each of the three byte alignments, standard and URL-safe alphabet),
//! because a sealed value is ciphertext and must contain neither.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

/// The fixed canaries of one run. Every value is letters, digits and `-` only, so no
/// JSON, form or URL encoding can hide it from a plain search.
#[derive(Debug, Clone)]
pub struct Canaries {
    tag: String,
    pub api_token: String,
    /// The raw bytes behind `whsec_…` (what HMAC keys with).
    webhook_key: String,
    callback_key: String,
    /// 32 ASCII bytes; the config holds their base64.
    secrets_key: String,
    pub hostkey_api_key: String,
    pub hostkey_pin: String,
    pub klikk_token: String,
    pub inferno_api_key: String,
    pub idc_api_key: String,
}

impl Canaries {
    /// Canaries unique to a run (`tag` from its seed).
    pub fn new(tag: u64) -> Canaries {
        let tag = format!("{:012x}", tag & 0xffff_ffff_ffff);
        let c = |what: &str| format!("CANARY-{what}-{tag}");
        Canaries {
            api_token: c("apitoken"),
            webhook_key: c("webhook"),
            callback_key: c("callback"),
            // exactly 32 bytes: "CANARY-seckey-" (14) + 12 hex + "-KEY-" (5) + 1
            secrets_key: format!("CANARY-seckey-{tag}-KEY-x"),
            hostkey_api_key: c("hkapikey"),
            hostkey_pin: c("hkpin"),
            klikk_token: c("klikktoken"),
            inferno_api_key: c("infernokey"),
            idc_api_key: c("idckey"),
            tag,
        }
    }

    /// `[api] webhook_secret`, Standard Webhooks style.
    pub fn webhook_secret(&self) -> String {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&self.webhook_key)
        )
    }

    /// `[callbacks] secret`.
    pub fn callback_secret(&self) -> String {
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&self.callback_key)
        )
    }

    /// `[secrets] key`: base64 of 32 bytes.
    pub fn secrets_key_config(&self) -> String {
        debug_assert_eq!(self.secrets_key.len(), 32);
        base64::engine::general_purpose::STANDARD.encode(&self.secrets_key)
    }

    /// Job `n`'s root password: at least 8 characters with numbers and capitals
    /// (HOSTKEY's `create_pxe` policy).
    pub fn root_password(&self, n: usize) -> String {
        format!("CANARY-Rootpw{n}-{}", self.tag)
    }

    /// Job `n`'s post-install script.
    pub fn script(&self, n: usize) -> String {
        format!("#!/bin/sh\necho CANARY-script{n}-{}\n", self.tag)
    }

    /// The distinctive part of job `n`'s script.
    fn script_marker(&self, n: usize) -> String {
        format!("CANARY-script{n}-{}", self.tag)
    }

    /// Every fixed canary, named.
    pub fn fixed(&self) -> Vec<(String, String)> {
        [
            ("api.tokens", &self.api_token),
            ("api.webhook_secret (key bytes)", &self.webhook_key),
            ("callbacks.secret (key bytes)", &self.callback_key),
            ("secrets.key (key bytes)", &self.secrets_key),
            ("hostkey api_key", &self.hostkey_api_key),
            ("hostkey pin", &self.hostkey_pin),
            ("klikk token", &self.klikk_token),
            ("inferno api_key", &self.inferno_api_key),
            ("idcloudhost api_key", &self.idc_api_key),
        ]
        .into_iter()
        .map(|(what, value)| (what.to_owned(), value.clone()))
        .chain([
            ("api.webhook_secret".to_owned(), self.webhook_secret()),
            ("callbacks.secret".to_owned(), self.callback_secret()),
            ("secrets.key".to_owned(), self.secrets_key_config()),
        ])
        .collect()
    }
}

/// One canary found where it must never be.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leak {
    /// Which secret.
    pub secret: String,
    /// In which form (`plain`, `base64`, `base64url`).
    pub form: &'static str,
    /// Where: a log file, an answer, a Redis key.
    pub place: String,
    /// The text around it, with the secret itself cut out.
    pub context: String,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}) in {}: …{}…",
            self.secret, self.form, self.place, self.context
        )
    }
}

struct Needle {
    secret: String,
    form: &'static str,
    text: Vec<u8>,
}

/// The fragments of base64 text that encode `value` whatever bytes surround it:
/// one per byte alignment, with the characters that also depend on the neighbours
/// left out.
fn base64_fragments(value: &[u8], engine: &impl base64::Engine) -> Vec<String> {
    (0..3usize)
        .filter_map(|pad| {
            let mut bytes = vec![0u8; pad];
            bytes.extend_from_slice(value);
            let encoded = engine.encode(&bytes);
            let start = (8 * pad).div_ceil(6);
            let end = (8 * (pad + value.len())) / 6;
            encoded.get(start..end).map(str::to_owned)
        })
        .filter(|f| f.len() >= 12)
        .collect()
}

/// Needles are indexed by their first bytes, so a text is read once, not once per
/// needle (a run has a few thousand needles and megabytes of logs).
const PREFIX: usize = 8;

/// Looks for canaries in what a run produced, and keeps what it found.
pub struct LeakScan {
    needles: Vec<Needle>,
    by_prefix: std::collections::HashMap<[u8; PREFIX], Vec<usize>>,
    found: Mutex<BTreeMap<(String, &'static str, String), Leak>>,
    scanned_bytes: std::sync::atomic::AtomicU64,
}

impl LeakScan {
    /// Every fixed canary, and the root password and script of jobs `0..jobs`.
    pub fn new(canaries: &Canaries, jobs: usize) -> LeakScan {
        let mut named = canaries.fixed();
        for n in 0..jobs {
            named.push((
                format!("root password of job #{n}"),
                canaries.root_password(n),
            ));
            named.push((
                format!("post-install script of job #{n}"),
                canaries.script_marker(n),
            ));
        }
        let mut needles = Vec::new();
        for (secret, value) in named {
            let standard = base64_fragments(value.as_bytes(), &STANDARD_NO_PAD);
            for fragment in base64_fragments(value.as_bytes(), &URL_SAFE_NO_PAD) {
                // the alphabets differ only in `+` and `/`
                if standard.contains(&fragment) {
                    continue;
                }
                needles.push(Needle {
                    secret: secret.clone(),
                    form: "base64url",
                    text: fragment.into_bytes(),
                });
            }
            for fragment in standard {
                needles.push(Needle {
                    secret: secret.clone(),
                    form: "base64",
                    text: fragment.into_bytes(),
                });
            }
            needles.push(Needle {
                secret,
                form: "plain",
                text: value.into_bytes(),
            });
        }
        let mut by_prefix: std::collections::HashMap<[u8; PREFIX], Vec<usize>> =
            std::collections::HashMap::new();
        for (i, needle) in needles.iter().enumerate() {
            let prefix: [u8; PREFIX] = needle.text[..PREFIX]
                .try_into()
                .expect("every needle is longer than its prefix");
            by_prefix.entry(prefix).or_default().push(i);
        }
        LeakScan {
            needles,
            by_prefix,
            found: Mutex::new(BTreeMap::new()),
            scanned_bytes: Default::default(),
        }
    }

    /// Looks through `text`, found at `place`.
    pub fn check(&self, place: &str, text: &[u8]) {
        self.scanned_bytes
            .fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if text.len() < PREFIX {
            return;
        }
        for at in 0..=text.len() - PREFIX {
            let prefix: &[u8; PREFIX] = text[at..at + PREFIX]
                .try_into()
                .expect("a window of PREFIX bytes");
            let Some(candidates) = self.by_prefix.get(prefix) else {
                continue;
            };
            for &i in candidates {
                let needle = &self.needles[i];
                if !text[at..].starts_with(&needle.text) {
                    continue;
                }
                let before = &text[at.saturating_sub(60)..at];
                let after_start = at + needle.text.len();
                let after = &text[after_start..(after_start + 60).min(text.len())];
                let context = format!(
                    "{}<{}>{}",
                    String::from_utf8_lossy(before),
                    needle.form,
                    String::from_utf8_lossy(after)
                )
                .replace('\n', "⏎");
                self.found
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry((needle.secret.clone(), needle.form, place.to_owned()))
                    .or_insert(Leak {
                        secret: needle.secret.clone(),
                        form: needle.form,
                        place: place.to_owned(),
                        context,
                    });
            }
        }
    }

    /// Looks through a file.
    pub fn check_file(&self, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) => self.check(&path.display().to_string(), &bytes),
            Err(e) => self.check(&format!("{} (unreadable: {e})", path.display()), b""),
        }
    }

    /// Looks through every key and value of the Redis at `url`: strings, hashes,
    /// sets, sorted sets (members and scores), lists and streams.
    pub async fn check_redis(&self, url: &str) -> anyhow::Result<usize> {
        let client = redis::Client::open(url)?;
        let mut c = client.get_multiplexed_async_connection().await?;
        let mut cursor: u64 = 0;
        let mut keys = 0;
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await?;
            for key in batch {
                keys += 1;
                let name = String::from_utf8_lossy(&key).into_owned();
                let place = format!("redis key {name}");
                self.check(&format!("{place} (its name)"), &key);
                let kind: String = redis::cmd("TYPE").arg(&key).query_async(&mut c).await?;
                let values: Vec<Vec<u8>> = match kind.as_str() {
                    "string" => {
                        let v: Option<Vec<u8>> =
                            redis::cmd("GET").arg(&key).query_async(&mut c).await?;
                        v.into_iter().collect()
                    }
                    "hash" => redis::cmd("HGETALL").arg(&key).query_async(&mut c).await?,
                    "set" => redis::cmd("SMEMBERS").arg(&key).query_async(&mut c).await?,
                    "zset" => {
                        redis::cmd("ZRANGE")
                            .arg(&key)
                            .arg(0)
                            .arg(-1)
                            .arg("WITHSCORES")
                            .query_async(&mut c)
                            .await?
                    }
                    "list" => {
                        redis::cmd("LRANGE")
                            .arg(&key)
                            .arg(0)
                            .arg(-1)
                            .query_async(&mut c)
                            .await?
                    }
                    "stream" => {
                        let v: redis::Value = redis::cmd("XRANGE")
                            .arg(&key)
                            .arg("-")
                            .arg("+")
                            .query_async(&mut c)
                            .await?;
                        vec![format!("{v:?}").into_bytes()]
                    }
                    // gone between SCAN and TYPE (an expired key)
                    "none" => Vec::new(),
                    other => vec![format!("(a {other} the scan cannot read)").into_bytes()],
                };
                for value in values {
                    self.check(&place, &value);
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(keys)
    }

    /// Everything found so far, sorted by secret and place.
    pub fn leaks(&self) -> Vec<Leak> {
        self.found
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Bytes looked through so far.
    pub fn scanned_bytes(&self) -> u64 {
        self.scanned_bytes
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_canary_plain_and_inside_base64_at_any_alignment() {
        let canaries = Canaries::new(0xabc);
        let scan = LeakScan::new(&canaries, 2);
        scan.check("clean", b"nothing to see {\"state\":\"succeeded\"}");
        assert!(scan.leaks().is_empty());
        let password = canaries.root_password(1);
        scan.check("plain", format!("root_pass={password}&x=1").as_bytes());
        for prefix in ["", "a", "ab"] {
            let encoded = STANDARD_NO_PAD.encode(format!("{prefix}{password}tail"));
            scan.check(&format!("b64-{}", prefix.len()), encoded.as_bytes());
        }
        let leaks = scan.leaks();
        let places: Vec<&str> = leaks.iter().map(|l| l.place.as_str()).collect();
        assert_eq!(places, ["b64-0", "b64-1", "b64-2", "plain"], "{leaks:?}");
        assert!(leaks.iter().all(|l| l.secret == "root password of job #1"));
        assert!(
            !leaks[3].context.contains(&password),
            "{}",
            leaks[3].context
        );
    }

    #[test]
    fn the_secrets_key_is_32_bytes_and_config_secrets_parse() {
        let canaries = Canaries::new(u64::MAX);
        let key = base64::engine::general_purpose::STANDARD
            .decode(canaries.secrets_key_config())
            .unwrap();
        assert_eq!(key.len(), 32);
        provisioner_shared::webhook::WebhookKey::parse(&canaries.webhook_secret()).unwrap();
        provisioner_shared::webhook::WebhookKey::parse(&canaries.callback_secret()).unwrap();
    }
}
