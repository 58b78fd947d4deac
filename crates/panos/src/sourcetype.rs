//! The sourcetypes of the Splunk Add-on for Palo Alto Networks (`pan:traffic`, `pan:threat`, ...)
//! for a PAN-OS log, whether it came as CEF or as CSV.
//!
//! Source: the add-on's "Source types" page
//! (splunk.github.io/splunk-add-on-for-palo-alto-networks).

use crate::looks_like_csv;

/// The add-on's sourcetype for a PAN-OS log type (the CSV `type` field; the CEF Name). `None`: a
/// PAN-OS type the add-on has no sourcetype for.
const PANOS_TYPES: &[(&str, Option<&str>)] = &[
    ("TRAFFIC", Some("pan:traffic")),
    ("THREAT", Some("pan:threat")),
    ("SYSTEM", Some("pan:system")),
    ("CONFIG", Some("pan:config")),
    ("HIPMATCH", Some("pan:hipmatch")),
    ("GLOBALPROTECT", Some("pan:globalprotect")),
    ("USERID", Some("pan:userid")),
    ("DECRYPTION", Some("pan:decryption")),
    ("CORRELATION", Some("pan:correlation")),
    ("AUTHENTICATION", None),
    // Strata Logging Service ("LF") CEF names the authentication type AUTH.
    ("AUTH", None),
    ("IPTAG", None),
    ("GTP", None),
    ("SCTP", None),
    // Tunnel inspection logs carry START or END in the type field.
    ("START", None),
    ("END", None),
];

/// PAN-OS writes the log type as an exact upper-case token, so no case folding: lower-case
/// subtypes such as SYSTEM's `globalprotect` must not be mistaken for a type.
fn panos_type(token: &str) -> Option<Option<&'static str>> {
    PANOS_TYPES
        .iter()
        .find(|(name, _)| *name == token)
        .map(|(_, sourcetype)| *sourcetype)
}

/// The sourcetype of a CEF record from its header fields; `None` when the record is not from
/// Palo Alto Networks, or is of a type the add-on has no sourcetype for.
///
/// Native PAN-OS CEF puts the log type in Name, but its GlobalProtect format and Strata's "LF"
/// CEF put it in Device Event Class ID (reference/panos-formats.md §1.3), so both are tried, Name
/// first: a Name that is a type without a sourcetype settles it.
pub fn for_cef(device_vendor: &str, name: &str, class_id: &str) -> Option<&'static str> {
    if device_vendor != "Palo Alto Networks" {
        return None;
    }
    panos_type(name).or_else(|| panos_type(class_id)).flatten()
}

/// The sourcetype of a syslog MSG in PAN-OS CSV; `None` when it is not PAN-OS CSV or is of a
/// type the add-on has no sourcetype for.
///
/// The type is the first type token among the first 8 fields (index 3 normally, 2 for Strata, 5
/// in the PAN-OS 9.1.0–9.1.2 GlobalProtect layout).
pub fn for_csv(msg: &str) -> Option<&'static str> {
    // A relay that prepends its own header leaves the device's header in MSG
    // (`Feb 24 22:06:07 BD-Panorama 1,2016/...`): the CSV starts after the last space before
    // the first comma.
    let first_comma = msg.find(',')?;
    let start = msg
        .get(..first_comma)?
        .rfind(' ')
        .map_or(0, |space| space + 1);
    let csv = msg.get(start..)?;
    if !looks_like_csv(csv) {
        return None;
    }
    csv.split(',').take(8).find_map(panos_type).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAN: &str = "Palo Alto Networks";

    #[test]
    fn cef_sourcetypes_follow_the_type_in_name_else_class_id() {
        assert_eq!(for_cef(PAN, "THREAT", "url"), Some("pan:threat"));
        // Native GlobalProtect format: type and subtype swapped.
        assert_eq!(
            for_cef(PAN, "login", "GLOBALPROTECT"),
            Some("pan:globalprotect")
        );
        // Strata "LF": the type first; the SYSTEM subtype `globalprotect` is no type.
        assert_eq!(for_cef(PAN, "globalprotect", "SYSTEM"), Some("pan:system"));
        // A type without a sourcetype in Name is not overruled by Device Event Class ID.
        assert_eq!(for_cef(PAN, "END", "TRAFFIC"), None);
        assert_eq!(for_cef("Fortinet", "THREAT", "1"), None);
    }

    #[test]
    fn csv_sourcetypes_come_from_the_first_type_field() {
        assert_eq!(
            for_csv("1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability,1"),
            Some("pan:threat")
        );
        // Another relay's header in front of the device's CSV.
        assert_eq!(
            for_csv("Feb 24 22:06:07 BD-Panorama 1,2016/02/24 22:06:07,01,SYSTEM,general"),
            Some("pan:system")
        );
        assert_eq!(for_csv("1,2021/02/08 09:05:48,012,AUTHENTICATION,x"), None);
        assert_eq!(for_csv("sshd[1]: THREAT,TRAFFIC"), None);
    }
}
