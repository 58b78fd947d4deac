//! How the generic HTTP sink posts: NDJSON or a JSON array, the configured headers and
//! credentials, and an `Idempotency-Key` that stays the same on every retry of one request, so
//! that the far end can drop duplicates.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{RequestBuilder, Url};

use super::{HttpAuth, Settings};
use crate::config::BodyFormat;
use crate::sink::http::auth::Auth;
use crate::sink::http::service::Service;

pub struct HttpJson {
    url: Url,
    format: BodyFormat,
    headers: HeaderMap,
    auth: Auth,
}

impl HttpJson {
    pub fn new(settings: &Settings) -> Self {
        HttpJson {
            url: settings.url.clone(),
            format: settings.format,
            headers: settings.headers.clone(),
            auth: match &settings.auth {
                HttpAuth::None => Auth::None,
                HttpAuth::Bearer(token) => Auth::fixed(&format!("Bearer {}", token.value)),
                HttpAuth::Basic { user, password } => Auth::Basic {
                    user: user.clone(),
                    password: password.value.clone(),
                },
            },
        }
    }
}

impl Service for HttpJson {
    fn url(&self) -> &Url {
        &self.url
    }

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::from_iter([(
            CONTENT_TYPE,
            HeaderValue::from_static(match self.format {
                BodyFormat::Ndjson => "application/x-ndjson",
                BodyFormat::JsonArray => "application/json",
            }),
        )]);
        headers.extend(self.headers.clone());
        headers
    }

    fn json_array(&self) -> bool {
        self.format == BodyFormat::JsonArray
    }

    fn request_header(&self, request_id: &str) -> (&'static str, String) {
        ("Idempotency-Key", request_id.to_string())
    }

    async fn authorize(&self, request: RequestBuilder) -> Result<RequestBuilder, String> {
        Ok(self.auth.apply(request))
    }
}
