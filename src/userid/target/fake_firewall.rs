//! A PAN-OS firewall's User-ID XML API, or a Windows User-ID agent's, over HTTPS on 127.0.0.1:
//! the far end of the target tests. It is strict where PAN-OS is (the form's `type`, `key` and
//! `vsys`; a `<uid-message>` that does not parse is code 18, an unknown key 403), keeps the
//! mapping table the messages build, records every request, and can be told to fail the next
//! requests or to be down (its port refusing connections) for a while.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The API the fake speaks.
#[derive(Debug, Clone)]
pub enum Api {
    /// `POST /api/` with a form. `vsys` is what the requests must name (`None`: they name none).
    Firewall {
        key: String,
        vsys: Option<String>,
        /// The user and password keygen takes; it hands out `key-1`, `key-2`, … and those are
        /// valid too.
        keygen: Option<(String, String)>,
    },
    /// `POST /` with the raw `<uid-message>`; `key` is the `X-PAN-KEY` it requires, if any.
    Agent { key: Option<String> },
}

/// What the next scripted requests get instead of being served.
#[derive(Debug, Clone, Copy)]
pub enum Trouble {
    /// This HTTP status, with an error body.
    Status(u16),
    /// HTTP 200 with `<response status="error" code="N">`.
    Code(u32),
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `user-id`, `keygen` (firewall), `agent`, or the form's unknown `type`.
    pub kind: String,
    pub key: Option<String>,
    pub vsys: Option<String>,
    /// The form's `target` (a firewall's serial, through Panorama).
    pub serial: Option<String>,
    pub logins: usize,
    pub logouts: usize,
    /// The HTTP status and the error code answered.
    pub status: u16,
    pub code: Option<u32>,
}

pub struct FakeFirewall {
    /// `https://127.0.0.1:PORT`, as a target's `url`.
    pub url: String,
    /// The CA that signed its certificate, as PEM: a target's `ca_file`.
    pub ca_pem: String,
    state: Arc<Mutex<State>>,
    down: tokio::sync::mpsc::Sender<Duration>,
    server: tokio::task::JoinHandle<()>,
}

struct State {
    api: Api,
    keys_issued: Vec<String>,
    /// Every key is refused by user-id requests, even fresh ones, while keygen still hands them
    /// out: an admin whose role lacks the User-ID rights.
    refuse_all_keys: bool,
    mappings: BTreeMap<IpAddr, (String, u32)>,
    requests: Vec<Seen>,
    troubles: VecDeque<Trouble>,
    /// Each request is held this long before it is answered.
    hold: Duration,
    in_flight: usize,
    max_in_flight: usize,
}

impl FakeFirewall {
    pub async fn start(api: Api) -> FakeFirewall {
        let ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        let mut ca_params = ca;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake firewall CA");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca_pem = ca_params.self_signed(&ca_key).expect("CA").pem();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let mut leaf =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf params");
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "fw.example.net");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
        let chain = rustls::pki_types::CertificateDer::pem_slice_iter(leaf_cert.pem().as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes())
                .expect("key PEM");
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State {
            api,
            keys_issued: Vec::new(),
            refuse_all_keys: false,
            mappings: BTreeMap::new(),
            requests: Vec::new(),
            troubles: VecDeque::new(),
            hold: Duration::ZERO,
            in_flight: 0,
            max_in_flight: 0,
        }));
        let (down, down_requests) = tokio::sync::mpsc::channel(4);
        let server = tokio::spawn(serve(
            listener,
            address,
            acceptor,
            state.clone(),
            down_requests,
        ));
        FakeFirewall {
            url: format!("https://{address}"),
            ca_pem,
            state,
            down,
            server,
        }
    }

    /// The next `count` user-id requests get `trouble` and change nothing.
    pub fn fail_next(&self, count: usize, trouble: Trouble) {
        let mut state = self.state.lock().expect("lock");
        state.troubles.extend(std::iter::repeat_n(trouble, count));
    }

    /// Closes the port and every open connection; listens again after `pause`.
    pub fn down_for(&self, pause: Duration) {
        self.down.try_send(pause).expect("the server is running");
    }

    /// Refuses every key in user-id requests from now on, fresh ones included.
    pub fn refuse_all_keys(&self) {
        self.state.lock().expect("lock").refuse_all_keys = true;
    }

    /// Refuses the keys keygen issued so far (an admin's password changed); new ones work.
    pub fn revoke_issued_keys(&self) {
        let mut state = self.state.lock().expect("lock");
        let revoked = state.keys_issued.len();
        state.keys_issued = vec![String::new(); revoked];
    }

    /// Holds every request this long before answering it.
    pub fn hold_requests(&self, hold: Duration) {
        self.state.lock().expect("lock").hold = hold;
    }

    /// Address → (user, timeout in minutes).
    pub fn mappings(&self) -> BTreeMap<IpAddr, (String, u32)> {
        self.state.lock().expect("lock").mappings.clone()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().expect("lock").requests.clone()
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().expect("lock").max_in_flight
    }
}

