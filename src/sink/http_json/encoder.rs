//! The `cefrelay parse` JSON shape per event, for the generic HTTP sink; fields the enrich stage
//! added go under `"enrich"`.

use bytes::{BufMut, BytesMut};

use crate::event::Enriched;
use crate::sink::json::{write_json, AddedFields, ENRICH};
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

/// The `cefrelay parse` JSON shape of the message, plus `"enrich": {key: value, …}` as its last
/// member when the enrich stage added fields.
pub fn write_event_json(message: &Enriched<'_, '_>, out: &mut BytesMut) {
    let start = out.len();
    write_json(out, message.event);
    if message.added.is_empty() || out.len() == start {
        return;
    }
    // The event is a JSON object, so its closing brace is the last byte written: reopened, it
    // takes one more member without the event going through an intermediate map.
    out.truncate(out.len() - 1);
    out.put_u8(b',');
    write_json(out, ENRICH);
    out.put_u8(b':');
    write_json(out, &AddedFields(message.added));
    out.put_u8(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::test_support::{enriched, mitre_fields, parse, THREAT_CEF};

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
    fn added_fields_are_the_last_member_enrich_and_the_rest_is_unchanged() {
        let event = parse(THREAT_CEF);
        let added = mitre_fields();
        let mut out = BytesMut::new();
        write_event_json(&enriched(&event, THREAT_CEF, &added), &mut out);
        let plain = serde_json::to_string(&event).expect("JSON");
        let open = plain.strip_suffix('}').expect("an object");
        assert_eq!(
            std::str::from_utf8(&out).expect("UTF-8"),
            format!(
                "{open},\"enrich\":{{\"PanOSAlertType\":\"Exploit\",\"threatAttackID\":\"T1190\",\
                 \"threatAttackName\":\"Exploit Public-Facing Application\",\
                 \"mitreSource\":\"cefrelay\"}}}}"
            )
        );
    }

    #[test]
    fn a_key_added_twice_keeps_its_first_value() {
        let event = parse(THREAT_CEF);
        let added = [
            ("threatAttackID", "T1190".into()),
            ("threatAttackID", "T1203".into()),
        ];
        let mut out = BytesMut::new();
        write_event_json(&enriched(&event, THREAT_CEF, &added), &mut out);
        let text = std::str::from_utf8(&out).expect("UTF-8");
        assert!(
            text.ends_with(",\"enrich\":{\"threatAttackID\":\"T1190\"}}"),
            "{text}"
        );
    }
}
