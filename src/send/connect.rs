//! Opening connections: UDP sockets, TCP, and TLS with the `--tls-*` files.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::cli::SendArgs;
use crate::source::tls_files;

/// A connection (including the TLS handshake) that takes longer than this has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a TLS connection waits for the server to close after close_notify (servers close at
/// once; this only bounds one that does not).
const TLS_CLOSE_WAIT: Duration = Duration::from_secs(2);

pub(super) struct Connector {
    pub(super) addresses: Vec<SocketAddr>,
    pub(super) tls: Option<(TlsConnector, ServerName<'static>)>,
}

pub(super) enum Connection {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connector {
    /// A TCP connection (and TLS handshake), within [`CONNECT_TIMEOUT`].
    pub(super) async fn connect(&self) -> io::Result<Connection> {
        let connect = async {
            let tcp = TcpStream::connect(&self.addresses[..]).await?;
            // Batches are large; the last, small one should not wait for Nagle.
            tcp.set_nodelay(true)?;
            match &self.tls {
                None => Ok(Connection::Tcp(tcp)),
                Some((connector, name)) => connector
                    .connect(name.clone(), tcp)
                    .await
                    .map(|tls| Connection::Tls(Box::new(tls)))
                    .map_err(|error| {
                        io::Error::new(error.kind(), format!("TLS handshake failed: {error}"))
                    }),
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))
    }
}

impl Connection {
    pub(super) async fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        match self {
            Connection::Tcp(stream) => stream.write_all(batch).await,
            Connection::Tls(stream) => {
                stream.write_all(batch).await?;
                stream.flush().await
            }
        }
    }

    /// Ends the stream cleanly: FIN for TCP, close_notify then FIN for TLS.
    pub(super) async fn close(&mut self) -> io::Result<()> {
        match self {
            Connection::Tcp(stream) => stream.shutdown().await,
            Connection::Tls(stream) => {
                stream.shutdown().await?;
                // A TLS 1.3 server sends session tickets we never read, and closing a socket
                // with unread data sends RST instead of FIN, which can make the server drop the
                // messages it has not read yet. So read until the server has closed its side.
                let mut discard = [0u8; 4096];
                let server_closed = async {
                    while matches!(stream.read(&mut discard).await, Ok(read) if read > 0) {}
                };
                let _ = tokio::time::timeout(TLS_CLOSE_WAIT, server_closed).await;
                Ok(())
            }
        }
    }
}

pub(super) fn tls_connector(args: &SendArgs) -> anyhow::Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &args.tls_ca {
        Some(path) => builder.with_root_certificates(tls_files::roots(path, "--tls-ca")?),
        // check_flags let this through only with --tls-insecure.
        None => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate { provider })),
    };
    let config = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let private_key = tls_files::private_key(key, "--tls-key")?;
            builder
                .with_client_auth_cert(tls_files::certificates(cert, "--tls-cert")?, private_key)
                .with_context(|| {
                    format!(
                        "--tls-cert {} and --tls-key {} do not make a usable pair",
                        cert.display(),
                        key.display()
                    )
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// `--tls-insecure`: trusts whatever certificate the server shows, for tests against throwaway
/// certificates. Signatures are still checked, so the handshake itself is sound; only the
/// server's identity is not.
#[derive(Debug)]
struct AcceptAnyServerCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A socket connected to `to`, so that each message is one plain `send` and ICMP errors
/// (port unreachable) come back to us as errors.
pub(super) async fn udp_socket(to: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = if to.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(to).await?;
    Ok(socket)
}
