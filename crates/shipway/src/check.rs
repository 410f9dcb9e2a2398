//! `shipway check`: validate pipeline files and report every problem.

use crate::cli::{CheckArgs, Format};
use crate::exit;
use crate::run::{self, Setup};

pub(crate) fn main(args: CheckArgs) -> i32 {
    let files = if args.files.is_empty() {
        let cwd = std::env::current_dir().unwrap_or_default();
        let root = runner::project::find_root(&cwd);
        let mut v = Vec::new();
        if root.join(".gitlab-ci.yml").is_file() {
            v.push(root.join(".gitlab-ci.yml"));
        }
        v.extend(run::workflow_files(&root));
        if v.is_empty() {
            v.push(std::path::PathBuf::from(".gitlab-ci.yml"));
        }
        v
    } else {
        args.files.clone()
    };
    let mut all_json = Vec::new();
    let mut errors = 0usize;
    let mut warnings = 0usize;
    let mut out = String::new();
    for file in &files {
        let setup = match Setup::new(file, &run::ContextArgs::default()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return exit::INVALID;
            }
        };
        let compiled = setup.compile();
        for d in &compiled.diagnostics {
            if d.is_error() {
                errors += 1;
            } else {
                warnings += 1;
            }
            match args.format {
                Format::Human => out.push_str(&compiled.sources.render(d)),
                Format::Json => all_json.push(compiled.sources.to_json(d)),
            }
        }
    }
    match args.format {
        Format::Human => {
            print!("{out}");
            if errors == 0 && warnings == 0 {
                println!(
                    "{}: no problems found",
                    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
                );
            } else {
                println!("{errors} error(s), {warnings} warning(s)");
            }
        }
        Format::Json => {
            let v = serde_json::json!({
                "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": all_json,
            });
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
    }
    if errors > 0 { exit::INVALID } else { exit::SUCCESS }
}
