//! The HTTP sinks and the durable buffer against in-process HTTP servers: the documented
//! contracts (token request, headers, bodies) and the faults (5xx, 429, 413, 400, an outage, a
//! `kill -9` of the relay, a full disk buffer). Every test counts unique event ids.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::http_server::{HttpServer, Reply, Seen};
use crate::util::{
    cef_threat, cefrelay, free_port, wait_until, Agent, Ca, RefusingPort, Relay, PATIENCE,
};

/// A relay whose only outputs are the `[[sink]]`s in `sinks` (the agent forward is off unless
/// `sinks` has a [forward] table of its own).
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    sinks: RefCell<String>,
    port: Cell<u16>,
    admin: Cell<SocketAddr>,
}

impl Setup {
    fn new(sinks: &str) -> Setup {
        let setup = Setup::empty();
        setup.configure(sinks);
        setup
    }

    /// A directory and ports without a config yet, for tests that first write secret files. The
    /// ports are only the first start's: `start_with` starts again on fresh ones if one is taken.
    fn empty() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("cefrelay.toml");
        Setup {
            dir,
            config,
            sinks: RefCell::new(String::new()),
            port: Cell::new(free_port()),
            admin: Cell::new(SocketAddr::from(([127, 0, 0, 1], free_port()))),
        }
    }

    fn configure(&self, sinks: &str) {
        let forward = if sinks.contains("[forward]") {
            ""
        } else {
            "[forward]\nenabled = false\n"
        };
        let text = format!(
            "state_dir = \"{state}\"\nshutdown_grace_secs = 2\n[admin]\nlisten = \"{admin}\"\n\
             [[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n{forward}{sinks}",
            state = self.dir.path().join("state").display(),
            admin = self.admin.get(),
            port = self.port.get(),
        );
        std::fs::write(&self.config, text).expect("write config");
        *self.sinks.borrow_mut() = sinks.to_string();
    }

    fn start(&self) -> Relay {
        self.start_with(|_| {})
    }

    /// Starts the relay, with `customize` adding to its command (environment, standard error).
    /// Should a port be taken by another test meanwhile, it starts again on fresh ports.
    fn start_with(&self, customize: impl Fn(&mut Command)) -> Relay {
        let launch = || {
            let mut command = cefrelay();
            command
                .args(["run", "--config", self.config.to_str().expect("utf-8 path")])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null());
            customize(&mut command);
            Relay::try_spawn(command, self.port.get(), self.admin.get())
        };
        // The ports the config has first: a restart keeps them, and a test may hold one.
        launch()
            .or_else(|| {
                let sinks = self.sinks.borrow().clone();
                Relay::on_fresh_ports(|port, admin| {
                    self.port.set(port);
                    self.admin.set(admin);
                    self.configure(&sinks);
                    launch()
                })
            })
            .expect("the relay did not start in six tries")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write file");
        path
    }
}

fn send(port: u16, ids: impl Iterator<Item = usize>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
    let mut text = String::new();
    for id in ids {
        text.push_str(&cef_threat(id));
        text.push('\n');
    }
    stream.write_all(text.as_bytes()).expect("send");
}

/// The `externalId` of every event the server accepted (2xx) across its requests.
fn delivered_ids(requests: &[Seen], accepted: impl Fn(&Seen) -> bool) -> Vec<usize> {
    let mut ids = Vec::new();
    for request in requests.iter().filter(|r| accepted(r)) {
        let text = request.text();
        for part in text.split("externalId=").skip(1) {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            ids.push(digits.parse().expect("an id"));
        }
    }
    ids
}

fn unique(ids: &[usize]) -> BTreeSet<usize> {
    ids.iter().copied().collect()
}

/// Every id the server received, once each.
fn delivered(server: &HttpServer) -> BTreeSet<usize> {
    unique(&delivered_ids(&server.requests(), |_| true))
}

/// A sink that is down, and its URL: a port held with nothing listening until the test starts
/// the server there (`HttpServer::start_on`), so no other test's server or relay can answer.
fn down_sink() -> (RefusingPort, String) {
    let down = RefusingPort::new();
    let url = format!("http://127.0.0.1:{}", down.port);
    (down, url)
}

/// A generic sink whose requests go to `url`, plus `extra` settings (which may set their own
/// `batch_timeout_ms`).
fn generic_sink(url: &str, extra: &str) -> String {
    let batch_timeout = if extra.contains("batch_timeout_ms") {
        ""
    } else {
        "batch_timeout_ms = 50\n"
    };
    format!(
        "[[sink]]\nname = \"web\"\ntype = \"http\"\nurl = \"{url}/ingest\"\n{batch_timeout}\
         retry_initial_ms = 50\nretry_max_ms = 1000\n{extra}\n"
    )
}

