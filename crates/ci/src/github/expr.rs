//! GitHub Actions expressions: the language inside `${{ }}` and in `if:`.
//!
//! A parser with character offsets (for diagnostics), a value type with
//! GitHub's loose equality and coercion rules, and an evaluator over
//! contexts supplied by a [`Host`]. Everything here is pure: `hashFiles`
//! and the job status come from the host.
//!
//! Rules, as GitHub documents them and its runner implements them:
//! - `==`/`!=`/`<`… compare values of different types as numbers (null → 0,
//!   booleans → 1/0, strings parsed, empty → 0, else NaN; arrays and
//!   objects → NaN); strings compare case-insensitively; arrays and objects
//!   are equal only to themselves.
//! - `&&`/`||` return one of their operands; falsy values are `false`, `0`,
//!   `-0`, `''`, `null` and NaN.
//! - Property names are case-insensitive; a missing property is `null`.
//! - `.*` turns an object or array into a filtered array; property access on
//!   a filtered array applies to each element.

use indexmap::IndexMap;
use std::fmt::Write as _;
use std::sync::Arc;

/// A value of the expression language.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Arc<Vec<Value>>),
    Object(Arc<IndexMap<String, Value>>),
}

impl PartialEq for Value {
    /// Structural equality, for tests and change detection (not GitHub's `==`).
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|((ka, va), (kb, vb))| ka == kb && va == vb)
            }
            _ => false,
        }
    }
}

impl Value {
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn object<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(Arc::new(entries.into_iter().map(|(k, v)| (k.into(), v)).collect()))
    }

    pub fn array(items: impl IntoIterator<Item = Value>) -> Value {
        Value::Array(Arc::new(items.into_iter().collect()))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// The value as a number, as GitHub coerces it.
    pub fn to_number(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => {
                if *b {
                    1.0
                } else {
                    0.0
                }
            }
            Value::Number(n) => *n,
            Value::String(s) => parse_number(s.trim()).unwrap_or(if s.trim().is_empty() { 0.0 } else { f64::NAN }),
            Value::Array(_) | Value::Object(_) => f64::NAN,
        }
    }

    /// The value as interpolated into a string.
    pub fn to_display(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => format_number(*n),
            Value::String(s) => s.clone(),
            Value::Array(_) => "Array".to_string(),
            Value::Object(_) => "Object".to_string(),
        }
    }

    /// A property, looked up case-insensitively.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => {
                m.get(key).or_else(|| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
            }
            _ => None,
        }
    }

    /// From a JSON value (`fromJSON`, contexts given as JSON).
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::array(a.iter().map(Value::from_json)),
            serde_json::Value::Object(o) => Value::object(o.iter().map(|(k, v)| (k.clone(), Value::from_json(v)))),
        }
    }

    /// To a JSON value; NaN and infinities have no JSON form and become null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => json_number(*n),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(o) => serde_json::Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// `toJSON`: pretty printed with two-space indentation, as GitHub does.
    pub fn to_json_pretty(&self) -> String {
        let mut out = String::new();
        write_json(self, 0, &mut out);
        out
    }
}

fn json_number(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        serde_json::Value::Number(serde_json::Number::from(n as i64))
    } else {
        serde_json::Number::from_f64(n).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
    }
}

fn write_json(v: &Value, indent: usize, out: &mut String) {
    let pad = |n: usize, out: &mut String| out.extend(std::iter::repeat_n(' ', n));
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&format_number(*n)),
        Value::String(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Object(o) if o.is_empty() => out.push_str("{}"),
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, item) in a.iter().enumerate() {
                pad(indent + 2, out);
                write_json(item, indent + 2, out);
                if i + 1 < a.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(indent, out);
            out.push(']');
        }
        Value::Object(o) => {
            out.push_str("{\n");
            for (i, (k, item)) in o.iter().enumerate() {
                pad(indent + 2, out);
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_json(item, indent + 2, out);
                if i + 1 < o.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(indent, out);
            out.push('}');
        }
    }
}

