//! Stage two of the GitLab front end: typed, validated job definitions.
//!
//! Every keyword is checked for type and allowed values here, and every
//! problem becomes a diagnostic with the node's position. Nothing here depends
//! on the run context (branch, variables); that is `build`'s job.

use super::expr::{self, Expr};
use crate::diag::{Diagnostic, SourceMap, did_you_mean};
use crate::model::{AllowFailure, Artifacts, ArtifactsWhen, CacheKey, CachePolicy, CacheWhen, Retry};
use crate::paths;
use crate::vars::RawVar;
use crate::yaml::{Map, Mark, Node, Value};

pub(crate) const JOB_KEYS: &[&str] = &[
    "after_script",
    "allow_failure",
    "artifacts",
    "before_script",
    "cache",
    "coverage",
    "dast_configuration",
    "dependencies",
    "environment",
    "extends",
    "hooks",
    "identity",
    "id_tokens",
    "image",
    "inherit",
    "interruptible",
    "manual_confirmation",
    "needs",
    "only",
    "except",
    "pages",
    "parallel",
    "publish",
    "release",
    "resource_group",
    "retry",
    "rules",
    "run",
    "script",
    "secrets",
    "services",
    "shipway",
    "stage",
    "start_in",
    "tags",
    "timeout",
    "trigger",
    "variables",
    "when",
];

