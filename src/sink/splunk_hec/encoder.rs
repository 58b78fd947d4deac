//! A Splunk HEC event envelope per event.

use bytes::{BufMut, BytesMut};
use cefrelay_panos::sourcetype;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use time::OffsetDateTime;

use crate::event::Enriched;
use crate::sink::json::{write_json, AddedFields};
use crate::sink::Encode;

/// Options of the Splunk HEC sink.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HecOptions {
    pub index: Option<String>,
    pub source: Option<String>,
    /// Overrides [`splunk_sourcetype`].
    pub sourcetype: Option<String>,
    /// Overrides the syslog hostname (or the sender's IP).
    pub host: Option<String>,
}

/// The Splunk sink's records: one event envelope per line.
#[derive(Debug)]
pub struct HecEncoder(pub HecOptions);

impl Encode for HecEncoder {
    fn encode(&self, event: &Enriched<'_, '_>, out: &mut BytesMut) {
        // HEC answers 400 to a blank `event` and would reject the whole request with it: an
        // event with nothing in it is left out rather than take its batch down.
        if event.text.trim().is_empty() {
            return;
        }
        write_hec(event, &self.0, out);
        out.put_u8(b'\n');
    }
}

/// One Splunk HEC event envelope (JSON object, no newline): `time` (epoch seconds with
/// millisecond decimals, from the syslog timestamp, else when the relay received the message),
/// `host` (the syslog hostname, else the sender's IP), `source` and `index` (left out when not
/// configured, so the HEC token's defaults apply), `sourcetype`, and `event` = the raw received
/// text, which is what the Splunk PAN-OS add-on parses.
///
/// Fields the enrich stage added go to `fields`, HEC's indexed fields (`threatAttackID::T1203`
/// in a search), flat as HEC requires. `event` stays the text line whatever was added: an
/// `{"raw", "enrich"}` object would become `_raw` and the add-on's extractions, written for the
/// line, would stop seeing it.
pub fn write_hec(message: &Enriched<'_, '_>, options: &HecOptions, out: &mut BytesMut) {
    write_json(out, &HecEnvelope { message, options });
}

/// The Splunk Add-on for Palo Alto Networks sourcetype for a PAN-OS log (`pan:traffic`,
/// `pan:threat`, ...), `cef` for any other CEF, and `syslog` for anything else.
pub fn splunk_sourcetype(message: &Enriched<'_, '_>) -> &'static str {
    if let Some(cef) = message.event.valid_cef() {
        return sourcetype::for_cef(&cef.device_vendor, &cef.name, &cef.signature_id)
            .unwrap_or("cef");
    }
    sourcetype::for_csv(message.event.syslog.msg).unwrap_or("syslog")
}

struct HecEnvelope<'m, 'e, 'a> {
    message: &'m Enriched<'e, 'a>,
    options: &'m HecOptions,
}

impl Serialize for HecEnvelope<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (message, options) = (self.message, self.options);
        let syslog = &message.event.syslog;
        let time = syslog.timestamp.unwrap_or(message.origin.received_at);
        let mut envelope = serializer.serialize_map(None)?;
        envelope.serialize_entry("time", &EpochMillis(time))?;
        match (&options.host, syslog.hostname) {
            (Some(host), _) => envelope.serialize_entry("host", host)?,
            (None, Some(host)) => envelope.serialize_entry("host", host)?,
            (None, None) => {
                envelope.serialize_entry("host", &format_args!("{}", message.origin.peer))?
            }
        }
        if let Some(source) = &options.source {
            envelope.serialize_entry("source", source)?;
        }
        let sourcetype = match &options.sourcetype {
            Some(sourcetype) => sourcetype.as_str(),
            None => splunk_sourcetype(message),
        };
        envelope.serialize_entry("sourcetype", sourcetype)?;
        if let Some(index) = &options.index {
            envelope.serialize_entry("index", index)?;
        }
        if !message.added.is_empty() {
            envelope.serialize_entry("fields", &AddedFields(message.added))?;
        }
        envelope.serialize_entry("event", message.text)?;
        envelope.end()
    }
}

/// Epoch seconds with the milliseconds as decimals: HEC's `time`. Milliseconds since 1970 stay far
/// below 2^53, so the division gives the double nearest the exact decimal, which serde_json writes
/// back as that decimal (`1612775149.123`).
struct EpochMillis(OffsetDateTime);

impl Serialize for EpochMillis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let millis = self.0.unix_timestamp_nanos().div_euclid(1_000_000);
        serializer.serialize_f64(millis as f64 / 1000.0)
    }
}
