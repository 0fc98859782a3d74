//! A tolerant JSON reader for the texts of the seeds (HOSTKEY's 002, Klikk's 000 and
//! 001, Inferno's 003).
//!
//! The seeds print several answers (and Klikk's request examples) that are not valid
//! JSON. A real provider answers with PHP's `json_encode` or another real encoder and
//! should never send these, so strict parsing always comes first and the repair runs
//! only on a text that strict parsing refused: valid JSON is never rewritten.
//! IDCloudHost's seed prints valid JSON, and its client parses strictly.

use serde_json::Value;

/// Parses `text` strictly, or else after [`repair`]ing the seeds' artifacts.
pub fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&repair(text)).ok())
}

/// Rewrites the seeds' documentation artifacts into JSON; anything else passes
/// unchanged. One pass over the tokens outside strings:
///
/// - `//` comments are dropped: after values and on lines of their own (002's
///   `"token": …, // SESSION TOKEN`, 003's `// order id, save it.` and `// ......`,
///   000's `// 0 or blank for all servers`);
/// - `(notes)` are dropped (000: `"1" (add ip-address …)`, `(required)`);
/// - a no-break space (U+00A0, not JSON whitespace) becomes a space (001 indents
///   with them);
/// - a comma is inserted where a value follows a value (002's lists and objects
///   without commas between their members);
/// - a comma directly after `{`/`[` is dropped (000 and 001: `{ , "authorized_keys"`),
///   and so is one directly before `}`/`]` (002's trailing commas, 003's before
///   `// ......`);
/// - `**Word**` becomes `"Word"` (002: `"tag": **Password**`);
/// - a bare word directly followed by `"` gets its missing opening quote (002:
///   `"token": c92e…sfd",`);
/// - a word made only of `N`s becomes the string `"NNNN"` (000 and 001's id
///   placeholders `NNNN`/`NNN`), so a placeholder stays visibly one;
/// - a text that starts with a member (`"key": …`) gets the braces the seed left out
///   (003's `orders` answer).
pub fn repair(text: &str) -> String {
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
            b'(' => i = note_end(b, i),
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
            b',' if last_significant(&out).is_some_and(|l| l == '{' || l == '[') => {
                i += 1;
            }
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
                if word.bytes().all(|c| c == b'N') {
                    out.push_str("\"NNNN\"");
                } else if !literal && b.get(i) == Some(&b'"') {
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
                out.push(if ch == '\u{a0}' { ' ' } else { ch });
                i += ch.len_utf8();
            }
        }
    }
    if out.trim_start().starts_with('"') {
        format!("{{{out}}}")
    } else {
        out
    }
}

fn comma_if(out: &mut String, after_value: bool) {
    if after_value {
        out.push(',');
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'+')
}

/// The last character written that is not whitespace.
fn last_significant(out: &str) -> Option<char> {
    out.trim_end().chars().next_back()
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

/// Index just past the `)` closing the note opening at `start` (or the end); notes
/// may nest.
fn note_end(b: &[u8], start: usize) -> usize {
    let mut depth = 0;
    for (j, c) in b.iter().enumerate().skip(start) {
        match c {
            b'(' => depth += 1,
            b')' if depth == 1 => return j + 1,
            b')' => depth -= 1,
            _ => {}
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
        let text = "{\"order_id\": 73\n, \"message\": \"a (note) // not a comment\"}";
        assert_eq!(
            parse(text),
            Some(json!({"order_id": 73, "message": "a (note) // not a comment"}))
        );
    }

    #[test]
    fn repairs_each_artifact_of_seed_002() {
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
    fn repairs_each_artifact_of_seeds_000_and_001() {
        let text = "{\u{a0}\"a\": \"1\" (a note)\n, \"b\":\n{\n, \"c\": NNNN // placeholder\n, \"d\": [NNN,]\n}\n}";
        assert_eq!(
            parse(text),
            Some(json!({"a": "1", "b": {"c": "NNNN", "d": ["NNNN"]}}))
        );
    }

    #[test]
    fn repairs_comments_trailing_commas_and_missing_braces_of_seed_003() {
        let text = "\"orders\": {\n\"1\": {\"id\": \"1\", // the id\n},\n// ......\n}";
        assert_eq!(parse(text), Some(json!({"orders": {"1": {"id": "1"}}})));
    }

    #[test]
    fn comment_markers_inside_strings_are_kept() {
        let text = "{\"u\": \"https://a/b\" // note\n}";
        assert_eq!(parse(text), Some(json!({"u": "https://a/b"})));
    }

    #[test]
    fn words_that_are_not_placeholders_stay() {
        assert_eq!(repair("[NaN, NNNN]"), "[NaN, \"NNNN\"]");
        assert_eq!(parse("[NaN]"), None);
    }

    #[test]
    fn plain_text_stays_unparsed() {
        assert_eq!(parse("Internal Server Error"), None);
        assert_eq!(parse(""), None);
        assert_eq!(parse("<html>oops</html>"), None);
        assert_eq!(parse("[method] => createVPS"), None);
    }

    #[test]
    fn an_unterminated_escape_at_the_end_does_not_panic() {
        assert_eq!(parse("{\"a\": \"\\"), None);
        assert_eq!(parse("\"\\"), None);
    }
}
