//! Stamps the binary with the commit it was built from and that commit's date (not the build
//! time: the same commit builds the same binary), for `--version` and `cefrelay_build_info`.
//! Outside a git checkout (a source tarball) both say `unknown`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let date = git(&["log", "-1", "--format=%cs"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CEFRELAY_COMMIT={commit}");
    println!("cargo:rustc-env=CEFRELAY_COMMIT_DATE={date}");
    // A new commit changes HEAD (detached) or the branch it names. The paths come from git: in a
    // worktree `.git` is a file, and a path that does not exist makes cargo rerun this script
    // (and rebuild the crate) on every build.
    println!("cargo:rerun-if-changed=build.rs");
    let git_dir = git(&["rev-parse", "--absolute-git-dir"]);
    let common_dir = git(&["rev-parse", "--path-format=absolute", "--git-common-dir"]);
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = [
        git_dir.as_ref().map(|dir| format!("{dir}/HEAD")),
        // The reflog: written by every commit and checkout, even where the branch is packed.
        git_dir.as_ref().map(|dir| format!("{dir}/logs/HEAD")),
        common_dir
            .as_ref()
            .zip(branch.as_ref())
            .map(|(dir, branch)| format!("{dir}/{branch}")),
        common_dir.as_ref().map(|dir| format!("{dir}/packed-refs")),
    ];
    for path in watched.into_iter().flatten() {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
