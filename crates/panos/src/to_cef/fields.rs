//! Where PAN-OS's own CEF puts each format variable, so that a rule can read a PAN-OS field by
//! its variable name (`from`, `thr_category`) from a CEF record as well as from a CSV line.

use std::sync::LazyLock;

use cefrelay_cef::{Cef, Key};
use rustc_hash::FxHashMap;

use crate::log::LogType;

use super::compile::{pairs, split_format};
use super::formats;

/// The place in a CEF record that holds a format variable's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CefField {
    /// Device Version.
    DeviceVersion,
    /// Device Event Class ID.
    SignatureId,
    /// Name.
    Name,
    /// Severity.
    Severity,
    /// The extension value of this key (with its searcher, built once for every record).
    Extension(&'static Key),
}

/// Where the CEF format that [`super::to_cef`] uses for a `log_type` log of `subtype` (the
/// published one, else [`formats::OURS`]) puts `variable`, PAN-OS's format variable without the
/// `$`: `cef_field(Threat, "vulnerability", "from")` is the extension key `cs4`.
///
/// Only a header piece or extension value that is exactly `$variable` counts; a value the
/// firewall transforms is no place to read the variable back from, so `receive_time`
/// (`rt=$cef-formatted-receive_time`) and `severity` (`$number-of-severity`) give `None` unless
/// a format also carries them verbatim. `None` as well for a variable the format lacks.
///
/// A variable the format names twice is found at its first place (the header before the
/// extension, then the extension in order). A variable whose key an earlier pair of the format
/// already holds gives `None`, since reading that key gives the earlier value: GlobalProtect's
/// `PanOSDeviceSN` is `$serial`, and its second `PanOSDeviceSN=$serialnumber` cannot be read.
///
/// Values keep what PAN-OS wraps around them: `request=$misc` carries its literal double
/// quotes. The `PanOS<Variable>` keys that our own format adds for the other columns of a type
/// are not covered.
pub fn cef_field(log_type: LogType, subtype: &str, variable: &str) -> Option<CefField> {
    cef_places(log_type, subtype)?.get(variable)
}

/// Where the format of a `log_type` log of `subtype` puts each variable, as [`cef_field`] reads
/// them: for a caller that reads several variables of one record (a rule set asks for `type` in
/// nearly every rule), the format is looked up once.
pub fn cef_places(log_type: LogType, subtype: &str) -> Option<&'static CefPlaces> {
    let format = formats::published(log_type, subtype).unwrap_or(formats::OURS);
    let (_, places) = PLACES
        .iter()
        .find(|(known, _)| std::ptr::eq(*known, format))?;
    Some(places)
}