#[test]
fn azure_sink_follows_the_logs_ingestion_contract() {
    let token_requests = Arc::new(AtomicUsize::new(0));
    let ingest_requests = Arc::new(AtomicUsize::new(0));
    let (tokens, ingests) = (token_requests.clone(), ingest_requests.clone());
    let server = HttpServer::start(move |seen| {
        if seen.path().ends_with("/oauth2/v2.0/token") {
            let n = tokens.fetch_add(1, Ordering::SeqCst) + 1;
            return Reply::json(
                200,
                serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": format!("token-{n}")}),
            );
        }
        // The first ingestion call finds its token revoked: the sink must fetch one once more.
        if ingests.fetch_add(1, Ordering::SeqCst) == 0 {
            return Reply::status(401);
        }
        Reply::status(204)
    });
    let setup = Setup::empty();
    let secret = setup.write("secret", "s3cr3t-value\n");
    let sink = format!(
        "[[sink]]\nname = \"sentinel\"\ntype = \"azure_logs_ingestion\"\nendpoint = \"{url}\"\n\
         dcr_immutable_id = \"dcr-0123456789abcdef\"\nstream = \"Custom-CefRelayCommonSecurityLog\"\n\
         batch_timeout_ms = 100\n\
         auth = {{ type = \"client_secret\", tenant_id = \"tenant-1\", client_id = \"app-1\", \
         client_secret_file = \"{secret}\", authority = \"{url}\" }}\n",
        url = server.url(),
        secret = secret.display()
    );
    setup.configure(&sink);
    let relay = setup.start();
    let line = "<14>Nov 22 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1.8|spyware|THREAT|4|src=192.0.2.10 dst=198.51.100.7 spt=51000 dpt=443 cn1Label=SessionID cn1=4242 PanOSThreatCategory=spyware externalId=7";
    let mut stream = TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    send(relay.port, 100..150);

    let accepted = |seen: &Seen| seen.path().contains("/dataCollectionRules/");
    assert!(
        wait_until(PATIENCE, || {
            let requests = server.requests();
            // CommonSecurityLog rows carry the CEF externalId in the ExtID column.
            let ext_ids: BTreeSet<String> = requests
                .iter()
                .filter(|r| accepted(r) && r.header("authorization") == Some("Bearer token-2"))
                .flat_map(|r| r.records())
                .filter_map(|row| row["ExtID"].as_str().map(str::to_string))
                .collect();
            ext_ids.len() == 51
        }),
        "not every event reached the ingestion endpoint: {:?}",
        server
            .requests()
            .iter()
            .map(|r| r.uri.clone())
            .collect::<Vec<_>>()
    );
    let requests = server.requests();
    let token_calls = server.requests_to("/tenant-1/oauth2/v2.0/token");
    assert_eq!(
        token_calls.len(),
        2,
        "one token, then one more after the 401, and no more"
    );
    let form: Vec<(String, String)> = token_calls[0]
        .text()
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    for expected in [
        ("client_id", "app-1"),
        ("client_secret", "s3cr3t-value"),
        ("grant_type", "client_credentials"),
        ("scope", "https%3A%2F%2Fmonitor.azure.com%2F%2F.default"),
    ] {
        assert!(
            form.contains(&(expected.0.to_string(), expected.1.to_string())),
            "token form {form:?} lacks {expected:?}"
        );
    }
    assert_eq!(
        token_calls[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );

    let ingest: Vec<&Seen> = requests.iter().filter(|r| accepted(r)).collect();
    assert_eq!(ingest[0].header("authorization"), Some("Bearer token-1"));
    for request in &ingest {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.uri,
            "/dataCollectionRules/dcr-0123456789abcdef/streams/Custom-CefRelayCommonSecurityLog?api-version=2023-01-01"
        );
        assert!(request.gzipped, "the body is gzip-compressed");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(request.header("x-ms-client-request-id").is_some());
        assert!(request.body.len() <= 1_000_000);
    }
    let rows: Vec<serde_json::Value> = ingest[1..].iter().flat_map(|r| r.records()).collect();
    let row = rows
        .iter()
        .find(|row| row["ExtID"] == "7")
        .expect("the spyware row");
    assert_eq!(row["DeviceVendor"], "Palo Alto Networks");
    assert_eq!(row["DeviceProduct"], "PAN-OS");
    assert_eq!(row["Activity"], "THREAT");
    assert_eq!(row["DeviceEventClassID"], "spyware");
    assert_eq!(row["LogSeverity"], "4");
    assert_eq!(row["SourceIP"], "192.0.2.10");
    assert_eq!(
        row["DestinationPort"], 443,
        "an int column is a JSON number"
    );
    assert_eq!(row["SourcePort"], 51000);
    assert_eq!(row["Computer"], "fw01");
    assert!(
        row["AdditionalExtensions"]
            .as_str()
            .is_some_and(|extra| extra.contains("PanOSThreatCategory=spyware")),
        "{row}"
    );
    let time = row["TimeGenerated"].as_str().expect("TimeGenerated");
    assert!(time.ends_with('Z') && time.contains('T'), "{time}");
    // The secret is in no log line: stderr is inherited, so check the metrics text instead.
    assert!(!relay.try_metrics().unwrap().contains("s3cr3t"));
    drop(relay);
}

