//! The buffer in front of every sink (`buffer = { … }`) and the HTTP sinks (`[[sink]]`): the raw
//! TOML shapes and their validation. Each sink type takes its own keys; a key that does not apply
//! to the sink's type is an error naming it, not something silently ignored.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::limits;
use super::raw::Validator;
use super::ConfigError;

/// Byte range of a value in the config file, for errors that name its line.
type Span = std::ops::Range<usize>;

/// What a sink's buffer does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// TCP readers wait (their senders' windows close); UDP datagrams are dropped and counted.
    Block,
    /// The new batch is dropped and counted; readers carry on.
    DropNewest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fdatasync after every append: nothing acknowledged to the WAL is lost on power failure.
    Always,
    /// fdatasync on a timer: a power failure loses at most this interval.
    Interval(Duration),
    /// Leave write-back to the kernel (`vm.dirty_expire_centisecs`, typically 30 s).
    Never,
}

/// What a memory buffer holds at most in bytes unless told: ~32 000 PAN-OS events of ~1 KB, and a
/// bound on the relay's memory whatever the events' size.
pub const DEFAULT_MEMORY_MAX_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum BufferKind {
    /// Lost when the process dies; holds at most `max_events` events and `max_bytes` bytes.
    Memory { max_events: usize, max_bytes: u64 },
    /// A write-ahead log under `<state_dir>/buffer/<sink>/`; survives `kill -9` and restarts.
    Disk {
        max_bytes: u64,
        segment_bytes: u64,
        fsync: FsyncPolicy,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BufferConfig {
    pub kind: BufferKind,
    pub when_full: WhenFull,
}

impl BufferConfig {
    pub fn memory(max_events: usize) -> Self {
        BufferConfig {
            kind: BufferKind::Memory {
                max_events,
                max_bytes: DEFAULT_MEMORY_MAX_BYTES,
            },
            when_full: WhenFull::Block,
        }
    }
}

/// A secret read at start from a file or an environment variable, never from the command line.
/// Debug and Display print where it came from, never the value.
#[derive(Clone, PartialEq)]
pub struct Secret {
    pub value: String,
    pub from: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(from {})", self.from)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AzureAuth {
    /// Entra ID client credentials (an app registration with a secret).
    ClientSecret {
        /// `https://login.microsoftonline.com` unless a sovereign cloud or a test says otherwise.
        authority: String,
        tenant_id: String,
        client_id: String,
        secret: Secret,
        scope: String,
    },
    /// The VM's managed identity through the instance metadata service.
    ManagedIdentity {
        endpoint: String,
        client_id: Option<String>,
        resource: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpAuth {
    None,
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// One JSON object per line.
    Ndjson,
    /// One JSON array per request.
    JsonArray,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpSinkKind {
    AzureLogsIngestion {
        /// The full POST URL: endpoint, DCR immutable id, stream and api-version.
        url: String,
        auth: AzureAuth,
    },
    SplunkHec {
        /// Base URL, e.g. `https://splunk:8088`.
        endpoint: String,
        token: Secret,
        index: Option<String>,
        source: Option<String>,
        sourcetype: Option<String>,
        host: Option<String>,
        indexer_ack: bool,
        ack_timeout: Duration,
        ack_poll_interval: Duration,
    },
    Http {
        url: String,
        format: BodyFormat,
        headers: Vec<(String, String)>,
        auth: HttpAuth,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpSink {
    pub name: String,
    pub kind: HttpSinkKind,
    pub buffer: BufferConfig,
    /// Extra PEM roots trusted besides the built-in web PKI roots.
    pub ca_file: Option<PathBuf>,
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
    /// Beyond this size the dead-letter file takes no more; further rejects are only counted.
    pub dead_letter_max_bytes: u64,
}

impl HttpSink {
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            HttpSinkKind::AzureLogsIngestion { .. } => "azure_logs_ingestion",
            HttpSinkKind::SplunkHec { .. } => "splunk_hec",
            HttpSinkKind::Http { .. } => "http",
        }
    }
}

/// The Logs Ingestion API takes at most 1 MB per call, compressed or not (specs §3b); the SDK
/// cuts at 1 MiB of uncompressed JSON. We stay under 1 000 000 bytes.
pub const AZURE_MAX_BATCH_BYTES: usize = 1_000_000;
pub const AZURE_API_VERSION: &str = "2023-01-01";
const AZURE_DEFAULT_STREAM: &str = "Microsoft-CommonSecurityLog";
const AZURE_DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The audience as Microsoft's own ingestion samples write it (double slash included).
const AZURE_DEFAULT_SCOPE: &str = "https://monitor.azure.com//.default";
const IMDS_TOKEN_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const AZURE_MONITOR_RESOURCE: &str = "https://monitor.azure.com/";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuffer {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub max_events: Option<Spanned<u64>>,
    pub max_bytes: Option<Spanned<u64>>,
    pub segment_bytes: Option<Spanned<u64>>,
    pub when_full: Option<WhenFull>,
    pub fsync: Option<Spanned<String>>,
    pub fsync_interval_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSink {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub buffer: Option<RawBuffer>,
    // Azure Logs Ingestion
    pub endpoint: Option<Spanned<String>>,
    pub dcr_immutable_id: Option<Spanned<String>>,
    pub stream: Option<Spanned<String>>,
    pub auth: Option<RawAuth>,
    // Splunk HEC
    pub token_file: Option<Spanned<PathBuf>>,
    pub token_env: Option<Spanned<String>>,
    pub index: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub sourcetype: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub indexer_ack: Option<Spanned<bool>>,
    pub ack_timeout_secs: Option<Spanned<u64>>,
    pub ack_poll_interval_ms: Option<Spanned<u64>>,
    // Generic HTTP
    pub url: Option<Spanned<String>>,
    pub format: Option<Spanned<BodyFormat>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    // Every HTTP sink
    pub ca_file: Option<Spanned<PathBuf>>,
    pub timeout_secs: Option<Spanned<u64>>,
    pub concurrency: Option<Spanned<u64>>,
    pub retry_initial_ms: Option<Spanned<u64>>,
    pub retry_max_ms: Option<Spanned<u64>>,
    pub max_batch_bytes: Option<Spanned<u64>>,
    pub max_batch_events: Option<Spanned<u64>>,
    pub batch_timeout_ms: Option<Spanned<u64>>,
    pub gzip: Option<Spanned<bool>>,
    pub dead_letter_max_bytes: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_secret_env: Option<String>,
    pub authority: Option<String>,
    pub scope: Option<String>,
    pub endpoint: Option<String>,
    pub resource: Option<String>,
    pub token_file: Option<PathBuf>,
    pub token_env: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
}

impl Validator<'_> {
    /// `key` is where the table sits, e.g. `forward.buffer` or `sink[0].buffer`.
    pub(super) fn buffer(
        &self,
        key: &str,
        raw: Option<&RawBuffer>,
        default_max_events: usize,
    ) -> Result<BufferConfig, ConfigError> {
        let Some(raw) = raw else {
            return Ok(BufferConfig::memory(default_max_events));
        };
        let kind_name = raw.kind.as_ref().map_or("memory", |k| k.get_ref().as_str());
        let kind_span = raw.kind.as_ref().map(|k| k.span());
        let stray = |name: &str, span: Span, kind: &str| {
            self.error(
                format!("{key}.{name}"),
                Some(span),
                format!("does not apply to a {kind} buffer"),
            )
        };
        let kind = match kind_name {
            "memory" => {
                if let Some(v) = &raw.fsync {
                    return Err(stray("fsync", v.span(), "memory"));
                }
                let max_events = self.size(
                    &format!("{key}.max_events"),
                    raw.max_events.as_ref(),
                    &limits::MAX_EVENTS,
                    default_max_events as u64,
                )?;
                let max_bytes = self.number(
                    &format!("{key}.max_bytes"),
                    raw.max_bytes.as_ref(),
                    &limits::MEMORY_MAX_BYTES,
                    DEFAULT_MEMORY_MAX_BYTES,
                )?;
                BufferKind::Memory {
                    max_events,
                    max_bytes,
                }
            }
            "disk" => {
                if let Some(v) = &raw.max_events {
                    return Err(stray("max_events", v.span(), "disk"));
                }
                // The lower bounds say why, in the words they have always used.
                if let Some(v) = raw
                    .max_bytes
                    .as_ref()
                    .filter(|v| *v.get_ref() < 1024 * 1024)
                {
                    return Err(self.error(
                        format!("{key}.max_bytes"),
                        Some(v.span()),
                        "a disk buffer needs at least 1048576 bytes (1 MiB)".into(),
                    ));
                }
                if let Some(v) = raw
                    .segment_bytes
                    .as_ref()
                    .filter(|v| *v.get_ref() < 64 * 1024)
                {
                    return Err(self.error(
                        format!("{key}.segment_bytes"),
                        Some(v.span()),
                        "segments need at least 65536 bytes".into(),
                    ));
                }
                let max_bytes = self.number(
                    &format!("{key}.max_bytes"),
                    raw.max_bytes.as_ref(),
                    &limits::DISK_MAX_BYTES,
                    1024 * 1024 * 1024,
                )?;
                let segment_bytes = self.number(
                    &format!("{key}.segment_bytes"),
                    raw.segment_bytes.as_ref(),
                    &limits::SEGMENT_BYTES,
                    (max_bytes / 16).clamp(64 * 1024, 64 * 1024 * 1024),
                )?;
                if let Some(v) = raw
                    .segment_bytes
                    .as_ref()
                    .filter(|_| segment_bytes > max_bytes)
                {
                    return Err(self.error(
                        format!("{key}.segment_bytes"),
                        Some(v.span()),
                        format!(
                            "{segment_bytes} is larger than the buffer's max_bytes ({max_bytes})"
                        ),
                    ));
                }
                let interval = self.millis(
                    &format!("{key}.fsync_interval_ms"),
                    raw.fsync_interval_ms.as_ref(),
                    &limits::FSYNC_INTERVAL_MS,
                    1000,
                )?;
                let fsync = match raw.fsync.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
                    None | Some(("interval", _)) => FsyncPolicy::Interval(interval),
                    Some(("always", _)) => FsyncPolicy::Always,
                    Some(("never", _)) => FsyncPolicy::Never,
                    Some((other, span)) => {
                        return Err(self.error(
                            format!("{key}.fsync"),
                            Some(span),
                            format!("`{other}` is not one of \"always\", \"interval\", \"never\""),
                        ))
                    }
                };
                BufferKind::Disk {
                    max_bytes,
                    segment_bytes,
                    fsync,
                }
            }
            other => {
                return Err(self.error(
                    format!("{key}.type"),
                    kind_span,
                    format!("`{other}` is not a buffer type: use \"memory\" or \"disk\""),
                ))
            }
        };
        Ok(BufferConfig {
            kind,
            when_full: raw.when_full.unwrap_or(WhenFull::Block),
        })
    }

    /// A secret from `{base}_file` or `{base}_env`; errors name whichever key was given.
    fn secret(
        &self,
        base: &str,
        span: Span,
        file: Option<&PathBuf>,
        env: Option<&String>,
    ) -> Result<Secret, ConfigError> {
        let suffix = if file.is_none() && env.is_some() {
            "_env"
        } else {
            "_file"
        };
        let error =
            |message: String| self.error(format!("{base}{suffix}"), Some(span.clone()), message);
        match (file, env) {
            (Some(_), Some(_)) => Err(error(
                "give the secret as a file or as an environment variable, not both".into(),
            )),
            (Some(path), None) => {
                let path = self.beside_file(path);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
                let value = text.trim().to_string();
                if value.is_empty() {
                    return Err(error(format!("{} is empty", path.display())));
                }
                Ok(Secret {
                    value,
                    from: format!("file {}", path.display()),
                })
            }
            (None, Some(name)) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(Secret {
                    value: value.trim().to_string(),
                    from: format!("environment variable {name}"),
                }),
                _ => Err(error(format!("the environment variable {name} is not set"))),
            },
            (None, None) => Err(error(
                "needs a secret: a *_file or *_env key (never the secret itself in the file)"
                    .into(),
            )),
        }
    }

    fn url(&self, key: String, value: &Spanned<String>) -> Result<String, ConfigError> {
        let text = value.get_ref().trim_end_matches('/');
        let scheme_ok = text.starts_with("https://") || text.starts_with("http://");
        match reqwest::Url::parse(text) {
            Ok(_) if scheme_ok => Ok(text.to_string()),
            _ => Err(self.error(
                key,
                Some(value.span()),
                format!("`{}` is not an http:// or https:// URL", value.get_ref()),
            )),
        }
    }

    pub(super) fn sink(&self, index: usize, raw: &RawSink) -> Result<HttpSink, ConfigError> {
        let key = |name: &str| format!("sink[{index}].{name}");
        let name = raw.name.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.error(
                key("name"),
                Some(raw.name.span()),
                "a sink name is letters, digits, `-` and `_` (it names the buffer directory)"
                    .into(),
            ));
        }
        let kind_name = raw.kind.get_ref().as_str();
        let missing = |name: &str| {
            self.error(
                key(name),
                Some(raw.kind.span()),
                format!("a {kind_name} sink needs `{name}`"),
            )
        };
        // Keys that belong to other sink types.
        let only_for: [(&str, Option<Span>, &[&str]); 15] = [
            (
                "endpoint",
                raw.endpoint.as_ref().map(|v| v.span()),
                &["azure_logs_ingestion", "splunk_hec"],
            ),
            (
                "dcr_immutable_id",
                raw.dcr_immutable_id.as_ref().map(|v| v.span()),
                &["azure_logs_ingestion"],
            ),
            (
                "stream",
                raw.stream.as_ref().map(|v| v.span()),
                &["azure_logs_ingestion"],
            ),
            (
                "auth",
                raw.auth.as_ref().map(|v| v.kind.span()),
                &["azure_logs_ingestion", "http"],
            ),
            (
                "token_file",
                raw.token_file.as_ref().map(|v| v.span()),
                &["splunk_hec"],
            ),
            (
                "token_env",
                raw.token_env.as_ref().map(|v| v.span()),
                &["splunk_hec"],
            ),
            (
                "index",
                raw.index.as_ref().map(|v| v.span()),
                &["splunk_hec"],
            ),
            (
                "source",
                raw.source.as_ref().map(|v| v.span()),
                &["splunk_hec"],
            ),
            (
                "sourcetype",
                raw.sourcetype.as_ref().map(|v| v.span()),
                &["splunk_hec"],
            ),
            ("host", raw.host.as_ref().map(|v| v.span()), &["splunk_hec"]),
            (
                "indexer_ack",
                raw.indexer_ack.as_ref().map(|v| v.span()),
                &["splunk_hec"],
            ),
            (
                "ack_timeout_secs",
                raw.ack_timeout_secs.as_ref().map(|v| v.span()),
                &["splunk_hec"],
            ),
            ("url", raw.url.as_ref().map(|v| v.span()), &["http"]),
            ("format", raw.format.as_ref().map(|v| v.span()), &["http"]),
            ("headers", raw.headers.as_ref().map(|v| v.span()), &["http"]),
        ];
        if !["azure_logs_ingestion", "splunk_hec", "http"].contains(&kind_name) {
            return Err(self.error(
                key("type"),
                Some(raw.kind.span()),
                format!(
                    "`{kind_name}` is not a sink type: use \"azure_logs_ingestion\", \"splunk_hec\" or \"http\" \
                     (the agent forward is [forward]; the HTTP Data Collector API was retired on 2026-09-14)"
                ),
            ));
        }
        for (name, span, types) in only_for {
            if let Some(span) = span {
                if !types.contains(&kind_name) {
                    return Err(self.error(
                        key(name),
                        Some(span),
                        format!("does not apply to a {kind_name} sink"),
                    ));
                }
            }
        }

        let kind = match kind_name {
            "azure_logs_ingestion" => {
                let endpoint = raw.endpoint.as_ref().ok_or_else(|| missing("endpoint"))?;
                let endpoint = self.url(key("endpoint"), endpoint)?;
                let dcr = raw
                    .dcr_immutable_id
                    .as_ref()
                    .ok_or_else(|| missing("dcr_immutable_id"))?;
                let stream = raw
                    .stream
                    .as_ref()
                    .map_or(AZURE_DEFAULT_STREAM, |s| s.get_ref().as_str());
                let auth = raw.auth.as_ref().ok_or_else(|| missing("auth"))?;
                HttpSinkKind::AzureLogsIngestion {
                    url: format!(
                        "{endpoint}/dataCollectionRules/{}/streams/{stream}?api-version={AZURE_API_VERSION}",
                        dcr.get_ref()
                    ),
                    auth: self.azure_auth(&key("auth"), auth)?,
                }
            }
            "splunk_hec" => {
                let endpoint = raw.endpoint.as_ref().ok_or_else(|| missing("endpoint"))?;
                HttpSinkKind::SplunkHec {
                    endpoint: self.url(key("endpoint"), endpoint)?,
                    token: self.secret(
                        &key("token"),
                        raw.token_file
                            .as_ref()
                            .map(|v| v.span())
                            .or(raw.token_env.as_ref().map(|v| v.span()))
                            .unwrap_or(raw.kind.span()),
                        raw.token_file.as_ref().map(|v| v.get_ref()),
                        raw.token_env.as_ref().map(|v| v.get_ref()),
                    )?,
                    index: raw.index.as_ref().map(|v| v.get_ref().clone()),
                    source: raw.source.as_ref().map(|v| v.get_ref().clone()),
                    sourcetype: raw.sourcetype.as_ref().map(|v| v.get_ref().clone()),
                    host: raw.host.as_ref().map(|v| v.get_ref().clone()),
                    indexer_ack: raw.indexer_ack.as_ref().is_some_and(|v| *v.get_ref()),
                    ack_timeout: self.secs(
                        &key("ack_timeout_secs"),
                        raw.ack_timeout_secs.as_ref(),
                        &limits::ACK_TIMEOUT_SECS,
                        300,
                    )?,
                    ack_poll_interval: self.millis(
                        &key("ack_poll_interval_ms"),
                        raw.ack_poll_interval_ms.as_ref(),
                        &limits::ACK_POLL_INTERVAL_MS,
                        1000,
                    )?,
                }
            }
            _ => {
                let url = raw.url.as_ref().ok_or_else(|| missing("url"))?;
                let mut headers = Vec::new();
                if let Some(map) = &raw.headers {
                    for (name, value) in map.get_ref() {
                        let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                            .is_ok()
                            && reqwest::header::HeaderValue::from_str(value).is_ok();
                        if !valid {
                            return Err(self.error(
                                key("headers"),
                                Some(map.span()),
                                format!("`{name}` is not a valid HTTP header name and value"),
                            ));
                        }
                        headers.push((name.clone(), value.clone()));
                    }
                }
                HttpSinkKind::Http {
                    url: self.url(key("url"), url)?,
                    format: raw
                        .format
                        .as_ref()
                        .map_or(BodyFormat::Ndjson, |v| *v.get_ref()),
                    headers,
                    auth: match &raw.auth {
                        None => HttpAuth::None,
                        Some(auth) => self.http_auth(&key("auth"), auth)?,
                    },
                }
            }
        };

        let is_azure = matches!(kind, HttpSinkKind::AzureLogsIngestion { .. });
        let max_batch_bytes = match &raw.max_batch_bytes {
            Some(v) if is_azure && *v.get_ref() > AZURE_MAX_BATCH_BYTES as u64 => {
                return Err(self.error(
                    key("max_batch_bytes"),
                    Some(v.span()),
                    format!(
                    "the Logs Ingestion API takes at most {AZURE_MAX_BATCH_BYTES} bytes per call"
                ),
                ))
            }
            value => self.size(
                &key("max_batch_bytes"),
                value.as_ref(),
                &limits::MAX_BATCH_BYTES,
                if is_azure {
                    AZURE_MAX_BATCH_BYTES as u64
                } else {
                    1024 * 1024
                },
            )?,
        };
        let gzip = match &raw.gzip {
            // The API counts the 1 MB limit on the compressed body too; we always compress.
            Some(v) if is_azure && !*v.get_ref() => {
                return Err(self.error(
                    key("gzip"),
                    Some(v.span()),
                    "the Azure sink always compresses its requests".into(),
                ))
            }
            Some(v) => *v.get_ref(),
            None => !matches!(kind, HttpSinkKind::Http { .. }),
        };
        let retry_initial = self.millis(
            &key("retry_initial_ms"),
            raw.retry_initial_ms.as_ref(),
            &limits::RETRY_INITIAL_MS,
            500,
        )?;
        let retry_max = self
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
            buffer: self.buffer(&key("buffer"), raw.buffer.as_ref(), 65_536)?,
            ca_file: match &raw.ca_file {
                Some(v) => Some(self.ca_file(&key("ca_file"), v)?),
                None => None,
            },
            timeout: self.secs(
                &key("timeout_secs"),
                raw.timeout_secs.as_ref(),
                &limits::TIMEOUT_SECS,
                30,
            )?,
            concurrency: self.size(
                &key("concurrency"),
                raw.concurrency.as_ref(),
                &limits::CONCURRENCY,
                4,
            )?,
            retry_initial,
            retry_max,
            max_batch_bytes,
            max_batch_events: self.size(
                &key("max_batch_events"),
                raw.max_batch_events.as_ref(),
                &limits::MAX_BATCH_EVENTS,
                10_000,
            )?,
            batch_timeout: self.millis(
                &key("batch_timeout_ms"),
                raw.batch_timeout_ms.as_ref(),
                &limits::BATCH_TIMEOUT_MS,
                1000,
            )?,
            gzip,
            dead_letter_max_bytes: self.number(
                &key("dead_letter_max_bytes"),
                raw.dead_letter_max_bytes.as_ref(),
                &limits::DEAD_LETTER_MAX_BYTES,
                1024 * 1024 * 1024,
            )?,
        })
    }

    fn azure_auth(&self, key: &str, raw: &RawAuth) -> Result<AzureAuth, ConfigError> {
        let span = raw.kind.span();
        let need = |value: &Option<String>, name: &str| {
            value.clone().ok_or_else(|| {
                self.error(
                    format!("{key}.{name}"),
                    Some(span.clone()),
                    format!("`{}` authentication needs `{name}`", raw.kind.get_ref()),
                )
            })
        };
        match raw.kind.get_ref().as_str() {
            "client_secret" => Ok(AzureAuth::ClientSecret {
                authority: raw
                    .authority
                    .clone()
                    .unwrap_or_else(|| AZURE_DEFAULT_AUTHORITY.into())
                    .trim_end_matches('/')
                    .to_string(),
                tenant_id: need(&raw.tenant_id, "tenant_id")?,
                client_id: need(&raw.client_id, "client_id")?,
                secret: self.secret(
                    &format!("{key}.client_secret"),
                    span.clone(),
                    raw.client_secret_file.as_ref(),
                    raw.client_secret_env.as_ref(),
                )?,
                scope: raw
                    .scope
                    .clone()
                    .unwrap_or_else(|| AZURE_DEFAULT_SCOPE.into()),
            }),
            "managed_identity" => Ok(AzureAuth::ManagedIdentity {
                endpoint: raw
                    .endpoint
                    .clone()
                    .unwrap_or_else(|| IMDS_TOKEN_ENDPOINT.into()),
                client_id: raw.client_id.clone(),
                resource: raw
                    .resource
                    .clone()
                    .unwrap_or_else(|| AZURE_MONITOR_RESOURCE.into()),
            }),
            other => Err(self.error(
                format!("{key}.type"),
                Some(span),
                format!("`{other}`: the Azure sink authenticates with \"client_secret\" or \"managed_identity\""),
            )),
        }
    }

    fn http_auth(&self, key: &str, raw: &RawAuth) -> Result<HttpAuth, ConfigError> {
        let span = raw.kind.span();
        match raw.kind.get_ref().as_str() {
            "bearer" => Ok(HttpAuth::Bearer(self.secret(
                &format!("{key}.token"),
                span,
                raw.token_file.as_ref(),
                raw.token_env.as_ref(),
            )?)),
            "basic" => Ok(HttpAuth::Basic {
                user: raw.user.clone().ok_or_else(|| {
                    self.error(
                        format!("{key}.user"),
                        Some(span.clone()),
                        "basic authentication needs `user`".into(),
                    )
                })?,
                password: self.secret(
                    &format!("{key}.password"),
                    span,
                    raw.password_file.as_ref(),
                    raw.password_env.as_ref(),
                )?,
            }),
            other => Err(self.error(
                format!("{key}.type"),
                Some(span),
                format!("`{other}`: the http sink authenticates with \"bearer\" or \"basic\""),
            )),
        }
    }
}
