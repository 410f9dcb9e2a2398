//! Stage one of the GitLab front end: from files to one merged YAML tree.
//!
//! `include:` files are deep-merged under the including file, `extends:` is
//! resolved with GitLab's merge rules (hashes merge deeply, everything else is
//! replaced, the child wins), then `!reference` tags are replaced by what they
//! point at.

use super::{Context, Project};
use crate::diag::{Diagnostic, SourceMap};
use crate::yaml::{self, Map, Mark, Node, Value};

pub(crate) const MAX_INCLUDES: usize = 150;
pub(crate) const MAX_EXTENDS_DEPTH: usize = 11;
pub(crate) const MAX_REFERENCE_DEPTH: usize = 10;

/// Deep-merge `over` into `base`: mappings merge key by key, anything else
/// in `over` replaces what `base` had.
pub(crate) fn deep_merge(base: &mut Node, over: &Node) {
    match (&mut base.value, &over.value) {
        (Value::Map(b), Value::Map(o)) => {
            for (k, v) in &o.entries {
                match b.get_mut(&k.name) {
                    Some(existing) if existing.as_map().is_some() && v.as_map().is_some() => {
                        deep_merge(existing, v);
                    }
                    _ => b.insert(k.clone(), v.clone()),
                }
            }
        }
        _ => *base = over.clone(),
    }
}

pub(crate) struct Loaded {
    pub root: Node,
}

