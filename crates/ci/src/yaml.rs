//! A YAML document tree that remembers where every node came from.
//!
//! Built from `saphyr-parser` events. Anchors and aliases are resolved here,
//! `<<` merge keys are applied here (explicit keys win over merged ones, as in
//! YAML 1.1), and local tags such as `!reference` are kept on the node so the
//! front ends can interpret them. Scalars are resolved with the YAML 1.1 core
//! rules that Ruby's Psych (and so GitLab) uses: `yes`/`no`/`on`/`off` are
//! booleans, quoted scalars are always strings.

use regex::Regex;
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;
use std::sync::LazyLock;

use crate::diag::{Diagnostic, FileId, Pos};

/// Where a node starts, in which file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Mark {
    pub file: FileId,
    pub pos: Pos,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Map),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
    /// A local tag such as `!reference` (the leading `!` included).
    pub tag: Option<String>,
    /// A single- or double-quoted scalar: its text starts one column after `mark`.
    pub quoted: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Map {
    pub entries: Vec<(Key, Node)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub mark: Mark,
}

impl Map {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }
    pub fn get_entry(&self, key: &str) -> Option<(&Key, &Node)> {
        self.entries.iter().find(|(k, _)| k.name == key).map(|(k, v)| (k, v))
    }
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.entries.iter_mut().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Insert or replace, keeping the position of an existing key.
    pub fn insert(&mut self, key: Key, value: Node) {
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| k.name == key.name) {
            slot.1 = value;
        } else {
            self.entries.push((key, value));
        }
    }
    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let idx = self.entries.iter().position(|(k, _)| k.name == key)?;
        Some(self.entries.remove(idx).1)
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.name.as_str())
    }
}

impl Node {
    pub fn new(value: Value, mark: Mark) -> Node {
        Node { value, mark, tag: None, quoted: false }
    }
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    /// A scalar rendered as the string GitLab would see (numbers and booleans
    /// become their text). `None` for collections and null.
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    /// The name of this node's type, for "wrong type" diagnostics.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf".into() } else { "-.inf".into() }
    } else {
        let s = f.to_string();
        if s.contains('.') || s.contains('e') { s } else { format!("{s}.0") }
    }
}

/// Limits that keep hostile input (deep nesting, alias bombs) from exhausting
/// the stack or memory.
pub const MAX_DEPTH: usize = 200;
pub const MAX_NODES: usize = 2_000_000;

enum Frame {
    Seq { items: Vec<Node>, mark: Mark, anchor: usize, tag: Option<String> },
    Map(MapFrame),
}

struct MapFrame {
    explicit: Vec<(Key, Node)>,
    merges: Vec<Node>,
    pending_key: Option<Node>,
    mark: Mark,
    anchor: usize,
    tag: Option<String>,
}

/// Parse one YAML document. Returns `None` (with a diagnostic) on a syntax error.
/// An empty document yields a `Null` node.
pub fn parse(file: FileId, text: &str) -> Result<Node, Diagnostic> {
    parse_with(file, text, Schema::Psych11)
}

/// How plain scalars are typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schema {
    /// YAML 1.1 as Ruby's Psych reads it (GitLab): `yes`/`on` are booleans.
    Psych11,
    /// The YAML 1.2 core schema (GitHub Actions): only `true`/`false` are
    /// booleans, `on` is a string.
    Core12,
}

