//! The process exit codes, in one place.

use std::fmt::Display;

use crate::sanitize::lines_for_terminal;

/// A configuration, a flag or a command line that cannot work (sysexits' EX_USAGE): systemd's
/// unit does not restart on it, since trying again cannot help.
pub const BAD_CONFIG: u8 = 64;

/// Says why the configuration is refused, on stderr as `cefrelay: bad configuration: …` (made
/// safe for a terminal, line breaks kept), and gives the exit code for it.
pub fn bad_config(why: impl Display) -> u8 {
    eprintln!(
        "cefrelay: bad configuration: {}",
        lines_for_terminal(&why.to_string())
    );
    BAD_CONFIG
}

/// Stopped at once by a second signal (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;
