//! The loopback admin endpoint: `GET /metrics` (Prometheus text), `GET /health`, `GET /userid`
//! (the User-ID mapping table, JSON), and for
//! `cef-troubleshoot` `GET /peers` and `GET /mocks` (JSON, see [`super::observe`]), and for
//! `cefrelay tap` `GET /tap?…` (a stream of events, see [`super::tap`]).
//!
//! A few fixed GET routes on a loopback address do not need an HTTP framework: requests are read up
//! to the end of their headers (at most 8 KiB), answered, and the connection closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::host::proc_net::UdpDropReader;

const MAX_REQUEST: usize = 8 * 1024;

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    udp_drops: Arc<UdpDropReader>,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = cancel.cancelled() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        let udp_drops = udp_drops.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                answer(stream, &metrics, &udp_drops, &cancel),
            )
            .await;
        });
    }
}

// One piece: a fixed list of routes, each a few lines, read top to bottom like a table.
async fn answer(
    mut stream: TcpStream,
    metrics: &Arc<Metrics>,
    udp_drops: &UdpDropReader,
    cancel: &CancellationToken,
) -> std::io::Result<()> {
    let mut request = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < MAX_REQUEST {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let (status, content_type, body) = match line {
        l if l.starts_with(b"GET /metrics ") => ("200 OK", "text/plain; version=0.0.4", {
            let mut text = metrics.render(&udp_drops.read());
            super::process::render(&mut text);
            text
        }),
        l if l.starts_with(b"GET /health ") => {
            let down: Vec<&str> = metrics
                .sinks
                .iter()
                .filter(|sink| sink.connected.get() == 0)
                .map(|sink| sink.name.as_str())
                .collect();
            let unwritable: Vec<String> = metrics
                .sinks
                .iter()
                .filter(|sink| sink.buffer_write_failing.get() != 0)
                .map(|sink| {
                    let reason = sink.buffer_error.lock().unwrap_or_else(|p| p.into_inner());
                    format!("{} ({reason})", sink.name)
                })
                .collect();
            let mut problems = Vec::new();
            let stopped = metrics.userid.stopped_targets();
            if !stopped.is_empty() {
                problems.push(format!("User-ID targets stopped: {}", stopped.join(", ")));
            }
            if !down.is_empty() {
                problems.push(format!("not reachable: {}", down.join(", ")));
            }
            if !unwritable.is_empty() {
                problems.push(format!(
                    "disk buffer cannot write: {}",
                    unwritable.join(", ")
                ));
            }
            if problems.is_empty() {
                (
                    "200 OK",
                    "text/plain",
                    "ok: every sink reachable\n".to_string(),
                )
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    format!("degraded: {}\n", problems.join("; ")),
                )
            }
        }
        l if l.starts_with(b"GET /userid ") => match metrics.userid.view.get() {
            Some(view) => ("200 OK", "application/json", view()),
            None => (
                "404 Not Found",
                "text/plain",
                "User-ID is not configured ([userid])\n".to_string(),
            ),
        },
        l if l.starts_with(b"GET /peers ") => {
            ("200 OK", "application/json", metrics.observer.peers_json())
        }
        l if l.starts_with(b"GET /tap ") || l.starts_with(b"GET /tap?") => {
            // A stream that lasts as long as the tap: its own task, beyond this answer's timeout.
            let target = l.split(|&b| b == b' ').nth(1).unwrap_or_default();
            let query = String::from_utf8_lossy(&target[b"/tap".len()..]).into_owned();
            let (metrics, cancel) = (metrics.clone(), cancel.clone());
            tokio::spawn(async move { super::tap::serve(stream, &query, metrics, cancel).await });
            return Ok(());
        }
        l if l.starts_with(b"GET /mocks ") => {
            ("200 OK", "application/json", metrics.observer.mocks_json())
        }
        _ => (
            "404 Not Found",
            "text/plain",
            "GET /metrics, /health, /peers, /mocks or /tap\n".to_string(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
