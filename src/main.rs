//! cefrelay: receive PAN-OS syslog, keep what matters, hand it on.

use std::process::ExitCode;

use clap::Parser;

mod app;
mod buffer;
mod check_config;
mod cli;
mod config;
mod event;
mod exit;
mod host;
mod install;
mod parse;
mod pipeline;
mod rules;
mod sanitize;
mod send;
mod sink;
mod source;
mod telemetry;
mod troubleshoot;
mod userid;
mod watch;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Run(_)) {
        stop_quietly_on_a_closed_pipe();
    }
    let result = match &cli.command {
        Command::Parse(args) => parse::run(args),
        Command::Run(args) => app::run(args),
        Command::CheckConfig(args) => check_config::run(args),
        Command::Send(args) => send::run(args),
        Command::CefTroubleshoot(args) => troubleshoot::run(args.clone()),
        Command::Install(args) => install::install(args),
        Command::Uninstall(args) => install::uninstall(args),
        Command::Tap(args) => watch::tap::run(args),
        Command::Top(args) => watch::top::run(args),
        Command::Rules(command) => rules::run(command),
        Command::Userid(command) => userid::command::run(command),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "cefrelay", &mut std::io::stdout());
            Ok(0)
        }
        Command::Man { dir: None } => {
            // As `--dir` writes it: no `cefrelay-help(1)`, a page that does not exist.
            let command = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
            let page = clap_mangen::Man::new(command);
            page.render(&mut std::io::stdout())
                .map(|()| 0)
                .map_err(Into::into)
        }
        // The packages carry these: the top page lists the subcommands but not their options.
        Command::Man { dir: Some(dir) } => {
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), dir)
                .map(|()| 0)
                .map_err(|error| {
                    anyhow::anyhow!("writing the man pages to {}: {error}", dir.display())
                })
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!(
                "cefrelay: {}",
                sanitize::lines_for_terminal(&format!("{error:#}"))
            );
            ExitCode::FAILURE
        }
    }
}

/// Rust ignores SIGPIPE, so printing into a closed pipe (`cefrelay parse x.log | head`) panics.
/// A command that prints exits quietly instead, as `cat` does; `run` keeps ignoring it (its
/// sockets are written with MSG_NOSIGNAL, and it prints nothing to a pipe that matters).
fn stop_quietly_on_a_closed_pipe() {
    #[expect(unsafe_code, reason = "signal() has no safe wrapper")]
    // SAFETY: restoring a signal's default disposition, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
