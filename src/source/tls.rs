//! TLS syslog (RFC 5425) on top of the TCP listener: rustls with PEM files, optional client
//! certificates, a handshake timeout, certificates re-read on SIGHUP, and (opt-in) plain TCP on the
//! same port told apart by the first byte.

use std::io;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::tls_files;
use crate::config::Tls;

/// The first byte of every TLS record that opens a connection (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Terminates TLS for one listener. The rustls configuration sits behind a lock so that SIGHUP can
/// swap in new certificates: connections already open keep the configuration they started with.
pub struct TlsTerminator {
    settings: Tls,
    current: RwLock<Arc<ServerConfig>>,
    /// Unix seconds when the first certificate served expires (0: unknown), for the metrics.
    expiry: AtomicI64,
}

/// What the first bytes of a connection on a TLS listener turned out to be.
pub enum Accepted {
    Tls(Box<TlsStream<TcpStream>>),
    /// Plain syslog on a listener with `tls_accept_plain = true`.
    Plain(TcpStream),
}

impl TlsTerminator {
    pub fn load(settings: &Tls) -> anyhow::Result<Self> {
        Ok(TlsTerminator {
            current: RwLock::new(Arc::new(server_config(settings)?)),
            expiry: AtomicI64::new(certificate_expiry(settings)),
            settings: settings.clone(),
        })
    }

    /// Re-reads the certificate, key and client CA files. On error the old ones stay in use.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = Arc::new(server_config(&self.settings)?);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        self.expiry
            .store(certificate_expiry(&self.settings), Relaxed);
        Ok(())
    }

    /// When the first certificate now served expires, in Unix seconds; 0 when not known.
    pub fn expiry(&self) -> i64 {
        self.expiry.load(Relaxed)
    }

    fn config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Runs the handshake (or recognises plain syslog, when allowed) within the handshake timeout.
    pub async fn accept(&self, stream: TcpStream) -> io::Result<Accepted> {
        let timeout = self.settings.handshake_timeout;
        let handshake = async {
            if self.settings.accept_plain && !starts_with_tls(&stream).await? {
                return Ok(Accepted::Plain(stream));
            }
            let tls = TlsAcceptor::from(self.config()).accept(stream).await?;
            Ok(Accepted::Tls(Box::new(tls)))
        };
        tokio::time::timeout(timeout, handshake)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
    }
}

/// Whether the client opened with a TLS handshake record; syslog starts with `<` or a digit.
async fn starts_with_tls(stream: &TcpStream) -> io::Result<bool> {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await? {
        0 => Err(io::ErrorKind::UnexpectedEof.into()),
        _ => Ok(first[0] == TLS_HANDSHAKE_RECORD),
    }
}

/// The earliest notAfter of the certificate file just loaded, read again after rustls took it:
/// the file replaced at that very moment would show the new date until the next SIGHUP serves
/// it, which is harmless for a metric watched in days.
fn certificate_expiry(settings: &Tls) -> i64 {
    tls_files::certificates(&settings.cert, "tls_cert")
        .ok()
        .and_then(|certificates| tls_files::earliest_expiry(&certificates))
        .unwrap_or(0)
}

fn server_config(settings: &Tls) -> anyhow::Result<ServerConfig> {
    tls_files::server_config(&settings.cert, &settings.key, settings.client_ca.as_deref())
}
