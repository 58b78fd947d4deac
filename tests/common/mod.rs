//! Helpers shared by the black-box tests: run the real `cefrelay` binary.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cefrelay() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cefrelay"))
}

pub fn project_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `cefrelay parse` with a fixed reference time so that year inference is deterministic.
pub fn parse_file(path: &Path, extra_args: &[&str]) -> Output {
    cefrelay()
        .args(["parse", "--now", "2026-01-01T00:00:30Z"])
        .args(extra_args)
        .arg(path)
        .output()
        .expect("run cefrelay parse")
}

pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(stdout.to_vec())
        .expect("parse prints UTF-8")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON {line}: {e}")))
        .collect()
}
