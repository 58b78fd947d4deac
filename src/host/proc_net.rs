//! Sockets of this host, from `/proc` alone (no `ss`, `netstat` or `lsof` needed): the kernel's
//! socket tables in `/proc/net/{tcp,tcp6,udp,udp6}`, the owning process from `/proc/PID/fd`
//! links, and the drop counters of our own UDP sockets.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use tokio::net::UdpSocket;

/// TCP sockets in LISTEN state (`0A`), UDP sockets unconnected (`07`).
const TCP_LISTEN: &str = "0A";
const UDP_UNCONNECTED: &str = "07";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

#[derive(Debug, Clone)]
pub struct Bound {
    pub address: SocketAddr,
    pub inode: u64,
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub name: String,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// Sockets listening on `port` whose address covers `address` (the same address, or a wildcard of
/// the same family).
pub fn listening(transport: Transport, address: SocketAddr) -> Vec<Bound> {
    let state = match transport {
        Transport::Tcp => TCP_LISTEN,
        Transport::Udp => UDP_UNCONNECTED,
    };
    read_tables(transport)
        .iter()
        .flat_map(|table| parse_table(table, state))
        .filter(|bound| covers(bound.address, address))
        .collect()
}

fn covers(bound: SocketAddr, wanted: SocketAddr) -> bool {
    if bound.port() != wanted.port() {
        return false;
    }
    let ip = bound.ip();
    ip == wanted.ip()
        || ip.is_unspecified() && ip.is_ipv4() == wanted.ip().is_ipv4()
        || wanted.ip().is_unspecified() && ip.is_ipv4() == wanted.ip().is_ipv4()
}

/// The files of `transport`'s tables that could be read (IPv4, then IPv6).
fn read_tables(transport: Transport) -> Vec<String> {
    let files = match transport {
        Transport::Tcp => ["/proc/net/tcp", "/proc/net/tcp6"],
        Transport::Udp => ["/proc/net/udp", "/proc/net/udp6"],
    };
    files
        .iter()
        .filter_map(|file| std::fs::read_to_string(file).ok())
        .collect()
}

/// One socket of a `/proc/net/{tcp,udp}[6]` table, split into its whitespace-separated fields:
/// `sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode`,
/// and for UDP then `ref pointer drops`.
struct Row<'a> {
    fields: Vec<&'a str>,
}

impl<'a> Row<'a> {
    /// The table's sockets; its first line is the column titles.
    fn all(table: &'a str) -> impl Iterator<Item = Row<'a>> {
        table.lines().skip(1).map(|line| Row {
            fields: line.split_whitespace().collect(),
        })
    }

    fn local_address(&self) -> Option<SocketAddr> {
        parse_address(self.fields.get(1)?)
    }

    fn state(&self) -> Option<&'a str> {
        self.fields.get(3).copied()
    }

    fn inode(&self) -> Option<u64> {
        self.fields.get(9)?.parse().ok()
    }

    /// Datagrams the kernel dropped for this UDP socket (its receive buffer was full).
    fn drops(&self) -> Option<u64> {
        self.fields.last()?.parse().ok()
    }
}

/// Rows of a `/proc/net/{tcp,udp}[6]` table in `state`.
fn parse_table(table: &str, state: &str) -> Vec<Bound> {
    Row::all(table)
        .filter(|row| row.state() == Some(state))
        .filter_map(|row| {
            Some(Bound {
                address: row.local_address()?,
                inode: row.inode()?,
            })
        })
        .collect()
}

/// `0100007F:0202` (IPv4) or 32 hex digits and a port (IPv6); each 32-bit word is in host
/// (little-endian) order, the port in network order.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::swap_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (index, chunk) in octets.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(&ip[index * 8..index * 8 + 8])?.to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// The processes holding these socket inodes, as far as this user may look (other users'
/// `/proc/PID/fd` are unreadable without root).
pub fn owners(inodes: &[u64]) -> HashMap<u64, Owner> {
    let mut found = HashMap::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return found;
    };
    for process in processes.flatten() {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(descriptors) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for descriptor in descriptors.flatten() {
            let Ok(target) = std::fs::read_link(descriptor.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if inodes.contains(&inode) {
                let name = std::fs::read_to_string(process.path().join("comm"))
                    .map(|n| n.trim().to_string())
                    .unwrap_or_else(|_| "?".into());
                found.insert(inode, Owner { pid, name });
            }
        }
    }
    found
}

/// The inode of one of our sockets, as the `/proc/net` tables name it.
pub fn inode(socket: &impl AsRawFd) -> Option<u64> {
    let path = format!("/proc/self/fd/{}", socket.as_raw_fd());
    std::fs::metadata(path).ok().map(|metadata| metadata.ino())
}

/// Reads the kernel's drop counters of our UDP sockets from `/proc/net/udp` and `/proc/net/udp6`.
#[derive(Debug, Default)]
pub struct UdpDropReader {
    /// (listener name, socket inode)
    sockets: Vec<(String, u64)>,
}

impl UdpDropReader {
    pub fn add(&mut self, listener: &str, socket: &UdpSocket) {
        if let Some(inode) = inode(socket) {
            self.sockets.push((listener.to_string(), inode));
        }
    }

    /// Drops per listener, summed over its sockets.
    pub fn read(&self) -> Vec<(String, u64)> {
        let mut totals: Vec<(String, u64)> = Vec::new();
        if self.sockets.is_empty() {
            return totals;
        }
        let tables = read_tables(Transport::Udp);
        for row in tables.iter().flat_map(|table| Row::all(table)) {
            let (Some(inode), Some(drops)) = (row.inode(), row.drops()) else {
                continue;
            };
            for (listener, _) in self.sockets.iter().filter(|(_, ino)| *ino == inode) {
                match totals.iter_mut().find(|(name, _)| name == listener) {
                    Some((_, total)) => *total += drops,
                    None => totals.push((listener.clone(), drops)),
                }
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_rows_are_decoded() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:0202 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0\n   1: 00000000:1A0B 00000000:0000 01 00000000:00000000 00:00000000 00000000     0        0 999 1\n";
        let rows = parse_table(table, TCP_LISTEN);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].address, "127.0.0.1:514".parse().unwrap());
        assert_eq!(rows[0].inode, 12345);
        let v6 = parse_address("00000000000000000000000001000000:0202").unwrap();
        assert_eq!(v6, "[::1]:514".parse().unwrap());
    }

    #[test]
    fn udp_rows_end_with_the_drop_counter() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  123: 00000000:0202 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n";
        let row = Row::all(table).next().unwrap();
        assert_eq!(row.state(), Some(UDP_UNCONNECTED));
        assert_eq!((row.inode(), row.drops()), (Some(4242), Some(17)));
    }

    #[test]
    fn a_real_listener_and_its_owner_are_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let bound = listening(Transport::Tcp, address);
        assert_eq!(bound.len(), 1, "{bound:?}");
        let owners = owners(&[bound[0].inode]);
        assert_eq!(owners[&bound[0].inode].pid, std::process::id());
        let wildcard = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), address.port());
        assert_eq!(listening(Transport::Tcp, wildcard).len(), 1);
    }
}
