//! Parsers for the files benchmark harnesses write, so that their results
//! can go through the same history and gate as `shipway bench`.
//!
//! * criterion.rs files under `target/criterion/<benchmark>/` (checked on
//!   0.5.1 output; 0.8.2's source writes the same fields):
//!   [`criterion_sample_json`] and [`criterion_raw_csv`] (the per-iteration
//!   times of `new/` or `base/`), [`criterion_benchmark_json`] (the
//!   benchmark's id), [`criterion_estimates_json`] (its point estimates and
//!   intervals) and [`criterion_change_json`] (`change/estimates.json`, the
//!   relative change from the base);
//! * `cargo criterion --message-format=json`: [`cargo_criterion_messages`];
//! * libtest's bencher lines (`cargo bench` with `#[bench]`, and criterion's
//!   `--output-format bencher`): [`bencher_output`].
//!
//! Every parser takes the file's name (only to name it in errors) and its
//! text, and returns the data or a [`ParseError`] that names the file and
//! where in it the problem is: `line:column`, or the path of a JSON value
//! such as `.times[3]`. No input makes a parser panic. Times come out in
//! nanoseconds, converted from the unit the file states (`ns`, `us`/`µs`,
//! `ms`, `s`); `sample.json` states none and is in criterion's measurement
//! unit, nanoseconds for its default wall-clock measurement.

mod bencher;
mod cargo_criterion;
mod criterion;
mod csv;
mod json;

use std::fmt;

pub use bencher::{BencherBench, bencher_output};
pub use cargo_criterion::{
    Bounds, CargoCriterionBench, CargoCriterionChange, CargoCriterionVerdict, cargo_criterion_messages,
};
pub use criterion::{
    CriterionBench, CriterionBenchmark, CriterionChange, CriterionEstimates, Estimate, Throughput,
    criterion_benchmark_json, criterion_change_json, criterion_estimates_json, criterion_raw_csv,
    criterion_sample_json,
};

/// A file that could not be read as the format it should have.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{location}: {kind}")]
#[non_exhaustive]
pub struct ParseError {
    /// The name the caller gave the file.
    pub file: String,
    pub location: Location,
    pub kind: ParseErrorKind,
}

/// Where in a file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A 1-based line and column; the column counts characters, not bytes.
    LineCol { line: usize, column: usize },
    /// A value of a JSON document by its path from the root, as jq writes
    /// it (`.mean.point_estimate`, `.times[3]`; `.` is the root). `line`
    /// is the document's line in JSON-lines input.
    JsonPath { line: Option<usize>, path: String },
}

impl fmt::Display for Location {
    /// `:3:14` or `: at .times[3]` or `:7: at .id`, to follow a file name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::LineCol { line, column } => write!(f, ":{line}:{column}"),
            Location::JsonPath { line: None, path } => write!(f, ": at {path}"),
            Location::JsonPath { line: Some(line), path } => write!(f, ":{line}: at {path}"),
        }
    }
}

/// What is wrong at a [`Location`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Not well-formed JSON (serde_json's message, without its position).
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Not well-formed CSV: an unterminated quote, text after a closing quote.
    #[error("invalid CSV: {0}")]
    Csv(&'static str),
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    #[error("expected {expected}, found {found}")]
    WrongType { expected: &'static str, found: String },
    /// A value that is not one of the names the format allows.
    #[error("unknown {what} `{found}` (expected {expected})")]
    UnknownName { what: &'static str, found: String, expected: &'static str },
    #[error("`{0}` is not a number")]
    BadNumber(String),
    /// A number outside its domain: a negative time, a zero iteration count.
    #[error("{value} is out of range: {expected}")]
    OutOfRange { value: f64, expected: &'static str },
    /// A unit that is not a time unit this crate converts to nanoseconds.
    #[error("unknown time unit `{0}` (expected ns, us, µs, ms or s)")]
    UnknownUnit(String),
    /// Two lists that go in pairs have different lengths.
    #[error("`{first}` has {first_len} values but `{second}` has {second_len}")]
    LengthMismatch { first: &'static str, first_len: usize, second: &'static str, second_len: usize },
    /// A file or list with no measurement in it.
    #[error("no {0}")]
    Empty(&'static str),
    #[error("CSV header: expected column `{expected}`, found `{found}`")]
    Header { expected: &'static str, found: String },
    #[error("expected {expected} fields, found {found}")]
    FieldCount { expected: usize, found: usize },
    /// Rows of one criterion `raw.csv` that name different benchmarks.
    #[error("benchmark `{found}` in a file of benchmark `{expected}`")]
    MixedBenchmarks { expected: String, found: String },
    /// A line that starts like a bencher line but does not go on like one.
    #[error("malformed bench line: expected {0}")]
    Malformed(&'static str),
}

/// The file's name, and the JSON-lines line number, for building errors.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) file: &'a str,
    pub(crate) line: Option<usize>,
}

impl<'a> Source<'a> {
    pub(crate) fn new(file: &'a str) -> Self {
        Source { file, line: None }
    }

    pub(crate) fn at(&self, line: usize, column: usize, kind: ParseErrorKind) -> ParseError {
        ParseError { file: self.file.to_owned(), location: Location::LineCol { line, column }, kind }
    }

    pub(crate) fn at_path(&self, path: String, kind: ParseErrorKind) -> ParseError {
        ParseError { file: self.file.to_owned(), location: Location::JsonPath { line: self.line, path }, kind }
    }
}

/// How many nanoseconds one `unit` is.
fn ns_per_unit(unit: &str) -> Option<f64> {
    match unit {
        "ns" => Some(1.0),
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU.
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(1e3),
        "ms" => Some(1e6),
        "s" => Some(1e9),
        _ => None,
    }
}

/// The 1-based character column of byte offset `at` in `line` (clamped to
/// the line, and to a character boundary).
pub(crate) fn column(line: &str, at: usize) -> usize {
    let mut at = at.min(line.len());
    while !line.is_char_boundary(at) {
        at -= 1;
    }
    line[..at].chars().count() + 1
}
