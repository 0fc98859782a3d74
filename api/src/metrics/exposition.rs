//! The Prometheus text exposition format (version 0.0.4), written by hand: a
//! `# HELP` and a `# TYPE` line per family, then its samples. Label values and help
//! texts are escaped as the format asks (`\\`, `\"`, `\n`), so no value can break
//! out of its quotes or its line.

use std::fmt::Write;
use std::time::Duration;

/// The Content-Type of the format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A page of metrics being written.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    out: String,
}

impl Exposition {
    /// Starts a family: its help text and type. Samples of it follow.
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape(help, false));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.sample_text(name, labels, &value.to_string());
    }

    pub(crate) fn sample_f64(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.sample_text(name, labels, &float(value));
    }

    /// A histogram's `_bucket` (cumulative, ending with `+Inf`), `_sum` and `_count`
    /// samples; `labels` come before `le`.
    pub(crate) fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let bucket = format!("{name}_bucket");
        let bounds: Vec<String> = BUCKETS.iter().map(|b| float(*b)).collect();
        let mut with_le: Vec<(&str, &str)> = labels.to_vec();
        let mut cumulative = 0;
        for (bound, n) in bounds.iter().zip(h.counts.iter()) {
            cumulative += n;
            with_le.push(("le", bound));
            self.sample(&bucket, &with_le, cumulative);
            with_le.pop();
        }
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, h.count);
        self.sample_f64(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count);
    }

    fn sample_text(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v, true));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }
}

/// Upper bounds of the request-duration buckets, in seconds: an API answer is
/// milliseconds; the high ones catch a slow Redis.
pub(crate) const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Observations per bucket (not cumulative: [`Exposition::histogram`] sums them).
#[derive(Debug, Clone, Default)]
pub(crate) struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    pub(crate) fn observe(&mut self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.counts[i] += 1;
        }
        self.sum += secs;
        self.count += 1;
    }
}

/// `\` and newline always; `"` only inside label values (help texts keep theirs).
fn escape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_samples_and_escaping() {
        let mut e = Exposition::default();
        e.family("x_total", Kind::Counter, "Things.\nWith \\ a \"quote\".");
        e.sample("x_total", &[("a", "1"), ("b", "say \"hi\"\\\nbye")], 3);
        e.sample("x_total", &[], 0);
        e.family("y", Kind::Gauge, "A gauge.");
        e.sample_f64("y", &[], 0.25);
        e.sample_f64("y", &[], f64::INFINITY);
        assert_eq!(
            e.finish(),
            "# HELP x_total Things.\\nWith \\\\ a \"quote\".\n\
             # TYPE x_total counter\n\
             x_total{a=\"1\",b=\"say \\\"hi\\\"\\\\\\nbye\"} 3\n\
             x_total 0\n\
             # HELP y A gauge.\n\
             # TYPE y gauge\n\
             y 0.25\n\
             y +Inf\n"
        );
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_with_inf() {
        let mut h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(40));
        h.observe(Duration::from_secs(60));
        let mut e = Exposition::default();
        e.histogram("d_seconds", &[("route", "/r")], &h);
        let text = e.finish();
        assert!(
            text.contains("d_seconds_bucket{route=\"/r\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{route=\"/r\",le=\"0.05\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{route=\"/r\",le=\"10\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("d_seconds_bucket{route=\"/r\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("d_seconds_count{route=\"/r\"} 3\n"), "{text}");
        assert!(
            text.contains("d_seconds_sum{route=\"/r\"} 60.043"),
            "{text}"
        );
    }
}
