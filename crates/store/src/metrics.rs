//! Operational metrics kept in the database (the components are stateless, and several
//! instances and nodes share the database): counters and histograms updated with upserts,
//! rendered in the Prometheus text format for `GET /metrics`.

use crate::{Database, DbError, Row, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The histogram buckets (upper bounds, seconds) for latencies.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Labels as `name="value"` pairs, in order; values are escaped when rendered.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

fn label_text(labels: Labels<'_>) -> String {
    labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Metric updates collected during a request and written together, inside the request's
/// own transaction: at most two statements however many series changed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    counters: BTreeMap<(String, String), f64>,
    /// (name, labels, bucket) → (count, sum).
    buckets: BTreeMap<(String, String, i64), (i64, f64)>,
}

impl Batch {
    /// Adds `delta` to a counter.
    pub fn count(&mut self, name: &str, labels: Labels<'_>, delta: f64) {
        *self
            .counters
            .entry((name.to_string(), label_text(labels)))
            .or_default() += delta;
    }

    /// Records one observation (seconds) in a latency histogram ([`LATENCY_BUCKETS`]).
    pub fn observe(&mut self, name: &str, labels: Labels<'_>, seconds: f64) {
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(LATENCY_BUCKETS.len());
        let entry = self
            .buckets
            .entry((name.to_string(), label_text(labels), bucket as i64))
            .or_default();
        entry.0 += 1;
        entry.1 += seconds;
    }

    /// Adds everything `other` recorded.
    pub fn merge(&mut self, other: &Batch) {
        for (key, delta) in &other.counters {
            *self.counters.entry(key.clone()).or_default() += delta;
        }
        for (key, (count, sum)) in &other.buckets {
            let entry = self.buckets.entry(key.clone()).or_default();
            entry.0 += count;
            entry.1 += sum;
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.buckets.is_empty()
    }

    /// Writes everything recorded (two upserts at most).
    ///
    /// # Errors
    ///
    /// A database error.
    pub fn write(&self, db: &impl Database) -> Result<(), DbError> {
        if !self.counters.is_empty() {
            let params: Vec<Value> = self
                .counters
                .iter()
                .flat_map(|((name, labels), delta)| {
                    [
                        name.as_str().into(),
                        labels.as_str().into(),
                        Value::Real(*delta),
                    ]
                })
                .collect();
            db.execute(
                &format!(
                    "INSERT INTO metric_counters (name, labels, value) VALUES {}
                     ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value",
                    crate::placeholders(self.counters.len(), 3)
                ),
                &params,
            )?;
        }
        if !self.buckets.is_empty() {
            // One row per (histogram, bucket): the non-cumulative count; rendering
            // accumulates.
            let params: Vec<Value> = self
                .buckets
                .iter()
                .flat_map(|((name, labels, bucket), (count, sum))| {
                    [
                        name.as_str().into(),
                        labels.as_str().into(),
                        (*bucket).into(),
                        (*count).into(),
                        Value::Real(*sum),
                    ]
                })
                .collect();
            db.execute(
                &format!(
                    "INSERT INTO metric_histograms (name, labels, bucket, count, sum) VALUES {}
                     ON CONFLICT (name, labels, bucket) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum",
                    crate::placeholders(self.buckets.len(), 5)
                ),
                &params,
            )?;
        }
        Ok(())
    }
}

/// Adds `delta` to a counter, at once (see [`Batch`] to write several together).
///
/// # Errors
///
/// A database error.
pub fn count(
    db: &impl Database,
    name: &str,
    labels: Labels<'_>,
    delta: f64,
) -> Result<(), DbError> {
    let mut batch = Batch::default();
    batch.count(name, labels, delta);
    batch.write(db)
}

/// Records one observation (seconds) in a latency histogram, at once.
///
/// # Errors
///
/// A database error.
pub fn observe(
    db: &impl Database,
    name: &str,
    labels: Labels<'_>,
    seconds: f64,
) -> Result<(), DbError> {
    let mut batch = Batch::default();
    batch.observe(name, labels, seconds);
    batch.write(db)
}

/// A gauge computed at scrape time.
pub struct Gauge {
    /// Metric name.
    pub name: String,
    /// Help text.
    pub help: String,
    /// (labels, value) pairs.
    pub values: Vec<(String, f64)>,
}

/// Everything stored, in the Prometheus text exposition format (version 0.0.4), with `help`
/// texts per metric name and the `gauges` computed by the caller.
///
/// # Errors
///
/// A database error.
pub fn render(
    db: &impl Database,
    help: &BTreeMap<&str, &str>,
    gauges: &[Gauge],
) -> Result<String, DbError> {
    let mut out = String::new();
    write_counters(&mut out, help, &read_counters(db)?);
    write_histograms(&mut out, help, &read_histograms(db)?);
    for gauge in gauges {
        let _ = writeln!(out, "# HELP {} {}", gauge.name, gauge.help);
        let _ = writeln!(out, "# TYPE {} gauge", gauge.name);
        for (labels, value) in &gauge.values {
            let _ = writeln!(out, "{}{} {value}", gauge.name, series(labels, ""));
        }
    }
    Ok(out)
}

/// Counters by name: (labels, value) pairs.
type Counters = BTreeMap<String, Vec<(String, f64)>>;
/// Histograms by (name, labels): per-bucket counts (the last is `+Inf`) and the sum.
type Histograms = BTreeMap<(String, String), (Vec<i64>, f64)>;

/// A series' label set from its stored labels and an extra label.
fn series(labels: &str, extra: &str) -> String {
    match (labels.is_empty(), extra.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("{{{labels}}}"),
        (true, false) => format!("{{{extra}}}"),
        (false, false) => format!("{{{labels},{extra}}}"),
    }
}

fn read_counters(db: &impl Database) -> Result<Counters, DbError> {
    let mut counters = Counters::new();
    for row in db.execute(
        "SELECT name, labels, value FROM metric_counters ORDER BY name, labels",
        &[],
    )? {
        let row = Row::new(&row, "metric counter");
        let value = row
            .opt_real(2)?
            .ok_or_else(|| DbError::new("a metric counter without a value"))?;
        counters
            .entry(row.text(0)?)
            .or_default()
            .push((row.text(1)?, value));
    }
    Ok(counters)
}

fn write_counters(out: &mut String, help: &BTreeMap<&str, &str>, counters: &Counters) {
    for (name, values) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {}",
            help.get(name.as_str()).unwrap_or(&name.as_str())
        );
        let _ = writeln!(out, "# TYPE {name} counter");
        for (labels, value) in values {
            let _ = writeln!(out, "{name}{} {value}", series(labels, ""));
        }
    }
}

