//! The forward to the local agent over TCP: the resend window.
//!
//! TCP accepts writes to a peer that is already gone, and a peer's kernel acknowledges bytes its
//! process never reads if the process dies. So a written batch stays in the sink's *resend window*
//! until the agent process has provably read it, and after any broken connection the whole window
//! is written again, first. The agent may see duplicates (counted as resent), never a gap.
//!
//! Proof of reading is counted in bytes on the current connection, never in time: the agent has
//! read everything up to `written − our unacknowledged − its unread` ([`super::tcp_queues`]). When the
//! agent's socket is not visible (another host or namespace) its unread part is taken at the most
//! its kernel can hold, and without netlink our unacknowledged part at the most ours can.
//! A replay is proven the same way, on the new connection, so a dying listener that accepts the
//! reconnection proves nothing.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::tcp_queues::TcpQueues;
use crate::buffer::Batch;
use crate::buffer::{BufferReader, Entry};
use crate::config::Forward;
use crate::telemetry::events;
use crate::telemetry::metrics::SinkMetrics;
use crate::telemetry::observe::Observer;

/// How long the sink lets written batches wait before asking the kernel what the agent has read,
/// when nothing else happens; with the window full (no batch may be taken), how often it asks.
const RELEASE_CHECK: Duration = Duration::from_millis(25);
const RELEASE_CHECK_WINDOW_FULL: Duration = Duration::from_millis(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Slack above the kernels' buffers for a window that must prove reading by bytes alone.
const WINDOW_SLACK: u64 = 1024 * 1024;

struct Written {
    seq: u64,
    batch: Batch,
    /// Connection offset just past this batch; `None` until written on the current connection.
    end: Option<u64>,
    /// False until first written: writing it is its first delivery, not a resend.
    sent: bool,
}

struct Connection {
    stream: TcpStream,
    local: SocketAddr,
    peer: SocketAddr,
    /// Bytes written on this connection.
    written: u64,
    /// Whether the agent's own socket is visible, so its unread bytes can be asked for.
    peer_visible: bool,
    /// Our side is shut down (FIN sent): once the agent has it, its unread count includes it.
    fin_sent: bool,
}

/// The most bytes a kernel holds for a socket, from the sysctls that cap its buffers (doubled, as
/// the kernel doubles `SO_RCVBUF`/`SO_SNDBUF` for its bookkeeping).
#[derive(Debug, Clone, Copy)]
struct KernelBounds {
    receive: u64,
    send: u64,
}

impl KernelBounds {
    fn read() -> KernelBounds {
        let third = |path: &str| -> Option<u64> {
            std::fs::read_to_string(path)
                .ok()?
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()
        };
        let single =
            |path: &str| -> Option<u64> { std::fs::read_to_string(path).ok()?.trim().parse().ok() };
        // Unreadable sysctls (no /proc): assume generous limits rather than release early.
        let fallback = 64 * 1024 * 1024;
        KernelBounds {
            receive: third("/proc/sys/net/ipv4/tcp_rmem")
                .unwrap_or(fallback)
                .max(2 * single("/proc/sys/net/core/rmem_max").unwrap_or(fallback)),
            send: third("/proc/sys/net/ipv4/tcp_wmem")
                .unwrap_or(fallback)
                .max(2 * single("/proc/sys/net/core/wmem_max").unwrap_or(fallback)),
        }
    }
}

pub struct AgentSink {
    config: Forward,
    observer: Arc<Observer>,
    sink: Arc<SinkMetrics>,
    buffer: BufferReader,
    window: VecDeque<Written>,
    window_bytes: u64,
    queues: Option<TcpQueues>,
    bounds: KernelBounds,
    connections: u64,
    next_address: usize,
}

impl AgentSink {
    pub fn new(
        config: Forward,
        observer: Arc<Observer>,
        sink: Arc<SinkMetrics>,
        buffer: BufferReader,
    ) -> Self {
        let queues = TcpQueues::open()
            .map_err(|error| {
                tracing::warn!(%error, "cannot ask the kernel about TCP queues (sock_diag netlink); written events are released only after the kernels' whole buffers have been written behind them");
            })
            .ok();
        AgentSink {
            config,
            observer,
            sink,
            buffer,
            window: VecDeque::new(),
            window_bytes: 0,
            queues,
            bounds: KernelBounds::read(),
            connections: 0,
            next_address: 0,
        }
    }

    /// Sends every batch from the buffer until it closes (all listeners stopped) and everything
    /// is released, or until `abort` fires (the shutdown grace period ran out). A batch leaves the
    /// buffer once the agent process has read it.
    pub async fn run(mut self, abort: CancellationToken) {
        let mut connection: Option<Connection> = None;
        let mut pending: Option<Entry> = None;
        loop {
            let current = match connection.as_mut() {
                Some(current) => current,
                None => match self.connect(&abort, &mut pending).await {
                    Some(fresh) => connection.insert(fresh),
                    None => return,
                },
            };
            let entry = match pending.take() {
                Some(entry) => Some(entry),
                None => {
                    let window_full = self.window_bytes >= self.window_limit(current);
                    let recheck = if window_full {
                        RELEASE_CHECK_WINDOW_FULL
                    } else {
                        RELEASE_CHECK
                    };
                    tokio::select! {
                        entry = self.buffer.next(), if !window_full => entry,
                        () = tokio::time::sleep(recheck), if !self.window.is_empty() => {
                            self.release(current);
                            continue;
                        }
                        closed = watch_for_close(&mut current.stream) => {
                            tracing::warn!(error = %closed, "the agent closed the connection; reconnecting");
                            self.sink.send_errors.inc();
                            self.disconnected(&mut connection);
                            continue;
                        }
                        () = abort.cancelled() => return,
                    }
                }
            };
            let Some(Entry { seq, batch }) = entry else {
                if self.finish(current, &abort).await {
                    return;
                }
                // The agent went away before confirming the end: replay on a new connection.
                self.disconnected(&mut connection);
                continue;
            };
            let written = tokio::select! {
                written = current.stream.write_all(&batch.data) => written,
                () = abort.cancelled() => return,
            };
            match written {
                Ok(()) => {
                    current.written += batch.data.len() as u64;
                    let end = current.written;
                    count_first_write(&self.observer, &self.sink, &batch);
                    self.remember(seq, batch, Some(end), true);
                    if self.window_bytes >= self.window_limit(current) / 4 {
                        self.release(current);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "writing to the agent failed; reconnecting");
                    self.sink.send_errors.inc();
                    // Not (wholly) written: it goes last into the window, which is replayed in order.
                    self.remember(seq, batch, None, false);
                    self.disconnected(&mut connection);
                }
            }
        }
    }

    /// The buffer is closed and empty: half-close, then wait until the agent has read the rest
    /// (or closed its end after reading it). False when the connection broke first.
    async fn finish(&mut self, connection: &mut Connection, abort: &CancellationToken) -> bool {
        let _ = connection.stream.shutdown().await;
        connection.fin_sent = true;
        let mut tick = tokio::time::interval(RELEASE_CHECK);
        loop {
            self.release(connection);
            if self.window.is_empty() {
                return true;
            }
            tokio::select! {
                _ = tick.tick() => {}
                closed = watch_for_close(&mut connection.stream) => {
                    // An orderly close (FIN, not RST) after ours with nothing of ours left
                    // unacknowledged: the agent read to the end before closing.
                    if closed.kind() == std::io::ErrorKind::UnexpectedEof
                        && self.unacknowledged(connection) == Some(0)
                    {
                        self.release_up_to(connection.written);
                        return true;
                    }
                    return false;
                }
                () = abort.cancelled() => return true,
            }
        }
    }

    /// How many bytes the window may hold before the sink stops taking batches. When reading can
    /// only be proven by bytes written behind a batch, the window must outgrow both kernels'
    /// buffers, or nothing would ever be released.
    fn window_limit(&self, connection: &Connection) -> u64 {
        let configured = self.config.resend_window_bytes as u64;
        if connection.peer_visible {
            configured
        } else {
            configured.max(self.bounds.receive + self.bounds.send + WINDOW_SLACK)
        }
    }

    fn unacknowledged(&mut self, connection: &Connection) -> Option<u64> {
        let queues = self.queues.as_mut()?;
        match queues.of(connection.local, connection.peer) {
            Ok(found) => found.map(|ours| ours.unacknowledged),
            Err(error) => {
                events::AgentQueuesUnreadable { error: &error }.emit();
                None
            }
        }
    }

    /// How far into the connection the agent process has certainly read.
    fn read_by_agent(&mut self, connection: &Connection) -> u64 {
        let Some(unacknowledged) = self.unacknowledged(connection) else {
            return connection
                .written
                .saturating_sub(self.bounds.send + self.bounds.receive);
        };
        // Ours first, then theirs: bytes acknowledged in between only make the answer smaller.
        let acknowledged = connection.written.saturating_sub(unacknowledged);
        let unread = match self.queues.as_mut() {
            Some(queues) if connection.peer_visible => queues
                .of(connection.peer, connection.local)
                .ok()
                .flatten()
                .map(|theirs| theirs.unread),
            _ => None,
        };
        // Our FIN takes a sequence number: once the agent has acknowledged it (nothing of ours
        // unacknowledged), its unread count holds the FIN too until it reads the end of stream,
        // which is not data of ours it has yet to read.
        let unread = match unread {
            Some(unread) if connection.fin_sent && unacknowledged == 0 => {
                Some(unread.saturating_sub(1))
            }
            other => other,
        };
        acknowledged.saturating_sub(unread.unwrap_or(self.bounds.receive))
    }

    fn release(&mut self, connection: &Connection) {
        if self.window.is_empty() {
            return;
        }
        let read = self.read_by_agent(connection);
        self.release_up_to(read);
    }

    fn release_up_to(&mut self, read: u64) {
        let mut released = None;
        while let Some(oldest) = self.window.front() {
            if oldest.end.is_none_or(|end| end > read) {
                break;
            }
            self.window_bytes -= oldest.batch.data.len() as u64;
            released = Some(oldest.seq);
            self.window.pop_front();
        }
        if let Some(seq) = released {
            self.buffer.ack(seq);
        }
    }

    fn remember(&mut self, seq: u64, batch: Batch, end: Option<u64>, sent: bool) {
        self.window_bytes += batch.data.len() as u64;
        self.window.push_back(Written {
            seq,
            batch,
            end,
            sent,
        });
    }

    /// The connection is gone: whatever the agent did not prove it read is written again.
    fn disconnected(&mut self, connection: &mut Option<Connection>) {
        if let Some(lost) = connection.take() {
            // Its socket may still say how far the agent got before the end.
            self.release(&lost);
            self.sink.connected.sub(1);
        }
        for written in &mut self.window {
            written.end = None;
        }
    }

    /// Connects with exponential backoff, then replays the resend window. Between attempts it
    /// takes the next batch into `pending` when it holds nothing to deliver, so that it notices a
    /// closed buffer: with nothing left to deliver the sink ends (`None`) at once, even with the
    /// agent down.
    async fn connect(
        &mut self,
        abort: &CancellationToken,
        pending: &mut Option<Entry>,
    ) -> Option<Connection> {
        let mut delay = self.config.reconnect_min;
        loop {
            let address = self.config.addresses[self.next_address % self.config.addresses.len()];
            let attempt = tokio::select! {
                attempt = self.try_connect(address) => attempt,
                () = abort.cancelled() => return None,
            };
            match attempt {
                Ok(connection) => {
                    self.connections += 1;
                    if self.connections > 1 {
                        self.sink.reconnects.inc();
                    }
                    self.sink.connected.add(1);
                    tracing::info!(%address, "connected to the agent");
                    return Some(connection);
                }
                Err(error) => {
                    self.sink.send_errors.inc();
                    tracing::warn!(%address, %error, retry_in_ms = delay.as_millis() as u64, "cannot reach the agent");
                    self.next_address += 1;
                }
            }
            let idle = pending.is_none() && self.window.is_empty();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                entry = self.buffer.next(), if idle => match entry {
                    Some(entry) => *pending = Some(entry),
                    None => return None,
                },
                () = abort.cancelled() => return None,
            }
            delay = (delay * 2).min(self.config.reconnect_max);
        }
    }

    async fn try_connect(&mut self, address: SocketAddr) -> std::io::Result<Connection> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(false)?;
        let (local, peer) = (stream.local_addr()?, stream.peer_addr()?);
        let peer_visible = match self.queues.as_mut() {
            Some(queues) => queues.of(peer, local).ok().flatten().is_some(),
            None => false,
        };
        if !peer_visible && self.connections == 0 {
            tracing::info!(%address, window_bytes = self.bounds.receive + self.bounds.send + WINDOW_SLACK, "the agent's socket is not visible from here: written events are released once the kernels' buffers have been written behind them");
        }
        let mut connection = Connection {
            stream,
            local,
            peer,
            written: 0,
            peer_visible,
            fin_sent: false,
        };
        let mut resent = 0;
        for written in &mut self.window {
            connection.stream.write_all(&written.batch.data).await?;
            connection.written += written.batch.data.len() as u64;
            written.end = Some(connection.written);
            if written.sent {
                resent += written.batch.events;
            } else {
                written.sent = true;
                count_first_write(&self.observer, &self.sink, &written.batch);
            }
        }
        if resent > 0 {
            self.sink.resent_events.add(resent);
            tracing::info!(
                events = resent,
                "re-sent the events the agent had not been seen reading when the connection broke"
            );
        }
        Ok(connection)
    }
}

/// A batch written for the first time is sent (a replay of it is a resend, counted apart).
fn count_first_write(observer: &Observer, sink: &SinkMetrics, batch: &Batch) {
    observer.mocks_written(&batch.mock_markers);
    sink.sent_events.add(batch.events);
    sink.sent_bytes.add(batch.data.len() as u64);
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
