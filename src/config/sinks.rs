//! `[[sink]]`: the HTTP sinks, validated. Each sink type takes its own keys; a key that does not
//! apply to the sink's type is an error naming it, not something silently ignored.

use std::sync::Arc;
use std::time::Duration;

use super::buffer::{self, BufferConfig};
use super::files::{self, CaFile};
use super::limits;
use super::raw::{FilterMode, RawSink};
use super::validate::{Span, Validator};
use super::ConfigError;
use crate::sink::{Gzip, HttpSinkSettings, HTTP_SINK_TYPES};

#[derive(Debug, Clone)]
pub struct HttpSink {
    pub name: String,
    /// What its type has of its own (the sink folder's settings).
    pub kind: Arc<dyn HttpSinkSettings>,
    pub buffer: BufferConfig,
    /// Its own filter; `None` follows `[filter] mode`.
    pub filter: Option<FilterMode>,
    /// Extra PEM roots trusted besides the built-in web PKI roots.
    pub ca_file: Option<CaFile>,
    pub timeout: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// Limits of one request's uncompressed body.
    pub max_batch_bytes: usize,
    pub max_batch_events: usize,
    /// How long a request waits for more events before it goes out part-full.
    pub batch_timeout: Duration,
    pub gzip: bool,
    /// The size of one dead-letter file; full, it rotates.
    pub dead_letter_max_bytes: u64,
    /// Full files kept (`.1` newest); 0: a full file takes no more, rejects are only counted.
    pub dead_letter_files: u32,
}

impl HttpSink {
    pub fn type_name(&self) -> &'static str {
        self.kind.sink_type().name
    }
}

impl PartialEq for HttpSink {
    fn eq(&self, other: &Self) -> bool {
        let HttpSink {
            name,
            kind,
            buffer,
            filter,
            ca_file,
            timeout,
            concurrency,
            retry_initial,
            retry_max,
            max_batch_bytes,
            max_batch_events,
            batch_timeout,
            gzip,
            dead_letter_max_bytes,
            dead_letter_files,
        } = self;
        *name == other.name
            && kind.same_as(other.kind.as_ref())
            && *buffer == other.buffer
            && *filter == other.filter
            && ca_file.as_ref().map(|ca| &ca.path) == other.ca_file.as_ref().map(|ca| &ca.path)
            && *timeout == other.timeout
            && *concurrency == other.concurrency
            && *retry_initial == other.retry_initial
            && *retry_max == other.retry_max
            && *max_batch_bytes == other.max_batch_bytes
            && *max_batch_events == other.max_batch_events
            && *batch_timeout == other.batch_timeout
            && *gzip == other.gzip
            && *dead_letter_max_bytes == other.dead_letter_max_bytes
            && *dead_letter_files == other.dead_letter_files
    }
}

