//! A tolerant JSON reader for the texts of seed 003.
//!
//! The seed prints its JSON answers with `// comments` after values and on lines of
//! their own, a trailing comma before a `// ......` line, and the `orders` answer
//! without its outer braces (`"orders": { … }`). The real service is PHP's
//! `json_encode` and should send none of these, so strict parsing always comes first
//! and the repair runs only on a text that strict parsing refused.

use serde_json::Value;

/// Parses `text` strictly, or else after [`repair`]ing the seed's artifacts.
pub(super) fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&repair(text)).ok())
}

/// Drops `//` comments outside strings and commas before `}`/`]`, and wraps a text
/// that starts with a member (`"key": …`) in the braces the seed left out.
pub(super) fn repair(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 2);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i);
                out.push_str(&text[i..end]);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            c @ (b'}' | b']') => {
                let kept = out.trim_end().len();
                if out[..kept].ends_with(',') {
                    out.truncate(kept - 1);
                }
                out.push(c as char);
                i += 1;
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    let body = out.trim();
    if body.starts_with('"') {
        format!("{{{body}}}")
    } else {
        body.to_owned()
    }
}

/// Index just past the closing quote of the string opening at `start` (or the end).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return (j + 1).min(b.len()),
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
    fn repairs_comments_trailing_commas_and_missing_braces() {
        let text = "\"orders\": {\n\"1\": {\"id\": \"1\", // the id\n},\n// ......\n}";
        assert_eq!(parse(text), Some(json!({"orders": {"1": {"id": "1"}}})));
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
        assert_eq!(parse("[method] => createVPS"), None);
    }

    #[test]
    fn an_unterminated_escape_at_the_end_does_not_panic() {
        assert_eq!(parse("{\"a\": \"\\"), None);
        assert_eq!(parse("\"\\"), None);
    }
}
