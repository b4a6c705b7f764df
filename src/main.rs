//! The `llmrank` binary: parse, run, report. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match llmrank::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("llmrank: {}", llmrank::cli::one_line_usage_error(&e));
            return ExitCode::from(2);
        }
    };
    match llmrank::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("llmrank: {}", llmrank::table::printable(&format!("{e:#}")));
            if e.downcast_ref::<llmrank::cli::ExitTwo>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
