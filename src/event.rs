//! A received message as the relay understands it: the syslog header, the CEF record when there is
//! one, the PAN-OS log when it is one, and the JSON shape (`cefrelay parse`, HTTP sinks) that
//! other tools depend on.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::LazyLock;

use cefrelay_cef::{Cef, CefError, Key};
use cefrelay_panos::cef_header::{cef_type, CefType, CAT};
use cefrelay_panos::log::Log;
use cefrelay_syslog::{Format, Message, ParseOptions, SdElement, Status};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use time::OffsetDateTime;

/// One parsed message. Borrows from the received text; nothing is copied unless unescaping forces it.
#[derive(Debug)]
pub struct Event<'a> {
    pub syslog: Message<'a>,
    /// `None` when the message carries no CEF marker; `Some(Err)` when it does but the record is invalid.
    pub cef: Option<Result<Cef<'a>, CefError>>,
    /// The received bytes were not valid UTF-8 and were decoded lossily (U+FFFD replacements).
    pub lossy_utf8: bool,
    /// The PAN-OS log, when the message is in PAN-OS's default CSV format.
    pub panos_csv: Option<Log<'a>>,
    /// The CEF record the PAN-OS CSV was converted to (`[panos] csv = "convert"`); `cef` then
    /// holds it parsed. `None` for a message that carried its own CEF, or none.
    pub converted: Option<&'a str>,
}

/// Where a message came from, for the fields a sender left out.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub peer: IpAddr,
    pub received_at: OffsetDateTime,
}

/// An event on its way to the sinks, as every encoder takes it: the parsed event, the frame it
/// came from, and the fields that the enrich stage added. `format = "raw"` forwards `received`
/// byte for byte, so it cannot carry added fields; every format that rebuilds the message can.
#[derive(Debug, Clone, Copy)]
pub struct Enriched<'e, 'a> {
    pub event: &'e Event<'a>,
    /// The frame as received.
    pub received: &'e [u8],
    /// `received` as text (decoded lossily when it was not UTF-8).
    pub text: &'e str,
    pub origin: Origin,
    /// Fields the enrich stage added, in the order added.
    pub added: &'e [(&'static str, Cow<'a, str>)],
}

/// How much of a message was understood, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    /// Header fully parsed, and the CEF record (if any) is valid.
    Ok,
    /// Something was understood, something was not (kept verbatim in `message`).
    Partial,
    /// Nothing was recognised; `message` is the whole input.
    Raw,
}

impl<'a> Event<'a> {
    /// Parses the syslog header, then looks for CEF where devices put it: after the header (including
    /// the `CEF:` that `logger -t CEF:` turns into a TAG).
    pub fn parse(text: &'a str, lossy_utf8: bool, options: &ParseOptions) -> Self {
        let syslog = cefrelay_syslog::parse(text, options);
        let cef = cefrelay_cef::parse_in_message(syslog.body);
        // Only a message without any CEF marker can be PAN-OS CSV.
        let panos_csv = match cef {
            None => cefrelay_panos::csv::parse(syslog.msg),
            Some(_) => None,
        };
        Event {
            syslog,
            cef,
            lossy_utf8,
            panos_csv,
            converted: None,
        }
    }

    /// The PAN-OS log type of a CEF record from a Palo Alto Networks device.
    pub fn panos_cef(&self) -> Option<CefType<'_>> {
        let cef = self.valid_cef()?;
        cef_type(
            &cef.device_vendor,
            &cef.device_product,
            &cef.signature_id,
            &cef.name,
            || Some(cef.extensions.entry_of(&CAT)?.1),
        )
    }

    /// The valid CEF record, if the message carries one.
    pub fn valid_cef(&self) -> Option<&Cef<'a>> {
        self.cef.as_ref().and_then(|cef| cef.as_ref().ok())
    }

    pub fn status(&self) -> EventStatus {
        let cef_ok = !matches!(self.cef, Some(Err(_)));
        match self.syslog.status {
            Status::Raw if self.valid_cef().is_none() => EventStatus::Raw,
            Status::Ok if cef_ok && !self.lossy_utf8 => EventStatus::Ok,
            _ => EventStatus::Partial,
        }
    }
}

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let cef_error = match &self.cef {
            Some(Err(error)) => Some(error.to_string()),
            _ => None,
        };
        let fields = 5 + usize::from(cef_error.is_some()) + usize::from(self.lossy_utf8);
        let mut out = serializer.serialize_struct("Event", fields)?;
        out.serialize_field("status", &self.status())?;
        out.serialize_field("syslog", &SyslogJson(&self.syslog))?;
        out.serialize_field("cef", &self.valid_cef().map(CefJson))?;
        if let Some(error) = &cef_error {
            out.serialize_field("cef_error", error)?;
        }
        out.serialize_field("panos", &PanOsJson(self))?;
        out.serialize_field("message", self.syslog.msg)?;
        if self.lossy_utf8 {
            out.serialize_field("invalid_utf8", &true)?;
        }
        out.end()
    }
}

