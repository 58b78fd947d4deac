//! One User-ID target: a PAN-OS firewall (or Panorama) or a Windows User-ID agent, and how
//! logins and logouts reach it.
//!
//! A firewall takes `POST {url}/api/` with a form (`type=user-id`, `key`, `cmd=<uid-message>`,
//! and `vsys`, `target=<serial>` when configured); its key is configured or asked of `keygen`
//! with a user and password, then kept. An agent takes the raw `<uid-message>` as the body of
//! `POST {url}/`, with its key, if any, in `X-PAN-KEY`.
//!
//! [`Target::push`] cuts the entries into documents ([`uid_messages`]), sends up to
//! [`MAX_IN_FLIGHT`] at once and reads each answer's [`Verdict`]: passing troubles are retried
//! with backoff up to [`MAX_ATTEMPTS`] times per document, a refused key or an untrusted
//! certificate stops the target, a refused document is handed back for the caller to log.
//! Neither the key nor the password ever appears in an error or a log line: they travel in
//! request bodies and a sensitive header, never in a URL.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use cefrelay_userid::message::{self, uid_messages, Answer, Login, Logout, UidMessage, Verdict};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use tokio::task::JoinSet;

use crate::config::userid::{TargetAuth, TargetKind, UseridTarget};
use crate::sink::http::backoff;

/// PAN-OS takes at most 5 MB in one POST.
const MAX_POST_BYTES: usize = 5 * 1024 * 1024;
/// Room in a POST for the form fields beside `cmd` (`type`, `key`, `vsys`, `target`), which
/// are a few hundred bytes at most.
const OTHER_FIELDS_BYTES: usize = 4096;
/// Requests in flight to one target at once: enough to fill the pipe after an outage, few
/// enough not to crowd the management plane, which also serves the web UI.
pub const MAX_IN_FLIGHT: usize = 5;
/// Tries per document before [`Target::push`] gives up on it and says the target is
/// unreachable. With the default backoff (1 s doubling to 60 s) that is about two minutes; the
/// caller still holds the changes and pushes them again later, so giving up loses nothing, and
/// it keeps a dead target from holding a push for ever.
pub const MAX_ATTEMPTS: u32 = 8;

/// What a push delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    pub logins: usize,
    pub logouts: usize,
    /// The user-id requests sent, retries included (keygen requests not).
    pub requests: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The target refuses our key or rights (403, code 16), keygen refuses the credentials, its
    /// certificate is not trusted, or the URL leads to no XML API: every request would fail
    /// alike until it is reconfigured. The documents not yet sent were not.
    Stopped { reason: String },
    /// The target refused these entries as malformed (400, codes 17/18, …): sending them again
    /// would fail again, so the caller logs them and lets them go. Everything else was
    /// delivered.
    Rejected {
        code: Option<u32>,
        message: String,
        logins: Vec<Login>,
        logouts: Vec<Logout>,
    },
    /// A document still failed after [`MAX_ATTEMPTS`] tries (connections refused, timeouts,
    /// 5xx, transient codes); others may have gone through. Pushing the same entries again is
    /// harmless: a login replaces the address's mapping, a logout of none changes nothing.
    Unreachable { last_error: String },
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PushError::Stopped { reason } => write!(f, "target stopped: {reason}"),
            PushError::Rejected {
                code,
                message,
                logins,
                logouts,
            } => {
                write!(
                    f,
                    "{} logins and {} logouts rejected",
                    logins.len(),
                    logouts.len()
                )?;
                match code {
                    Some(code) => write!(f, " (code {code}): {message}"),
                    None => write!(f, ": {message}"),
                }
            }
            PushError::Unreachable { last_error } => write!(
                f,
                "unreachable after {MAX_ATTEMPTS} tries, last: {last_error}"
            ),
        }
    }
}

impl std::error::Error for PushError {}

impl PushError {
    /// The `reason` label of `cefrelay_userid_failed_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            PushError::Stopped { .. } => "stopped",
            PushError::Rejected { .. } => "rejected",
            PushError::Unreachable { .. } => "unreachable",
        }
    }
}

/// The HTTP client of one `[[userid.target]]`.
pub struct Target {
    shared: Arc<Shared>,
}

