//! The open connections of one TCP/TLS listener, so that idle ones cannot lock senders out: at most
//! `max_connections_per_sender` from one sender (IPv4 address, IPv6 /64), and at `max_connections`
//! the connection idle the longest (no completed frame for the longest time) is closed to admit
//! the new one.
//!
//! The table is bounded by `max_connections` (one slot per open connection, one count per sender
//! with at least one open connection) and a slot goes when its connection ends.
//!
//! Behind a load balancer (PROXY protocol) the socket's address is the balancer's, so a connection
//! takes its place unidentified at accept (it counts towards `max_connections` and can be evicted
//! while its header is awaited) and is counted against its sender once the header names it.
//!
//! Memory after bursts of connections: glibc's malloc keeps what a burst freed in its arenas
//! (measured: 5 000 connections opened and closed leave ~33 MB resident with nothing open), so
//! after many closes [`return_freed_memory`] asks it to give the free pages back.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Connections closed (in every listener) since freed memory was last given back.
static CLOSED_SINCE_TRIM: AtomicU64 = AtomicU64::new(0);
/// Closes after which freed memory is worth giving back: a burst, not the everyday churn.
const TRIM_AFTER_CLOSES: u64 = 1024;
/// How often the listeners look at [`CLOSED_SINCE_TRIM`].
pub const TRIM_INTERVAL: Duration = Duration::from_secs(5);

/// After a burst of connections has closed, gives the pages malloc holds free back to the system
/// (`malloc_trim`, on a blocking thread: it walks every arena). Cheap to call often.
pub fn return_freed_memory() {
    if CLOSED_SINCE_TRIM.load(Relaxed) < TRIM_AFTER_CLOSES {
        return;
    }
    CLOSED_SINCE_TRIM.store(0, Relaxed);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::task::spawn_blocking(|| {
        #[expect(unsafe_code, reason = "malloc_trim has no safe wrapper")]
        // SAFETY: malloc_trim only walks and trims glibc's own heaps, under their locks.
        unsafe {
            libc::malloc_trim(0)
        };
    });
}

pub struct Connections {
    max_total: usize,
    max_per_sender: usize,
    epoch: Instant,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    open: HashMap<u64, Open>,
    per_sender: HashMap<IpAddr, usize>,
}

/// An open connection's entry: its slot, and the sender it counts against once known.
struct Open {
    slot: Arc<Slot>,
    sender: Option<IpAddr>,
}

struct Slot {
    id: u64,
    /// Milliseconds after `Connections::epoch` of the last completed frame, or of the accept.
    /// Bytes that do not complete a frame do not move it: a slow trickle is idle.
    last_frame_ms: AtomicU64,
    /// Waiting for room in a sink's buffer: frames in hand, so never closed to make room.
    busy: AtomicBool,
    evicted: AtomicBool,
    wake: Notify,
}

/// What [`Connections::admit`] decided for a new connection.
pub enum Admission {
    /// Served; `evicted` says whether the longest-idle connection was closed to make room.
    Admitted { ticket: Ticket, evicted: bool },
    /// The sender already has `max_connections_per_sender` open.
    PerSenderLimit,
    /// `max_connections` open and every one of them is busy handing frames to the buffers.
    Full,
}

/// [`Ticket::identify`] found the sender at `max_connections_per_sender`.
pub struct PerSenderLimit;

/// One admitted connection's place in the table; leaving it (drop) frees the place.
pub struct Ticket {
    connections: Arc<Connections>,
    slot: Arc<Slot>,
}

