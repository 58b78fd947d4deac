//! The `cefrelay parse` JSON shape per event, for the generic HTTP sink; fields the enrich stage
//! added go under `"enriched"`.

use bytes::{BufMut, BytesMut};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::event::Enriched;
use crate::sink::json::write_json;
use crate::sink::Encode;

/// The generic sink's records: the `cefrelay parse` shape, one per line.
#[derive(Debug)]
pub struct EventJsonEncoder;

impl Encode for EventJsonEncoder {
    fn encode(&self, event: &Enriched<'_, '_>, out: &mut BytesMut) {
        write_event_json(event, out);
        out.put_u8(b'\n');
    }
}

/// The `cefrelay parse` JSON shape of the message, plus `"enriched": {key: value, …}` when the
/// enrich stage added fields.
pub fn write_event_json(message: &Enriched<'_, '_>, out: &mut BytesMut) {
    if message.added.is_empty() {
        write_json(out, message.event);
        return;
    }
    write_json(out, &WithAdded(message));
}

/// The event's own JSON object with one more member, written without an intermediate map.
struct WithAdded<'m, 'e, 'a>(&'m Enriched<'e, 'a>);

impl Serialize for WithAdded<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let mut object = serde_json::to_value(message.event).map_err(serde::ser::Error::custom)?;
        if let Some(members) = object.as_object_mut() {
            let added: serde_json::Map<String, serde_json::Value> = message
                .added
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string().into()))
                .collect();
            members.insert("enriched".into(), added.into());
        }
        let mut map = serializer.serialize_map(None)?;
        if let Some(members) = object.as_object() {
            for (key, value) in members {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::test_support::{enriched, parse, THREAT_CEF};

    #[test]
    fn event_json_is_the_parse_command_shape() {
        let event = parse(THREAT_CEF);
        let mut out = BytesMut::new();
        let message = enriched(&event, THREAT_CEF, &[]);
        write_event_json(&message, &mut out);
        assert_eq!(
            out.as_ref(),
            serde_json::to_vec(&event).expect("JSON").as_slice()
        );
    }

    #[test]
    fn added_fields_go_under_enriched_and_the_rest_is_unchanged() {
        let event = parse(THREAT_CEF);
        let added = [("technique", "T1190".into())];
        let mut out = BytesMut::new();
        write_event_json(&enriched(&event, THREAT_CEF, &added), &mut out);
        let record: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(record["enriched"]["technique"], "T1190");
        assert_eq!(record["cef"]["name"], "THREAT");
    }
}
