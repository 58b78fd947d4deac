//! rsyslog: its legacy `$Directive` lines, `@@host:port` forwards, and RainerScript `input()`,
//! `module()` and `action()` calls.

use std::ops::Range;

use super::calls::{calls, value_after};
use super::{forward_kind, Conflict, Kind, AGENT_PORTS, SYSLOG_PORT};

/// rsyslog input modules across all its files: where each is loaded, and whether it keeps any
/// input once those on 514 are disabled.
#[derive(Default)]
pub(super) struct InputModules {
    pub(super) loads_in_this_file: Vec<(&'static str, Range<usize>)>,
    pub(super) loads: Vec<Conflict>,
    pub(super) disabled: Vec<&'static str>,
    pub(super) kept: Vec<&'static str>,
}

impl InputModules {
    fn input(&mut self, module: &'static str, on_syslog_port: bool) {
        if on_syslog_port {
            self.disabled.push(module);
        } else {
            self.kept.push(module);
        }
    }
}

/// rsyslog's name for an input module, as `module(load=…)`, `$ModLoad` and `input(type=…)` give it.
fn input_module(name: &str) -> Option<&'static str> {
    ["imudp", "imtcp", "imptcp"]
        .into_iter()
        .find(|m| *m == name)
}

/// The conflicts in one rsyslog file, with the bytes each covers.
// One piece: one pass over the file, legacy and RainerScript forms side by side.
pub(super) fn conflicts(
    text: &str,
    file_name: &str,
    modules: &mut InputModules,
) -> Vec<(Kind, Range<usize>)> {
    let mut found = Vec::new();
    // Legacy directives and `@@host:port` forwards are one line each.
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let span = offset..offset + line.trim_end().len();
        offset += line.len();
        let code = strip_comment(line).trim();
        let lower = code.to_ascii_lowercase();
        let mut words = lower.split_whitespace();
        let directive = words.next().unwrap_or_default();
        let argument = words.next().unwrap_or_default();
        let port = argument.parse::<u16>().ok();
        let input = match directive {
            // imudp's port defaults to 514.
            "$udpserverrun" => Some(("imudp", "udp", port.unwrap_or(SYSLOG_PORT))),
            "$inputtcpserverrun" => port.map(|p| ("imtcp", "tcp", p)),
            "$inputptcpserverrun" => port.map(|p| ("imptcp", "tcp", p)),
            "$modload" => {
                if let Some(module) = input_module(argument) {
                    modules.loads_in_this_file.push((module, span.clone()));
                }
                None
            }
            _ => None,
        };
        if let Some((module, transport, port)) = input {
            modules.input(module, port == SYSLOG_PORT);
            if port == SYSLOG_PORT {
                found.push((Kind::Input { transport }, span.clone()));
            }
        }
        for port in AGENT_PORTS {
            let local = [
                format!("@127.0.0.1:{port}"),
                format!("@localhost:{port}"),
                format!("@[::1]:{port}"),
            ];
            if local.iter().any(|target| lower.contains(target.as_str())) {
                found.push((forward_kind(port, file_name), span.clone()));
            }
        }
    }
    for call in calls(text) {
        let args = call.args.to_ascii_lowercase();
        match call.name.to_ascii_lowercase().as_str() {
            "input" => {
                let Some(module) = quoted_value(&args, "type").and_then(|t| input_module(&t))
                else {
                    continue;
                };
                let transport = if module == "imudp" { "udp" } else { "tcp" };
                let ports = rsyslog_ports(&args);
                let listens =
                    ports.contains(&SYSLOG_PORT) || (ports.is_empty() && module == "imudp");
                modules.input(module, listens);
                if listens {
                    found.push((Kind::Input { transport }, call.span));
                }
            }
            "module" => {
                if let Some(module) = quoted_value(&args, "load").and_then(|m| input_module(&m)) {
                    modules.loads_in_this_file.push((module, call.span));
                }
            }
            "action" if quoted_value(&args, "type").as_deref() == Some("omfwd") => {
                let local = quoted_value(&args, "target")
                    .is_some_and(|t| ["127.0.0.1", "localhost", "::1"].contains(&t.as_str()));
                let port = rsyslog_ports(&args)
                    .into_iter()
                    .find(|p| AGENT_PORTS.contains(p));
                if let (true, Some(port)) = (local, port) {
                    // The selector or `if … then` before the action belongs to it: the whole lines go.
                    let start = text[..call.span.start].rfind('\n').map_or(0, |i| i + 1);
                    let end = text[call.span.end..]
                        .find('\n')
                        .map_or(text.len(), |i| call.span.end + i);
                    found.push((forward_kind(port, file_name), start..end));
                }
            }
            _ => {}
        }
    }
    found.sort_by_key(|(_, span)| span.start);
    found
}

/// `line` without its `#` comment (outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return &line[..i],
            _ => {}
        }
    }
    line
}

/// The value of `key="value"` in rsyslog parameters.
fn quoted_value(args: &str, key: &str) -> Option<String> {
    let after = value_after(args, key, '=')?;
    let after = after.strip_prefix('"')?;
    after.find('"').map(|end| after[..end].trim().to_string())
}

/// rsyslog `port="514"` or `port=["514","10514"]`.
fn rsyslog_ports(args: &str) -> Vec<u16> {
    let Some(after) = value_after(args, "port", '=') else {
        return Vec::new();
    };
    let value = if after.starts_with('[') {
        &after[..after.find(']').unwrap_or(after.len())]
    } else {
        let unquoted = after.trim_start_matches('"');
        &unquoted[..unquoted.find(['"', ' ', ')']).unwrap_or(unquoted.len())]
    };
    value
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse().ok())
        .collect()
}
