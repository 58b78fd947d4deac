//! rsyslog and syslog-ng configuration that competes with cefrelay: inputs on port 514 (only one
//! daemon gets each datagram, or the bind fails) and the old rules that forward CEF to the agent
//! (every event reaches the agent twice). `cef-troubleshoot` and `install` read the same files with
//! the same rules, so what one reports the other fixes.
//!
//! Disabling comments out only the offending text, in place: the file keeps its inode, owner, mode
//! and SELinux label (cef_installer.py rewrote whole files through a temp file and lost the label).
//! Each edited line keeps its original text after [`MARK`], so `uninstall` restores it exactly.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Starts the comment that carries a disabled line's original text.
pub const MARK: &str = "#cefrelay-disabled: ";

/// Suffix of the copy of a file taken before each edit.
pub const BACKUP_SUFFIX: &str = ".cefrelay.bak";

const AGENT_PORTS: [u16; 2] = [25226, 28330];
const SYSLOG_PORT: u16 = 514;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    Rsyslog,
    SyslogNg,
}

impl fmt::Display for Daemon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Daemon::Rsyslog => "rsyslog",
            Daemon::SyslogNg => "syslog-ng",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Listens on port 514.
    Input { transport: &'static str },
    /// Loads an rsyslog input module all of whose inputs are the ones on 514: once they are
    /// disabled, rsyslog would complain "module loaded, but no listeners defined".
    InputModule { module: &'static str },
    /// Forwards to an agent port: the rule cef_installer.py (or an admin) wrote.
    CefForward { port: u16 },
    /// The Azure Monitor agent's own forwarding of this host's syslog. It duplicates firewall
    /// events only while the daemon still receives them on 514, and the agent rewrites the file
    /// whenever its data collection rule changes: reported, never edited.
    AmaForward { port: u16 },
}

#[derive(Debug, Clone)]
pub struct Conflict {
    pub daemon: Daemon,
    pub kind: Kind,
    /// The file as the host names it (without `--root`).
    pub path: PathBuf,
    pub first_line: usize,
    pub last_line: usize,
    /// The offending configuration, whitespace collapsed.
    pub text: String,
    span: Range<usize>,
}

impl Conflict {
    /// Whether `--disable-conflicting-inputs` comments this one out.
    pub fn disabled_by_install(&self) -> bool {
        !matches!(self.kind, Kind::AmaForward { .. })
    }

    /// What stands in for the disabled text. rsyslog rejects an empty `if … then { }` block, so a
    /// forward that was the only statement of one becomes `continue`, its no-op statement.
    fn placeholder(&self) -> &'static str {
        match (self.daemon, &self.kind) {
            (Daemon::Rsyslog, Kind::CefForward { .. }) => "continue",
            _ => "",
        }
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path.display(), self.first_line)?;
        if self.last_line != self.first_line {
            write!(f, "-{}", self.last_line)?;
        }
        let what = match &self.kind {
            Kind::Input { transport } => format!("listens on {transport}/{SYSLOG_PORT}"),
            Kind::InputModule { module } => {
                format!("loads {module} only for its inputs on {SYSLOG_PORT}")
            }
            Kind::CefForward { port } => format!("forwards to the agent port {port}"),
            Kind::AmaForward { port } => format!(
                "the Azure Monitor agent's forward to {port} (duplicates only while {} also receives the firewalls)",
                self.daemon
            ),
        };
        write!(f, ": {} {what}: `{}`", self.daemon, self.text)
    }
}

/// The configuration files each daemon reads, under `root`.
fn candidate_files(root: &Path) -> Vec<(Daemon, PathBuf)> {
    let mut files = Vec::new();
    for (daemon, main, dir) in [
        (Daemon::Rsyslog, "etc/rsyslog.conf", "etc/rsyslog.d"),
        (
            Daemon::SyslogNg,
            "etc/syslog-ng/syslog-ng.conf",
            "etc/syslog-ng/conf.d",
        ),
    ] {
        files.push((daemon, root.join(main)));
        let mut included: Vec<PathBuf> = fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "conf"))
            .collect();
        included.sort();
        files.extend(included.into_iter().map(|path| (daemon, path)));
    }
    files.retain(|(_, path)| path.is_file());
    files
}

