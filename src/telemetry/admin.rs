//! The admin endpoint: `GET /metrics` (Prometheus text), `GET /health`, `GET /userid`
//! (the User-ID mapping table, JSON), and for
//! `cef-troubleshoot` `GET /peers` and `GET /mocks` (JSON, see [`super::observe`]), and for
//! `cefrelay tap` `GET /tap?…` (a stream of events, see [`super::tap`]); and [`Client`], how the
//! relay's own commands (`cef-troubleshoot`, `userid show`, `tap`, `top`) ask it.
//!
//! A few fixed GET routes do not need an HTTP framework: requests are read up to the end of their
//! headers (at most 8 KiB), answered, and the connection closed.
//!
//! With `[admin] token_file`, every route but `/health` requires `Authorization: Bearer <token>`
//! and answers 401 without it. `/health` stays open: load balancers' and the kubelet's probes
//! send no credentials, and it tells only whether each sink is reachable. SIGHUP swaps the token
//! ([`Token`]): rotating it costs no restart, and so no UDP datagram lost meanwhile.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::config::validate::Secret;
use crate::config::Config;
use crate::host::proc_net::UdpDropReader;

const MAX_REQUEST: usize = 8 * 1024;

/// The one route open without the token.
const PUBLIC_ROUTE: &[u8] = b"GET /health ";

/// The token the endpoint requires now (`None`: open), swapped by a SIGHUP reload.
pub type Token = arc_swap::ArcSwapOption<Secret>;

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    udp_drops: Arc<UdpDropReader>,
    token: Arc<Token>,
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
        // The token of the moment the connection came: a reload meanwhile applies to the next.
        let token = token.load_full();
        tokio::spawn(async move {
            let token = token.as_deref().map(|secret| secret.value.as_bytes());
            let answer = answer(stream, &metrics, &udp_drops, &cancel, token);
            let _ = tokio::time::timeout(Duration::from_secs(5), answer).await;
        });
    }
}

// One piece: a fixed list of routes, each a few lines, read top to bottom like a table.
async fn answer(
    mut stream: TcpStream,
    metrics: &Arc<Metrics>,
    udp_drops: &UdpDropReader,
    cancel: &CancellationToken,
    token: Option<&[u8]>,
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
    let refused = match token {
        Some(token) => !line.starts_with(PUBLIC_ROUTE) && !bearer_matches(&request, token),
        None => false,
    };
    let (status, content_type, body) = match line {
        // Before any route, unknown ones included: without the token nothing else is told.
        _ if refused => (
            "401 Unauthorized",
            "text/plain",
            "this endpoint requires Authorization: Bearer <the token in [admin] token_file>\n"
                .to_string(),
        ),
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
            "GET /metrics, /health, /userid, /peers, /mocks or /tap\n".to_string(),
        ),
    };
    // RFC 6750 §3: a 401 names the scheme the client must use.
    let challenge = if refused {
        "WWW-Authenticate: Bearer realm=\"cefrelay\"\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {status}\r\n{challenge}Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// Whether the request's headers carry `Authorization: Bearer <token>` (header name and scheme
/// in any case, RFC 9110 §11.1). The token is compared in constant time (`subtle`): how long
/// the comparison takes does not tell how many leading bytes were right, so the token cannot be
/// found byte by byte from response times. Only its length may show, which gives nothing away.
fn bearer_matches(request: &[u8], token: &[u8]) -> bool {
    let head = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request, |end| &request[..end]);
    let Some(value) = head
        .split(|&b| b == b'\n')
        .skip(1)
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (name, value) = line.split_at(colon);
            name.trim_ascii()
                .eq_ignore_ascii_case(b"authorization")
                .then(|| value[1..].trim_ascii())
        })
        .next()
    else {
        return false;
    };
    const SCHEME: &[u8] = b"bearer ";
    if value.len() <= SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return false;
    }
    bool::from(value[SCHEME.len()..].trim_ascii().ct_eq(token))
}

/// How the relay's own commands (`cef-troubleshoot`, `userid show`) ask a running relay: its
/// admin address, with the configuration's token when it has one.
#[derive(Debug, Clone)]
pub struct Client {
    pub address: SocketAddr,
    token: Option<Secret>,
}

impl Client {
    /// The endpoint `config` sets up; `None` when it turns the endpoint off.
    pub fn of(config: &Config) -> Option<Client> {
        Some(Client {
            address: config.admin?,
            token: config.admin_token.clone(),
        })
    }

    /// The default address, for commands run without a configuration file.
    pub fn at(address: SocketAddr) -> Client {
        Client {
            address,
            token: None,
        }
    }

    /// The request header line that carries the token, or nothing.
    pub fn authorization(&self) -> String {
        self.token
            .as_ref()
            .map(|token| format!("Authorization: Bearer {}\r\n", token.value))
            .unwrap_or_default()
    }

    /// A minimal blocking HTTP GET: (status, body); `None` when nothing answers.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream =
            std::net::TcpStream::connect_timeout(&self.address, Duration::from_secs(2)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let authorization = self.authorization();
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: cefrelay\r\n{authorization}Connection: close\r\n\r\n"
                )
                .as_bytes(),
            )
            .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_string()))
    }
}

/// Its address, as messages name it.
impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.address.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &[u8] = b"s3cr3t-token";

    fn request(headers: &str) -> Vec<u8> {
        format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}\r\n").into_bytes()
    }

    #[test]
    fn the_right_bearer_token_passes_in_any_case_of_name_and_scheme() {
        for header in [
            "Authorization: Bearer s3cr3t-token\r\n",
            "authorization:bearer   s3cr3t-token  \r\n",
            "AUTHORIZATION: BEARER s3cr3t-token\r\n",
        ] {
            assert!(bearer_matches(&request(header), TOKEN), "{header}");
        }
    }

    #[test]
    fn a_missing_wrong_or_partial_token_is_refused() {
        for header in [
            "",
            "Authorization: Bearer s3cr3t-tokeX\r\n",
            "Authorization: Bearer s3cr3t\r\n",
            "Authorization: Bearer s3cr3t-token-and-more\r\n",
            "Authorization: Basic s3cr3t-token\r\n",
            "Authorization: Bearer\r\n",
            "Authorization: s3cr3t-token\r\n",
            "X-Authorization: Bearer s3cr3t-token\r\n",
            "Authorization\r\n",
        ] {
            assert!(!bearer_matches(&request(header), TOKEN), "{header:?}");
        }
        // A token in the body (after the blank line) is not a header.
        let mut smuggled = request("");
        smuggled.extend_from_slice(b"Authorization: Bearer s3cr3t-token\r\n\r\n");
        assert!(!bearer_matches(&smuggled, TOKEN));
        // Nor is one in the request line.
        assert!(!bearer_matches(
            b"GET /Authorization:Bearer%20s3cr3t-token HTTP/1.1\r\n\r\n",
            TOKEN
        ));
    }

    #[test]
    fn garbage_requests_never_panic() {
        for bytes in [
            &b""[..],
            b"\r\n\r\n",
            b":\r\n:",
            b"GET / HTTP/1.1\r\n:::\r\nauthorization:\r\n\r\n",
            b"\xff\xfe\nAuthorization: Bearer \xff\r\n\r\n",
        ] {
            assert!(!bearer_matches(bytes, TOKEN));
        }
    }
}
