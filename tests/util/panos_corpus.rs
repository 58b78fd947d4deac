// Where the PAN-OS sample lines are, for every test that reads them: `tests/corpus.rs`,
// `crates/syslog/tests/corpus.rs` and the fixture tests of `src/sink/records.rs`, which include
// this one file so that they follow one rule and print one skip line.
//
// Two sets of lines:
// - the project's own `fixtures/panos/*.log`, written by us from the PAN-OS formats: always
//   there, always checked;
// - the external corpus of real lines from public sources (third-party data under several
//   licences, so it lives beside the project and never in it): `PANOS_FIXTURES` when set, which
//   must then be a directory, else `../shared/fixtures/panos` beside the project. When it is
//   missing the tests skip it with `SKIP_LINE`, except under CI (`CI` set to anything but
//   `false` or `0`), where a missing corpus is an error: a broken path must not turn the corpus
//   tests off unnoticed.
//
// Plain comments and no inner attributes: `src/sink/records.rs` takes this file in with
// `include!` (a `#[path]` inside its inline test module would not resolve), and its includers
// allow dead code, since each uses its own subset.

use std::path::{Path, PathBuf};

/// What a run without the external corpus prints; `.ci/test` prints the same line, and `.ci/run`
/// looks for it in the run from a copy of the project with nothing beside it.
pub const SKIP_LINE: &str = "skipped: the external PAN-OS corpus checks (no ../shared/fixtures/panos beside the project; fixtures/panos is still checked); run them with PANOS_FIXTURES=DIR bash .ci/test";

/// The directory `relative` to the running package's manifest. `CARGO_MANIFEST_DIR` is read when
/// the test runs (cargo sets it then too), so that a copy of the project tested with the
/// original's build (`.ci/run` does that, and cargo rebuilds nothing) looks beside the copy, not
/// beside the original; the value compiled in is the fallback for a test binary run by hand.
pub fn from_manifest(relative: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join(relative)
}

/// One set of sample lines.
pub struct LineSet {
    pub dir: PathBuf,
    /// The external corpus: the checks that need many lines apply to it only.
    pub external: bool,
}

impl LineSet {
    /// The set's `*.log` files, in name order; an empty set is an error.
    pub fn files(&self) -> Vec<PathBuf> {
        let entries = std::fs::read_dir(&self.dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", self.dir.display()));
        let mut files: Vec<_> = entries
            .map(|entry| entry.expect("directory entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no .log files in {}", self.dir.display());
        files
    }
}

/// The sets to check, given the project's root: its own fixtures, then the external corpus
/// when there is one (see the module doc for the rule).
pub fn line_sets(project: &Path) -> Vec<LineSet> {
    let own = LineSet {
        dir: project.join("fixtures/panos"),
        external: false,
    };
    let mut sets = vec![own];
    if let Some(dir) = external_corpus(project) {
        sets.push(LineSet {
            dir,
            external: true,
        });
    }
    sets
}

/// The external corpus directory, `None` (after printing [`SKIP_LINE`]) when it may be skipped.
///
/// # Panics
/// When `PANOS_FIXTURES` names no directory, or under CI when the default one is missing.
pub fn external_corpus(project: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PANOS_FIXTURES").filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "PANOS_FIXTURES={} is not a directory: point it at the PAN-OS corpus, or unset it",
            dir.display()
        );
        return Some(dir);
    }
    let dir = project.join("../shared/fixtures/panos");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        !under_ci(),
        "the external PAN-OS corpus is missing ({} is not a directory) and CI is set, where its \
         tests may not be skipped: put the corpus there or set PANOS_FIXTURES=DIR",
        dir.display()
    );
    eprintln!("{SKIP_LINE}");
    None
}

fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|ci| !matches!(ci.as_str(), "" | "false" | "0"))
}
