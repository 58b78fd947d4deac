//! rsyslog and syslog-ng configuration that competes with cefrelay: inputs on port 514 (only one
//! daemon gets each datagram, or the bind fails) and the old rules that forward CEF to the agent
//! (every event reaches the agent twice). `cef-troubleshoot` and `install` read the same files with
//! the same rules, so what one reports the other fixes.
//!
//! Disabling comments out only the offending text, in place: the file keeps its inode, owner, mode
//! and SELinux label (cef_installer.py rewrote whole files through a temp file and lost the label).
//! Each edited line keeps its original text after [`edit::MARK`], so `uninstall` restores it exactly.

mod calls;
mod edit;
mod rsyslog;
mod syslog_ng;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::config::{AMA_AGENT_PORT, LEGACY_AGENT_PORT};

pub use edit::{apply, plan_disable, plan_restore, Edit, BACKUP_SUFFIX};

const AGENT_PORTS: [u16; 2] = [LEGACY_AGENT_PORT, AMA_AGENT_PORT];
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
    /// The offending bytes of the file, which an edit comments out.
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
    let mut modules = rsyslog::InputModules::default();
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
            Daemon::Rsyslog => rsyslog::conflicts(&text, &file_name, &mut modules),
            Daemon::SyslogNg => syslog_ng::conflicts(&text, &file_name),
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

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].bytes().filter(|&b| b == b'\n').count() + 1
}

/// A forward to an agent port is the AMA's own when it sits in the file the agent writes.
fn forward_kind(port: u16, file_name: &str) -> Kind {
    if port == AMA_AGENT_PORT && file_name.contains("azuremonitoragent") {
        Kind::AmaForward { port }
    } else {
        Kind::CefForward { port }
    }
}