/// What the requests in flight share.
struct Shared {
    name: String,
    kind: TargetKind,
    /// `{url}/api/` (firewall) or `{url}/` (agent).
    endpoint: String,
    auth: TargetAuth,
    vsys: Option<String>,
    serial: Option<String>,
    batch_entries: usize,
    retry_initial: Duration,
    retry_max: Duration,
    client: reqwest::Client,
    /// The key keygen gave, for keygen auth; the lock also keeps concurrent requests from asking
    /// for several.
    generated: tokio::sync::Mutex<GeneratedKey>,
}

#[derive(Default)]
struct GeneratedKey {
    key: Option<String>,
    /// Counts the keys generated, so that a refusal retires only the key the refused request
    /// carried, not a newer one another request already fetched.
    generation: u64,
}

/// The key one request carries.
struct Key {
    value: String,
    /// Of a generated key; `None` for a configured one.
    generation: Option<u64>,
}

/// Why a request could not be made or answered.
enum Failure {
    /// Worth another try: a connection refused or reset, a timeout, a 5xx.
    Passing(String),
    /// Not until the target is reconfigured.
    Stop(String),
}

/// How sending one document ended.
enum End {
    Done,
    Stopped(String),
    Rejected { code: Option<u32>, message: String },
    Unreachable(String),
}

impl Target {
    /// The client for `config`: the web PKI roots plus its `ca_file`, its timeout, no redirects
    /// (a POST that is redirected loses its body: the URL is wrong, and the answer says so).
    pub fn new(config: &UseridTarget) -> anyhow::Result<Target> {
        if let (TargetKind::Agent, TargetAuth::ApiKey(key)) = (config.kind, &config.auth) {
            anyhow::ensure!(
                HeaderValue::from_str(&key.value).is_ok(),
                "userid target `{}`: the API key from {} cannot be sent as a header (control characters?)",
                config.name,
                key.from
            );
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("cefrelay/", env!("CARGO_PKG_VERSION")));
        for certificate in config.ca_file.iter().flat_map(|ca| &ca.certificates) {
            builder = builder.add_root_certificate(certificate.clone());
        }
        if config.tls_insecure {
            tracing::warn!(
                target = %config.name,
                url = %config.url,
                "tls_insecure: the User-ID target's certificate is not verified, so anyone on the path can read its API key and the mappings"
            );
            builder = builder.danger_accept_invalid_certs(true);
        }
        let endpoint = match config.kind {
            TargetKind::Firewall => format!("{}/api/", config.url),
            TargetKind::Agent => format!("{}/", config.url),
        };
        Ok(Target {
            shared: Arc::new(Shared {
                name: config.name.clone(),
                kind: config.kind,
                endpoint,
                auth: config.auth.clone(),
                vsys: config.vsys.clone(),
                serial: config.serial.clone(),
                batch_entries: config.batch_entries,
                retry_initial: config.retry_initial,
                retry_max: config.retry_max,
                client: builder.build()?,
                generated: tokio::sync::Mutex::new(GeneratedKey::default()),
            }),
        })
    }

