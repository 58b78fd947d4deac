//! The relay's side of `cefrelay tap`: `GET /tap?stage=…&match=…&limit=…` on the admin endpoint
//! streams what becomes of each message, one JSON object per line, until the limit, the client
//! leaving or the relay stopping.
//!
//! The data path never waits for a tap: with none open it pays one relaxed atomic load per
//! message ([`TapHub::is_tapped`]); with one open it offers each message the tap wants to a
//! bounded queue with `try_send`, and a full queue counts the message as skipped. The tap's
//! output then says how many it skipped: under load a tap shows a sample, never a slower relay.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;
use crate::config::rules::Condition;
use crate::sanitize::for_terminal;

/// Taps open at once: each one costs the data path a match, and a copy of each message it shows.
pub const MAX_TAPS: usize = 4;
/// Messages waiting, per tap, between the data path and the connection that writes them.
pub const TAP_QUEUE: usize = 1024;
/// `match` expressions in one tap, and the length of each: a request line is at most 8 KiB anyway.
pub const MAX_MATCHES: usize = 8;
const MAX_MATCH_LEN: usize = 1024;
/// Events written to the client in one go.
const WRITE_BATCH: usize = 64;
/// How long a client may leave what the tap writes unread before the tap is closed.
const STALLED_CLIENT: Duration = Duration::from_secs(60);
/// The most of a message's text a tap copies: frames may be up to 64 MiB, and a tap's queue
/// must stay small whatever arrives (4 taps × 1024 messages × 16 KiB at most).
pub const MAX_TEXT: usize = 16 * 1024;

/// Which messages a tap shows: every message as it was received, or only those dropped or only
/// those forwarded. Each line says which of the two became of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Received,
    Dropped,
    Forwarded,
}

impl Stage {
    pub const NAMES: [&'static str; 3] = ["received", "dropped", "forwarded"];

    pub fn parse(name: &str) -> Option<Stage> {
        match name {
            "received" => Some(Stage::Received),
            "dropped" => Some(Stage::Dropped),
            "forwarded" => Some(Stage::Forwarded),
            _ => None,
        }
    }

    fn shows(self, forwarded: bool) -> bool {
        match self {
            Stage::Received => true,
            Stage::Dropped => !forwarded,
            Stage::Forwarded => forwarded,
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone)]
pub struct TapEvent {
    pub received_at: OffsetDateTime,
    pub sender: IpAddr,
    /// The sinks it was written to, by index in sink order; none when it was dropped.
    pub sinks: u64,
    /// The agent filter's decision (the `reason` label of `cefrelay_filter_total`); `None` for a
    /// message dropped before the filter.
    pub decision: Option<&'static str>,
    /// What settled its fate: `filter`, `sink filters`, `rule NAME (ACTION)`, …
    pub reason: Cow<'static, str>,
    /// The received text (invalid UTF-8 replaced), at most [`MAX_TEXT`] bytes of it, not yet made
    /// safe for a terminal: that is done by the connection writing it, off the data path.
    pub text: String,
    /// The bytes of the text beyond [`MAX_TEXT`], left out.
    pub omitted: usize,
}

impl TapEvent {
    /// `text`, cut to [`MAX_TEXT`] bytes at a character boundary: the part shown and the number
    /// of bytes left out.
    pub fn shown_text(text: &str) -> (String, usize) {
        let mut cut = text.len().min(MAX_TEXT);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        (text[..cut].to_string(), text.len() - cut)
    }
}

/// One open tap.
#[derive(Debug)]
pub struct Tap {
    stage: Stage,
    /// Only messages that satisfy it, in the rules' condition language.
    pub condition: Option<Condition>,
    queue: mpsc::Sender<TapEvent>,
    skipped: AtomicU64,
}

impl Tap {
    /// Whether this tap shows a message that was forwarded (or dropped).
    pub fn shows(&self, forwarded: bool) -> bool {
        self.stage.shows(forwarded)
    }

    /// Whether the queue has room for one more message; when it has not, the message is counted
    /// as skipped, before anything is copied for it.
    pub fn has_room(&self) -> bool {
        let room = self.queue.capacity() > 0;
        if !room {
            self.skipped.fetch_add(1, Relaxed);
        }
        room
    }

    /// Queues `event` without waiting; a full queue counts it as skipped.
    pub fn offer(&self, event: TapEvent) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(event) {
            self.skipped.fetch_add(1, Relaxed);
        }
    }
}

/// The open taps, shared by the data path (which offers them messages) and the admin endpoint
/// (which opens them and writes what they get).
#[derive(Debug, Default)]
pub struct TapHub {
    /// How many taps are open: the one thing the data path reads when there are none.
    open: AtomicUsize,
    /// Read by the data path without a lock; replaced whole when a tap opens or closes.
    taps: ArcSwap<Vec<Arc<Tap>>>,
    /// Opening and closing one at a time keeps `open`, `taps` and [`MAX_TAPS`] in agreement.
    changing: Mutex<()>,
}

/// The events of one tap; closing it (dropping) takes the tap off the hub.
pub struct Subscription<'h> {
    hub: &'h TapHub,
    tap: Arc<Tap>,
    pub events: mpsc::Receiver<TapEvent>,
}

