// A small tmpfs for disk-full tests. Shared by the black-box tests (`util::small_disk`) and, via
// `include!`, by the unit tests of `src/buffer/tests.rs` and `crates/wal`: plain items only, std
// and tempfile.

/// A tmpfs of `size` (as mount takes it: "5m") on a fresh directory, unmounted when dropped.
pub struct SmallDisk {
    dir: tempfile::TempDir,
}

#[allow(dead_code)] // each including test uses its own subset
impl SmallDisk {
    /// `None`, after one line on stderr, where mounting is not possible: not root, or no tmpfs.
    pub fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Takes every free byte with a file `name` of its own; removing the file gives them back.
    pub fn fill(&self, name: &str) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join(name);
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk may have left a few bytes free: take them one by one.
        while file.write_all(&[0]).is_ok() {}
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