/// A number as GitHub prints it: integers without a fraction, otherwise up
/// to 15 significant digits (.NET's `G15`), exponent form for very large or
/// small magnitudes.
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if n == 0.0 {
        return "0".into();
    }
    // Round to 15 significant digits first.
    let sci = format!("{:.14e}", n);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if negative { "-" } else { "" };
    if !(-4..15).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{frac}E{esign}{:02}", exp.abs());
    }
    if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
        }
    } else {
        format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
    }
}

/// A numeric literal or a string coerced to a number: decimal with optional
/// fraction and exponent, or `0x` hex, `0o` octal; `Infinity`/`NaN`.
fn parse_number(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(hex) = body.strip_prefix("0x") {
        if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        i64::from_str_radix(hex, 16).ok()? as f64
    } else if let Some(oct) = body.strip_prefix("0o") {
        if oct.is_empty() || !oct.chars().all(|c| matches!(c, '0'..='7')) {
            return None;
        }
        i64::from_str_radix(oct, 8).ok()? as f64
    } else if body == "Infinity" {
        f64::INFINITY
    } else if body == "NaN" {
        f64::NAN
    } else {
        let ok = body.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
            && body.chars().next().is_some_and(|c| c.is_ascii_digit() || c == '.')
            && body.chars().any(|c| c.is_ascii_digit());
        if !ok {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// GitHub's `==`.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::String(x), Value::String(y)) => fold(x) == fold(y),
        (Value::Array(x), Value::Array(y)) => Arc::ptr_eq(x, y),
        (Value::Object(x), Value::Object(y)) => Arc::ptr_eq(x, y),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        _ => a.to_number() == b.to_number(),
    }
}

/// Case folding for comparisons (ordinal, ignoring case).
fn fold(s: &str) -> String {
    s.to_uppercase()
}

/// GitHub's `<` (and friends, through argument order and negation).
fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(fold(x).cmp(&fold(y))),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => None,
        _ => a.to_number().partial_cmp(&b.to_number()),
    }
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

/// A parsed expression. `at` fields are character offsets into the source.
#[derive(Clone, Debug)]
pub enum Expr {
    Lit(Value),
    /// A context name (`github`, `matrix`, ...), lowercased.
    Context {
        name: String,
        at: usize,
    },
    Prop {
        target: Box<Expr>,
        name: String,
        at: usize,
    },
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// `.*` or `[*]`.
    Filter(Box<Expr>),
    Not(Box<Expr>),
    Binary {
        op: Op,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// A function call; `name` lowercased.
    Call {
        name: String,
        args: Vec<Expr>,
        at: usize,
    },
}

impl Expr {
    /// Whether the expression calls a status function (`success()`, ...);
    /// an `if:` without one gets an implicit `success() &&`.
    pub fn has_status_call(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| {
            if let Expr::Call { name, .. } = e
                && matches!(name.as_str(), "success" | "failure" | "always" | "cancelled")
            {
                found = true;
            }
        });
        found
    }