/// Load `path` and everything it includes.
pub(crate) fn load(
    path: &str,
    loader: &dyn Project,
    ctx: &Context,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Option<Loaded> {
    let text = match loader.read(path) {
        Ok(t) => t,
        Err(e) => {
            let id = sources.add(path, "");
            diags
                .push(Diagnostic::error("missing-file", format!("cannot read {path}: {e}")).at(id, Default::default()));
            return None;
        }
    };
    let mut budget = MAX_INCLUDES;
    let mut stack = vec![normalize(path)];
    let root = load_file(path, &text, loader, ctx, sources, diags, &mut budget, &mut stack)?;
    Some(Loaded { root })
}

fn normalize(p: &str) -> String {
    p.trim_start_matches("./").trim_start_matches('/').to_string()
}

#[allow(clippy::too_many_arguments)]
fn load_file(
    path: &str,
    text: &str,
    loader: &dyn Project,
    ctx: &Context,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
    budget: &mut usize,
    stack: &mut Vec<String>,
) -> Option<Node> {
    let id = sources.add(path, text);
    let mut node = match yaml::parse(id, text) {
        Ok(n) => n,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    if node.is_null() {
        node = Node::new(Value::Map(Map::default()), Mark { file: id, pos: Default::default() });
    }
    let Some(map) = node.as_map_mut() else {
        diags.push(
            Diagnostic::error(
                "wrong-type",
                format!("{path} must be a mapping of jobs and keywords, found {}", node.type_name()),
            )
            .at_mark(node.mark),
        );
        return None;
    };
    let Some(include) = map.remove("include") else { return Some(node) };
    let mut merged: Option<Node> = None;
    for entry in include_entries(&include, diags) {
        let files = match resolve_include(&entry, loader, ctx, sources, diags) {
            Some(f) => f,
            None => continue,
        };
        for file in files {
            let norm = normalize(&file);
            if stack.contains(&norm) {
                diags.push(
                    Diagnostic::error(
                        "include-cycle",
                        format!("`{file}` includes itself (through {})", stack.join(" -> ")),
                    )
                    .at_mark(entry.mark),
                );
                continue;
            }
            if *budget == 0 {
                diags.push(
                    Diagnostic::error("too-many-includes", format!("more than {MAX_INCLUDES} included files"))
                        .at_mark(entry.mark),
                );
                return Some(node);
            }
            *budget -= 1;
            let text = match loader.read(&norm) {
                Ok(t) => t,
                Err(e) => {
                    diags.push(
                        Diagnostic::error("missing-include", format!("included file `{file}` cannot be read: {e}"))
                            .at_mark(entry.mark),
                    );
                    continue;
                }
            };
            stack.push(norm.clone());
            let sub = load_file(&norm, &text, loader, ctx, sources, diags, budget, stack);
            stack.pop();
            if let Some(sub) = sub {
                match &mut merged {
                    None => merged = Some(sub),
                    Some(m) => deep_merge(m, &sub),
                }
            }
        }
    }
    match merged {
        None => Some(node),
        Some(mut m) => {
            // The including file wins over what it includes.
            let mark = node.mark;
            deep_merge(&mut m, &node);
            m.mark = mark;
            Some(m)
        }
    }
}

struct IncludeEntry {
    kind: IncludeKind,
    mark: Mark,
    rules: Option<Node>,
}

enum IncludeKind {
    Local(String),
    Unsupported(&'static str),
}

fn include_entries(include: &Node, diags: &mut Vec<Diagnostic>) -> Vec<IncludeEntry> {
    let items: Vec<&Node> = match &include.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![include],
    };
    let mut out = Vec::new();
    for item in items {
        match &item.value {
            Value::Str(s) => {
                let kind = if s.starts_with("http://") || s.starts_with("https://") {
                    IncludeKind::Unsupported("remote")
                } else {
                    IncludeKind::Local(s.clone())
                };
                out.push(IncludeEntry { kind, mark: item.mark, rules: None });
            }
            Value::Map(m) => {
                let rules = m.get("rules").cloned();
                if let Some(inputs) = m.get("inputs") {
                    diags.push(
                        Diagnostic::error(
                            "unsupported",
                            "unsupported: `include:inputs` (CI/CD inputs) is not supported yet",
                        )
                        .at_mark(inputs.mark),
                    );
                }
                let mut kind = None;
                let mut mark = item.mark;
                for (k, v) in &m.entries {
                    match k.name.as_str() {
                        "local" => match v.as_str() {
                            Some(s) => {
                                kind = Some(IncludeKind::Local(s.to_string()));
                                mark = v.mark;
                            }
                            None => diags.push(
                                Diagnostic::error(
                                    "wrong-type",
                                    format!("`include:local` must be a string, found {}", v.type_name()),
                                )
                                .at_mark(v.mark),
                            ),
                        },
                        "remote" => kind = Some(IncludeKind::Unsupported("remote")),
                        "template" => kind = Some(IncludeKind::Unsupported("template")),
                        "project" => kind = Some(IncludeKind::Unsupported("project")),
                        "component" => kind = Some(IncludeKind::Unsupported("component")),
                        "file" | "ref" | "rules" | "inputs" | "integrity" => {}
                        other => {
                            let mut d = Diagnostic::error("unknown-key", format!("unknown key `{other}` in `include`"))
                                .at_mark(k.mark);
                            if let Some(s) = crate::diag::did_you_mean(
                                other,
                                [
                                    "local",
                                    "remote",
                                    "template",
                                    "project",
                                    "component",
                                    "file",
                                    "ref",
                                    "rules",
                                    "inputs",
                                ],
                            ) {
                                d = d.help(format!("did you mean `{s}`?"));
                            }
                            diags.push(d);
                        }
                    }
                }
                match kind {
                    Some(kind) => out.push(IncludeEntry { kind, mark, rules }),
                    None if !m.contains("local") => diags.push(
                        Diagnostic::error(
                            "wrong-type",
                            "an `include` entry needs `local`, `remote`, `template`, `project` or `component`",
                        )
                        .at_mark(item.mark),
                    ),
                    None => {}
                }
            }
            _ => diags.push(
                Diagnostic::error(
                    "wrong-type",
                    format!("`include` entries must be strings or mappings, found {}", item.type_name()),
                )
                .at_mark(item.mark),
            ),
        }
    }
    out
}

fn resolve_include(
    entry: &IncludeEntry,
    loader: &dyn Project,
    ctx: &Context,
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    if let Some(rules) = &entry.rules
        && !include_rules_match(rules, loader, ctx, sources, diags)
    {
        return None;
    }
    match &entry.kind {
        IncludeKind::Unsupported(kind) => {
            diags.push(
                Diagnostic::error(
                    "unsupported",
                    format!("unsupported: `include:{kind}` needs network or a GitLab server; only `include:local` works offline"),
                )
                .at_mark(entry.mark),
            );
            None
        }
        IncludeKind::Local(path) => {
            let path = crate::vars::expand(path, &|k| ctx.predefined_lookup(k));
            let norm = normalize(&path);
            if norm.split('/').any(|c| c == "..") {
                diags.push(
                    Diagnostic::error(
                        "path-escape",
                        format!("`include:local` path `{path}` leaves the project directory"),
                    )
                    .at_mark(entry.mark),
                );
                return None;
            }
            if !(norm.ends_with(".yml") || norm.ends_with(".yaml")) {
                diags.push(
                    Diagnostic::error(
                        "invalid-value",
                        format!("included file `{path}` must have a `.yml` or `.yaml` extension"),
                    )
                    .at_mark(entry.mark),
                );
                return None;
            }
            if norm.contains('*') {
                let files = wildcard_files(loader, &norm);
                if files.is_empty() {
                    diags.push(
                        Diagnostic::error("missing-include", format!("no file matches the include pattern `{path}`"))
                            .at_mark(entry.mark),
                    );
                }
                Some(files)
            } else {
                Some(vec![norm])
            }
        }
    }
}

/// Project files matching an `include:local` wildcard, as GitLab matches
/// them: `**` matches anything (also `/`), `*` anything but `/`, and every
/// other character is literal. So `ci/**.yml` takes `ci/` and all its
/// subfolders, and `ci/**/*.yml` only the subfolders.
fn wildcard_files(loader: &dyn Project, pattern: &str) -> Vec<String> {
    let re = regex::escape(pattern).replace(r"\*\*", ".*?").replace(r"\*", "[^/]*?");
    let Ok(re) = regex::Regex::new(&format!("^{re}$")) else { return vec![] };
    loader.files().iter().filter(|f| re.is_match(f)).cloned().collect()
}

fn include_rules_match(
    rules: &Node,
    loader: &dyn Project,
    ctx: &Context,
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let Some(items) = rules.as_seq() else {
        diags.push(Diagnostic::error("wrong-type", "`include:rules` must be a list").at_mark(rules.mark));
        return false;
    };
    for rule in items {
        let Some(m) = rule.as_map() else { continue };
        let mut ok = true;
        if let Some(node) = m.get("if")
            && let Some(cond) = node.as_str()
        {
            match super::expr::parse(cond) {
                Ok(e) => ok &= super::expr::eval(&e, &|k| ctx.predefined_lookup(k)),
                Err(err) => {
                    let pos = crate::yaml::scalar_pos(sources.text(node.mark.file), node.mark.pos, cond, err.offset);
                    diags.push(
                        Diagnostic::error("bad-expression", format!("invalid expression `{cond}`: {}", err.message))
                            .at(node.mark.file, pos),
                    );
                    return false;
                }
            }
        }
        if let Some(ex) = m.get("exists") {
            let pats: Vec<String> = match &ex.value {
                Value::Seq(s) => s.iter().filter_map(|n| n.scalar_string()).collect(),
                Value::Str(s) => vec![s.clone()],
                _ => vec![],
            };
            ok &= pats.iter().any(|p| !loader.glob(&normalize(p)).is_empty() || loader.read(&normalize(p)).is_ok());
        }
        if let Some(ch) = m.get("changes") {
            let strings = |n: &Node| -> Vec<String> {
                match &n.value {
                    Value::Seq(s) => s.iter().filter_map(|n| n.scalar_string()).collect(),
                    _ => n.scalar_string().into_iter().collect(),
                }
            };
            let changes = match ch.as_map() {
                Some(cm) => super::job::ChangesDef {
                    paths: cm.get("paths").map(strings).unwrap_or_default(),
                    compare_to: cm.get("compare_to").and_then(|c| c.scalar_string()),
                },
                None => super::job::ChangesDef { paths: strings(ch), compare_to: None },
            };
            ok &= super::build::changes_match(&changes, &|k| ctx.predefined_lookup(k), loader, ctx);
        }
        if ok {
            return m.get("when").and_then(|w| w.as_str()) != Some("never");
        }
    }
    false
}

/// Keys at the top level that are not jobs.
pub(crate) const GLOBAL_KEYS: &[&str] = &[
    "stages",
    "variables",
    "default",
    "include",
    "workflow",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
    "spec",
];

/// Resolve `extends:` for every top-level entry.
pub(crate) fn resolve_extends(root: &mut Node, diags: &mut Vec<Diagnostic>) {
    let Some(map) = root.as_map() else { return };
    let names: Vec<String> = map.keys().filter(|k| !GLOBAL_KEYS.contains(k)).map(String::from).collect();
    let mut resolved: std::collections::HashMap<String, Node> = std::collections::HashMap::new();
    for name in &names {
        let mut chain = Vec::new();
        resolve_one(name, map, &mut resolved, &mut chain, diags);
    }
    let Some(map) = root.as_map_mut() else { return };
    for (k, v) in map.entries.iter_mut() {
        if let Some(r) = resolved.remove(&k.name) {
            *v = r;
        }
    }
}

fn resolve_one(
    name: &str,
    map: &Map,
    resolved: &mut std::collections::HashMap<String, Node>,
    chain: &mut Vec<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Node> {
    if let Some(n) = resolved.get(name) {
        return Some(n.clone());
    }
    let node = map.get(name)?;
    let Some(job) = node.as_map() else { return Some(node.clone()) };
    let Some(ext) = job.get("extends") else {
        resolved.insert(name.to_string(), node.clone());
        return Some(node.clone());
    };
    let parents: Vec<(String, Mark)> = match &ext.value {
        Value::Str(s) => vec![(s.clone(), ext.mark)],
        Value::Seq(items) => {
            let mut v = Vec::new();
            for i in items {
                match i.as_str() {
                    Some(s) => v.push((s.to_string(), i.mark)),
                    None => diags.push(
                        Diagnostic::error(
                            "wrong-type",
                            format!("`extends` entries must be strings, found {}", i.type_name()),
                        )
                        .at_mark(i.mark),
                    ),
                }
            }
            v
        }
        _ => {
            diags.push(
                Diagnostic::error(
                    "wrong-type",
                    format!("`extends` must be a string or a list of strings, found {}", ext.type_name()),
                )
                .at_mark(ext.mark),
            );
            vec![]
        }
    };
    if chain.len() >= MAX_EXTENDS_DEPTH {
        diags.push(
            Diagnostic::error("extends-depth", format!("`extends` nests deeper than {MAX_EXTENDS_DEPTH} levels"))
                .at_mark(ext.mark),
        );
        return None;
    }
    chain.push(name.to_string());
    let mut base: Option<Node> = None;
    for (parent, mark) in parents {
        if chain.contains(&parent) {
            let mut cyc = chain.clone();
            cyc.push(parent.clone());
            diags.push(
                Diagnostic::error("extends-cycle", format!("circular `extends`: {}", cyc.join(" -> "))).at_mark(mark),
            );
            continue;
        }
        if !map.contains(&parent) || GLOBAL_KEYS.contains(&parent.as_str()) {
            let candidates: Vec<&str> = map.keys().filter(|k| !GLOBAL_KEYS.contains(k)).collect();
            let mut d =
                Diagnostic::error("unknown-extends", format!("`{name}` extends `{parent}`, which is not defined"))
                    .at_mark(mark);
            if let Some(s) = crate::diag::did_you_mean(&parent, candidates) {
                d = d.help(format!("did you mean `{s}`?"));
            }
            diags.push(d);
            continue;
        }
        if let Some(p) = resolve_one(&parent, map, resolved, chain, diags) {
            if p.as_map().is_none() {
                diags.push(
                    Diagnostic::error("wrong-type", format!("`{parent}` cannot be extended: it is not a mapping"))
                        .at_mark(mark),
                );
                continue;
            }
            match &mut base {
                None => base = Some(p),
                Some(b) => deep_merge(b, &p),
            }
        }
    }
    chain.pop();
    let mut child = node.clone();
    if let Some(m) = child.as_map_mut() {
        m.remove("extends");
    }
    let out = match base {
        None => child,
        Some(mut b) => {
            if let Some(m) = b.as_map_mut() {
                m.remove("extends");
            }
            deep_merge(&mut b, &child);
            b.mark = child.mark;
            b
        }
    };
    resolved.insert(name.to_string(), out.clone());
    Some(out)
}

/// Replace every `!reference [a, b, c]` with the node it points at.
pub(crate) fn resolve_references(root: &mut Node, diags: &mut Vec<Diagnostic>) {
    let snapshot = root.clone();
    replace_refs(root, &snapshot, 0, diags);
}

fn replace_refs(node: &mut Node, root: &Node, depth: usize, diags: &mut Vec<Diagnostic>) {
    if node.tag.as_deref() == Some("!reference") {
        match lookup_reference(node, root, diags) {
            Some(mut target) => {
                if depth >= MAX_REFERENCE_DEPTH {
                    diags.push(
                        Diagnostic::error(
                            "reference-depth",
                            format!("`!reference` nests deeper than {MAX_REFERENCE_DEPTH} levels"),
                        )
                        .at_mark(node.mark),
                    );
                    *node = Node::new(Value::Null, node.mark);
                    return;
                }
                replace_refs(&mut target, root, depth + 1, diags);
                *node = target;
            }
            None => {
                // Reported; the tag tells later stages not to report it again.
                let mut failed = Node::new(Value::Null, node.mark);
                failed.tag = Some("!reference".into());
                *node = failed;
            }
        }
        return;
    }
    match &mut node.value {
        Value::Seq(items) => {
            for i in items {
                replace_refs(i, root, depth, diags);
            }
        }
        Value::Map(m) => {
            for (_, v) in m.entries.iter_mut() {
                replace_refs(v, root, depth, diags);
            }
        }
        _ => {}
    }
}

fn lookup_reference(node: &Node, root: &Node, diags: &mut Vec<Diagnostic>) -> Option<Node> {
    let Some(path) = node.as_seq() else {
        diags.push(
            Diagnostic::error("wrong-type", "`!reference` takes a list such as `[.job, script]`").at_mark(node.mark),
        );
        return None;
    };
    let mut parts = Vec::new();
    for p in path {
        match p.scalar_string() {
            Some(s) => parts.push(s),
            None => {
                diags
                    .push(Diagnostic::error("wrong-type", "`!reference` path entries must be strings").at_mark(p.mark));
                return None;
            }
        }
    }
    if parts.is_empty() {
        diags.push(Diagnostic::error("wrong-type", "`!reference` needs at least one key").at_mark(node.mark));
        return None;
    }
    let mut cur = root;
    for (i, part) in parts.iter().enumerate() {
        match cur.as_map().and_then(|m| m.get(part)) {
            Some(n) => cur = n,
            None => {
                diags.push(
                    Diagnostic::error(
                        "unknown-reference",
                        format!("`!reference` target `{}` is not defined", parts[..=i].join(".")),
                    )
                    .at_mark(node.mark),
                );
                return None;
            }
        }
    }
    Some(cur.clone())
}

#[cfg(test)]
mod tests {
    use super::wildcard_files;
    use crate::gitlab::Project;

    struct Files(Vec<String>);

    impl Project for Files {
        fn read(&self, _: &str) -> Result<String, String> {
            Err("unused".into())
        }
        fn files(&self) -> &[String] {
            &self.0
        }
        fn changed(&self, _: Option<&str>) -> Option<Vec<String>> {
            None
        }
    }

    #[test]
    fn include_wildcards_follow_gitlab() {
        let p = Files(
            ["ci/a.yml", "ci/sub/b.yml", "ci/sub/deep/c.yml", "ci/x.txt", "ci/a[1].yml"].map(String::from).to_vec(),
        );
        let got = |pat: &str| wildcard_files(&p, pat);
        assert_eq!(got("ci/*.yml"), ["ci/a.yml", "ci/a[1].yml"]);
        // `**` also crosses `/`: ci/ and every subfolder.
        assert_eq!(got("ci/**.yml"), ["ci/a.yml", "ci/sub/b.yml", "ci/sub/deep/c.yml", "ci/a[1].yml"]);
        // `**/` needs at least one folder in between.
        assert_eq!(got("ci/**/*.yml"), ["ci/sub/b.yml", "ci/sub/deep/c.yml"]);
        // Everything but `*` is literal.
        assert_eq!(got("ci/a[1].yml"), ["ci/a[1].yml"]);
    }
}
