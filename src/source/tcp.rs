//! TCP and TLS syslog (RFC 6587, RFC 5425): octet-counted or LF-framed, decided per frame unless
//! forced.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use cefrelay_syslog::framing::{Frame, FrameDecoder};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::tls::{Accepted, TlsTerminator};
use super::{SharedRef, HANDSHAKE_WARNING, MALFORMED_WARNING, OVERSIZED_WARNING};
use crate::config::Listener;
use crate::pipeline::{any_events, any_full};

const READ_BUFFER: usize = 64 * 1024;

pub struct TcpSource {
    pub listener: TcpListener,
    pub config: Listener,
    /// Index of this listener's counters in `Metrics::listeners`.
    pub index: usize,
    /// Set for `tls://` listeners.
    pub tls: Option<Arc<TlsTerminator>>,
}

impl TcpSource {
    /// Accepts connections until `stop` fires; each connection runs on its own task in `tasks`.
    pub async fn run(self, shared: SharedRef, stop: CancellationToken, tasks: TaskTracker) {
        let limit = Arc::new(Semaphore::new(self.config.max_connections));
        let metrics = &shared.pipeline.metrics.listeners[self.index];
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = stop.cancelled() => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: wait for descriptors to free up, never end the listener.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                metrics.connections_rejected.inc();
                tracing::warn!(%peer, max = self.config.max_connections, "connection refused: max_connections reached");
                continue;
            };
            metrics.connections_total.inc();
            let shared = shared.clone();
            let config = self.config.clone();
            let index = self.index;
            let stop = stop.clone();
            let tls = self.tls.clone();
            let span = tracing::info_span!("connection", %peer);
            tasks.spawn(
                async move {
                    let Some(tls) = tls else {
                        serve_connection(stream, peer, &config, index, &shared, &stop).await;
                        return;
                    };
                    let accepted = tokio::select! {
                        accepted = tls.accept(stream) => accepted,
                        () = stop.cancelled() => return,
                    };
                    match accepted {
                        Ok(Accepted::Tls(stream)) => {
                            serve_connection(stream, peer, &config, index, &shared, &stop).await
                        }
                        Ok(Accepted::Plain(stream)) => {
                            serve_connection(stream, peer, &config, index, &shared, &stop).await
                        }
                        Err(error) => {
                            shared.pipeline.metrics.listeners[index]
                                .tls_handshake_failures
                                .inc();
                            if let Some(held_back) = HANDSHAKE_WARNING.allow() {
                                tracing::warn!(%peer, %error, held_back, "TLS handshake failed");
                            }
                        }
                    }
                    drop(permit);
                }
                .instrument(span),
            );
        }
    }
}

/// Reads frames until the peer closes, the idle timeout passes or `stop` fires. A bad frame is
/// counted and skipped; the connection goes on with the next one.
pub async fn serve_connection(
    mut stream: impl AsyncRead + Unpin,
    peer: SocketAddr,
    config: &Listener,
    index: usize,
    shared: &SharedRef,
    stop: &CancellationToken,
) {
    let metrics = &shared.pipeline.metrics.listeners[index];
    metrics.connections_active.add(1);
    let mut decoder = FrameDecoder::new(config.framing, config.max_message_bytes);
    let mut buffer = BytesMut::with_capacity(READ_BUFFER);
    loop {
        buffer.reserve(READ_BUFFER);
        let read = tokio::select! {
            read = tokio::time::timeout(config.idle_timeout, stream.read_buf(&mut buffer)) => read,
            () = stop.cancelled() => break,
        };
        let at_eof = match read {
            Ok(Ok(0)) => true,
            Ok(Ok(_)) => false,
            Ok(Err(error)) => {
                tracing::debug!(%error, "connection error");
                true
            }
            Err(_) => {
                tracing::debug!("idle timeout");
                true
            }
        };
        let received_at = OffsetDateTime::now_utc();
        let mut batches = shared.sinks.batches();
        loop {
            let frame = if at_eof {
                decoder.decode_eof(&mut buffer)
            } else {
                decoder.decode(&mut buffer)
            };
            let Ok(Some(frame)) = frame else { break };
            match frame {
                Frame::Message(bytes) => {
                    metrics.frames.inc();
                    metrics.bytes.add(bytes.len() as u64);
                    shared
                        .pipeline
                        .process(&bytes, peer.ip(), received_at, &mut batches);
                    if any_full(&batches) && !shared.sinks.send(&mut batches).await {
                        break;
                    }
                }
                Frame::Oversized { len } => {
                    metrics.oversized.inc();
                    if let Some(held_back) = OVERSIZED_WARNING.allow() {
                        tracing::warn!(%peer, len, max = config.max_message_bytes, held_back, "oversized frame skipped");
                    }
                }
                Frame::Malformed { reason } => {
                    metrics.malformed.inc();
                    if let Some(held_back) = MALFORMED_WARNING.allow() {
                        tracing::warn!(%peer, reason, held_back, "malformed frame skipped");
                    }
                }
            }
        }
        // Waiting here for room in the buffers is the backpressure: no read until it is accepted.
        if any_events(&batches) && !shared.sinks.send(&mut batches).await {
            break;
        }
        if at_eof {
            break;
        }
    }
    metrics.connections_active.sub(1);
}