pub(crate) const DEFAULT_KEYS: &[&str] = &[
    "after_script",
    "artifacts",
    "before_script",
    "cache",
    "hooks",
    "id_tokens",
    "identity",
    "image",
    "interruptible",
    "retry",
    "services",
    "shipway",
    "tags",
    "timeout",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WhenDef {
    OnSuccess,
    OnFailure,
    Always,
    Manual,
    Delayed,
    Never,
}

#[derive(Clone, Debug)]
pub(crate) struct ChangesDef {
    pub paths: Vec<String>,
    pub compare_to: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct RuleDef {
    pub if_: Option<Expr>,
    pub changes: Option<ChangesDef>,
    pub exists: Option<Vec<String>>,
    pub when: Option<WhenDef>,
    pub allow_failure: Option<AllowFailure>,
    pub variables: Vec<RawVar>,
    pub needs: Option<Vec<NeedDef>>,
    pub start_in: Option<u64>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct OnlyDef {
    pub refs: Vec<String>,
    pub variables: Vec<Expr>,
    pub changes: Option<ChangesDef>,
}

#[derive(Clone, Debug)]
pub(crate) struct NeedDef {
    pub job: String,
    pub mark: Mark,
    pub artifacts: bool,
    pub optional: bool,
    /// `needs:parallel:matrix`: the instances wanted, as key/value lists.
    pub matrix: Option<Vec<Vec<(String, String)>>>,
}

#[derive(Clone, Debug)]
pub(crate) enum ParallelDef {
    Count(u32),
    Matrix(Vec<MatrixRow>),
}

/// A cache as written; `build` expands its variables into the model's `Cache`.
pub(crate) type CacheDef = crate::model::Cache;

#[derive(Clone, Debug)]
pub(crate) struct EnvironmentDef {
    pub name: String,
    pub url: Option<String>,
    pub action: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) enum Inherit {
    #[default]
    All,
    None,
    Only(Vec<String>),
}

impl Inherit {
    pub(crate) fn allows(&self, key: &str) -> bool {
        match self {
            Inherit::All => true,
            Inherit::None => false,
            Inherit::Only(list) => list.iter().any(|k| k == key),
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct JobDef {
    pub name: String,
    pub mark: Mark,
    pub stage: Option<(String, Mark)>,
    pub before_script: Vec<String>,
    pub script: Vec<String>,
    pub after_script: Vec<String>,
    pub variables: Vec<RawVar>,
    pub when: Option<WhenDef>,
    pub start_in: Option<u64>,
    pub allow_failure: Option<AllowFailure>,
    pub rules: Option<Vec<RuleDef>>,
    pub only: Option<OnlyDef>,
    pub except: Option<OnlyDef>,
    pub needs: Option<Vec<NeedDef>>,
    pub dependencies: Option<Vec<(String, Mark)>>,
    pub parallel: Option<ParallelDef>,
    pub artifacts: Option<Artifacts>,
    pub caches: Vec<CacheDef>,
    pub timeout: Option<u64>,
    pub retry: Retry,
    pub environment: Option<EnvironmentDef>,
    pub coverage: Option<String>,
    pub image: Option<String>,
    pub inherit_variables: Inherit,
    pub trigger: bool,
    /// `false` with `shipway: {cache: false}`: never skip the job as unchanged.
    pub skippable: bool,
}

/// A little typed reader over YAML nodes that records problems.
pub(crate) struct Reader<'a> {
    pub diags: &'a mut Vec<Diagnostic>,
    /// The source files, to point inside scalars (expressions).
    pub sources: &'a SourceMap,
}

/// Where a `variables:` mapping is, which decides the forms it may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarScope {
    /// Top-level `variables:`.
    Global,
    /// A job's `variables:`.
    Job,
    /// `rules:variables` and `workflow:rules:variables`.
    Rule,
}

impl Reader<'_> {
    pub(crate) fn wrong(&mut self, node: &Node, what: &str, expected: &str) {
        self.diags.push(
            Diagnostic::error("wrong-type", format!("`{what}` must be {expected}, found {}", node.type_name()))
                .at_mark(node.mark),
        );
    }

    pub(crate) fn invalid(&mut self, node: &Node, message: String) {
        self.diags.push(Diagnostic::error("invalid-value", message).at_mark(node.mark));
    }

    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            Value::Int(_) | Value::Float(_) => node.scalar_string(),
            _ => {
                self.wrong(node, what, "a string");
                None
            }
        }
    }

    pub(crate) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            Value::Bool(b) => Some(*b),
            _ => {
                self.wrong(node, what, "a boolean");
                None
            }
        }
    }

    pub(crate) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n Map> {
        match &node.value {
            Value::Map(m) => Some(m),
            _ => {
                self.wrong(node, what, "a mapping");
                None
            }
        }
    }

    /// A string or a list of strings.
    pub(crate) fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<(String, Mark)>> {
        match &node.value {
            Value::Str(_) | Value::Int(_) | Value::Float(_) => Some(vec![(node.scalar_string()?, node.mark)]),
            Value::Seq(items) => {
                let mut out = Vec::new();
                for i in items {
                    match i.scalar_string() {
                        Some(s) if !matches!(i.value, Value::Bool(_)) => out.push((s, i.mark)),
                        _ => self.wrong(i, what, "a list of strings"),
                    }
                }
                Some(out)
            }
            _ => {
                self.wrong(node, what, "a string or a list of strings");
                None
            }
        }
    }

    /// A script: a string or a (nested, flattened) list of strings.
    pub(crate) fn script(&mut self, node: &Node, what: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        if self.script_into(node, what, 0, &mut out) { Some(out) } else { None }
    }

    fn script_into(&mut self, node: &Node, what: &str, depth: usize, out: &mut Vec<String>) -> bool {
        match &node.value {
            Value::Str(s) => {
                out.push(s.clone());
                true
            }
            Value::Seq(items) if depth < 10 => {
                let mut ok = true;
                for i in items {
                    ok &= self.script_into(i, what, depth + 1, out);
                }
                ok
            }
            _ if is_failed_reference(node) => false,
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                self.diags.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!("`{what}` lines must be strings, found {}", node.type_name()),
                    )
                    .at_mark(node.mark)
                    .help("quote the line"),
                );
                false
            }
            _ => {
                self.wrong(node, what, "a string or a list of strings (nested at most 10 deep)");
                false
            }
        }
    }

    pub(crate) fn unknown_keys(&mut self, map: &Map, allowed: &[&str], context: &str) {
        for (k, _) in &map.entries {
            if !allowed.contains(&k.name.as_str()) {
                let mut d =
                    Diagnostic::error("unknown-key", format!("unknown key `{}` in {context}", k.name)).at_mark(k.mark);
                if k.name == "type" && allowed.contains(&"stage") {
                    d = d.help("`type` was removed in GitLab 15.0; use `stage`");
                } else if let Some(s) = did_you_mean(&k.name, allowed.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
            }
        }
    }

    /// A `variables:` mapping. Values must be strings or integers (floats,
    /// booleans and null are YAML's, not GitLab's); the `value:` mapping form
    /// takes `value` and `expand` everywhere, `description` and `options`
    /// only at the top level, and is not allowed in `rules:variables`.
    pub(crate) fn variables(&mut self, node: &Node, what: &str, scope: VarScope) -> Vec<RawVar> {
        let Some(map) = self.map(node, what) else { return vec![] };
        let mut out = Vec::new();
        for (k, v) in &map.entries {
            // GitLab takes any name here (its check is on the YAML type
            // only); an environment cannot hold `=` or NUL in one, though.
            if k.name.is_empty() || k.name.contains(['=', '\0']) {
                self.diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        format!("`{}` cannot be a variable name", k.name.escape_debug()),
                    )
                    .at_mark(k.mark),
                );
                continue;
            }
            match &v.value {
                Value::Map(m) if scope != VarScope::Rule => {
                    let allowed: &[&str] = match scope {
                        VarScope::Global => &["value", "description", "expand", "options"],
                        _ => &["value", "expand"],
                    };
                    self.unknown_keys(m, allowed, &format!("variable `{}`", k.name));
                    let value = match m.get("value") {
                        Some(n) => self.variable_value(&k.name, n).unwrap_or_default(),
                        None => String::new(),
                    };
                    let expand = match m.get("expand") {
                        Some(n) => self.boolean(n, &format!("{what}:{}:expand", k.name)).unwrap_or(true),
                        None => true,
                    };
                    if let Some(opts) = m.get("options").filter(|_| scope == VarScope::Global)
                        && let Some(opts) = self.strings(opts, &format!("{what}:{}:options", k.name))
                        && !opts.iter().any(|(o, _)| *o == value)
                    {
                        self.invalid(
                            m.get("value").unwrap_or(v),
                            format!("variable `{}`: the value `{value}` is not one of its `options`", k.name),
                        );
                    }
                    out.push(RawVar { key: k.name.clone(), value, expand });
                }
                Value::Map(_) => self.diags.push(
                    Diagnostic::error(
                        "wrong-type",
                        format!("`{what}:{}` must be a string or an integer, found mapping", k.name),
                    )
                    .at_mark(v.mark)
                    .help("rules take plain values, not the `value:` form"),
                ),
                _ => {
                    if let Some(value) = self.variable_value(&k.name, v) {
                        out.push(RawVar { key: k.name.clone(), value, expand: true });
                    }
                }
            }
        }
        out
    }

    /// A scalar as written in the source (`no`, `3.10`), for advice on
    /// quoting it; YAML has already turned it into a boolean or a number.
    pub(crate) fn raw_token(&self, node: &Node) -> String {
        let line = self.sources.line(node.mark.file, node.mark.pos.line).unwrap_or("");
        let token: String = line
            .chars()
            .skip(node.mark.pos.col.saturating_sub(1) as usize)
            .take_while(|c| !matches!(c, ' ' | '\t' | ',' | ']' | '}' | '#'))
            .collect();
        if token.is_empty() { node.scalar_string().unwrap_or_default() } else { token }
    }

    /// A variable's value: a string or an integer, as GitLab accepts them.
    fn variable_value(&mut self, name: &str, v: &Node) -> Option<String> {
        let help = match &v.value {
            Value::Str(s) => return Some(s.clone()),
            Value::Int(_) => return v.scalar_string(),
            Value::Bool(_) | Value::Float(_) => format!("quote the value: \"{}\"", self.raw_token(v)),
            Value::Null => "write \"\" for an empty value".to_string(),
            Value::Seq(_) | Value::Map(_) => "a variable holds one string".to_string(),
        };
        self.diags.push(
            Diagnostic::error(
                "wrong-type",
                format!("variable `{name}` must be a string or an integer, found {}", v.type_name()),
            )
            .at_mark(v.mark)
            .help(help),
        );
        None
    }

    pub(crate) fn expression(&mut self, node: &Node, src: &str) -> Option<Expr> {
        match expr::parse(src) {
            Ok(e) => Some(e),
            Err(e) => {
                // Point at the bad token inside the scalar, wherever its
                // quotes, escapes or line breaks put it.
                let pos = crate::yaml::scalar_pos(self.sources.text(node.mark.file), node.mark.pos, src, e.offset);
                self.diags.push(
                    Diagnostic::error("bad-expression", format!("invalid expression `{src}`: {}", e.message))
                        .at(node.mark.file, pos),
                );
                None
            }
        }
    }

    /// A `when:` value among `allowed`.
    pub(crate) fn when(&mut self, node: &Node, what: &str, allowed: &[&str]) -> Option<WhenDef> {
        let s = self.string(node, what)?;
        let w = match s.as_str() {
            "on_success" => WhenDef::OnSuccess,
            "on_failure" => WhenDef::OnFailure,
            "always" => WhenDef::Always,
            "manual" => WhenDef::Manual,
            "delayed" => WhenDef::Delayed,
            // `never`, or anything else, which `allowed` rejects just below.
            _ => WhenDef::Never,
        };
        if !allowed.contains(&s.as_str()) {
            let mut d = Diagnostic::error(
                "invalid-value",
                format!("`{what}` must be one of {}; found `{s}`", allowed.join(", ")),
            )
            .at_mark(node.mark);
            if s == "never" {
                d = d.help("`when: never` only works in `rules` and `workflow:rules`");
            } else if let Some(x) = did_you_mean(&s, allowed.iter().copied()) {
                d = d.help(format!("did you mean `{x}`?"));
            }
            self.diags.push(d);
            return None;
        }
        Some(w)
    }

    pub(crate) fn allow_failure(&mut self, node: &Node, what: &str) -> Option<AllowFailure> {
        match &node.value {
            Value::Bool(b) => Some(AllowFailure { allowed: *b, exit_codes: vec![] }),
            Value::Map(m) => {
                self.unknown_keys(m, &["exit_codes"], "`allow_failure`");
                let codes =
                    m.get("exit_codes").map(|n| self.ints(n, &format!("{what}:exit_codes"))).unwrap_or_default();
                Some(AllowFailure { allowed: true, exit_codes: codes })
            }
            _ => {
                self.wrong(node, what, "a boolean or a mapping with `exit_codes`");
                None
            }
        }
    }

    pub(crate) fn ints(&mut self, node: &Node, what: &str) -> Vec<i32> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(s) => s.iter().collect(),
            _ => vec![node],
        };
        let mut out = Vec::new();
        for i in items {
            match i.value {
                Value::Int(n) if (0..=255).contains(&n) => out.push(n as i32),
                Value::Int(_) => self.invalid(i, format!("`{what}` entries must be exit codes from 0 to 255")),
                _ => self.wrong(i, what, "an integer or a list of integers"),
            }
        }
        out
    }

    /// A duration: a string such as `30 minutes` (GitLab does not take bare
    /// numbers), at most `limit` seconds when given.
    pub(crate) fn duration(&mut self, node: &Node, what: &str, limit: Option<(u64, &str)>) -> Option<u64> {
        let s = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(n) => {
                self.diags.push(
                    Diagnostic::error("wrong-type", format!("`{what}` must be a duration string, found integer"))
                        .at_mark(node.mark)
                        .help(format!("write it with a unit, e.g. `{what}: {n} seconds`")),
                );
                return None;
            }
            _ => {
                self.wrong(node, what, "a duration string such as `30 minutes`");
                return None;
            }
        };
        match parse_duration(&s) {
            Some(d) => match limit {
                Some((max, text)) if d > max => {
                    self.invalid(node, format!("`{what}` must not exceed {text}; found `{s}`"));
                    None
                }
                _ => Some(d),
            },
            None => {
                self.invalid(
                    node,
                    format!("`{what}`: cannot read `{s}` as a duration (e.g. `30m`, `1h 30m`, `2 hours`)"),
                );
                None
            }
        }
    }
}