/// Parse one YAML document with the given scalar schema.
pub fn parse_with(file: FileId, text: &str, schema: Schema) -> Result<Node, Diagnostic> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut total_nodes: usize = 0;
    let mut docs_seen = 0usize;
    let mut root: Option<Node> = None;

    let mark_of =
        |span: &Span| Mark { file, pos: Pos { line: span.start.line() as u32, col: span.start.col() as u32 + 1 } };

    while let Some(ev) = parser.next_event() {
        let (event, span) = match ev {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                return Err(Diagnostic::error("yaml-syntax", format!("YAML syntax error: {}", e.info()))
                    .at(file, Pos { line: m.line() as u32, col: m.col() as u32 + 1 }));
            }
        };
        let mark = mark_of(&span);
        let complete: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                docs_seen += 1;
                if docs_seen > 1 {
                    // Only the first document is the pipeline; GitLab's `spec:`
                    // header documents are reported by the front end.
                    if root.is_some() {
                        return Ok(root.unwrap_or_else(|| Node::new(Value::Null, mark)));
                    }
                }
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some((node, size)) => {
                    total_nodes += size;
                    if total_nodes > MAX_NODES {
                        return Err(Diagnostic::error(
                            "yaml-syntax",
                            "document is too large after expanding aliases".to_string(),
                        )
                        .at(file, mark.pos));
                    }
                    Some((node.clone(), 0))
                }
                None => {
                    return Err(Diagnostic::error("yaml-syntax", "alias refers to an unknown anchor".to_string())
                        .at(file, mark.pos));
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                total_nodes += 1;
                let tag = tag.map(|t| tag_name(&t.handle, &t.suffix));
                let value = match resolve_scalar(&text, style, tag.as_deref(), schema) {
                    Ok(v) => v,
                    Err(why) => return Err(Diagnostic::error("yaml-type", why).at(file, mark.pos)),
                };
                let quoted = matches!(style, ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted);
                let node = Node { value, mark, tag: tag.filter(|t| !is_core_tag(t)), quoted };
                if anchor != 0 {
                    anchors.insert(anchor, (node.clone(), 1));
                }
                Some((node, 0))
            }
            Event::SequenceStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(nesting_error(file, mark));
                }
                let tag = tag.map(|t| tag_name(&t.handle, &t.suffix)).filter(|t| !is_core_tag(t));
                stack.push(Frame::Seq { items: Vec::new(), mark, anchor, tag });
                None
            }
            Event::MappingStart(anchor, tag) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(nesting_error(file, mark));
                }
                let tag = tag.map(|t| tag_name(&t.handle, &t.suffix)).filter(|t| !is_core_tag(t));
                stack.push(Frame::Map(MapFrame {
                    explicit: Vec::new(),
                    merges: Vec::new(),
                    pending_key: None,
                    mark,
                    anchor,
                    tag,
                }));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq { items, mark, anchor, tag }) => {
                    total_nodes += 1;
                    let node = Node { value: Value::Seq(items), mark, tag, quoted: false };
                    if anchor != 0 {
                        let size = count_nodes(&node);
                        anchors.insert(anchor, (node.clone(), size));
                    }
                    Some((node, 0))
                }
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(frame)) => {
                    total_nodes += 1;
                    let anchor = frame.anchor;
                    let node = finish_map(frame);
                    if anchor != 0 {
                        let size = count_nodes(&node);
                        anchors.insert(anchor, (node.clone(), size));
                    }
                    Some((node, 0))
                }
                _ => None,
            },
        };
        if total_nodes > MAX_NODES {
            return Err(Diagnostic::error("yaml-syntax", "document is too large after expanding aliases".to_string())
                .at(file, mark.pos));
        }
        let Some((node, _)) = complete else { continue };
        push_value(&mut stack, &mut root, node, file)?;
    }
    Ok(root.unwrap_or_else(|| Node::new(Value::Null, Mark { file, pos: Pos { line: 1, col: 1 } })))
}

fn nesting_error(file: FileId, mark: Mark) -> Diagnostic {
    Diagnostic::error("yaml-syntax", format!("nesting deeper than {MAX_DEPTH} levels")).at(file, mark.pos)
}

fn count_nodes(node: &Node) -> usize {
    let mut n = 0;
    let mut todo = vec![node];
    while let Some(x) = todo.pop() {
        n += 1;
        match &x.value {
            Value::Seq(items) => todo.extend(items.iter()),
            Value::Map(m) => todo.extend(m.entries.iter().map(|(_, v)| v)),
            _ => {}
        }
    }
    n
}

