//! `[forward]`: the agent forward, validated (agent kind, addresses, output format, its buffer).

use std::net::SocketAddr;
use std::time::Duration;

use super::buffer::{self, BufferConfig};
use super::limits;
use super::listener::{parse_endpoint, Protocol};
use super::raw::{Agent, FilterMode, OutputFormat, OutputFraming, RawForward};
use super::validate::Validator;
use super::ConfigError;

/// Legacy OMS/MMA agent: TCP 127.0.0.1:25226. Azure Monitor Agent (≥ 1.28.11): TCP 127.0.0.1:28330.
pub const LEGACY_AGENT_PORT: u16 = 25226;
pub const AMA_AGENT_PORT: u16 = 28330;
/// The agent forward's name in metrics and under the state directory.
pub const AGENT_SINK_NAME: &str = "agent";

impl Agent {
    /// The port this agent listens on, on 127.0.0.1.
    pub fn port(self) -> u16 {
        match self {
            Agent::Legacy => LEGACY_AGENT_PORT,
            Agent::Ama => AMA_AGENT_PORT,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub enabled: bool,
    pub agent: Agent,
    pub protocol: Protocol,
    pub addresses: Vec<SocketAddr>,
    pub format: OutputFormat,
    pub framing: OutputFraming,
    /// Events that may wait for the agent; when full, TCP reads stop and UDP drops are counted.
    pub buffer: BufferConfig,
    /// Bytes written to the agent that are re-sent after a broken connection, because TCP accepts
    /// writes to a peer that is already gone.
    pub resend_window_bytes: usize,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Its own filter; `None` follows `[filter] mode`.
    pub filter: Option<FilterMode>,
}

/// `[forward]`, validated.
// One piece: one key after another, each with its default and range beside it.
pub fn validate(check: &Validator<'_>, raw: &RawForward) -> Result<Forward, ConfigError> {
    let agent = raw.agent.unwrap_or(Agent::Legacy);
    let default_port = agent.port();
    let (protocol, addresses) = match &raw.address {
        None => (
            Protocol::Tcp,
            vec![SocketAddr::from(([127, 0, 0, 1], default_port))],
        ),
        Some(list) => {
            let error = |m: String| check.error("forward.address".into(), Some(list.span()), m);
            if list.get_ref().is_empty() {
                return Err(error("needs at least one address".into()));
            }
            let mut protocol = None;
            let mut addresses = Vec::new();
            for value in list.get_ref() {
                let (p, address) = parse_endpoint(value).map_err(error)?;
                if p == Protocol::Tls {
                    return Err(error("the agent forward speaks tcp:// or udp://".into()));
                }
                if protocol.is_some_and(|known| known != p) {
                    return Err(error("all addresses must use the same protocol".into()));
                }
                protocol = Some(p);
                addresses.push(address);
            }
            if protocol == Some(Protocol::Udp) && addresses.len() > 1 {
                return Err(error(
                    "a UDP forward takes one address (nothing tells UDP to fail over)".into(),
                ));
            }
            (protocol.unwrap_or(Protocol::Tcp), addresses)
        }
    };
    let framing = raw.framing.unwrap_or(OutputFraming::Lf);
    if protocol == Protocol::Udp && framing != OutputFraming::Lf {
        return Err(check.error(
            "forward.framing".into(),
            raw.address.as_ref().map(|a| a.span()),
            "a UDP forward sends one message per datagram: framing must be \"lf\"".into(),
        ));
    }
    let queue_events = match &raw.queue_events {
        Some(v) if raw.buffer.is_some() => {
            return Err(check.error(
                "forward.queue_events".into(),
                Some(v.span()),
                "set the queue size in forward.buffer (max_events or max_bytes), not both".into(),
            ))
        }
        value => check.size(
            "forward.queue_events",
            value.as_ref(),
            &limits::MAX_EVENTS,
            65_536,
        )?,
    };
    let buffer = buffer::validate(check, "forward.buffer", raw.buffer.as_ref(), queue_events)?;
    let reconnect_min = check.millis(
        "forward.reconnect_min_ms",
        raw.reconnect_min_ms.as_ref(),
        &limits::RECONNECT_MIN_MS,
        100,
    )?;
    let reconnect_max = check.millis(
        "forward.reconnect_max_ms",
        raw.reconnect_max_ms.as_ref(),
        &limits::RECONNECT_MAX_MS,
        5_000,
    )?;
    let resend_window_bytes = check.size(
        "forward.resend_window_bytes",
        raw.resend_window_bytes.as_ref(),
        &limits::RESEND_WINDOW_BYTES,
        4 * 1024 * 1024,
    )?;
    Ok(Forward {
        enabled: raw.enabled.unwrap_or(true),
        agent,
        protocol,
        addresses,
        // Both agents parse rsyslog's traditional forward format; it also normalises RFC 5424
        // input, whose header the agent's CEF rule does not expect.
        format: raw.format.unwrap_or(OutputFormat::Traditional),
        framing,
        buffer,
        resend_window_bytes,
        reconnect_min,
        reconnect_max: reconnect_max.max(reconnect_min),
        filter: raw.filter,
    })
}
