//! The Splunk HTTP Event Collector sink (`type = "splunk_hec"`): an event envelope per event with
//! the PAN-OS add-on's sourcetypes ([`encoder`]), and the indexer acknowledgement when asked for
//! ([`service`]).

pub mod encoder;
pub mod service;
#[cfg(test)]
mod tests;

use std::time::Duration;

use reqwest::Url;

use std::sync::Arc;

use crate::config::limits;
use crate::config::raw::RawSink;
use crate::config::validate::{Secret, Validator};
use crate::config::{ConfigError, HttpSink};
use crate::sink::{DeliveryParts, Encode, Gzip, HttpDelivery, HttpSinkSettings, HttpSinkType};
use encoder::{HecEncoder, HecOptions};

/// This sink type, for the registry ([`crate::sink::HTTP_SINK_TYPES`]).
pub const SINK: HttpSinkType = HttpSinkType {
    name: "splunk_hec",
    keys: &[
        "endpoint",
        "token_file",
        "token_env",
        "index",
        "source",
        "sourcetype",
        "host",
        "indexer_ack",
        "ack_timeout_secs",
        "ack_poll_interval_ms",
    ],
    validate: |check, key, raw| Ok(Arc::new(validate(check, key, raw)?)),
    max_batch_bytes: None,
    gzip: Gzip::On,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `…/services/collector/event`, where the events go.
    pub event_url: Url,
    /// `…/services/collector/ack`, where the indexer acknowledgements are asked for.
    pub ack_url: Url,
    pub token: Secret,
    /// What every envelope carries besides the event.
    pub envelope: HecOptions,
    pub indexer_ack: bool,
    pub ack_timeout: Duration,
    pub ack_poll_interval: Duration,
}

impl HttpSinkSettings for Settings {
    fn sink_type(&self) -> &'static HttpSinkType {
        &SINK
    }

    fn encoder(&self) -> Arc<dyn Encode> {
        Arc::new(HecEncoder(self.envelope.clone()))
    }

    fn delivery(
        &self,
        config: HttpSink,
        client: reqwest::Client,
        parts: DeliveryParts<'_>,
    ) -> Box<dyn HttpDelivery> {
        let service = service::SplunkHec::new(self, client.clone());
        parts.task(config, service, client)
    }
}

/// This sink's own keys of `raw`, validated; `key` names a key of this `[[sink]]` table.
pub fn validate(
    check: &Validator<'_>,
    key: &dyn Fn(&str) -> String,
    raw: &RawSink,
) -> Result<Settings, ConfigError> {
    let endpoint = raw
        .endpoint
        .as_ref()
        .ok_or_else(|| check.missing(key("endpoint"), &raw.kind, SINK.name))?;
    let base = check.url_base(key("endpoint"), endpoint)?;
    Ok(Settings {
        event_url: check.whole_url(
            key("endpoint"),
            endpoint,
            &format!("{base}/services/collector/event"),
        )?,
        ack_url: check.whole_url(
            key("endpoint"),
            endpoint,
            &format!("{base}/services/collector/ack"),
        )?,
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
        envelope: HecOptions {
            index: raw.index.as_ref().map(|v| v.get_ref().clone()),
            source: raw.source.as_ref().map(|v| v.get_ref().clone()),
            sourcetype: raw.sourcetype.as_ref().map(|v| v.get_ref().clone()),
            host: raw.host.as_ref().map(|v| v.get_ref().clone()),
        },
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
    })
}
