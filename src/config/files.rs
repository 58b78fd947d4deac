//! What `run` needs from the filesystem, checked when the configuration is validated, so that
//! `check-config` refuses exactly what `run` would: TLS certificates and keys (and HTTP sinks' CA
//! files) that cannot be read or used, the admin endpoint's token file, and a state directory the
//! relay cannot write to.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::validate::{Secret, Validator};
use super::ConfigError;
use crate::source::tls_files;

/// Every TLS file readable, then the certificate, key and client CA loaded the way the
/// listener loads them (PEM that parses, a key that matches the certificate).
pub fn tls_files(
    check: &Validator<'_>,
    key: &dyn Fn(&str) -> String,
    (cert, private_key, client_ca): (&Path, &Path, Option<&Path>),
    spans: [(&str, Option<&Spanned<PathBuf>>); 3],
) -> Result<(), ConfigError> {
    let paths = [Some(cert), Some(private_key), client_ca];
    for ((name, span), path) in spans.into_iter().zip(paths) {
        let Some(path) = path else { continue };
        readable_file(path)
            .map_err(|message| check.error(key(name), span.map(Spanned::span), message))?;
    }
    tls_files::server_config(cert, private_key, client_ca).map_err(|error| {
        check.error(
            key("tls_cert"),
            spans[0].1.map(Spanned::span),
            format!("{error:#}"),
        )
    })?;
    Ok(())
}

/// An HTTP sink's extra CA file, read once: the certificates its client will trust.
#[derive(Debug, Clone)]
pub struct CaFile {
    pub path: PathBuf,
    pub certificates: Vec<reqwest::Certificate>,
}

/// An HTTP sink's extra CA file: read and parsed (PEM certificates, at least one).
pub fn ca_file(
    check: &Validator<'_>,
    key: &str,
    value: &Spanned<PathBuf>,
) -> Result<CaFile, ConfigError> {
    let path = check.beside_file(value.get_ref());
    let error = |message: String| check.error(key.to_string(), Some(value.span()), message);
    readable_file(&path).map_err(error)?;
    let pem =
        std::fs::read(&path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(CaFile { path, certificates }),
        Ok(_) => Err(error(format!("{} holds no certificate", path.display()))),
        Err(e) => Err(error(format!(
            "{} holds no usable PEM certificate: {e}",
            path.display()
        ))),
    }
}

/// The longest admin token: far above any generated token (`openssl rand -hex 32` is 64
/// characters), and small enough that the header carrying it fits in the 8 KiB the admin
/// endpoint reads of a request.
pub const MAX_ADMIN_TOKEN_BYTES: usize = 1024;

/// `[admin] token_file`: one token, surrounding whitespace (a trailing newline) trimmed. Read with
/// a bound, so a path to a huge file or a device is refused instead of read whole; only
/// printable ASCII without spaces, so it can travel in an `Authorization: Bearer` header.
pub fn admin_token(check: &Validator<'_>, value: &Spanned<PathBuf>) -> Result<Secret, ConfigError> {
    let path = check.beside_file(value.get_ref());
    let error =
        |message: String| check.error("admin.token_file".into(), Some(value.span()), message);
    readable_file(&path).map_err(error)?;
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|file| {
            file.take(MAX_ADMIN_TOKEN_BYTES as u64 + 64)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    let token = bytes.trim_ascii();
    if token.is_empty() {
        return Err(error(format!("{} is empty", path.display())));
    }
    if token.len() > MAX_ADMIN_TOKEN_BYTES {
        return Err(error(format!(
            "{} holds more than {MAX_ADMIN_TOKEN_BYTES} bytes: one token is expected",
            path.display()
        )));
    }
    if !token.iter().all(|b| b.is_ascii_graphic()) {
        return Err(error(format!(
            "{} holds spaces, control characters or non-ASCII bytes: the token travels in an \
             HTTP header, so only printable ASCII without spaces (e.g. `openssl rand -hex 32`)",
            path.display()
        )));
    }
    Ok(Secret {
        value: String::from_utf8_lossy(token).into_owned(),
        from: format!("file {}", path.display()),
    })
}

fn readable_file(path: &Path) -> Result<(), String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    match file.metadata() {
        Ok(meta) if meta.is_file() => Ok(()),
        Ok(_) => Err(format!("{} is not a file", path.display())),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Whether the relay can create files in `dir` (creating `dir` first if it does not exist yet):
/// a file is created and removed in `dir`, or in the closest ancestor that exists.
pub fn writable_dir(dir: &Path) -> Result<(), String> {
    let mut existing = dir;
    loop {
        match std::fs::metadata(existing) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => return Err(format!("{} is not a directory", existing.display())),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                existing = match existing.parent() {
                    Some(parent) if parent.as_os_str().is_empty() => Path::new("."),
                    Some(parent) => parent,
                    None => return Err(format!("{}: {e}", dir.display())),
                };
            }
            Err(e) => return Err(format!("cannot reach {}: {e}", existing.display())),
        }
    }
    // Unique per check, not only per process: two checks at once (tests, a reload beside a
    // start) must not remove each other's probe.
    static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let check = CHECKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = existing.join(format!(
        ".cefrelay-write-test-{}-{check}",
        std::process::id()
    ));
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .or_else(|e| match e.kind() {
            // Left by an earlier check that died: ours to replace.
            ErrorKind::AlreadyExists => std::fs::remove_file(&probe)
                .and_then(|()| OpenOptions::new().write(true).create_new(true).open(&probe)),
            _ => Err(e),
        });
    match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if existing == dir => Err(format!("cannot write in {}: {e}", dir.display())),
        Err(e) => Err(format!(
            "cannot create {}: no write permission in {}: {e}",
            dir.display(),
            existing.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_directory_under_a_writable_one_is_fine_and_is_not_created() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("a/b/c");
        assert_eq!(writable_dir(&state), Ok(()));
        assert!(!dir.path().join("a").exists());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            0,
            "the probe file is gone"
        );
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("file"), "x").expect("write");
        let error = writable_dir(&dir.path().join("file/state")).expect_err("refused");
        assert!(error.contains("is not a directory"), "{error}");
    }

    #[test]
    fn a_read_only_directory_is_refused_unless_we_may_write_anyway() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        std::fs::create_dir(&state).expect("mkdir");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        // Root (CAP_DAC_OVERRIDE) writes anyway: then the check must say yes, as run would.
        let can_write = std::fs::write(state.join("x"), "x").is_ok();
        let _ = std::fs::remove_file(state.join("x"));
        assert_eq!(writable_dir(&state).is_ok(), can_write);
        assert_eq!(writable_dir(&state.join("sub")).is_ok(), can_write);
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
}
