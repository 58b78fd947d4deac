//! The driver every HTTP sink shares (Azure Logs Ingestion API, Splunk HEC, generic JSON); what
//! each does its own way is its [`Service`].
//!
//! Records arrive from the buffer already encoded, one JSON object per line. The sink gathers
//! buffer entries into a job (up to the batch limits, or whatever came within `batch_timeout`),
//! cuts the job into requests within the byte and event limits, and sends up to `concurrency`
//! jobs at once. A job ends when every one of its records was accepted (2xx, and the Splunk
//! indexer's acknowledgement when enabled) or rejected for good and written to the dead-letter
//! file; only then, and in buffer order, is it acknowledged to the buffer. Anything else is
//! retried with exponential backoff and jitter (or after `Retry-After`) for as long as it takes:
//! the buffer, bounded, is what absorbs the outage.

pub mod auth;
mod dead_letter;
pub mod service;

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING};
use reqwest::StatusCode;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::buffer::batch::split_records;
use crate::buffer::{BufferReader, Entry};
use crate::config::HttpSink;
use crate::sink::json::cut;
use crate::telemetry::events;
use crate::telemetry::metrics::SinkMetrics;
use crate::telemetry::observe::Observer;
use dead_letter::DeadLetter;
use service::{Attempt, Service};

/// Longest `Retry-After` we obey; beyond this we retry sooner rather than sit idle for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

pub struct HttpSinkTask<S> {
    sender: Arc<Sender<S>>,
}

/// Everything a request needs; shared by the jobs in flight.
struct Sender<S> {
    config: HttpSink,
    service: S,
    client: reqwest::Client,
    headers: HeaderMap,
    observer: Arc<Observer>,
    sink: Arc<SinkMetrics>,
    dead_letter: DeadLetter,
}

/// The HTTP client of a sink: the web PKI roots plus its `ca_file` (read when the configuration
/// was), its timeouts.
pub fn client(config: &HttpSink) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(config.concurrency)
        .user_agent(concat!("cefrelay/", env!("CARGO_PKG_VERSION")));
    for certificate in config.ca_file.iter().flat_map(|ca| &ca.certificates) {
        builder = builder.add_root_certificate(certificate.clone());
    }
    Ok(builder.build()?)
}

impl<S: Service> HttpSinkTask<S> {
    pub fn new(
        config: HttpSink,
        service: S,
        client: reqwest::Client,
        state_dir: &Path,
        observer: Arc<Observer>,
        sink: Arc<SinkMetrics>,
    ) -> Self {
        let mut headers = service.headers();
        if config.gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        let dead_letter = DeadLetter::new(
            state_dir
                .join("dead-letter")
                .join(format!("{}.ndjson", config.name)),
            config.dead_letter_max_bytes,
            config.dead_letter_files,
        );
        HttpSinkTask {
            sender: Arc::new(Sender {
                config,
                service,
                client,
                headers,
                observer,
                sink,
                dead_letter,
            }),
        }
    }

    /// Delivers everything the buffer holds until it closes and is empty, or until `abort`.
    pub async fn run(self, mut buffer: BufferReader, abort: CancellationToken) {
        let sender = self.sender;
        // Reachable until a request says otherwise: an idle sink is not a failing one.
        sender.sink.connected.set(1);
        let concurrency = sender.config.concurrency;
        // Jobs in buffer order: (last seq of the job, its task).
        let mut in_flight: VecDeque<(u64, JoinHandle<()>)> = VecDeque::new();
        let mut carried: Option<Entry> = None;
        let mut buffer_open = true;
        loop {
            if !buffer_open && carried.is_none() && in_flight.is_empty() {
                return;
            }
            let can_start = buffer_open && in_flight.len() < concurrency;
            tokio::select! {
                biased;
                () = abort.cancelled() => {
                    for (_, job) in in_flight {
                        job.abort();
                    }
                    return;
                }
                _ = async { (&mut in_flight.front_mut().expect("checked non-empty").1).await }, if !in_flight.is_empty() => {
                    if let Some((seq, _)) = in_flight.pop_front() {
                        buffer.ack(seq);
                    }
                }
                first = next_entry(&mut buffer, &mut carried), if can_start || (carried.is_some() && in_flight.len() < concurrency) => {
                    let Some(first) = first else {
                        buffer_open = false;
                        continue;
                    };
                    let (entries, closed) = gather(&sender.config, &mut buffer, first, &mut carried).await;
                    buffer_open &= !closed;
                    let last = entries.last().map_or(0, |entry| entry.seq);
                    let job = tokio::spawn(sender.clone().deliver_job(entries));
                    in_flight.push_back((last, job));
                }
            }
        }
    }
}

async fn next_entry(buffer: &mut BufferReader, carried: &mut Option<Entry>) -> Option<Entry> {
    match carried.take() {
        Some(entry) => Some(entry),
        None => buffer.next().await,
    }
}