#[test]
fn azure_sink_uses_the_managed_identity_when_configured() {
    let server = HttpServer::start(|seen| {
        if seen.path() == "/metadata/identity/oauth2/token" {
            // The metadata service sends expires_in as a string.
            return Reply::json(
                200,
                serde_json::json!({"access_token": "mi-token", "expires_in": "86399", "token_type": "Bearer"}),
            );
        }
        Reply::status(204)
    });
    let sink = format!(
        "[[sink]]\nname = \"sentinel\"\ntype = \"azure_logs_ingestion\"\nendpoint = \"{url}\"\n\
         dcr_immutable_id = \"dcr-1\"\nbatch_timeout_ms = 50\n\
         auth = {{ type = \"managed_identity\", client_id = \"mi-client\", endpoint = \"{url}/metadata/identity/oauth2/token\" }}\n",
        url = server.url()
    );
    let setup = Setup::new(&sink);
    let relay = setup.start();
    send(relay.port, 0..10);
    assert!(wait_until(PATIENCE, || {
        unique(&delivered_ids(&server.requests(), |r| {
            r.path().contains("/streams/")
        }))
        .len()
            == 10
            || server
                .requests_to("/dataCollectionRules/")
                .iter()
                .flat_map(|r| r.records())
                .count()
                == 10
    }));
    let identity = server.requests_to("/metadata/identity/oauth2/token");
    assert_eq!(identity.len(), 1);
    assert_eq!(identity[0].method, "GET");
    assert_eq!(identity[0].header("metadata"), Some("true"));
    assert!(identity[0].uri.contains("api-version=2018-02-01"));
    assert!(identity[0]
        .uri
        .contains("resource=https%3A%2F%2Fmonitor.azure.com%2F"));
    assert!(identity[0].uri.contains("client_id=mi-client"));
    let ingest =
        server.requests_to("/dataCollectionRules/dcr-1/streams/Microsoft-CommonSecurityLog");
    assert!(!ingest.is_empty());
    assert!(ingest
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer mi-token")));
    drop(relay);
}

#[test]
fn splunk_hec_sends_envelopes_and_waits_for_the_indexer_acknowledgement() {
    let next_ack = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    let (acks, poll_count) = (next_ack.clone(), polls.clone());
    let server = HttpServer::start(move |seen| {
        if seen.path() == "/services/collector/ack" {
            // Not yet on the first poll, then yes for every id asked.
            let first = poll_count.fetch_add(1, Ordering::SeqCst) == 0;
            let asked: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
            let answers: serde_json::Map<String, serde_json::Value> = asked["acks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|id| (id.to_string(), serde_json::Value::Bool(!first)))
                .collect();
            return Reply::json(200, serde_json::json!({ "acks": answers }));
        }
        let id = acks.fetch_add(1, Ordering::SeqCst);
        Reply::json(
            200,
            serde_json::json!({"text": "Success", "code": 0, "ackId": id}),
        )
    });
    let setup = Setup::empty();
    setup.write("hec-token", "11111111-2222-3333-4444-555555555555\n");
    let sink = format!(
        "[[sink]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{url}\"\ntoken_file = \"{token}\"\n\
         index = \"firewall\"\nindexer_ack = true\nack_poll_interval_ms = 100\nbatch_timeout_ms = 50\n",
        url = server.url(),
        token = setup.path("hec-token").display()
    );
    setup.configure(&sink);
    let relay = setup.start();
    send(relay.port, 0..40);
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_sink_sent_events_total{sink=\"splunk\"}")
        == 40));
    assert!(
        polls.load(Ordering::SeqCst) >= 2,
        "acknowledgements were polled"
    );
    let events = server.requests_to("/services/collector/event");
    let channel = events[0]
        .header("x-splunk-request-channel")
        .expect("a channel")
        .to_string();
    assert_eq!(channel.len(), 36, "a GUID");
    for request in &events {
        assert_eq!(
            request.header("authorization"),
            Some("Splunk 11111111-2222-3333-4444-555555555555")
        );
        assert_eq!(
            request.header("x-splunk-request-channel"),
            Some(channel.as_str())
        );
    }
    for poll in server.requests_to("/services/collector/ack") {
        assert_eq!(
            poll.uri,
            format!("/services/collector/ack?channel={channel}")
        );
    }
    let envelopes: Vec<serde_json::Value> = events.iter().flat_map(|r| r.records()).collect();
    assert_eq!(unique(&delivered_ids(&events, |_| true)).len(), 40);
    let envelope = &envelopes[0];
    assert_eq!(envelope["sourcetype"], "pan:threat");
    assert_eq!(envelope["index"], "firewall");
    assert_eq!(envelope["host"], "fw01");
    assert!(envelope["time"].is_number());
    assert!(envelope["event"]
        .as_str()
        .is_some_and(|e| e.contains("CEF:0|Palo Alto Networks|PAN-OS")));
    drop(relay);
}

#[test]
fn generic_sink_posts_the_parse_shape_with_auth_and_headers() {
    let server = HttpServer::start(|_| Reply::status(200));
    let setup = Setup::empty();
    setup.write("password", "hunter2\n");
    let sink = generic_sink(
        &server.url(),
        &format!(
            "headers = {{ \"X-Tenant\" = \"blue\" }}\nauth = {{ type = \"basic\", user = \"relay\", password_file = \"{}\" }}",
            setup.path("password").display()
        ),
    );
    setup.configure(&sink);
    let relay = setup.start();
    send(relay.port, 0..25);
    assert!(wait_until(PATIENCE, || delivered(&server).len() == 25));
    let requests = server.requests();
    for request in &requests {
        assert_eq!(request.path(), "/ingest");
        assert_eq!(request.header("content-type"), Some("application/x-ndjson"));
        // base64("relay:hunter2")
        assert_eq!(
            request.header("authorization"),
            Some("Basic cmVsYXk6aHVudGVyMg==")
        );
        assert_eq!(request.header("x-tenant"), Some("blue"));
        assert!(request.header("idempotency-key").is_some());
        assert!(!request.gzipped);
    }
    let record = &requests[0].records()[0];
    for key in ["status", "syslog", "cef", "message"] {
        assert!(record.get(key).is_some(), "{record}");
    }
    assert_eq!(record["cef"]["name"], "THREAT");
    assert_eq!(record["syslog"]["hostname"], "fw01");
    drop(relay);
}

