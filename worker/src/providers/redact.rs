//! The one redaction of provider answers we quote, for all four clients.
//!
//! An answer is quoted when we cannot read it (`BadResponse`), when an HTTP error
//! lacks the provider's error shape, and when an error envelope has no text of its
//! own. Such answers carry secrets: HOSTKEY's `eq/show` lists the root password as a
//! tag, Inferno's `getinfo` the VPS password, logins a token, IDCloudHost's token
//! lists their keys; and a PHP warning printed before the JSON turns the whole answer
//! into text nobody parses. A quote travels to logs, the job JSON
//! (`error.provider_message`) and signed callbacks, so every quote passes [`redact`]
//! (through [`quote`](super::error::quote)), and each client also masks, in every
//! error it returns, the secrets it sent ([`KnownSecrets`]); the engine does the same
//! with the job's own secrets.
//!
//! What is masked (by [`MASK`]; everything else is kept as the provider wrote it):
//!
//! - in JSON (the whole answer, or JSON found inside text): the value of every member
//!   whose name is secret-looking ([`is_secret_key`]), at any depth, and the `value`
//!   of an object whose `tag`/`name`/`key`/`field` names a secret (HOSTKEY's
//!   `{"tag": "password", "value": …}`); string members are read as text too (HOSTKEY
//!   puts a console file with `password=` in `scope`);
//! - in text (HTML, PHP warnings, `print_r`, form echoes, headers), line by line: the
//!   value of every `key=value`, `key: value`, `[key] => value` and `"key": "value"`
//!   fragment whose key is secret-looking, and the `value` fragment that follows a
//!   `tag`/`name` fragment naming a secret. A bare `key` counts only in `key=` and
//!   `[key] =>` fragments, the request echoes where Inferno and HOSTKEY's login use it
//!   for the API key; a JSON `"key"` is HOSTKEY's async deploy key, which we need.

use serde_json::{Map, Value};

use super::lenient_json;

pub use crate::step::{KnownSecrets, MASK};

/// How many `{`/`[` in a text are tried as the start of embedded JSON before the
/// rest is read as text only (each try may read to the end of the body).
const MAX_JSON_TRIES: usize = 32;

/// `body` with every secret-looking value masked (see the module docs); a body with
/// none comes back unchanged, byte for byte, unless it is JSON (then re-encoded).
pub fn redact(body: &str) -> String {
    let trimmed = body.trim();
    let whole = serde_json::from_str::<Value>(trimmed)
        .ok()
        .or_else(|| lenient_json::parse(trimmed))
        .filter(|v| v.is_object() || v.is_array());
    match whole {
        Some(v) => mask_json(v).to_string(),
        None => Masker::default().mixed(body),
    }
}

/// Whether a member, parameter or header called `key` holds a secret: one of its
/// words (split at `_`, `-`, `.`, spaces and camelCase) is a password, pass, passwd,
/// pwd, passphrase, pin, token, secret, authorization, credential(s) or cookie word
/// (also as a suffix: `npassword`, `ssotoken`), or it ends in an api, private,
/// access, secret, auth, session or reset `key` (`api_key`, `apiKey`, `secretKey`,
/// `pwresetkey`). Expiry and ttl fields (`token_expire`) are not secrets. A bare
/// `key` counts only when `bare_key` (form and `print_r` echoes).
pub fn is_secret_key(key: &str, bare_key: bool) -> bool {
    const WORDS: &[&str] = &[
        "pass",
        "passwd",
        "password",
        "passphrase",
        "pwd",
        "pw",
        "pin",
        "token",
        "secret",
        "secrets",
        "authorization",
        "credential",
        "credentials",
        "cookie",
        "apikey",
        "privatekey",
        "accesskey",
        "secretkey",
        "authkey",
        "sessionkey",
        "pwresetkey",
    ];
    const KEY_KINDS: &[&str] = &[
        "api", "private", "access", "secret", "auth", "session", "reset",
    ];
    const NOT_SECRET: &[&str] = &["expire", "expires", "expiry", "expired", "ttl"];
    let words = words(key);
    if words.is_empty() || words.iter().any(|w| NOT_SECRET.contains(&w.as_str())) {
        return false;
    }
    if words.len() == 1 && words[0] == "key" {
        return bare_key;
    }
    words.iter().any(|w| {
        WORDS.contains(&w.as_str())
            || w.starts_with("password")
            || ["password", "passwd", "token", "secret"]
                .iter()
                .any(|s| w.ends_with(s))
    }) || words
        .windows(2)
        .any(|p| p[1] == "key" && KEY_KINDS.contains(&p[0].as_str()))
}

