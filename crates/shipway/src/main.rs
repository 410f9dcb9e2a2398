//! The `shipway` binary: parse arguments, hand off, map the outcome to an
//! exit code. All behaviour lives in the modules below and the crates.

mod ab;
mod bench;
mod check;
mod cli;
mod exit;
mod history;
mod ingest;
mod report;
mod run;
mod runs;
mod state;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    let code = match args.command {
        cli::Command::Run(a) => run::main(a),
        cli::Command::Check(a) => check::main(a),
        cli::Command::Runs(a) => runs::main(a),
        cli::Command::Gc(a) => runs::gc_main(a),
        cli::Command::Bench(a) => bench::main(a),
    };
    std::process::exit(code);
}
