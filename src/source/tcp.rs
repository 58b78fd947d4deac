//! TCP and TLS syslog (RFC 6587, RFC 5425): octet-counted or LF-framed, decided per frame unless
//! forced.
//!
//! Connections cannot lock senders out: each sender (IPv4 address, IPv6 /64) may hold at most
//! `max_connections_per_sender`; at `max_connections` the connection that completed no frame for
//! the longest time is closed to admit the new one ([`super::connections`]); a frame begun must be
//! completed within `frame_timeout_secs`, so bytes trickled without ever completing a frame keep
//! nothing open. Behind a load balancer, a PROXY protocol header names the original sender
//! ([`super::proxy`]): it is read before anything else (before the TLS handshake), the connection
//! counts against that sender, and that sender is the connection's peer from then on. On stop,
//! each connection sends its FIN and reads what its sender had already sent
//! (until the sender closes, goes quiet, or half the shutdown grace period passes) before closing;
//! what is left unread is counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use cefrelay_syslog::framing::{Frame, FrameDecoder};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::connections::{
    return_freed_memory, unread_bytes, Admission, Connections, Ticket, TRIM_INTERVAL,
};
use super::proxy;
use super::tls::{Accepted, TlsTerminator};
use super::SharedRef;
use crate::buffer::batch::{any_events, any_full, Batch};
use crate::config::{Listener, ProxyProtocol};
use crate::telemetry::events;
use crate::telemetry::metrics::{CloseReason, ListenerMetrics};
use crate::telemetry::tally::Tally;

/// A connection's read buffer starts this small (an idle connection holds no more) and doubles
/// up to [`READ_MAX`] while reads fill it; it shrinks back when reads get small again.
const READ_MIN: usize = 4 * 1024;
const READ_MAX: usize = 64 * 1024;

/// On stop, a connection on which nothing arrives for this long has nothing more in flight.
/// (A round trip on most networks, and a sender that checks its connection before each write, as
/// rsyslog does, has seen the FIN by then.)
const SHUTDOWN_QUIET: Duration = Duration::from_millis(500);

/// The listen backlog `run` binds with: connections the kernel completes before they are accepted.
const BACKLOG: usize = 1024;

pub struct TcpSource {
    pub listener: TcpListener,
    pub config: Listener,
    /// Index of this listener's counters in `Metrics::listeners`.
    pub index: usize,
    /// Set for `tls://` listeners.
    pub tls: Option<Arc<TlsTerminator>>,
    /// How long a connection reads what its sender had sent once the relay stops: half the
    /// shutdown grace period, so the other half is left for the sinks. While the buffers push
    /// back (a slow agent), the sender's socket holds megabytes that take this long to move.
    pub drain: Duration,
}

/// A plain or TLS connection, with the TCP socket beneath for what the kernel knows.
pub trait Connection: AsyncRead + AsyncWrite + Unpin {
    /// Whether the socket alone says when there is something to read, so that the connection
    /// can wait for it without holding a read buffer. Not for TLS: rustls may hold decrypted
    /// bytes already.
    const SOCKET_TELLS: bool;
    fn tcp(&self) -> &TcpStream;
    /// Reads what is there without waiting; `None` when nothing is (or, without
    /// [`Self::SOCKET_TELLS`], always).
    fn read_now(&mut self, buffer: &mut BytesMut) -> Option<std::io::Result<usize>>;
}

impl Connection for TcpStream {
    const SOCKET_TELLS: bool = true;

    fn tcp(&self) -> &TcpStream {
        self
    }

    fn read_now(&mut self, buffer: &mut BytesMut) -> Option<std::io::Result<usize>> {
        match self.try_read_buf(buffer) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => None,
            done => Some(done),
        }
    }
}

impl Connection for Box<TlsStream<TcpStream>> {
    const SOCKET_TELLS: bool = false;

    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }

    fn read_now(&mut self, _: &mut BytesMut) -> Option<std::io::Result<usize>> {
        None
    }
}

