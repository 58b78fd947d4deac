//! The fields of one event as rules and enrichment read them, looked up only when asked: a rule
//! that reads the CEF header never makes the relay look at an extension, and a PAN-OS threat is
//! classified once, by whichever of the rules and the enrich stage asks first.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::sync::LazyLock;

use cefrelay_cef::{Cef, Key};

use cefrelay_panos::cef_header::CefType;
use cefrelay_panos::log::{Log, LogType};
use cefrelay_panos::mitre::{self, Classification, Table, Threat};
use cefrelay_panos::to_cef::{cef_places, CefField, CefFields, CefPlaces, Wanted};

use crate::config::rules::Field;
use crate::event::{Event, Origin};

/// A field's value, and the CEF extension key it was read from (for summary events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'f> {
    pub value: Cow<'f, str>,
    pub extension_key: Option<&'f str>,
}

impl<'f> Found<'f> {
    fn text(value: &'f str) -> Self {
        Found {
            value: Cow::Borrowed(value),
            extension_key: None,
        }
    }

    fn owned(value: String) -> Self {
        Found {
            value: Cow::Owned(value),
            extension_key: None,
        }
    }

    fn extension(key: &'f str, value: &'f str) -> Self {
        Found {
            value: Cow::Borrowed(value),
            extension_key: Some(key),
        }
    }
}

/// What the threat enrichment makes of a PAN-OS THREAT log.
#[derive(Debug, Clone)]
pub struct ThreatFacts<'f> {
    /// `PanOSAlertType`.
    pub alert_type: Cow<'f, str>,
    /// The MITRE technique or tactic; `None` when no step of the table maps the threat.
    pub classification: Option<Classification<'f>>,
}

/// One event's fields, looked up lazily.
pub struct Facts<'f, 'a> {
    pub event: &'f Event<'a>,
    pub origin: Origin,
    /// The received text, for a sample rule without a key.
    pub text: &'f str,
    /// The MITRE table, when threat enrichment is on.
    table: Option<&'f Table>,
    threat: OnceCell<Option<ThreatFacts<'f>>>,
    /// The PAN-OS type of the CEF header, read once: it scans the extension for `cat`.
    panos_header: OnceCell<Option<CefType<'f>>>,
    /// Where that type's format puts each variable, looked up once: the sophos preset reads
    /// `type` in nearly every rule.
    panos_places: OnceCell<Option<&'static CefPlaces>>,
    /// The values of [`THREAT_VARIABLES`] the rules read from the CEF extension, for the
    /// classification to take instead of searching for them again (~850 instructions each):
    /// the sophos preset reads `thr_category` of four in ten THREATs it forwards.
    threat_variables: [OnceCell<Option<&'f str>>; THREAT_VARIABLES.len()],
}

/// How many distinct fields of the rules an event keeps once read; a rule set that reads more
/// reads the others at each test.
pub const MEMO_SLOTS: u8 = 16;

/// The fields one event's rules have read, by memo slot ([`Condition::share_memo_slots`]). Kept
/// apart from [`Facts`], on the stack of a rules pass: an event that no rule looks at (the
/// default configuration has none) does not build it.
///
/// [`Condition::share_memo_slots`]: crate::config::rules::Condition::share_memo_slots
pub struct FieldMemo<'f>([OnceCell<Option<Found<'f>>>; MEMO_SLOTS as usize]);

impl<'f> FieldMemo<'f> {
    pub fn new() -> Self {
        FieldMemo([const { OnceCell::new() }; MEMO_SLOTS as usize])
    }

    /// `use_value` of the value of `field` in `facts` (`None`: the event has none), read once
    /// for the memo slot `memo`.
    pub fn with_value<R>(
        &self,
        facts: &Facts<'f, '_>,
        field: &Field,
        memo: Option<u8>,
        use_value: impl FnOnce(Option<&str>) -> R,
    ) -> R {
        let unkept;
        let found = match memo.and_then(|slot| self.0.get(usize::from(slot))) {
            Some(cell) => cell.get_or_init(|| facts.get(field)),
            None => {
                unkept = facts.get(field);
                &unkept
            }
        };
        use_value(found.as_ref().map(|found| &*found.value))
    }
}

impl<'f, 'a> Facts<'f, 'a> {
    pub fn new(
        event: &'f Event<'a>,
        origin: Origin,
        text: &'f str,
        table: Option<&'f Table>,
    ) -> Self {
        Facts {
            event,
            origin,
            text,
            table,
            threat: OnceCell::new(),
            panos_header: OnceCell::new(),
            panos_places: OnceCell::new(),
            threat_variables: [const { OnceCell::new() }; THREAT_VARIABLES.len()],
        }
    }

