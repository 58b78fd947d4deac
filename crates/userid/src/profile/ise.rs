//! `cisco-ise`: Cisco ISE's remote logging.
//!
//! A message is `<syslog header> <ISE host> CISE_<category> <message id> <total> <number>`,
//! then the segment's text (see [`super::segments`]). The whole event reads
//! `YYYY-MM-DD hh:mm:ss.mmm +00:00 <sequence> <code> <level> <class>: <text>, key=value, …`:
//! attributes separated by a comma, whose keys may hold spaces (`Device IP Address`) and may
//! repeat (`Step`, `cisco-av-pair`). ISE escapes a comma or semicolon inside a value with a
//! backslash (`phone\,2`, `…\;36SessionID=…`), and a backslash with another (`CISCO\\sahota`).
//!
//! * `CISE_RADIUS_Accounting`: `Acct-Status-Type=Start` or `Interim-Update` is a login of
//!   `User-Name` (or `UserName`) at `Framed-IP-Address`; `Stop` is a logout.
//! * `CISE_Passed_Authentications` with a `Framed-IP-Address` is a login.
//!
//! `Framed-IPv6-Address` (RFC 6911) counts as well. Everything else is nothing.

use std::borrow::Cow;

use super::segments::{numbered, Reassembly, Segment};
use super::{client_address, is_person, observation, Observed};

const MARKER: &str = "CISE_";

pub(super) fn observe(
    message: &str,
    now_secs: u64,
    segments: &mut Reassembly,
    observed: &mut Vec<Observed>,
) {
    let Some((host, rest)) = find_marker(message) else {
        return;
    };
    let Some((category, header)) = rest.split_once(' ') else {
        return;
    };
    let Some((id, total, number, text)) = numbered(header) else {
        return;
    };
    let segment = Segment {
        // The host keeps apart the events of ISE nodes that share a message id.
        event: format!("{host} {MARKER}{category} {id}"),
        total,
        number,
        text,
    };
    if let Some(event) = segments.add(segment, now_secs) {
        read_event(category, &event, observed);
    }
}

/// The token before `CISE_` (the ISE node that sent it) and the text after `CISE_`.
fn find_marker(message: &str) -> Option<(&str, &str)> {
    let at = message
        .match_indices(MARKER)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || message[..at].ends_with(' '))?;
    let before = message[..at].trim_end();
    let host = before.rsplit(' ').next().unwrap_or_default();
    Some((host, &message[at + MARKER.len()..]))
}

fn read_event(category: &str, event: &str, observed: &mut Vec<Observed>) {
    let attributes = attributes(event);
    let value = |key: &str| {
        attributes
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_ref())
    };
    let login = match category {
        "RADIUS_Accounting" => match value("Acct-Status-Type") {
            Some("Start" | "Interim-Update") => true,
            Some("Stop") => false,
            _ => return,
        },
        "Passed_Authentications" => true,
        _ => return,
    };
    let Some(user) = value("User-Name").or_else(|| value("UserName")) else {
        return;
    };
    if !is_person(user) {
        return;
    }
    observed.extend(
        attributes
            .iter()
            .filter(|(key, _)| matches!(*key, "Framed-IP-Address" | "Framed-IPv6-Address"))
            .filter_map(|(_, address)| client_address(address))
            .map(|ip| observation(user, ip, login)),
    );
}

/// The `key=value` attributes of an event, in order, values unescaped. Text between separators
/// that holds no `=` (the event's header and description) is not an attribute.
fn attributes(event: &str) -> Vec<(&str, Cow<'_, str>)> {
    split_unescaped(event, ',')
        .into_iter()
        .filter_map(|item| {
            let (key, value) = item.split_once('=')?;
            let key = key.trim();
            (!key.is_empty()).then(|| (key, unescape(value.trim())))
        })
        .collect()
}

/// `text` split at every `separator` that no backslash escapes.
fn split_unescaped(text: &str, separator: char) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            items.push(&text[start..at]);
            start = at + c.len_utf8();
        }
    }
    items.push(&text[start..]);
    items
}

