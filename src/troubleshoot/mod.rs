//! `cefrelay cef-troubleshoot`: the checks of Microsoft's `cef_troubleshoot.py`, done read-only.
//! Nothing is restarted or edited; every check prints what it saw and, when it is not a PASS, the
//! exact command or setting that fixes it. Exit 0 when nothing FAILs, 1 otherwise.

pub(crate) mod checks;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::cli::TroubleshootArgs;
use crate::config::Config;
use crate::sanitize::for_terminal;

/// Where `install` writes the configuration, and so where the troubleshooter looks first.
pub const DEFAULT_CONFIG: &str = "/etc/cefrelay/cefrelay.toml";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// Not run, because an earlier result makes it meaningless.
    Skip,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub number: u8,
    pub name: &'static str,
    pub status: Status,
    /// What the check saw, one finding per line.
    pub saw: Vec<String>,
    /// The command or setting that fixes it, when not a PASS.
    pub fix: Vec<String>,
}

impl Check {
    fn new(number: u8, name: &'static str) -> Check {
        Check {
            number,
            name,
            status: Status::Pass,
            saw: Vec::new(),
            fix: Vec::new(),
        }
    }

    fn saw(&mut self, text: impl Into<String>) -> &mut Self {
        self.saw.push(text.into());
        self
    }

    /// Lowers the status to `status` (FAIL beats WARN beats PASS) and adds the fix.
    fn worse(&mut self, status: Status, fix: impl Into<String>) -> &mut Self {
        let rank = |s: Status| match s {
            Status::Pass | Status::Skip => 0,
            Status::Warn => 1,
            Status::Fail => 2,
        };
        if rank(status) > rank(self.status) {
            self.status = status;
        }
        let fix = fix.into();
        if !fix.is_empty() && !self.fix.contains(&fix) {
            self.fix.push(fix);
        }
        self
    }
}

/// What the checks share: the configuration and where its relay answers.
pub struct Context {
    pub config: Config,
    /// The file the configuration came from; `None` for the built-in defaults.
    pub config_path: Option<PathBuf>,
    /// Where its relay answers, with the token it wants; `None` when the endpoint is off.
    pub admin: Option<crate::telemetry::admin::Client>,
    pub args: TroubleshootArgs,
}

impl Context {
    /// The command that starts a relay with this configuration.
    pub fn run_command(&self) -> String {
        match &self.config_path {
            Some(path) => format!("cefrelay run --config {}", path.display()),
            None => "cefrelay run".to_string(),
        }
    }
}

pub fn run(args: TroubleshootArgs) -> anyhow::Result<u8> {
    let json_output = args.json;
    let mut results = Vec::new();
    let (context, config_check) = checks::configuration(args);
    results.push(config_check);
    if let Some(context) = context {
        results.extend(checks::all(&context));
    }
    let failed = results.iter().any(|check| check.status == Status::Fail);
    if json_output {
        println!("{}", results_json(&results, failed));
    } else {
        print!("{}", render_text(&results, failed));
    }
    Ok(u8::from(failed))
}

fn results_json(results: &[Check], failed: bool) -> String {
    serde_json::json!({
        "result": if failed { "fail" } else { "pass" },
        "checks": results,
    })
    .to_string()
}

fn render_text(results: &[Check], failed: bool) -> String {
    let mut out = String::new();
    for check in results {
        let label = match check.status {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        out.push_str(&format!("[{label}] {:>2}. {}\n", check.number, check.name));
        for line in &check.saw {
            out.push_str(&format!("         {}\n", for_terminal(line)));
        }
        for line in &check.fix {
            out.push_str(&format!("     fix: {}\n", for_terminal(line)));
        }
    }
    out.push_str(if failed {
        "\nresult: FAIL (see the fixes above)\n"
    } else {
        "\nresult: PASS\n"
    });
    out
}

/// How long the end-to-end check waits between looks at the relay's counters.
const POLL: Duration = Duration::from_millis(100);