impl Connections {
    pub fn new(max_total: usize, max_per_sender: usize) -> Arc<Self> {
        Arc::new(Connections {
            max_total: max_total.max(1),
            max_per_sender: max_per_sender.max(1),
            epoch: Instant::now(),
            table: Mutex::default(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a place for a connection from `sender`, closing the longest-idle connection when
    /// every place is taken.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Admission {
        self.take_place(Some(sender_of(peer)))
    }

    /// Takes a place for a connection whose sender is not known yet (a PROXY protocol header
    /// will name it: [`Ticket::identify`]); never refused for the per-sender limit, since the
    /// socket's address is the balancer's.
    pub fn admit_unidentified(self: &Arc<Self>) -> Admission {
        self.take_place(None)
    }

    fn take_place(self: &Arc<Self>, sender: Option<IpAddr>) -> Admission {
        let now = self.now_ms();
        let mut table = self.table();
        if let Some(sender) = sender {
            if table.per_sender.get(&sender).copied().unwrap_or(0) >= self.max_per_sender {
                return Admission::PerSenderLimit;
            }
        }
        let evicted = table.open.len() >= self.max_total;
        if evicted && !table.evict_longest_idle() {
            return Admission::Full;
        }
        table.next_id += 1;
        let slot = Arc::new(Slot {
            id: table.next_id,
            last_frame_ms: AtomicU64::new(now),
            busy: AtomicBool::new(false),
            evicted: AtomicBool::new(false),
            wake: Notify::new(),
        });
        table.open.insert(
            slot.id,
            Open {
                slot: slot.clone(),
                sender,
            },
        );
        if let Some(sender) = sender {
            *table.per_sender.entry(sender).or_default() += 1;
        }
        Admission::Admitted {
            ticket: Ticket {
                connections: self.clone(),
                slot,
            },
            evicted,
        }
    }

    /// Closes the longest-idle connection (for accept failing with EMFILE: a descriptor is
    /// needed). False when there is none that is not busy.
    pub fn evict_longest_idle(&self) -> bool {
        self.table().evict_longest_idle()
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.table().open.len()
    }
}

/// Who counts as one sender: an IPv4 address, or an IPv6 /64 (a host picks any address in its
/// /64 at will, so per address would not limit it).
fn sender_of(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Table {
    fn evict_longest_idle(&mut self) -> bool {
        let victim = self
            .open
            .values()
            .map(|open| &open.slot)
            .filter(|slot| !slot.busy.load(Relaxed))
            .min_by_key(|slot| slot.last_frame_ms.load(Relaxed))
            .map(|slot| slot.id);
        let Some(slot) = victim.and_then(|id| self.remove(id)) else {
            return false;
        };
        slot.evicted.store(true, Relaxed);
        // Stores a permit when the connection is not waiting right now: it sees it next time.
        slot.wake.notify_one();
        true
    }

    fn remove(&mut self, id: u64) -> Option<Arc<Slot>> {
        let Open { slot, sender } = self.open.remove(&id)?;
        if let Some(sender) = sender {
            if let Some(count) = self.per_sender.get_mut(&sender) {
                *count -= 1;
                if *count == 0 {
                    self.per_sender.remove(&sender);
                }
            }
        }
        Some(slot)
    }
}

impl Ticket {
    /// Counts an unidentified connection ([`Connections::admit_unidentified`]) against `peer`,
    /// the sender its PROXY header named (or its socket's, without one). Refused when that
    /// sender already holds `max_connections_per_sender`; the place is then freed with the
    /// ticket. An evicted connection has no place left to count.
    pub fn identify(&self, peer: IpAddr) -> Result<(), PerSenderLimit> {
        let sender = sender_of(peer);
        let mut table = self.connections.table();
        let table = &mut *table;
        let Some(open) = table.open.get_mut(&self.slot.id) else {
            return Ok(());
        };
        if open.sender.is_some() {
            return Ok(());
        }
        let count = table.per_sender.entry(sender).or_default();
        if *count >= self.connections.max_per_sender {
            if *count == 0 {
                table.per_sender.remove(&sender);
            }
            return Err(PerSenderLimit);
        }
        *count += 1;
        open.sender = Some(sender);
        Ok(())
    }

    /// A frame was completed: the connection is not idle.
    pub fn frame_completed(&self) {
        self.slot
            .last_frame_ms
            .store(self.connections.now_ms(), Relaxed);
    }

    /// While busy (frames in hand, waiting for room in the buffers) it is never evicted.
    pub fn set_busy(&self, busy: bool) {
        self.slot.busy.store(busy, Relaxed);
    }

    /// Closed by the listener to admit another connection.
    pub fn is_evicted(&self) -> bool {
        self.slot.evicted.load(Relaxed)
    }

    /// Completes when the connection is evicted (at once if it already was).
    pub async fn evicted(&self) {
        while !self.is_evicted() {
            self.slot.wake.notified().await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        // Already gone when it was evicted.
        self.connections.table().remove(self.slot.id);
        CLOSED_SINCE_TRIM.fetch_add(1, Relaxed);
    }
}

/// Bytes waiting in the kernel's receive queue of `stream` (SIOCINQ): what closing it now would
/// throw away. 0 when the kernel does not say.
pub fn unread_bytes(stream: &TcpStream) -> u64 {
    let mut queued: libc::c_int = 0;
    #[expect(unsafe_code, reason = "the FIONREAD ioctl has no safe wrapper")]
    // SAFETY: FIONREAD (SIOCINQ) on a socket descriptor that `stream` keeps open writes one
    // c_int to the pointer given, which points at a live c_int.
    let result = unsafe { libc::ioctl(stream.as_raw_fd(), libc::FIONREAD, &mut queued) };
    if result == 0 {
        u64::try_from(queued).unwrap_or(0)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn admitted(admission: Admission) -> (Ticket, bool) {
        match admission {
            Admission::Admitted { ticket, evicted } => (ticket, evicted),
            Admission::PerSenderLimit => panic!("refused: per-sender limit"),
            Admission::Full => panic!("refused: full"),
        }
    }

    #[test]
    fn a_sender_at_its_limit_is_refused_and_others_are_not() {
        let connections = Connections::new(10, 2);
        let _a = admitted(connections.admit(ip(2)));
        let _b = admitted(connections.admit(ip(2)));
        assert!(matches!(
            connections.admit(ip(2)),
            Admission::PerSenderLimit
        ));
        let (c, evicted) = admitted(connections.admit(ip(3)));
        assert!(!evicted);
        drop(c);
        drop(_a);
        let _d = admitted(connections.admit(ip(2)));
        assert_eq!(connections.open(), 2);
    }

    /// Long enough for the millisecond clock of the table to move.
    fn tick() {
        std::thread::sleep(std::time::Duration::from_millis(3));
    }

    #[tokio::test]
    async fn at_the_limit_the_longest_idle_connection_makes_room() {
        let connections = Connections::new(3, 10);
        let (oldest, _) = admitted(connections.admit(ip(2)));
        tick();
        let (busy_sender, _) = admitted(connections.admit(ip(2)));
        tick();
        let (active, _) = admitted(connections.admit(ip(3)));
        tick();
        // `oldest` completes a frame: `busy_sender` is now the longest idle, but it is busy.
        oldest.frame_completed();
        busy_sender.set_busy(true);
        let (newest, evicted) = admitted(connections.admit(ip(4)));
        assert!(evicted);
        assert!(active.is_evicted());
        active.evicted().await;
        assert!(!oldest.is_evicted() && !busy_sender.is_evicted() && !newest.is_evicted());
        assert_eq!(connections.open(), 3);
        // Dropping the evicted ticket frees nothing twice.
        drop(active);
        assert_eq!(connections.open(), 3);
    }

    #[test]
    fn an_ipv6_sender_is_its_64_and_a_mapped_ipv4_address_is_the_ipv4_sender() {
        let connections = Connections::new(10, 1);
        let _a = admitted(connections.admit("2001:db8:1:2::1".parse().unwrap()));
        assert!(matches!(
            connections.admit("2001:db8:1:2:ffff::9".parse().unwrap()),
            Admission::PerSenderLimit
        ));
        let _b = admitted(connections.admit("2001:db8:1:3::1".parse().unwrap()));
        let _c = admitted(connections.admit(ip(2)));
        assert!(matches!(
            connections.admit("::ffff:127.0.0.2".parse().unwrap()),
            Admission::PerSenderLimit
        ));
    }

    #[test]
    fn unread_bytes_are_what_waits_in_the_kernel() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            assert_eq!(unread_bytes(&server), 0);
            client.write_all(&[7u8; 1000]).await.unwrap();
            let mut first = [0u8; 1];
            server.read_exact(&mut first).await.unwrap();
            // Loopback delivers the rest with the first byte's segment, or right after it.
            let mut queued = unread_bytes(&server);
            for _ in 0..100 {
                if queued == 999 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                queued = unread_bytes(&server);
            }
            assert_eq!(queued, 999);
        });
    }

    #[test]
    fn an_unidentified_connection_takes_a_place_and_counts_against_the_sender_it_names() {
        let connections = Connections::new(3, 1);
        // Three connections through one balancer: none is refused for the balancer's address.
        let (a, _) = admitted(connections.admit_unidentified());
        let (b, _) = admitted(connections.admit_unidentified());
        let (c, evicted) = admitted(connections.admit_unidentified());
        assert!(!evicted);
        assert!(a.identify(ip(2)).is_ok());
        assert!(b.identify(ip(3)).is_ok());
        // The header names a sender that already holds its one connection.
        assert!(c.identify(ip(2)).is_err());
        drop(c);
        assert!(matches!(
            connections.admit(ip(2)),
            Admission::PerSenderLimit
        ));
        assert_eq!(connections.open(), 2);
        drop(a);
        let _d = admitted(connections.admit(ip(2)));
    }

    #[test]
    fn an_unidentified_connection_is_evicted_like_any_idle_one() {
        let connections = Connections::new(1, 1);
        let (waiting, _) = admitted(connections.admit_unidentified());
        let (new, evicted) = admitted(connections.admit(ip(3)));
        assert!(evicted && waiting.is_evicted());
        // Its header arriving late counts it nowhere: the place is gone.
        assert!(waiting.identify(ip(2)).is_ok());
        drop(new);
        let (_sender, evicted) = admitted(connections.admit(ip(2)));
        assert!(!evicted);
        assert_eq!(connections.open(), 1);
    }

    #[test]
    fn with_every_connection_busy_a_new_one_is_refused() {
        let connections = Connections::new(1, 10);
        let (busy, _) = admitted(connections.admit(ip(2)));
        busy.set_busy(true);
        assert!(matches!(connections.admit(ip(3)), Admission::Full));
        busy.set_busy(false);
        let (_new, evicted) = admitted(connections.admit(ip(3)));
        assert!(evicted && busy.is_evicted());
    }
}