#[test]
fn https_sink_trusts_exactly_the_configured_ca() {
    let ca = Ca::new("cefrelay test sink CA");
    let (cert, key) = ca.issue(&["127.0.0.1"], rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let server = HttpServer::start_tls(&cert, &key, |_| Reply::status(200));

    // Without the CA: the handshake fails, nothing is delivered, the events wait in the buffer.
    let untrusting = Setup::new(&generic_sink(&server.url(), ""));
    let relay = untrusting.start();
    send(relay.port, 0..10);
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_sink_retries_total{sink=\"web\"}")
        >= 2));
    assert!(server.requests().is_empty());
    assert_eq!(held(&relay), 10);
    drop(relay);

    let trusting = Setup::empty();
    let ca_file = trusting.write("sink-ca.pem", &ca.pem);
    trusting.configure(&generic_sink(
        &server.url(),
        &format!(
            "ca_file = \"{}\"\nformat = \"json_array\"",
            ca_file.display()
        ),
    ));
    let relay = trusting.start();
    send(relay.port, 0..10);
    assert!(wait_until(PATIENCE, || delivered(&server).len() == 10));
    let request = &server.requests()[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request.text().starts_with('['), "a JSON array body");
    drop(relay);
}

#[test]
fn the_harness_starts_again_on_fresh_ports_when_one_was_taken() {
    let server = HttpServer::start(|_| Reply::status(204));
    let setup = Setup::empty();
    // Another process holds the listen port: the first start exits (bind error), the retry works.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    setup.port.set(squatter.local_addr().unwrap().port());
    setup.configure(&generic_sink(&server.url(), ""));
    let relay = setup.start();
    assert_ne!(relay.port, squatter.local_addr().unwrap().port());
    send(relay.port, 0..3);
    assert!(wait_until(PATIENCE, || delivered(&server).len() == 3));
    drop(relay);
}

#[test]
fn an_idle_sink_that_has_not_failed_counts_as_reachable() {
    let server = HttpServer::start(|_| Reply::status(204));
    let setup = Setup::new(&generic_sink(&server.url(), ""));
    let relay = setup.start();
    let (status, body) = relay.admin_get("/health").expect("/health answers");
    assert!(status.contains("200"), "{status}: {body}");
    assert_eq!(relay.metric("cefrelay_sink_connected{sink=\"web\"}"), 1);
    drop(relay);
}

#[test]
fn an_http_proxy_from_the_environment_is_used() {
    // The "proxy" is a test server on loopback: the relay sends it the request for a host that
    // does not resolve, as a proxy client does, and nothing leaves the machine.
    let proxy = HttpServer::start(|_| Reply::status(204));
    let setup = Setup::new(&generic_sink("http://sink.example.invalid", ""));
    let relay = setup.start_with(|command| {
        command.env("HTTP_PROXY", proxy.url());
    });
    send(relay.port, 0..10);
    assert!(wait_until(PATIENCE, || delivered(&proxy).len() == 10));
    let request = &proxy.requests()[0];
    assert_eq!(request.header("host"), Some("sink.example.invalid"));
    assert_eq!(request.path(), "/ingest");
    drop(relay);
}

#[test]
fn server_errors_are_retried_until_nothing_is_lost() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = HttpServer::start(move |_| {
        let call = counter.fetch_add(1, Ordering::SeqCst);
        if call == 0 {
            // An answer far larger than any real one: read up to a limit, then a retry.
            Reply {
                body: "x".repeat(4 * 1024 * 1024),
                ..Reply::status(500)
            }
        } else if call < 3 {
            Reply::status(500)
        } else {
            Reply::status(204)
        }
    });
    let setup = Setup::new(&generic_sink(&server.url(), ""));
    let relay = setup.start();
    send(relay.port, 0..300);
    let ok = |seen: &Seen| !seen.body.is_empty();
    assert!(wait_until(PATIENCE, || {
        relay.metric("cefrelay_sink_sent_events_total{sink=\"web\"}") == 300
    }));
    let requests = server.requests();
    let accepted: Vec<Seen> = requests[3..].to_vec();
    assert_eq!(unique(&delivered_ids(&accepted, ok)), (0..300).collect());
    assert!(relay.metric("cefrelay_sink_retries_total{sink=\"web\"}") >= 3);
    assert_eq!(
        relay.metric("cefrelay_sink_requests_total{sink=\"web\",status=\"500\"}"),
        3
    );
    drop(relay);
}

#[test]
fn retry_after_is_honoured() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let server = HttpServer::start(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::status(429).header("Retry-After", "2")
        } else {
            Reply::status(204)
        }
    });
    let setup = Setup::new(&generic_sink(&server.url(), ""));
    let relay = setup.start();
    send(relay.port, 0..10);
    assert!(wait_until(PATIENCE, || server.requests().len() >= 2));
    let requests = server.requests();
    let waited = requests[1].at - requests[0].at;
    // A lower bound only: the relay must not come back before the far end said it may.
    assert!(
        waited >= Duration::from_millis(1950),
        "retried after {waited:?} despite Retry-After: 2"
    );
    assert_eq!(unique(&delivered_ids(&requests[1..], |_| true)).len(), 10);
    drop(relay);
}