/// `start_in` may delay a job by one week at most.
const START_IN_LIMIT: (u64, &str) = (7 * 86_400, "1 week");
/// A job timeout may be one month at most (GitLab's 1.month: 30.436875 days).
const TIMEOUT_LIMIT: (u64, &str) = (2_629_746, "1 month");

/// The items of a list with nested lists spliced in, as GitLab flattens
/// `rules`, `needs` and `cache` lists (where `!reference` puts lists inside
/// lists). Nesting deeper than GitLab's 10 levels is left for the type check.
pub(crate) fn flatten(items: &[Node]) -> impl Iterator<Item = &Node> {
    fn walk<'n>(items: &'n [Node], depth: usize, out: &mut Vec<&'n Node>) {
        for i in items {
            match &i.value {
                Value::Seq(inner) if depth < 10 => walk(inner, depth + 1, out),
                _ if is_failed_reference(i) => {}
                _ => out.push(i),
            }
        }
    }
    let mut out = Vec::new();
    walk(items, 0, &mut out);
    out.into_iter()
}

/// Whether `node` is what a `!reference` that could not be resolved left
/// behind (already reported, so not to be reported again).
pub(crate) fn is_failed_reference(node: &Node) -> bool {
    node.is_null() && node.tag.as_deref() == Some("!reference")
}

/// GitLab-style durations: `3600`, `30s`, `10 min`, `1h 30m`, `2 hours`, `1 day`.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    let mut any = false;
    while !rest.trim_start().is_empty() {
        rest = rest.trim_start();
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = rest[unit_len..].trim_start_matches([',', ' ']);
        if rest.starts_with("and ") {
            rest = &rest[4..];
        }
        let mult: f64 = match unit.as_str() {
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            "w" | "wk" | "week" | "weeks" => 604800.0,
            _ => return None,
        };
        total = total.checked_add((n * mult) as u64)?;
        any = true;
    }
    any.then_some(total)
}