/// The words of a key, lower case: split at non-alphanumerics and where a lower-case
/// letter meets an upper-case one.
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Members whose (string) value says which field an object describes.
const TAG_KEYS: &[&str] = &["tag", "name", "key", "field", "param"];
/// Members that hold the described field's value.
const VALUE_KEYS: &[&str] = &["value", "val"];

fn mask_json(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let tagged = o.iter().any(|(k, v)| {
                TAG_KEYS.contains(&k.to_ascii_lowercase().as_str())
                    && v.as_str().is_some_and(|s| is_secret_key(s, false))
            });
            Value::Object(
                o.into_iter()
                    .map(|(k, v)| {
                        let secret = is_secret_key(&k, false)
                            || (tagged && VALUE_KEYS.contains(&k.to_ascii_lowercase().as_str()));
                        let v = if secret { mask_all(v) } else { mask_json(v) };
                        (k, v)
                    })
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(l) => Value::Array(l.into_iter().map(mask_json).collect()),
        Value::String(s) => Value::String(Masker::default().text(&s)),
        other => other,
    }
}

/// Every scalar in `v` masked; `null` and `""` stay (they hide nothing).
fn mask_all(v: Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) if s.is_empty() => Value::String(s),
        Value::Array(l) => Value::Array(l.into_iter().map(mask_all).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, mask_all(v))).collect()),
        _ => Value::from(MASK),
    }
}

/// The text reader's state across lines.
#[derive(Default)]
struct Masker {
    /// Lines left in which a `value` fragment is masked: a `tag`/`name` fragment named
    /// a secret (`[tag] => password` with `[value] => …` on the next line).
    tagged: u8,
}

#[derive(Clone, Copy, PartialEq)]
enum Sep {
    /// `key=value` (forms, query strings, ini files, console files).
    Equals,
    /// `[key] => value` (`print_r`) and `'key' => value` (`var_export`).
    Arrow,
    /// `key: value` (headers, YAML, broken JSON).
    Colon,
}

impl Masker {
    /// A text that may hold JSON: each embedded object (or list of objects) is masked
    /// as JSON, the text around it line by line.
    fn mixed(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut pending = 0;
        let mut from = 0;
        let mut tries = 0;
        while tries < MAX_JSON_TRIES {
            let Some(off) = text[from..].find(['{', '[']) else {
                break;
            };
            let at = from + off;
            tries += 1;
            let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
            match stream.next() {
                Some(Ok(v)) if is_structured(&v) => {
                    let end = at + stream.byte_offset();
                    out.push_str(&self.text(&text[pending..at]));
                    out.push_str(&mask_json(v).to_string());
                    pending = end;
                    from = end;
                }
                _ => from = at + 1,
            }
        }
        out.push_str(&self.text(&text[pending..]));
        out
    }

    /// Plain text, line by line (line ends kept as they were).
    fn text(&mut self, text: &str) -> String {
        text.split_inclusive('\n').map(|l| self.line(l)).collect()
    }

    fn line(&mut self, line: &str) -> String {
        let b = line.as_bytes();
        let mut out = String::new();
        let mut copied = 0;
        let mut tagged_here = false;
        let mut i = 0;
        while i < b.len() {
            let Some((sep, len)) = separator(b, i) else {
                i += 1;
                continue;
            };
            let next = i + len;
            let Some((key, quoted)) = key_before(line, i) else {
                i = next;
                continue;
            };
            let Some((start, end)) = value_after(line, next, sep, quoted) else {
                i = next;
                continue;
            };
            let value = &line[start..end];
            let key_lower = key.to_ascii_lowercase();
            let secret = is_secret_key(key, sep != Sep::Colon)
                || (self.tagged > 0 && VALUE_KEYS.contains(&key_lower.as_str()));
            if secret && value != MASK && !is_nested(value) {
                out.push_str(&line[copied..start]);
                out.push_str(MASK);
                copied = end;
                i = end.max(next);
                if VALUE_KEYS.contains(&key_lower.as_str()) {
                    self.tagged = 0;
                }
                continue;
            }
            if TAG_KEYS.contains(&key_lower.as_str())
                && value
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| is_secret_key(w.trim_matches(['"', '\'', ',']), false))
            {
                self.tagged = 3;
                tagged_here = true;
            }
            i = next;
        }
        if copied == 0 {
            out = line.to_owned();
        } else {
            out.push_str(&line[copied..]);
        }
        if !tagged_here {
            self.tagged = self.tagged.saturating_sub(1);
        }
        out
    }
}

