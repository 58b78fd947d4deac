//! How the Logs Ingestion API is spoken: a JSON array per request to the DCR stream's URL, an
//! Entra ID bearer token fetched again on 401, and a request id Azure's logs can be searched by.

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode, Url};

use super::token::TokenSource;
use super::Settings;
use crate::sink::http::service::{classify, Attempt, Service};

pub struct AzureLogs {
    url: Url,
    token: TokenSource,
}

impl AzureLogs {
    pub fn new(settings: &Settings, client: reqwest::Client) -> Self {
        AzureLogs {
            url: settings.url.clone(),
            token: TokenSource::new(settings.auth.clone(), client),
        }
    }
}

impl Service for AzureLogs {
    fn url(&self) -> &Url {
        &self.url
    }

    fn headers(&self) -> HeaderMap {
        HeaderMap::from_iter([(CONTENT_TYPE, HeaderValue::from_static("application/json"))])
    }

    fn json_array(&self) -> bool {
        true
    }

    fn request_header(&self, request_id: &str) -> (&'static str, String) {
        ("x-ms-client-request-id", request_id.to_string())
    }

    async fn authorize(&self, request: RequestBuilder) -> Result<RequestBuilder, String> {
        Ok(request.header(reqwest::header::AUTHORIZATION, self.token.bearer().await?))
    }

    async fn forget_token(&self) -> bool {
        self.token.forget().await;
        true
    }

    fn classify(
        &self,
        status: StatusCode,
        retry_after: Option<std::time::Duration>,
        reason: String,
    ) -> Attempt {
        classify(status, retry_after, reason, true)
    }
}
