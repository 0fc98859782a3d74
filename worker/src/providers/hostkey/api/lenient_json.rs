//! A tolerant JSON reader for the texts of seed 002.
//!
//! The seed prints several answers that are not valid JSON: `// comments`, array and
//! object members without commas between them, a token without its opening quote
//! (`"token": c92e…sfd",`), markdown bold in place of a string (`"tag": **Password**`)
//! and trailing commas. The real service is PHP's `json_encode` and should never send
//! these, so strict parsing always comes first and the repair runs only on a text that
//! strict parsing refused: valid JSON is never rewritten.

use serde_json::Value;

/// Parses `text` strictly, or else after [`repair`]ing the seed's artifacts.
pub(super) fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&repair(text)).ok())
}

/// Rewrites the seed's documentation artifacts into JSON; anything else passes unchanged.
///
/// One pass over the tokens outside strings: `//` comments are dropped, a comma is
/// inserted where a value follows a value, a comma before `}`/`]` is dropped, `**Word**`
/// becomes `"Word"`, and a bare word directly followed by `"` gets its missing opening
/// quote.
pub(super) fn repair(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 32);
    // True when the last token ended a value (or a key): a value starting now lacks a comma.
    let mut after_value = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i);
                comma_if(&mut out, after_value);
                out.push_str(&text[i..end]);
                after_value = true;
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'*' if b.get(i + 1) == Some(&b'*') => match text[i + 2..].find("**") {
                Some(len) if !text[i + 2..i + 2 + len].contains(['\n', '"']) => {
                    comma_if(&mut out, after_value);
                    out.push('"');
                    out.push_str(&text[i + 2..i + 2 + len]);
                    out.push('"');
                    after_value = true;
                    i += len + 4;
                }
                _ => {
                    out.push('*');
                    i += 1;
                }
            },
            c @ (b',' | b':') => {
                out.push(c as char);
                after_value = false;
                i += 1;
            }
            c @ (b'{' | b'[') => {
                comma_if(&mut out, after_value);
                out.push(c as char);
                after_value = false;
                i += 1;
            }
            c @ (b'}' | b']') => {
                let kept = out.trim_end().len();
                if out[..kept].ends_with(',') {
                    out.truncate(kept - 1);
                }
                out.push(c as char);
                after_value = true;
                i += 1;
            }
            c if is_word_byte(c) => {
                let start = i;
                while i < b.len() && is_word_byte(b[i]) {
                    i += 1;
                }
                let word = &text[start..i];
                comma_if(&mut out, after_value);
                let literal = matches!(word, "true" | "false" | "null")
                    || serde_json::from_str::<serde_json::Number>(word).is_ok();
                if !literal && b.get(i) == Some(&b'"') {
                    out.push('"');
                    out.push_str(word);
                    out.push('"');
                    i += 1;
                } else {
                    out.push_str(word);
                }
                after_value = true;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

fn comma_if(out: &mut String, after_value: bool) {
    if after_value {
        out.push(',');
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'+')
}

/// Index just past the closing quote of the string opening at `start` (or the end).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_json_is_read_strictly() {
        let text = r#"{"url":"https:\/\/x\/\/y","n":[1,2]}"#;
        assert_eq!(
            parse(text),
            Some(json!({"url": "https://x//y", "n": [1, 2]}))
        );
    }

    #[test]
    fn repairs_each_seed_artifact() {
        let text = "{\n\"token\": c92e48\", // SESSION TOKEN\n\"servers\": [\n1\n2\n],\n\"m\": {\"a\": \"1\"\n\"b\": \"2\"},\n\"tag\": **Password**,\n\"t\": {\"x\": 3,\n},\n}";
        assert_eq!(
            parse(text),
            Some(json!({
                "token": "c92e48",
                "servers": [1, 2],
                "m": {"a": "1", "b": "2"},
                "tag": "Password",
                "t": {"x": 3}
            }))
        );
    }

    #[test]
    fn comment_markers_inside_strings_are_kept() {
        let text = "{\"u\": \"https://a/b\" // note\n}";
        assert_eq!(parse(text), Some(json!({"u": "https://a/b"})));
    }

    #[test]
    fn plain_text_stays_unparsed() {
        assert_eq!(parse("Internal Server Error"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("<html>oops</html>"), None);
    }
}
