//! A scenario's output: a table for people and one JSON line for tools. Every figure
//! goes to both, under a snake_case key that carries its unit (`steps_per_s`, `p99_ms`).

use serde_json::{Map, Value};

pub struct Report {
    rows: Vec<(String, String)>,
    json: Map<String, Value>,
}

impl Report {
    pub fn new(scenario: &str) -> Report {
        let mut json = Map::new();
        json.insert("scenario".into(), Value::from(scenario));
        Report {
            rows: Vec::new(),
            json,
        }
    }

    /// A figure: a table row labelled `label` and the JSON key `key`.
    pub fn figure(&mut self, key: &str, label: &str, value: impl Into<Value>) {
        let value = round(value.into());
        self.rows.push((label.to_owned(), show(&value)));
        self.json.insert(key.to_owned(), value);
    }

    /// A figure that may be missing (`null` in the JSON, `–` in the table).
    pub fn maybe(&mut self, key: &str, label: &str, value: Option<f64>) {
        match value {
            Some(v) => self.figure(key, label, v),
            None => self.figure(key, label, Value::Null),
        }
    }

    /// A table-only line: how a figure was obtained, a warning.
    pub fn note(&mut self, label: &str, text: impl Into<String>) {
        self.rows.push((label.to_owned(), text.into()));
    }

    pub fn json_line(&self) -> String {
        Value::Object(self.json.clone()).to_string()
    }

    pub fn print(&self) {
        let width = self.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (label, value) in &self.rows {
            println!("  {label:<width$}  {value}");
        }
        println!("{}", self.json_line());
    }
}

/// Floats keep three significant decimals at most: enough for a benchmark.
fn round(v: Value) -> Value {
    match v.as_f64() {
        Some(f) if v.is_f64() && f.is_finite() => {
            let digits = if f.abs() >= 100.0 {
                1
            } else if f.abs() >= 1.0 {
                2
            } else {
                4
            };
            let scale = 10f64.powi(digits);
            Value::from((f * scale).round() / scale)
        }
        Some(_) if v.is_f64() => Value::Null,
        _ => v,
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `a / b`, or `None` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7u32], 99.0), Some(7));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
    }

    #[test]
    fn the_json_line_holds_every_figure_once() {
        let mut r = Report::new("steps");
        r.figure("steps_per_s", "steps/s", 123_456.789_f64);
        r.figure("n", "jobs", 5000);
        r.maybe("p50_ms", "p50", None);
        r.note("how", "table only");
        let v: Value = serde_json::from_str(&r.json_line()).unwrap();
        assert_eq!(v["scenario"], "steps");
        assert_eq!(v["steps_per_s"], 123_456.8);
        assert_eq!(v["n"], 5000);
        assert!(v["p50_ms"].is_null());
        assert!(v.get("how").is_none());
    }
}