impl Drop for FakeFirewall {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn serve(
    mut listener: TcpListener,
    address: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<Mutex<State>>,
    mut down_requests: tokio::sync::mpsc::Receiver<Duration>,
) {
    // Aborted with this task, and when the fake goes down: the connections close with it.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    connections.spawn(connection(stream, acceptor.clone(), state.clone()));
                }
            }
            Some(pause) = down_requests.recv() => {
                connections.abort_all();
                drop(listener);
                tokio::time::sleep(pause).await;
                // tokio binds with SO_REUSEADDR: the port is ours again at once.
                listener = TcpListener::bind(address).await.expect("listen again");
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(
    stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    state: Arc<Mutex<State>>,
) {
    // A client that does not trust the certificate hangs up in the handshake.
    let Ok(stream) = acceptor.accept(stream).await else {
        return;
    };
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let state = state.clone();
        async move {
            let hold = {
                let mut state = state.lock().expect("lock");
                state.in_flight += 1;
                state.max_in_flight = state.max_in_flight.max(state.in_flight);
                state.hold
            };
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            tokio::time::sleep(hold).await;
            let (status, reply) = {
                let mut state = state.lock().expect("lock");
                state.in_flight -= 1;
                state.answer(&parts, &body)
            };
            hyper::Response::builder()
                .status(status)
                .header("Content-Type", "application/xml")
                .body(Full::new(Bytes::from(reply)))
        }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// PAN-OS's answers.
fn success(result: &str) -> String {
    format!("<response status=\"success\"><result>{result}</result></response>")
}

fn error(code: u32, message: &str) -> String {
    format!(
        "<response status=\"error\" code=\"{code}\"><msg><line>{message}</line></msg></response>"
    )
}

impl State {
    /// Serves one request: the HTTP status and body, the request recorded.
    fn answer(&mut self, parts: &hyper::http::request::Parts, body: &[u8]) -> (u16, String) {
        let mut seen = Seen {
            kind: String::new(),
            key: None,
            vsys: None,
            serial: None,
            logins: 0,
            logouts: 0,
            status: 200,
            code: None,
        };
        let (status, reply) = self.serve(parts, body, &mut seen);
        seen.status = status;
        seen.code = match cefrelay_userid::message::parse_answer(&reply) {
            cefrelay_userid::message::Answer::Error { code, .. } => code,
            cefrelay_userid::message::Answer::Success => None,
        };
        self.requests.push(seen);
        (status, reply)
    }

    fn serve(
        &mut self,
        parts: &hyper::http::request::Parts,
        body: &[u8],
        seen: &mut Seen,
    ) -> (u16, String) {
        if parts.method != hyper::Method::POST {
            return (405, error(400, "POST only"));
        }
        let xml = match self.api.clone() {
            Api::Firewall { key, vsys, keygen } => {
                if parts.uri.path() != "/api/" {
                    return (404, "<html>not found</html>".into());
                }
                let form: BTreeMap<String, String> =
                    form_urlencoded::parse(body).into_owned().collect();
                seen.kind = form.get("type").cloned().unwrap_or_default();
                seen.key = form.get("key").cloned();
                seen.vsys = form.get("vsys").cloned();
                seen.serial = form.get("target").cloned();
                match seen.kind.as_str() {
                    "keygen" => return self.keygen(&form, keygen.as_ref()),
                    "user-id" => {}
                    _ => return (400, error(400, "Missing or unknown type")),
                }
                let known = seen.key.as_ref().is_some_and(|given| {
                    *given == key || self.keys_issued.iter().any(|k| k == given)
                });
                if !known || self.refuse_all_keys {
                    return (403, error(403, "Invalid Credential"));
                }
                if seen.vsys != vsys {
                    return (400, error(400, "Invalid vsys"));
                }
                let Some(cmd) = form.get("cmd") else {
                    return (400, error(400, "Missing parameter cmd"));
                };
                cmd.clone()
            }
            Api::Agent { key } => {
                seen.kind = "agent".into();
                if parts.uri.path() != "/" {
                    return (404, "<html>not found</html>".into());
                }
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                seen.key = header("x-pan-key");
                if key.is_some() && seen.key != key {
                    return (403, error(403, "Invalid Credential"));
                }
                if header("content-type").as_deref() != Some("text/xml") {
                    return (400, error(400, "Content-Type: text/xml expected"));
                }
                String::from_utf8_lossy(body).into_owned()
            }
        };
        if let Some(trouble) = self.troubles.pop_front() {
            return match trouble {
                Trouble::Status(status) => (status, error(status.into(), "scripted trouble")),
                Trouble::Code(code) => (200, error(code, "scripted trouble")),
            };
        }
        match parse_uid_message(&xml) {
            Ok(update) => {
                seen.logins = update.logins.len();
                seen.logouts = update.logouts.len();
                // PAN-OS processes the logins first.
                for (ip, user, timeout) in update.logins {
                    self.mappings.insert(ip, (user, timeout));
                }
                for ip in update.logouts {
                    self.mappings.remove(&ip);
                }
                (200, success(""))
            }
            Err(why) => (200, error(18, &format!("Malformed command: {why}"))),
        }
    }

    fn keygen(
        &mut self,
        form: &BTreeMap<String, String>,
        credentials: Option<&(String, String)>,
    ) -> (u16, String) {
        let given = (form.get("user"), form.get("password"));
        match credentials {
            Some((user, password)) if given == (Some(user), Some(password)) => {
                let key = format!("key-{}", self.keys_issued.len() + 1);
                self.keys_issued.push(key.clone());
                (200, success(&format!("<key>{key}</key>")))
            }
            _ => (403, error(403, "Invalid Credential")),
        }
    }
}

struct Update {
    logins: Vec<(IpAddr, String, u32)>,
    logouts: Vec<IpAddr>,
}

/// A `<uid-message>` of type update, read as strictly as the schema: anything else is code 18.
fn parse_uid_message(xml: &str) -> Result<Update, String> {
    let document = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let root = document.root_element();
    if !root.has_tag_name("uid-message") {
        return Err(format!("root <{}>", root.tag_name().name()));
    }
    let child = |name: &str| root.children().find(|n| n.has_tag_name(name));
    let text = |name: &str| child(name).and_then(|n| n.text());
    if !matches!(text("version"), Some("1.0" | "2.0")) {
        return Err("version".into());
    }
    if text("type") != Some("update") {
        return Err("type".into());
    }
    let payload = child("payload").ok_or("no payload")?;
    let mut update = Update {
        logins: Vec::new(),
        logouts: Vec::new(),
    };
    for section in payload.children().filter(|n| n.is_element()) {
        for entry in section.children().filter(|n| n.is_element()) {
            if !entry.has_tag_name("entry") {
                return Err(format!("<{}> in a section", entry.tag_name().name()));
            }
            let ip: IpAddr = entry
                .attribute("ip")
                .and_then(|ip| ip.parse().ok())
                .ok_or("entry without a valid ip")?;
            match section.tag_name().name() {
                "login" => {
                    let name = entry.attribute("name").ok_or("login without name")?;
                    let timeout = entry
                        .attribute("timeout")
                        .map(|t| t.parse::<u32>().map_err(|_| "timeout"))
                        .transpose()?
                        .unwrap_or(45);
                    update.logins.push((ip, name.to_string(), timeout));
                }
                // The name is optional: the address's mapping ends whoever it was.
                "logout" => update.logouts.push(ip),
                other => return Err(format!("section <{other}>")),
            }
        }
    }
    Ok(update)
}
