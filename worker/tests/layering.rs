//! The worker's floors: ARCHITECTURE.md's table "The worker's floors" says which of
//! the crate's modules each module may import; this test reads that table and every
//! source file, and fails on an import the table does not allow, on a table whose
//! floors import each other in a circle, and on a module the table does not list
//! (or lists but the crate no longer has).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const HEADING: &str = "The worker's floors";

type Floors = BTreeMap<String, BTreeSet<String>>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The names in backticks in one table cell.
fn names(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The table under the heading: module → the modules it may import.
fn floors(architecture: &str) -> Floors {
    let mut lines = architecture
        .lines()
        .skip_while(|l| !(l.starts_with('#') && l.contains(HEADING)));
    assert!(
        lines.next().is_some(),
        "ARCHITECTURE.md has no heading \"{HEADING}\""
    );
    let rows: Vec<&str> = lines
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .collect();
    assert!(!rows.is_empty(), "no table under \"{HEADING}\"");
    let mut floors = Floors::new();
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let module = names(cells[1]);
        assert_eq!(
            module.len(),
            1,
            "a row of the floors names one module: {row}"
        );
        let module = module.into_iter().next().unwrap();
        let allowed = names(cells.get(2).copied().unwrap_or(""));
        assert!(
            floors.insert(module.clone(), allowed).is_none(),
            "`{module}` has two rows"
        );
    }
    floors
}

/// The crate's top-level modules, from its files (the crate root and the binary
/// are not floors: the root wires the floors together).
fn modules(src: &Path) -> BTreeSet<String> {
    fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            if p.is_dir() {
                Some(name)
            } else {
                let stem = name.strip_suffix(".rs")?;
                (stem != "lib" && stem != "main").then(|| stem.to_owned())
            }
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn leading_ident(text: &str) -> &str {
    let text = text.trim_start();
    &text[..text.find(|c: char| !is_ident(c)).unwrap_or(text.len())]
}

/// The first path segments after `crate::` in `code` (a `{…}` group gives each of
/// its top-level items' first segment).
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "crate::".len()..];
        rest = after;
        if before.is_some_and(is_ident) {
            continue; // e.g. `my_crate::`
        }
        let after = after.trim_start();
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        item_start = false;
                        let ident = leading_ident(&group[i..]);
                        if !ident.is_empty() {
                            found.push(ident.to_owned());
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let ident = leading_ident(after);
            if !ident.is_empty() {
                found.push(ident.to_owned());
            }
        }
    }
    found
}

/// Code without its comments (doc links name modules without importing them).
fn code_of(line: &str) -> &str {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return "";
    }
    match line.find(" //") {
        Some(at) if !line[..at].contains('"') => &line[..at],
        _ => line,
    }
}

/// Every import between top-level modules: `(importer, imported, where)`.
fn imports(src: &Path, modules: &BTreeSet<String>) -> Vec<(String, String, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut found = Vec::new();
    for file in files {
        let relative = file.strip_prefix(src).unwrap();
        let first = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap();
        let module = first.strip_suffix(".rs").unwrap_or(first).to_owned();
        if !modules.contains(&module) {
            continue; // the crate root and the binary
        }
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for target in crate_paths(code_of(line)) {
                if target != module {
                    let place = format!("{}:{}", relative.display(), n + 1);
                    let target = if modules.contains(&target) {
                        target
                    } else {
                        // An item of the crate root: above every floor.
                        "crate".to_owned()
                    };
                    found.push((module.clone(), target, place));
                }
            }
        }
    }
    found
}

/// A circle in the floors, if there is one.
fn circle(floors: &Floors) -> Option<Vec<String>> {
    fn visit(
        at: &str,
        floors: &Floors,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == at) {
            let mut circle = path[start..].to_vec();
            circle.push(at.to_owned());
            return Some(circle);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_owned());
        for next in floors.get(at).into_iter().flatten() {
            if let Some(c) = visit(next, floors, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(at.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    floors
        .keys()
        .find_map(|m| visit(m, floors, &mut Vec::new(), &mut done))
}

#[test]
fn the_floors_table_lists_every_module_and_has_no_circle() {
    let architecture = fs::read_to_string(root().join("../ARCHITECTURE.md")).unwrap();
    let floors = floors(&architecture);
    let modules = modules(&root().join("src"));
    let listed: BTreeSet<String> = floors.keys().cloned().collect();
    assert_eq!(
        listed, modules,
        "the floors table and the worker's modules differ"
    );
    for (module, allowed) in &floors {
        for other in allowed {
            assert!(
                floors.contains_key(other),
                "`{module}` may import `{other}`, which has no row"
            );
        }
    }
    assert_eq!(
        circle(&floors),
        None,
        "the floors import each other in a circle"
    );
}

#[test]
fn no_module_imports_one_its_floor_does_not_allow() {
    let architecture = fs::read_to_string(root().join("../ARCHITECTURE.md")).unwrap();
    let floors = floors(&architecture);
    let src = root().join("src");
    let modules = modules(&src);
    let found = imports(&src, &modules);
    assert!(
        found
            .iter()
            .any(|(from, to, _)| from == "engine" && to == "step"),
        "the scan finds no import of the step contract by the engine: it reads nothing"
    );
    let bad: Vec<String> = found
        .iter()
        .filter(|(from, to, _)| !floors.get(from).is_some_and(|allowed| allowed.contains(to)))
        .map(|(from, to, place)| format!("{place}: `{from}` imports `{to}`"))
        .collect();
    assert!(
        bad.is_empty(),
        "imports the floors table in ARCHITECTURE.md does not allow:\n{}",
        bad.join("\n")
    );
}

#[test]
fn crate_paths_reads_single_paths_and_groups() {
    assert_eq!(crate_paths("use crate::engine::Outcome;"), ["engine"]);
    assert_eq!(
        crate_paths("use crate::{step::{Outcome, StepCx}, metrics::X};"),
        ["step", "metrics"]
    );
    assert_eq!(
        crate_paths("let x = crate::callbacks::payload(&job);"),
        ["callbacks"]
    );
    assert_eq!(crate_paths("impl $crate::step::StepName for"), ["step"]);
    assert!(crate_paths("use provisioner_crate::engine;").is_empty());
    assert_eq!(code_of("//! see crate::engine"), "");
}