/// `{"type", "subtype", "version", "serial", "fields": {…}, "extra": […]}` for a PAN-OS log, CSV
/// (its columns by PAN-OS's format variables) or CEF (its type from the header; the fields are in
/// `cef`); `null` for anything else.
struct PanOsJson<'m, 'a>(&'m Event<'a>);

/// Where PAN-OS's CEF writes the firewall's serial number: read for every PAN-OS record an HTTP
/// sink writes, so its searcher is built once (~450 instructions a record).
static DEVICE_EXTERNAL_ID: LazyLock<Key> =
    LazyLock::new(|| Key::new("deviceExternalId").expect("a valid CEF key"));

impl Serialize for PanOsJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let event = self.0;
        if let Some(log) = &event.panos_csv {
            let mut out = serializer.serialize_struct("PanOs", 6)?;
            let type_name = log.log_type.map_or(log.type_text, |t| t.name());
            out.serialize_field("type", type_name)?;
            out.serialize_field("subtype", log.subtype)?;
            out.serialize_field("version", log.version)?;
            out.serialize_field("serial", log.serial)?;
            let fields: Vec<(&str, Cow<'_, str>)> = log
                .fields()
                .map(|(name, value)| (name, Cow::Borrowed(value)))
                .collect();
            out.serialize_field("fields", &RepeatableMap(&fields))?;
            out.serialize_field("extra", log.extra())?;
            return out.end();
        }
        let (Some(cef), Some(panos)) = (event.valid_cef(), event.panos_cef()) else {
            return serializer.serialize_none();
        };
        let serial = cef
            .extensions
            .entry_of(&DEVICE_EXTERNAL_ID)
            .map_or("", |(_, value)| value);
        let mut out = serializer.serialize_struct("PanOs", 6)?;
        out.serialize_field("type", panos.log_type.map_or(panos.type_text, |t| t.name()))?;
        out.serialize_field("subtype", panos.subtype)?;
        out.serialize_field("version", cef.device_version.as_ref())?;
        out.serialize_field("serial", serial)?;
        out.serialize_field("fields", &RepeatableMap(&[]))?;
        out.serialize_field("extra", &[] as &[&str])?;
        out.end()
    }
}

struct SyslogJson<'m, 'a>(&'m Message<'a>);

impl Serialize for SyslogJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let format = match m.format {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
            Format::None => "none",
        };
        let timestamp = m.timestamp.and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
        let mut out = serializer.serialize_struct("Syslog", 9)?;
        out.serialize_field("format", format)?;
        out.serialize_field("facility", &m.facility)?;
        out.serialize_field("severity", &m.severity)?;
        out.serialize_field("timestamp", &timestamp)?;
        out.serialize_field("hostname", &m.hostname)?;
        out.serialize_field("app_name", &m.app_name)?;
        out.serialize_field("procid", &m.procid)?;
        out.serialize_field("msgid", &m.msgid)?;
        out.serialize_field("structured_data", &StructuredDataJson(&m.structured_data))?;
        out.end()
    }
}

/// `{"sd-id": {"param": "value", …}, …}`; a repeated SD-ID or PARAM-NAME becomes an array so that
/// nothing the sender wrote is lost to JSON's one-value-per-key objects.
struct StructuredDataJson<'m, 'a>(&'m [SdElement<'a>]);

