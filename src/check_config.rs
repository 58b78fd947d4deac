//! `cefrelay check-config FILE`: the validation `run` does, and nothing else.

use crate::cli::CheckConfigArgs;
use crate::config::Config;
use crate::exit;
use crate::sanitize;

pub fn run(args: &CheckConfigArgs) -> anyhow::Result<u8> {
    match Config::load(&args.file) {
        Ok(config) => {
            println!(
                "{}: ok ({} listeners, filter {:?}, forward to {:?}, {} rules, threat enrichment {})",
                sanitize::for_terminal(&args.file.display().to_string()),
                config.listeners.len(),
                config.filter,
                config.forward.addresses,
                config.rules.rules.len(),
                if config.enrich.threat.is_some() { "on" } else { "off" }
            );
            Ok(0)
        }
        Err(error) => Ok(exit::bad_config(error)),
    }
}
