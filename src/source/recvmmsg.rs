//! Many datagrams per system call (Linux `recvmmsg`): at 400 k msg/s one `recvfrom` per datagram
//! is 400 k system calls a second on the core that also parses them. Neither std, tokio nor
//! socket2 wraps `recvmmsg`; the call and the address conversion are the only unsafe code here.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{SockAddr, SockAddrStorage};

/// Datagrams taken per call: enough to make the call's cost small per datagram, few enough that
/// the buffers of a 64 KiB maximum message stay a few MiB per socket (and only the pages a
/// datagram lands in are ever touched).
pub const DATAGRAMS_PER_CALL: usize = 32;

/// The buffers of one socket's receiving task, reused for every call.
pub struct Datagrams {
    /// `DATAGRAMS_PER_CALL` slots of `slot` bytes each.
    buffers: Vec<u8>,
    slot: usize,
    received: Vec<(usize, Option<SocketAddr>)>,
}

impl Datagrams {
    /// Room for datagrams of up to `slot` bytes (a longer one is cut to `slot` bytes: make the
    /// slot one byte larger than the largest message allowed to tell one from the other).
    pub fn new(slot: usize) -> Self {
        Datagrams {
            buffers: vec![0; slot * DATAGRAMS_PER_CALL],
            slot,
            received: Vec::with_capacity(DATAGRAMS_PER_CALL),
        }
    }

    /// Receives what the socket has without waiting: `Ok(n)` datagrams, `WouldBlock` when there
    /// was none.
    pub fn receive(&mut self, socket: &impl AsRawFd) -> std::io::Result<usize> {
        self.received.clear();
        let mut names: [SockAddrStorage; DATAGRAMS_PER_CALL] =
            std::array::from_fn(|_| SockAddrStorage::zeroed());
        let mut iovecs: Vec<libc::iovec> = self
            .buffers
            .chunks_exact_mut(self.slot)
            .map(|chunk| libc::iovec {
                iov_base: chunk.as_mut_ptr().cast(),
                iov_len: chunk.len(),
            })
            .collect();
        #[expect(
            unsafe_code,
            reason = "zeroed C structs, the way the C API initialises them"
        )]
        // SAFETY: mmsghdr is plain integers and pointers, for which all zeroes is a valid value
        // (null pointers, zero lengths).
        let mut headers: [libc::mmsghdr; DATAGRAMS_PER_CALL] = unsafe { std::mem::zeroed() };
        for ((header, name), iovec) in headers.iter_mut().zip(&mut names).zip(&mut iovecs) {
            header.msg_hdr.msg_namelen = name.size_of();
            header.msg_hdr.msg_name = std::ptr::from_mut(name).cast();
            header.msg_hdr.msg_iov = iovec;
            header.msg_hdr.msg_iovlen = 1;
        }
        #[expect(
            unsafe_code,
            reason = "recvmmsg has no safe wrapper in std, tokio or socket2"
        )]
        // SAFETY: every header points at its own name (a sockaddr_storage, with its size) and its
        // own iovec, which points at a distinct `slot`-byte part of `self.buffers`; all of them
        // outlive the call, and the kernel writes only within the lengths given.
        let count = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                DATAGRAMS_PER_CALL as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let count = usize::try_from(count).map_err(|_| std::io::Error::last_os_error())?;
        for (header, name) in headers.iter().zip(names).take(count) {
            #[expect(
                unsafe_code,
                reason = "socket2 builds an address only from raw storage"
            )]
            // SAFETY: the kernel initialised `msg_namelen` bytes of `name`, a whole
            // sockaddr_storage (SockAddrStorage is one, transparently).
            let address = unsafe { SockAddr::new(name, header.msg_hdr.msg_namelen) };
            self.received
                .push((header.msg_len as usize, address.as_socket()));
        }
        Ok(count)
    }

    /// The `index`th datagram of the last call: its bytes (the whole datagram, or `slot` bytes
    /// of a longer one) and its sender.
    pub fn get(&self, index: usize) -> Option<(&[u8], Option<SocketAddr>)> {
        let (len, sender) = *self.received.get(index)?;
        let start = index * self.slot;
        Some((&self.buffers[start..start + len.min(self.slot)], sender))
    }
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;

    use super::*;

    /// 70 datagrams from two senders, one of them longer than a slot: every one arrives, whole or
    /// cut to the slot, with its sender, at most `DATAGRAMS_PER_CALL` a call, then WouldBlock.
    #[test]
    fn every_datagram_arrives_with_its_sender_in_batches() {
        let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
        receiver.set_nonblocking(true).expect("nonblocking");
        let senders = [
            UdpSocket::bind("127.0.0.1:0").expect("bind"),
            UdpSocket::bind("127.0.0.1:0").expect("bind"),
        ];
        let to = receiver.local_addr().expect("address");
        let mut sent = Vec::new();
        for n in 0..70 {
            let sender = &senders[n % 2];
            let text = if n == 33 {
                "x".repeat(100)
            } else {
                format!("message {n}")
            };
            sender.send_to(text.as_bytes(), to).expect("send");
            sent.push((text, sender.local_addr().expect("address")));
        }
        let mut datagrams = Datagrams::new(64);
        let mut received = Vec::new();
        loop {
            match datagrams.receive(&receiver) {
                Ok(count) => {
                    assert!((1..=DATAGRAMS_PER_CALL).contains(&count), "{count}");
                    for index in 0..count {
                        let (bytes, sender) = datagrams.get(index).expect("received");
                        let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
                        received.push((text, sender.expect("an IPv4 sender")));
                    }
                    assert!(datagrams.get(count).is_none());
                }
                Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(error) => panic!("{error}"),
            }
        }
        assert_eq!(received.len(), sent.len());
        for ((got, from), (text, by)) in received.iter().zip(&sent) {
            assert_eq!(from, by);
            if text.len() > 64 {
                assert_eq!(got, &text[..64], "cut to the slot");
            } else {
                assert_eq!(got, text);
            }
        }
    }
}