/// `\,`, `\;` and `\\` as the characters they stand for; any other backslash is literal.
fn unescape(value: &str) -> Cow<'_, str> {
    if !value.contains('\\') {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(&next @ (',' | ';' | '\\'))) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Builtin, BuiltinParser};

    fn parser() -> BuiltinParser {
        BuiltinParser::new(Builtin::CiscoIse, 8, 10)
    }

    fn observe(message: &str) -> Vec<(String, String, bool)> {
        summary(parser().observe(message, 0))
    }

    fn summary(observed: Vec<Observed>) -> Vec<(String, String, bool)> {
        observed
            .into_iter()
            .map(|o| {
                assert_eq!(o.profile, "cisco-ise");
                (o.user, o.ip.to_string(), o.login)
            })
            .collect()
    }

    fn one(user: &str, ip: &str, login: bool) -> Vec<(String, String, bool)> {
        vec![(user.to_owned(), ip.to_owned(), login)]
    }

    /// A real accounting start (Cisco's own test data, as in public ISE parsers' tests).
    const START: &str = "<181>May  7 00:00:07 isemtv-prd-09 CISE_RADIUS_Accounting 0009659552 1 0 2015-05-07 00:00:07.937 +00:00 0348597681 3000 NOTICE Radius-Accounting: RADIUS Accounting start request, ConfigVersionId=21, Device IP Address=171.68.33.133, RequestLatency=1, NetworkDeviceName=mtv5-mda2-dt-sw1, User-Name=CISCO\\\\sahota, NAS-IP-Address=171.68.33.133, NAS-Port=50136, Service-Type=Framed, Framed-IP-Address=171.68.33.159, Class=CACS:AB44218500003C86633F00A3:isemtv-prd-09/218277192/12720217, Called-Station-ID=30-F7-0D-D8-3D-A4, Calling-Station-ID=54-EE-75-49-B0-FF, Acct-Status-Type=Start, Acct-Delay-Time=0, Acct-Session-Id=00004404, Acct-Authentic=RADIUS, NAS-Port-Type=Ethernet, NAS-Port-Id=GigabitEthernet1/0/36, cisco-av-pair=mdm-tlv=device-type=phone\\,2, AcsSessionID=isemtv-prd-09/218277192/12720217,";

    #[test]
    fn an_accounting_start_is_a_login_of_the_unescaped_user() {
        assert_eq!(observe(START), one("CISCO\\sahota", "171.68.33.159", true));
    }

    #[test]
    fn an_interim_update_is_a_login_and_a_stop_a_logout() {
        let interim = START.replace("Acct-Status-Type=Start", "Acct-Status-Type=Interim-Update");
        assert_eq!(
            observe(&interim),
            one("CISCO\\sahota", "171.68.33.159", true)
        );
        let stop = START.replace("Acct-Status-Type=Start", "Acct-Status-Type=Stop");
        assert_eq!(observe(&stop), one("CISCO\\sahota", "171.68.33.159", false));
        let other = START.replace("Acct-Status-Type=Start", "Acct-Status-Type=Accounting-On");
        assert_eq!(observe(&other), vec![]);
    }

    #[test]
    fn a_watchdog_update_without_a_framed_address_is_nothing() {
        // The reference's accounting line: no Framed-IP-Address.
        let line = "<181>Jul 24 13:36:09 dahouck-ise CISE_RADIUS_Accounting 0000008174 1 0 2018-07-24 13:36:09.866 -04:00 0000106784 3002 NOTICE Radius-Accounting: RADIUS Accounting watchdog update, ConfigVersionId=74, Device IP Address=10.118.113.194, RequestLatency=8, NetworkDeviceName=homeswitch, User-Name=isetest, NAS-IP-Address=10.118.113.194, Service-Type=Framed, Acct-Status-Type=Interim-Update, Acct-Delay-Time=0, Acct-Session-Id=00000000, Acct-Authentic=RADIUS,";
        assert_eq!(observe(line), vec![]);
        let framed = line.replace(
            "Service-Type=Framed,",
            "Service-Type=Framed, Framed-IP-Address=10.118.113.50,",
        );
        assert_eq!(observe(&framed), one("isetest", "10.118.113.50", true));
    }

    #[test]
    fn user_name_falls_back_to_username_and_ipv6_is_mapped() {
        let line = "<14>2026-04-22T12:10:00Z ise01 CISE_RADIUS_Accounting 0000012345 1 0 2026-04-22 12:10:00.123 +00:00 1234567 3000 NOTICE Radius-Accounting: RADIUS Accounting start request, ConfigVersionId=123, Device IP Address=10.0.10.1, UserName=alice, NAS-IP-Address=10.0.10.1, Framed-IPv6-Address=2001:db8:10::34, Acct-Status-Type=Start, Acct-Session-Id=ABCDEF01";
        assert_eq!(observe(line), one("alice", "2001:db8:10::34", true));
    }

    /// The reference's passed authentication, cut into four segments as ISE would send it.
    fn passed_authentication(user: &str) -> [String; 4] {
        let event = format!("2019-04-24 15:00:48.610 +00:00 0042009748 5200 NOTICE Passed-Authentication: Authentication succeeded, ConfigVersionId=128, Device IP Address=10.6.64.15, DestinationIPAddress=10.6.64.20, DestinationPort=1812, UserName={user}, Protocol=Radius, RequestLatency=27, NetworkDeviceName=SW-ACCESS-01, User-Name={user}, NAS-IP-Address=10.6.64.15, NAS-Port=50105, Service-Type=Call Check, Framed-IP-Address=10.6.226.138, Framed-MTU=1500, Called-Station-ID=00-A7-42-2F-B0-05, Calling-Station-ID=90-1B-0E-34-EA-92, NAS-Port-Type=Ethernet, NAS-Port-Id=GigabitEthernet1/0/5, EAP-Key-Name=, cisco-av-pair=service-type=Call Check, AcsSessionID=ICDC-ISE03/343006457/2937814,");
        // Cut inside the address and inside a key, as a size limit does.
        let cut = [
            0,
            200,
            event.find("226.138").unwrap(),
            event.find("-Port-Type").unwrap(),
        ];
        let parts: Vec<&str> = (0..4)
            .map(|i| &event[cut[i]..cut.get(i + 1).copied().unwrap_or(event.len())])
            .collect();
        std::array::from_fn(|i| {
            format!(
                "<165>Apr 24 15:00:48 ICDC-ISE03 CISE_Passed_Authentications 0001939187 4 {i} {}",
                parts[i]
            )
        })
    }

    #[test]
    fn a_passed_authentication_in_segments_is_a_login_once_complete() {
        let mut parser = parser();
        let segments = passed_authentication("jdoe@corp.example");
        for (i, segment) in segments[..3].iter().enumerate() {
            assert_eq!(parser.observe(segment, i as u64), vec![]);
            assert_eq!(parser.pending(), 1);
        }
        let observed = parser.observe(&segments[3], 3);
        assert_eq!(parser.pending(), 0);
        assert_eq!(
            summary(observed),
            one("jdoe@corp.example", "10.6.226.138", true)
        );
        assert_eq!(parser.expire(100), 0);
    }

    #[test]
    fn segments_out_of_order_are_reassembled() {
        let mut parser = parser();
        let segments = passed_authentication("jdoe");
        let mut observed = Vec::new();
        for i in [2, 0, 3, 1] {
            observed.extend(parser.observe(&segments[i], 0));
        }
        assert_eq!(summary(observed), one("jdoe", "10.6.226.138", true));
    }

    #[test]
    fn a_mac_authentication_bypass_is_nothing() {
        // As in the reference: the device authenticated with its MAC address as user name.
        let mut parser = parser();
        let observed: Vec<_> = passed_authentication("90-1B-0E-34-EA-92")
            .iter()
            .flat_map(|segment| parser.observe(segment, 0))
            .collect();
        assert_eq!(observed, vec![]);
    }

    #[test]
    fn an_event_missing_a_segment_is_given_up_after_max_wait_and_counted() {
        let mut parser = parser();
        let segments = passed_authentication("jdoe");
        parser.observe(&segments[0], 100);
        parser.observe(&segments[1], 100);
        parser.observe(&segments[3], 101);
        assert_eq!(parser.expire(110), 0);
        assert_eq!(parser.pending(), 1);
        assert_eq!(parser.expire(111), 1);
        assert_eq!(parser.pending(), 0);
        // The late segment starts a new wait and completes nothing.
        assert_eq!(parser.observe(&segments[2], 112), vec![]);
    }

    #[test]
    fn the_oldest_pending_event_is_dropped_at_max_pending_and_counted() {
        let mut parser = BuiltinParser::new(Builtin::CiscoIse, 1, 10);
        let first = passed_authentication("first");
        let second: Vec<String> = passed_authentication("second")
            .iter()
            .map(|s| s.replace(" 0001939187 ", " 0001939188 "))
            .collect();
        parser.observe(&first[0], 0);
        parser.observe(&second[0], 1);
        assert_eq!(parser.pending(), 1);
        let observed: Vec<_> = second[1..]
            .iter()
            .flat_map(|segment| parser.observe(segment, 1))
            .collect();
        assert_eq!(summary(observed), one("second", "10.6.226.138", true));
        assert_eq!(parser.expire(1), 1);
    }

    #[test]
    fn two_nodes_with_the_same_message_id_are_kept_apart() {
        let mut parser = parser();
        let node1 = passed_authentication("one");
        let node2 = passed_authentication("two").map(|s| s.replace("ICDC-ISE03", "ICDC-ISE04"));
        let mut observed = Vec::new();
        for i in 0..4 {
            observed.extend(parser.observe(&node1[i], 0));
            observed.extend(parser.observe(&node2[i], 0));
        }
        assert_eq!(
            summary(observed),
            vec![
                ("one".to_owned(), "10.6.226.138".to_owned(), true),
                ("two".to_owned(), "10.6.226.138".to_owned(), true),
            ]
        );
    }

    #[test]
    fn a_relay_header_in_front_does_not_matter() {
        let line = START.replace(
            "<181>May  7 00:00:07 isemtv-prd-09 ",
            "<184>May  7 00:00:08 172.0.0.10 May  7 00:00:07 isemtv-prd-09 ",
        );
        assert_eq!(observe(&line), one("CISCO\\sahota", "171.68.33.159", true));
    }

    #[test]
    fn other_categories_and_other_senders_are_nothing() {
        let failed = START.replace("CISE_RADIUS_Accounting", "CISE_Failed_Attempts");
        assert_eq!(observe(&failed), vec![]);
        assert_eq!(
            observe("<14>May  7 00:00:07 host sshd[1]: Accepted password for root from 10.0.0.1"),
            vec![]
        );
        assert_eq!(observe("<14>May  7 00:00:07 host XCISE_RADIUS_Accounting 1 1 0 User-Name=a, Framed-IP-Address=10.0.0.1, Acct-Status-Type=Start"), vec![]);
    }

    #[test]
    fn attributes_split_at_unescaped_commas_and_keep_spaces_in_keys() {
        let attributes = attributes(
            "12:00 NOTICE Radius: text, Device IP Address=10.0.0.1, cisco-av-pair=a=b\\,c, State=x\\;y, Empty=,",
        );
        let attributes: Vec<(&str, &str)> =
            attributes.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        assert_eq!(
            attributes,
            vec![
                ("Device IP Address", "10.0.0.1"),
                ("cisco-av-pair", "a=b,c"),
                ("State", "x;y"),
                ("Empty", ""),
            ]
        );
    }
}
