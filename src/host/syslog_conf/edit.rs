//! Commenting conflicts out and bringing them back, computed first (so `--dry-run` can show
//! them) and written in place.

use std::fs;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{candidate_files, Conflict};

/// Starts the comment that carries a disabled line's original text.
pub const MARK: &str = "#cefrelay-disabled: ";

/// Suffix of the copy of a file taken before each edit.
pub const BACKUP_SUFFIX: &str = ".cefrelay.bak";

/// One file changed by [`plan_disable`] or [`plan_restore`].
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
pub(super) fn comment_out(text: &str, spans: &[(Range<usize>, &str)]) -> String {
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