/// Every conflict in the rsyslog and syslog-ng configuration under `root` (`/` on a real host).
/// Unreadable files are skipped: the troubleshooter says so separately when it is not root.
pub fn find(root: &Path) -> Vec<Conflict> {
    let mut found = Vec::new();
    let mut modules = InputModules::default();
    for (daemon, path) in candidate_files(root) {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let shown = Path::new("/").join(path.strip_prefix(root).unwrap_or(&path));
        let file_name = shown
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spans = match daemon {
            Daemon::Rsyslog => rsyslog(&text, &file_name, &mut modules),
            Daemon::SyslogNg => syslog_ng(&text, &file_name),
        };
        let conflict = |kind, span: Range<usize>| Conflict {
            daemon,
            kind,
            path: shown.clone(),
            first_line: line_of(&text, span.start),
            last_line: line_of(&text, span.end.saturating_sub(1).max(span.start)),
            text: text[span.clone()]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            span,
        };
        found.extend(spans.into_iter().map(|(kind, span)| conflict(kind, span)));
        for (module, span) in modules.loads_in_this_file.drain(..) {
            modules
                .loads
                .push(conflict(Kind::InputModule { module }, span));
        }
    }
    found.extend(modules.loads.into_iter().filter(|load| match load.kind {
        Kind::InputModule { module } => {
            modules.disabled.contains(&module) && !modules.kept.contains(&module)
        }
        _ => false,
    }));
    found
}

/// rsyslog input modules across all its files: where each is loaded, and whether it keeps any
/// input once those on 514 are disabled.
#[derive(Default)]
struct InputModules {
    loads_in_this_file: Vec<(&'static str, Range<usize>)>,
    loads: Vec<Conflict>,
    disabled: Vec<&'static str>,
    kept: Vec<&'static str>,
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

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A forward to an agent port is the AMA's own when it sits in the file the agent writes.
fn forward_kind(port: u16, file_name: &str) -> Kind {
    if port == 28330 && file_name.contains("azuremonitoragent") {
        Kind::AmaForward { port }
    } else {
        Kind::CefForward { port }
    }
}

fn rsyslog(text: &str, file_name: &str, modules: &mut InputModules) -> Vec<(Kind, Range<usize>)> {
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

fn syslog_ng(text: &str, file_name: &str) -> Vec<(Kind, Range<usize>)> {
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

/// The text after `key` + `opener` where `key` is a whole word (`port`, not `localport`).
fn value_after<'a>(args: &'a str, key: &str, opener: char) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = args[from..].find(key) {
        let start = from + found;
        let end = start + key.len();
        from = end;
        let whole_word = args[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        let rest = args[end..].trim_start();
        if whole_word {
            if let Some(value) = rest.strip_prefix(opener) {
                return Some(value.trim_start());
            }
        }
    }
    None
}

/// A `name( … )` at the outermost parenthesis level, with the `{ … }` block it sits in.
struct Call {
    name: String,
    args: String,
    /// The keyword that opened the enclosing block (`source`, `destination`, `if`, …).
    block: Option<String>,
    span: Range<usize>,
}

/// The calls of an rsyslog or syslog-ng file, skipping `#` comments and quoted strings.
fn calls(text: &str) -> Vec<Call> {
    let bytes = text.as_bytes();
    let mut calls = Vec::new();
    let mut blocks: Vec<Option<String>> = Vec::new();
    let mut statement: Option<String> = None;
    let mut last_word: Option<Range<usize>> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                last_word = None;
                continue;
            }
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i);
                last_word = None;
                continue;
            }
            b'(' => {
                let close = matching_paren(bytes, i);
                if let Some(word) = last_word.take() {
                    calls.push(Call {
                        name: text[word.clone()].to_string(),
                        args: text[i + 1..close.min(bytes.len())].to_string(),
                        block: blocks.last().cloned().flatten(),
                        span: word.start..(close + 1).min(bytes.len()),
                    });
                }
                i = close + 1;
                continue;
            }
            b'{' => {
                blocks.push(statement.take());
                last_word = None;
            }
            b'}' => {
                blocks.pop();
                statement = None;
                last_word = None;
            }
            b';' => {
                if blocks.is_empty() {
                    statement = None;
                }
                last_word = None;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'-' || c == b'.' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || b"_$-.".contains(&bytes[i]))
                {
                    i += 1;
                }
                if statement.is_none() {
                    statement = Some(text[start..i].to_ascii_lowercase());
                }
                last_word = Some(start..i);
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => last_word = None,
        }
        i += 1;
    }
    calls
}