    /// Sends the logins and logouts, in documents of at most `batch_entries` entries, until
    /// each was taken, refused or given up on. Dropping the future cancels the requests in
    /// flight.
    pub async fn push(&self, logins: &[Login], logouts: &[Logout]) -> Result<Pushed, PushError> {
        let documents = uid_messages(
            logins,
            logouts,
            self.shared.batch_entries,
            MAX_POST_BYTES - OTHER_FIELDS_BYTES,
        );
        let mut documents = documents.into_iter();
        // Where the next document's entries start in `logins` and `logouts`.
        let (mut login_at, mut logout_at) = (0, 0);
        // Dropped with the future: JoinSet aborts its tasks, so cancelling `push` cancels them.
        let mut in_flight = JoinSet::new();
        let mut pushed = Pushed::default();
        let mut rejected: Option<PushError> = None;
        let mut last_error = None;
        loop {
            while in_flight.len() < MAX_IN_FLIGHT {
                let Some(document) = documents.next() else {
                    break;
                };
                let entries = (
                    login_at..login_at + document.logins,
                    logout_at..logout_at + document.logouts,
                );
                (login_at, logout_at) = (entries.0.end, entries.1.end);
                let shared = self.shared.clone();
                in_flight.spawn(async move {
                    let (end, requests) = shared.deliver(&document).await;
                    (entries, end, requests)
                });
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let ((login_range, logout_range), end, requests) = match joined {
                Ok(delivered) => delivered,
                // Only a panic: the tasks are aborted only with the set.
                Err(error) => std::panic::resume_unwind(error.into_panic()),
            };
            pushed.requests += requests;
            match end {
                End::Done => {
                    pushed.logins += login_range.len();
                    pushed.logouts += logout_range.len();
                }
                // Returning drops the set, which aborts the requests still in flight.
                End::Stopped(reason) => return Err(PushError::Stopped { reason }),
                End::Rejected { code, message } => {
                    let more_logins = &logins[login_range];
                    let more_logouts = &logouts[logout_range];
                    match &mut rejected {
                        Some(PushError::Rejected {
                            logins, logouts, ..
                        }) => {
                            logins.extend_from_slice(more_logins);
                            logouts.extend_from_slice(more_logouts);
                        }
                        _ => {
                            rejected = Some(PushError::Rejected {
                                code,
                                message,
                                logins: more_logins.to_vec(),
                                logouts: more_logouts.to_vec(),
                            })
                        }
                    }
                }
                End::Unreachable(error) => last_error = Some(error),
            }
        }
        // Unreachable before rejected: the caller then pushes everything again, and the
        // rejected entries are refused and reported then.
        match (last_error, rejected) {
            (Some(last_error), _) => Err(PushError::Unreachable { last_error }),
            (None, Some(rejected)) => Err(rejected),
            (None, None) => Ok(pushed),
        }
    }
}

impl Shared {
    /// Sends one document until it is taken, refused, or [`MAX_ATTEMPTS`] tries failed; also
    /// says how many user-id requests that took.
    async fn deliver(&self, document: &UidMessage) -> (End, usize) {
        let mut requests = 0;
        let mut attempt = 0;
        let mut rekeyed = false;
        loop {
            attempt += 1;
            let failure = match self.key().await {
                Err(Failure::Stop(reason)) => return (End::Stopped(reason), requests),
                Err(Failure::Passing(error)) => error,
                Ok(key) => {
                    requests += 1;
                    match self.send(document, key.as_ref()).await {
                        Err(Failure::Stop(reason)) => return (End::Stopped(reason), requests),
                        Err(Failure::Passing(error)) => error,
                        Ok((status, answer)) => match message::verdict(status, &answer) {
                            Verdict::Done => return (End::Done, requests),
                            Verdict::Reject => {
                                let (code, message) = match answer {
                                    Answer::Error { code, message } => (code, message),
                                    Answer::Success => (None, format!("HTTP {status}")),
                                };
                                return (End::Rejected { code, message }, requests);
                            }
                            Verdict::Stop => {
                                let generation = key.as_ref().and_then(|key| key.generation);
                                match generation {
                                    // A generated key may have been revoked (the admin's
                                    // password changed, the firewall's master key rolled):
                                    // ask for a new one, once, before giving up.
                                    Some(generation)
                                        if !rekeyed && unauthorized(status, &answer) =>
                                    {
                                        rekeyed = true;
                                        self.retire_key(generation).await;
                                        attempt -= 1;
                                        continue;
                                    }
                                    _ => {
                                        return (
                                            End::Stopped(format!(
                                                "{} refused the request: {}",
                                                self.endpoint,
                                                describe(status, &answer)
                                            )),
                                            requests,
                                        )
                                    }
                                }
                            }
                            Verdict::Retry => describe(status, &answer),
                        },
                    }
                }
            };
            if attempt >= MAX_ATTEMPTS {
                return (End::Unreachable(failure), requests);
            }
            let wait = backoff(self.retry_initial, self.retry_max, attempt);
            tracing::debug!(target = %self.name, attempt, error = %failure, wait_ms = wait.as_millis() as u64, "User-ID push failed, will retry");
            tokio::time::sleep(wait).await;
        }
    }

    /// One request with one document; the HTTP status and what the body says.
    async fn send(
        &self,
        document: &UidMessage,
        key: Option<&Key>,
    ) -> Result<(u16, Answer), Failure> {
        let request = match self.kind {
            TargetKind::Firewall => {
                let mut form = vec![("type", "user-id")];
                if let Some(key) = key {
                    form.push(("key", &key.value));
                }
                form.push(("cmd", &document.xml));
                if let Some(vsys) = &self.vsys {
                    form.push(("vsys", vsys));
                }
                if let Some(serial) = &self.serial {
                    form.push(("target", serial));
                }
                self.post().form(&form)
            }
            TargetKind::Agent => {
                let mut request = self
                    .post()
                    .header(CONTENT_TYPE, "text/xml")
                    .body(document.xml.clone());
                if let Some(key) = key {
                    // Checked in `Target::new`.
                    if let Ok(mut value) = HeaderValue::from_str(&key.value) {
                        value.set_sensitive(true);
                        request = request.header("X-PAN-KEY", value);
                    }
                }
                request
            }
        };
        let response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(classify)?;
        Ok((status, message::parse_answer(&body)))
    }