    /// The value of `field`, `None` when the event has no such field.
    pub fn get(&self, field: &Field) -> Option<Found<'f>> {
        let event: &'f Event<'a> = self.event;
        let syslog = &event.syslog;
        let cef = || event.valid_cef();
        match field {
            Field::Peer => Some(Found::owned(self.origin.peer.to_string())),
            Field::Host => syslog.hostname.map(Found::text),
            Field::AppName => syslog.app_name.map(Found::text),
            Field::Facility => syslog.facility.map(|n| Found::owned(n.to_string())),
            Field::SyslogSeverity => syslog.severity.map(|n| Found::owned(n.to_string())),
            Field::ProcId => syslog.procid.map(Found::text),
            Field::MsgId => syslog.msgid.map(Found::text),
            Field::Message => Some(Found::text(syslog.msg)),
            Field::DeviceVendor => cef().map(|c| Found::text(&c.device_vendor)),
            Field::DeviceProduct => cef().map(|c| Found::text(&c.device_product)),
            Field::DeviceVersion => cef().map(|c| Found::text(&c.device_version)),
            Field::SignatureId => cef().map(|c| Found::text(&c.signature_id)),
            Field::Name => cef().map(|c| Found::text(&c.name)),
            Field::Severity => cef().map(|c| Found::text(&c.severity)),
            Field::AlertType => self
                .threat()
                .map(|t| Found::owned(t.alert_type.to_string())),
            Field::ThreatId => self
                .threat()
                .and_then(|t| t.classification)
                .map(|c| Found::text(c.id)),
            Field::ThreatName => self
                .threat()
                .and_then(|t| t.classification)
                .map(|c| Found::text(c.name)),
            Field::Extension(name) => extension_of(event, name.key()?),
            Field::Panos(variable) => self.panos(variable),
            Field::Named(name) => self
                .panos(name.as_str())
                .or_else(|| extension_of(event, name.key()?))
                .or_else(|| labelled(event, name.as_str())),
        }
    }

    /// The alert type and MITRE technique of a PAN-OS THREAT log (CEF, converted or kept CSV);
    /// `None` for anything else, or with threat enrichment off.
    pub fn threat(&self) -> Option<&ThreatFacts<'f>> {
        self.threat.get_or_init(|| self.classify()).as_ref()
    }

    fn classify(&self) -> Option<ThreatFacts<'f>> {
        let table = self.table?;
        let event: &'f Event<'a> = self.event;
        let record = match event.valid_cef() {
            Some(cef) => self.threat_record_of_cef(cef)?,
            None => threat_record_of_csv(event.panos_csv.as_ref()?)?,
        };
        Some(ThreatFacts {
            alert_type: mitre::alert_type(record.cat, record.class_id, record.threat.category),
            classification: table.classify(&record.threat, || self.threat_direction()),
        })
    }

    /// A PAN-OS THREAT log's direction, read when a line of the MITRE table needs it: in CEF
    /// a search of the extension that most threats never need.
    fn threat_direction(&self) -> Option<&'f str> {
        let event: &'f Event<'a> = self.event;
        let Some(cef) = event.valid_cef() else {
            return non_empty(event.panos_csv.as_ref()?.get("direction"));
        };
        let header = self.panos_header()?;
        static DIRECTION: LazyLock<CefFields<1>> =
            LazyLock::new(|| CefFields::new([Wanted::Variable("direction")]));
        let known = self.threat_variables[THREAT_DIRECTION].get().copied();
        let [direction] = DIRECTION.read(header.log_type?, header.subtype, cef, [known]);
        non_empty(direction)
    }

    /// The threat fields of a PAN-OS THREAT log in CEF (sent so, or converted from CSV).
    fn threat_record_of_cef(&self, cef: &'f Cef<'a>) -> Option<ThreatRecord<'f>> {
        let header = self.panos_header()?;
        let log_type = header.log_type.filter(|t| *t == LogType::Threat)?;
        // Found by key (CefFields), not by splitting the extension: this runs for every threat,
        // and needs three of its ~60 pairs (four with the direction). Each search is ~1 000
        // instructions: a field the header's layout (`cat` in Set A) or the rules already read
        // is not searched for again, and `cat` once where the format puts `$threatid` there too
        // (URL, WildFire).
        static THREAT_CEF: LazyLock<CefFields<3>> = LazyLock::new(|| {
            let [thr_category, threatid, _] = THREAT_VARIABLES.map(Wanted::Variable);
            CefFields::new([Wanted::Key("cat"), thr_category, threatid])
        });
        let [read_category, read_threatid, _] = self
            .threat_variables
            .each_ref()
            .map(|cell| cell.get().copied());
        let known = [header.cat, read_category, read_threatid];
        let [cat, thr_category, name] = THREAT_CEF.read(log_type, header.subtype, cef, known);
        let class_id: &'f str = &cef.signature_id;
        Some(ThreatRecord {
            cat,
            class_id,
            threat: Threat {
                name: non_empty(name).unwrap_or(class_id),
                category: non_empty(thr_category),
                subtype: header.subtype,
            },
        })
    }
}

/// The PAN-OS format variables a threat classification reads: the threat category, the threat
/// name and (for the lines of the table that have one) the direction.
const THREAT_VARIABLES: [&str; 3] = ["thr_category", "threatid", "direction"];
/// The direction's place in [`THREAT_VARIABLES`].
const THREAT_DIRECTION: usize = 2;

