//! A reader for PHP's `print_r` text: Inferno's `install` answers in it, not in JSON
//! (seed 003 §6).
//!
//! Two layouts are read (GAPS.md): the seed's, printed without indentation and, for
//! the success example, without the outer `Array (`, and PHP's real one (`Array`, `(`,
//! four-space indented `[key] => value` lines, nested arrays indented further and
//! followed by a blank line). Values are the rest of their line, so spaces, `=>` and
//! parentheses inside a value are kept; a line that is none of the above continues the
//! previous value (PHP prints a multi-line string as is). CRLF, lone CR, a BOM and stray
//! whitespace are tolerated; lines before the first entry (a PHP notice) are skipped.
//!
//! The reader never panics and never recurses: nesting is an explicit stack, capped at
//! [`MAX_DEPTH`] so that even dropping the tree cannot exhaust the stack.

/// Deeper nesting than any provider answer needs; more is refused, not followed.
pub const MAX_DEPTH: usize = 32;

/// A `print_r` value: a string, or an array of `[key] => value` entries in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhpValue {
    Text(String),
    Array(PhpArray),
}

/// The entries of one `Array ( … )`, in the order printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhpArray(pub Vec<(String, PhpValue)>);

impl PhpArray {
    /// The first entry named `key` (surrounding spaces and ASCII case ignored).
    pub fn get(&self, key: &str) -> Option<&PhpValue> {
        self.0
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The text of entry `key`, trimmed; `None` when absent or an array.
    pub fn text(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            PhpValue::Text(t) => Some(t.trim()),
            PhpValue::Array(_) => None,
        }
    }

    /// Entry `key` when it is an array.
    pub fn array(&self, key: &str) -> Option<&PhpArray> {
        match self.get(key)? {
            PhpValue::Array(a) => Some(a),
            PhpValue::Text(_) => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a text is not a `print_r` answer we can trust.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrintRError {
    #[error("no `[key] => value` line")]
    NoEntries,
    /// A cut-off answer: reading it as complete could mistake half an answer for a whole.
    #[error("the array opened on line {0} is never closed")]
    Unclosed(usize),
    #[error("arrays nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// One array being read: the key it hangs under in its parent, its entries so far.
struct Frame {
    key: String,
    entries: Vec<(String, PhpValue)>,
    line: usize,
}

/// A value of `Array` (or `Foo Object`) waiting for its `(` on the next line.
enum Opening {
    Root(usize),
    Entry(String, usize),
}

/// Reads a `print_r` text into its top-level array.
pub fn parse(text: &str) -> Result<PhpArray, PrintRError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut stack = vec![Frame {
        key: String::new(),
        entries: Vec::new(),
        line: 1,
    }];
    // `Some(line)` once the text opened its outermost array itself (PHP's layout).
    let mut explicit_root: Option<usize> = None;
    let mut root_closed = false;
    let mut opening: Option<Opening> = None;
    let mut seen_entry = false;
    // True while the last line read was a value that a plain text line may continue.
    let mut continuable = false;

    for (index, raw) in text.split(['\n', '\r']).enumerate() {
        let line_no = index + 1;
        let t = raw.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(open) = opening.take() {
            if t == "(" {
                match open {
                    Opening::Root(line) => explicit_root = Some(line),
                    Opening::Entry(key, line) => push_frame(&mut stack, key, line)?,
                }
                continuable = false;
                continue;
            }
            // No `(` followed: the word was the value itself.
            if let Opening::Entry(key, _) = open {
                top(&mut stack).push((key, PhpValue::Text("Array".into())));
                continuable = true;
            }
        }
        let at_start = stack.len() == 1 && explicit_root.is_none() && !seen_entry;
        if at_start && opens_array(t) {
            opening = Some(Opening::Root(line_no));
            continue;
        }
        if at_start && (t == "(" || opens_array_inline(t)) {
            explicit_root = Some(line_no);
            continue;
        }
        if t == ")" {
            continuable = false;
            if stack.len() > 1 {
                let frame = stack.pop().expect("more than one frame");
                top(&mut stack).push((frame.key, PhpValue::Array(PhpArray(frame.entries))));
            } else if explicit_root.is_some() {
                root_closed = true;
                break;
            }
            continue;
        }
        if let Some((key, value)) = entry(t) {
            seen_entry = true;
            continuable = false;
            if opens_array(value) {
                opening = Some(Opening::Entry(key.to_owned(), line_no));
            } else if opens_array_inline(value) {
                push_frame(&mut stack, key.to_owned(), line_no)?;
            } else {
                top(&mut stack).push((key.to_owned(), PhpValue::Text(value.to_owned())));
                continuable = true;
            }
            continue;
        }
        // A plain line: the next line of a multi-line value, else noise to skip.
        if continuable && let Some((_, PhpValue::Text(v))) = top(&mut stack).last_mut() {
            v.push('\n');
            v.push_str(raw.trim_end());
        }
    }

    if let Some(Opening::Entry(key, _)) = opening {
        top(&mut stack).push((key, PhpValue::Text("Array".into())));
        seen_entry = true;
    }
    if let Some(open) = stack.get(1) {
        return Err(PrintRError::Unclosed(open.line));
    }
    if let Some(line) = explicit_root.filter(|_| !root_closed) {
        return Err(PrintRError::Unclosed(line));
    }
    if !seen_entry && !root_closed {
        return Err(PrintRError::NoEntries);
    }
    let root = stack.pop().map(|f| f.entries).unwrap_or_default();
    Ok(PhpArray(root))
}

fn top(stack: &mut [Frame]) -> &mut Vec<(String, PhpValue)> {
    &mut stack
        .last_mut()
        .expect("the root frame is never popped")
        .entries
}

fn push_frame(stack: &mut Vec<Frame>, key: String, line: usize) -> Result<(), PrintRError> {
    if stack.len() > MAX_DEPTH {
        return Err(PrintRError::TooDeep);
    }
    stack.push(Frame {
        key,
        entries: Vec::new(),
        line,
    });
    Ok(())
}

/// `Array`, or `Name Object` for a PHP object: a value whose `(` follows on the next line.
fn opens_array(value: &str) -> bool {
    let v = value.trim();
    v == "Array" || (v.ends_with(" Object") && !v.contains(['[', ']', '(', ')']))
}

/// `Array (` on one line: not PHP's own layout, but a plausible hand-made one.
fn opens_array_inline(value: &str) -> bool {
    value
        .trim()
        .strip_prefix("Array")
        .is_some_and(|rest| rest.trim() == "(")
}

/// `[key] => value`: the key up to the first `]` followed by `=>`, the value after it
/// with the one space PHP prints removed (an empty value may have lost its trailing
/// space).
fn entry(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('[')?;
    rest.match_indices(']').find_map(|(close, _)| {
        let after = rest[close + 1..].trim_start().strip_prefix("=>")?;
        let value = after.strip_prefix(' ').unwrap_or(after).trim_end();
        Some((&rest[..close], value))
    })
}