impl Subscription<'_> {
    /// Messages skipped since the last call, because the queue was full.
    pub fn take_skipped(&self) -> u64 {
        self.tap.skipped.swap(0, Relaxed)
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let _changing = self.hub.changing.lock().unwrap_or_else(|p| p.into_inner());
        let mut taps = Vec::clone(&self.hub.taps.load());
        taps.retain(|tap| !Arc::ptr_eq(tap, &self.tap));
        self.hub.open.store(taps.len(), Relaxed);
        self.hub.taps.store(Arc::new(taps));
    }
}

impl TapHub {
    /// Whether any tap is open. Relaxed: a message processed just as a tap opens may miss it.
    #[inline]
    pub fn is_tapped(&self) -> bool {
        self.open.load(Relaxed) != 0
    }

    /// The open taps, for the data path.
    pub fn taps(&self) -> arc_swap::Guard<Arc<Vec<Arc<Tap>>>> {
        self.taps.load()
    }

    /// Opens a tap; `None` when [`MAX_TAPS`] are open already.
    pub fn open(&self, stage: Stage, condition: Option<Condition>) -> Option<Subscription<'_>> {
        let _changing = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let mut taps = Vec::clone(&self.taps.load());
        if taps.len() >= MAX_TAPS {
            return None;
        }
        let (queue, events) = mpsc::channel(TAP_QUEUE);
        let tap = Arc::new(Tap {
            stage,
            condition,
            queue,
            skipped: AtomicU64::new(0),
        });
        taps.push(tap.clone());
        self.open.store(taps.len(), Relaxed);
        self.taps.store(Arc::new(taps));
        Some(Subscription {
            hub: self,
            tap,
            events,
        })
    }
}

/// A tap as the query string asks for it.
#[derive(Debug)]
pub struct TapQuery {
    pub stage: Stage,
    pub condition: Option<Condition>,
    /// Stop after this many events; `None`: until the client leaves.
    pub limit: Option<u64>,
}

impl TapQuery {
    /// Reads `stage`, `match` (repeatable, every one must hold) and `limit` from the query
    /// string of `/tap?…`; a mistake is answered with what is wrong.
    pub fn parse(query: &str) -> Result<TapQuery, String> {
        let mut stage = Stage::Received;
        let mut matches = Vec::new();
        let mut limit = None;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "stage" => {
                    stage = Stage::parse(&value).ok_or_else(|| {
                        format!(
                            "stage `{}` is none of {}",
                            for_terminal(&value),
                            Stage::NAMES.join(", ")
                        )
                    })?;
                }
                "match" => matches.push(value.into_owned()),
                "limit" => {
                    let n = value
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            format!(
                                "limit `{}` is not a number from 1 to {}",
                                for_terminal(&value),
                                u64::MAX
                            )
                        })?;
                    limit = Some(n);
                }
                other => {
                    return Err(format!(
                        "unknown parameter `{}` (stage, match, limit)",
                        for_terminal(other)
                    ))
                }
            }
        }
        Ok(TapQuery {
            stage,
            condition: compile_matches(&matches)?,
            limit,
        })
    }
}