/// What starting a connection needs, shared by the accept loop and the drain of the backlog.
struct Starter {
    config: Listener,
    index: usize,
    tls: Option<Arc<TlsTerminator>>,
    connections: Arc<Connections>,
    shared: SharedRef,
    stop: CancellationToken,
    tasks: TaskTracker,
    /// This listener's connections, to report on them once they have all ended.
    mine: TaskTracker,
    drain: Duration,
}

impl TcpSource {
    /// Accepts connections until `stop` fires; each connection runs on its own task in `tasks`.
    /// Then accepts what the kernel had already completed (those senders may have written too),
    /// closes the listening socket and waits for its connections to drain.
    pub async fn run(self, shared: SharedRef, stop: CancellationToken, tasks: TaskTracker) {
        let TcpSource {
            listener,
            config,
            index,
            tls,
            drain,
        } = self;
        let starter = Starter {
            connections: Connections::new(
                config.max_connections,
                config.max_connections_per_sender,
            ),
            config,
            index,
            tls,
            shared,
            stop,
            tasks,
            mine: TaskTracker::new(),
            drain,
        };
        let metrics = &starter.shared.pipeline.metrics.listeners[index];
        let mut trim = tokio::time::interval(TRIM_INTERVAL);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = starter.stop.cancelled() => break,
                _ = trim.tick() => {
                    return_freed_memory();
                    continue;
                }
            };
            match accepted {
                Ok((stream, peer)) => starter.start(stream, peer),
                Err(error) => {
                    // EMFILE and friends: never end the listener. Out of descriptors, the
                    // longest-idle connection gives its own up, as at max_connections.
                    let out_of_descriptors =
                        matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                    let evicted = out_of_descriptors && starter.connections.evict_longest_idle();
                    events::AcceptFailed {
                        error: &error,
                        evicted_longest_idle: evicted,
                    }
                    .emit();
                    let pause = if evicted { 10 } else { 100 };
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        // Asked of the kernel directly (the std listener is non-blocking): the runtime may not
        // have seen the last connections' readiness yet. At most a backlog's worth.
        if let Ok(listener) = listener.into_std() {
            for _ in 0..BACKLOG {
                let Ok((stream, peer)) = listener.accept() else {
                    break;
                };
                match stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream))
                {
                    Ok(stream) => starter.start(stream, peer),
                    Err(error) => tracing::debug!(%peer, %error, "connection lost at stop"),
                }
            }
        }
        starter.mine.close();
        starter.mine.wait().await;
        let abandoned = metrics.abandoned(CloseReason::Shutdown).get();
        let drained = metrics.closed(CloseReason::Shutdown).get();
        let frames = metrics.frames.get();
        if abandoned > 0 {
            tracing::warn!(listener = %metrics.name, connections_drained = drained, frames_received = frames, abandoned_bytes = abandoned, "listener stopped: bytes still arriving after the drain were thrown away");
        } else {
            tracing::info!(listener = %metrics.name, connections_drained = drained, frames_received = frames, abandoned_bytes = 0, "listener stopped: every connection drained");
        }
    }
}

