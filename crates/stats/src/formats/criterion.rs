//! The files criterion.rs keeps per benchmark under
//! `target/criterion/<benchmark directory>/`: `new/` is the latest run,
//! `base/` (or a named baseline) the one it was compared with, `change/`
//! the comparison.
//!
//! | file | holds |
//! | --- | --- |
//! | `sample.json` | `{"sampling_mode": "Linear" \| "Flat", "iters": [..], "times": [..]}`: sample `i` ran `iters[i]` iterations in `times[i]` (measurement unit, ns for wall time) |
//! | `raw.csv` | the same samples, one row each: `group,function,value,throughput_num,throughput_type,sample_measured_value,unit,iteration_count` (only with criterion's `csv_output` feature) |
//! | `benchmark.json` | the id: `group_id`, `function_id`, `value_str`, `throughput`, `full_id`, `directory_name`, `title` |
//! | `estimates.json` | `mean`, `median`, `median_abs_dev`, `std_dev`, `slope` (null in flat sampling), each `{"confidence_interval": {"confidence_level", "lower_bound", "upper_bound"}, "point_estimate", "standard_error"}` |
//! | `change/estimates.json` | `mean` and `median` of the relative change new/base − 1, same shape |

use serde_json::{Map, Value};

use super::csv::{Record, records};
use super::json::{self, ROOT, child, field, number, object, optional, string, unsigned};
use super::{ParseError, ParseErrorKind, Source, ns_per_unit};

/// The per-iteration times of a criterion `sample.json`, in order:
/// `times[i] / iters[i]`. Every iteration count must be positive and every
/// time finite and non-negative, and the file must hold a sample.
pub fn criterion_sample_json(file: &str, text: &str) -> Result<Vec<f64>, ParseError> {
    let src = Source::new(file);
    let doc = json::parse(src, text, 1)?;
    let root = object(src, &doc, ROOT)?;
    let mode = string(src, field(src, root, ROOT, "sampling_mode")?, ".sampling_mode")?;
    if !matches!(mode, "Linear" | "Flat") {
        let kind =
            ParseErrorKind::UnknownName { what: "sampling mode", found: mode.to_owned(), expected: "Linear or Flat" };
        return Err(src.at_path(".sampling_mode".to_owned(), kind));
    }
    let iters = json::numbers(src, field(src, root, ROOT, "iters")?, ".iters", positive)?;
    let times = json::numbers(src, field(src, root, ROOT, "times")?, ".times", non_negative)?;
    if iters.len() != times.len() {
        let kind = ParseErrorKind::LengthMismatch {
            first: "iters",
            first_len: iters.len(),
            second: "times",
            second_len: times.len(),
        };
        return Err(src.at_path(ROOT.to_owned(), kind));
    }
    if iters.is_empty() {
        return Err(src.at_path(".times".to_owned(), ParseErrorKind::Empty("samples")));
    }
    Ok(times.iter().zip(&iters).map(|(t, n)| t / n).collect())
}

/// One benchmark's samples from a criterion `raw.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionBench {
    /// The full id, as criterion prints it: `group`, `group/function`,
    /// `group/value` or `group/function/value`.
    pub id: String,
    /// `sample_measured_value / iteration_count` of each row, in ns.
    pub per_iter_ns: Vec<f64>,
}

const RAW_CSV_COLUMNS: [&str; 8] = [
    "group",
    "function",
    "value",
    "throughput_num",
    "throughput_type",
    "sample_measured_value",
    "unit",
    "iteration_count",
];

/// The samples of a criterion `raw.csv`: a header row, then one row per
/// sample, all of one benchmark. The measured value is converted to ns from
/// the row's `unit`; the iteration count must be a positive integer.
pub fn criterion_raw_csv(file: &str, text: &str) -> Result<CriterionBench, ParseError> {
    let src = Source::new(file);
    let rows = records(src, text)?;
    let Some((header, rows)) = rows.split_first() else {
        return Err(src.at(1, 1, ParseErrorKind::Empty("CSV header")));
    };
    check_fields(src, header)?;
    for (field, expected) in header.fields.iter().zip(RAW_CSV_COLUMNS) {
        if field.text != expected {
            let kind = ParseErrorKind::Header { expected, found: field.text.clone() };
            return Err(src.at(field.line, field.column, kind));
        }
    }
    let mut id: Option<String> = None;
    let mut per_iter_ns = Vec::with_capacity(rows.len());
    for row in rows {
        check_fields(src, row)?;
        let f = &row.fields;
        let row_id = full_id(&f[0].text, Some(f[1].text.as_str()).filter(|s| !s.is_empty()), &f[2].text);
        match &id {
            None => id = Some(row_id),
            Some(first) if *first != row_id => {
                let kind = ParseErrorKind::MixedBenchmarks { expected: first.clone(), found: row_id };
                return Err(src.at(f[0].line, f[0].column, kind));
            }
            Some(_) => {}
        }
        let value = &f[5];
        let measured = parse_f64(&value.text)
            .ok_or_else(|| src.at(value.line, value.column, ParseErrorKind::BadNumber(value.text.clone())))?;
        if let Err(expected) = non_negative(measured) {
            return Err(src.at(value.line, value.column, ParseErrorKind::OutOfRange { value: measured, expected }));
        }
        let unit = &f[6];
        let scale = ns_per_unit(&unit.text)
            .ok_or_else(|| src.at(unit.line, unit.column, ParseErrorKind::UnknownUnit(unit.text.clone())))?;
        let count = &f[7];
        let iterations = count
            .text
            .parse::<u64>()
            .map_err(|_| src.at(count.line, count.column, ParseErrorKind::BadNumber(count.text.clone())))?;
        if iterations == 0 {
            let kind = ParseErrorKind::OutOfRange { value: 0.0, expected: "must be positive" };
            return Err(src.at(count.line, count.column, kind));
        }
        per_iter_ns.push(measured * scale / iterations as f64);
    }
    match id {
        Some(id) => Ok(CriterionBench { id, per_iter_ns }),
        None => Err(src.at(header.line + 1, 1, ParseErrorKind::Empty("samples"))),
    }
}