/// Compiles `match` expressions, every one of which must hold, into one condition of the rules'
/// language (`None` for none). An expression is
///
/// - `FIELD=VALUE` (equals), `FIELD!=VALUE`, `FIELD~REGEX` (a regex search), `FIELD!~REGEX`:
///   FIELD is any field a rule's `match` reads (`type`, `subtype`, `peer`, `host`, `message`,
///   `src`, `ext.cs1`, …) and VALUE or REGEX the rest of the expression (inner spaces kept);
/// - or `{ … }`, a rule's `match` table as it is written in the configuration.
///
/// Each is turned into a `match` table and compiled by the rules' own compiler, so a tap matches
/// exactly what a rule with that `match` would.
pub fn compile_matches(expressions: &[String]) -> Result<Option<Condition>, String> {
    if expressions.len() > MAX_MATCHES {
        return Err(format!("at most {MAX_MATCHES} match expressions"));
    }
    let mut parts = Vec::with_capacity(expressions.len());
    for expression in expressions {
        let table = match_table(expression)
            .map_err(|why| format!("match `{}`: {why}", for_terminal(expression)))?;
        let part = Condition::compile(&table, "")
            .map_err(|why| format!("match `{}`: {why}", for_terminal(expression)))?;
        parts.push(part);
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Condition::All(parts)),
    })
}

/// The `match` table an expression stands for.
fn match_table(expression: &str) -> Result<toml::Table, String> {
    if expression.len() > MAX_MATCH_LEN {
        return Err(format!("longer than {MAX_MATCH_LEN} bytes"));
    }
    let expression = expression.trim();
    if expression.starts_with('{') {
        let mut outer: toml::Table = toml::from_str(&format!("match = {expression}"))
            .map_err(|e| format!("not a match table: {}", e.message()))?;
        return match outer.remove("match") {
            Some(toml::Value::Table(table)) => Ok(table),
            _ => Err("not a match table".into()),
        };
    }
    let at = expression
        .find(['=', '~', '!'])
        .ok_or("not FIELD=VALUE, FIELD!=VALUE, FIELD~REGEX, FIELD!~REGEX or { … }")?;
    let (field, operator_and_value) = expression.split_at(at);
    let (negated, operator_and_value) = match operator_and_value.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, operator_and_value),
    };
    // Spaces around the operator are for reading: `type = THREAT` is `type=THREAT`.
    let test = if let Some(value) = operator_and_value.strip_prefix('=') {
        toml::Value::String(value.trim().to_string())
    } else if let Some(regex) = operator_and_value.strip_prefix('~') {
        toml::Value::Table(toml::Table::from_iter([(
            "regex".to_string(),
            toml::Value::String(regex.trim().to_string()),
        )]))
    } else {
        return Err("`!` must be followed by `=` or `~`".into());
    };
    let test = toml::Table::from_iter([(field.trim().to_string(), test)]);
    Ok(if negated {
        toml::Table::from_iter([("not".to_string(), toml::Value::Table(test))])
    } else {
        test
    })
}

/// One line of a tap's output.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    stage: &'static str,
    decision: Option<&'static str>,
    reason: &'a str,
    sender: IpAddr,
    sinks: Vec<&'a str>,
    message: Cow<'a, str>,
    /// Bytes of the message beyond [`MAX_TEXT`], not shown.
    #[serde(skip_serializing_if = "is_zero")]
    omitted_bytes: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Answers `GET /tap?…` (`target`: what follows `/tap` in the request target): NDJSON, delimited