impl Starter {
    fn start(&self, stream: TcpStream, peer: SocketAddr) {
        let metrics = &self.shared.pipeline.metrics.listeners[self.index];
        // Behind a balancer the socket's address is the balancer's: the sender is counted once
        // its header names it.
        let admission = if self.config.proxy_protocol.is_some() {
            self.connections.admit_unidentified()
        } else {
            self.connections.admit(peer.ip())
        };
        let ticket = match admission {
            Admission::Admitted { ticket, evicted } => {
                if evicted {
                    let max = self.config.max_connections;
                    events::IdleConnectionEvicted { peer, max }.emit();
                }
                ticket
            }
            Admission::PerSenderLimit => {
                let max = self.config.max_connections_per_sender;
                events::ConnectionRefusedPerSender { peer, max }.emit(metrics);
                return;
            }
            Admission::Full => {
                let max = self.config.max_connections;
                events::ConnectionRefusedAllBusy { peer, max }.emit(metrics);
                return;
            }
        };
        metrics.connections_total.inc();
        let shared = self.shared.clone();
        let config = self.config.clone();
        let index = self.index;
        let stop = self.stop.clone();
        let tls = self.tls.clone();
        let drain = self.drain;
        let span = if self.config.proxy_protocol.is_some() {
            // `peer` is recorded once the header has named the sender.
            tracing::info_span!("connection", peer = tracing::field::Empty, socket_peer = %peer)
        } else {
            tracing::info_span!("connection", %peer)
        };
        let task = async move {
            let mut stream = stream;
            let mut peer = peer;
            let metrics = &shared.pipeline.metrics.listeners[index];
            if let Some(settings) = &config.proxy_protocol {
                let sender = behind_balancer(
                    &mut stream,
                    peer,
                    &config,
                    settings,
                    metrics,
                    &stop,
                    &ticket,
                );
                let Some(sender) = sender.await else { return };
                peer = sender;
            }
            let connection = Served {
                peer,
                config: &config,
                metrics,
                shared: &shared,
                stop: &stop,
                ticket: &ticket,
                drain,
            };
            let Some(tls) = tls else {
                connection.serve(stream).await;
                return;
            };
            let accepted = tokio::select! {
                // Boxed: the handshake state is large and plain connections need none of it.
                accepted = Box::pin(tls.accept(stream)) => accepted,
                () = stop.cancelled() => return,
                () = ticket.evicted() => {
                    connection.metrics.closed(CloseReason::EvictedIdle).inc();
                    return;
                }
            };
            match accepted {
                Ok(Accepted::Tls(stream)) => connection.serve(stream).await,
                Ok(Accepted::Plain(stream)) => connection.serve(stream).await,
                Err(error) => {
                    events::TlsHandshakeFailed {
                        peer,
                        error: &error,
                    }
                    .emit(connection.metrics);
                }
            }
        };
        self.tasks
            .spawn(self.mine.track_future(task.instrument(span)));
    }
}

/// A connection on a PROXY protocol listener: reads its header, names the span's peer and
/// counts the connection against its sender. The sender, or `None` when the connection is to be
/// closed (counted and said where it is worth it).
async fn behind_balancer(
    stream: &mut TcpStream,
    socket_peer: SocketAddr,
    config: &Listener,
    settings: &ProxyProtocol,
    metrics: &ListenerMetrics,
    stop: &CancellationToken,
    ticket: &Ticket,
) -> Option<SocketAddr> {
    let opening = tokio::select! {
        // A header already there is read even when stopping: the connections accepted from the
        // backlog at stop have theirs waiting, and lines after it.
        biased;
        opening = proxy::read_opening(stream, socket_peer, settings, config.idle_timeout) => opening,
        () = stop.cancelled() => return None,
        () = ticket.evicted() => {
            metrics.closed(CloseReason::EvictedIdle).inc();
            return None;
        }
    };
    let sender = match opening {
        Ok(opening) => {
            opening.count(metrics);
            opening.sender(socket_peer)
        }
        Err(refused) => {
            refused.report(socket_peer, settings, metrics);
            return None;
        }
    };
    tracing::Span::current().record("peer", tracing::field::display(sender));
    if ticket.identify(sender.ip()).is_err() {
        let max = config.max_connections_per_sender;
        events::ConnectionRefusedPerSender { peer: sender, max }.emit(metrics);
        return None;
    }
    Some(sender)
}

/// Reading on after the relay decided to close: until `until`, or until nothing arrived for
/// `quiet` (from `started` or the last bytes, whichever is later).
struct Drain {
    reason: CloseReason,
    started: Instant,
    until: Instant,
    quiet: Duration,
}

/// One connection being served.
struct Served<'a> {
    peer: SocketAddr,
    config: &'a Listener,
    metrics: &'a ListenerMetrics,
    shared: &'a SharedRef,
    stop: &'a CancellationToken,
    ticket: &'a Ticket,
    /// [`TcpSource::drain`].
    drain: Duration,
}

/// Every sink has stopped: nothing more can be accepted.
struct SinksGone;

