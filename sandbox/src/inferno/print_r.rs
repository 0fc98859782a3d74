//! Printing `install`'s answers the way Inferno does: PHP's `print_r`, not JSON (seed
//! 003 §6).
//!
//! [`PrintRLayout::Seed`] prints exactly as the seed shows: no indentation, the success
//! answer without its outer `Array (`, the 904 answer with it. [`PrintRLayout::Php`]
//! prints what PHP's `print_r` really prints (GAPS.md: clients accept both).

use serde::{Deserialize, Serialize};

/// How `install` answers are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrintRLayout {
    /// As the seed prints its two examples.
    #[default]
    Seed,
    /// PHP's own layout: `Array`, `(`, four-space indented entries, nested arrays eight
    /// further in and followed by a blank line.
    Php,
}

/// A value to print: text, or a nested array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Printed {
    Text(String),
    Array(Vec<(&'static str, Printed)>),
}

/// Shorthand for a text value.
pub fn text(s: impl Into<String>) -> Printed {
    Printed::Text(s.into())
}

/// Prints a top-level array. `outer` says whether the seed layout shows its outer
/// `Array (` for this answer (the seed's success example has none, its 904 one has).
pub fn print(entries: &[(&'static str, Printed)], layout: PrintRLayout, outer: bool) -> String {
    let mut out = String::new();
    match layout {
        PrintRLayout::Seed => seed(entries, outer, &mut out),
        PrintRLayout::Php => php(entries, 0, &mut out),
    }
    out
}

fn seed(entries: &[(&'static str, Printed)], outer: bool, out: &mut String) {
    if outer {
        out.push_str("Array\n(\n");
    }
    for (key, value) in entries {
        out.push_str(&format!("[{key}] => "));
        match value {
            Printed::Text(t) => {
                out.push_str(t);
                out.push('\n');
            }
            Printed::Array(inner) => seed(inner, true, out),
        }
    }
    if outer {
        out.push_str(")\n");
    }
}

fn php(entries: &[(&'static str, Printed)], pad: usize, out: &mut String) {
    let p = " ".repeat(pad);
    out.push_str("Array\n");
    out.push_str(&format!("{p}(\n"));
    for (key, value) in entries {
        out.push_str(&format!("{p}    [{key}] => "));
        match value {
            Printed::Text(t) => {
                out.push_str(t);
                out.push('\n');
            }
            Printed::Array(inner) => {
                php(inner, pad + 8, out);
                out.push('\n');
            }
        }
    }
    out.push_str(&format!("{p})\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn success() -> Vec<(&'static str, Printed)> {
        vec![
            ("method", text("createVPS")),
            ("result", text("success")),
            ("msg", text("ok")),
            (
                "retx",
                Printed::Array(vec![
                    ("result", text("success")),
                    ("msg", text("VSCD: VPS added to queue")),
                    ("error_code", text("0")),
                ]),
            ),
        ]
    }

    #[test]
    fn the_seed_layout_is_the_seeds_text() {
        let expected = "[method] => createVPS\n[result] => success\n[msg] => ok\n[retx] => Array\n(\n[result] => success\n[msg] => VSCD: VPS added to queue\n[error_code] => 0\n)\n";
        assert_eq!(print(&success(), PrintRLayout::Seed, false), expected);
        let busy = vec![
            ("method", text("createVPS")),
            ("result", text("fail")),
            (
                "msg",
                text("Vps exists with current main_id (21968) , W:47012"),
            ),
            ("error_code", text("904")),
        ];
        let expected = "Array\n(\n[method] => createVPS\n[result] => fail\n[msg] => Vps exists with current main_id (21968) , W:47012\n[error_code] => 904\n)\n";
        assert_eq!(print(&busy, PrintRLayout::Seed, true), expected);
    }

    #[test]
    fn the_php_layout_is_what_print_r_prints() {
        let expected = "Array\n(\n    [method] => createVPS\n    [result] => success\n    [msg] => ok\n    [retx] => Array\n        (\n            [result] => success\n            [msg] => VSCD: VPS added to queue\n            [error_code] => 0\n        )\n\n)\n";
        assert_eq!(print(&success(), PrintRLayout::Php, false), expected);
    }
}
