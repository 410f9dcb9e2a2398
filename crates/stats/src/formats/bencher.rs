//! libtest's bench lines, which `cargo bench` prints for `#[bench]`
//! functions and criterion prints with `--output-format bencher`:
//!
//! ```text
//! test parse_small      ... bench:       1,234.56 ns/iter (+/- 7.89)
//! test group/function ... bench:       15678 ns/iter (+/- 218)
//! test decode           ... bench:         812 ns/iter (+/- 21) = 1260 MB/s
//! ```
//!
//! libtest writes the median and the range (max − min) of its samples with
//! thousands separators and, since Rust 1.77, two decimals; criterion
//! writes its median and standard deviation as integers. Other lines
//! (`running 3 tests`, `test foo ... ok`, `test bar ... ignored`, `test
//! result: ...`) are skipped.

use super::{ParseError, ParseErrorKind, Source, column, ns_per_unit};

/// One benchmark's line.
#[derive(Debug, Clone, PartialEq)]
pub struct BencherBench {
    pub name: String,
    /// The time per iteration (libtest: the median), in ns.
    pub ns_per_iter: f64,
    /// The `+/-` figure in ns (libtest: max − min; criterion: standard
    /// deviation).
    pub deviation_ns: f64,
    /// The `= N MB/s` throughput, when the benchmark set `bytes`.
    pub mb_per_s: Option<f64>,
}

/// The bench lines of libtest bencher output, in order. A line that starts
/// `test <name> ... bench` but does not go on as one is an error at the
/// line and column where it goes wrong.
pub fn bencher_output(file: &str, text: &str) -> Result<Vec<BencherBench>, ParseError> {
    let src = Source::new(file);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(bench) = bench_line(src, i + 1, line)? {
            out.push(bench);
        }
    }
    Ok(out)
}

/// A cursor over one line, reporting errors at its position.
struct Cursor<'a> {
    src: Source<'a>,
    number: usize,
    line: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.line[self.at..]
    }

    fn error(&self, at: usize, kind: ParseErrorKind) -> ParseError {
        self.src.at(self.number, column(self.line, at), kind)
    }

    fn skip_spaces(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    fn expect(&mut self, literal: &str, what: &'static str) -> Result<(), ParseError> {
        if self.rest().starts_with(literal) {
            self.at += literal.len();
            Ok(())
        } else {
            Err(self.error(self.at, ParseErrorKind::Malformed(what)))
        }
    }

    /// The text up to whitespace, `)` or the end of the line.
    fn token(&mut self) -> (usize, &'a str) {
        let rest = self.rest();
        let len = rest.find(|c: char| c.is_whitespace() || c == ')').unwrap_or(rest.len());
        let start = self.at;
        self.at += len;
        (start, &rest[..len])
    }

    fn number(&mut self, what: &'static str) -> Result<f64, ParseError> {
        let (start, token) = self.token();
        if token.is_empty() {
            return Err(self.error(start, ParseErrorKind::Malformed(what)));
        }
        parse_number(token).ok_or_else(|| self.error(start, ParseErrorKind::BadNumber(token.to_owned())))
    }
}

fn bench_line(src: Source<'_>, number: usize, line: &str) -> Result<Option<BencherBench>, ParseError> {
    let Some(after_test) = line.strip_prefix("test ") else { return Ok(None) };
    let Some(sep) = after_test.find(" ... ") else { return Ok(None) };
    let outcome_at = "test ".len() + sep + " ... ".len();
    if !line[outcome_at..].starts_with("bench") {
        // ok, ignored, FAILED: not a benchmark's result.
        return Ok(None);
    }
    let mut c = Cursor { src, number, line, at: outcome_at };
    let name = after_test[..sep].trim();
    if name.is_empty() {
        return Err(c.error("test ".len(), ParseErrorKind::Malformed("a benchmark name")));
    }
    c.expect("bench:", "`bench:`")?;
    c.skip_spaces();
    let value = c.number("a time per iteration")?;
    c.skip_spaces();
    let (unit_at, unit_token) = c.token();
    let Some(unit) = unit_token.strip_suffix("/iter") else {
        return Err(c.error(unit_at, ParseErrorKind::Malformed("a unit per iteration such as `ns/iter`")));
    };
    let scale = ns_per_unit(unit).ok_or_else(|| c.error(unit_at, ParseErrorKind::UnknownUnit(unit.to_owned())))?;
    c.skip_spaces();
    c.expect("(+/-", "`(+/-`")?;
    c.skip_spaces();
    let deviation = c.number("a deviation")?;
    c.expect(")", "`)`")?;
    let mut mb_per_s = None;
    c.skip_spaces();
    if c.rest().starts_with('=') {
        c.at += 1;
        c.skip_spaces();
        mb_per_s = Some(c.number("a throughput")?);
        c.skip_spaces();
        c.expect("MB/s", "`MB/s`")?;
        c.skip_spaces();
    }
    if !c.rest().is_empty() {
        return Err(c.error(c.at, ParseErrorKind::Malformed("the end of the line")));
    }
    Ok(Some(BencherBench {
        name: name.to_owned(),
        ns_per_iter: value * scale,
        deviation_ns: deviation * scale,
        mb_per_s,
    }))
}

/// `1234`, `1,234`, `1,234.56`, `0.25`: digits, optionally grouped by
/// threes with commas, and an optional decimal part.
fn parse_number(token: &str) -> Option<f64> {
    let (int, frac) = match token.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (token, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(frac) = frac
        && !digits(frac)
    {
        return None;
    }
    let mut groups = int.split(',');
    let first = groups.next()?;
    if !digits(first) {
        return None;
    }
    let mut grouped = false;
    for group in groups {
        grouped = true;
        if group.len() != 3 || !digits(group) {
            return None;
        }
    }
    if grouped && first.len() > 3 {
        return None;
    }
    let plain: String = token.chars().filter(|&c| c != ',').collect();
    plain.parse::<f64>().ok().filter(|x| x.is_finite())
}
