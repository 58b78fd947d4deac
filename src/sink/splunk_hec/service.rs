//! How Splunk HEC is spoken: envelopes one per line, the token as `Splunk <token>`, this relay's
//! channel on every request, and — when `indexer_ack` is on — the events count as delivered only
//! once the indexer says they are written. No answer within `ack_timeout` sends the request again.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::{RequestBuilder, Url};

use super::Settings;
use crate::sink::http::auth::Auth;
use crate::sink::http::read_answer;
use crate::sink::http::service::{Attempt, Service};

const CHANNEL_HEADER: &str = "X-Splunk-Request-Channel";

pub struct SplunkHec {
    event_url: Url,
    ack_url: Url,
    auth: Auth,
    /// Indexer acknowledgement is per channel: this relay's, for as long as it runs.
    channel: String,
    indexer_ack: bool,
    ack_timeout: Duration,
    ack_poll_interval: Duration,
    client: reqwest::Client,
}

impl SplunkHec {
    pub fn new(settings: &Settings, client: reqwest::Client) -> Self {
        let channel = uuid::Uuid::new_v4().to_string();
        let mut ack_url = settings.ack_url.clone();
        ack_url.query_pairs_mut().append_pair("channel", &channel);
        SplunkHec {
            event_url: settings.event_url.clone(),
            ack_url,
            auth: Auth::fixed(&format!("Splunk {}", settings.token.value)),
            channel,
            indexer_ack: settings.indexer_ack,
            ack_timeout: settings.ack_timeout,
            ack_poll_interval: settings.ack_poll_interval,
            client,
        }
    }
}

impl Service for SplunkHec {
    fn url(&self) -> &Url {
        &self.event_url
    }

    fn headers(&self) -> HeaderMap {
        HeaderMap::from_iter([(CONTENT_TYPE, HeaderValue::from_static("application/json"))])
    }

    fn json_array(&self) -> bool {
        false
    }

    fn request_header(&self, _request_id: &str) -> (&'static str, String) {
        (CHANNEL_HEADER, self.channel.clone())
    }

    async fn authorize(&self, request: RequestBuilder) -> Result<RequestBuilder, String> {
        Ok(self.auth.apply(request))
    }

    async fn accepted(&self, answer: &str) -> Attempt {
        if !self.indexer_ack {
            return Attempt::Delivered;
        }
        let Some(ack_id) = serde_json::from_str::<serde_json::Value>(answer)
            .ok()
            .and_then(|v| v.get("ackId").and_then(|id| id.as_u64()))
        else {
            return Attempt::Retry {
                after: None,
                reason: "indexer acknowledgement is on, but Splunk returned no ackId (is it enabled on the token?)".into(),
            };
        };
        let deadline = Instant::now() + self.ack_timeout;
        let query = serde_json::json!({ "acks": [ack_id] }).to_string();
        while Instant::now() < deadline {
            tokio::time::sleep(self.ack_poll_interval).await;
            let request = self
                .client
                .post(self.ack_url.clone())
                .header(CONTENT_TYPE, "application/json")
                .header(CHANNEL_HEADER, &self.channel)
                .body(query.clone());
            let Ok(response) = self.auth.apply(request).send().await else {
                continue;
            };
            let Ok(answer) = read_answer(response).await else {
                continue;
            };
            let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&answer) else {
                continue;
            };
            if answer["acks"][ack_id.to_string()].as_bool() == Some(true) {
                return Attempt::Delivered;
            }
        }
        Attempt::Retry {
            after: None,
            reason: format!(
                "no indexer acknowledgement for ackId {ack_id} within {} s",
                self.ack_timeout.as_secs()
            ),
        }
    }
}
