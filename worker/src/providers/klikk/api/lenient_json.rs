//! A tolerant JSON reader for the texts of seeds 000 and 001.
//!
//! The seeds print their examples in a leading-comma style that is mostly valid JSON,
//! but not always: seed 001 indents with no-break spaces (U+00A0, not JSON
//! whitespace), both order requests have a comma right after `{` (`{ , "authorized_keys"`),
//! seed 000 writes notes after values (`"1" (add ip-address …)`, `(required)`) and
//! `// comments`, and ids appear as the placeholders `NNNN`/`NNN`. A real Klikk
//! answer is valid JSON, so strict parsing always comes first and the repair runs only
//! on a text that strict parsing refused: valid JSON is never rewritten.

use serde_json::Value;

/// Parses `text` strictly, or else after [`repair`]ing the seeds' artifacts.
pub(super) fn parse(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&repair(text)).ok())
}

/// Rewrites the seeds' documentation artifacts into JSON; anything else passes as is.
///
/// One pass outside strings: a no-break space becomes a space, `//` comments and
/// `(notes)` are dropped, a comma directly after `{`/`[` or directly before `}`/`]`
/// is dropped, and a word made only of `N`s becomes the string `"NNNN"`.
pub(super) fn repair(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                out.push('"');
                let mut escaped = false;
                for (_, s) in chars.by_ref() {
                    out.push(s);
                    match s {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
            }
            '\u{a0}' => out.push(' '),
            '/' if text[i..].starts_with("//") => {
                while chars.next_if(|(_, s)| *s != '\n').is_some() {}
            }
            '(' => {
                let mut depth = 1;
                for (_, s) in chars.by_ref() {
                    match s {
                        '(' => depth += 1,
                        ')' if depth == 1 => break,
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
            }
            ',' if last_significant(&out).is_some_and(|l| l == '{' || l == '[') => {}
            '}' | ']' => {
                if last_significant(&out) == Some(',') {
                    let keep = out.trim_end().len() - 1;
                    out.truncate(keep);
                }
                out.push(c);
            }
            'N' => {
                let mut word = String::from('N');
                while let Some((_, s)) = chars.next_if(|(_, s)| s.is_ascii_alphanumeric()) {
                    word.push(s);
                }
                if word.chars().all(|w| w == 'N') {
                    out.push_str("\"NNNN\"");
                } else {
                    out.push_str(&word);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The last character written that is not whitespace.
fn last_significant(out: &str) -> Option<char> {
    out.trim_end().chars().next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_json_is_read_strictly() {
        let text = "{\"order_id\": 73\n, \"message\": \"a (note) // not a comment\"}";
        assert_eq!(
            parse(text),
            Some(json!({"order_id": 73, "message": "a (note) // not a comment"}))
        );
    }

    #[test]
    fn repairs_each_seed_artifact() {
        let text = "{\u{a0}\"a\": \"1\" (a note)\n, \"b\":\n{\n, \"c\": NNNN // placeholder\n, \"d\": [NNN,]\n}\n}";
        assert_eq!(
            parse(text),
            Some(json!({"a": "1", "b": {"c": "NNNN", "d": ["NNNN"]}}))
        );
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
    }
}
