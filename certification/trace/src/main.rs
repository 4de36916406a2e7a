//! `bulkhead-trace`: the command line of the traceability generator, for use without
//! `cargo xtask` (CI scripts, re-rendering an archived `trace.json`).
//!
//! ```text
//! bulkhead-trace [--root DIR] [--check] [--update-lock]   trace, check, write target/trace/
//! bulkhead-trace render TRACE_JSON OUT_DIR                  re-render reports from trace.json
//! bulkhead-trace coverage [--root DIR]                      measure core coverage
//! bulkhead-trace browser-check HTML WORK_DIR                open a report in headless Chromium
//! ```
//! Exit status: 0 when every check passes (warnings allowed), 1 when a check fails, 2 when the
//! inputs cannot be read.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use bulkhead_trace::{Options, browser, coverage, render_from_json, run};

/// Parses arguments and runs the command.
fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match execute(&arguments) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("bulkhead-trace: {message}");
            ExitCode::from(2)
        }
    }
}

/// The value after `flag`, if present.
fn value_of(arguments: &[String], flag: &str) -> Option<PathBuf> {
    arguments.iter().position(|argument| argument == flag).and_then(|index| arguments.get(index + 1)).map(PathBuf::from)
}

/// The repository root: `--root`, or the current directory.
fn root(arguments: &[String]) -> Result<PathBuf, String> {
    match value_of(arguments, "--root") {
        Some(root) => Ok(root),
        None => std::env::current_dir().map_err(|error| error.to_string()),
    }
}

/// Runs one command.
fn execute(arguments: &[String]) -> Result<ExitCode, String> {
    match arguments.first().map(String::as_str) {
        Some("render") => {
            let (Some(trace), Some(out)) = (arguments.get(1), arguments.get(2)) else {
                return Err("usage: bulkhead-trace render TRACE_JSON OUT_DIR".to_owned());
            };
            for path in
                render_from_json(&PathBuf::from(trace), &PathBuf::from(out)).map_err(|error| error.to_string())?
            {
                println!("{}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some("coverage") => {
            let measured = coverage::measure(&coverage::MeasureOptions::core(root(arguments)?))
                .map_err(|error| error.to_string())?;
            let percent = |counter: Option<bulkhead_trace::results::coverage::Counter>| {
                counter
                    .and_then(bulkhead_trace::results::coverage::Counter::percent)
                    .map_or_else(|| "not measured".to_owned(), |value| format!("{value:.1}%"))
            };
            println!(
                "{}: regions {}, branches {}, lines {} ({})",
                measured.scope,
                percent(Some(measured.totals.regions)),
                percent(measured.totals.branches),
                percent(Some(measured.totals.lines)),
                measured.tool
            );
            Ok(ExitCode::SUCCESS)
        }
        Some("browser-check") => {
            let (Some(html), Some(work)) = (arguments.get(1), arguments.get(2)) else {
                return Err("usage: bulkhead-trace browser-check HTML WORK_DIR".to_owned());
            };
            let chromium = browser::ensure_chromium().map_err(|error| error.to_string())?;
            let seen = browser::check_html(&chromium, &PathBuf::from(html), &PathBuf::from(work))
                .map_err(|error| error.to_string())?;
            println!("{seen:#?}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            let mut options = Options::new(root(arguments)?);
            options.check_only = arguments.iter().any(|argument| argument == "--check");
            options.update_lock = arguments.iter().any(|argument| argument == "--update-lock");
            let report = run(&options).map_err(|error| error.to_string())?;
            if report.lock_updated {
                println!("updated {}", bulkhead_trace::LOCK_FILE);
            }
            println!("{}", report.summary());
            for path in &report.outputs {
                println!("wrote {}", path.display());
            }
            Ok(if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