fn tag_name(handle: &str, suffix: &str) -> String {
    format!("{handle}{suffix}")
}

fn is_core_tag(tag: &str) -> bool {
    tag.starts_with("!!") || tag.starts_with("tag:yaml.org,2002:")
}

fn push_value(stack: &mut [Frame], root: &mut Option<Node>, node: Node, file: FileId) -> Result<(), Diagnostic> {
    match stack.last_mut() {
        None => {
            if root.is_none() {
                *root = Some(node);
            }
        }
        Some(Frame::Seq { items, .. }) => items.push(node),
        Some(Frame::Map(frame)) => match frame.pending_key.take() {
            None => frame.pending_key = Some(node),
            Some(key) => {
                let name = match key.scalar_string() {
                    Some(s) => s,
                    None if key.is_null() => String::new(),
                    None => {
                        return Err(Diagnostic::error("wrong-type", "mapping keys must be scalars".to_string())
                            .at(file, key.mark.pos));
                    }
                };
                let is_merge = name == "<<" && matches!(key.value, Value::Str(_)) && key.tag.is_none();
                if is_merge {
                    match &node.value {
                        Value::Map(_) => frame.merges.push(node),
                        Value::Seq(items) => {
                            for item in items {
                                if item.as_map().is_none() {
                                    return Err(Diagnostic::error(
                                        "wrong-type",
                                        "a `<<` merge key takes a mapping or a list of mappings".to_string(),
                                    )
                                    .at(file, item.mark.pos));
                                }
                            }
                            frame.merges.extend(items.iter().cloned());
                        }
                        _ => {
                            return Err(Diagnostic::error(
                                "wrong-type",
                                "a `<<` merge key takes a mapping or a list of mappings".to_string(),
                            )
                            .at(file, node.mark.pos));
                        }
                    }
                } else {
                    frame.explicit.push((Key { name, mark: key.mark }, node));
                }
            }
        },
    }
    Ok(())
}

fn finish_map(frame: MapFrame) -> Node {
    let mut map = Map::default();
    // Merged mappings: earlier sources take precedence over later ones.
    for src in &frame.merges {
        if let Some(m) = src.as_map() {
            for (k, v) in &m.entries {
                if !map.contains(&k.name) {
                    map.entries.push((k.clone(), v.clone()));
                }
            }
        }
    }
    // Duplicate explicit keys: Psych keeps the last value, and so do we.
    for (k, v) in frame.explicit {
        map.insert(k, v);
    }
    Node { value: Value::Map(map), mark: frame.mark, tag: frame.tag, quoted: false }
}

/// A scalar's value, resolved the way Ruby's Psych (and so GitLab) does it.
/// `Err` for what GitLab's loader refuses: unquoted dates and times, which
/// Psych makes `Date`/`Time` objects that `YAML.safe_load` does not allow.
fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>, schema: Schema) -> Result<Value, String> {
    let core = tag.and_then(|t| t.strip_prefix("tag:yaml.org,2002:").or_else(|| t.strip_prefix("!!")));
    match core {
        Some("str") => return Ok(Value::Str(text.to_string())),
        Some("int") => {
            if let Some(i) = parse_int(text) {
                return Ok(Value::Int(i));
            }
        }
        Some("float") => {
            if let Some(f) = parse_float(text).or_else(|| parse_int(text).map(|i| i as f64)) {
                return Ok(Value::Float(f));
            }
        }
        Some("bool") => {
            if let Some(b) = parse_bool(text) {
                return Ok(Value::Bool(b));
            }
        }
        Some("null") => return Ok(Value::Null),
        _ => {}
    }
    if style != ScalarStyle::Plain || tag.is_some_and(|t| !is_core_tag(t)) {
        // Quoted and block scalars are strings; so are scalars with local
        // tags (`!reference`, `!secret`).
        return Ok(Value::Str(text.to_string()));
    }
    match schema {
        Schema::Psych11 => resolve_plain(text),
        Schema::Core12 => Ok(resolve_core12(text)),
    }
}