#[test]
fn too_large_requests_are_split_until_they_fit() {
    let server = HttpServer::start(|seen| {
        if seen.records().len() > 10 {
            Reply::status(413)
        } else {
            Reply::status(204)
        }
    });
    let setup = Setup::new(&generic_sink(&server.url(), "batch_timeout_ms = 500"));
    let relay = setup.start();
    send(relay.port, 0..200);
    let small = |seen: &Seen| seen.records().len() <= 10;
    assert!(wait_until(PATIENCE, || {
        unique(&delivered_ids(&server.requests(), small)).len() == 200
    }));
    assert!(
        server.requests().iter().any(|r| !small(r)),
        "the first request was over the far end's limit"
    );
    assert_eq!(
        relay.metric("cefrelay_sink_dead_lettered_events_total{sink=\"web\"}"),
        0
    );
    drop(relay);
}

#[test]
fn rejected_batches_go_to_the_dead_letter_file_and_the_rest_continue() {
    let server = HttpServer::start(|seen| {
        if seen.text().contains("externalId=666") {
            Reply::status(400).header("Content-Type", "application/json")
        } else {
            Reply::status(204)
        }
    });
    let setup = Setup::new(&generic_sink(&server.url(), ""));
    let relay = setup.start();
    send(relay.port, 666..667);
    assert!(wait_until(PATIENCE, || relay.metric(
        "cefrelay_sink_dead_lettered_events_total{sink=\"web\"}"
    ) == 1));
    send(relay.port, 0..50);
    let accepted = |seen: &Seen| !seen.text().contains("externalId=666");
    assert!(wait_until(PATIENCE, || {
        unique(&delivered_ids(&server.requests(), accepted)).len() == 50
    }));
    let dead_letter = setup.path("state/dead-letter/web.ndjson");
    let text = std::fs::read_to_string(&dead_letter).expect("the dead-letter file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["status"], 400);
    assert_eq!(lines[0]["sink"], "web");
    assert!(lines[0]["record"]["message"]
        .as_str()
        .unwrap()
        .contains("externalId=666"));
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.text().contains("externalId=666"))
            .count(),
        1,
        "a rejected batch is not retried"
    );
    drop(relay);
}

/// Events the sink holds: waiting in its buffer, or read into a request not yet delivered.
fn held(relay: &Relay) -> u64 {
    relay.metric("cefrelay_sink_queue_depth{sink=\"web\"}")
        + relay.metric("cefrelay_sink_unreleased_events{sink=\"web\"}")
}

fn disk_buffer(extra: &str) -> String {
    format!("buffer = {{ type = \"disk\", max_bytes = 67108864, segment_bytes = 1048576{extra} }}")
}

#[test]
fn thirty_second_outage_with_a_disk_buffer_loses_nothing() {
    let (down, url) = down_sink();
    let setup = Setup::new(&generic_sink(&url, &disk_buffer("")));
    let relay = setup.start();
    send(relay.port, 0..2000);
    assert!(wait_until(PATIENCE, || held(&relay) == 2000));
    std::thread::sleep(Duration::from_secs(30));
    let (status, body) = relay.admin_get("/health").expect("/health answers");
    assert!(status.contains("503"), "{status}");
    assert!(body.contains("not reachable: web"), "{body}");
    assert!(relay.metric("cefrelay_sink_retries_total{sink=\"web\"}") > 0);
    assert_eq!(
        relay.metric("cefrelay_sink_sent_events_total{sink=\"web\"}"),
        0
    );
    let server = HttpServer::start_on(down.port, |_| Reply::status(204));
    assert!(wait_until(PATIENCE, || {
        delivered(&server).len() == 2000
    }));
    assert!(wait_until(PATIENCE, || held(&relay) == 0));
    let (status, _) = relay.admin_get("/health").expect("/health answers");
    assert!(status.contains("200"), "{status}");
    drop(relay);
}

#[test]
fn sigterm_with_the_sink_down_keeps_a_disk_buffer_for_the_next_start() {
    let (down, url) = down_sink();
    let setup = Setup::new(&generic_sink(&url, &disk_buffer("")));
    let mut relay = setup.start();
    send(relay.port, 0..300);
    assert!(wait_until(PATIENCE, || held(&relay) == 300));
    relay.signal("TERM");
    // The grace period (2 s) runs out with the sink still down: nothing is lost, so exit 0.
    let status = relay.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));

    let server = HttpServer::start_on(down.port, |_| Reply::status(204));
    let relay = setup.start();
    assert!(wait_until(PATIENCE, || delivered(&server).len() == 300));
    assert_eq!(
        relay.metric("cefrelay_sink_replayed_events_total{sink=\"web\"}"),
        300
    );
    drop(relay);
}

