//! Guards the layering: the pure crates (`ci`, `stats`) must not depend, even
//! transitively, on async runtimes, HTTP, SQL, process or filesystem crates,
//! and their source must not reach for `std::fs`, `std::process`,
//! `std::net`, threads, the environment, the clock or an entropy source
//! (randomness in a pure crate comes from a seed its caller passes).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

const PURE: &[&str] = &["ci", "stats"];

const FORBIDDEN_CRATES: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "hyper",
    "reqwest",
    "axum",
    "tower",
    "sqlx",
    "rusqlite",
    "postgres",
    "libsqlite3-sys",
    "nix",
    "rustix",
    "libc",
    "walkdir",
    "ignore",
    "tempfile",
    "notify",
    "socket2",
    "getrandom",
    "runner",
];

const FORBIDDEN_SOURCE: &[&str] = &[
    "std::fs",
    "std::process",
    "std::net",
    "std::thread",
    "std::env::var",
    "std::env::current_dir",
    "SystemTime::now",
    "Instant::now",
    "std::io::stdin",
    "std::io::stdout",
    "println!",
    "eprintln!",
    "thread_rng",
    "rand::rng()",
    "OsRng",
    "SysRng",
    "from_os_rng",
    "from_entropy",
];

fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

#[test]
fn pure_crates_have_no_io_dependencies() {
    let meta = metadata();
    let packages = meta["packages"].as_array().unwrap();
    let name_of: HashMap<&str, &str> =
        packages.iter().map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap())).collect();
    let nodes = meta["resolve"]["nodes"].as_array().unwrap();
    let node_of: HashMap<&str, &serde_json::Value> = nodes.iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
    for pure in PURE {
        let root = packages.iter().find(|p| p["name"] == *pure).expect("pure crate in workspace");
        let mut seen = BTreeSet::new();
        let mut todo = vec![root["id"].as_str().unwrap()];
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(node) = node_of.get(id) else { continue };
            for dep in node["deps"].as_array().unwrap() {
                // Only normal dependencies count; dev- and build-dependencies
                // never reach the shipped code.
                let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
                if normal {
                    todo.push(dep["pkg"].as_str().unwrap());
                }
            }
        }
        let names: BTreeSet<&str> = seen.iter().map(|id| name_of[id]).collect();
        let bad: Vec<&&str> = FORBIDDEN_CRATES.iter().filter(|c| names.contains(**c)).collect();
        assert!(bad.is_empty(), "pure crate `{pure}` depends on I/O crates {bad:?} (all deps: {names:?})");
    }
}

#[test]
fn pure_crate_sources_do_no_io() {
    // The pure crates sit beside this one under `crates/`.
    let crates = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut problems = Vec::new();
    let mut todo: Vec<PathBuf> = PURE.iter().map(|name| crates.join(name).join("src")).collect();
    for dir in &todo {
        assert!(dir.is_dir(), "pure crate sources at {}", dir.display());
    }
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                for (i, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or("");
                    for f in FORBIDDEN_SOURCE {
                        if code.contains(f) {
                            problems.push(format!("{}:{}: uses `{f}`", p.display(), i + 1));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "the pure core must not do I/O:\n{}", problems.join("\n"));
}

/// Database crates a workspace crate may only reach through `store`.
const SQL_CRATES: &[&str] = &["rusqlite", "libsqlite3-sys", "sqlx", "postgres", "tokio-postgres"];

#[test]
fn only_the_store_crate_speaks_sql() {
    let meta = metadata();
    let members: BTreeSet<&str> =
        meta["workspace_members"].as_array().unwrap().iter().filter_map(|m| m.as_str()).collect();
    let packages = meta["packages"].as_array().unwrap();
    let mut offenders = Vec::new();
    for p in packages.iter().filter(|p| members.contains(p["id"].as_str().unwrap_or(""))) {
        let name = p["name"].as_str().unwrap();
        for dep in p["dependencies"].as_array().unwrap() {
            let dep_name = dep["name"].as_str().unwrap();
            if SQL_CRATES.contains(&dep_name) && name != "store" {
                offenders.push(format!("{name} -> {dep_name}"));
            }
        }
    }
    assert!(offenders.is_empty(), "only `store` may depend on SQL crates: {offenders:?}");
    let store = packages.iter().find(|p| p["name"] == "store").expect("the store crate");
    let deps: Vec<&str> = store["dependencies"].as_array().unwrap().iter().filter_map(|d| d["name"].as_str()).collect();
    assert!(deps.contains(&"rusqlite"), "store uses rusqlite: {deps:?}");
    for forbidden in ["ci", "runner", "saphyr-parser"] {
        assert!(!deps.contains(&forbidden), "store must not know pipelines or YAML (depends on {forbidden})");
    }
}
