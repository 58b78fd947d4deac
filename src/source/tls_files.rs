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

/// The earliest notAfter (Unix seconds) among `certificates`: of a chain, the first certificate
/// to expire breaks every client, leaf or intermediate. `None` when none parses (rustls takes
/// certificates it does not look into; the metric is then absent, not wrong).
pub fn earliest_expiry(certificates: &[CertificateDer<'_>]) -> Option<i64> {
    certificates
        .iter()
        .filter_map(|der| x509_parser::parse_x509_certificate(der).ok())
        .map(|(_, certificate)| certificate.validity().not_after.timestamp())
        .min()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate_until(year: i32) -> CertificateDer<'static> {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("params");
        params.not_after = rcgen::date_time_ymd(year, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    #[test]
    fn the_earliest_expiry_of_a_chain_is_its_first_certificate_to_expire_leaf_or_not() {
        // 2030-01-01 and 2031-01-01 in Unix seconds.
        let (early, late) = (1_893_456_000, 1_924_992_000);
        let leaf_first = [certificate_until(2031), certificate_until(2030)];
        assert_eq!(earliest_expiry(&leaf_first), Some(early));
        let intermediate_later = [certificate_until(2030), certificate_until(2031)];
        assert_eq!(earliest_expiry(&intermediate_later), Some(early));
        assert_eq!(earliest_expiry(&[certificate_until(2031)]), Some(late));
    }

    #[test]
    fn bytes_that_are_no_certificate_give_no_date_and_no_panic() {
        let garbage = [
            CertificateDer::from(vec![0x30, 0x82, 0xff, 0xff]),
            CertificateDer::from(Vec::new()),
        ];
        assert_eq!(earliest_expiry(&garbage), None);
        assert_eq!(earliest_expiry(&[]), None);
    }
}
