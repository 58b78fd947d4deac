//! UDP syslog (RFC 5426): one datagram, one message. Several sockets share the port through
//! SO_REUSEPORT so the kernel spreads senders over cores, each with a large receive buffer.
//! UDP cannot be paused: when a sink's buffer is full the batch is dropped and counted.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};
use time::OffsetDateTime;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::recvmmsg::Datagrams;
use super::SharedRef;
use crate::buffer::batch::{any_events, any_full};
use crate::config::Listener;
use crate::host::proc_net::{self, Transport};
use crate::telemetry::events;

/// Binds `count` sockets to one address. A receive buffer the kernel clamped is reported with the
/// sysctl that raises the cap.
pub fn bind(config: &Listener, count: usize) -> std::io::Result<Vec<UdpSocket>> {
    let address = config.address;
    let mut sockets = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::DGRAM,
            Some(Protocol::UDP),
        )?;
        if address.is_ipv6() {
            // IPv4 has its own listener; without V6ONLY, [::]:514 would collide with 0.0.0.0:514.
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_port(true)?;
        socket.set_recv_buffer_size(config.receive_buffer_bytes)?;
        // Linux reports twice the usable size it granted.
        if socket.recv_buffer_size()? / 2 < config.receive_buffer_bytes {
            force_receive_buffer(&socket, config.receive_buffer_bytes);
        }
        socket.set_nonblocking(true)?;
        socket.bind(&address.into())?;
        let granted = socket.recv_buffer_size()? / 2;
        if sockets.is_empty() && granted < config.receive_buffer_bytes {
            tracing::warn!(
                requested = config.receive_buffer_bytes,
                granted,
                "UDP receive buffer clamped by the kernel (net.core.rmem_max, and no CAP_NET_ADMIN to go past it); raise the cap with: sysctl -w net.core.rmem_max={}",
                config.receive_buffer_bytes
            );
        }
        sockets.push(UdpSocket::from_std(socket.into())?);
    }
    refuse_a_shared_port(address, &sockets)?;
    Ok(sockets)
}