fn check_fields(src: Source<'_>, record: &Record) -> Result<(), ParseError> {
    let found = record.fields.len();
    if found == RAW_CSV_COLUMNS.len() {
        return Ok(());
    }
    let kind = ParseErrorKind::FieldCount { expected: RAW_CSV_COLUMNS.len(), found };
    // Point at the first extra field, or at the end of a short record.
    let (line, column) = match record.fields.get(RAW_CSV_COLUMNS.len()) {
        Some(extra) => (extra.line, extra.column),
        None => (record.fields.last().map_or(record.line, |f| f.line), record.end_column),
    };
    Err(src.at(line, column, kind))
}

/// criterion's full id of a benchmark (`BenchmarkId::new` in criterion).
fn full_id(group: &str, function: Option<&str>, value: &str) -> String {
    match (function, value) {
        (Some(function), "") => format!("{group}/{function}"),
        (Some(function), value) => format!("{group}/{function}/{value}"),
        (None, "") => group.to_owned(),
        (None, value) => format!("{group}/{value}"),
    }
}

/// A decimal number as Rust and the `csv` crate write an `f64` (`12`,
/// `12.5`, `1e-7`); no `inf`, `NaN` or surrounding spaces.
fn parse_f64(text: &str) -> Option<f64> {
    let plain = text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !plain || !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn positive(x: f64) -> Result<(), &'static str> {
    if x > 0.0 && x.is_finite() { Ok(()) } else { Err("must be a positive number") }
}

fn non_negative(x: f64) -> Result<(), &'static str> {
    if x >= 0.0 && x.is_finite() { Ok(()) } else { Err("must be a finite number ≥ 0") }
}

/// How much work one iteration does, as the benchmark declared it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Throughput {
    Bytes(u64),
    /// Bytes, reported in powers of 1000 rather than 1024.
    BytesDecimal(u64),
    Elements(u64),
    /// Newer criterion (0.8 has it; 0.5 does not).
    Bits(u64),
    /// Newer criterion (0.8 has it; 0.5 does not).
    ElementsAndBytes {
        elements: u64,
        bytes: u64,
    },
}

/// A criterion `benchmark.json`: the benchmark's id.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionBenchmark {
    pub group_id: String,
    pub function_id: Option<String>,
    pub value_str: Option<String>,
    pub throughput: Option<Throughput>,
    /// `group/function/value` with the parts that are present.
    pub full_id: String,
    /// Where the benchmark's files are, relative to `target/criterion`.
    pub directory_name: String,
    /// The full id, shortened if very long; what criterion prints.
    pub title: String,
}

/// Reads a criterion `benchmark.json`.
pub fn criterion_benchmark_json(file: &str, text: &str) -> Result<CriterionBenchmark, ParseError> {
    let src = Source::new(file);
    let doc = json::parse(src, text, 1)?;
    let root = object(src, &doc, ROOT)?;
    let text_field = |key: &'static str| -> Result<String, ParseError> {
        Ok(string(src, field(src, root, ROOT, key)?, &child(ROOT, key))?.to_owned())
    };
    let optional_text = |key: &'static str| -> Result<Option<String>, ParseError> {
        optional(root, key).map(|v| Ok(string(src, v, &child(ROOT, key))?.to_owned())).transpose()
    };
    let throughput = optional(root, "throughput").map(|v| throughput(src, v, ".throughput")).transpose()?;
    Ok(CriterionBenchmark {
        group_id: text_field("group_id")?,
        function_id: optional_text("function_id")?,
        value_str: optional_text("value_str")?,
        throughput,
        full_id: text_field("full_id")?,
        directory_name: text_field("directory_name")?,
        title: text_field("title")?,
    })
}