#[test]
fn a_damaged_disk_buffer_entry_is_skipped_and_counted_and_the_rest_is_delivered() {
    let (down, url) = down_sink();
    let setup = Setup::new(&generic_sink(&url, &disk_buffer("")));
    let mut relay = setup.start();
    // Three sends a moment apart: at least three entries in the log.
    for round in 0..3 {
        send(relay.port, round * 100..(round + 1) * 100);
        assert!(wait_until(PATIENCE, || held(&relay) == (round as u64 + 1) * 100));
    }
    relay.child.kill().expect("kill -9");
    relay.child.wait().expect("reap");

    // Bit rot in the middle of the log: one entry fails its checksum.
    let segments: Vec<PathBuf> = std::fs::read_dir(setup.path("state/buffer/web"))
        .expect("the buffer directory")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    let mut bytes = std::fs::read(&segments[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&segments[0], bytes).unwrap();

    let server = HttpServer::start_on(down.port, |_| Reply::status(204));
    let relay = setup.start();
    send(relay.port, 1000..1001);
    assert!(wait_until(PATIENCE, || {
        delivered(&server).contains(&1000) && held(&relay) == 0
    }));
    assert_eq!(
        relay.metric("cefrelay_sink_buffer_corrupt_entries_total{sink=\"web\"}"),
        1
    );
    let replayed = delivered(&server).iter().filter(|&&id| id < 300).count();
    assert!(
        (100..300).contains(&replayed),
        "only the damaged entry is lost: {replayed} of 300 replayed"
    );
    drop(relay);
}

#[test]
fn kill_9_with_a_disk_buffer_loses_nothing_over_http() {
    const EVENTS: usize = 3000;
    // A slow far end: the relay is killed with most events still buffered.
    let server = HttpServer::start(|_| Reply::status(204).after(Duration::from_millis(100)));
    let setup = Setup::new(&generic_sink(
        &server.url(),
        &format!(
            "concurrency = 1\nmax_batch_events = 100\n{}",
            disk_buffer("")
        ),
    ));
    let mut relay = setup.start();
    send(relay.port, 0..EVENTS);
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_received_frames_total")
        == EVENTS as u64));
    assert!(wait_until(PATIENCE, || {
        !delivered_ids(&server.requests(), |_| true).is_empty()
    }));
    relay.child.kill().expect("kill -9");
    relay.child.wait().expect("reap");
    let before = delivered(&server).len();
    assert!(before < EVENTS, "killed mid-stream ({before} delivered)");

    let relay = setup.start();
    assert!(
        wait_until(Duration::from_secs(120), || {
            delivered(&server).len() == EVENTS
        }),
        "after the restart only {} of {EVENTS} ids arrived",
        delivered(&server).len()
    );
    assert!(relay.metric("cefrelay_sink_replayed_events_total{sink=\"web\"}") > 0);
    drop(relay);
}

#[test]
fn a_full_buffer_that_drops_newest_counts_the_drops_and_never_stalls_the_sender() {
    const EVENTS: usize = 5000;
    let (down, url) = down_sink();
    let setup = Setup::new(&generic_sink(
        &url,
        "buffer = { type = \"memory\", max_events = 512, when_full = \"drop_newest\" }",
    ));
    let relay = setup.start();
    send(relay.port, 0..EVENTS);
    // Every frame is read although the sink is down: the buffer drops instead of pushing back.
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_received_frames_total")
        == EVENTS as u64));
    let dropped =
        || relay.metric("cefrelay_sink_dropped_events_total{sink=\"web\",reason=\"buffer_full\"}");
    let held = held(&relay);
    assert!(dropped() > 0);
    assert_eq!(
        dropped() + held,
        EVENTS as u64,
        "every event is held or counted as dropped"
    );

    let server = HttpServer::start_on(down.port, |_| Reply::status(204));
    assert!(wait_until(PATIENCE, || {
        delivered(&server).len() as u64 == held
    }));
    drop(relay);
}

#[test]
fn a_full_disk_buffer_that_blocks_throttles_the_tcp_sender_and_loses_nothing() {
    const EVENTS: usize = 40_000;
    let (down, url) = down_sink();
    let setup = Setup::new(&generic_sink(
        &url,
        "max_batch_events = 5000\nbuffer = { type = \"disk\", max_bytes = 1048576, segment_bytes = 65536, when_full = \"block\" }",
    ));
    let relay = setup.start();
    let sent = Arc::new(AtomicUsize::new(0));
    let sent_by_sender = sent.clone();
    let relay_port = relay.port;
    let sender = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", relay_port)).expect("connect");
        for id in 0..EVENTS {
            stream
                .write_all(format!("{}\n", cef_threat(id)).as_bytes())
                .expect("send");
            sent_by_sender.store(id + 1, Ordering::SeqCst);
        }
    });
    // The buffer fills, the relay stops reading, the socket buffers fill, the sender stalls.
    let stalled = wait_until(PATIENCE, || {
        let before = sent.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1500));
        before < EVENTS && sent.load(Ordering::SeqCst) == before
    });
    assert!(stalled, "the sender was never held back");
    assert!(relay.metric("cefrelay_sink_buffered_bytes{sink=\"web\"}") <= 1048576);
    assert_eq!(
        relay.metric("cefrelay_sink_dropped_events_total{sink=\"web\",reason=\"buffer_full\"}"),
        0
    );
    let server = HttpServer::start_on(down.port, |_| Reply::status(204));
    sender
        .join()
        .expect("the sender finishes once the sink is back");
    assert!(wait_until(Duration::from_secs(120), || {
        delivered(&server).len() == EVENTS
    }));
    drop(relay);
}