/// SO_RCVBUFFORCE: what SO_RCVBUF asks for, past the `net.core.rmem_max` cap, for a process with
/// CAP_NET_ADMIN (root, or the capability given by the unit). Without it the call fails and the
/// clamped buffer stays, which the caller reports.
fn force_receive_buffer(socket: &Socket, bytes: usize) {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    #[expect(unsafe_code, reason = "socket2 does not wrap SO_RCVBUFFORCE")]
    // SAFETY: a pointer to a live c_int and its size; the kernel only reads them.
    let _ = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::from_ref(&value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

/// SO_REUSEPORT lets any socket of the same user join the port, so a second relay (or an rsyslog
/// running as root beside one) binds without an error and the kernel silently splits the
/// datagrams between them. Any socket on the address that is not one of ours is refused as the
/// port in use.
fn refuse_a_shared_port(address: SocketAddr, ours: &[UdpSocket]) -> std::io::Result<()> {
    let ours: Vec<u64> = ours.iter().filter_map(proc_net::inode).collect();
    let others: Vec<u64> = proc_net::listening(Transport::Udp, address)
        .into_iter()
        .filter(|bound| bound.address.port() == address.port() && !ours.contains(&bound.inode))
        .map(|bound| bound.inode)
        .collect();
    if others.is_empty() {
        return Ok(());
    }
    let holders: Vec<String> = proc_net::owners(&others)
        .values()
        .map(ToString::to_string)
        .collect();
    let holders = if holders.is_empty() {
        "another process".to_string()
    } else {
        holders.join(", ")
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!(
            "{holders} already receives on this UDP port; sharing it (SO_REUSEPORT) would split the datagrams between us"
        ),
    ))
}

/// Receives datagrams until `stop` fires. Whatever is ready is read in one go (without waiting,
/// up to a batch, [`DATAGRAMS_PER_CALL`](super::recvmmsg::DATAGRAMS_PER_CALL) per system call)
/// and queued as one batch.
pub async fn serve(
    socket: UdpSocket,
    config: Listener,
    index: usize,
    shared: SharedRef,
    stop: CancellationToken,
) {
    let metrics = &shared.pipeline.metrics.listeners[index];
    // One byte more than allowed, so that an oversized datagram shows as such instead of truncated.
    let mut received = Datagrams::new(config.max_message_bytes + 1);
    let mut tally = shared.pipeline.tally();
    loop {
        tokio::select! {
            ready = socket.readable() => if ready.is_err() { continue },
            () = stop.cancelled() => return,
        }
        let received_at = OffsetDateTime::now_utc();
        let mut batches = shared.sinks.batches();
        let mut datagrams = 0u64;
        let mut bytes = 0u64;
        while !any_full(&batches) {
            let count = match socket.try_io(Interest::READABLE, || received.receive(&socket)) {
                Ok(count) => count,
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => {
                    tracing::debug!(%error, "UDP receive error");
                    break;
                }
            };
            for (datagram, sender) in (0..count).filter_map(|index| received.get(index)) {
                datagrams += 1;
                bytes += datagram.len() as u64;
                // Only a socket of another address family reports no address; not ours.
                let Some(peer) = sender else { continue };
                if datagram.len() > config.max_message_bytes {
                    let max = config.max_message_bytes;
                    events::DatagramOversized { peer, max }.emit(metrics);
                    continue;
                }
                let message = trim_trailer(datagram);
                if !message.is_empty() {
                    shared.pipeline.process(
                        message,
                        peer.ip(),
                        received_at,
                        &mut batches,
                        &mut tally,
                    );
                }
            }
        }
        metrics.frames.add(datagrams);
        metrics.bytes.add(bytes);
        shared.pipeline.flush(&mut tally);
        if datagrams > 0 && any_events(&batches) {
            metrics
                .queue_full_drops
                .add(shared.sinks.try_send(&mut batches));
        }
        // Under a flood the socket is always readable, so this loop would never give its worker
        // back: the sink task, which empties the queue, would starve and every datagram would be
        // dropped as queue-full. One batch, then the other tasks get their turn.
        tokio::task::yield_now().await;
    }
}

/// Senders often end a datagram with LF, CRLF or NUL; none of it belongs to the message.
fn trim_trailer(datagram: &[u8]) -> &[u8] {
    let end = datagram
        .iter()
        .rposition(|&b| !matches!(b, b'\n' | b'\r' | b'\0'))
        .map_or(0, |last| last + 1);
    &datagram[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_and_nul_after_a_datagram_are_not_part_of_the_message() {
        assert_eq!(trim_trailer(b"msg\r\n\0"), b"msg");
        assert_eq!(trim_trailer(b"\n"), b"");
        assert_eq!(trim_trailer(b"a\nb"), b"a\nb");
    }

    /// Twice the kernel's cap: granted in full to a process with CAP_NET_ADMIN (SO_RCVBUFFORCE),
    /// clamped to the cap for any other.
    #[tokio::test]
    async fn a_receive_buffer_past_the_cap_needs_cap_net_admin() {
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .expect("rmem_max")
            .trim()
            .parse()
            .expect("a number");
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let effective = status
            .lines()
            .find_map(|line| line.strip_prefix("CapEff:"))
            .map(|hex| u64::from_str_radix(hex.trim(), 16).expect("hex"))
            .expect("CapEff");
        let net_admin = effective & (1 << 12) != 0;
        let toml = format!(
            "[[listener]]\naddress = \"udp://127.0.0.1:0\"\nreceive_buffer_bytes = {}\n",
            2 * cap
        );
        let config = crate::config::Config::from_toml(&toml, std::path::Path::new("t.toml"))
            .expect("config");
        let sockets = bind(&config.listeners[0], 1).expect("bind");
        let granted = socket2::SockRef::from(&sockets[0])
            .recv_buffer_size()
            .expect("size")
            / 2;
        if net_admin {
            assert!(granted >= 2 * cap, "granted {granted} with CAP_NET_ADMIN");
        } else {
            assert!(granted <= cap, "granted {granted} without CAP_NET_ADMIN");
        }
    }
}
