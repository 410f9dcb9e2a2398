//! Reading JSON documents into typed values, with errors that point at the
//! offending value by its path (`.times[3]`) or, for syntax errors, at its
//! line and column.

use serde_json::{Map, Value};

use super::{ParseError, ParseErrorKind, Source, column};

/// The root's path.
pub(crate) const ROOT: &str = ".";

/// Parses one JSON document. `first_line` is the document's first line in
/// the file (1 unless the document is a line of a JSON-lines file).
pub(crate) fn parse(src: Source<'_>, text: &str, first_line: usize) -> Result<Value, ParseError> {
    serde_json::from_str(text).map_err(|e| {
        let (line, col) = (e.line(), e.column());
        let message = e.to_string();
        let message = message.strip_suffix(&format!(" at line {line} column {col}")).unwrap_or(&message).to_owned();
        // serde_json counts columns in bytes, pointing at the offending one.
        let line_text = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
        src.at(
            first_line + line.saturating_sub(1),
            column(line_text, col.saturating_sub(1)),
            ParseErrorKind::Json(message),
        )
    })
}

/// The path of `key` in the object at `path`.
pub(crate) fn child(path: &str, key: &str) -> String {
    if path == ROOT { format!(".{key}") } else { format!("{path}.{key}") }
}

fn index(path: &str, i: usize) -> String {
    if path == ROOT { format!(".[{i}]") } else { format!("{path}[{i}]") }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong(src: Source<'_>, path: String, expected: &'static str, value: &Value) -> ParseError {
    src.at_path(path, ParseErrorKind::WrongType { expected, found: kind_of(value).to_owned() })
}

pub(crate) fn object<'v>(src: Source<'_>, value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, ParseError> {
    value.as_object().ok_or_else(|| wrong(src, path.to_owned(), "an object", value))
}

/// The value of `key`; a missing key is an error at the object's path.
pub(crate) fn field<'v>(
    src: Source<'_>,
    object: &'v Map<String, Value>,
    path: &str,
    key: &'static str,
) -> Result<&'v Value, ParseError> {
    object.get(key).ok_or_else(|| src.at_path(path.to_owned(), ParseErrorKind::MissingField(key)))
}

/// The value of `key`, or `None` when it is missing or null.
pub(crate) fn optional<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|v| !v.is_null())
}

pub(crate) fn number(src: Source<'_>, value: &Value, path: &str) -> Result<f64, ParseError> {
    value.as_f64().ok_or_else(|| wrong(src, path.to_owned(), "a number", value))
}

/// A number that is an integer from 0 to 2^64 − 1.
pub(crate) fn unsigned(src: Source<'_>, value: &Value, path: &str) -> Result<u64, ParseError> {
    value.as_u64().ok_or_else(|| wrong(src, path.to_owned(), "a non-negative integer", value))
}

pub(crate) fn string<'v>(src: Source<'_>, value: &'v Value, path: &str) -> Result<&'v str, ParseError> {
    value.as_str().ok_or_else(|| wrong(src, path.to_owned(), "a string", value))
}

/// An array of numbers, each checked by `check` (which names the domain it
/// enforces when it fails).
pub(crate) fn numbers(
    src: Source<'_>,
    value: &Value,
    path: &str,
    check: impl Fn(f64) -> Result<(), &'static str>,
) -> Result<Vec<f64>, ParseError> {
    let array = value.as_array().ok_or_else(|| wrong(src, path.to_owned(), "an array of numbers", value))?;
    array
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let x = v.as_f64().ok_or_else(|| wrong(src, index(path, i), "a number", v))?;
            check(x)
                .map_err(|expected| src.at_path(index(path, i), ParseErrorKind::OutOfRange { value: x, expected }))?;
            Ok(x)
        })
        .collect()
}
