//! The generic HTTP sink (`type = "http"`): each event in the `cefrelay parse` JSON shape
//! ([`encoder`]), as NDJSON or a JSON array, with the configured headers and authentication
//! ([`service`]).

pub mod encoder;
pub mod service;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Url;

use std::sync::Arc;

use crate::config::raw::{BodyFormat, RawAuth, RawSink};
use crate::config::validate::{Secret, Validator};
use crate::config::{ConfigError, HttpSink};
use crate::sink::{DeliveryParts, Encode, Gzip, HttpDelivery, HttpSinkSettings, HttpSinkType};

/// This sink type, for the registry ([`crate::sink::HTTP_SINK_TYPES`]).
pub const SINK: HttpSinkType = HttpSinkType {
    name: "http",
    keys: &["url", "format", "headers", "auth"],
    validate: |check, key, raw| Ok(Arc::new(validate(check, key, raw)?)),
    max_batch_bytes: None,
    gzip: Gzip::Off,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub url: Url,
    pub format: BodyFormat,
    /// The configured extra headers, parsed.
    pub headers: HeaderMap,
    pub auth: HttpAuth,
}

impl HttpSinkSettings for Settings {
    fn sink_type(&self) -> &'static HttpSinkType {
        &SINK
    }

    fn encoder(&self) -> Arc<dyn Encode> {
        Arc::new(encoder::EventJsonEncoder)
    }

    fn delivery(
        &self,
        config: HttpSink,
        client: reqwest::Client,
        parts: DeliveryParts<'_>,
    ) -> Box<dyn HttpDelivery> {
        parts.task(config, service::HttpJson::new(self), client)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum HttpAuth {
    None,
    Bearer(Secret),
    Basic { user: String, password: Secret },
}

/// This sink's own keys of `raw`, validated; `key` names a key of this `[[sink]]` table.
pub fn validate(
    check: &Validator<'_>,
    key: &dyn Fn(&str) -> String,
    raw: &RawSink,
) -> Result<Settings, ConfigError> {
    let url = raw
        .url
        .as_ref()
        .ok_or_else(|| check.missing(key("url"), &raw.kind, SINK.name))?;
    let mut headers = HeaderMap::new();
    if let Some(map) = &raw.headers {
        for (name, value) in map.get_ref() {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.insert(name, value);
                }
                _ => {
                    return Err(check.error(
                        key("headers"),
                        Some(map.span()),
                        format!("`{name}` is not a valid HTTP header name and value"),
                    ))
                }
            }
        }
    }
    let base = check.url_base(key("url"), url)?;
    Ok(Settings {
        url: check.whole_url(key("url"), url, &base)?,
        format: raw
            .format
            .as_ref()
            .map_or(BodyFormat::Ndjson, |v| *v.get_ref()),
        headers,
        auth: match &raw.auth {
            None => HttpAuth::None,
            Some(auth) => http_auth(check, &key("auth"), auth)?,
        },
    })
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
