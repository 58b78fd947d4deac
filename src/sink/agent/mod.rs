//! The forward to the local Azure Monitor agent (legacy OMS on 25226, AMA on 28330): each event
//! written the way rsyslog forwards it ([`encoder`]), over TCP with a resend window that only lets
//! go of what the agent process has read ([`tcp`]), or over UDP ([`udp`]).

pub mod encoder;
pub mod tcp;
mod tcp_queues;
pub mod udp;