/// by the connection closing, so `curl -N` reads it as well as `cefrelay tap`.
pub async fn serve(
    mut stream: TcpStream,
    target: &str,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    let query = target.strip_prefix('?').unwrap_or_default();
    let query = match TapQuery::parse(query) {
        Ok(query) => query,
        Err(why) => return refuse(stream, "400 Bad Request", &why).await,
    };
    let Some(mut subscription) = metrics.tap.open(query.stage, query.condition) else {
        let why = format!("{MAX_TAPS} taps are open already; try again when one ends");
        return refuse(stream, "503 Service Unavailable", &why).await;
    };
    stream
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nCache-Control: no-store\r\n\
              Connection: close\r\n\r\n",
        )
        .await?;
    let (mut from_client, mut to_client) = stream.into_split();
    let mut remaining = query.limit.unwrap_or(u64::MAX);
    let mut events = Vec::with_capacity(WRITE_BATCH);
    let mut out = Vec::new();
    // Skipped messages are reported before the next event, or within a second when none follows.
    let mut report_skipped = tokio::time::interval(Duration::from_secs(1));
    let mut ignored = [0u8; 256];
    while remaining > 0 {
        tokio::select! {
            received = subscription.events.recv_many(&mut events, WRITE_BATCH) => {
                if received == 0 {
                    break;
                }
                for event in events.drain(..) {
                    if remaining == 0 {
                        break;
                    }
                    write_skipped(&subscription, &mut out);
                    write_event(&event, &metrics, &mut out);
                    remaining -= 1;
                }
            }
            _ = report_skipped.tick() => write_skipped(&subscription, &mut out),
            // The client sends nothing after its request: end of stream means it has gone, and
            // the tap is closed at once instead of when the next write fails.
            read = from_client.read(&mut ignored) => {
                if matches!(read, Ok(0) | Err(_)) {
                    break;
                }
            }
            () = cancel.cancelled() => break,
        }
        if !out.is_empty() {
            // A client that stops reading holds this write, not the relay: the queue fills and
            // the data path skips. A stop ends it, and so does a client that has read nothing
            // for a minute, so that it cannot keep one of the few places for ever.
            tokio::select! {
                written = tokio::time::timeout(STALLED_CLIENT, to_client.write_all(&out)) => {
                    match written {
                        Ok(written) => written?,
                        Err(_stalled) => break,
                    }
                }
                () = cancel.cancelled() => break,
            }
            out.clear();
        }
    }
    drop(subscription);
    to_client.shutdown().await
}

fn write_skipped(subscription: &Subscription<'_>, out: &mut Vec<u8>) {
    let skipped = subscription.take_skipped();
    if skipped > 0 {
        out.extend_from_slice(format!("{{\"skipped\":{skipped}}}\n").as_bytes());
    }
}

fn write_event(event: &TapEvent, metrics: &Metrics, out: &mut Vec<u8>) {
    let line = Line {
        time: event
            .received_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| event.received_at.unix_timestamp().to_string()),
        stage: if event.sinks != 0 {
            "forwarded"
        } else {
            "dropped"
        },
        decision: event.decision,
        reason: &event.reason,
        sender: event.sender,
        sinks: metrics
            .sinks
            .iter()
            .enumerate()
            .filter(|(index, _)| event.sinks & (1 << index) != 0)
            .map(|(_, sink)| sink.name.as_str())
            .collect(),
        message: for_terminal(&event.text),
        omitted_bytes: event.omitted,
    };
    if serde_json::to_writer(&mut *out, &line).is_ok() {
        out.push(b'\n');
    }
}

