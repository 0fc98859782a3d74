//! Plain aligned tables for people (scripts use `--json`): a header row, columns
//! padded to their widest cell, two spaces between them, no colour, no borders, so
//! the output survives `less`, `grep` and a narrow terminal alike.

use serde_json::Value;

/// The widest a cell gets before it is cut with `…` (a provider's note can be long).
const MAX_CELL: usize = 60;

/// Rows of text under a header.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row (the last cell is not padded).
    pub fn render(&self) -> String {
        let cut: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| shorten(c)).collect())
            .collect();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &cut {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    out.push_str(cell);
                } else {
                    let pad = widths.get(i).copied().unwrap_or(0);
                    out.push_str(&format!("{cell:<pad$}  "));
                }
            }
            out.trim_end().to_owned()
        };
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        let mut out = line(&header);
        out.push('\n');
        for row in &cut {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// Two columns, key and value, for one record.
pub fn pairs(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

fn shorten(cell: &str) -> String {
    let one_line = cell.replace(['\n', '\r', '\t'], " ");
    if one_line.chars().count() <= MAX_CELL {
        return one_line;
    }
    let mut s: String = one_line.chars().take(MAX_CELL - 1).collect();
    s.push('…');
    s
}

/// A JSON field as a cell: strings bare, null or absent as `-`.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_line_up_under_their_header() {
        let mut t = Table::new(&["ID", "STATE", "NOTE"]);
        t.row(vec!["a".into(), "succeeded".into(), "done".into()]);
        t.row(vec!["bbbb".into(), "failed".into(), "x".repeat(80)]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ID    STATE      NOTE");
        assert_eq!(lines[1], "a     succeeded  done");
        assert!(lines[2].starts_with("bbbb  failed     xxx"), "{text}");
        assert!(lines[2].ends_with('…'), "a long note is cut: {text}");
        assert_eq!(lines[2].chars().count(), 17 + MAX_CELL);
    }

    #[test]
    fn cells_say_dash_for_nothing() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("")), "-");
        assert_eq!(cell(&json!(3)), "3");
        assert_eq!(
            pairs(&[("id", "x".into()), ("state", "y".into())]),
            "id     x\nstate  y\n"
        );
    }
}