/// `when:` values a job may set itself (`never` only works in rules).
pub(crate) const JOB_WHEN: &[&str] = &["on_success", "on_failure", "always", "manual", "delayed"];
const RULE_WHEN: &[&str] = &["on_success", "on_failure", "always", "never", "manual", "delayed"];
const WORKFLOW_WHEN: &[&str] = &["always", "never"];

pub(crate) fn parse_rule(r: &mut Reader<'_>, node: &Node, what: &str, job_rules: bool) -> Option<RuleDef> {
    let map = r.map(node, what)?;
    let allowed: &[&str] = if job_rules {
        &["if", "changes", "exists", "when", "allow_failure", "variables", "needs", "start_in", "interruptible"]
    } else {
        // GitLab accepts (and ignores) start_in, allow_failure and needs here.
        &["if", "changes", "exists", "when", "start_in", "allow_failure", "variables", "needs", "auto_cancel"]
    };
    r.unknown_keys(map, allowed, &format!("`{what}`"));
    let mut rule = RuleDef {
        if_: None,
        changes: None,
        exists: None,
        when: None,
        allow_failure: None,
        variables: vec![],
        needs: None,
        start_in: None,
    };
    let mut valid = true;
    if let Some(n) = map.get("if") {
        rule.if_ = r.string(n, &format!("{what}:if")).and_then(|src| r.expression(n, &src));
        valid &= rule.if_.is_some();
    }
    if let Some(n) = map.get("changes") {
        rule.changes = parse_changes(r, n, &format!("{what}:changes"));
    }
    if let Some(n) = map.get("exists") {
        rule.exists = match &n.value {
            Value::Map(m) => {
                r.unknown_keys(m, &["paths", "project", "ref"], "`rules:exists`");
                if m.contains("project") {
                    r.diags.push(
                        Diagnostic::error("unsupported", "unsupported: `rules:exists:project` needs a GitLab server")
                            .at_mark(n.mark),
                    );
                }
                m.get("paths")
                    .and_then(|p| r.strings(p, &format!("{what}:exists:paths")))
                    .map(|v| v.into_iter().map(|x| x.0).collect())
            }
            _ => r.strings(n, &format!("{what}:exists")).map(|v| v.into_iter().map(|x| x.0).collect()),
        };
    }
    if let Some(n) = map.get("when") {
        rule.when = r.when(n, &format!("{what}:when"), if job_rules { RULE_WHEN } else { WORKFLOW_WHEN });
    }
    if let Some(n) = map.get("allow_failure") {
        // Only a boolean here: `exit_codes` belong to the job's `allow_failure`.
        rule.allow_failure =
            r.boolean(n, &format!("{what}:allow_failure")).map(|allowed| AllowFailure { allowed, exit_codes: vec![] });
    }
    if let Some(n) = map.get("variables") {
        rule.variables = r.variables(n, &format!("{what}:variables"), VarScope::Rule);
    }
    if let Some(n) = map.get("needs") {
        rule.needs = parse_needs(r, n, &format!("{what}:needs"));
    }
    if job_rules {
        match (map.get_entry("start_in"), rule.when) {
            (Some((_, n)), Some(WhenDef::Delayed)) => {
                rule.start_in = r.duration(n, &format!("{what}:start_in"), Some(START_IN_LIMIT))
            }
            (Some((k, _)), _) => r.diags.push(
                Diagnostic::error(
                    "invalid-value",
                    format!("`{what}:start_in` only works with `when: delayed` in the same rule"),
                )
                .at_mark(k.mark),
            ),
            (None, Some(WhenDef::Delayed)) => {
                if let Some(n) = map.get("when") {
                    r.invalid(n, format!("`{what}:when: delayed` needs `start_in` in the same rule"));
                }
            }
            (None, _) => {}
        }
    }
    valid.then_some(rule)
}

pub(crate) fn parse_changes(r: &mut Reader<'_>, n: &Node, what: &str) -> Option<ChangesDef> {
    match &n.value {
        Value::Map(m) => {
            r.unknown_keys(m, &["paths", "compare_to"], &format!("`{what}`"));
            let paths = m.get("paths").and_then(|p| r.strings(p, &format!("{what}:paths"))).unwrap_or_default();
            let compare_to = m.get("compare_to").and_then(|c| r.string(c, &format!("{what}:compare_to")));
            Some(ChangesDef { paths: paths.into_iter().map(|x| x.0).collect(), compare_to })
        }
        _ => r.strings(n, what).map(|v| ChangesDef { paths: v.into_iter().map(|x| x.0).collect(), compare_to: None }),
    }
}

