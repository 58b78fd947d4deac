//! `[[sink]]`: the HTTP sinks, validated. Each sink type takes its own keys; a key that does not
//! apply to the sink's type is an error naming it, not something silently ignored.

use std::path::PathBuf;
use std::time::Duration;

use super::buffer::{self, BufferConfig};
use super::files;
use super::limits;
use super::raw::{BodyFormat, FilterMode, RawAuth, RawSink};
use super::validate::{Secret, Span, Validator};
use super::ConfigError;

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
    /// Its own filter; `None` follows `[filter] mode`.
    pub filter: Option<FilterMode>,
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

/// `sink[index]`, validated.
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
    let missing = |name: &str| {
        check.error(
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
        return Err(check.error(
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
                return Err(check.error(
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
            let endpoint = check.url_base(key("endpoint"), endpoint)?;
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
                auth: azure_auth(check, &key("auth"), auth)?,
            }
        }
        "splunk_hec" => {
            let endpoint = raw.endpoint.as_ref().ok_or_else(|| missing("endpoint"))?;
            HttpSinkKind::SplunkHec {
                endpoint: check.url_base(key("endpoint"), endpoint)?,
                token: check.secret(
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
                ack_timeout: check.secs(
                    &key("ack_timeout_secs"),
                    raw.ack_timeout_secs.as_ref(),
                    &limits::ACK_TIMEOUT_SECS,
                    300,
                )?,
                ack_poll_interval: check.millis(
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
                    let valid = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                        && reqwest::header::HeaderValue::from_str(value).is_ok();
                    if !valid {
                        return Err(check.error(
                            key("headers"),
                            Some(map.span()),
                            format!("`{name}` is not a valid HTTP header name and value"),
                        ));
                    }
                    headers.push((name.clone(), value.clone()));
                }
            }
            HttpSinkKind::Http {
                url: check.url_base(key("url"), url)?,
                format: raw
                    .format
                    .as_ref()
                    .map_or(BodyFormat::Ndjson, |v| *v.get_ref()),
                headers,
                auth: match &raw.auth {
                    None => HttpAuth::None,
                    Some(auth) => http_auth(check, &key("auth"), auth)?,
                },
            }
        }
    };

    let is_azure = matches!(kind, HttpSinkKind::AzureLogsIngestion { .. });
    let max_batch_bytes = match &raw.max_batch_bytes {
        Some(v) if is_azure && *v.get_ref() > AZURE_MAX_BATCH_BYTES as u64 => {
            return Err(check.error(
                key("max_batch_bytes"),
                Some(v.span()),
                format!(
                    "the Logs Ingestion API takes at most {AZURE_MAX_BATCH_BYTES} bytes per call"
                ),
            ))
        }
        value => check.size(
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
            return Err(check.error(
                key("gzip"),
                Some(v.span()),
                "the Azure sink always compresses its requests".into(),
            ))
        }
        Some(v) => *v.get_ref(),
        None => !matches!(kind, HttpSinkKind::Http { .. }),
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
    })
}

fn azure_auth(check: &Validator<'_>, key: &str, raw: &RawAuth) -> Result<AzureAuth, ConfigError> {
    let span = raw.kind.span();
    let need = |value: &Option<String>, name: &str| {
        value.clone().ok_or_else(|| {
            check.error(
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
            secret: check.secret(
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
        other => Err(check.error(
            format!("{key}.type"),
            Some(span),
            format!("`{other}`: the Azure sink authenticates with \"client_secret\" or \"managed_identity\""),
        )),
    }
}

fn http_auth(check: &Validator<'_>, key: &str, raw: &RawAuth) -> Result<HttpAuth, ConfigError> {
    let span = raw.kind.span();
    match raw.kind.get_ref().as_str() {
        "bearer" => Ok(HttpAuth::Bearer(check.secret(
            &format!("{key}.token"),
            span,
            raw.token_file.as_ref(),
            raw.token_env.as_ref(),
        )?)),
        "basic" => Ok(HttpAuth::Basic {
            user: raw.user.clone().ok_or_else(|| {
                check.error(
                    format!("{key}.user"),
                    Some(span.clone()),
                    "basic authentication needs `user`".into(),
                )
            })?,
            password: check.secret(
                &format!("{key}.password"),
                span,
                raw.password_file.as_ref(),
                raw.password_env.as_ref(),
            )?,
        }),
        other => Err(check.error(
            format!("{key}.type"),
            Some(span),
            format!("`{other}`: the http sink authenticates with \"bearer\" or \"basic\""),
        )),
    }
}