/// A plain scalar under the YAML 1.2 core schema.
fn resolve_core12(text: &str) -> Value {
    static INT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[-+]?[0-9]+$").expect("valid regex"));
    static FLOAT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid regex"));
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if INT.is_match(text)
        && let Ok(i) = text.parse::<i64>()
    {
        return Value::Int(i);
    }
    if let Some(h) = text.strip_prefix("0x")
        && let Ok(i) = i64::from_str_radix(h, 16)
    {
        return Value::Int(i);
    }
    if let Some(o) = text.strip_prefix("0o")
        && let Ok(i) = i64::from_str_radix(o, 8)
    {
        return Value::Int(i);
    }
    if FLOAT.is_match(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

/// Psych's `ScalarScanner#tokenize` for a plain scalar.
fn resolve_plain(text: &str) -> Result<Value, String> {
    static STRINGISH: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[^\d.:\-]?[\p{Alphabetic}_\s!@#$%\^&*(){}<>|/\\~;=]+").expect("valid regex"));
    static TIME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|\s+)\d{1,2}:\d\d:\d\d(?:\.\d*)?(?:\s*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$",
        )
        .expect("valid regex")
    });
    static DATE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d{4})-(1[012]|0\d|\d)-([12]\d|3[01]|0\d|\d)$").expect("valid regex"));
    static SEXAGESIMAL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9]){1,2}(\.[0-9_]*)?$").expect("valid regex"));
    if text.is_empty() {
        return Ok(Value::Null);
    }
    if STRINGISH.is_match(text) || text.contains('\n') {
        if text.chars().count() > 5 {
            return Ok(Value::Str(text.to_string()));
        }
        let lower = text.to_ascii_lowercase();
        return Ok(match lower.as_str() {
            "~" | "null" => Value::Null,
            _ => parse_bool(text).map(Value::Bool).unwrap_or_else(|| Value::Str(text.to_string())),
        });
    }
    if TIME.is_match(text) {
        return Err(format!("`{text}` is a timestamp to YAML, and GitLab refuses to load timestamps; quote it"));
    }
    if let Some(c) = DATE.captures(text) {
        let num = |i: usize| c[i].parse::<u32>().unwrap_or(0);
        let (y, m, d) = (num(1), num(2), num(3));
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
        let days = match m {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if (1..=12).contains(&m) && (1..=days).contains(&d) {
            return Err(format!("`{text}` is a date to YAML, and GitLab refuses to load dates; quote it"));
        }
        return Ok(Value::Str(text.to_string()));
    }
    if let Some(f) = parse_special_float(text) {
        return Ok(Value::Float(f));
    }
    if let Some(sym) = text.strip_prefix(':').filter(|s| !s.is_empty()) {
        // A Ruby symbol, which GitLab reads back as its name: `:x` is `x`.
        let quoted = sym.len() >= 2 && (sym.starts_with('"') || sym.starts_with('\'')) && sym.ends_with(&sym[..1]);
        let name = if quoted { &sym[1..sym.len() - 1] } else { sym };
        return Ok(Value::Str(name.strip_prefix(':').unwrap_or(name).to_string()));
    }
    if SEXAGESIMAL.is_match(text) {
        // YAML 1.1 base 60: `1:30` is 90, `1:30.5` is 90.5.
        let (sign, body) = match text.strip_prefix('-') {
            Some(rest) => (-1.0, rest),
            None => (1.0, text.strip_prefix('+').unwrap_or(text)),
        };
        let mut total = 0.0;
        for part in body.split(':') {
            total = total * 60.0 + part.replace('_', "").parse::<f64>().unwrap_or(0.0);
        }
        let total = sign * total;
        return Ok(if text.contains('.') { Value::Float(total) } else { Value::Int(total as i64) });
    }
    if let Some(f) = parse_float(text) {
        return Ok(Value::Float(f));
    }
    if let Some(i) = parse_int(text) {
        return Ok(Value::Int(i));
    }
    Ok(Value::Str(text.to_string()))
}

