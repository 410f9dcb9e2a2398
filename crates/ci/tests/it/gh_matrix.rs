//! Matrix expansion: every case of `test_data/github/matrix_cases.json` is
//! compiled as a one-job workflow; the job instances (names and `matrix`
//! contexts, in order) or the error must be what GitHub produces.

use crate::gh_support::{MemProject, context, json_eq};
use ci::github;
use serde_json::Value as Json;

fn run_case(case: &Json) -> Result<(), String> {
    let id = case["job_id"].as_str().unwrap();
    let name = match case["job_name"].as_str() {
        Some(n) => format!("    name: {}\n", serde_json::to_string(n).unwrap()),
        None => String::new(),
    };
    let strategy = serde_json::to_string(&case["strategy"]).unwrap();
    let wf = format!(
        "on: push\njobs:\n  {id}:\n{name}    runs-on: ubuntu-latest\n    strategy: {strategy}\n    steps:\n      - run: \"true\"\n"
    );
    let project = MemProject::new([(".github/workflows/m.yml", wf.as_str())]);
    let c = github::compile(".github/workflows/m.yml", &project, &context());
    if let Some(want) = case["error"].as_str() {
        let errs: Vec<String> =
            c.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.to_lowercase()).collect();
        if errs.iter().any(|m| m.contains(want)) {
            return Ok(());
        }
        return Err(format!("expected an error containing `{want}`, got {errs:?}"));
    }
    let errs: Vec<&str> = c.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.as_str()).collect();
    if !errs.is_empty() {
        return Err(format!("unexpected errors: {errs:?}"));
    }
    let p = c.pipeline.ok_or("no pipeline")?;
    let want = case["expected"].as_array().unwrap();
    let got: Vec<(String, Json)> =
        p.jobs.iter().map(|j| (j.name.clone(), j.github.as_ref().unwrap().matrix.to_json())).collect();
    if got.len() != want.len() {
        return Err(format!("expected {} jobs, got {}: {:?}", want.len(), got.len(), got));
    }
    for (i, (w, (gname, gm))) in want.iter().zip(&got).enumerate() {
        if let Some(n) = w["name"].as_str()
            && n != gname
        {
            return Err(format!("job {i}: name `{gname}`, expected `{n}`"));
        }
        let wm = &w["matrix"];
        let same = match (wm, gm) {
            (Json::Object(a), Json::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|x| json_eq(v, x)))
            }
            _ => json_eq(wm, gm),
        };
        if !same {
            return Err(format!("job {i} ({gname}): matrix {gm}, expected {wm}"));
        }
    }
    Ok(())
}

#[test]
fn matrix_cases_expand_as_github_does() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/test_data/github/matrix_cases.json");
    let data: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = data["cases"].as_array().unwrap();
    assert!(cases.len() >= 25, "only {} matrix cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        if let Err(e) = run_case(case) {
            failures.push(format!("{}: {e}", case["name"].as_str().unwrap_or("?")));
        }
    }
    assert!(failures.is_empty(), "{} of {} matrix cases fail:\n{}", failures.len(), cases.len(), failures.join("\n"));
}