fn read_histograms(db: &impl Database) -> Result<Histograms, DbError> {
    let mut histograms = Histograms::new();
    for row in db.execute(
        "SELECT name, labels, bucket, count, sum FROM metric_histograms",
        &[],
    )? {
        let row = Row::new(&row, "metric histogram");
        let (bucket, count) = (row.int(2)?, row.int(3)?);
        let sum = row
            .opt_real(4)?
            .ok_or_else(|| DbError::new("a metric histogram without a sum"))?;
        let entry = histograms
            .entry((row.text(0)?, row.text(1)?))
            .or_insert_with(|| (vec![0; LATENCY_BUCKETS.len() + 1], 0.0));
        let slot = usize::try_from(bucket)
            .ok()
            .and_then(|b| entry.0.get_mut(b))
            .ok_or_else(|| {
                DbError::new(format!("metric histogram bucket {bucket} out of range"))
            })?;
        *slot += count;
        entry.1 += sum;
    }
    Ok(histograms)
}

fn write_histograms(out: &mut String, help: &BTreeMap<&str, &str>, histograms: &Histograms) {
    let mut last_name = String::new();
    for ((name, labels), (counts, sum)) in histograms {
        if *name != last_name {
            let _ = writeln!(
                out,
                "# HELP {name} {}",
                help.get(name.as_str()).unwrap_or(&name.as_str())
            );
            let _ = writeln!(out, "# TYPE {name} histogram");
            last_name.clone_from(name);
        }
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += counts[i];
            let _ = writeln!(
                out,
                "{name}_bucket{} {cumulative}",
                series(labels, &format!("le=\"{le}\""))
            );
        }
        cumulative += counts[LATENCY_BUCKETS.len()];
        let _ = writeln!(
            out,
            "{name}_bucket{} {cumulative}",
            series(labels, "le=\"+Inf\"")
        );
        let _ = writeln!(out, "{name}_sum{} {sum}", series(labels, ""));
        let _ = writeln!(out, "{name}_count{} {cumulative}", series(labels, ""));
    }
}

/// Formats labels for a [`Gauge`] value.
pub fn gauge_labels(labels: Labels<'_>) -> String {
    label_text(labels)
}
