//! PEM files for TLS, read the same way by the TLS listener and by `cefrelay send`: certificate
//! chains, private keys and trusted CA roots. Each error names the setting or flag the file came
//! from (`tls_cert`, `--tls-ca`, …) and the file.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

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

/// What a TLS listener serves with: the certificate chain in `cert` with the key in `key`, and,
/// with `client_ca`, client certificates that chain to it (mutual TLS).
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> anyhow::Result<ServerConfig> {
    let certificates = certificates(cert, "tls_cert")?;
    let private_key = private_key(key, "tls_key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let roots = roots(path, "tls_client_ca")?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .with_context(|| format!("tls_client_ca {}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certificates, private_key)
        .with_context(|| {
            format!(
                "tls_cert {} and tls_key {} do not make a usable pair",
                cert.display(),
                key.display()
            )
        })
}