/// Takes entries after `first` until the batch limits are reached or `batch_timeout` passes.
/// An entry that would overflow the limits is carried over to the next job. Returns the entries
/// and whether the buffer has closed.
async fn gather(
    config: &HttpSink,
    buffer: &mut BufferReader,
    first: Entry,
    carried: &mut Option<Entry>,
) -> (Vec<Entry>, bool) {
    let mut bytes = first.batch.data.len();
    let mut events = first.batch.events as usize;
    let mut entries = vec![first];
    let deadline = tokio::time::Instant::now() + config.batch_timeout;
    while bytes < config.max_batch_bytes && events < config.max_batch_events {
        let next = tokio::select! {
            next = buffer.next() => next,
            () = tokio::time::sleep_until(deadline) => break,
        };
        let Some(entry) = next else {
            return (entries, true);
        };
        let size = entry.batch.data.len();
        if bytes + size > config.max_batch_bytes
            || events + entry.batch.events as usize > config.max_batch_events
        {
            *carried = Some(entry);
            break;
        }
        bytes += size;
        events += entry.batch.events as usize;
        entries.push(entry);
    }
    (entries, false)
}

impl<S: Service> Sender<S> {
    /// Sends every record of these entries; returns when each is delivered or dead-lettered.
    async fn deliver_job(self: Arc<Self>, entries: Vec<Entry>) {
        let mut records = Vec::new();
        let mut markers = Vec::new();
        for entry in entries {
            markers.extend(entry.batch.mock_markers);
            let data = entry.batch.data.freeze();
            records.extend(split_records(&data));
        }
        // Requests within the limits; each is split further if the far end answers 413.
        let mut requests: Vec<Vec<Bytes>> = Vec::new();
        let mut size = 0;
        for record in records {
            let fits = requests.last().is_some_and(|last| {
                last.len() < self.config.max_batch_events
                    // One separator per record, two brackets for a JSON array.
                    && size + record.len() < self.config.max_batch_bytes.saturating_sub(2)
            });
            if !fits {
                requests.push(Vec::new());
                size = 0;
            }
            size += record.len() + 1;
            if let Some(last) = requests.last_mut() {
                last.push(record);
            }
        }
        // A stack, last request on top, so they go out in order.
        requests.reverse();
        while let Some(records) = requests.pop() {
            if let Some((left, right)) = self.deliver(records).await {
                requests.push(right);
                requests.push(left);
            }
        }
        self.observer.mocks_written(&markers);
    }

    /// Sends one request until it is delivered or rejected; returns the two halves to send
    /// instead when the far end says it is too large.
    async fn deliver(&self, records: Vec<Bytes>) -> Option<(Vec<Bytes>, Vec<Bytes>)> {
        let body = self.body(&records);
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut attempt: u32 = 0;
        let mut token_refreshed = false;
        loop {
            let outcome = self.attempt(&body, &request_id).await;
            match outcome {
                Attempt::Delivered => {
                    self.sink.sent_events.add(records.len() as u64);
                    self.sink.sent_bytes.add(body.len() as u64);
                    self.sink.connected.set(1);
                    return None;
                }
                Attempt::TooLarge if records.len() > 1 => {
                    let mut left = records;
                    let right = left.split_off(left.len() / 2);
                    return Some((left, right));
                }
                Attempt::TooLarge => {
                    self.reject(
                        &records,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "a single record is too large for the far end",
                    )
                    .await;
                    return None;
                }
                Attempt::Unauthorized if !token_refreshed && self.service.forget_token().await => {
                    // A token revoked or rotated early: one fresh token, at once.
                    token_refreshed = true;
                }
                Attempt::Rejected { status, reason } => {
                    self.reject(&records, status, &reason).await;
                    return None;
                }
                Attempt::Unauthorized => {
                    self.wait_to_retry(&mut attempt, None, "401 Unauthorized again with a fresh token: check the credentials and the role assignment").await;
                }
                Attempt::Retry { after, reason } => {
                    self.wait_to_retry(&mut attempt, after, &reason).await;
                }
            }
        }
    }

    async fn wait_to_retry(&self, attempt: &mut u32, after: Option<Duration>, reason: &str) {
        *attempt += 1;
        let wait = after
            .unwrap_or_else(|| backoff(self.config.retry_initial, self.config.retry_max, *attempt));
        events::HttpRequestRetried {
            sink: &self.config.name,
            reason,
            attempt: *attempt,
            retry_in: wait,
        }
        .emit(&self.sink);
        tokio::time::sleep(wait).await;
    }

    async fn reject(&self, records: &[Bytes], status: StatusCode, reason: &str) {
        let dead_lettered = self
            .dead_letter
            .write(&self.config.name, records, status, reason)
            .await;
        events::HttpBatchRejected {
            sink: &self.config.name,
            status,
            reason,
            events: records.len() as u64,
            dead_letter: self.dead_letter.path(),
            dead_lettered,
        }
        .emit(&self.sink);
    }

