//! The benchmark harness's receiving end (`benches/relay-e2e.sh`): counts what each relay
//! delivers, at a cost far below the relays' own, so that the sink is never what saturates first.
//!
//!   count_sink agent PORT OUT   TCP on 127.0.0.1:PORT, counts LF-terminated lines over all
//!                               connections (the Azure Monitor agent's stand-in).
//!   count_sink http PORT OUT    HTTP/1.1 on 127.0.0.1:PORT: every POST is answered 200 and its
//!                               records counted — rows of a gzipped JSON array for Azure Logs
//!                               Ingestion (`/dataCollectionRules/` paths), lines otherwise
//!                               (NDJSON, HEC, one JSON per request) — and any GET gets a managed
//!                               identity token, for the Azure sink's sign-in.
//!
//! The count goes to the file OUT every 50 ms, replaced by a rename so a reader never sees half a
//! number. A hand-written HTTP/1.1 reader (Content-Length bodies, keep-alive) because it is all a
//! benchmark peer needs, and an HTTP server crate would put its own costs into the measurement.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request header block read; a benchmark client sends a few hundred bytes.
const MAX_HEADER: usize = 64 * 1024;
/// Largest request body accepted (the relays' batches are a few MiB at most).
const MAX_BODY: usize = 256 * 1024 * 1024;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, port, out] = args.as_slice() else {
        eprintln!("usage: count_sink agent|http PORT OUT");
        std::process::exit(2);
    };
    let port: u16 = port.parse().map_err(|_| bad("PORT is not a port number"))?;
    let http = match mode.as_str() {
        "agent" => false,
        "http" => true,
        _ => return Err(bad("the mode is agent or http")),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(serve(http, port, out.clone()))
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string())
}

async fn serve(http: bool, port: u16, out: String) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let count = Arc::new(AtomicU64::new(0));
    tokio::spawn(report(count.clone(), out));
    loop {
        let (stream, _) = listener.accept().await?;
        let count = count.clone();
        tokio::spawn(async move {
            let _ = if http {
                count_requests(stream, &count).await
            } else {
                count_lines(stream, &count).await
            };
        });
    }
}

async fn report(count: Arc<AtomicU64>, out: String) {
    let temporary = format!("{out}.tmp");
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if std::fs::write(&temporary, count.load(Relaxed).to_string()).is_ok() {
            let _ = std::fs::rename(&temporary, &out);
        }
    }
}

async fn count_lines(mut stream: TcpStream, count: &AtomicU64) -> std::io::Result<()> {
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        count.fetch_add(
            memchr::memchr_iter(b'\n', &buffer[..n]).count() as u64,
            Relaxed,
        );
    }
}

async fn count_requests(mut stream: TcpStream, count: &AtomicU64) -> std::io::Result<()> {
    let mut pending: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let header_end = loop {
            if let Some(at) = memchr::memmem::find(&pending, b"\r\n\r\n") {
                break at + 4;
            }
            if pending.len() > MAX_HEADER {
                return Err(bad("request header too long"));
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&pending[..header_end]).into_owned();
        let header = |name: &str| {
            head.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(name)
                    .then(|| value.trim().to_string())
            })
        };
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if length > MAX_BODY {
            return Err(bad("request body too large"));
        }
        while pending.len() < header_end + length {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            pending.extend_from_slice(&chunk[..n]);
        }
        let body = &pending[header_end..header_end + length];
        let request_line = head.lines().next().unwrap_or_default();
        if request_line.starts_with("GET ") {
            let token = r#"{"access_token":"bench","expires_in":"86399"}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{token}",
                token.len()
            );
            stream.write_all(answer.as_bytes()).await?;
        } else {
            let gzip = header("content-encoding").is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
            let mut plain = Vec::new();
            let body = if gzip {
                flate2::read::GzDecoder::new(body)
                    .take(MAX_BODY as u64)
                    .read_to_end(&mut plain)?;
                &plain[..]
            } else {
                body
            };
            let records = if request_line.contains("/dataCollectionRules/") {
                memchr::memmem::find_iter(body, b"\"TimeGenerated\"").count()
            } else {
                let lines = memchr::memchr_iter(b'\n', body).count();
                lines + usize::from(!body.is_empty() && !body.ends_with(b"\n"))
            };
            count.fetch_add(records as u64, Relaxed);
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .await?;
        }
        pending.drain(..header_end + length);
    }
}
