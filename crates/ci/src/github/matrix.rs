//! `strategy.matrix` expansion, as GitHub documents and implements it.
//!
//! 1. The cartesian product of the vectors, the first key varying slowest.
//! 2. `exclude` removes every combination that matches all of an entry's
//!    keys (a partial entry matches many; nested objects match partially).
//! 3. Each `include` entry is merged into every original combination where
//!    it overwrites none of the original values (it may overwrite values an
//!    earlier `include` added); an entry that fits no combination becomes a
//!    new one. Combinations added this way are not extended further.
//!
//! Values match with GitHub's loose `==` (strings ignore case, `'16'` equals
//! `16`). A matrix whose combinations are all excluded runs the job once,
//! without a matrix.

use super::expr::{Value, loose_eq};
use indexmap::IndexMap;

/// GitHub's limit on the jobs one matrix may generate.
pub const MAX_JOBS: usize = 256;

/// Key → value, in key order.
pub type Combination = IndexMap<String, Value>;

/// A matrix as written: its vectors and the include/exclude lists.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    pub vectors: Vec<(String, Vec<Value>)>,
    pub include: Vec<Combination>,
    pub exclude: Vec<Combination>,
}

/// One job of the matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub matrix: Combination,
    /// The values shown in the job's name, in key order.
    pub label: Vec<Value>,
}

/// Whether `want` (from an include/exclude entry) matches `have`: loose
/// equality for scalars, recursively for objects (the entry's keys only)
/// and arrays.
fn matches(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, wv)| h.iter().find(|(hk, _)| hk.eq_ignore_ascii_case(k)).is_some_and(|(_, hv)| matches(wv, hv))),
        (Value::Array(w), Value::Array(h)) => w.len() == h.len() && w.iter().zip(h.iter()).all(|(a, b)| matches(a, b)),
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        _ => loose_eq(want, have),
    }
}