impl Serialize for StructuredDataJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let elements = self.0;
        let mut out = serializer.serialize_map(None)?;
        for (index, element) in elements.iter().enumerate() {
            if elements[..index].iter().any(|e| e.id == element.id) {
                continue;
            }
            let same_id: Vec<&SdElement<'_>> = elements[index..]
                .iter()
                .filter(|e| e.id == element.id)
                .collect();
            if same_id.len() == 1 {
                out.serialize_entry(element.id, &RepeatableMap(&element.params))?;
            } else {
                let all: Vec<RepeatableMap<'_, '_>> =
                    same_id.iter().map(|e| RepeatableMap(&e.params)).collect();
                out.serialize_entry(element.id, &all)?;
            }
        }
        out.end()
    }
}

/// Ordered key/value pairs as a JSON object; a key that repeats maps to an array of its values in order.
struct RepeatableMap<'m, 'a>(&'m [(&'a str, Cow<'a, str>)]);

impl Serialize for RepeatableMap<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let pairs = self.0;
        let mut out = serializer.serialize_map(None)?;
        if !has_repeated_key(pairs.iter().map(|(key, _)| *key)) {
            for (key, value) in pairs {
                out.serialize_entry(key, value.as_ref())?;
            }
            return out.end();
        }
        let links = SameKey::link(pairs);
        for (index, (key, value)) in pairs.iter().enumerate() {
            if !links.first[index] {
                continue;
            }
            if links.next[index].is_some() {
                let values = ValuesOfKey {
                    pairs,
                    next: &links.next,
                    first: index,
                };
                out.serialize_entry(key, &values)?;
            } else {
                out.serialize_entry(key, value.as_ref())?;
            }
        }
        out.end()
    }
}

/// The pairs of a record with repeated keys, chained by key: one hash lookup per pair, where
/// comparing every key with every other cost ~33 000 instructions of a PAN-OS CSV log (its
/// five `future_use` columns send every such log down this path).
struct SameKey {
    /// Whether the pair is the first of its key.
    first: Vec<bool>,
    /// The next pair with the same key.
    next: Vec<Option<usize>>,
}

impl SameKey {
    fn link(pairs: &[(&str, Cow<'_, str>)]) -> SameKey {
        // std's randomly seeded hasher: the keys come from the network.
        let mut last_of: HashMap<&str, usize> = HashMap::with_capacity(pairs.len());
        let mut links = SameKey {
            first: vec![true; pairs.len()],
            next: vec![None; pairs.len()],
        };
        for (index, (key, _)) in pairs.iter().enumerate() {
            if let Some(previous) = last_of.insert(key, index) {
                links.next[previous] = Some(index);
                links.first[index] = false;
            }
        }
        links
    }
}

/// The values of the key whose first pair is `first`, in order, as a JSON array.
struct ValuesOfKey<'m, 'a> {
    pairs: &'m [(&'a str, Cow<'a, str>)],
    next: &'m [Option<usize>],
    first: usize,
}

impl Serialize for ValuesOfKey<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut at = Some(self.first);
        serializer.collect_seq(std::iter::from_fn(|| {
            let index = at?;
            at = self.next[index];
            Some(self.pairs[index].1.as_ref())
        }))
    }
}

/// Whether any key occurs twice. Repeats are rare and records have ~60 keys, so this runs for
/// every event a JSON sink encodes: a small hash table on the stack instead of a scan per key
/// (n², once the top cost of encoding) or a sort (still 15 % of the HTTP sink's CPU).
fn has_repeated_key<'k>(keys: impl ExactSizeIterator<Item = &'k str> + Clone) -> bool {
    const SLOTS: usize = 256;
    if keys.len() > SLOTS / 2 {
        let mut sorted: Vec<&str> = keys.collect();
        sorted.sort_unstable();
        return sorted.windows(2).any(|pair| pair[0] == pair[1]);
    }
    // Slot i holds the key that hashed there (or probed on from there), `None` when empty.
    let mut slots: [Option<&str>; SLOTS] = [None; SLOTS];
    for key in keys {
        let mut slot = (key_hash(key.as_bytes()) >> 56) as usize;
        loop {
            match slots[slot] {
                None => {
                    slots[slot] = Some(key);
                    break;
                }
                Some(seen) if seen == key => return true,
                Some(_) => slot = (slot + 1) % SLOTS,
            }
        }
    }
    false
}