/// `sink[index]`, validated.
// One piece: one key after another, each with its default and range beside it.
pub fn validate(
    check: &Validator<'_>,
    index: usize,
    raw: &RawSink,
) -> Result<HttpSink, ConfigError> {
    let key = |name: &str| format!("sink[{index}].{name}");
    let name = raw.name.get_ref();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(check.error(
            key("name"),
            Some(raw.name.span()),
            "a sink name is letters, digits, `-` and `_` (it names the buffer directory)".into(),
        ));
    }
    let kind_name = raw.kind.get_ref().as_str();
    let Some(sink_type) = HTTP_SINK_TYPES.iter().find(|t| t.name == kind_name) else {
        let names: Vec<String> = HTTP_SINK_TYPES
            .iter()
            .map(|t| format!("\"{}\"", t.name))
            .collect();
        return Err(check.error(
            key("type"),
            Some(raw.kind.span()),
            format!(
                "`{kind_name}` is not a sink type: use {} \
                 (the agent forward is [forward]; the HTTP Data Collector API was retired on 2026-09-14)",
                one_of(&names)
            ),
        ));
    };
    // A key that belongs to another sink type is an error, not silently ignored.
    for (name, span) in type_specific_keys(raw) {
        if let Some(span) = span.filter(|_| !sink_type.keys.contains(&name)) {
            return Err(check.error(
                key(name),
                Some(span),
                format!("does not apply to a {kind_name} sink"),
            ));
        }
    }
    let kind = (sink_type.validate)(check, &key, raw)?;
    let max_batch_bytes = match (&raw.max_batch_bytes, sink_type.max_batch_bytes) {
        (Some(v), Some((limit, why))) if *v.get_ref() > limit as u64 => {
            return Err(check.error(key("max_batch_bytes"), Some(v.span()), why.into()))
        }
        (value, limit) => check.size(
            &key("max_batch_bytes"),
            value.as_ref(),
            &limits::MAX_BATCH_BYTES,
            limit.map_or(1024 * 1024, |(limit, _)| limit as u64),
        )?,
    };
    let gzip = match (&raw.gzip, &sink_type.gzip) {
        (Some(v), Gzip::Always(why)) if !*v.get_ref() => {
            return Err(check.error(key("gzip"), Some(v.span()), (*why).into()))
        }
        (Some(v), _) => *v.get_ref(),
        (None, Gzip::Off) => false,
        (None, Gzip::On | Gzip::Always(_)) => true,
    };
    let retry_initial = check.millis(
        &key("retry_initial_ms"),
        raw.retry_initial_ms.as_ref(),
        &limits::RETRY_INITIAL_MS,
        500,
    )?;
    let retry_max = check
        .millis(
            &key("retry_max_ms"),
            raw.retry_max_ms.as_ref(),
            &limits::RETRY_MAX_MS,
            60_000,
        )?
        .max(retry_initial);
    Ok(HttpSink {
        name: name.clone(),
        kind,
        buffer: buffer::validate(check, &key("buffer"), raw.buffer.as_ref(), 65_536)?,
        filter: raw.filter,
        ca_file: match &raw.ca_file {
            Some(path) => Some(files::ca_file(check, &key("ca_file"), path)?),
            None => None,
        },
        timeout: check.secs(
            &key("timeout_secs"),
            raw.timeout_secs.as_ref(),
            &limits::TIMEOUT_SECS,
            30,
        )?,
        concurrency: check.size(
            &key("concurrency"),
            raw.concurrency.as_ref(),
            &limits::CONCURRENCY,
            4,
        )?,
        retry_initial,
        retry_max,
        max_batch_bytes,
        max_batch_events: check.size(
            &key("max_batch_events"),
            raw.max_batch_events.as_ref(),
            &limits::MAX_BATCH_EVENTS,
            10_000,
        )?,
        batch_timeout: check.millis(
            &key("batch_timeout_ms"),
            raw.batch_timeout_ms.as_ref(),
            &limits::BATCH_TIMEOUT_MS,
            1000,
        )?,
        gzip,
        dead_letter_max_bytes: check.number(
            &key("dead_letter_max_bytes"),
            raw.dead_letter_max_bytes.as_ref(),
            &limits::DEAD_LETTER_MAX_BYTES,
            1024 * 1024 * 1024,
        )?,
        dead_letter_files: u32::try_from(check.number(
            &key("dead_letter_files"),
            raw.dead_letter_files.as_ref(),
            &limits::DEAD_LETTER_FILES,
            3,
        )?)
        .unwrap_or(u32::MAX),
    })
}

/// Every key some sink types take and others do not, with where it was set (if it was).
fn type_specific_keys(raw: &RawSink) -> [(&'static str, Option<Span>); 16] {
    fn at<T>(value: &Option<toml::Spanned<T>>) -> Option<Span> {
        value.as_ref().map(toml::Spanned::span)
    }
    [
        ("endpoint", at(&raw.endpoint)),
        ("dcr_immutable_id", at(&raw.dcr_immutable_id)),
        ("stream", at(&raw.stream)),
        ("auth", raw.auth.as_ref().map(|auth| auth.kind.span())),
        ("token_file", at(&raw.token_file)),
        ("token_env", at(&raw.token_env)),
        ("index", at(&raw.index)),
        ("source", at(&raw.source)),
        ("sourcetype", at(&raw.sourcetype)),
        ("host", at(&raw.host)),
        ("indexer_ack", at(&raw.indexer_ack)),
        ("ack_timeout_secs", at(&raw.ack_timeout_secs)),
        ("ack_poll_interval_ms", at(&raw.ack_poll_interval_ms)),
        ("url", at(&raw.url)),
        ("format", at(&raw.format)),
        ("headers", at(&raw.headers)),
    ]
}

/// `"a", "b" or "c"`.
fn one_of(names: &[String]) -> String {
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
