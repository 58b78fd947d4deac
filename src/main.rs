//! cefrelay: receive PAN-OS syslog, keep what matters, hand it on.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod event;
mod parse;
mod sanitize;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Parse(args) => parse::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("cefrelay: {}", sanitize::for_terminal(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    }
}