#[test]
fn kill_9_with_a_disk_buffer_loses_nothing_on_the_agent_forward() {
    const EVENTS: usize = 3000;
    // A slow agent: the relay is killed with most events still buffered.
    let agent = Agent::start(0, Duration::from_millis(1));
    let setup = Setup::new(&format!(
        "[forward]\naddress = [\"tcp://{}\"]\nformat = \"raw\"\n{}\n",
        agent.address,
        disk_buffer("")
    ));
    let mut relay = setup.start();
    send(relay.port, 0..EVENTS);
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_received_frames_total")
        == EVENTS as u64));
    assert!(wait_until(PATIENCE, || agent.count() > 0));
    relay.child.kill().expect("kill -9");
    relay.child.wait().expect("reap");
    let ids_of = |lines: Vec<String>| -> BTreeSet<usize> {
        lines
            .iter()
            .filter_map(|l| l.split("externalId=").nth(1))
            .map(|id| id.parse().expect("an id"))
            .collect()
    };
    assert!(ids_of(agent.lines()).len() < EVENTS, "killed mid-stream");

    let relay = setup.start();
    assert!(
        wait_until(Duration::from_secs(120), || ids_of(agent.lines()).len()
            == EVENTS),
        "after the restart only {} of {EVENTS} ids reached the agent",
        ids_of(agent.lines()).len()
    );
    drop(relay);
}

#[test]
fn secrets_never_reach_the_log_even_at_trace_level() {
    // Every endpoint refuses, so every error path that could echo a credential runs.
    let server = HttpServer::start(|seen| {
        if seen.path().ends_with("/oauth2/v2.0/token") {
            return Reply::json(
                401,
                serde_json::json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
            );
        }
        Reply::status(403)
    });
    let secrets = [
        "azure-secret-value-1234",
        "hec-token-value-5678",
        "bearer-token-value-9012",
    ];
    let setup = Setup::empty();
    let files: Vec<PathBuf> = ["azure", "hec", "bearer"]
        .iter()
        .zip(secrets)
        .map(|(name, secret)| setup.write(name, &format!("{secret}\n")))
        .collect();
    setup.configure(&format!(
        "[[sink]]\nname = \"sentinel\"\ntype = \"azure_logs_ingestion\"\nendpoint = \"{url}\"\n\
         dcr_immutable_id = \"dcr-1\"\nbatch_timeout_ms = 50\nretry_initial_ms = 50\n\
         auth = {{ type = \"client_secret\", tenant_id = \"t\", client_id = \"c\", \
         client_secret_file = \"{azure}\", authority = \"{url}\" }}\n\
         [[sink]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{url}\"\n\
         token_file = \"{hec}\"\nbatch_timeout_ms = 50\nretry_initial_ms = 50\n\
         [[sink]]\nname = \"web\"\ntype = \"http\"\nurl = \"{url}/ingest\"\nbatch_timeout_ms = 50\n\
         retry_initial_ms = 50\nauth = {{ type = \"bearer\", token_file = \"{bearer}\" }}\n",
        url = server.url(),
        azure = files[0].display(),
        hec = files[1].display(),
        bearer = files[2].display(),
    ));
    let log_path = setup.path("relay.log");
    let relay = setup.start_with(|command| {
        command
            .env("RUST_LOG", "trace")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).expect("log file"));
    });
    send(relay.port, 0..5);
    for sink in ["sentinel", "splunk", "web"] {
        let retries = format!("cefrelay_sink_retries_total{{sink=\"{sink}\"}}");
        assert!(
            wait_until(PATIENCE, || relay.metric(&retries) >= 3),
            "{sink} retried"
        );
    }
    drop(relay);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("will retry"), "the refusals were logged");
    for secret in secrets {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
}

#[test]
fn sink_configuration_errors_name_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (toml, expected) in [
        (
            "[[sink]]\nname = \"a\"\ntype = \"azure_logs_ingestion\"\nendpoint = \"https://x\"\ndcr_immutable_id = \"d\"\nauth = { type = \"client_secret\", tenant_id = \"t\", client_id = \"c\", client_secret_env = \"CEFRELAY_TEST_UNSET_SECRET\" }\n",
            "cefrelay.toml:6: key `sink[0].auth.client_secret_env`: the environment variable CEFRELAY_TEST_UNSET_SECRET is not set",
        ),
        (
            "[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nindex = \"main\"\n",
            "cefrelay.toml:5: key `sink[0].index`: does not apply to a http sink",
        ),
        (
            // Once silently ignored on every sink type but Splunk's.
            "[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nack_poll_interval_ms = 500\n",
            "cefrelay.toml:5: key `sink[0].ack_poll_interval_ms`: does not apply to a http sink",
        ),
        (
            "[[sink]]\nname = \"a\"\ntype = \"log_analytics\"\n",
            "cefrelay.toml:3: key `sink[0].type`: `log_analytics` is not a sink type",
        ),
        (
            "[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\nbuffer = { type = \"disk\", max_bytes = 10 }\n",
            "cefrelay.toml:5: key `sink[0].buffer.max_bytes`: a disk buffer needs at least",
        ),
        (
            "[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://x\"\n[[sink]]\nname = \"a\"\ntype = \"http\"\nurl = \"http://y\"\n",
            "cefrelay.toml:6: key `sink[1].name`: the name `a` is taken",
        ),
    ] {
        let path = dir.path().join("cefrelay.toml");
        std::fs::write(&path, toml).unwrap();
        let output = cefrelay()
            .args(["check-config", path.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(64), "{toml}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(expected),
            "for\n{toml}\nexpected `{expected}` in:\n{stderr}"
        );
    }
}

