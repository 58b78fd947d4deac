//! `cefrelay send`: a syslog load generator for CEF. Sends generated PAN-OS CEF (or the lines of
//! a file) over UDP, TCP or TLS and reports what it did, for the benchmark harness and for
//! troubleshooting a relay.
//!
//! Speed comes from doing per message only what must differ: the records are built once (see
//! [`Pool`](cefrelay_panos::generate::Pool)), each message copies pre-built bytes and splices in
//! its marker, and a connection writes about 64 KiB of frames per system call.

mod connect;
mod destination;
mod pace;
mod report;
mod worker;
mod workload;

use std::io;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cli::{SendArgs, SendFramingArg};
use crate::sanitize::for_terminal;
use connect::{tls_connector, udp_socket, Connector};
use destination::{check_flags, Destination, Transport};
use pace::{Pacer, Stop};
use report::Report;
use worker::{send_datagrams, send_stream, StreamWorker};
use workload::{message_total, Counter, Encoder, Framing, Source};

/// Runs the command: 0 when at least one message was sent, 1 when none could be, 64 for flags
/// that cannot work (as `run` does for a bad configuration).
pub fn run(args: &SendArgs) -> anyhow::Result<u8> {
    let destination = match Destination::parse(&args.to, args.allow_remote)
        .and_then(|destination| check_flags(args, &destination).map(|()| destination))
    {
        Ok(destination) => destination,
        Err(message) => {
            eprintln!("cefrelay send: {}", for_terminal(&message));
            return Ok(crate::exit::BAD_CONFIG);
        }
    };
    let source = Source::load(args)?;
    let total = message_total(args, &source);
    let framing = match (destination.transport, args.framing) {
        (Transport::Udp, _) => Framing::Datagram,
        (_, SendFramingArg::Lf) => Framing::Lf,
        (_, SendFramingArg::Octet) => Framing::Octet,
    };
    let tls = match destination.transport {
        Transport::Tls => Some(tls_connector(args)?),
        Transport::Udp | Transport::Tcp => None,
    };
    let plan = Plan {
        connector: Connector {
            addresses: destination.addresses.clone(),
            tls: tls.map(|connector| (connector, destination.server_name.clone())),
        },
        destination,
        encoder: Encoder::new(source, framing),
        total,
        duration: args.duration,
        rate: args.rate,
        connections: usize::from(args.connections),
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(plan.connections);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .thread_name("cefrelay-send")
        .build()
        .context("starting the async runtime")?;
    let url = plan.destination.url.clone();
    let report = runtime.block_on(send(plan))?;
    report.print(args.json)?;
    if report.sent > 0 {
        return Ok(0);
    }
    eprintln!(
        "cefrelay send: nothing could be sent to {}{}",
        for_terminal(&url),
        report
            .last_error
            .map(|error| format!(": {}", for_terminal(&error)))
            .unwrap_or_default()
    );
    Ok(1)
}

/// Everything [`send`] needs, worked out from the flags before the runtime starts.
struct Plan {
    destination: Destination,
    connector: Connector,
    encoder: Encoder,
    total: Option<u64>,
    duration: Option<Duration>,
    rate: Option<f64>,
    connections: usize,
}

/// Opens every connection (a failure here is an error naming the address), then sends until the
/// count or the duration is reached.
// One piece: connect every worker, run them, then sum what they report.
async fn send(plan: Plan) -> anyhow::Result<Report> {
    let Plan {
        destination,
        connector,
        encoder,
        total,
        duration,
        rate,
        connections,
    } = plan;
    let url = &destination.url;
    let interrupted = CancellationToken::new();
    tokio::spawn({
        let interrupted = interrupted.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.cancel();
            }
        }
    });
    let mut workers = tokio::task::JoinSet::new();
    let counter = Arc::new(Counter {
        next: AtomicU64::new(0),
        total: total.unwrap_or(u64::MAX),
    });
    let pacer = |start| {
        rate.map(|rate| Pacer {
            per_second: rate / connections as f64,
            start,
            released: 0,
        })
    };
    let start;
    if destination.transport == Transport::Udp {
        let mut sockets = Vec::with_capacity(connections);
        for _ in 0..connections {
            sockets.push(
                udp_socket(destination.addresses[0])
                    .await
                    .with_context(|| format!("cannot open a UDP socket to {url}"))?,
            );
        }
        start = Instant::now();
        let stop = Stop {
            deadline: duration.map(|duration| start + duration),
            interrupted,
        };
        for socket in sockets {
            workers.spawn(send_datagrams(
                socket,
                encoder.clone(),
                counter.clone(),
                pacer(start),
                stop.clone(),
            ));
        }
    } else {
        let mut streams = Vec::with_capacity(connections);
        for _ in 0..connections {
            let connection = connector.connect().await.map_err(|error| {
                let hint = if error.kind() == io::ErrorKind::ConnectionRefused {
                    "; is a receiver listening there?"
                } else {
                    ""
                };
                anyhow::anyhow!("cannot connect to {url}: {error}{hint}")
            })?;
            streams.push(connection);
        }
        start = Instant::now();
        let stop = Stop {
            deadline: duration.map(|duration| start + duration),
            interrupted,
        };
        let connector = Arc::new(connector);
        for (number, connection) in streams.into_iter().enumerate() {
            workers.spawn(send_stream(
                StreamWorker {
                    name: format!("connection {} to {url}", number + 1),
                    connector: connector.clone(),
                    encoder: encoder.clone(),
                    counter: counter.clone(),
                    pacer: pacer(start),
                    stop: stop.clone(),
                },
                connection,
            ));
        }
    }
    let mut report = Report::default();
    while let Some(tally) = workers.join_next().await {
        let tally = tally.context("a sending task failed")?;
        report.sent += tally.sent;
        report.bytes += tally.bytes;
        report.errors += tally.errors;
        report.last_error = tally.last_error.or(report.last_error);
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}
