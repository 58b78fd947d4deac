//! syslog-ng: `source` drivers that listen on 514 and `destination` drivers that forward to an
//! agent port.

use std::ops::Range;

use super::calls::{calls, value_after};
use super::{forward_kind, Kind, AGENT_PORTS, SYSLOG_PORT};

/// The conflicts in one syslog-ng file, with the bytes each covers.
pub(super) fn conflicts(text: &str, file_name: &str) -> Vec<(Kind, Range<usize>)> {
    let mut found = Vec::new();
    for call in calls(text) {
        let name = call.name.to_ascii_lowercase();
        let args = call.args.to_ascii_lowercase();
        let port = syslog_ng_port(&args);
        // The driver and the `;` after it.
        let mut span = call.span.clone();
        let rest = &text[span.end..];
        if let Some(semicolon) = rest.trim_start_matches([' ', '\t']).strip_prefix(';') {
            span.end = text.len() - semicolon.len();
        }
        match call.block.as_deref() {
            Some("source") => {
                let transport = match name.as_str() {
                    "udp" | "udp6" => "udp",
                    "tcp" | "tcp6" => "tcp",
                    "network"
                        if args.contains("transport(\"tcp\")")
                            || args.contains("transport(tcp)") =>
                    {
                        "tcp"
                    }
                    "network" if args.contains("transport(") => "tls",
                    "network" => "udp",
                    // syslog() defaults to 601, the others to 514.
                    "syslog" if port.is_some() => "tcp",
                    _ => continue,
                };
                if port.unwrap_or(SYSLOG_PORT) == SYSLOG_PORT {
                    found.push((Kind::Input { transport }, span));
                }
            }
            Some("destination")
                if ["tcp", "udp", "network", "syslog", "tcp6", "udp6"].contains(&name.as_str()) =>
            {
                let local = [
                    "\"127.0.0.1\"",
                    "\"localhost\"",
                    "\"::1\"",
                    "127.0.0.1",
                    "localhost",
                ]
                .iter()
                .any(|host| args.trim_start().starts_with(host));
                if let (true, Some(port)) = (local, port.filter(|p| AGENT_PORTS.contains(p))) {
                    found.push((forward_kind(port, file_name), span));
                }
            }
            _ => {}
        }
    }
    found
}

/// syslog-ng `port(514)` (or the older `localport(514)`).
fn syslog_ng_port(args: &str) -> Option<u16> {
    ["port", "localport"].iter().find_map(|key| {
        let after = value_after(args, key, '(')?;
        let digits: String = after
            .trim_start_matches(['"', ' '])
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}