fn skip_quoted(bytes: &[u8], open: usize) -> usize {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index of the `)` closing the `(` at `open` (or the end of the text when it never closes).
fn matching_paren(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'"' | b'\'' => {
                i = skip_quoted(bytes, i);
                continue;
            }
            b'#' => {
                i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |n| i + n);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// One file changed by [`disable`] or [`restore`].
#[derive(Debug)]
pub struct Edit {
    /// The file as the host names it.
    pub path: PathBuf,
    /// Where it is on disk (under `--root`).
    pub on_disk: PathBuf,
    pub before: String,
    pub after: String,
}

/// The edits that comment out `conflicts` (those [`Conflict::disabled_by_install`]), computed
/// without touching anything, so `--dry-run` can show them.
pub fn plan_disable(root: &Path, conflicts: &[Conflict]) -> io::Result<Vec<Edit>> {
    let mut edits = Vec::new();
    let mut paths: Vec<&PathBuf> = conflicts
        .iter()
        .filter(|c| c.disabled_by_install())
        .map(|c| &c.path)
        .collect();
    paths.sort();
    paths.dedup();
    for path in paths {
        let on_disk = under_root(root, path);
        let before = fs::read_to_string(&on_disk)?;
        let spans: Vec<(Range<usize>, &str)> = conflicts
            .iter()
            .filter(|c| c.disabled_by_install() && &c.path == path)
            .map(|c| (c.span.clone(), c.placeholder()))
            .collect();
        let after = comment_out(&before, &spans);
        edits.push(Edit {
            path: path.clone(),
            on_disk,
            before,
            after,
        });
    }
    Ok(edits)
}

/// The edits that bring back every line a previous install disabled.
pub fn plan_restore(root: &Path) -> io::Result<Vec<Edit>> {
    let mut edits = Vec::new();
    for (_, on_disk) in candidate_files(root) {
        let before = fs::read_to_string(&on_disk)?;
        if !before.contains(MARK) {
            continue;
        }
        let after: String = before
            .split_inclusive('\n')
            .map(|line| match line.find(MARK) {
                Some(at) => &line[at + MARK.len()..],
                None => line,
            })
            .collect();
        let path = Path::new("/").join(on_disk.strip_prefix(root).unwrap_or(&on_disk));
        edits.push(Edit {
            path,
            on_disk,
            before,
            after,
        });
    }
    Ok(edits)
}

fn under_root(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// Each line a span touches loses the spanned text (the placeholder takes its place where the span
/// starts) and keeps its original after [`MARK`].
fn comment_out(text: &str, spans: &[(Range<usize>, &str)]) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let ending = &line[content.len()..];
        let line_range = offset..offset + content.len();
        offset += line.len();
        let cut: Vec<(Range<usize>, &str)> = spans
            .iter()
            .filter(|(s, _)| {
                s.start < line_range.end.max(line_range.start + 1) && s.end > line_range.start
            })
            .map(|(s, placeholder)| {
                let starts_here = s.start >= line_range.start;
                (
                    s.start.max(line_range.start) - line_range.start
                        ..s.end.min(line_range.end) - line_range.start,
                    if starts_here { *placeholder } else { "" },
                )
            })
            .collect();
        if cut.is_empty() || content.contains(MARK) {
            out.push_str(line);
            continue;
        }
        let mut kept = String::new();
        let mut from = 0;
        for (range, placeholder) in &cut {
            kept.push_str(&content[from..range.start.max(from)]);
            kept.push_str(placeholder);
            from = from.max(range.end);
        }
        kept.push_str(&content[from..]);
        let kept = kept.trim_end();
        if !kept.trim().is_empty() {
            out.push_str(kept);
            out.push(' ');
        }
        out.push_str(MARK);
        out.push_str(content);
        out.push_str(ending);
    }
    out
}

/// Writes an edit in place: a `.cefrelay.bak` copy first, then the same file truncated and
/// rewritten (same inode, owner, mode and SELinux label), then `restorecon` where it exists.
pub fn apply(edit: &Edit) -> io::Result<()> {
    let backup = PathBuf::from(format!("{}{BACKUP_SUFFIX}", edit.on_disk.display()));
    fs::copy(&edit.on_disk, &backup)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&edit.on_disk)?;
    file.write_all(edit.after.as_bytes())?;
    file.sync_all()?;
    restorecon(&[&edit.on_disk, &backup]);
    Ok(())
}

