//! Listeners: one per configured address, one task per TCP connection or UDP socket.

pub mod bind;
pub mod connections;
pub mod tcp;
pub mod tls;
pub mod tls_files;
pub mod udp;

use std::sync::Arc;

use crate::pipeline::Pipeline;
use crate::sink::Sinks;
use crate::telemetry::RateLimited;

/// What every listener task shares.
pub struct Shared {
    pub pipeline: Pipeline,
    pub sinks: Sinks,
}

pub type SharedRef = Arc<Shared>;

/// Bad-input warnings: at most one every 10 seconds per kind, with the count held back.
pub static MALFORMED_WARNING: RateLimited = RateLimited::new(10);
pub static OVERSIZED_WARNING: RateLimited = RateLimited::new(10);
pub static HANDSHAKE_WARNING: RateLimited = RateLimited::new(10);
/// Connection warnings (refused at a limit, closed to make room or for a stalled frame, bytes
/// thrown away on close, accept failing): the same, so a flood of connections cannot flood the log.
pub static REFUSED_WARNING: RateLimited = RateLimited::new(10);
pub static EVICTED_WARNING: RateLimited = RateLimited::new(10);
pub static FRAME_TIMEOUT_WARNING: RateLimited = RateLimited::new(10);
pub static ABANDONED_WARNING: RateLimited = RateLimited::new(10);
pub static ACCEPT_WARNING: RateLimited = RateLimited::new(10);
