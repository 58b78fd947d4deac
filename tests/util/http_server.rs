//! An in-process HTTP/1.1 server (hyper) that records every request, its body decompressed, and
//! answers as the test says: the far end of the HTTP sinks.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    /// Gunzipped when the request said `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    pub gzipped: bool,
    pub at: Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or_default()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON records of the body: an array's elements, or one object per line.
    pub fn records(&self) -> Vec<serde_json::Value> {
        let text = self.text();
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(serde_json::Value::Array(items)) => items,
            _ => serde_json::Deserializer::from_str(&text)
                .into_iter::<serde_json::Value>()
                .map(|v| v.expect("a JSON record"))
                .collect(),
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Held this long before answering: a slow far end.
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            body: body.to_string(),
            ..Reply::status(status)
        }
        .header("Content-Type", "application/json")
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// An XML answer, as PAN-OS's XML API gives.
    pub fn xml(status: u16, body: &str) -> Reply {
        Reply {
            body: body.to_string(),
            ..Reply::status(status)
        }
        .header("Content-Type", "application/xml")
    }

    pub fn after(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

type Respond = dyn Fn(&Seen) -> Reply + Send + Sync;

pub struct HttpServer {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    runtime: Option<tokio::runtime::Runtime>,
    scheme: &'static str,
}

impl HttpServer {
    pub fn start(respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> HttpServer {
        Self::start_on(0, respond)
    }

    /// On `port`, held by a `RefusingPort` until now (a sink that comes back): tokio binds with
    /// SO_REUSEADDR, which lets it listen beside the holder.
    pub fn start_on(
        port: u16,
        respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> HttpServer {
        Self::serve(port, None, respond)
    }

    /// HTTPS with the certificate and key (PEM) given; `url()` then says `https://`.
    pub fn start_tls(
        cert_pem: &str,
        key_pem: &str,
        respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> HttpServer {
        use rustls::pki_types::pem::PemObject;
        let chain = rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("certificate PEM");
        let key =
            rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::serve(0, Some(acceptor), respond)
    }

    fn serve(
        port: u16,
        tls: Option<tokio_rustls::TlsAcceptor>,
        respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> HttpServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test server runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("bind the test HTTP server");
        let address = listener.local_addr().expect("local address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let respond: Arc<Respond> = Arc::new(respond);
        let seen_by_server = seen.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (seen, respond) = (seen_by_server.clone(), respond.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let (seen, respond) = (seen.clone(), respond.clone());
                        async move {
                            let record = record(request).await;
                            let reply = respond(&record);
                            seen.lock().expect("lock").push(record);
                            if !reply.delay.is_zero() {
                                tokio::time::sleep(reply.delay).await;
                            }
                            let mut response = hyper::Response::builder().status(reply.status);
                            for (name, value) in &reply.headers {
                                response = response.header(name, value);
                            }
                            response.body(Full::new(Bytes::from(reply.body)))
                        }
                    });
                    let _ = match tls {
                        None => {
                            http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(stream) => {
                                http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await
                            }
                            // A client that does not trust us hangs up in the handshake.
                            Err(_) => return,
                        },
                    };
                });
            }
        });
        HttpServer {
            address,
            seen,
            runtime: Some(runtime),
            scheme,
        }
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    /// Requests to paths starting with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|seen| seen.path().starts_with(prefix))
            .collect()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn record(request: hyper::Request<Incoming>) -> Seen {
    let method = request.method().to_string();
    let uri = request
        .uri()
        .path_and_query()
        .map_or_else(String::new, |p| p.to_string());
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let raw = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes().to_vec())
        .unwrap_or_default();
    let gzipped = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-encoding") && v == "gzip");
    let body = if gzipped {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("a gzip body");
        out
    } else {
        raw
    };
    Seen {
        method,
        uri,
        headers,
        body,
        gzipped,
        at: Instant::now(),
    }
}
