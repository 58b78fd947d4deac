//! What the kernel still holds of a TCP connection's data, asked through `sock_diag` netlink
//! (what `ss` uses): for one socket, the bytes written and not yet acknowledged by the peer, and
//! the bytes received and not yet read by its process.
//!
//! The agent forward uses it to tell when the agent *process* has read what was written: bytes the
//! peer's kernel acknowledged can still die with the agent in its receive queue, so only
//! `written − our unacknowledged − the agent socket's unread` is really delivered. For an agent on
//! this host both sockets are visible; for one elsewhere only ours is.

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

/// The kernel's TCP_LISTEN socket state (include/net/tcp_states.h).
const TCP_LISTEN: u8 = 10;

/// One socket's queues, as `ss` shows them in Recv-Q / Send-Q.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queues {
    /// Received, not yet read by the socket's process.
    pub unread: u64,
    /// Written by the socket's process, not yet acknowledged by the peer.
    pub unacknowledged: u64,
}

/// A netlink socket for asking about single TCP sockets; one per agent sink.
pub struct TcpQueues {
    socket: Socket,
    /// The request being sent and the answer received, kept between queries.
    request: Vec<u8>,
    buffer: Vec<u8>,
}

impl TcpQueues {
    pub fn open() -> io::Result<TcpQueues> {
        let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
        Ok(TcpQueues {
            socket,
            request: Vec::new(),
            buffer: vec![0; 8192],
        })
    }

    /// The queues of the TCP socket whose own address is `local` and whose peer is `remote`, in
    /// this network namespace; `None` when there is no such socket (closed, or on another host).
    pub fn of(&mut self, local: SocketAddr, remote: SocketAddr) -> io::Result<Option<Queues>> {
        if local.is_ipv4() != remote.is_ipv4() {
            return Ok(None);
        }
        let mut header = NetlinkHeader::default();
        // No NLM_F_DUMP: the kernel looks the one socket up by its four-tuple.
        header.flags = NLM_F_REQUEST;
        let mut request = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family: if local.is_ipv4() { AF_INET } else { AF_INET6 },
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states: StateFlags::all(),
                socket_id: SocketId {
                    source_port: local.port(),
                    destination_port: remote.port(),
                    source_address: local.ip(),
                    destination_address: remote.ip(),
                    interface_id: 0,
                    // INET_DIAG_NOCOOKIE: match by address, whatever the socket's cookie.
                    cookie: [0xff; 8],
                },
            })
            .into(),
        );
        request.finalize();
        self.request.resize(request.buffer_len(), 0);
        request.serialize(&mut self.request);
        self.socket.send(&self.request, 0)?;

        let received = self.socket.recv(&mut &mut self.buffer[..], 0)?;
        let answer = NetlinkMessage::<SockDiagMessage>::deserialize(&self.buffer[..received])
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
        match answer.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                let found = &response.header;
                // With no socket of that four-tuple left (an agent killed with data unread
                // resets and frees it), the kernel's lookup falls through to a socket listening
                // on the port — the agent back, or still there —, whose counts are pending
                // connections: read as "nothing unread", they released what died with the
                // agent. So is anything but this connection's own socket.
                if found.state == TCP_LISTEN || found.socket_id.destination_port != remote.port() {
                    return Ok(None);
                }
                Ok(Some(Queues {
                    unread: u64::from(found.recv_queue),
                    unacknowledged: u64::from(found.send_queue),
                }))
            }
            // ENOENT: no such socket.
            NetlinkPayload::Error(error) if error.to_io().kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            NetlinkPayload::Error(error) => Err(error.to_io()),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected sock_diag answer: {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    fn wait_for(mut condition: impl FnMut() -> bool) {
        for _ in 0..500 {
            if condition() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("condition never held");
    }

    #[test]
    fn sees_what_the_peer_has_not_read_yet_and_then_that_it_has() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let (ours, theirs) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        let mut queues = TcpQueues::open().unwrap();

        client.write_all(&[7u8; 1000]).unwrap();
        wait_for(|| {
            queues.of(theirs, ours).unwrap()
                == Some(Queues {
                    unread: 1000,
                    unacknowledged: 0,
                })
        });
        assert_eq!(queues.of(ours, theirs).unwrap().unwrap().unacknowledged, 0);

        let mut read = [0u8; 600];
        server.read_exact(&mut read).unwrap();
        assert_eq!(queues.of(theirs, ours).unwrap().unwrap().unread, 400);
    }

    /// Once a connection is gone, the kernel's lookup by address falls through to a socket
    /// listening on the same port (an agent that came back): its numbers (pending connections)
    /// say nothing of the old connection, which must read as not there.
    #[test]
    fn a_gone_connection_is_none_even_with_a_listener_on_its_port() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let (ours, theirs) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
        let mut queues = TcpQueues::open().unwrap();
        assert!(queues.of(theirs, ours).unwrap().is_some());
        // Closed with a reset, as a killed agent's socket with data unread is: freed at once,
        // no TIME_WAIT left behind to answer for it.
        socket2::SockRef::from(&server)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        drop(server);
        drop(client);
        // A second, pending connection, so that the listener's backlog count is not zero.
        let _pending = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert_eq!(queues.of(theirs, ours).unwrap(), None);
    }

    #[test]
    fn a_socket_that_is_not_there_is_none() {
        let mut queues = TcpQueues::open().unwrap();
        let nowhere: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let also: SocketAddr = "127.0.0.1:2".parse().unwrap();
        assert_eq!(queues.of(nowhere, also).unwrap(), None);
    }
}
