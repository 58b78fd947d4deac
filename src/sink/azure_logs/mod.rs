//! The Azure Monitor Logs Ingestion API sink (`type = "azure_logs_ingestion"`): a
//! `CommonSecurityLog` row per event ([`encoder`], [`columns`]) posted as a gzipped JSON array to a
//! DCR stream, with an Entra ID token ([`service`]).

pub mod columns;
pub mod encoder;
pub mod service;
#[cfg(test)]
mod tests;
mod token;

use reqwest::Url;

use std::sync::Arc;

use crate::config::raw::{RawAuth, RawSink};
use crate::config::validate::{Secret, Validator};
use crate::config::{ConfigError, HttpSink};
use crate::sink::{DeliveryParts, Encode, Gzip, HttpDelivery, HttpSinkSettings, HttpSinkType};

/// This sink type, for the registry ([`crate::sink::HTTP_SINK_TYPES`]).
pub const SINK: HttpSinkType = HttpSinkType {
    name: "azure_logs_ingestion",
    keys: &["endpoint", "dcr_immutable_id", "stream", "auth"],
    validate: |check, key, raw| Ok(Arc::new(validate(check, key, raw)?)),
    max_batch_bytes: Some((
        MAX_BATCH_BYTES,
        "the Logs Ingestion API takes at most 1000000 bytes per call",
    )),
    // The API counts the 1 MB limit on the compressed body too; we always compress.
    gzip: Gzip::Always("the Azure sink always compresses its requests"),
};

/// The Logs Ingestion API takes at most 1 MB per call, compressed or not (specs §3b); the SDK
/// cuts at 1 MiB of uncompressed JSON. We stay under 1 000 000 bytes.
pub const MAX_BATCH_BYTES: usize = 1_000_000;
const API_VERSION: &str = "2023-01-01";
const DEFAULT_STREAM: &str = "Microsoft-CommonSecurityLog";
const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The audience as Microsoft's own ingestion samples write it (double slash included).
const DEFAULT_SCOPE: &str = "https://monitor.azure.com//.default";
const IMDS_TOKEN_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
const AZURE_MONITOR_RESOURCE: &str = "https://monitor.azure.com/";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The full POST URL: endpoint, DCR immutable id, stream and api-version.
    pub url: Url,
    pub auth: AzureAuth,
}

impl HttpSinkSettings for Settings {
    fn sink_type(&self) -> &'static HttpSinkType {
        &SINK
    }

    fn encoder(&self) -> Arc<dyn Encode> {
        Arc::new(encoder::CslEncoder)
    }

    fn delivery(
        &self,
        config: HttpSink,
        client: reqwest::Client,
        parts: DeliveryParts<'_>,
    ) -> Box<dyn HttpDelivery> {
        let service = service::AzureLogs::new(self, client.clone());
        parts.task(config, service, client)
    }
}

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

/// This sink's own keys of `raw`, validated; `key` names a key of this `[[sink]]` table.
pub fn validate(
    check: &Validator<'_>,
    key: &dyn Fn(&str) -> String,
    raw: &RawSink,
) -> Result<Settings, ConfigError> {
    let missing = |name: &str| check.missing(key(name), &raw.kind, SINK.name);
    let endpoint = raw.endpoint.as_ref().ok_or_else(|| missing("endpoint"))?;
    let endpoint = check.url_base(key("endpoint"), endpoint)?;
    let dcr = raw
        .dcr_immutable_id
        .as_ref()
        .ok_or_else(|| missing("dcr_immutable_id"))?;
    let stream = raw
        .stream
        .as_ref()
        .map_or(DEFAULT_STREAM, |s| s.get_ref().as_str());
    let auth = raw.auth.as_ref().ok_or_else(|| missing("auth"))?;
    let url = format!(
        "{endpoint}/dataCollectionRules/{}/streams/{stream}?api-version={API_VERSION}",
        dcr.get_ref()
    );
    Ok(Settings {
        url: check.whole_url(key("dcr_immutable_id"), dcr, &url)?,
        auth: azure_auth(check, &key("auth"), auth)?,
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
                .unwrap_or_else(|| DEFAULT_AUTHORITY.into())
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
                .unwrap_or_else(|| DEFAULT_SCOPE.into()),
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
