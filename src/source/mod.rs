//! Listeners: one per configured address, one task per TCP connection or UDP socket.

pub mod bind;
pub mod connections;
pub mod proxy;
pub mod recvmmsg;
pub mod tcp;
pub mod tls;
pub mod tls_files;
pub mod udp;

use std::sync::Arc;

use crate::pipeline::Pipeline;
use crate::sink::Sinks;

/// What every listener task shares.
pub struct Shared {
    pub pipeline: Pipeline,
    pub sinks: Sinks,
}

pub type SharedRef = Arc<Shared>;