/// `yes`/`no`, `true`/`false`, `on`/`off`, in any case (YAML 1.1, as Psych).
fn parse_bool(t: &str) -> Option<bool> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => Some(true),
        "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Psych's integers: `0b1010`, `017` (octal), `0x1F`, and decimal with `_`
/// or `,` between digits (`1,000` is 1000).
fn parse_int(t: &str) -> Option<i64> {
    static INTEGER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^(?:[-+]?0b[0-1_,]+|[-+]?0[0-7_,]+|[-+]?(?:0|[1-9](?:[0-9]|,[0-9]|_[0-9])*)|[-+]?0x[0-9a-fA-F_,]+)$",
        )
        .expect("valid regex")
    });
    if !INTEGER.is_match(t) {
        return None;
    }
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let cleaned: String = body.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    let v = if let Some(h) = cleaned.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = cleaned.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if cleaned.len() > 1 && cleaned.starts_with('0') {
        i64::from_str_radix(&cleaned[1..], 8).ok()?
    } else {
        cleaned.parse::<i64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `.inf`, `-.inf`, `.nan` in Psych's spellings.
fn parse_special_float(t: &str) -> Option<f64> {
    match t.to_ascii_lowercase().as_str() {
        ".inf" | "+.inf" => Some(f64::INFINITY),
        "-.inf" => Some(f64::NEG_INFINITY),
        ".nan" => Some(f64::NAN),
        _ => None,
    }
}

/// Psych's base-10 floats: a `.` is required (`1e3` is a string), an
/// exponent needs its sign (`1.0e+3`), `_` and `,` may group digits.
fn parse_float(t: &str) -> Option<f64> {
    static FLOAT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[-+]?([0-9][0-9_,]*)?\.[0-9]*([eE][-+][0-9]+)?$").expect("valid regex"));
    if let Some(f) = parse_special_float(t) {
        return Some(f);
    }
    if !FLOAT.is_match(t) || matches!(t, "." | "+." | "-.") {
        return None;
    }
    let cleaned: String = t.chars().filter(|c| !matches!(c, '_' | ',')).collect();
    let cleaned = cleaned.replace(".e", "e").replace(".E", "E");
    let cleaned = cleaned.strip_suffix('.').unwrap_or(&cleaned);
    cleaned.parse::<f64>().ok()
}

/// Where the character at `offset` (in chars) of a scalar's value sits in
/// the source `text`, given the scalar's start position (its node's mark).
///
/// The value is aligned with the source from `start`: anchors and tags in
/// front, quotes, `\` escapes in double-quoted scalars, `''` in single-quoted
/// ones, line folding and block-scalar indentation are all skipped over. An
/// `offset` equal to the value's length gives the position just after its
/// last character. When the source does not line up (it always should), the
/// scalar's start is returned.
pub fn scalar_pos(text: &str, start: Pos, value: &str, offset: usize) -> Pos {
    let line_start: usize = text.split_inclusive('\n').take(start.line.saturating_sub(1) as usize).map(str::len).sum();
    let Some(rest) = text.get(line_start..) else { return start };
    // Source characters from the scalar's start, with their positions.
    let mut src = rest
        .chars()
        .scan(Pos { line: start.line, col: 1 }, |pos, c| {
            let here = *pos;
            if c == '\n' {
                *pos = Pos { line: pos.line + 1, col: 1 };
            } else {
                pos.col += 1;
            }
            Some((c, here))
        })
        .skip(start.col.saturating_sub(1) as usize)
        .peekable();
    // Anchors (`&a`) and tags (`!t`) in front of the scalar.
    while src.peek().is_some_and(|(c, _)| *c == '&' || *c == '!') {
        while src.peek().is_some_and(|(c, _)| !c.is_whitespace()) {
            src.next();
        }
        while src.peek().is_some_and(|(c, _)| c.is_whitespace()) {
            src.next();
        }
    }
    let double = src.peek().is_some_and(|(c, _)| *c == '"');
    if src.peek().is_some_and(|(c, _)| *c == '"' || *c == '\'') {
        src.next();
    }
    let mut after_last = src.peek().map(|(_, p)| *p).unwrap_or(start);
    for (i, want) in value.chars().enumerate().take(offset + 1) {
        let found = loop {
            let Some((c, pos)) = src.next() else { return start };
            if double && c == '\\' {
                if unescape(&mut src) == Some(want) {
                    break pos;
                }
                continue;
            }
            if c == want || (want == ' ' && c == '\n') {
                break pos;
            }
        };
        if i == offset {
            return found;
        }
        after_last = Pos { line: found.line, col: found.col + 1 };
    }
    after_last
}

/// The character a double-quoted escape (after its `\`) stands for; `None`
/// for an escaped line break, which stands for nothing.
fn unescape(src: &mut impl Iterator<Item = (char, Pos)>) -> Option<char> {
    let (e, _) = src.next()?;
    let hex_len = match e {
        'x' => 2,
        'u' => 4,
        'U' => 8,
        _ => {
            return match e {
                '0' => Some('\0'),
                'a' => Some('\x07'),
                'b' => Some('\x08'),
                't' => Some('\t'),
                'n' => Some('\n'),
                'v' => Some('\x0b'),
                'f' => Some('\x0c'),
                'r' => Some('\r'),
                'e' => Some('\x1b'),
                'N' => Some('\u{85}'),
                '_' => Some('\u{a0}'),
                'L' => Some('\u{2028}'),
                'P' => Some('\u{2029}'),
                '\n' => None,
                other => Some(other),
            };
        }
    };
    let hex: String = src.take(hex_len).map(|(h, _)| h).collect();
    u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Node {
        parse(FileId(0), s).expect("parses")
    }

    #[test]
    fn merge_keys_let_explicit_keys_win() {
        let n = p("a: &a {x: 1, y: 2}\nb:\n  y: 3\n  <<: *a\n");
        let b = n.as_map().unwrap().get("b").unwrap().as_map().unwrap();
        assert_eq!(b.get("x").unwrap().value, Value::Int(1));
        assert_eq!(b.get("y").unwrap().value, Value::Int(3));
    }

    #[test]
    fn yaml11_scalars() {
        let n = p("a: yes\nb: '1'\nc: 010\nd: 1.5\ne: ~\n");
        let m = n.as_map().unwrap();
        assert_eq!(m.get("a").unwrap().value, Value::Bool(true));
        assert_eq!(m.get("b").unwrap().value, Value::Str("1".into()));
        assert_eq!(m.get("c").unwrap().value, Value::Int(8));
        assert_eq!(m.get("d").unwrap().value, Value::Float(1.5));
        assert_eq!(m.get("e").unwrap().value, Value::Null);
    }

    #[test]
    fn plain_scalars_resolve_like_psych() {
        let n = p(concat!(
            "a: 1e3\nb: 1.0e+3\nc: 1,000\nd: 0o17\ne: 08\nf: 1:30\ng: yEs\nh: NuLl\ni: .5\n",
            "j: 2024-02-30\nk: :sym\nl: 0x1F\nm: 12e4567\nn: 3.\no: +.\n",
        ));
        let m = n.as_map().unwrap();
        let v = |k: &str| m.get(k).unwrap().value.clone();
        assert_eq!(v("a"), Value::Str("1e3".into()));
        assert_eq!(v("b"), Value::Float(1000.0));
        assert_eq!(v("c"), Value::Int(1000));
        assert_eq!(v("d"), Value::Str("0o17".into()));
        assert_eq!(v("e"), Value::Str("08".into()));
        assert_eq!(v("f"), Value::Int(90));
        assert_eq!(v("g"), Value::Bool(true));
        assert_eq!(v("h"), Value::Null);
        assert_eq!(v("i"), Value::Float(0.5));
        assert_eq!(v("j"), Value::Str("2024-02-30".into()));
        assert_eq!(v("k"), Value::Str("sym".into()));
        assert_eq!(v("l"), Value::Int(31));
        assert_eq!(v("m"), Value::Str("12e4567".into()));
        assert_eq!(v("n"), Value::Float(3.0));
        assert_eq!(v("o"), Value::Str("+.".into()));
        // GitLab's loader refuses dates and times; quoted they are strings.
        let err = parse(FileId(0), "x: 1\nd: 2024-02-29\n").unwrap_err();
        assert_eq!((err.pos.line, err.pos.col), (2, 4));
        assert!(parse(FileId(0), "t: 2001-12-14 21:59:43.10 -5\n").is_err());
        assert_eq!(p("d: '2024-02-29'").as_map().unwrap().get("d").unwrap().value, Value::Str("2024-02-29".into()));
        // Explicit core tags.
        let t = p("a: !!int '12'\nb: !!str 12\nc: !!float 1\n");
        let t = t.as_map().unwrap();
        assert_eq!(t.get("a").unwrap().value, Value::Int(12));
        assert_eq!(t.get("b").unwrap().value, Value::Str("12".into()));
        assert_eq!(t.get("c").unwrap().value, Value::Float(1.0));
    }

    #[test]
    fn reference_tags_are_kept() {
        let n = p("a: !reference [.x, script]\n");
        let a = n.as_map().unwrap().get("a").unwrap();
        assert_eq!(a.tag.as_deref(), Some("!reference"));
        assert_eq!(a.as_seq().unwrap().len(), 2);
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("a:\n  b: 1\n");
        let (k, _) = n.as_map().unwrap().get("a").unwrap().as_map().unwrap().get_entry("b").unwrap();
        assert_eq!((k.mark.pos.line, k.mark.pos.col), (2, 3));
    }

    #[test]
    fn alias_bomb_is_rejected() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        assert!(parse(FileId(0), &s).is_err());
    }

    fn at(text: &str, value: &str, offset: usize) -> (u32, u32) {
        let n = p(text);
        let v = n.as_map().unwrap().get("k").unwrap();
        assert_eq!(v.scalar_string().as_deref(), Some(value), "value of {text:?}");
        let pos = scalar_pos(text, v.mark.pos, value, offset);
        (pos.line, pos.col)
    }

    #[test]
    fn scalar_positions_follow_the_source() {
        // Plain, single- and double-quoted, with escapes.
        assert_eq!(at("k: $A == b\n", "$A == b", 6), (1, 10));
        assert_eq!(at("k: '$A == ''b'''\n", "$A == 'b'", 7), (1, 13));
        assert_eq!(at(r#"k: "$A == \"x\" || b""#, r#"$A == "x" || b"#, 13), (1, 20));
        assert_eq!(at(r#"k: "\x41 b""#, "A b", 2), (1, 10));
        // The end of the value: just after its last character.
        assert_eq!(at("k: '$A =='\n", "$A ==", 5), (1, 10));
        // Folded and literal block scalars, and a multi-line plain scalar.
        assert_eq!(at("k: >-\n    $A &&\n    $B ==\n", "$A && $B ==", 6), (3, 5));
        assert_eq!(at("k: >-\n    $A &&\n    $B ==\n", "$A && $B ==", 11), (3, 10));
        assert_eq!(at("k: |\n  a\n  b\n", "a\nb\n", 2), (3, 3));
        assert_eq!(at("k: a\n  b c\n", "a b c", 4), (2, 5));
        // Anchors and tags in front; flow collections.
        assert_eq!(at("k: &x !!str 'ab'\n", "ab", 1), (1, 15));
        assert_eq!(at("x: [1, {k: \"$A = b\"}]\nk: ' $A'\n", " $A", 1), (2, 6));
    }
}