pub(crate) fn parse_needs(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<Vec<NeedDef>> {
    let items = match &node.value {
        Value::Seq(items) => items,
        Value::Null => return Some(vec![]),
        _ => {
            r.wrong(node, what, "a list");
            return None;
        }
    };
    let mut out = Vec::new();
    for item in flatten(items) {
        match &item.value {
            Value::Str(s) => {
                out.push(NeedDef { job: s.clone(), mark: item.mark, artifacts: true, optional: false, matrix: None })
            }
            Value::Map(m) => {
                r.unknown_keys(
                    m,
                    &["job", "artifacts", "optional", "parallel", "pipeline", "project", "ref"],
                    &format!("`{what}`"),
                );
                if m.contains("pipeline") || m.contains("project") {
                    r.diags.push(
                        Diagnostic::error(
                            "unsupported",
                            "unsupported: cross-pipeline and cross-project `needs` need a GitLab server",
                        )
                        .at_mark(item.mark),
                    );
                    continue;
                }
                let Some(job) = m.get("job").and_then(|j| r.string(j, &format!("{what}:job"))) else {
                    if !m.contains("job") {
                        r.diags.push(
                            Diagnostic::error("wrong-type", format!("`{what}` entries need a `job`"))
                                .at_mark(item.mark),
                        );
                    }
                    continue;
                };
                let artifacts =
                    m.get("artifacts").and_then(|a| r.boolean(a, &format!("{what}:artifacts"))).unwrap_or(true);
                let optional =
                    m.get("optional").and_then(|a| r.boolean(a, &format!("{what}:optional"))).unwrap_or(false);
                let matrix = match m.get("parallel") {
                    None => None,
                    Some(p) => {
                        let pm = r.map(p, &format!("{what}:parallel"));
                        match pm.and_then(|pm| pm.get("matrix")) {
                            Some(mx) => parse_matrix(r, mx, &format!("{what}:parallel:matrix"))
                                .map(|rows| rows.into_iter().flat_map(expand_matrix_row).collect::<Vec<_>>()),
                            None => None,
                        }
                    }
                };
                let mark = m.get("job").map(|j| j.mark).unwrap_or(item.mark);
                out.push(NeedDef { job, mark, artifacts, optional, matrix });
            }
            _ => r.wrong(item, what, "a list of job names or mappings"),
        }
    }
    Some(out)
}

/// One `parallel:matrix` row: variable names and their values.
pub(crate) type MatrixRow = Vec<(String, Vec<String>)>;

/// GitLab makes at most this many jobs from one `parallel:matrix`.
const MAX_MATRIX_JOBS: usize = 200;

pub(crate) fn parse_matrix(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<Vec<MatrixRow>> {
    let Some(rows) = node.as_seq() else {
        r.wrong(node, what, "a list of mappings");
        return None;
    };
    let mut out = Vec::new();
    let mut total: usize = 0;
    for row in rows {
        let Some(m) = r.map(row, what) else { continue };
        if m.entries.is_empty() {
            r.invalid(row, format!("`{what}` rows need at least one variable"));
            continue;
        }
        let mut vars = Vec::new();
        for (k, v) in &m.entries {
            let items: Vec<&Node> = match &v.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![v],
            };
            if items.is_empty() {
                r.invalid(v, format!("`{what}:{}` needs at least one value", k.name));
                continue;
            }
            let mut vals = Vec::new();
            for i in items {
                match &i.value {
                    Value::Str(s) if !s.is_empty() => vals.push(s.clone()),
                    Value::Int(_) => vals.extend(i.scalar_string()),
                    Value::Str(_) => r.invalid(i, format!("`{what}:{}` values may not be empty", k.name)),
                    Value::Float(_) | Value::Bool(_) => {
                        let raw = r.raw_token(i);
                        r.diags.push(
                            Diagnostic::error(
                                "wrong-type",
                                format!(
                                    "`{what}:{}` values must be strings or integers, found {}",
                                    k.name,
                                    i.type_name()
                                ),
                            )
                            .at_mark(i.mark)
                            .help(format!("quote the value: \"{raw}\"")),
                        );
                    }
                    _ => r.wrong(i, &format!("{what}:{}", k.name), "a string or a list of strings"),
                }
            }
            vars.push((k.name.clone(), vals));
        }
        total = total.saturating_add(vars.iter().map(|(_, v)| v.len()).product());
        out.push(vars);
    }
    if total > MAX_MATRIX_JOBS {
        r.invalid(node, format!("`{what}` makes {total} jobs; GitLab allows at most {MAX_MATRIX_JOBS}"));
        return None;
    }
    Some(out)
}

/// The cartesian product of one matrix row, keys in written order.
pub(crate) fn expand_matrix_row(row: MatrixRow) -> Vec<Vec<(String, String)>> {
    let mut combos: Vec<Vec<(String, String)>> = vec![vec![]];
    for (k, vals) in row {
        let mut next = Vec::new();
        for c in &combos {
            for v in &vals {
                let mut c2 = c.clone();
                c2.push((k.clone(), v.clone()));
                next.push(c2);
            }
        }
        combos = next;
    }
    combos
}

fn parse_only(r: &mut Reader<'_>, node: &Node, what: &str) -> Option<OnlyDef> {
    let mut def = OnlyDef::default();
    match &node.value {
        Value::Seq(_) | Value::Str(_) => {
            def.refs = r.strings(node, what)?.into_iter().map(|x| x.0).collect();
        }
        Value::Map(m) => {
            r.unknown_keys(m, &["refs", "variables", "changes", "kubernetes"], &format!("`{what}`"));
            if let Some(n) = m.get("refs") {
                def.refs = r.strings(n, &format!("{what}:refs"))?.into_iter().map(|x| x.0).collect();
            }
            if let Some(n) = m.get("variables") {
                let what = format!("{what}:variables");
                match n.as_seq() {
                    Some(items) => {
                        for i in items {
                            match i.as_str() {
                                Some(src) => def.variables.extend(r.expression(i, src)),
                                None => r.wrong(i, &what, "a list of expressions"),
                            }
                        }
                    }
                    None => r.wrong(n, &what, "a list of expressions"),
                }
            }
            if let Some(n) = m.get("changes") {
                def.changes = parse_changes(r, n, &format!("{what}:changes"));
            }
            if m.contains("kubernetes") {
                r.diags.push(
                    Diagnostic::warning("unsupported", format!("`{what}:kubernetes` is ignored locally"))
                        .at_mark(node.mark),
                );
            }
        }
        _ => {
            r.wrong(node, what, "a list of refs or a mapping");
            return None;
        }
    }
    Some(def)
}

/// The report kinds `artifacts:reports` accepts; only `dotenv` and `junit`
/// mean something locally, the others are accepted and ignored.
const REPORT_KINDS: &[&str] = &[
    "accessibility",
    "annotations",
    "api_fuzzing",
    "browser_performance",
    "cluster_image_scanning",
    "codequality",
    "container_scanning",
    "coverage_fuzzing",
    "coverage_report",
    "cyclonedx",
    "dast",
    "dependency_scanning",
    "dotenv",
    "junit",
    "load_performance",
    "metrics",
    "requirements",
    "requirements_v2",
    "repository_xray",
    "sast",
    "secret_detection",
    "terraform",
];

fn parse_artifacts(r: &mut Reader<'_>, node: &Node) -> Option<Artifacts> {
    let m = r.map(node, "artifacts")?;
    r.unknown_keys(
        m,
        &["paths", "exclude", "expire_in", "expose_as", "name", "public", "access", "reports", "untracked", "when"],
        "`artifacts`",
    );
    let mut a = Artifacts::default();
    if let Some(n) = m.get("paths") {
        a.paths = workspace_paths(r, n, "artifacts:paths", "artifacts path");
    }
    if let Some(n) = m.get("exclude") {
        a.exclude = workspace_paths(r, n, "artifacts:exclude", "artifacts exclude path");
    }
    if let Some(n) = m.get("name") {
        a.name = r.string(n, "artifacts:name");
    }
    if let Some(n) = m.get("expire_in") {
        a.expire_in = match &n.value {
            Value::Str(e) => Some(e.clone()),
            _ => {
                r.wrong(n, "artifacts:expire_in", "a duration string such as `1 week`, or `never`");
                None
            }
        };
        if let Some(e) = &a.expire_in
            && e != "never"
            && parse_duration(e).is_none()
        {
            r.invalid(n, format!("`artifacts:expire_in`: cannot read `{e}` as a duration"));
        }
    }
    if let Some(n) = m.get("untracked") {
        a.untracked = r.boolean(n, "artifacts:untracked").unwrap_or(false);
    }
    if let Some(n) = m.get("when")
        && let Some(s) = r.string(n, "artifacts:when")
    {
        a.when = match s.as_str() {
            "on_success" => ArtifactsWhen::OnSuccess,
            "on_failure" => ArtifactsWhen::OnFailure,
            "always" => ArtifactsWhen::Always,
            _ => {
                r.invalid(n, format!("`artifacts:when` must be on_success, on_failure or always; found `{s}`"));
                ArtifactsWhen::OnSuccess
            }
        };
    }
    if let Some(n) = m.get("reports")
        && let Some(rm) = r.map(n, "artifacts:reports")
    {
        r.unknown_keys(rm, REPORT_KINDS, "`artifacts:reports`");
        for (k, v) in &rm.entries {
            if k.name == "coverage_report" {
                // `{coverage_format: cobertura, path: coverage.xml}`
                if let Some(cm) = r.map(v, "artifacts:reports:coverage_report") {
                    r.unknown_keys(cm, &["coverage_format", "path"], "`artifacts:reports:coverage_report`");
                }
                continue;
            }
            let what = format!("artifacts:reports:{}", k.name);
            let files: Vec<String> = match k.name.as_str() {
                "dotenv" | "junit" => workspace_paths(r, v, &what, &format!("{} report path", k.name)),
                _ => r.strings(v, &what).unwrap_or_default().into_iter().map(|x| x.0).collect(),
            };
            match k.name.as_str() {
                "dotenv" => a.dotenv = files,
                "junit" => a.junit = files,
                _ => {}
            }
        }
    }
    Some(a)
}

/// A string or a list of paths that must stay inside the job's workspace:
/// a literal path (or one under `$CI_PROJECT_DIR/`) that is absolute or
/// climbs out with `..` is an error (`label` names it in the message).
fn workspace_paths(r: &mut Reader<'_>, node: &Node, what: &str, label: &str) -> Vec<String> {
    let items = r.strings(node, what).unwrap_or_default();
    for (path, mark) in &items {
        if let Some(escape) = paths::gitlab_literal(path).and_then(paths::escape) {
            r.diags.push(paths::diagnostic(label, path, escape, *mark));
        }
    }
    items.into_iter().map(|x| x.0).collect()
}

/// `shipway:`, shipway's own job settings: `{cache: false}` opts the job
/// out of being skipped as unchanged. Returns whether the job is skippable.
fn parse_shipway(r: &mut Reader<'_>, node: &Node) -> bool {
    if is_failed_reference(node) {
        return true;
    }
    let Some(m) = r.map(node, "shipway") else { return true };
    r.unknown_keys(m, &["cache"], "`shipway`");
    m.get("cache").and_then(|c| r.boolean(c, "shipway:cache")).unwrap_or(true)
}

fn parse_cache_one(r: &mut Reader<'_>, node: &Node) -> Option<CacheDef> {
    let m = r.map(node, "cache")?;
    r.unknown_keys(m, &["key", "paths", "untracked", "policy", "when", "fallback_keys", "unprotect"], "`cache`");
    let key = match m.get("key") {
        None => CacheKey::Literal("default".into()),
        Some(k) => match &k.value {
            Value::Map(km) => {
                r.unknown_keys(km, &["files", "prefix"], "`cache:key`");
                let files: Vec<String> = km
                    .get("files")
                    .map(|f| workspace_paths(r, f, "cache:key:files", "cache key file"))
                    .unwrap_or_default();
                if files.is_empty() || files.len() > 2 {
                    r.invalid(k, "`cache:key:files` takes one or two files".into());
                }
                let prefix = km.get("prefix").and_then(|p| r.string(p, "cache:key:prefix"));
                CacheKey::Files { files, prefix }
            }
            _ => {
                let s = r.string(k, "cache:key")?;
                if s.contains('/') || s == "." || s == ".." || s.contains("%2F") {
                    r.invalid(k, format!("`cache:key` `{s}` may not contain `/` or be `.` or `..`"));
                }
                CacheKey::Literal(s)
            }
        },
    };
    let paths = m.get("paths").map(|p| workspace_paths(r, p, "cache:paths", "cache path")).unwrap_or_default();
    let untracked = m.get("untracked").and_then(|u| r.boolean(u, "cache:untracked")).unwrap_or(false);
    let policy = match m.get("policy") {
        None => CachePolicy::PullPush,
        Some(p) => match r.string(p, "cache:policy").as_deref() {
            Some("pull") => CachePolicy::Pull,
            Some("push") => CachePolicy::Push,
            Some("pull-push") => CachePolicy::PullPush,
            Some(s) if s.starts_with('$') => CachePolicy::PullPush,
            Some(other) => {
                r.invalid(p, format!("`cache:policy` must be pull, push or pull-push; found `{other}`"));
                CachePolicy::PullPush
            }
            None => CachePolicy::PullPush,
        },
    };
    let when = match m.get("when") {
        None => CacheWhen::OnSuccess,
        Some(w) => match r.string(w, "cache:when").as_deref() {
            Some("on_success") => CacheWhen::OnSuccess,
            Some("on_failure") => CacheWhen::OnFailure,
            Some("always") => CacheWhen::Always,
            Some(other) => {
                r.invalid(w, format!("`cache:when` must be on_success, on_failure or always; found `{other}`"));
                CacheWhen::OnSuccess
            }
            None => CacheWhen::OnSuccess,
        },
    };
    let fallback_keys = m
        .get("fallback_keys")
        .and_then(|f| r.strings(f, "cache:fallback_keys"))
        .unwrap_or_default()
        .into_iter()
        .map(|x| x.0)
        .collect();
    Some(CacheDef { key, paths, untracked, policy, when, fallback_keys })
}

pub(crate) fn parse_cache(r: &mut Reader<'_>, node: &Node) -> Vec<CacheDef> {
    match &node.value {
        Value::Seq(items) => {
            let items: Vec<&Node> = flatten(items).collect();
            if items.len() > 4 {
                r.invalid(node, "at most 4 caches per job".into());
            }
            items.into_iter().filter_map(|i| parse_cache_one(r, i)).collect()
        }
        Value::Null => vec![],
        _ => parse_cache_one(r, node).into_iter().collect(),
    }
}

pub(crate) fn parse_retry(r: &mut Reader<'_>, node: &Node) -> Retry {
    const WHENS: &[&str] = &[
        "always",
        "unknown_failure",
        "script_failure",
        "api_failure",
        "stuck_or_timeout_failure",
        "runner_system_failure",
        "runner_unsupported",
        "stale_schedule",
        "job_execution_timeout",
        "archived_failure",
        "unmet_prerequisites",
        "scheduler_failure",
        "data_integrity_failure",
    ];
    match &node.value {
        Value::Int(n) => {
            if !(0..=2).contains(n) {
                r.invalid(node, format!("`retry` must be 0, 1 or 2; found {n}"));
                return Retry::default();
            }
            Retry { max: *n as u32, when: vec![], exit_codes: vec![] }
        }
        Value::Map(m) => {
            r.unknown_keys(m, &["max", "when", "exit_codes"], "`retry`");
            let max = match m.get("max").map(|n| &n.value) {
                Some(Value::Int(n)) if (0..=2).contains(n) => *n as u32,
                Some(_) => {
                    r.invalid(m.get("max").unwrap_or(node), "`retry:max` must be 0, 1 or 2".into());
                    0
                }
                None => 0,
            };
            let when: Vec<(String, Mark)> = m.get("when").and_then(|w| r.strings(w, "retry:when")).unwrap_or_default();
            for (w, mark) in &when {
                if !WHENS.contains(&w.as_str()) {
                    let mut d =
                        Diagnostic::error("invalid-value", format!("unknown `retry:when` value `{w}`")).at_mark(*mark);
                    if let Some(s) = did_you_mean(w, WHENS.iter().copied()) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    r.diags.push(d);
                }
            }
            let exit_codes = m.get("exit_codes").map(|c| r.ints(c, "retry:exit_codes")).unwrap_or_default();
            Retry { max, when: when.into_iter().map(|(w, _)| w).collect(), exit_codes }
        }
        _ => {
            r.wrong(node, "retry", "an integer or a mapping");
            Retry::default()
        }
    }
}

fn parse_inherit(r: &mut Reader<'_>, node: &Node, key: &str) -> Inherit {
    match &node.value {
        Value::Bool(true) => Inherit::All,
        Value::Bool(false) => Inherit::None,
        Value::Seq(_) => Inherit::Only(
            r.strings(node, &format!("inherit:{key}")).unwrap_or_default().into_iter().map(|x| x.0).collect(),
        ),
        _ => {
            r.wrong(node, &format!("inherit:{key}"), "a boolean or a list");
            Inherit::All
        }
    }
}

/// Which default keys a job inherits, from its `inherit:default`.
pub(crate) fn inherit_default(r: &mut Reader<'_>, job: &Map) -> Inherit {
    let Some(inh) = job.get("inherit") else { return Inherit::All };
    let Some(m) = r.map(inh, "inherit") else { return Inherit::All };
    r.unknown_keys(m, &["default", "variables"], "`inherit`");
    m.get("default").map(|d| parse_inherit(r, d, "default")).unwrap_or_default()
}

fn inherit_variables(r: &mut Reader<'_>, job: &Map) -> Inherit {
    let Some(m) = job.get("inherit").and_then(|i| i.as_map()) else { return Inherit::All };
    m.get("variables").map(|d| parse_inherit(r, d, "variables")).unwrap_or_default()
}

/// Parse the job `name`, defined at `mark` (its key) as `node`.
pub(crate) fn parse_job(r: &mut Reader<'_>, name: &str, mark: Mark, node: &Node) -> Option<JobDef> {
    let Some(m) = node.as_map() else {
        r.diags.push(
            Diagnostic::error("wrong-type", format!("job `{name}` must be a mapping, found {}", node.type_name()))
                .at_mark(mark),
        );
        return None;
    };
    r.unknown_keys(m, JOB_KEYS, &format!("job `{name}`"));
    let mut job = JobDef {
        name: name.to_string(),
        mark,
        stage: None,
        before_script: vec![],
        script: vec![],
        after_script: vec![],
        variables: vec![],
        when: None,
        start_in: None,
        allow_failure: None,
        rules: None,
        only: None,
        except: None,
        needs: None,
        dependencies: None,
        parallel: None,
        artifacts: None,
        caches: vec![],
        timeout: None,
        retry: Retry::default(),
        environment: None,
        coverage: None,
        image: None,
        inherit_variables: inherit_variables(r, m),
        trigger: m.contains("trigger"),
        skippable: true,
    };
    let mut script_reported = false;
    for (k, v) in &m.entries {
        let key = k.name.as_str();
        match key {
            "stage" => {
                if let Some(s) = r.string(v, key) {
                    job.stage = Some((s, v.mark));
                }
            }
            "script" => match r.script(v, "script") {
                Some(lines) => job.script = lines,
                None => script_reported = true,
            },
            "before_script" => job.before_script = r.script(v, "before_script").unwrap_or_default(),
            "after_script" => job.after_script = r.script(v, "after_script").unwrap_or_default(),
            "variables" => job.variables = r.variables(v, "variables", VarScope::Job),
            "when" => job.when = r.when(v, "when", JOB_WHEN),
            "start_in" => job.start_in = r.duration(v, "start_in", Some(START_IN_LIMIT)),
            "allow_failure" => job.allow_failure = r.allow_failure(v, "allow_failure"),
            "rules" => match v.as_seq() {
                Some(items) => {
                    job.rules = Some(flatten(items).filter_map(|i| parse_rule(r, i, "rules", true)).collect());
                }
                None => r.wrong(v, "rules", "a list"),
            },
            "only" => job.only = parse_only(r, v, "only"),
            "except" => job.except = parse_only(r, v, "except"),
            "needs" => job.needs = parse_needs(r, v, "needs"),
            "dependencies" => job.dependencies = r.strings(v, "dependencies"),
            "parallel" => {
                job.parallel = match &v.value {
                    Value::Int(n) if (1..=200).contains(n) => Some(ParallelDef::Count(*n as u32)),
                    Value::Int(n) => {
                        r.invalid(v, format!("`parallel` must be between 1 and 200; found {n}"));
                        None
                    }
                    Value::Map(pm) => {
                        r.unknown_keys(pm, &["matrix"], "`parallel`");
                        match pm.get("matrix") {
                            Some(mx) => parse_matrix(r, mx, "parallel:matrix").map(ParallelDef::Matrix),
                            None => {
                                r.invalid(v, "`parallel` mapping needs `matrix`".into());
                                None
                            }
                        }
                    }
                    _ => {
                        r.wrong(v, "parallel", "an integer or a mapping with `matrix`");
                        None
                    }
                }
            }
            "artifacts" => job.artifacts = parse_artifacts(r, v),
            "shipway" => job.skippable = parse_shipway(r, v),
            "cache" => job.caches = parse_cache(r, v),
            "timeout" => job.timeout = r.duration(v, "timeout", Some(TIMEOUT_LIMIT)),
            "retry" => job.retry = parse_retry(r, v),
            "environment" => {
                job.environment = match &v.value {
                    Value::Str(s) => Some(EnvironmentDef { name: s.clone(), url: None, action: None }),
                    Value::Map(em) => {
                        r.unknown_keys(
                            em,
                            &["name", "url", "action", "on_stop", "auto_stop_in", "kubernetes", "deployment_tier"],
                            "`environment`",
                        );
                        let name = em.get("name").and_then(|n| r.string(n, "environment:name"));
                        if name.is_none() && !em.contains("name") {
                            r.invalid(v, "`environment` needs a `name`".into());
                        }
                        let url = em.get("url").and_then(|n| r.string(n, "environment:url"));
                        let action = em.get("action").and_then(|n| r.string(n, "environment:action"));
                        name.map(|name| EnvironmentDef { name, url, action })
                    }
                    _ => {
                        r.wrong(v, "environment", "a string or a mapping");
                        None
                    }
                }
            }
            "coverage" => {
                if let Some(s) = r.string(v, "coverage") {
                    match s.strip_prefix('/').and_then(|x| x.strip_suffix('/')) {
                        Some(re) => match regex::Regex::new(re) {
                            Ok(_) => job.coverage = Some(re.to_string()),
                            Err(e) => r.invalid(v, format!("`coverage` is not a valid regular expression: {e}")),
                        },
                        None => r.invalid(
                            v,
                            "`coverage` must be a regular expression between slashes, e.g. `/Total: (\\d+)%/`".into(),
                        ),
                    }
                }
            }
            "image" => {
                job.image = match &v.value {
                    Value::Str(s) => Some(s.clone()),
                    Value::Map(im) => im.get("name").and_then(|n| r.string(n, "image:name")),
                    _ => {
                        r.wrong(v, "image", "a string or a mapping");
                        None
                    }
                }
            }
            _ => {}
        }
    }
    if job.script.is_empty() && !job.trigger && !m.contains("run") && !script_reported {
        let at = m.get("script").filter(|v| !is_failed_reference(v));
        match at {
            Some(v) => r.invalid(v, format!("job `{name}`: `script` is empty")),
            None if m.get("script").is_none() => r.diags.push(
                Diagnostic::error("missing-script", format!("job `{name}` needs a `script` (or `trigger`)"))
                    .at_mark(mark),
            ),
            None => {}
        }
    }
    if job.rules.is_some() {
        for key in ["only", "except", "start_in"] {
            if let Some((k, _)) = m.get_entry(key) {
                let hint = if key == "start_in" { "; put it in the rule that says `when: delayed`" } else { "" };
                r.diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        format!("job `{name}`: `{key}` cannot be used with `rules`{hint}"),
                    )
                    .at_mark(k.mark),
                );
            }
        }
    } else if job.when != Some(WhenDef::Delayed)
        && let Some((k, _)) = m.get_entry("start_in")
    {
        r.diags.push(
            Diagnostic::error("invalid-value", format!("job `{name}`: `start_in` only works with `when: delayed`"))
                .at_mark(k.mark),
        );
    }
    if job.when == Some(WhenDef::Delayed)
        && !m.contains("start_in")
        && let Some(w) = m.get("when")
    {
        r.invalid(w, format!("job `{name}`: `when: delayed` needs `start_in`"));
    }
    Some(job)
}