/// A quick hash of a short key: its length and its first and last 8 bytes, mixed by one multiply.
pub fn key_hash(key: &[u8]) -> u64 {
    let word = |bytes: &[u8]| {
        let mut buf = [0u8; 8];
        buf[..bytes.len()].copy_from_slice(bytes);
        u64::from_le_bytes(buf)
    };
    let len = key.len();
    let head = word(&key[..len.min(8)]);
    let tail = word(&key[len.saturating_sub(8)..]);
    (head ^ tail.rotate_left(29) ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

struct CefJson<'m, 'a>(&'m Cef<'a>);

impl Serialize for CefJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let cef = self.0;
        let mut out = serializer.serialize_struct("Cef", 8)?;
        out.serialize_field("version", &cef.version)?;
        out.serialize_field("device_vendor", &cef.device_vendor)?;
        out.serialize_field("device_product", &cef.device_product)?;
        out.serialize_field("device_version", &cef.device_version)?;
        out.serialize_field("signature_id", &cef.signature_id)?;
        out.serialize_field("name", &cef.name)?;
        out.serialize_field("severity", &cef.severity)?;
        out.serialize_field("extensions", &RepeatableMap(cef.extensions.pairs()))?;
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(keys: &[String]) -> bool {
        (0..keys.len()).any(|i| keys[i + 1..].contains(&keys[i]))
    }

    #[test]
    fn a_panos_cef_records_serial_is_its_device_external_id() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/panos-cef/threat.cef");
        let record = std::fs::read_to_string(path).expect("fixture");
        let text = format!("<14>May  8 08:10:31 fw1 {}", record.trim_end());
        let options = ParseOptions::new(OffsetDateTime::UNIX_EPOCH);
        let json = serde_json::to_value(Event::parse(&text, false, &options)).expect("JSON");
        assert_eq!(json["panos"]["type"], "THREAT");
        assert_eq!(json["panos"]["serial"], "013201001234");
        // Without the key, the serial is empty rather than absent.
        let without = text.replace("deviceExternalId=013201001234 ", "");
        let json = serde_json::to_value(Event::parse(&without, false, &options)).expect("JSON");
        assert_eq!(json["panos"]["serial"], "");
    }

    #[test]
    fn keys_that_hash_alike_are_still_told_apart() {
        // Same length, same first and last 8 bytes: the same hash, different keys.
        let keys = [
            "aaaaaaaaXaaaaaaaa",
            "aaaaaaaaYaaaaaaaa",
            "aaaaaaaaZaaaaaaaa",
        ];
        assert!(!has_repeated_key(keys.iter().copied()));
        let repeated = [
            "aaaaaaaaXaaaaaaaa",
            "aaaaaaaaYaaaaaaaa",
            "aaaaaaaaXaaaaaaaa",
        ];
        assert!(has_repeated_key(repeated.iter().copied()));
    }

    /// What RepeatableMap writes, put together the slow, obvious way: every key at its first
    /// appearance, with its one value or the array of all its values in order.
    fn naive_json(pairs: &[(String, String)]) -> String {
        fn json(value: &impl Serialize) -> String {
            serde_json::to_string(value).expect("JSON")
        }
        let mut members = Vec::new();
        for (index, (key, _)) in pairs.iter().enumerate() {
            if pairs[..index].iter().any(|(k, _)| k == key) {
                continue;
            }
            let values: Vec<&str> = pairs[index..]
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
            let value = match values.as_slice() {
                [one] => json(one),
                many => json(&many),
            };
            members.push(format!("{}:{value}", json(&key.as_str())));
        }
        format!("{{{}}}", members.join(","))
    }

    proptest! {
        #[test]
        fn repeated_keys_become_arrays_in_order_of_first_appearance(
            pairs in prop::collection::vec(("[a-d]{1,2}", "[a-z\"\\\\]{0,3}"), 0..200)
        ) {
            let borrowed: Vec<(&str, Cow<'_, str>)> =
                pairs.iter().map(|(k, v)| (k.as_str(), Cow::Borrowed(v.as_str()))).collect();
            let written = serde_json::to_string(&RepeatableMap(&borrowed)).expect("JSON");
            prop_assert_eq!(written, naive_json(&pairs));
        }

        #[test]
        fn agrees_with_comparing_every_pair(
            keys in prop::collection::vec("[a-c]{0,3}|[a-z]{1,20}", 0..300)
        ) {
            let found = has_repeated_key(keys.iter().map(String::as_str));
            prop_assert_eq!(found, naive(&keys));
        }
    }
}