    /// Visit every node, parents first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Lit(_) | Expr::Context { .. } => {}
            Expr::Prop { target, .. } | Expr::Filter(target) | Expr::Not(target) => target.walk(f),
            Expr::Index { target, index } => {
                target.walk(f);
                index.walk(f);
            }
            Expr::Binary { left, right, .. } => {
                left.walk(f);
                right.walk(f);
            }
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
        }
    }

    /// `context.a.b` as a path of names, when the expression is a plain
    /// property chain (`matrix.os`, `steps.build.outputs.x`).
    pub fn path(&self) -> Option<(Vec<(String, usize)>, usize)> {
        match self {
            Expr::Context { name, at } => Some((vec![(name.clone(), *at)], *at)),
            Expr::Prop { target, name, at } => {
                let (mut p, start) = target.path()?;
                p.push((name.clone(), *at));
                Some((p, start))
            }
            Expr::Index { target, index } => {
                let (mut p, start) = target.path()?;
                match &**index {
                    Expr::Lit(Value::String(s)) => {
                        p.push((s.clone(), start));
                        Some((p, start))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// A parse or evaluation error, at a character offset in the expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub at: usize,
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, Error> {
    Err(Error { at, message: message.into() })
}

/// GitHub's limits: expressions are at most 21,000 characters and nest at
/// most 50 levels.
const MAX_LEN: usize = 21_000;
const MAX_DEPTH: usize = 50;

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Star,
    Bang,
    Op(Op),
    Str(String),
    Num(f64),
    Ident(String),
}

fn lex(src: &str) -> Result<Vec<(Tok, usize)>, Error> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let two = |a: char, b: char| c == a && chars.get(i + 1) == Some(&b);
        let tok = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '(' {
            i += 1;
            Tok::LParen
        } else if c == ')' {
            i += 1;
            Tok::RParen
        } else if c == '[' {
            i += 1;
            Tok::LBracket
        } else if c == ']' {
            i += 1;
            Tok::RBracket
        } else if c == ',' {
            i += 1;
            Tok::Comma
        } else if c == '*' {
            i += 1;
            Tok::Star
        } else if two('=', '=') {
            i += 2;
            Tok::Op(Op::Eq)
        } else if two('!', '=') {
            i += 2;
            Tok::Op(Op::Ne)
        } else if two('<', '=') {
            i += 2;
            Tok::Op(Op::Le)
        } else if two('>', '=') {
            i += 2;
            Tok::Op(Op::Ge)
        } else if two('&', '&') {
            i += 2;
            Tok::Op(Op::And)
        } else if two('|', '|') {
            i += 2;
            Tok::Op(Op::Or)
        } else if c == '<' {
            i += 1;
            Tok::Op(Op::Lt)
        } else if c == '>' {
            i += 1;
            Tok::Op(Op::Gt)
        } else if c == '!' {
            i += 1;
            Tok::Bang
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return err(start, "unterminated string literal"),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        s.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            Tok::Str(s)
        } else if c == '.'
            && (!chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())
                || matches!(out.last(), Some((Tok::Ident(_) | Tok::RBracket | Tok::RParen | Tok::Star, _))))
        {
            i += 1;
            Tok::Dot
        } else if c.is_ascii_digit()
            || c == '.'
            || ((c == '-' || c == '+') && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit() || *d == '.'))
        {
            // A number runs to the next delimiter; it must parse whole.
            i += 1;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            match parse_number(&text) {
                Some(n) if !text.ends_with('.') || text.len() > 1 => Tok::Num(n),
                _ => return err(start, format!("unexpected token `{text}`: not a valid number")),
            }
        } else if c.is_alphabetic() || c == '_' {
            i += 1;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '-') {
                i += 1;
            }
            Tok::Ident(chars[start..i].iter().collect())
        } else {
            return err(start, format!("unexpected character `{c}`"));
        };
        out.push((tok, start));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }
    fn at(&self) -> usize {
        self.toks.get(self.pos).map(|(_, a)| *a).unwrap_or(self.end)
    }
    fn next(&mut self) -> Option<(Tok, usize)> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn describe(&self) -> String {
        match self.toks.get(self.pos) {
            None => "end of expression".into(),
            Some((t, _)) => format!("`{}`", tok_text(t)),
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(self.at(), format!("expression nesting depth exceeds {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, Error> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Op(Op::Or)) {
            self.next();
            let right = self.and()?;
            left = Expr::Binary { op: Op::Or, left: Box::new(left), right: Box::new(right) };
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, Error> {
        let mut left = self.equality()?;
        while self.peek() == Some(&Tok::Op(Op::And)) {
            self.next();
            let right = self.equality()?;
            left = Expr::Binary { op: Op::And, left: Box::new(left), right: Box::new(right) };
        }
        Ok(left)
    }

    fn equality(&mut self) -> Result<Expr, Error> {
        let mut left = self.comparison()?;
        while let Some(Tok::Op(op @ (Op::Eq | Op::Ne))) = self.peek().cloned() {
            self.next();
            let right = self.comparison()?;
            left = Expr::Binary { op, left: Box::new(left), right: Box::new(right) };
        }
        Ok(left)
    }

    fn comparison(&mut self) -> Result<Expr, Error> {
        let mut left = self.unary()?;
        while let Some(Tok::Op(op @ (Op::Lt | Op::Le | Op::Gt | Op::Ge))) = self.peek().cloned() {
            self.next();
            let right = self.unary()?;
            left = Expr::Binary { op, left: Box::new(left), right: Box::new(right) };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        if self.peek() == Some(&Tok::Bang) {
            self.next();
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, Error> {
        let grouped = self.peek() == Some(&Tok::LParen);
        let mut e = self.primary()?;
        // Property access and indexing follow a context, a function call or
        // a parenthesized group only (`'abc'[0]` and `null.a` are errors).
        if !grouped && !matches!(e, Expr::Context { .. } | Expr::Call { .. }) {
            return Ok(e);
        }
        loop {
            match self.peek() {
                Some(Tok::Dot) => {
                    self.next();
                    let at = self.at();
                    match self.next() {
                        Some((Tok::Star, _)) => e = Expr::Filter(Box::new(e)),
                        Some((Tok::Ident(name), at)) => e = Expr::Prop { target: Box::new(e), name, at },
                        _ => {
                            self.pos -= 1;
                            return err(
                                at,
                                format!("unexpected {}: expected a property name after `.`", self.describe()),
                            );
                        }
                    }
                }
                Some(Tok::LBracket) => {
                    self.next();
                    if self.peek() == Some(&Tok::Star) {
                        self.next();
                        e = Expr::Filter(Box::new(e));
                    } else {
                        self.enter()?;
                        let index = self.or()?;
                        self.depth -= 1;
                        e = Expr::Index { target: Box::new(e), index: Box::new(index) };
                    }
                    if self.peek() != Some(&Tok::RBracket) {
                        return err(self.at(), format!("unexpected {}: expected `]`", self.describe()));
                    }
                    self.next();
                }
                _ => return Ok(e),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let at = self.at();
        if self.depth + 1 > MAX_DEPTH {
            return err(at, format!("expression nesting depth exceeds {MAX_DEPTH}"));
        }
        let Some((tok, _)) = self.next() else {
            return err(at, "unexpected end of expression: expected a value");
        };
        match tok {
            Tok::Num(n) => Ok(Expr::Lit(Value::Number(n))),
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::LParen => {
                self.enter()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::RParen) {
                    return err(self.at(), format!("unexpected {}: expected `)`", self.describe()));
                }
                self.next();
                Ok(e)
            }
            Tok::Ident(name) => {
                if self.peek() == Some(&Tok::LParen) {
                    self.next();
                    self.enter()?;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::RParen) {
                        loop {
                            args.push(self.or()?);
                            match self.peek() {
                                Some(Tok::Comma) => {
                                    self.next();
                                }
                                Some(Tok::RParen) => break,
                                _ => {
                                    return err(
                                        self.at(),
                                        format!("unexpected {}: expected `,` or `)`", self.describe()),
                                    );
                                }
                            }
                        }
                    }
                    self.next();
                    self.depth -= 1;
                    let lower = name.to_ascii_lowercase();
                    check_call(&name, &lower, args.len(), at)?;
                    return Ok(Expr::Call { name: lower, args, at });
                }
                match name.as_str() {
                    "true" => Ok(Expr::Lit(Value::Bool(true))),
                    "false" => Ok(Expr::Lit(Value::Bool(false))),
                    "null" => Ok(Expr::Lit(Value::Null)),
                    "NaN" => Ok(Expr::Lit(Value::Number(f64::NAN))),
                    "Infinity" => Ok(Expr::Lit(Value::Number(f64::INFINITY))),
                    _ => Ok(Expr::Context { name: name.to_ascii_lowercase(), at }),
                }
            }
            other => {
                self.pos -= 1;
                err(at, format!("unexpected `{}`: expected a value", tok_text(&other)))
            }
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::LBracket => "[".into(),
        Tok::RBracket => "]".into(),
        Tok::Comma => ",".into(),
        Tok::Dot => ".".into(),
        Tok::Star => "*".into(),
        Tok::Bang => "!".into(),
        Tok::Op(op) => match op {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::And => "&&",
            Op::Or => "||",
        }
        .into(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Num(n) => format_number(*n),
        Tok::Ident(s) => s.clone(),
    }
}

/// The functions, with their minimum and maximum argument counts.
pub const FUNCTIONS: &[(&str, usize, usize)] = &[
    ("contains", 2, 2),
    ("startswith", 2, 2),
    ("endswith", 2, 2),
    ("format", 1, usize::MAX),
    ("join", 1, 2),
    ("tojson", 1, 1),
    ("fromjson", 1, 1),
    ("hashfiles", 1, usize::MAX),
    ("success", 0, 0),
    ("failure", 0, 0),
    ("always", 0, 0),
    ("cancelled", 0, 0),
];

fn check_call(name: &str, lower: &str, n: usize, at: usize) -> Result<(), Error> {
    let Some((_, min, max)) = FUNCTIONS.iter().find(|(f, _, _)| *f == lower) else {
        let names = ["contains", "startsWith", "endsWith", "format", "join", "toJSON", "fromJSON", "hashFiles"];
        let hint = crate::diag::did_you_mean(name, names.iter().copied().chain(["success", "failure", "always"]))
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return err(at, format!("unknown function `{name}`{hint}"));
    };
    if n < *min || n > *max {
        let want = if min == max {
            format!("{min}")
        } else if *max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return err(at, format!("wrong number of arguments to `{name}`: expected {want}, got {n}"));
    }
    Ok(())
}

/// Parse one expression (the text inside `${{ }}`).
pub fn parse(src: &str) -> Result<Expr, Error> {
    if src.chars().count() > MAX_LEN {
        return err(0, format!("expression longer than {MAX_LEN} characters"));
    }
    let toks = lex(src)?;
    let end = src.chars().count();
    let mut p = Parser { toks, pos: 0, end, depth: 0 };
    if p.toks.is_empty() {
        return err(0, "empty expression");
    }
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return err(p.at(), format!("unexpected {} after the end of the expression", p.describe()));
    }
    Ok(e)
}

/// The state the status functions see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    Success,
    Failure,
    Cancelled,
    /// A needed job was skipped: neither `success()` nor `failure()`.
    Skipped,
}

/// What an evaluation needs from outside.
pub trait Host {
    /// A context by (lowercase) name; `None` when it does not exist here.
    fn context(&self, name: &str) -> Option<Value>;
    fn status(&self) -> Status {
        Status::Success
    }
    /// `hashFiles(patterns)`: hex SHA-256, or '' when nothing matches.
    fn hash_files(&self, _patterns: &[String]) -> Result<String, String> {
        Err("hashFiles is not available here".into())
    }
}

/// Contexts in a map, for callers that have them all up front.
#[derive(Clone, Debug, Default)]
pub struct Contexts {
    pub values: IndexMap<String, Value>,
    pub status: Status,
}

impl Host for Contexts {
    fn context(&self, name: &str) -> Option<Value> {
        self.values.get(name).cloned()
    }
    fn status(&self) -> Status {
        self.status
    }
}

/// An intermediate result: a filtered array keeps mapping over property
/// access until it is used as a value.
enum Ev {
    V(Value),
    Filtered(Vec<Value>),
}

impl Ev {
    fn value(self) -> Value {
        match self {
            Ev::V(v) => v,
            Ev::Filtered(items) => Value::array(items),
        }
    }
}

/// Evaluate an expression.
pub fn eval(e: &Expr, host: &dyn Host) -> Result<Value, Error> {
    ev(e, host).map(Ev::value)
}

fn index_value(target: &Value, key: &Value) -> Option<Value> {
    match (target, key) {
        (Value::Array(a), _) => {
            let n = key.to_number();
            if n.is_nan() || n < 0.0 {
                return None;
            }
            a.get(n.floor() as usize).cloned()
        }
        (Value::Object(_), Value::String(s)) => target.get(s).cloned(),
        (Value::Object(_), _) => target.get(&key.to_display()).cloned(),
        _ => None,
    }
}

fn ev(e: &Expr, host: &dyn Host) -> Result<Ev, Error> {
    Ok(match e {
        Expr::Lit(v) => Ev::V(v.clone()),
        Expr::Context { name, at } => match host.context(name) {
            Some(v) => Ev::V(v),
            None => return err(*at, format!("unrecognized named-value: `{name}`")),
        },
        Expr::Prop { target, name, .. } => match ev(target, host)? {
            Ev::V(v) => Ev::V(v.get(name).cloned().unwrap_or(Value::Null)),
            Ev::Filtered(items) => Ev::Filtered(items.iter().filter_map(|i| i.get(name).cloned()).collect()),
        },
        Expr::Index { target, index } => {
            let key = eval(index, host)?;
            match ev(target, host)? {
                Ev::V(v) => Ev::V(index_value(&v, &key).unwrap_or(Value::Null)),
                Ev::Filtered(items) => Ev::Filtered(items.iter().filter_map(|i| index_value(i, &key)).collect()),
            }
        }
        Expr::Filter(target) => {
            let items = match ev(target, host)? {
                Ev::V(Value::Array(a)) => a.as_ref().clone(),
                Ev::V(Value::Object(o)) => o.values().cloned().collect(),
                Ev::V(_) => vec![],
                Ev::Filtered(items) => items
                    .into_iter()
                    .flat_map(|i| match i {
                        Value::Array(a) => a.as_ref().clone(),
                        Value::Object(o) => o.values().cloned().collect(),
                        _ => vec![],
                    })
                    .collect(),
            };
            Ev::Filtered(items)
        }
        Expr::Not(inner) => Ev::V(Value::Bool(!eval(inner, host)?.truthy())),
        Expr::Binary { op: Op::And, left, right } => {
            let l = eval(left, host)?;
            if !l.truthy() { Ev::V(l) } else { Ev::V(eval(right, host)?) }
        }
        Expr::Binary { op: Op::Or, left, right } => {
            let l = eval(left, host)?;
            if l.truthy() { Ev::V(l) } else { Ev::V(eval(right, host)?) }
        }
        Expr::Binary { op, left, right } => {
            let l = eval(left, host)?;
            let r = eval(right, host)?;
            use std::cmp::Ordering::*;
            let b = match op {
                Op::Eq => loose_eq(&l, &r),
                Op::Ne => !loose_eq(&l, &r),
                Op::Lt => compare(&l, &r) == Some(Less),
                Op::Le => matches!(compare(&l, &r), Some(Less | Equal)),
                Op::Gt => compare(&l, &r) == Some(Greater),
                Op::Ge => matches!(compare(&l, &r), Some(Greater | Equal)),
                Op::And | Op::Or => unreachable!("handled above"),
            };
            Ev::V(Value::Bool(b))
        }
        Expr::Call { name, args, at } => Ev::V(call(name, args, *at, host)?),
    })
}

fn call(name: &str, args: &[Expr], at: usize, host: &dyn Host) -> Result<Value, Error> {
    match name {
        "success" => return Ok(Value::Bool(host.status() == Status::Success)),
        "failure" => return Ok(Value::Bool(host.status() == Status::Failure)),
        "cancelled" => return Ok(Value::Bool(host.status() == Status::Cancelled)),
        "always" => return Ok(Value::Bool(true)),
        _ => {}
    }
    let vals: Vec<Value> = args.iter().map(|a| eval(a, host)).collect::<Result<_, _>>()?;
    Ok(match name {
        "contains" => match &vals[0] {
            Value::Array(items) => Value::Bool(items.iter().any(|i| loose_eq(i, &vals[1]))),
            hay => Value::Bool(fold(&hay.to_display()).contains(&fold(&vals[1].to_display()))),
        },
        "startswith" | "endswith" => {
            if !is_primitive(&vals[0]) || !is_primitive(&vals[1]) {
                Value::Bool(false)
            } else if name == "startswith" {
                Value::Bool(fold(&vals[0].to_display()).starts_with(&fold(&vals[1].to_display())))
            } else {
                Value::Bool(fold(&vals[0].to_display()).ends_with(&fold(&vals[1].to_display())))
            }
        }
        "format" => Value::String(format_fn(&vals[0].to_display(), &vals[1..]).map_err(|m| Error { at, message: m })?),
        "join" => {
            let sep = vals.get(1).filter(|v| is_primitive(v)).map(Value::to_display).unwrap_or_else(|| ",".into());
            match &vals[0] {
                Value::Array(items) => {
                    Value::String(items.iter().map(Value::to_display).collect::<Vec<_>>().join(&sep))
                }
                Value::Object(_) => Value::String(String::new()),
                other => Value::String(other.to_display()),
            }
        }
        "tojson" => Value::String(vals[0].to_json_pretty()),
        "fromjson" => {
            let text = vals[0].to_display();
            match serde_json::from_str::<serde_json::Value>(text.trim()) {
                Ok(v) => Value::from_json(&v),
                Err(e) => return err(at, format!("fromJSON: invalid JSON `{}`: {e}", truncate(&text, 60))),
            }
        }
        "hashfiles" => {
            let patterns: Vec<String> = vals.iter().map(Value::to_display).collect();
            Value::String(host.hash_files(&patterns).map_err(|m| Error { at, message: format!("hashFiles: {m}") })?)
        }
        _ => return err(at, format!("unknown function `{name}`")),
    })
}

fn is_primitive(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// `format('{0} and {1}', a, b)`, with `{{`/`}}` escapes.
fn format_fn(fmt: &str, args: &[Value]) -> Result<String, String> {
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' if chars.get(i + 1) == Some(&'{') => {
                out.push('{');
                i += 2;
            }
            '}' if chars.get(i + 1) == Some(&'}') => {
                out.push('}');
                i += 2;
            }
            '{' => {
                let close = chars[i..].iter().position(|&c| c == '}').map(|p| p + i);
                let Some(close) = close else {
                    return Err(format!("format: invalid format string `{fmt}`: unclosed `{{`"));
                };
                let idx: String = chars[i + 1..close].iter().collect();
                let Ok(n) = idx.parse::<usize>() else {
                    return Err(format!("format: invalid format string `{fmt}`: `{{{idx}}}` is not an argument index"));
                };
                let Some(v) = args.get(n) else {
                    return Err(format!(
                        "format: `{{{n}}}` in `{fmt}` is out of range: only {} arguments follow the format string",
                        args.len()
                    ));
                };
                let _ = write!(out, "{}", v.to_display());
                i = close + 1;
            }
            '}' => return Err(format!("format: invalid format string `{fmt}`: unmatched `}}`")),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A string with `${{ }}` expressions in it.
#[derive(Clone, Debug)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Clone, Debug)]
pub enum Part {
    Text(String),
    /// An expression and the character offset of its first character in the
    /// template source.
    Expr(Expr, usize),
}

impl Template {
    /// A template with no expressions.
    pub fn literal(s: impl Into<String>) -> Template {
        Template { parts: vec![Part::Text(s.into())] }
    }

    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    pub fn exprs(&self) -> impl Iterator<Item = (&Expr, usize)> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e, at) => Some((e, *at)),
            Part::Text(_) => None,
        })
    }

    /// The value: a template that is exactly one `${{ }}` keeps its type;
    /// anything else is the concatenation of the parts as strings.
    pub fn eval(&self, host: &dyn Host) -> Result<Value, Error> {
        if let [Part::Expr(e, at)] = self.parts.as_slice() {
            return eval(e, host).map_err(|er| Error { at: at + er.at, message: er.message });
        }
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Expr(e, at) => {
                    s.push_str(&eval(e, host).map_err(|er| Error { at: at + er.at, message: er.message })?.to_display())
                }
            }
        }
        Ok(Value::String(s))
    }

    pub fn eval_string(&self, host: &dyn Host) -> Result<String, Error> {
        self.eval(host).map(|v| v.to_display())
    }
}

/// Split a string into text and `${{ }}` expressions. An expression ends at
/// the first `}}` outside a string literal.
pub fn parse_template(src: &str) -> Result<Template, Error> {
    let chars: Vec<char> = src.chars().collect();
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' && chars.get(i + 1) == Some(&'{') && chars.get(i + 2) == Some(&'{') {
            let start = i + 3;
            let mut j = start;
            let mut in_str = false;
            let end = loop {
                match chars.get(j) {
                    None => return err(i, "`${{` without a closing `}}`"),
                    Some('\'') => in_str = !in_str,
                    Some('}') if !in_str && chars.get(j + 1) == Some(&'}') => break j,
                    _ => {}
                }
                j += 1;
            };
            let inner: String = chars[start..end].iter().collect();
            let e = parse(&inner).map_err(|er| Error { at: start + er.at, message: er.message })?;
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            }
            parts.push(Part::Expr(e, start));
            i = end + 2;
        } else {
            text.push(chars[i]);
            i += 1;
        }
    }
    if !text.is_empty() || parts.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(Template { parts })
}

/// An `if:` condition: bare expression text or one `${{ }}`, with the
/// implicit `success() &&` GitHub adds when no status function is called.
pub fn parse_condition(src: &str) -> Result<Expr, Error> {
    parse_condition_at(src).map(|(e, _)| e)
}

/// [`parse_condition`], also returning the offset of the expression text
/// in `src` (the offsets in the tree are relative to it).
pub fn parse_condition_at(src: &str) -> Result<(Expr, usize), Error> {
    let trimmed = src.trim();
    let lead = src.len() - src.trim_start().len();
    let lead_chars = src[..lead].chars().count();
    let (body, offset) = match trimmed.strip_prefix("${{").and_then(|r| r.strip_suffix("}}")) {
        // Only when the whole string is one expression.
        Some(inner) if !inner.contains("${{") => (inner, lead_chars + 3),
        _ => (trimmed, lead_chars),
    };
    let e = parse(body).map_err(|er| Error { at: offset + er.at, message: er.message })?;
    let e = if e.has_status_call() {
        e
    } else {
        Expr::Binary {
            op: Op::And,
            left: Box::new(Expr::Call { name: "success".into(), args: vec![], at: 0 }),
            right: Box::new(e),
        }
    };
    Ok((e, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(src: &str) -> Value {
        eval(&parse(src).unwrap(), &Contexts::default()).unwrap()
    }

    #[test]
    fn numbers_format_like_github() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(1.5), "1.5");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(2147483648.0), "2147483648");
        assert_eq!(format_number(1e21), "1E+21");
        assert_eq!(format_number(0.1), "0.1");
        assert_eq!(format_number(1.25e-3), "0.00125");
    }

    #[test]
    fn basics() {
        assert_eq!(run("1 == 1"), Value::Bool(true));
        assert_eq!(run("'' == 0"), Value::Bool(true));
        assert_eq!(run("'abc' == 'ABC'"), Value::Bool(true));
        assert_eq!(run("'a' || 'b'"), Value::str("a"));
        assert_eq!(run("format('{0}-{{x}}', 1)"), Value::str("1-{x}"));
        assert!(parse("1 ==").is_err());
    }

    #[test]
    fn template_keeps_type_of_single_expression() {
        let t = parse_template("${{ 1 }}").unwrap();
        assert_eq!(t.eval(&Contexts::default()).unwrap(), Value::Number(1.0));
        let t = parse_template("v${{ 1 }}").unwrap();
        assert_eq!(t.eval(&Contexts::default()).unwrap(), Value::str("v1"));
    }
}