/// serde's external tagging: `{"Elements": 100}`, `{"ElementsAndBytes":
/// {"elements": 1, "bytes": 8}}`.
fn throughput(src: Source<'_>, value: &Value, path: &str) -> Result<Throughput, ParseError> {
    const NAMES: &str = "Bytes, BytesDecimal, Elements, Bits or ElementsAndBytes";
    let map = object(src, value, path)?;
    let mut entries = map.iter();
    let (Some((name, inner)), None) = (entries.next(), entries.next()) else {
        let kind =
            ParseErrorKind::WrongType { expected: "an object with one key", found: format!("{} keys", map.len()) };
        return Err(src.at_path(path.to_owned(), kind));
    };
    let inner_path = child(path, name);
    let count = || unsigned(src, inner, &inner_path);
    Ok(match name.as_str() {
        "Bytes" => Throughput::Bytes(count()?),
        "BytesDecimal" => Throughput::BytesDecimal(count()?),
        "Elements" => Throughput::Elements(count()?),
        "Bits" => Throughput::Bits(count()?),
        "ElementsAndBytes" => {
            let both = object(src, inner, &inner_path)?;
            let elements = unsigned(src, field(src, both, &inner_path, "elements")?, &child(&inner_path, "elements"))?;
            let bytes = unsigned(src, field(src, both, &inner_path, "bytes")?, &child(&inner_path, "bytes"))?;
            Throughput::ElementsAndBytes { elements, bytes }
        }
        other => {
            let kind = ParseErrorKind::UnknownName { what: "throughput", found: other.to_owned(), expected: NAMES };
            return Err(src.at_path(path.to_owned(), kind));
        }
    })
}

/// One statistic of a criterion estimates file: its point estimate and
/// bootstrap interval, in the file's unit (ns for absolute estimates of
/// wall time, a fraction for relative changes: 0.05 = +5%).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub point_estimate: f64,
    pub lower_bound: f64,
    pub upper_bound: f64,
    pub confidence_level: f64,
    pub standard_error: f64,
}

/// A criterion `new/estimates.json` (or `base/`).
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionEstimates {
    pub mean: Estimate,
    pub median: Estimate,
    pub median_abs_dev: Estimate,
    pub std_dev: Estimate,
    /// The slope of time over iterations: only in linear sampling.
    pub slope: Option<Estimate>,
}

impl CriterionEstimates {
    /// What criterion reports as "time": the slope if there is one, else
    /// the mean.
    pub fn typical(&self) -> &Estimate {
        self.slope.as_ref().unwrap_or(&self.mean)
    }
}

/// Reads a criterion `estimates.json` (`new/`, `base/`).
pub fn criterion_estimates_json(file: &str, text: &str) -> Result<CriterionEstimates, ParseError> {
    let src = Source::new(file);
    let doc = json::parse(src, text, 1)?;
    let root = object(src, &doc, ROOT)?;
    let slope = optional(root, "slope").map(|v| estimate(src, v, ".slope")).transpose()?;
    Ok(CriterionEstimates {
        mean: required_estimate(src, root, "mean")?,
        median: required_estimate(src, root, "median")?,
        median_abs_dev: required_estimate(src, root, "median_abs_dev")?,
        std_dev: required_estimate(src, root, "std_dev")?,
        slope,
    })
}

/// A criterion `change/estimates.json`: the relative change new/base − 1
/// of the mean and the median, as fractions.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionChange {
    pub mean: Estimate,
    pub median: Estimate,
}

/// Reads a criterion `change/estimates.json`.
pub fn criterion_change_json(file: &str, text: &str) -> Result<CriterionChange, ParseError> {
    let src = Source::new(file);
    let doc = json::parse(src, text, 1)?;
    let root = object(src, &doc, ROOT)?;
    Ok(CriterionChange { mean: required_estimate(src, root, "mean")?, median: required_estimate(src, root, "median")? })
}

fn required_estimate(src: Source<'_>, root: &Map<String, Value>, key: &'static str) -> Result<Estimate, ParseError> {
    estimate(src, field(src, root, ROOT, key)?, &child(ROOT, key))
}

fn estimate(src: Source<'_>, value: &Value, path: &str) -> Result<Estimate, ParseError> {
    let map = object(src, value, path)?;
    let finite = |map: &Map<String, Value>, path: &str, key: &'static str| -> Result<f64, ParseError> {
        let at = child(path, key);
        let x = number(src, field(src, map, path, key)?, &at)?;
        // serde_json never yields a non-finite number; keep the check local.
        if x.is_finite() {
            Ok(x)
        } else {
            Err(src.at_path(at, ParseErrorKind::OutOfRange { value: x, expected: "must be finite" }))
        }
    };
    let ci_path = child(path, "confidence_interval");
    let ci = object(src, field(src, map, path, "confidence_interval")?, &ci_path)?;
    Ok(Estimate {
        point_estimate: finite(map, path, "point_estimate")?,
        lower_bound: finite(ci, &ci_path, "lower_bound")?,
        upper_bound: finite(ci, &ci_path, "upper_bound")?,
        confidence_level: finite(ci, &ci_path, "confidence_level")?,
        standard_error: finite(map, path, "standard_error")?,
    })
}