async fn refuse(mut stream: TcpStream, status: &str, why: &str) -> std::io::Result<()> {
    let body = format!("{why}\n");
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_reads_its_stage_matches_and_limit() {
        let query =
            TapQuery::parse("stage=dropped&match=type%3DTHREAT&match=src~%5E10%5C.&limit=3")
                .expect("valid");
        assert_eq!(query.stage, Stage::Dropped);
        assert_eq!(query.limit, Some(3));
        assert!(matches!(query.condition, Some(Condition::All(ref parts)) if parts.len() == 2));
        let every = TapQuery::parse("").expect("valid");
        assert_eq!((every.stage, every.limit), (Stage::Received, None));
        assert!(every.condition.is_none());
    }

    #[test]
    fn a_malformed_query_is_refused_with_what_is_wrong() {
        let refused = |query: &str| TapQuery::parse(query).unwrap_err();
        assert!(refused("stage=parsed").contains("received, dropped, forwarded"));
        assert!(refused("limit=0").contains("not a number from 1"));
        assert!(refused("limit=99999999999999999999999").contains("not a number from 1"));
        assert!(refused("limit=-1").contains("not a number from 1"));
        assert!(refused("colour=red").contains("unknown parameter"));
        assert!(refused("match=type").contains("not FIELD=VALUE"));
        assert!(refused("match=type!THREAT").contains("followed by"));
        assert!(refused("match=type~(").contains("the regex does not compile"));
        assert!(refused("match=bad%20field=x").contains("not a field name"));
        assert!(refused("match=%7B%20type%20=%20%7D").contains("not a match table"));
        let too_many = ["match=a=b"; MAX_MATCHES + 1].join("&");
        assert!(refused(&too_many).contains("at most"));
        let too_long = format!("match=a={}", "x".repeat(MAX_MATCH_LEN));
        assert!(refused(&too_long).contains("longer than"));
        assert!(refused("stage=%1b%5B31m").contains("\\u{1b}"), "escaped");
    }

    #[test]
    fn each_expression_compiles_to_the_match_table_a_rule_would_write() {
        let table = |expression: &str| match_table(expression).expect("valid");
        let toml = |text: &str| -> toml::Table { toml::from_str(text).expect("TOML") };
        assert_eq!(table("type=THREAT"), toml(r#"type = "THREAT""#));
        assert_eq!(table(" cs1 = Allow Web"), toml(r#"cs1 = "Allow Web""#));
        assert_eq!(table("request=a=b"), toml(r#"request = "a=b""#));
        assert_eq!(
            table("name!=TRAFFIC"),
            toml(r#"not = { name = "TRAFFIC" }"#)
        );
        assert_eq!(table("message~^x"), toml(r#"message = { regex = "^x" }"#));
        assert_eq!(
            table("src!~^10\\."),
            toml(r#"not = { src = { regex = '^10\.' } }"#)
        );
        assert_eq!(
            table(r#"{ peer = { cidr = "10.0.0.0/8" } }"#),
            toml(r#"peer = { cidr = "10.0.0.0/8" }"#)
        );
    }

    #[test]
    fn a_long_text_is_cut_at_a_character_boundary_and_the_rest_counted() {
        let text = format!("{}é{}", "a".repeat(MAX_TEXT - 1), "b".repeat(10));
        let (shown, omitted) = TapEvent::shown_text(&text);
        assert_eq!(shown, "a".repeat(MAX_TEXT - 1), "é straddles the limit");
        assert_eq!(omitted, 12);
        assert_eq!(TapEvent::shown_text("short"), ("short".to_string(), 0));
    }

    #[test]
    fn taps_beyond_the_limit_are_refused_and_a_closed_tap_frees_its_place() {
        let hub = TapHub::default();
        assert!(!hub.is_tapped());
        let open: Vec<_> = (0..MAX_TAPS)
            .map(|_| hub.open(Stage::Received, None).expect("a place"))
            .collect();
        assert!(hub.is_tapped());
        assert!(hub.open(Stage::Dropped, None).is_none());
        drop(open);
        assert!(!hub.is_tapped());
        assert!(hub.taps().is_empty());
        assert!(hub.open(Stage::Dropped, None).is_some());
    }
}
