//! A YAML document tree that remembers where every node came from.
//!
//! Built from `saphyr-parser` events. Anchors and aliases are resolved here,
//! `<<` merge keys are applied here (explicit keys win over merged ones, as in
//! YAML 1.1), and local tags such as `!reference` are kept on the node so the
//! front ends can interpret them. Scalars are resolved with the YAML 1.1 core
//! rules that Ruby's Psych (and so GitLab) uses: `yes`/`no`/`on`/`off` are
//! booleans, quoted scalars are always strings.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;

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
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut total_nodes: usize = 0;
    let mut docs_seen = 0usize;
    let mut root: Option<Node> = None;

    let mark_of = |span: &Span| Mark {
        file,
        pos: Pos { line: span.start.line() as u32, col: span.start.col() as u32 + 1 },
    };

    loop {
        let Some(ev) = parser.next_event() else { break };
        let (event, span) = match ev {
            Ok(x) => x,
            Err(e) => {
                let m = e.marker();
                return Err(Diagnostic::error(
                    "yaml-syntax",
                    format!("YAML syntax error: {}", e.info()),
                )
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
                    return Err(Diagnostic::error(
                        "yaml-syntax",
                        "alias refers to an unknown anchor".to_string(),
                    )
                    .at(file, mark.pos));
                }
            },
            Event::Scalar(text, style, anchor, tag) => {
                total_nodes += 1;
                let tag = tag.map(|t| tag_name(&t.handle, &t.suffix));
                let value = resolve_scalar(&text, style, tag.as_deref());
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
            return Err(Diagnostic::error(
                "yaml-syntax",
                "document is too large after expanding aliases".to_string(),
            )
            .at(file, mark.pos));
        }
        let Some((node, _)) = complete else { continue };
        push_value(&mut stack, &mut root, node, file)?;
    }
    Ok(root.unwrap_or_else(|| Node::new(Value::Null, Mark { file, pos: Pos { line: 1, col: 1 } })))
}

fn nesting_error(file: FileId, mark: Mark) -> Diagnostic {
    Diagnostic::error("yaml-syntax", format!("nesting deeper than {MAX_DEPTH} levels"))
        .at(file, mark.pos)
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

fn push_value(
    stack: &mut [Frame],
    root: &mut Option<Node>,
    node: Node,
    file: FileId,
) -> Result<(), Diagnostic> {
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
                        return Err(Diagnostic::error(
                            "wrong-type",
                            "mapping keys must be scalars".to_string(),
                        )
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
                                        "a `<<` merge key takes a mapping or a list of mappings"
                                            .to_string(),
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

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("!!str") | Some("tag:yaml.org,2002:str") => return Value::Str(text.to_string()),
        Some("!!int") => {
            if let Some(i) = parse_int(text) {
                return Value::Int(i);
            }
        }
        Some("!!float") => {
            if let Ok(f) = text.parse::<f64>() {
                return Value::Float(f);
            }
        }
        Some("!!bool") => {
            if let Some(b) = parse_bool(text) {
                return Value::Bool(b);
            }
        }
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    if tag.is_some_and(|t| !is_core_tag(t)) {
        // Local tags (`!reference`, `!secret`) keep their scalar as text.
        return Value::Str(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = parse_bool(text) {
        return Value::Bool(b);
    }
    if let Some(i) = parse_int(text) {
        return Value::Int(i);
    }
    if let Some(f) = parse_float(text) {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

fn parse_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "false" | "False" | "FALSE" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty() {
        return None;
    }
    let cleaned: String = body.chars().filter(|c| *c != '_').collect();
    if cleaned.is_empty() || body.starts_with('_') {
        return None;
    }
    let v = if let Some(h) = cleaned.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = cleaned.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = cleaned.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if cleaned.len() > 1 && cleaned.starts_with('0') {
        // YAML 1.1 octal, as Psych reads it.
        i64::from_str_radix(&cleaned[1..], 8).ok()?
    } else if cleaned.bytes().all(|b| b.is_ascii_digit()) {
        cleaned.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn parse_float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let bytes = t.as_bytes();
    let first_ok = bytes.first().is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'));
    let has_digit = bytes.iter().any(|b| b.is_ascii_digit());
    let all_ok = bytes.iter().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'_'));
    if !(first_ok && has_digit && all_ok) {
        return None;
    }
    let cleaned: String = t.chars().filter(|c| *c != '_').collect();
    cleaned.parse::<f64>().ok()
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
}