    fn body(&self, records: &[Bytes]) -> Bytes {
        let array = self.service.json_array();
        let mut json = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
        if array {
            json.push(b'[');
        }
        for (index, record) in records.iter().enumerate() {
            if index > 0 {
                json.push(if array { b',' } else { b'\n' });
            }
            json.extend_from_slice(record);
        }
        json.push(if array { b']' } else { b'\n' });
        if !self.config.gzip {
            return json.into();
        }
        // Level 1: nearly the ratio of the default on JSON logs at a fraction of the CPU.
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() / 8),
            flate2::Compression::fast(),
        );
        match encoder.write_all(&json).and_then(|()| encoder.finish()) {
            Ok(compressed) => compressed.into(),
            // Writing into a Vec cannot fail.
            Err(_) => json.into(),
        }
    }

    async fn attempt(&self, body: &Bytes, request_id: &str) -> Attempt {
        let (name, value) = self.service.request_header(request_id);
        let request = self
            .client
            .post(self.service.url().clone())
            .headers(self.headers.clone())
            .header(name, value)
            .body(body.clone());
        let request = match self.service.authorize(request).await {
            Ok(request) => request,
            Err(reason) => {
                return Attempt::Retry {
                    after: None,
                    reason: format!("no access token: {reason}"),
                }
            }
        };
        let started = Instant::now();
        let response = request.send().await;
        let seconds = started.elapsed().as_secs_f64();
        let response = match response {
            Ok(response) => response,
            Err(error) => {
                self.sink.request(None, seconds);
                self.sink.send_errors.inc();
                return Attempt::Retry {
                    after: None,
                    reason: error_chain(&error),
                };
            }
        };
        let status = response.status();
        self.sink.request(Some(status.as_u16()), seconds);
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        let text = match read_answer(response).await {
            Ok(body) => String::from_utf8_lossy(&body).into_owned(),
            Err(reason) if status.is_success() => {
                // The far end took the batch; only its answer was odd. An indexer ack needs it.
                tracing::debug!(sink = %self.config.name, reason, "unreadable answer to a delivered batch");
                String::new()
            }
            Err(reason) => reason,
        };
        if status.is_success() {
            return self.service.accepted(&text).await;
        }
        let body = cut(text.trim(), 512);
        let reason = if body.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {body}")
        };
        if !status.is_server_error() {
            self.sink.send_errors.inc();
        }
        self.service.classify(status, retry_after, reason)
    }
}

/// Longest answer body read from a far end (or a token service): they are a few hundred bytes;
/// a misbehaving one must not make the relay buffer without bound.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The body of an answer, up to [`MAX_ANSWER_BYTES`].
pub async fn read_answer(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("reading the answer: {}", error_chain(&error)))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is longer than {MAX_ANSWER_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error with its causes (reqwest's own message hides them: "error sending request").
/// No secret is ever in a URL, so naming the URL is safe.
pub fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Retry-After: delta-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Exponential backoff with "equal jitter": half the step fixed, half random, so retries from
/// many relays spread out without any of them retrying at once. The User-ID targets retry the
/// same way.
pub(crate) fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let step = initial
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
        .min(max);
    let half = step / 2;
    half + Duration::from_micros(fastrand::u64(0..=half.as_micros() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_contracts_say() {
        let class = |code: u16| {
            service::classify(
                StatusCode::from_u16(code).unwrap(),
                None,
                String::new(),
                false,
            )
        };
        assert!(matches!(class(413), Attempt::TooLarge));
        assert!(matches!(class(429), Attempt::Retry { .. }));
        assert!(matches!(class(503), Attempt::Retry { .. }));
        assert!(matches!(class(500), Attempt::Retry { .. }));
        assert!(matches!(class(408), Attempt::Retry { .. }));
        assert!(matches!(class(401), Attempt::Retry { .. }));
        assert!(matches!(class(400), Attempt::Rejected { .. }));
        assert!(matches!(class(404), Attempt::Rejected { .. }));
        // Azure: a 401 asks for a fresh token, a 403 (a missing role) is not retried.
        let azure = |code: u16| {
            service::classify(
                StatusCode::from_u16(code).unwrap(),
                None,
                String::new(),
                true,
            )
        };
        assert!(matches!(azure(401), Attempt::Unauthorized));
        assert!(matches!(azure(403), Attempt::Rejected { .. }));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = parse_retry_after(&later).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("999999"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn backoff_grows_and_stays_within_its_bounds() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(5));
        for attempt in 1..40 {
            let step = (initial * 2u32.pow(attempt.min(20) - 1)).min(max);
            let wait = backoff(initial, max, attempt);
            assert!(
                wait >= step / 2 && wait <= step,
                "attempt {attempt}: {wait:?}"
            );
        }
    }
}
