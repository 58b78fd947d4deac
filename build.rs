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
    // A new commit changes HEAD (detached) or the branch it names.
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        println!("cargo:rerun-if-changed=.git/{branch}");
    }
    println!("cargo:rerun-if-changed=.git/packed-refs");
}
