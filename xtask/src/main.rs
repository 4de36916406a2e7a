//! `cargo xtask`: builds, boots and tests Bulkhead (see `cargo xtask --help`).
//!
//! This binary only parses the command line and reports failures; the work is done by the
//! `xtask` library, which the QEMU test harness shares.
#![forbid(unsafe_code)]

mod cli;
mod commands;

use std::process::ExitCode;

use clap::Parser;
use xtask::paths::Repository;

use crate::cli::{Cli, Task};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let repository = Repository::locate();
    let result = match cli.task {
        Task::Build(arguments) => commands::build::build(&repository, &arguments).map(|_| ()),
        Task::Run(arguments) => commands::run::run(&repository, &arguments),
        Task::Test => commands::test::test(&repository),
        Task::Lint => commands::lint::lint(&repository),
        Task::Soak(arguments) => commands::soak::soak(&repository, &arguments),
        Task::Check(arguments) => commands::check::check(&repository, &arguments),
        Task::Bench(arguments) => xtask::bench::command(
            &repository,
            &xtask::bench::BenchOptions {
                board: arguments.board,
                only: arguments.only.as_deref().and_then(xtask::bench::OnlyRow::from_name),
                ..xtask::bench::BenchOptions::from_command_line(
                    arguments.samples,
                    arguments.against.is_some(),
                    arguments.quick,
                    arguments.profile,
                )
            },
        )
        .map_err(commands::Failure::Bench),
        Task::Trace(arguments) => commands::trace::trace(&repository, arguments.update_lock),
        Task::Expand(arguments) => commands::expand::expand(&repository, &arguments),
        Task::Flash(arguments) => commands::flash::flash(&repository, &arguments),
        Task::BoardDts { board } => commands::board_dts::board_dts(&repository, &board),
        Task::Fuzz(arguments) => commands::fuzz::fuzz(
            &repository,
            &commands::fuzz::Options { seconds: arguments.seconds, target: arguments.target, keep: arguments.keep },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::FAILURE
        }
    }
}
