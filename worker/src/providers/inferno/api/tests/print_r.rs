//! The `print_r` reader: the seed's and PHP's layouts read alike, and no input makes it
//! panic: every prefix and byte flip of the fixtures, token soups, deep nesting, and
//! random trees printed in either layout (which must read back as themselves).

use super::super::print_r::{MAX_DEPTH, PhpArray, PhpValue, PrintRError, parse};
use super::super::*;
use super::{ALL, PHP_INSTALL_OK, SEED_INSTALL_904, SEED_INSTALL_OK};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn text(s: &str) -> PhpValue {
    PhpValue::Text(s.to_owned())
}

fn arr(entries: &[(&str, PhpValue)]) -> PhpValue {
    PhpValue::Array(PhpArray(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    ))
}

/// PHP's own layout: `Array\n(\n    [k] => v\n … )\n`, nested arrays 8 further in and
/// followed by a blank line.
fn php(a: &PhpArray, pad: usize, out: &mut String) {
    let p = " ".repeat(pad);
    out.push_str("Array\n");
    out.push_str(&format!("{p}(\n"));
    for (k, v) in &a.0 {
        out.push_str(&format!("{p}    [{k}] => "));
        match v {
            PhpValue::Text(t) => out.push_str(&format!("{t}\n")),
            PhpValue::Array(inner) => {
                php(inner, pad + 8, out);
                out.push('\n');
            }
        }
    }
    out.push_str(&format!("{p})\n"));
}

/// The seed's layout: no indentation, and no outer `Array (` at the top.
fn seed(a: &PhpArray, top: bool, out: &mut String) {
    if !top {
        out.push_str("Array\n(\n");
    }
    for (k, v) in &a.0 {
        out.push_str(&format!("[{k}] => "));
        match v {
            PhpValue::Text(t) => out.push_str(&format!("{t}\n")),
            PhpValue::Array(inner) => seed(inner, false, out),
        }
    }
    if !top {
        out.push_str(")\n");
    }
}

#[test]
fn the_seed_layouts_read_as_the_seed_shows_them() {
    let ok = parse(SEED_INSTALL_OK).unwrap();
    assert_eq!(
        PhpValue::Array(ok.clone()),
        arr(&[
            ("method", text("createVPS")),
            ("result", text("success")),
            ("msg", text("ok")),
            (
                "retx",
                arr(&[
                    ("result", text("success")),
                    ("msg", text("VSCD: VPS added to queue")),
                    ("error_code", text("0")),
                ])
            ),
        ])
    );
    assert_eq!(
        parse(PHP_INSTALL_OK).unwrap(),
        ok,
        "PHP's layout reads alike"
    );
    let busy = parse(SEED_INSTALL_904).unwrap();
    assert_eq!(
        busy.text("msg"),
        Some("Vps exists with current main_id (21968) , W:47012")
    );
    assert_eq!(busy.text("error_code"), Some("904"));
}

#[test]
fn values_keep_spaces_arrows_parentheses_and_empty_values() {
    let body = "Array\r\n(\r\n    [a] => x => y (z) [w]\r\n    [b] => \r\n    [c] =>\r\n    [d] =>   padded  \r\n    [e] => Array\r\n        (\r\n        )\r\n\r\n)\r\n";
    let a = parse(body).unwrap();
    assert_eq!(a.text("a"), Some("x => y (z) [w]"));
    assert_eq!(a.text("b"), Some(""));
    assert_eq!(a.text("c"), Some(""));
    assert_eq!(a.get("d"), Some(&text("  padded")));
    assert_eq!(a.array("e"), Some(&PhpArray::default()));
}

#[test]
fn multi_line_values_notices_stray_whitespace_and_a_bom_are_tolerated() {
    let body = "\u{feff}PHP Notice: Undefined index: x in /x.php on line 3\n\n   Array  \n  (  \n\t[msg] => first line\nsecond line\n  [code] => 1\n )\ntrailing junk";
    let a = parse(body).unwrap();
    assert_eq!(a.text("msg"), Some("first line\nsecond line"));
    assert_eq!(a.text("code"), Some("1"));
    // a lone CR as line break, and `Array (` on one line
    let a = parse("[x] => Array (\r[y] => 1\r)\r").unwrap();
    assert_eq!(a.array("x").and_then(|x| x.text("y")), Some("1"));
    // an `Array` value with no `(` after it is the word itself
    let a = parse("[x] => Array\n[y] => 2").unwrap();
    assert_eq!(a.text("x"), Some("Array"));
    assert_eq!(a.text("y"), Some("2"));
}

#[test]
fn what_is_not_print_r_is_refused() {
    assert_eq!(parse(""), Err(PrintRError::NoEntries));
    assert_eq!(
        parse("<html><body>502 Bad Gateway</body></html>"),
        Err(PrintRError::NoEntries)
    );
    assert_eq!(parse("Array\n(\n[a] => 1\n"), Err(PrintRError::Unclosed(1)));
    assert_eq!(
        parse("[a] => Array\n(\n[b] => 1\n"),
        Err(PrintRError::Unclosed(1))
    );
    assert_eq!(parse("Array\n(\n)\n"), Ok(PhpArray::default()));
}

