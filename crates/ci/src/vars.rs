//! Variable expansion (`$VAR`, `${VAR}`, `$$`) and slugs.

use std::collections::{HashMap, HashSet};

/// Expand `$VAR` and `${VAR}` in `s` with `lookup`. `$$` is a literal `$`.
/// References that `lookup` does not know are kept as written, so that a
/// shell can still expand them later (GitLab's "expand existing" rule).
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    if !s.contains('$') {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let start = i + 2;
                let mut j = start;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                if j > start && chars.get(j) == Some(&'}') {
                    let name: String = chars[start..j].iter().collect();
                    match lookup(&name) {
                        Some(v) => out.push_str(&v),
                        None => out.extend(&chars[i..=j]),
                    }
                    i = j + 1;
                } else {
                    out.push('$');
                    i += 1;
                }
            }
            Some(&n) if is_name_start(n) => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && is_name_char(chars[j]) {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                match lookup(&name) {
                    Some(v) => out.push_str(&v),
                    None => out.extend(&chars[i..j]),
                }
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    out
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// A variable before expansion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawVar {
    pub key: String,
    pub value: String,
    /// `expand: false` keeps the value verbatim.
    pub expand: bool,
}

/// Merge layers (lowest precedence first), then expand every value
/// recursively against the merged set, falling back to `env`. Cycles are left
/// unexpanded. Order of the result: first appearance of each key.
pub fn resolve(layers: &[&[RawVar]], env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let mut order: Vec<String> = Vec::new();
    let mut map: HashMap<String, RawVar> = HashMap::new();
    for layer in layers {
        for v in layer.iter() {
            if !map.contains_key(&v.key) {
                order.push(v.key.clone());
            }
            map.insert(v.key.clone(), v.clone());
        }
    }
    let mut done: HashMap<String, String> = HashMap::new();
    for key in &order {
        let mut visiting = HashSet::new();
        expand_one(key, &map, env, &mut done, &mut visiting);
    }
    order
        .into_iter()
        .map(|k| {
            let v = done.get(&k).cloned().unwrap_or_default();
            (k, v)
        })
        .collect()
}

fn expand_one(
    key: &str,
    map: &HashMap<String, RawVar>,
    env: &dyn Fn(&str) -> Option<String>,
    done: &mut HashMap<String, String>,
    visiting: &mut HashSet<String>,
) -> Option<String> {
    if let Some(v) = done.get(key) {
        return Some(v.clone());
    }
    let Some(raw) = map.get(key) else { return env(key) };
    if !raw.expand || !raw.value.contains('$') {
        done.insert(key.to_string(), raw.value.clone());
        return Some(raw.value.clone());
    }
    if !visiting.insert(key.to_string()) {
        return None; // a cycle: keep the reference text
    }
    // Expansion is iterative over references; recursion depth is bounded by
    // the number of distinct variables, which `visiting` guards.
    let value = raw.value.clone();
    let refs: std::cell::RefCell<Vec<String>> = std::cell::RefCell::new(Vec::new());
    let _ = expand(&value, &|name| {
        refs.borrow_mut().push(name.to_string());
        None
    });
    let refs = refs.into_inner();
    let mut resolved: HashMap<String, Option<String>> = HashMap::new();
    for r in refs {
        if resolved.contains_key(&r) {
            continue;
        }
        let v = if r == key { env(&r) } else { expand_one(&r, map, env, done, visiting) };
        resolved.insert(r, v);
    }
    let out = expand(&value, &|name| resolved.get(name).cloned().flatten());
    visiting.remove(key);
    done.insert(key.to_string(), out.clone());
    Some(out)
}

/// GitLab's slug: lowercase, `[^a-z0-9]` to `-`, at most 63 chars, no leading
/// or trailing `-`.
pub fn slug(s: &str) -> String {
    let mut out: String =
        s.to_lowercase().chars().map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() { c } else { '-' }).collect();
    out.truncate(63);
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv(k: &str, v: &str) -> RawVar {
        RawVar { key: k.into(), value: v.into(), expand: true }
    }

    #[test]
    fn expands_recursively_and_keeps_unknown() {
        let g = [rv("A", "a"), rv("B", "${A}-b")];
        let j = [rv("C", "$B/$UNKNOWN/$$HOME"), rv("A", "A2")];
        let out = resolve(&[&g, &j], &|_| None);
        let get = |k: &str| out.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(get("A"), "A2");
        assert_eq!(get("B"), "A2-b");
        assert_eq!(get("C"), "A2-b/$UNKNOWN/$HOME");
    }

    #[test]
    fn cycles_do_not_hang() {
        let l = [rv("A", "$B"), rv("B", "$A")];
        let out = resolve(&[&l], &|_| None);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Feature/Foo_Bar"), "feature-foo-bar");
        assert_eq!(slug("-x-"), "x");
    }
}