    fn post(&self) -> reqwest::RequestBuilder {
        self.client.post(&self.endpoint)
    }

    /// The key the next request carries: the configured one, the one keygen gave, or a new one
    /// from keygen.
    async fn key(&self) -> Result<Option<Key>, Failure> {
        let (user, password) = match &self.auth {
            TargetAuth::None => return Ok(None),
            TargetAuth::ApiKey(key) => {
                return Ok(Some(Key {
                    value: key.value.clone(),
                    generation: None,
                }))
            }
            TargetAuth::Keygen { user, password } => (user, password),
        };
        let mut generated = self.generated.lock().await;
        if let Some(key) = &generated.key {
            return Ok(Some(Key {
                value: key.clone(),
                generation: Some(generated.generation),
            }));
        }
        let form = [
            ("type", "keygen"),
            ("user", user.as_str()),
            ("password", password.value.as_str()),
        ];
        let response = self
            .post()
            .form(&form)
            .send()
            .await
            .map_err(|e| keygen_failure(classify(e)))?;
        let status = response.status().as_u16();
        let body = response
            .text()
            .await
            .map_err(|e| keygen_failure(classify(e)))?;
        let answer = match message::keygen_key(&body) {
            Ok(key) if (200..300).contains(&status) => {
                generated.generation += 1;
                generated.key = Some(key.clone());
                return Ok(Some(Key {
                    value: key,
                    generation: Some(generated.generation),
                }));
            }
            Ok(_) => Answer::Success,
            Err(answer) => answer,
        };
        let why = format!(
            "keygen as `{user}` at {}: {}",
            self.endpoint,
            describe(status, &answer)
        );
        match message::verdict(status, &answer) {
            Verdict::Retry => Err(Failure::Passing(why)),
            _ => Err(Failure::Stop(why)),
        }
    }

    /// Forgets the generated key of `generation`, after the target refused it.
    async fn retire_key(&self, generation: u64) {
        let mut generated = self.generated.lock().await;
        if generated.generation == generation {
            generated.key = None;
        }
    }
}

fn keygen_failure(failure: Failure) -> Failure {
    match failure {
        Failure::Passing(error) => Failure::Passing(format!("keygen: {error}")),
        Failure::Stop(reason) => Failure::Stop(format!("keygen: {reason}")),
    }
}

/// A 401/403 or an answer that says the key is invalid or lacks the rights.
fn unauthorized(status: u16, answer: &Answer) -> bool {
    matches!(status, 401 | 403)
        || matches!(
            answer,
            Answer::Error {
                code: Some(16 | 403),
                ..
            }
        )
}

/// "HTTP 403, code 403: Invalid credential".
fn describe(status: u16, answer: &Answer) -> String {
    match answer {
        Answer::Success => format!("HTTP {status}"),
        Answer::Error {
            code: Some(code),
            message,
        } => format!("HTTP {status}, code {code}: {message}"),
        Answer::Error {
            code: None,
            message,
        } => format!("HTTP {status}: {message}"),
    }
}

/// A request that got no answer: an untrusted certificate stops the target (only a new
/// `ca_file` helps); anything else (refused, reset, timed out) passes.
fn classify(error: reqwest::Error) -> Failure {
    let chain = error_chain(&error);
    if refuses_certificate(&error) {
        Failure::Stop(format!(
            "{chain} (give the CA that signed the target's certificate as ca_file)"
        ))
    } else {
        Failure::Passing(chain)
    }
}

/// The error and its causes, `: `-joined: reqwest's own message says only "error sending
/// request".
fn error_chain(error: &reqwest::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Whether the request failed because the TLS library refused the server's certificate.
/// It sits inside `io::Error`s (two, with reqwest 0.12), whose `source()` skips what they wrap,
/// so each one is opened too.
fn refuses_certificate(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        let mut wrapped = Some(cause);
        while let Some(error) = wrapped {
            if let Some(
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented,
            ) = error.downcast_ref::<rustls::Error>()
            {
                return true;
            }
            wrapped = error
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|inner| inner as &(dyn std::error::Error + 'static));
        }
        source = cause.source();
    }
    false
}

#[cfg(test)]
mod fake_firewall;

#[cfg(test)]
mod tests;