/// Puts SELinux labels back where the host has SELinux tools; elsewhere there is nothing to do.
fn restorecon(paths: &[&Path]) {
    let _ = Command::new("restorecon")
        .args(paths)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    const RSYSLOG_CONF: &str = "\
module(load=\"imuxsock\")
# provides UDP syslog reception
module(load=\"imudp\")
input(type=\"imudp\" port=\"514\")
$ModLoad imtcp
$InputTCPServerRun 514
input(type=\"imtcp\"
      port=\"10514\")
input(type=\"imptcp\"
      port=[\"601\", \"514\"])
#$UDPServerRun 514
*.* /var/log/syslog
";

    #[test]
    fn rsyslog_inputs_on_514_are_found_and_others_are_not() {
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
        let found = find(root.path());
        let lines: Vec<_> = found
            .iter()
            .map(|c| (c.first_line, c.last_line, c.kind.clone()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (4, 4, Kind::Input { transport: "udp" }),
                (6, 6, Kind::Input { transport: "tcp" }),
                (9, 10, Kind::Input { transport: "tcp" }),
                (3, 3, Kind::InputModule { module: "imudp" }),
            ]
        );
        assert_eq!(found[0].path, Path::new("/etc/rsyslog.conf"));
        assert_eq!(found[0].text, "input(type=\"imudp\" port=\"514\")");
    }

    #[test]
    fn old_forwarding_rules_are_found_and_the_agents_own_is_only_reported() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "etc/rsyslog.d/security-config-omsagent.conf",
            "if $rawmsg contains \"CEF:\" or $rawmsg contains \"ASA-\" then @@127.0.0.1:25226\n",
        );
        write(
            root.path(),
            "etc/rsyslog.d/10-azuremonitoragent-omfwd.conf",
            "*.* action(type=\"omfwd\" template=\"AMA_RSYSLOG_TraditionalForwardFormat\"\n  target=\"127.0.0.1\" Port=\"28330\" Protocol=\"tcp\")\n",
        );
        write(
            root.path(),
            "etc/syslog-ng/conf.d/security-config-omsagent.conf",
            "filter f_oms_filter {match(\"CEF\\|ASA\" ) ;};\ndestination oms_destination {tcp(\"127.0.0.1\" port(25226));};\nlog {source(s_src);filter(f_oms_filter);destination(oms_destination);};\n",
        );
        let found = find(root.path());
        let kinds: Vec<_> = found
            .iter()
            .map(|c| (c.daemon, c.kind.clone(), c.first_line))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Daemon::Rsyslog, Kind::AmaForward { port: 28330 }, 1),
                (Daemon::Rsyslog, Kind::CefForward { port: 25226 }, 1),
                (Daemon::SyslogNg, Kind::CefForward { port: 25226 }, 2),
            ]
        );
        assert!(!found[0].disabled_by_install());
        assert!(found[0]
            .to_string()
            .contains("10-azuremonitoragent-omfwd.conf:1-2"));
    }

    #[test]
    fn syslog_ng_sources_on_514_including_the_defaults() {
        let root = tempfile::tempdir().unwrap();
        write(
            root.path(),
            "etc/syslog-ng/syslog-ng.conf",
            "@version: 3.38\nsource s_src { system(); internal(); };\nsource s_net { udp(ip(0.0.0.0) port(514)); tcp(port(601)); network(transport(\"tcp\")); };\nsource s_tls {\n  network(port(6514) transport(\"tls\"));\n  syslog(port(514));\n};\ndestination d_net { udp(\"10.0.0.1\" port(514)); };\n",
        );
        let found = find(root.path());
        let kinds: Vec<_> = found
            .iter()
            .map(|c| (c.kind.clone(), c.first_line, c.text.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    Kind::Input { transport: "udp" },
                    3,
                    "udp(ip(0.0.0.0) port(514));"
                ),
                (
                    Kind::Input { transport: "tcp" },
                    3,
                    "network(transport(\"tcp\"));"
                ),
                (Kind::Input { transport: "tcp" }, 6, "syslog(port(514));"),
            ]
        );
    }

    #[test]
    fn disabling_keeps_the_rest_of_each_line_and_restoring_gives_back_the_original() {
        let root = tempfile::tempdir().unwrap();
        let syslog_ng = "source s_net { udp(port(514)); internal(); };\n";
        write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
        write(root.path(), "etc/syslog-ng/syslog-ng.conf", syslog_ng);
        let found = find(root.path());
        let edits = plan_disable(root.path(), &found).unwrap();
        assert_eq!(edits.len(), 2);
        for edit in &edits {
            apply(edit).unwrap();
        }
        let rsyslog = fs::read_to_string(root.path().join("etc/rsyslog.conf")).unwrap();
        assert!(rsyslog.contains(&format!("\n{MARK}input(type=\"imudp\" port=\"514\")\n")));
        assert!(rsyslog.contains(&format!("\n{MARK}$InputTCPServerRun 514\n")));
        assert!(rsyslog.contains(&format!(
            "\n{MARK}input(type=\"imptcp\"\n{MARK}      port=[\"601\", \"514\"])\n"
        )));
        assert!(rsyslog.contains("input(type=\"imtcp\"\n      port=\"10514\")\n"));
        let ng = fs::read_to_string(root.path().join("etc/syslog-ng/syslog-ng.conf")).unwrap();
        assert_eq!(
            ng,
            format!("source s_net {{  internal(); }}; {MARK}{syslog_ng}")
        );
        assert_eq!(
            fs::read_to_string(root.path().join("etc/rsyslog.conf.cefrelay.bak")).unwrap(),
            RSYSLOG_CONF
        );
        assert!(find(root.path()).is_empty(), "nothing left to disable");

        for edit in plan_restore(root.path()).unwrap() {
            apply(&edit).unwrap();
        }
        assert_eq!(
            fs::read_to_string(root.path().join("etc/rsyslog.conf")).unwrap(),
            RSYSLOG_CONF
        );
        assert_eq!(
            fs::read_to_string(root.path().join("etc/syslog-ng/syslog-ng.conf")).unwrap(),
            syslog_ng
        );
    }

    #[test]
    fn editing_keeps_the_inode_and_mode() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let root = tempfile::tempdir().unwrap();
        write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
        let path = root.path().join("etc/rsyslog.conf");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let before = fs::metadata(&path).unwrap();
        for edit in plan_disable(root.path(), &find(root.path())).unwrap() {
            apply(&edit).unwrap();
        }
        let after = fs::metadata(&path).unwrap();
        assert_eq!(before.ino(), after.ino());
        assert_eq!(after.permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "input(",
            "\"",
            "source { udp(port(",
            "$UDPServerRun x",
            "){}};;((",
            "action(type=\"omfwd\" port=\"25226\" target=\"127.0.0.1\"",
        ] {
            let _ = rsyslog(text, "x.conf", &mut InputModules::default());
            let _ = syslog_ng(text, "x.conf");
            let _ = comment_out(text, &[(0..text.len(), "continue")]);
        }
    }
}