#[test]
fn a_sink_with_its_own_filter_gets_what_the_agent_filter_drops_and_the_agent_does_not() {
    let server = HttpServer::start(|_| Reply::status(200));
    let agent = Agent::start(0, Duration::ZERO);
    let sinks = format!(
        "[filter]\nmode = \"cef\"\n[forward]\naddress = [\"tcp://{}\"]\n{}",
        agent.address,
        generic_sink(&server.url(), "filter = \"all\"")
    );
    let setup = Setup::new(&sinks);
    let relay = setup.start();
    let traffic = "<14>Nov 22 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|TRAFFIC|1|src=192.0.2.1 externalId=1001";
    let plain = "<14>Nov 22 10:00:00 fw01 sshd[7]: not CEF at all externalId=1002";
    let mut stream = TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    let mut text = format!("{traffic}\n{plain}\n");
    for id in 0..5 {
        text.push_str(&cef_threat(id));
        text.push('\n');
    }
    stream.write_all(text.as_bytes()).expect("send");
    drop(stream);
    let everything: BTreeSet<usize> = [0, 1, 2, 3, 4, 1001, 1002].into();
    assert!(wait_until(PATIENCE, || delivered(&server) == everything));
    assert!(wait_until(PATIENCE, || agent.count() == 5));
    assert!(
        agent.lines().iter().all(|line| line.contains("|THREAT|")),
        "{:?}",
        agent.lines()
    );
    assert_eq!(
        relay.metric("cefrelay_sink_filtered_events_total{sink=\"agent\"}"),
        2
    );
    assert_eq!(
        relay.metric("cefrelay_sink_filtered_events_total{sink=\"web\"}"),
        0
    );
    // The agent filter's own rows still count the global decisions.
    assert_eq!(
        relay.metric("cefrelay_filter_total{action=\"drop\",reason=\"traffic\"}"),
        1
    );
}

#[test]
fn pan_os_csv_reaches_azure_as_typed_rows_splunk_as_the_original_csv_and_json_with_its_columns() {
    let server = HttpServer::start(|seen| {
        if seen.path() == "/metadata/identity/oauth2/token" {
            return Reply::json(
                200,
                serde_json::json!({"access_token": "mi-token", "expires_in": "86399"}),
            );
        }
        if seen.path() == "/services/collector/event" {
            return Reply::json(200, serde_json::json!({"text": "Success", "code": 0}));
        }
        Reply::status(204)
    });
    let setup = Setup::empty();
    setup.write("hec-token", "11111111-2222-3333-4444-555555555555\n");
    let sinks = format!(
        "[[sink]]\nname = \"sentinel\"\ntype = \"azure_logs_ingestion\"\nendpoint = \"{url}\"\n\
         dcr_immutable_id = \"dcr-1\"\nbatch_timeout_ms = 50\n\
         auth = {{ type = \"managed_identity\", endpoint = \"{url}/metadata/identity/oauth2/token\" }}\n\
         [[sink]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nendpoint = \"{url}\"\n\
         token_file = \"{token}\"\nbatch_timeout_ms = 50\n{json}",
        url = server.url(),
        token = setup.path("hec-token").display(),
        json = generic_sink(&server.url(), ""),
    );
    setup.configure(&sinks);
    let relay = setup.start();
    let lines: Vec<String> =
        std::fs::read_to_string(crate::util::project_path("fixtures/panos/threat.log"))
            .expect("read the fixture")
            .lines()
            .filter(|line| !line.trim().is_empty() && !line.contains("CEF:"))
            .map(str::to_string)
            .collect();
    let mut stream = TcpStream::connect(("127.0.0.1", relay.port)).expect("connect");
    for line in &lines {
        stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }
    drop(stream);
    let records = |path: &str| -> Vec<serde_json::Value> {
        server
            .requests_to(path)
            .iter()
            .flat_map(|request| request.records())
            .collect()
    };
    assert!(wait_until(PATIENCE, || {
        records("/dataCollectionRules/").len() == lines.len()
            && records("/services/collector/event").len() == lines.len()
            && records("/ingest").len() == lines.len()
    }));
    for record in records("/ingest") {
        // The parse JSON: the CEF converted from the CSV, and the CSV's columns by name.
        assert_eq!(record["cef"]["name"], "THREAT", "{record}");
        assert_eq!(record["panos"]["type"], "THREAT", "{record}");
        assert_eq!(
            record["panos"]["fields"]["src"],
            record["cef"]["extensions"]["src"]
        );
    }
    for row in records("/dataCollectionRules/") {
        assert_eq!(row["DeviceVendor"], "Palo Alto Networks", "{row}");
        assert_eq!(row["DeviceProduct"], "PAN-OS", "{row}");
        assert_eq!(row["Activity"], "THREAT", "{row}");
        assert!(row["DestinationPort"].is_i64(), "typed: {row}");
        // Some CSV line with this sequence number carries these columns.
        let seqno = row["ExtID"].as_str().expect("the sequence number");
        let columns: Vec<String> = ["SourceIP", "DestinationIP", "DeviceExternalID"]
            .iter()
            .map(|column| format!(",{},", row[*column].as_str().expect("a string column")))
            .chain([format!(",{seqno},")])
            .collect();
        assert!(
            lines
                .iter()
                .any(|line| columns.iter().all(|column| line.contains(column.as_str()))),
            "no CSV line has {columns:?}: {row}"
        );
    }
    for event in records("/services/collector/event") {
        assert_eq!(event["sourcetype"], "pan:threat", "{event}");
        let text = event["event"].as_str().expect("the event text");
        assert!(
            text.contains(",THREAT,") && !text.contains("CEF:"),
            "the original CSV: {text}"
        );
    }
}