#[test]
fn nesting_deeper_than_the_cap_is_refused_not_followed() {
    let deep = "[k] => Array\n(\n".repeat(MAX_DEPTH + 5);
    assert_eq!(parse(&deep), Err(PrintRError::TooDeep));
    let deep = "Array\n(\n".repeat(100_000);
    let _ = parse(&deep);
    let ok = format!(
        "{}[leaf] => 1\n{}",
        "[k] => Array\n(\n".repeat(MAX_DEPTH - 1),
        ")\n".repeat(MAX_DEPTH - 1)
    );
    assert!(parse(&ok).is_ok());
}

#[test]
fn every_prefix_of_every_fixture_is_read_without_panicking() {
    for body in ALL {
        for end in (0..=body.len()).filter(|i| body.is_char_boundary(*i)) {
            let _ = parse(&body[..end]);
            let _ = parse_install(&body[..end]);
            let _ = parse_getinfo(&body[..end]);
            let _ = parse_orders(&body[..end]);
        }
    }
}

#[test]
fn every_byte_flip_of_every_fixture_is_read_without_panicking() {
    for body in ALL {
        let bytes = body.as_bytes();
        for i in 0..bytes.len() {
            for mask in [0x01u8, 0x08, 0x20, 0x40, 0x80, 0xff] {
                let mut b = bytes.to_vec();
                b[i] ^= mask;
                let s = String::from_utf8_lossy(&b);
                let _ = parse(&s);
                let _ = parse_install(&s);
                let _ = parse_getinfo(&s);
                let _ = parse_create(&s);
            }
        }
    }
}

#[test]
fn token_soups_are_read_without_panicking() {
    const TOKENS: [&str; 16] = [
        "[",
        "]",
        " => ",
        "=>",
        "Array",
        "(",
        ")",
        "\n",
        "\r\n",
        "\r",
        " ",
        "key",
        "é",
        "\u{feff}",
        "stdClass Object",
        "[error_code] => 904\n",
    ];
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..5_000 {
        let n = rng.random_range(0..60);
        let s: String = (0..n)
            .map(|_| TOKENS[rng.random_range(0..TOKENS.len())])
            .collect();
        let _ = parse(&s);
        let _ = parse_install(&s);
    }
}

/// Keys and values that `print_r` prints unambiguously: no line breaks, no edge
/// spaces, not a lone `Array`, `(` or `)`.
fn word(rng: &mut StdRng, key: bool) -> String {
    const PARTS: [&str; 12] = [
        "ok",
        "VSCD:",
        "Vps exists",
        "(21968)",
        "=>",
        ",",
        "W:47012",
        "0",
        "é",
        "[x]",
        "a b",
        "Array x",
    ];
    let n = rng.random_range(if key { 1 } else { 0 }..4);
    let s: Vec<&str> = (0..n)
        .map(|_| PARTS[rng.random_range(0..PARTS.len())])
        .collect();
    let s = s.join(" ");
    if key {
        // PHP keys never hold `]` followed by `=>` in practice; keep them plain.
        s.replace(['[', ']'], "")
            .replace("=>", "-")
            .trim()
            .to_owned()
    } else {
        s
    }
}

fn tree(rng: &mut StdRng, depth: usize) -> PhpArray {
    let n = rng.random_range(0..5);
    PhpArray(
        (0..n)
            .map(|_| {
                let key = word(rng, true);
                let key = if key.is_empty() { "k".to_owned() } else { key };
                let value = if depth < 4 && rng.random_bool(0.3) {
                    PhpValue::Array(tree(rng, depth + 1))
                } else {
                    PhpValue::Text(word(rng, false))
                };
                (key, value)
            })
            .collect(),
    )
}

#[test]
fn random_trees_read_back_as_themselves_in_either_layout() {
    let mut rng = StdRng::seed_from_u64(7);
    for round in 0..2_000 {
        let t = tree(&mut rng, 0);
        let mut in_php = String::new();
        php(&t, 0, &mut in_php);
        assert_eq!(parse(&in_php).as_ref(), Ok(&t), "PHP layout:\n{in_php}");
        if !t.is_empty() {
            let mut in_seed = String::new();
            seed(&t, true, &mut in_seed);
            assert_eq!(parse(&in_seed).as_ref(), Ok(&t), "seed layout:\n{in_seed}");
        }
        // the same, with CRLF and stray indentation
        let messy = in_php.replace('\n', if round % 2 == 0 { "\r\n" } else { " \n\t" });
        assert_eq!(parse(&messy).as_ref(), Ok(&t), "messy:\n{messy:?}");
    }
}