fn get_ci<'a>(c: &'a Combination, key: &str) -> Option<&'a Value> {
    c.get(key).or_else(|| c.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Expand a matrix into its ordered instances.
pub fn expand(m: &Matrix) -> Result<Vec<Instance>, String> {
    for (k, v) in &m.vectors {
        if v.is_empty() {
            return Err(format!("matrix vector `{k}` does not contain any values"));
        }
    }
    if m.vectors.is_empty() && m.include.is_empty() {
        return Err("the matrix has no vectors and no `include` entries: it defines no jobs".into());
    }
    for (what, list) in [("include", &m.include), ("exclude", &m.exclude)] {
        if list.iter().any(|e| e.is_empty()) {
            return Err(format!("matrix `{what}` has an empty entry"));
        }
    }
    for ex in &m.exclude {
        for k in ex.keys() {
            if !m.vectors.iter().any(|(v, _)| v.eq_ignore_ascii_case(k)) {
                return Err(format!("matrix `exclude` key `{k}` is not a matrix vector"));
            }
        }
    }
    let total = m.vectors.iter().map(|(_, v)| v.len()).try_fold(1usize, |acc, n| acc.checked_mul(n));
    if total.is_none_or(|t| t > MAX_JOBS * 64) {
        return Err(format!("strategy produced more than {MAX_JOBS} jobs"));
    }
    let mut base: Vec<Combination> = Vec::new();
    if !m.vectors.is_empty() {
        base.push(Combination::new());
        for (k, values) in &m.vectors {
            let mut next = Vec::with_capacity(base.len() * values.len());
            for combo in &base {
                for v in values {
                    let mut c = combo.clone();
                    c.insert(k.clone(), v.clone());
                    next.push(c);
                }
            }
            base = next;
        }
    }
    for ex in &m.exclude {
        base.retain(|c| !ex.iter().all(|(k, v)| get_ci(c, k).is_some_and(|cv| matches(v, cv))));
    }
    let excluded_all = !m.vectors.is_empty() && base.is_empty();
    let original_keys: Vec<&str> = m.vectors.iter().map(|(k, _)| k.as_str()).collect();
    let is_original = |k: &str| original_keys.iter().any(|o| o.eq_ignore_ascii_case(k));
    let mut out: Vec<Instance> =
        base.into_iter().map(|c| Instance { label: c.values().cloned().collect(), matrix: c }).collect();
    let originals = out.len();
    let mut added: Vec<Instance> = Vec::new();
    for inc in &m.include {
        let mut fitted = false;
        for inst in out.iter_mut().take(originals) {
            let fits =
                inc.iter().all(|(k, v)| !is_original(k) || get_ci(&inst.matrix, k).is_some_and(|cv| matches(v, cv)));
            if fits {
                fitted = true;
                for (k, v) in inc {
                    if !is_original(k) {
                        inst.matrix.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        if !fitted {
            // Original keys first, then the others, as GitHub names them.
            let mut c = Combination::new();
            for (k, v) in inc.iter().filter(|(k, _)| is_original(k)) {
                c.insert(k.clone(), v.clone());
            }
            for (k, v) in inc.iter().filter(|(k, _)| !is_original(k)) {
                c.insert(k.clone(), v.clone());
            }
            added.push(Instance { label: c.values().cloned().collect(), matrix: c });
        }
    }
    // Names show every value of the final combination, include-added ones
    // too (as GitHub shows them: `test (linux, ubuntu-latest, stable)` for a
    // `build: [linux]` vector extended by an include entry).
    for inst in out.iter_mut() {
        inst.label = inst.matrix.values().cloned().collect();
    }
    out.extend(added);
    if out.len() > MAX_JOBS {
        return Err(format!("strategy produced more than {MAX_JOBS} jobs ({})", out.len()));
    }
    if out.is_empty() && excluded_all {
        // Everything excluded: GitHub runs the job once, without a matrix.
        return Ok(vec![]);
    }
    Ok(out)
}

fn flatten(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flatten(i, out)),
        Value::Object(o) => o.values().for_each(|i| flatten(i, out)),
        Value::Null => {}
        other => {
            let s = other.to_display();
            if !s.is_empty() {
                out.push(s);
            }
        }
    }
}

/// The job name GitHub shows for a matrix instance: `base (a, 1)`; nested
/// values are flattened, empty ones left out, and long names cut at 100
/// characters.
pub fn display_name(base: &str, label: &[Value]) -> String {
    let mut parts = Vec::new();
    for v in label {
        flatten(v, &mut parts);
    }
    let name = if parts.is_empty() { base.to_string() } else { format!("{base} ({})", parts.join(", ")) };
    if name.chars().count() > 100 { format!("{}...", name.chars().take(97).collect::<String>()) } else { name }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn docs_fruit_example() {
        let c = |pairs: &[(&str, &str)]| -> Combination { pairs.iter().map(|(k, v)| (k.to_string(), s(v))).collect() };
        let m = Matrix {
            vectors: vec![("fruit".into(), vec![s("apple"), s("pear")]), ("animal".into(), vec![s("cat"), s("dog")])],
            include: vec![
                c(&[("color", "green")]),
                c(&[("color", "pink"), ("animal", "cat")]),
                c(&[("fruit", "apple"), ("shape", "circle")]),
                c(&[("fruit", "banana")]),
                c(&[("fruit", "banana"), ("animal", "cat")]),
            ],
            exclude: vec![],
        };
        let out = expand(&m).unwrap();
        let got: Vec<&Combination> = out.iter().map(|i| &i.matrix).collect();
        assert_eq!(got.len(), 6);
        assert_eq!(*got[0], c(&[("fruit", "apple"), ("animal", "cat"), ("color", "pink"), ("shape", "circle")]));
        assert_eq!(*got[1], c(&[("fruit", "apple"), ("animal", "dog"), ("color", "green"), ("shape", "circle")]));
        assert_eq!(*got[2], c(&[("fruit", "pear"), ("animal", "cat"), ("color", "pink")]));
        assert_eq!(*got[3], c(&[("fruit", "pear"), ("animal", "dog"), ("color", "green")]));
        assert_eq!(*got[4], c(&[("fruit", "banana")]));
        assert_eq!(*got[5], c(&[("fruit", "banana"), ("animal", "cat")]));
        assert_eq!(display_name("j", &out[0].label), "j (apple, cat, pink, circle)");
    }
}