/// A field for [`CefFields`] to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// A format variable (without the `$`), wherever the record's format puts it, as
    /// [`cef_field`] finds it.
    Variable(&'static str),
    /// An extension key, in any format.
    Key(&'static str),
}

/// Where a [`CefFields`] finds one field in one format.
#[derive(Debug, Clone)]
enum Place {
    Header(CefField),
    /// Boxed: a key's searcher is ~300 bytes, the other places a few.
    Extension(Box<Key>),
    /// The extension key an earlier field (at this index) reads: the URL format puts
    /// `$threatid` at `cat`, and a search is ~1 000 instructions on a 1 KB record.
    SameAs(usize),
    Absent,
}

/// Several fields read from PAN-OS CEF records of any type together: for each format, where
/// each field sits (extension keys with their searchers), worked out once, so that reading them
/// costs one format lookup and one search per distinct key, and never a split of the extension
/// (a THREAT's classification reads four of ~60 pairs). One pass for all the keys was tried, with
/// aho-corasick's Teddy: every key follows a space, and checking its many candidates cost more
/// than the searches it replaced (16 200 against 15 300 instructions per PAN-OS THREAT).
#[derive(Debug)]
pub struct CefFields<const N: usize> {
    by_format: Vec<(&'static str, [Place; N])>,
}

impl<const N: usize> CefFields<N> {
    /// Works out, for every format, where each of `wanted` sits.
    pub fn new(wanted: [Wanted; N]) -> Self {
        let by_format = PLACES
            .iter()
            .map(|(format, places)| {
                let mut placed = wanted.map(|field| match field {
                    Wanted::Key(name) => {
                        Key::new(name).map_or(Place::Absent, |key| Place::Extension(Box::new(key)))
                    }
                    Wanted::Variable(variable) => match places.get(variable) {
                        Some(CefField::Extension(key)) => Place::Extension(Box::new(key.clone())),
                        Some(header) => Place::Header(header),
                        None => Place::Absent,
                    },
                });
                for at in 1..N {
                    let Place::Extension(key) = &placed[at] else {
                        continue;
                    };
                    let earlier = placed[..at].iter().position(
                        |place| matches!(place, Place::Extension(earlier) if earlier == key),
                    );
                    if let Some(earlier) = earlier {
                        placed[at] = Place::SameAs(earlier);
                    }
                }
                (*format, placed)
            })
            .collect();
        CefFields { by_format }
    }

    /// The fields' values in `cef`, a record of `log_type` and `subtype`, in the order asked.
    /// A field whose value the caller already read from `cef` (`known[at]` is `Some`) is taken
    /// as given, not searched for again: the rules may have read a THREAT's category before its
    /// classification does.
    pub fn read<'c>(
        &self,
        log_type: LogType,
        subtype: &str,
        cef: &'c Cef<'_>,
        known: [Option<Option<&'c str>>; N],
    ) -> [Option<&'c str>; N] {
        let format = formats::published(log_type, subtype).unwrap_or(formats::OURS);
        let Some((_, places)) = self
            .by_format
            .iter()
            .find(|(known, _)| std::ptr::eq(*known, format))
        else {
            return [None; N];
        };
        let mut values = [None; N];
        for (at, place) in places.iter().enumerate() {
            if let Some(value) = known[at] {
                values[at] = value;
                continue;
            }
            values[at] = match place {
                Place::Extension(key) => cef.extensions.entry_of(key).map(|(_, value)| value),
                Place::SameAs(earlier) => values[*earlier],
                Place::Header(CefField::DeviceVersion) => Some(&*cef.device_version),
                Place::Header(CefField::SignatureId) => Some(&*cef.signature_id),
                Place::Header(CefField::Name) => Some(&*cef.name),
                Place::Header(CefField::Severity) => Some(&*cef.severity),
                Place::Header(CefField::Extension(_)) | Place::Absent => None,
            };
        }
        values
    }
}

/// Where one format puts each variable ([`cef_places`]). Fx, not SipHash: built from the
/// formats only, then read for every PAN-OS THREAT (the flooding SipHash guards against needs
/// keys chosen at insertion).
#[derive(Debug, Default)]
pub struct CefPlaces(FxHashMap<&'static str, CefField>);

impl CefPlaces {
    /// The place of `variable` (without the `$`), as [`cef_field`] says.
    pub fn get(&self, variable: &str) -> Option<CefField> {
        self.0.get(variable).copied()
    }
}

/// Every format and where it puts each variable: worked out once, because rules look fields up
/// for every message.
static PLACES: LazyLock<Vec<(&'static str, CefPlaces)>> = LazyLock::new(|| {
    formats::ALL
        .into_iter()
        .map(|format| (format, places(format)))
        .collect()
});

/// Every extension key of every format, sorted by name, each with its searcher: rules and the
/// threat enrichment look these up in every message, and a searcher costs as much to build as
/// to run over a record.
static KEYS: LazyLock<Vec<Key>> = LazyLock::new(|| {
    let mut names: Vec<&str> = formats::ALL
        .into_iter()
        .flat_map(|format| pairs(split_format(format).1))
        .map(|(key, _)| key)
        .collect();
    names.sort_unstable();
    names.dedup();
    names.into_iter().filter_map(Key::new).collect()
});

/// The extension key `name` of a format.
fn key_named(name: &str) -> Option<&'static Key> {
    let keys: &'static [Key] = &KEYS;
    let at = keys.binary_search_by(|key| key.name().cmp(name)).ok()?;
    Some(&keys[at])
}

/// Where `format` puts each variable (see [`cef_field`] for the rules).
fn places(format: &'static str) -> CefPlaces {
    let (header, extension) = split_format(format);
    let [_vendor, _product, version, class_id, name, severity] = header;
    let header_places = [
        (version, CefField::DeviceVersion),
        (class_id, CefField::SignatureId),
        (name, CefField::Name),
        (severity, CefField::Severity),
    ];
    let pairs = pairs(extension);
    let extension_places = pairs
        .iter()
        .enumerate()
        .filter_map(|(index, &(key, value))| {
            let key_taken = pairs[..index].iter().any(|(earlier, _)| *earlier == key);
            // A key that is not a valid CEF key could not be read back from any record.
            let key = key_named(key).filter(|_| !key_taken)?;
            Some((value, CefField::Extension(key)))
        });
    let mut places = FxHashMap::default();
    for (piece, field) in header_places.into_iter().chain(extension_places) {
        if let Some(variable) = piece.strip_prefix('$') {
            // The first place of a variable is where it is read.
            places.entry(variable).or_insert(field);
        }
    }
    CefPlaces(places)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::LogType::*;
    use CefField::*;

    /// The place of extension key `name`.
    fn ext(name: &str) -> CefField {
        Extension(key_named(name).expect("a key of the formats"))
    }

    #[test]
    fn variables_are_found_where_the_format_for_their_type_puts_them() {
        let cases = [
            (Threat, "vulnerability", "threatid", Some(SignatureId)),
            (Threat, "vulnerability", "type", Some(Name)),
            (Threat, "vulnerability", "subtype", Some(ext("cat"))),
            (Threat, "spyware", "from", Some(ext("cs4"))),
            (Threat, "vulnerability", "action", Some(ext("act"))),
            (Threat, "vulnerability", "dport", Some(ext("dpt"))),
            (
                Threat,
                "vulnerability",
                "direction",
                Some(ext("flexString2")),
            ),
            (
                Threat,
                "vulnerability",
                "thr_category",
                Some(ext("PanOSThreatCategory")),
            ),
            (Threat, "vulnerability", "misc", Some(ext("request"))),
            (
                Threat,
                "vulnerability",
                "sender_sw_version",
                Some(DeviceVersion),
            ),
            (Threat, "vulnerability", "receive_time", None),
            (Threat, "vulnerability", "severity", None),
            (Threat, "vulnerability", "no_such_variable", None),
            (Threat, "url", "subtype", Some(SignatureId)),
            (Threat, "url", "threatid", Some(ext("cat"))),
            (
                Threat,
                "url",
                "user_agent",
                Some(ext("requestClientApplication")),
            ),
            (Threat, "wildfire", "subtype", Some(SignatureId)),
            (Threat, "wildfire-virus", "threatid", Some(ext("cat"))),
            (Threat, "wildfire", "filedigest", Some(ext("fileHash"))),
            (Traffic, "end", "subtype", Some(SignatureId)),
            (Traffic, "end", "bytes", Some(ext("flexNumber1"))),
            (Traffic, "end", "time_generated", None),
            (Traffic, "end", "threatid", None),
            (System, "general", "eventid", Some(ext("cat"))),
            (System, "general", "module", Some(ext("flexString2"))),
            (System, "general", "subtype", Some(SignatureId)),
            (GlobalProtect, "login", "subtype", Some(SignatureId)),
            (GlobalProtect, "login", "serial", Some(ext("PanOSDeviceSN"))),
            (GlobalProtect, "login", "serialnumber", None),
            (
                GlobalProtect,
                "login",
                "time_generated",
                Some(ext("PanOSLogTimeStamp")),
            ),
            (Correlation, "", "severity", Some(Severity)),
            (Correlation, "", "category", Some(SignatureId)),
            (Decryption, "start", "subtype", Some(SignatureId)),
            (Decryption, "start", "from", Some(ext("cs4"))),
            (Decryption, "start", "severity", None),
            (Decryption, "start", "tls_version", None),
            (Audit, "", "action", Some(ext("act"))),
        ];
        for (log_type, subtype, variable, expected) in cases {
            assert_eq!(
                cef_field(log_type, subtype, variable),
                expected,
                "{log_type:?} {subtype} ${variable}"
            );
        }
    }

    #[test]
    fn every_format_has_its_places_in_the_table() {
        for log_type in LogType::ALL {
            for subtype in ["url", "wildfire", "data", "vulnerability", "start"] {
                assert_eq!(
                    cef_field(log_type, subtype, "type"),
                    Some(Name),
                    "{log_type:?} {subtype}"
                );
            }
        }
    }

    /// The URL format puts `$threatid` at `cat`: read together, the key is searched once.
    #[test]
    fn a_key_two_fields_read_is_searched_once() {
        let fields = CefFields::new([
            Wanted::Key("cat"),
            Wanted::Variable("threatid"),
            Wanted::Key("cat"),
        ]);
        let places = |format: &str| {
            let (_, places) = fields
                .by_format
                .iter()
                .find(|(known, _)| std::ptr::eq(*known, format))
                .expect("every format is placed");
            places
                .clone()
                .map(|place| matches!(place, Place::SameAs(0)))
        };
        assert_eq!(places(formats::URL), [false, true, true]);
        // Set A THREAT has `$threatid` in the header.
        assert_eq!(places(formats::THREAT), [false, false, true]);
    }
}