impl Served<'_> {
    /// Reads frames until the peer closes or the relay closes the connection (idle, stalled
    /// frame, evicted, stopping). A bad frame is counted and skipped; the connection goes on with
    /// the next one.
    // One piece: a single select loop whose arms share the connection's state (buffer, timers).
    async fn serve<C: Connection>(&self, mut stream: C) {
        self.metrics.connections_active.add(1);
        let mut decoder = FrameDecoder::new(self.config.framing, self.config.max_message_bytes);
        let mut buffer = BytesMut::new();
        let mut tally = self.shared.pipeline.tally();
        let mut read_size = READ_MIN;
        let mut last_bytes = Instant::now();
        // When the first byte after the last completed frame arrived: a frame is under way.
        let mut frame_started: Option<Instant> = None;
        let mut drain: Option<Drain> = None;
        // Some(reason) when the relay closed the connection, None when the peer did.
        let cut = loop {
            if drain.is_none() {
                let now = Instant::now();
                if self.stop.is_cancelled() {
                    drain = Some(Drain {
                        reason: CloseReason::Shutdown,
                        started: now,
                        until: now + self.drain,
                        quiet: SHUTDOWN_QUIET,
                    });
                    // FIN (TLS: close_notify first): a sender that watches its connection stops
                    // writing and closes its side, which ends the drain once all of it is read.
                    let _ = tokio::time::timeout(SHUTDOWN_QUIET, stream.shutdown()).await;
                } else if self.ticket.is_evicted() {
                    // Idle by choice, so usually nothing is waiting: one read of what is.
                    drain = Some(Drain {
                        reason: CloseReason::EvictedIdle,
                        started: now,
                        until: now,
                        quiet: Duration::ZERO,
                    });
                }
            }
            let (deadline, reason) = match &drain {
                Some(d) => (d.until.min(last_bytes.max(d.started) + d.quiet), d.reason),
                None => {
                    let idle = last_bytes + self.config.idle_timeout;
                    match frame_started.map(|t| t + self.config.frame_timeout) {
                        Some(stalled) if stalled < idle => (stalled, CloseReason::FrameTimeout),
                        _ => (idle, CloseReason::IdleTimeout),
                    }
                }
            };
            // A buffer grown for a burst goes back to the allocator once the burst is over.
            if buffer.is_empty() && buffer.capacity() > 2 * read_size {
                buffer = BytesMut::new();
            }
            let read = async {
                if C::SOCKET_TELLS && buffer.is_empty() {
                    buffer.reserve(read_size);
                    if let Some(done) = stream.read_now(&mut buffer) {
                        return done;
                    }
                    // Nothing there: wait for the socket without a read buffer, so an idle
                    // connection holds none (a new socket starts out "readable" in tokio, hence
                    // the peek rather than readiness alone).
                    buffer = BytesMut::new();
                    stream.tcp().peek(&mut [0u8; 1]).await?;
                }
                buffer.reserve(read_size);
                stream.read_buf(&mut buffer).await
            };
            // Reading comes first: data already there is taken before a deadline or a stop.
            let read = tokio::select! {
                biased;
                read = read => read,
                () = self.ticket.evicted(), if drain.is_none() => continue,
                () = self.stop.cancelled(), if drain.is_none() => continue,
                () = tokio::time::sleep_until(deadline) => break Some(reason),
            };
            let n = match read {
                Ok(0) => 0,
                Ok(n) => n,
                Err(error) => {
                    tracing::debug!(%error, "connection error");
                    0
                }
            };
            let now = Instant::now();
            if n == 0 {
                // End of stream: what is left is decoded as the last frame (or counted).
                let _ = self.push(&mut decoder, &mut buffer, true, &mut tally).await;
                break None;
            }
            frame_started.get_or_insert(now);
            if n >= read_size {
                read_size = (read_size * 2).min(READ_MAX);
            } else if n < read_size / 4 {
                read_size = (read_size / 2).max(READ_MIN);
            }
            match self
                .push(&mut decoder, &mut buffer, false, &mut tally)
                .await
            {
                Err(SinksGone) => break Some(CloseReason::Shutdown),
                Ok(true) => {
                    self.ticket.frame_completed();
                    // What is left is the start of the next frame, which began with this read.
                    frame_started = (!buffer.is_empty()).then_some(now);
                }
                Ok(false) => {}
            }
            // Time spent waiting for room in the buffers is neither the sender's silence nor its
            // stall.
            let after = Instant::now();
            frame_started = frame_started.map(|started| started + (after - now));
            last_bytes = after;
            if let Some(d) = &drain {
                if after >= d.until {
                    break Some(d.reason);
                }
            } else if frame_started.is_some_and(|t| after >= t + self.config.frame_timeout) {
                break Some(CloseReason::FrameTimeout);
            }
        };
        if let Some(reason) = cut.or(drain.as_ref().map(|d| d.reason)) {
            self.metrics.closed(reason).inc();
        }
        if let Some(reason) = cut {
            self.closed(reason, &buffer, unread_bytes(stream.tcp()));
        }
        self.metrics.connections_active.sub(1);
    }

    /// The relay closes the connection: counts what it throws away (the start of a frame in the
    /// buffer, the bytes waiting in the kernel) and says so, rate-limited.
    fn closed(&self, reason: CloseReason, buffer: &BytesMut, unread_bytes: u64) {
        let peer = self.peer;
        events::BytesAbandoned {
            peer,
            reason,
            unfinished_frame_bytes: buffer.len(),
            unread_bytes,
        }
        .emit(self.metrics);
        match reason {
            CloseReason::FrameTimeout => {
                let frame_timeout_secs = self.config.frame_timeout.as_secs();
                events::FrameTimedOut {
                    peer,
                    frame_timeout_secs,
                }
                .emit();
            }
            reason => tracing::debug!(reason = reason.label(), "connection closed"),
        }
    }

    /// Decodes every complete frame in `buffer` (at the end of the stream, the rest too) and hands
    /// the events to the sinks, waiting for room (the backpressure: no read until it is taken).
    /// True when a frame was completed. What it counted is flushed before every wait.
    async fn push(
        &self,
        decoder: &mut FrameDecoder,
        buffer: &mut BytesMut,
        at_eof: bool,
        tally: &mut Tally,
    ) -> Result<bool, SinksGone> {
        let received_at = OffsetDateTime::now_utc();
        let mut batches = self.shared.sinks.batches();
        let mut completed = false;
        let (mut frames, mut bytes_in) = (0, 0);
        loop {
            let frame = if at_eof {
                decoder.decode_eof(buffer)
            } else {
                decoder.decode(buffer)
            };
            let Ok(Some(frame)) = frame else { break };
            completed = true;
            match frame {
                Frame::Message(bytes) => {
                    frames += 1;
                    bytes_in += bytes.len() as u64;
                    let pipeline = &self.shared.pipeline;
                    pipeline.process(&bytes, self.peer.ip(), received_at, &mut batches, tally);
                    if any_full(&batches) {
                        self.flush(tally, &mut frames, &mut bytes_in);
                        self.send(&mut batches).await?;
                    }
                }
                Frame::Oversized { len } => {
                    let (peer, max) = (self.peer, self.config.max_message_bytes);
                    events::FrameOversized { peer, len, max }.emit(self.metrics);
                }
                Frame::Malformed { reason } => {
                    events::FrameMalformed {
                        peer: self.peer,
                        reason,
                    }
                    .emit(self.metrics);
                }
            }
        }
        self.flush(tally, &mut frames, &mut bytes_in);
        if any_events(&batches) {
            self.send(&mut batches).await?;
        }
        Ok(completed)
    }

    /// Adds what was counted since the last flush to the shared metrics.
    fn flush(&self, tally: &mut Tally, frames: &mut u64, bytes: &mut u64) {
        self.metrics.frames.add(std::mem::take(frames));
        self.metrics.bytes.add(std::mem::take(bytes));
        self.shared.pipeline.flush(tally);
    }

    async fn send(&self, batches: &mut [Batch]) -> Result<(), SinksGone> {
        // Frames in hand: never the connection closed to make room while it waits.
        self.ticket.set_busy(true);
        let in_hand = batches.iter().map(|batch| batch.events).sum();
        self.metrics.events_awaiting_buffer.add(in_hand);
        let open = self.shared.sinks.send(batches).await;
        self.metrics.events_awaiting_buffer.sub(in_hand);
        self.ticket.set_busy(false);
        if open {
            Ok(())
        } else {
            Err(SinksGone)
        }
    }
}
