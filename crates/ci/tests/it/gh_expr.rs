//! The expression table: every case of `test_data/github/expr_cases.json`
//! (values as GitHub documents and its runner computes them) is parsed and
//! evaluated against the table's contexts and files.

use crate::gh_support::json_eq;
use ci::github::expr::{self, Host, Status, Value};
use serde_json::Value as Json;
use std::collections::BTreeMap;

struct TableHost {
    contexts: BTreeMap<String, Value>,
    files: BTreeMap<String, Vec<u8>>,
    status: Status,
}

impl Host for TableHost {
    fn context(&self, name: &str) -> Option<Value> {
        self.contexts.get(name).cloned()
    }
    fn status(&self) -> Status {
        self.status
    }
    fn hash_files(&self, patterns: &[String]) -> Result<String, String> {
        use sha2::{Digest, Sha256};
        let paths: Vec<String> = self.files.keys().cloned().collect();
        let selected = ci::github::hash_files_selection(&paths, patterns)?;
        if selected.is_empty() {
            return Ok(String::new());
        }
        let mut total = Sha256::new();
        for p in selected {
            total.update(Sha256::digest(&self.files[p]));
        }
        Ok(total.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn run_case(case: &Json, host: &mut TableHost) -> Result<(), String> {
    let src = case["expr"].as_str().unwrap();
    host.status = match case["job_status"].as_str() {
        Some("failure") => Status::Failure,
        Some("cancelled") => Status::Cancelled,
        _ => Status::Success,
    };
    let result = expr::parse(src).and_then(|e| expr::eval(&e, host));
    if let Some(want) = case["error"].as_str() {
        return match result {
            Ok(v) => Err(format!("expected an error `{want}`, got {}", v.to_json())),
            Err(e) => {
                if !e.message.to_lowercase().contains(want) {
                    return Err(format!("error `{}` does not contain `{want}`", e.message));
                }
                if let Some(col) = case["col"].as_u64()
                    && e.at as u64 + 1 != col
                {
                    return Err(format!("error `{}` at column {}, expected {col}", e.message, e.at + 1));
                }
                Ok(())
            }
        };
    }
    let v = result.map_err(|e| format!("error at column {}: {}", e.at + 1, e.message))?;
    if let Some(want) = case.get("value") {
        // NaN has no JSON form; compare it through the string form.
        if !json_eq(&v.to_json(), want) || matches!(v, Value::Number(n) if n.is_nan()) {
            return Err(format!("value {} ({}), expected {want}", v.to_json(), v.kind()));
        }
    } else if let Some(want) = case["string"].as_str() {
        if v.to_display() != want {
            return Err(format!("string {:?}, expected {want:?}", v.to_display()));
        }
    } else if let Some(want) = case["truthy"].as_bool() {
        if v.truthy() != want {
            return Err(format!("truthy {} ({}), expected {want}", v.truthy(), v.to_json()));
        }
    } else {
        return Err("case without an expectation".into());
    }
    Ok(())
}

#[test]
fn expression_table_matches_github() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/github/expr_cases.json");
    let data: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let contexts: BTreeMap<String, Value> =
        data["context"].as_object().unwrap().iter().map(|(k, v)| (k.to_lowercase(), Value::from_json(v))).collect();
    let files: BTreeMap<String, Vec<u8>> = data["files"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().as_bytes().to_vec()))
        .collect();
    let mut host = TableHost { contexts, files, status: Status::Success };
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 150, "only {} expression cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        if let Err(e) = run_case(case, &mut host) {
            failures.push(format!("`{}`: {e}", case["expr"].as_str().unwrap_or("?")));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