/// What a threat's alert type and classification are made from.
#[derive(Debug)]
struct ThreatRecord<'f> {
    /// The record's `cat`: the subtype in CSV and Set A, the threat ID in URL and WildFire CEF.
    cat: Option<&'f str>,
    /// The CEF Device Event Class ID, or the CSV `threatid` column.
    class_id: &'f str,
    threat: Threat<'f>,
}

/// The threat fields of a PAN-OS THREAT log kept as CSV.
fn threat_record_of_csv<'f>(log: &'f Log<'_>) -> Option<ThreatRecord<'f>> {
    if log.log_type != Some(LogType::Threat) {
        return None;
    }
    let class_id = log.get("threatid").unwrap_or_default();
    Some(ThreatRecord {
        cat: Some(log.subtype),
        class_id,
        threat: Threat {
            name: class_id,
            category: non_empty(log.get("thr_category")),
            subtype: log.subtype,
        },
    })
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|text| !text.is_empty())
}

/// The CEF extension `key`, with its searcher built beforehand.
fn extension_of<'f>(event: &'f Event<'_>, key: &Key) -> Option<Found<'f>> {
    let cef = event.valid_cef()?;
    let (key, value) = cef.extensions.entry_of(key)?;
    Some(Found::extension(key, value))
}

/// The CEF extension whose label is `label`: `cs1Label=Rule cs1=…` for `Rule`.
fn labelled<'f>(event: &'f Event<'_>, label: &str) -> Option<Found<'f>> {
    let cef = event.valid_cef()?;
    let (key, value) = cef.extensions.labelled(label)?;
    Some(Found::extension(key, value))
}

impl<'f> Facts<'f, '_> {
    /// The PAN-OS type and subtype of a CEF record from a Palo Alto Networks device.
    fn panos_header(&self) -> Option<CefType<'f>> {
        let event: &'f Event<'_> = self.event;
        *self.panos_header.get_or_init(|| event.panos_cef())
    }

    /// The PAN-OS field of format variable `variable`: where PAN-OS's CEF puts it for this log
    /// type, or else the CSV column.
    fn panos(&self, variable: &str) -> Option<Found<'f>> {
        let event: &'f Event<'_> = self.event;
        if let (Some(cef), Some(places)) = (event.valid_cef(), self.panos_places()) {
            return match places.get(variable)? {
                CefField::DeviceVersion => Some(Found::text(&cef.device_version)),
                CefField::SignatureId => Some(Found::text(&cef.signature_id)),
                CefField::Name => Some(Found::text(&cef.name)),
                CefField::Severity => Some(Found::text(&cef.severity)),
                CefField::Extension(key) => {
                    let found = cef.extensions.entry_of(key);
                    if let Some(at) = THREAT_VARIABLES.iter().position(|v| *v == variable) {
                        // A second read (a rule set past the memo's slots) finds the same.
                        let _ = self.threat_variables[at].set(found.map(|(_, value)| value));
                    }
                    found.map(|(key, value)| Found::extension(key, value))
                }
            };
        }
        event.panos_csv.as_ref()?.get(variable).map(Found::text)
    }

    /// Where the format of this PAN-OS CEF record puts each variable; `None` for anything else.
    fn panos_places(&self) -> Option<&'static CefPlaces> {
        *self.panos_places.get_or_init(|| {
            let header = self.panos_header()?;
            cef_places(header.log_type?, header.subtype)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cefrelay_syslog::ParseOptions;
    use time::OffsetDateTime;

    use super::*;

    /// The fields a classification reads, as text.
    fn record(facts: &Facts<'_, '_>) -> String {
        let cef = facts.event.valid_cef().expect("CEF");
        format!("{:?}", facts.threat_record_of_cef(cef))
    }

    /// A THREAT's classification reads the same fields whether the rules read them first (and
    /// it takes what they read) or not: in Set A (`cat` from the header), URL
    /// (`$threatid` at `cat`) and WildFire records.
    #[test]
    fn the_fields_the_rules_read_give_the_classification_it_would_read_itself() {
        let table = Table::builtin();
        let origin = Origin {
            peer: "192.0.2.10".parse().expect("ip"),
            received_at: OffsetDateTime::UNIX_EPOCH,
        };
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/panos-cef");
        for fixture in ["threat.cef", "url.cef", "wildfire.cef"] {
            let body = std::fs::read_to_string(fixtures.join(fixture)).expect("fixture");
            let text = format!("<14>May  8 08:10:31 fw1 {}", body.trim_end());
            let event = Event::parse(&text, false, &ParseOptions::new(origin.received_at));

            let alone = Facts::new(&event, origin, &text, Some(&table));
            let expected = record(&alone);
            assert!(expected.starts_with("Some("), "{fixture}: {expected}");

            let after_rules = Facts::new(&event, origin, &text, Some(&table));
            for variable in THREAT_VARIABLES {
                after_rules.get(&Field::parse(variable).expect("a field"));
            }
            assert!(
                after_rules
                    .threat_variables
                    .iter()
                    .any(|cell| cell.get().is_some()),
                "{fixture}: the rules' reads are kept"
            );
            assert_eq!(record(&after_rules), expected, "{fixture}");
        }
    }
}
