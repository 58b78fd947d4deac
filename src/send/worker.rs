//! The per-socket and per-connection tasks: claim a batch of message numbers, encode it, write
//! it, and for TCP and TLS reconnect and write it again when the connection fails.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::connect::{Connection, Connector};
use super::pace::{Pacer, Stop, FINISH_GRACE};
use super::report::Tally;
use super::workload::{Counter, Encoder};
use crate::sanitize::for_terminal;

/// Messages a connection takes from the shared counter at a time: about 64 KiB of ~1 KB
/// messages, one `write_all` per batch.
const BATCH_MESSAGES: u64 = 64;
const BATCH_BYTES: usize = 64 * 1024;
/// Failed reconnects in a row after which a connection gives up (the others carry on).
const RECONNECT_ATTEMPTS: u32 = 8;
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(super) async fn send_datagrams(
    socket: UdpSocket,
    mut encoder: Encoder,
    counter: Arc<Counter>,
    mut pacer: Option<Pacer>,
    stop: Stop,
) -> Tally {
    let mut tally = Tally::default();
    let mut datagram = Vec::with_capacity(4096);
    while !stop.reached() {
        let want = match &mut pacer {
            Some(pacer) => match stop.or_stop(pacer.allowance(BATCH_MESSAGES)).await {
                Some(want) => want,
                None => break,
            },
            None => BATCH_MESSAGES,
        };
        let claimed = counter.claim(want);
        if claimed.is_empty() {
            break;
        }
        encoder.refresh_clock();
        for n in claimed {
            datagram.clear();
            encoder.encode(n, &mut datagram);
            match socket.send(&datagram).await {
                Ok(_) => {
                    tally.sent += 1;
                    tally.bytes += datagram.len() as u64;
                }
                // Port unreachable, buffer full, datagram too large: counted, and on we go.
                Err(error) => tally.error(&error),
            }
        }
    }
    tally
}

/// Everything a TCP or TLS connection's task needs besides the connection itself.
pub(super) struct StreamWorker {
    /// For messages: "connection 2 to tcp://127.0.0.1:514".
    pub(super) name: String,
    pub(super) connector: Arc<Connector>,
    pub(super) encoder: Encoder,
    pub(super) counter: Arc<Counter>,
    pub(super) pacer: Option<Pacer>,
    pub(super) stop: Stop,
}

// One piece: one select loop whose arms share the connection, the pacer and the tally.
pub(super) async fn send_stream(mut worker: StreamWorker, first: Connection) -> Tally {
    let mut tally = Tally::default();
    let mut connection = Some(first);
    let mut batch = Vec::with_capacity(BATCH_BYTES + 8 * 1024);
    // Failed connects and writes since the last batch that went through.
    let mut failures = 0u32;
    'batches: while !worker.stop.reached() {
        let want = match &mut worker.pacer {
            Some(pacer) => match worker.stop.or_stop(pacer.allowance(BATCH_MESSAGES)).await {
                Some(want) => want,
                None => break,
            },
            None => BATCH_MESSAGES,
        };
        let claimed = worker.counter.claim(want);
        if claimed.is_empty() {
            break;
        }
        batch.clear();
        worker.encoder.refresh_clock();
        for n in claimed.clone() {
            worker.encoder.encode(n, &mut batch);
        }
        // Until this batch is written: a batch lost to a reset connection is written again on
        // the next one, so a receiver sees every message (the cut-off one possibly twice).
        loop {
            let Some(open) = connection.as_mut() else {
                if failures >= RECONNECT_ATTEMPTS {
                    eprintln!(
                        "cefrelay send: {}: giving up after {failures} failed attempts in a row",
                        for_terminal(&worker.name)
                    );
                    break 'batches;
                }
                let backoff = FIRST_BACKOFF.saturating_mul(1 << failures.min(5));
                if worker
                    .stop
                    .or_stop(tokio::time::sleep(backoff.min(MAX_BACKOFF)))
                    .await
                    .is_none()
                {
                    break 'batches;
                }
                match worker.stop.or_stop(worker.connector.connect()).await {
                    None => break 'batches,
                    Some(Ok(fresh)) => connection = Some(fresh),
                    Some(Err(error)) => {
                        failures += 1;
                        tally.error(&error);
                    }
                }
                continue;
            };
            match worker
                .stop
                .or_stop_with_grace(open.write_batch(&batch))
                .await
            {
                None => {
                    // The receiver stopped reading and the stop has come: the batch is lost.
                    connection = None;
                    break 'batches;
                }
                Some(Ok(())) => {
                    tally.sent += claimed.end - claimed.start;
                    tally.bytes += batch.len() as u64;
                    failures = 0;
                    break;
                }
                Some(Err(error)) => {
                    if failures == 0 {
                        eprintln!(
                            "cefrelay send: {}: {}; reconnecting",
                            for_terminal(&worker.name),
                            for_terminal(&error.to_string())
                        );
                    }
                    failures += 1;
                    tally.error(&error);
                    connection = None;
                }
            }
        }
    }
    if let Some(mut open) = connection {
        match tokio::time::timeout(FINISH_GRACE, open.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tally.error(&error),
            Err(_) => tally.error(&io::Error::new(
                io::ErrorKind::TimedOut,
                "closing the connection timed out",
            )),
        }
    }
    tally
}
