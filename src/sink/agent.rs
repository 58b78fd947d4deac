//! The forward to the local agent over TCP.
//!
//! TCP accepts writes to a peer that has already gone: the kernel buffers them and the error only
//! shows on a later write. So the sink keeps the batches written in the last few seconds (bounded
//! in bytes) and, after any broken connection, sends them again once it has reconnected. The agent
//! may then see a few duplicates (counted as resent), never a gap. While idle, the sink watches
//! the socket for the agent closing it, so a restart is noticed before the next write.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::buffer::{BufferReader, Entry};
use crate::config::Forward;
use crate::pipeline::Batch;
use crate::telemetry::metrics::{Metrics, SinkMetrics};

/// Batches older than this are taken as read by a live agent and leave the resend window.
const RESEND_WINDOW_AGE: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

struct Written {
    seq: u64,
    batch: Batch,
    at: Instant,
    /// False for a batch whose write failed: replaying it is its first delivery, not a resend.
    sent: bool,
}

pub struct AgentSink {
    config: Forward,
    metrics: Arc<Metrics>,
    sink: Arc<SinkMetrics>,
    buffer: BufferReader,
    window: VecDeque<Written>,
    window_bytes: usize,
    connections: u64,
    next_address: usize,
}

impl AgentSink {
    pub fn new(
        config: Forward,
        metrics: Arc<Metrics>,
        sink: Arc<SinkMetrics>,
        buffer: BufferReader,
    ) -> Self {
        AgentSink {
            config,
            metrics,
            sink,
            buffer,
            window: VecDeque::new(),
            window_bytes: 0,
            connections: 0,
            next_address: 0,
        }
    }

    /// Sends every batch from the buffer until it closes (all listeners stopped) and is empty,
    /// or until `abort` fires (the shutdown grace period ran out). A batch leaves the buffer once
    /// it has left the resend window: written, and no reset seen for a while.
    pub async fn run(mut self, abort: CancellationToken) {
        let mut stream: Option<TcpStream> = None;
        let mut trim_tick = tokio::time::interval(RESEND_WINDOW_AGE / 4);
        loop {
            let connection = match stream.as_mut() {
                Some(connection) => connection,
                None => match self.connect(&abort).await {
                    Some(connection) => stream.insert(connection),
                    None => return,
                },
            };
            let entry = tokio::select! {
                entry = self.buffer.next() => entry,
                _ = trim_tick.tick() => {
                    self.trim_window();
                    continue;
                }
                closed = watch_for_close(connection) => {
                    tracing::warn!(error = %closed, "the agent closed the connection; reconnecting");
                    self.sink.send_errors.inc();
                    self.disconnected(&mut stream);
                    continue;
                }
                () = abort.cancelled() => return,
            };
            let Some(Entry { seq, batch }) = entry else {
                // Everything was written and the agent closed nothing on us: all delivered.
                if connection.shutdown().await.is_ok() {
                    if let Some(last) = self.window.back() {
                        self.buffer.ack(last.seq);
                    }
                }
                return;
            };
            match connection.write_all(&batch.data).await {
                Ok(()) => self.written(seq, batch),
                Err(error) => {
                    tracing::warn!(%error, "writing to the agent failed; reconnecting");
                    self.sink.send_errors.inc();
                    // Not written: it goes first into the window, which is replayed in order.
                    self.remember(seq, batch, false);
                    self.disconnected(&mut stream);
                }
            }
        }
    }

    fn written(&mut self, seq: u64, batch: Batch) {
        self.metrics.observer.mocks_written(&batch.mock_markers);
        self.sink.sent_events.add(batch.events);
        self.sink.sent_bytes.add(batch.data.len() as u64);
        self.remember(seq, batch, true);
    }

    fn remember(&mut self, seq: u64, batch: Batch, sent: bool) {
        self.window_bytes += batch.data.len();
        self.window.push_back(Written {
            seq,
            batch,
            at: Instant::now(),
            sent,
        });
        self.trim_window();
    }

    fn trim_window(&mut self) {
        while let Some(oldest) = self.window.front() {
            // A batch that was never written is not a copy: it leaves only once delivered.
            if !oldest.sent {
                break;
            }
            let too_big =
                self.window_bytes > self.config.resend_window_bytes && self.window.len() > 1;
            if !too_big && oldest.at.elapsed() < RESEND_WINDOW_AGE {
                break;
            }
            self.window_bytes -= oldest.batch.data.len();
            let seq = oldest.seq;
            self.window.pop_front();
            self.buffer.ack(seq);
        }
    }

