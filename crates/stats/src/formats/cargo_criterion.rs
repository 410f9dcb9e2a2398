//! `cargo criterion --message-format=json`: one JSON object per line, each
//! with a `reason`. A `"benchmark-complete"` message carries a benchmark's
//! samples (`measured_values[i]` over `iteration_count[i]` iterations, in
//! `unit`), its `typical`, `mean` and `median` estimates (`{"estimate",
//! "lower_bound", "upper_bound", "unit"}`) and, when there was a baseline,
//! `change` (`mean` and `median` of the relative change, unit `%` but
//! written as fractions, and `change`: `NoChange`, `Improved` or
//! `Regressed`). Other reasons (`group-complete`) are skipped.

use serde_json::{Map, Value};

use super::json::{self, ROOT, child, field, number, object, optional, string};
use super::{ParseError, ParseErrorKind, Source, ns_per_unit};

/// A point estimate and its interval (ns for times; a fraction for changes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub estimate: f64,
    pub lower_bound: f64,
    pub upper_bound: f64,
}

/// cargo-criterion's verdict. It folds criterion's "change within noise
/// threshold" into `NoChange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CargoCriterionVerdict {
    NoChange,
    Improved,
    Regressed,
}

/// The comparison with the previous run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CargoCriterionChange {
    pub mean: Bounds,
    pub median: Bounds,
    pub verdict: CargoCriterionVerdict,
}

/// One `benchmark-complete` message.
#[derive(Debug, Clone, PartialEq)]
pub struct CargoCriterionBench {
    /// The benchmark's title (its full id unless very long).
    pub id: String,
    /// `measured_values[i] / iteration_count[i]`, converted to ns.
    pub per_iter_ns: Vec<f64>,
    /// What cargo-criterion reports as the time: the slope, or the mean.
    pub typical_ns: Bounds,
    pub mean_ns: Bounds,
    pub median_ns: Bounds,
    pub change: Option<CargoCriterionChange>,
}

/// The `benchmark-complete` messages of a cargo-criterion JSON stream, in
/// order. Blank lines are skipped; any other line must be a JSON object
/// with a string `reason`. Errors give the line and, for a wrong or missing
/// value, its JSON path within the line.
pub fn cargo_criterion_messages(file: &str, text: &str) -> Result<Vec<CargoCriterionBench>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let src = Source { file, line: Some(i + 1) };
        let doc = json::parse(Source::new(file), line, i + 1)?;
        let root = object(src, &doc, ROOT)?;
        if string(src, field(src, root, ROOT, "reason")?, ".reason")? == "benchmark-complete" {
            out.push(benchmark_complete(src, root)?);
        }
    }
    Ok(out)
}

fn benchmark_complete(src: Source<'_>, root: &Map<String, Value>) -> Result<CargoCriterionBench, ParseError> {
    let id = string(src, field(src, root, ROOT, "id")?, ".id")?.to_owned();
    let unit = string(src, field(src, root, ROOT, "unit")?, ".unit")?;
    let scale = ns_per_unit(unit)
        .ok_or_else(|| src.at_path(".unit".to_owned(), ParseErrorKind::UnknownUnit(unit.to_owned())))?;
    let values = json::numbers(src, field(src, root, ROOT, "measured_values")?, ".measured_values", |x| {
        if x >= 0.0 { Ok(()) } else { Err("must be a finite number ≥ 0") }
    })?;
    let counts = json::numbers(src, field(src, root, ROOT, "iteration_count")?, ".iteration_count", |x| {
        if x > 0.0 { Ok(()) } else { Err("must be a positive number") }
    })?;
    if values.len() != counts.len() {
        let kind = ParseErrorKind::LengthMismatch {
            first: "measured_values",
            first_len: values.len(),
            second: "iteration_count",
            second_len: counts.len(),
        };
        return Err(src.at_path(ROOT.to_owned(), kind));
    }
    if values.is_empty() {
        return Err(src.at_path(".measured_values".to_owned(), ParseErrorKind::Empty("samples")));
    }
    let per_iter_ns = values.iter().zip(&counts).map(|(v, n)| v * scale / n).collect();
    let time = |key: &'static str| -> Result<Bounds, ParseError> {
        let path = child(ROOT, key);
        let map = object(src, field(src, root, ROOT, key)?, &path)?;
        let unit_path = child(&path, "unit");
        let unit = string(src, field(src, map, &path, "unit")?, &unit_path)?;
        let scale =
            ns_per_unit(unit).ok_or_else(|| src.at_path(unit_path, ParseErrorKind::UnknownUnit(unit.to_owned())))?;
        let b = bounds(src, map, &path)?;
        Ok(Bounds {
            estimate: b.estimate * scale,
            lower_bound: b.lower_bound * scale,
            upper_bound: b.upper_bound * scale,
        })
    };
    let change = optional(root, "change").map(|v| change(src, v)).transpose()?;
    Ok(CargoCriterionBench {
        id,
        per_iter_ns,
        typical_ns: time("typical")?,
        mean_ns: time("mean")?,
        median_ns: time("median")?,
        change,
    })
}

fn change(src: Source<'_>, value: &Value) -> Result<CargoCriterionChange, ParseError> {
    let map = object(src, value, ".change")?;
    let relative = |key: &'static str| -> Result<Bounds, ParseError> {
        let path = child(".change", key);
        bounds(src, object(src, field(src, map, ".change", key)?, &path)?, &path)
    };
    let verdict = match string(src, field(src, map, ".change", "change")?, ".change.change")? {
        "NoChange" => CargoCriterionVerdict::NoChange,
        "Improved" => CargoCriterionVerdict::Improved,
        "Regressed" => CargoCriterionVerdict::Regressed,
        other => {
            let kind = ParseErrorKind::UnknownName {
                what: "change",
                found: other.to_owned(),
                expected: "NoChange, Improved or Regressed",
            };
            return Err(src.at_path(".change.change".to_owned(), kind));
        }
    };
    Ok(CargoCriterionChange { mean: relative("mean")?, median: relative("median")?, verdict })
}

fn bounds(src: Source<'_>, map: &Map<String, Value>, path: &str) -> Result<Bounds, ParseError> {
    let get = |key: &'static str| number(src, field(src, map, path, key)?, &child(path, key));
    Ok(Bounds { estimate: get("estimate")?, lower_bound: get("lower_bound")?, upper_bound: get("upper_bound")? })
}