/// An embedded JSON value worth reading as JSON: an object, or a list holding objects
/// or lists (not `[0]` of a `print_r` line).
fn is_structured(v: &Value) -> bool {
    match v {
        Value::Object(_) => true,
        Value::Array(l) => l.first().is_some_and(|e| e.is_object() || e.is_array()),
        _ => false,
    }
}

/// `print_r`'s opening of a nested array, not a value.
fn is_nested(value: &str) -> bool {
    let v = value.trim();
    v == "Array" || v.starts_with("Array (") || v.ends_with(" Object") || v == "("
}

/// The separator starting at `i`, with its length.
fn separator(b: &[u8], i: usize) -> Option<(Sep, usize)> {
    let prev = i.checked_sub(1).map(|p| b[p]);
    match b[i] {
        b'=' if b.get(i + 1) == Some(&b'>') => Some((Sep::Arrow, 2)),
        b'=' if b.get(i + 1) != Some(&b'=') && !matches!(prev, Some(b'=' | b'!' | b'<' | b'>')) => {
            Some((Sep::Equals, 1))
        }
        // not `::` (PHP's `Class::method`), not `://` (a URL)
        b':' if b.get(i + 1) != Some(&b':')
            && prev != Some(b':')
            && !b[i + 1..].starts_with(b"//") =>
        {
            Some((Sep::Colon, 1))
        }
        _ => None,
    }
}

/// The key left of the separator at `sep`: `[key]`, `"key"`/`'key'`, or a word of
/// letters, digits, `_`, `-` and `.`; and whether it was quoted.
fn key_before(line: &str, sep: usize) -> Option<(&str, bool)> {
    let b = line.as_bytes();
    let mut end = sep;
    while end > 0 && b[end - 1] == b' ' {
        end -= 1;
    }
    let last = *b.get(end.checked_sub(1)?)?;
    match last {
        b']' => {
            let open = line[..end - 1].rfind('[')?;
            Some((&line[open + 1..end - 1], false))
        }
        b'"' | b'\'' => {
            let open = line[..end - 1].rfind(last as char)?;
            Some((&line[open + 1..end - 1], true))
        }
        _ => {
            let start = line[..end]
                .rfind(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.')))
                .map_or(0, |p| {
                    p + line[p..].chars().next().map_or(1, char::len_utf8)
                });
            (start < end).then(|| (&line[start..end], false))
        }
    }
}

/// The value right of a separator that ends at `from`: inside its quotes when
/// quoted; else up to a delimiter (`=` and quoted `:` keys), or to the line's end
/// (`:` after a bare key, `=>` up to the next ` [key]`).
fn value_after(line: &str, from: usize, sep: Sep, key_quoted: bool) -> Option<(usize, usize)> {
    let b = line.as_bytes();
    let mut start = from;
    while start < b.len() && (b[start] == b' ' || b[start] == b'\t') {
        start += 1;
    }
    let first = *b.get(start)?;
    if first == b'"' || first == b'\'' {
        let mut j = start + 1;
        while j < b.len() && b[j] != first {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        let end = j.min(b.len());
        return (end > start + 1).then_some((start + 1, end));
    }
    let end = match sep {
        Sep::Equals => line[start..]
            .find(|c: char| {
                c.is_whitespace()
                    || matches!(
                        c,
                        '&' | ';' | ',' | '<' | '>' | '"' | '\'' | ')' | ']' | '}'
                    )
            })
            .map_or(b.len(), |p| start + p),
        Sep::Colon if key_quoted => line[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '}' | ']'))
            .map_or(b.len(), |p| start + p),
        Sep::Arrow => line[start..].find(" [").map_or(b.len(), |p| start + p),
        Sep::Colon => b.len(),
    };
    let end = start + line[start..end].trim_end().len();
    (end > start).then_some((start, end))
}

#[cfg(test)]
mod tests;
