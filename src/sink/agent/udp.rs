//! The forward to the agent over UDP.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::buffer::{BufferReader, Entry};
use crate::config::Forward;
use crate::telemetry::events;
use crate::telemetry::metrics::SinkMetrics;
use crate::telemetry::observe::Observer;

/// The forward over UDP (`forward.address = ["udp://…"]`): one datagram per message, LF framing
/// removed. UDP has no connection to lose and no acknowledgement, so there is no resend window;
/// send errors the kernel reports (ICMP port unreachable while the agent is down) are counted
/// and the message is gone, which is why TCP is the default.
pub async fn run_udp(
    config: Forward,
    observer: Arc<Observer>,
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
        observer.mocks_written(&batch.mock_markers);
        for message in batch.data[..].split(|byte| *byte == b'\n') {
            if message.is_empty() {
                continue;
            }
            match socket.send(message).await {
                Ok(_) => {
                    sink.sent_events.inc();
                    sink.sent_bytes.add(message.len() as u64);
                }
                Err(error) => events::AgentUdpSendFailed {
                    error: &error,
                    address,
                }
                .emit(&sink),
            }
        }
        // UDP has no acknowledgement: sent is as delivered as it gets.
        buffer.ack(seq);
    }
}
