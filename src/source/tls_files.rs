//! PEM files for TLS, read the same way by the TLS listener and by `cefrelay send`: certificate
//! chains, private keys and trusted CA roots. Each error names the setting or flag the file came
//! from (`tls_cert`, `--tls-ca`, …) and the file.

use std::path::Path;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// Every certificate in `path`, in file order; a file without one is an error.
pub fn certificates(path: &Path, setting: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{setting} {}: cannot read", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{setting} {}: not PEM certificates", path.display()))?;
    if certificates.is_empty() {
        bail!("{setting} {}: no certificate in the file", path.display());
    }
    Ok(certificates)
}

/// The first private key in `path`.
pub fn private_key(path: &Path, setting: &str) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).with_context(|| {
        format!(
            "{setting} {}: no PEM private key could be read",
            path.display()
        )
    })
}

/// The CA certificates in `path` as trust anchors.
pub fn roots(path: &Path, setting: &str) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path, setting)? {
        roots
            .add(certificate)
            .with_context(|| format!("{setting} {}: unusable CA certificate", path.display()))?;
    }
    Ok(roots)
}
