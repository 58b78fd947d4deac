//! `cefrelay check-config FILE`: the validation `run` does, and nothing else.

use crate::cli::CheckConfigArgs;
use crate::config::Config;
use crate::exit;
use crate::sanitize;

pub fn run(args: &CheckConfigArgs) -> anyhow::Result<u8> {
    match Config::load(&args.file) {
        Ok(config) => {
            println!(
                "{}: ok ({} listeners, filter {:?}, forward to {:?})",
                sanitize::for_terminal(&args.file.display().to_string()),
                config.listeners.len(),
                config.filter,
                config.forward.addresses
            );
            Ok(0)
        }
        Err(error) => Ok(exit::bad_config(error)),
    }
}
