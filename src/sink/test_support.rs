//! What the encoders' tests share: a real PAN-OS threat line, a fixed clock and sender, and the
//! PAN-OS sample lines.

use std::borrow::Cow;

use bytes::BytesMut;
use cefrelay_syslog::ParseOptions;
use serde_json::Value;
use time::macros::datetime;
use time::OffsetDateTime;

use crate::event::{Enriched, Event, Origin};

pub const RECEIVED_AT: OffsetDateTime = datetime!(2021-02-08 09:05:49.123 UTC);

pub const PEER: &str = "192.0.2.7";

/// No native PAN-OS THREAT CEF line is among the fixtures, so this one is the §1.8 threat
/// template filled with the values of the real CSV THREAT line in
/// `usiem-panos-rfc3164-noprio.log` (pa-fw1, GPON exploit, thr_category code-execution).
pub const THREAT_CEF: &str = "<14>Feb  8 09:05:49 pa-fw1 CEF:0|Palo Alto Networks|PAN-OS|10.0.4|vulnerability|THREAT|5|\
rt=Feb 08 2021 09:05:48 GMT deviceExternalId=0123456789 src=100.10.20.34 dst=200.10.20.65 \
sourceTranslatedAddress=100.10.20.34 destinationTranslatedAddress=200.10.20.65 cs1Label=Rule cs1=ssl vpn access \
suser= duser= app=web-browsing cs3Label=Virtual System cs3=vsys1 cs4Label=Source Zone cs4=untrust \
cs5Label=Destination Zone cs5=untrust deviceInboundInterface=ethernet1/1 deviceOutboundInterface=ethernet1/1 \
cs6Label=LogProfile cs6=InnoTec Log Collector cn1Label=SessionID cn1=104063 cnt=1 spt=36026 dpt=443 \
sourceTranslatedPort=36026 destinationTranslatedPort=20077 flexString1Label=Flags flexString1=0x1502000 proto=tcp \
act=reset-both request=\"diag_Form\" cs2Label=URL Category cs2=any flexString2Label=Direction \
flexString2=client-to-server PanOSActionFlags=0x8000000000000000 externalId=1607660 \
cat=GPON Home Routers Remote Code Execution Vulnerability(37264) fileId=0 PanOSDGl1=0 PanOSDGl2=0 PanOSDGl3=0 \
PanOSDGl4=0 PanOSVsysName= dvchost=pa-fw1 PanOSSrcUUID= PanOSDstUUID= PanOSTunnelID=0 PanOSMonitorTag= \
PanOSParentSessionID=0 PanOSParentStartTime= PanOSTunnelType=N/A PanOSThreatCategory=code-execution \
PanOSContentVer=AppThreat-8371-6531";

/// What the enrich stage adds to the code-execution threat of [`THREAT_CEF`].
pub fn mitre_fields() -> [(&'static str, Cow<'static, str>); 4] {
    [
        ("PanOSAlertType", "Exploit".into()),
        ("threatAttackID", "T1190".into()),
        (
            "threatAttackName",
            "Exploit Public-Facing Application".into(),
        ),
        ("mitreSource", "cefrelay".into()),
    ]
}

pub fn parse(text: &str) -> Event<'_> {
    Event::parse(text, false, &ParseOptions::new(RECEIVED_AT))
}

pub fn origin() -> Origin {
    Origin {
        peer: PEER.parse().expect("ip"),
        received_at: RECEIVED_AT,
    }
}

/// The view every encoder takes, of `event` parsed from `text`.
pub fn enriched<'e, 'a>(
    event: &'e Event<'a>,
    text: &'e str,
    added: &'e [(&'static str, Cow<'a, str>)],
) -> Enriched<'e, 'a> {
    Enriched {
        event,
        received: text.as_bytes(),
        text,
        origin: origin(),
        added,
    }
}

/// What `write` makes of `text`, as JSON.
pub fn encode(text: &str, write: impl Fn(&Enriched<'_, '_>, &mut BytesMut)) -> Value {
    let event = parse(text);
    let mut out = BytesMut::new();
    write(&enriched(&event, text, &[]), &mut out);
    serde_json::from_slice(&out).expect("one JSON object")
}

#[expect(
    dead_code,
    reason = "the integration tests' corpus rule, included whole; the encoders' tests use part of it"
)]
mod panos_corpus {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/util/panos_corpus.rs"
    ));
}

/// The PAN-OS sample lines as (file, line), one list per set: the project's own
/// `fixtures/panos` always, and the external corpus of real lines when it is there (the rule
/// and the skip line are those of `tests/util/panos_corpus.rs`).
pub fn fixtures() -> Vec<Vec<(String, String)>> {
    let project = panos_corpus::from_manifest("");
    let mut sets = Vec::new();
    for set in panos_corpus::line_sets(&project) {
        let mut lines = Vec::new();
        for path in set.files() {
            let text = std::fs::read_to_string(&path).expect("fixture is UTF-8");
            let name = path.display().to_string();
            lines.extend(
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| (name.clone(), l.to_string())),
            );
        }
        sets.push(lines);
    }
    sets
}