    fn disconnected(&mut self, stream: &mut Option<TcpStream>) {
        *stream = None;
        self.sink.connected.sub(1);
    }

    /// Connects with exponential backoff, then replays the resend window.
    async fn connect(&mut self, abort: &CancellationToken) -> Option<TcpStream> {
        let mut delay = self.config.reconnect_min;
        loop {
            let address = self.config.addresses[self.next_address % self.config.addresses.len()];
            match self.try_connect(address).await {
                Ok(stream) => {
                    self.connections += 1;
                    if self.connections > 1 {
                        self.sink.reconnects.inc();
                    }
                    self.sink.connected.add(1);
                    tracing::info!(%address, "connected to the agent");
                    return Some(stream);
                }
                Err(error) => {
                    self.sink.send_errors.inc();
                    tracing::warn!(%address, %error, retry_in_ms = delay.as_millis() as u64, "cannot reach the agent");
                    self.next_address += 1;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = abort.cancelled() => return None,
            }
            delay = (delay * 2).min(self.config.reconnect_max);
        }
    }

    async fn try_connect(&mut self, address: SocketAddr) -> std::io::Result<TcpStream> {
        let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(false)?;
        self.trim_window();
        let mut resent = 0;
        for written in &mut self.window {
            stream.write_all(&written.batch.data).await?;
            if written.sent {
                resent += written.batch.events;
            } else {
                written.sent = true;
                self.sink.sent_events.add(written.batch.events);
                self.sink.sent_bytes.add(written.batch.data.len() as u64);
                self.metrics
                    .observer
                    .mocks_written(&written.batch.mock_markers);
            }
        }
        if resent > 0 {
            self.sink.resent_events.add(resent);
            tracing::info!(
                events = resent,
                "re-sent the events written just before the connection broke"
            );
        }
        Ok(stream)
    }
}

/// Resolves when the agent closes its end or the connection fails. The agent never sends data,
/// so anything readable means the end of the connection.
async fn watch_for_close(stream: &mut TcpStream) -> std::io::Error {
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte).await {
            Ok(0) => {
                return std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "closed by the agent",
                )
            }
            Ok(_) => continue,
            Err(error) => return error,
        }
    }
}

/// The forward over UDP (`forward.address = ["udp://…"]`): one datagram per message, LF framing
/// removed. UDP has no connection to lose and no acknowledgement, so there is no resend window;
/// send errors the kernel reports (ICMP port unreachable while the agent is down) are counted
/// and the message is gone, which is why TCP is the default.
pub async fn run_udp(
    config: Forward,
    metrics: Arc<Metrics>,
    sink: Arc<SinkMetrics>,
    mut buffer: BufferReader,
    abort: CancellationToken,
) {
    let Some(&address) = config.addresses.first() else {
        return;
    };
    let local: SocketAddr = if address.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket = match tokio::net::UdpSocket::bind(local).await {
        Ok(socket) => socket,
        Err(error) => {
            tracing::error!(%error, "cannot open a UDP socket for the forward");
            return;
        }
    };
    if let Err(error) = socket.connect(address).await {
        tracing::error!(%error, %address, "cannot address the agent over UDP");
        return;
    }
    sink.connected.add(1);
    loop {
        let entry = tokio::select! {
            entry = buffer.next() => entry,
            () = abort.cancelled() => return,
        };
        let Some(Entry { seq, batch }) = entry else {
            return;
        };
        metrics.observer.mocks_written(&batch.mock_markers);
        for message in batch.data[..].split(|byte| *byte == b'\n') {
            if message.is_empty() {
                continue;
            }
            match socket.send(message).await {
                Ok(_) => {
                    sink.sent_events.inc();
                    sink.sent_bytes.add(message.len() as u64);
                }
                Err(error) => {
                    sink.send_errors.inc();
                    if let Some(held_back) = UDP_SEND_WARNING.allow() {
                        tracing::warn!(%error, %address, held_back, "UDP send to the agent failed; message lost");
                    }
                }
            }
        }
        // UDP has no acknowledgement: sent is as delivered as it gets.
        buffer.ack(seq);
    }
}

static UDP_SEND_WARNING: crate::telemetry::RateLimited = crate::telemetry::RateLimited::new(10);
