//! `aruba`: Aruba Mobility Controller authentications and Aruba ClearPass session logs.
//!
//! **Mobility Controller** (ArubaOS `authmgr`, message 522008): `… authmgr[3469]: <522008>
//! <NOTI> <Test-1 192.168.94.12>  User Authentication Successful: username=user1
//! MAC=00:00:5E:00:53:01 IP=10.124.163.132 role=role1 VLAN=123 AP=Test-A/Test-B SSID=testID1
//! AAA profile=testID1_AAA auth method=802.1x auth server=test_server` is a login of
//! `username` at `IP`. Values are single words and keys may hold spaces (`AAA profile`), so a
//! value ends at the first space and a key starts after it. The controller's logout side
//! (user entry deletion, de-authentication) is not read: we found no documented line shape to
//! rely on, and a guessed one would silently never match.
//!
//! **ClearPass** (Policy Manager syslog export): `<PRI>YYYY-MM-DD hh:mm:ss,mmm <host> <filter
//! name> <message id> <total> <number> Key=Value,Key=Value,…`, segmented like ISE (see
//! [`super::segments`]). Keys are `Namespace.Name` and may hold runs of spaces
//! (`WEBAUTH.Host-IP-  Address`), which are dropped; a value may hold commas, so a pair ends
//! only at a comma followed by the next `Namespace.` key. `Common.Login-Status=ACCEPT` is a
//! login of `Common.Username` at the session's `…Framed-IP-Address`, or failing that its
//! `…Host-IP-Address` [U: which namespaces carry them depends on the export's fields].

use std::net::IpAddr;

use super::segments::{numbered, Reassembly, Segment};
use super::{client_address, is_person, observation, Observed};

const CONTROLLER_MARKER: &str = "User Authentication Successful:";

pub(super) fn observe(
    message: &str,
    now_secs: u64,
    segments: &mut Reassembly,
    observed: &mut Vec<Observed>,
) {
    if let Some(at) = message.find(CONTROLLER_MARKER) {
        observe_controller(&message[at + CONTROLLER_MARKER.len()..], observed);
        return;
    }
    let Some(segment) = clearpass_segment(message) else {
        return;
    };
    if let Some(event) = segments.add(segment, now_secs) {
        observe_clearpass(&event, observed);
    }
}

fn observe_controller(fields: &str, observed: &mut Vec<Observed>) {
    let fields = controller_fields(fields);
    let value = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let (Some(user), Some(address)) = (value("username"), value("IP")) else {
        return;
    };
    if let Some(ip) = client_address(address).filter(|_| is_person(user)) {
        observed.push(observation(user, ip, true));
    }
}

/// `key=value` pairs whose values are one word and whose keys run from the end of the previous
/// value to the `=`.
fn controller_fields(mut text: &str) -> Vec<(&str, &str)> {
    let mut fields = Vec::new();
    while let Some(equals) = text.find('=') {
        let key = text[..equals].trim();
        let rest = &text[equals + 1..];
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        fields.push((key, &rest[..end]));
        text = &rest[end..];
    }
    fields
}

/// The segment a ClearPass message holds: its numbered header is the last `<id> <total>
/// <number>` before the first `=` (the filter name before it may hold numbers too).
fn clearpass_segment(message: &str) -> Option<Segment<'_>> {
    let head_end = message.find('=').unwrap_or(message.len());
    let (at, (id, total, number, text)) = message[..head_end]
        .match_indices(' ')
        .filter_map(|(at, _)| Some((at, numbered(&message[at + 1..])?)))
        .next_back()?;
    Some(Segment {
        event: format!("{} {id}", sender_and_filter(&message[..at])),
        total,
        number,
        text,
    })
}

/// What stays the same across one event's segments: the text before the numbered header
/// without the PRI and timestamps (a segment may be sent a second later), which leaves the
/// ClearPass host and the export filter's name.
fn sender_and_filter(header: &str) -> &str {
    let header = header.trim();
    let after_time = header
        .split(' ')
        .scan(0, |offset, token| {
            let start = *offset;
            *offset += token.len() + 1;
            Some((start, token))
        })
        .filter(|(_, token)| token.starts_with(|c: char| c.is_ascii_digit()) && token.contains(':'))
        .last()
        .map_or(0, |(start, token)| start + token.len() + 1);
    header.get(after_time..).unwrap_or_default().trim()
}

fn observe_clearpass(event: &str, observed: &mut Vec<Observed>) {
    let pairs = clearpass_pairs(event);
    let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    if value("Common.Login-Status") != Some("ACCEPT") {
        return;
    }
    let Some(user) = value("Common.Username").filter(|user| is_person(user)) else {
        return;
    };
    let addresses = |suffix: &str| -> Vec<IpAddr> {
        let mut found: Vec<IpAddr> = pairs
            .iter()
            .filter(|(key, _)| key.ends_with(suffix))
            .filter_map(|(_, value)| client_address(value))
            .collect();
        found.sort();
        found.dedup();
        found
    };
    let mut ips = addresses("Framed-IP-Address");
    if ips.is_empty() {
        ips = addresses("Host-IP-Address");
    }
    observed.extend(ips.into_iter().map(|ip| observation(user, ip, true)));
}

/// The `Namespace.Name=value` pairs of a ClearPass event, keys without whitespace, values
/// trimmed. The export ends every pair with a comma, the last one too.
fn clearpass_pairs(event: &str) -> Vec<(String, &str)> {
    let event = event.trim_end().trim_end_matches(',');
    // A pair starts at the beginning and after each comma followed by a key; a comma followed
    // by anything else belongs to the value.
    let mut starts = vec![0];
    starts.extend(
        event
            .match_indices(',')
            .map(|(at, _)| at + 1)
            .filter(|&at| starts_with_key(&event[at..])),
    );
    let ends = starts
        .iter()
        .skip(1)
        .map(|&start| start - 1)
        .chain([event.len()]);
    starts
        .iter()
        .zip(ends)
        .filter_map(|(&from, to)| {
            let (key, value) = event[from..to].split_once('=')?;
            Some((key.split_whitespace().collect(), value.trim()))
        })
        .collect()
}

/// Whether `text` starts with `Namespace.Name=` (the name may hold spaces).
fn starts_with_key(text: &str) -> bool {
    let Some((key, _)) = text.split_once('=') else {
        return false;
    };
    let Some((namespace, name)) = key.trim_start().split_once('.') else {
        return false;
    };
    !namespace.is_empty()
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.trim().is_empty()
        && !name.contains(',')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Builtin, BuiltinParser};

    fn parser() -> BuiltinParser {
        BuiltinParser::new(Builtin::Aruba, 8, 10)
    }

    fn observe(message: &str) -> Vec<(String, String, bool)> {
        summary(parser().observe(message, 0))
    }

    fn summary(observed: Vec<Observed>) -> Vec<(String, String, bool)> {
        observed
            .into_iter()
            .map(|o| {
                assert_eq!(o.profile, "aruba");
                (o.user, o.ip.to_string(), o.login)
            })
            .collect()
    }

    fn one(user: &str, ip: &str) -> Vec<(String, String, bool)> {
        vec![(user.to_owned(), ip.to_owned(), true)]
    }

    /// The documented sample (IBM QRadar's DSM guide for Aruba Mobility Controllers).
    const CONTROLLER: &str = "<141>Mar 20 10:48:41 2014 aruba.mobility.test authmgr[3469]: <522008> <NOTI> <Test-1 192.168.94.12>  User Authentication Successful: username=user1 MAC=00:00:5E:00:53:01 IP=10.124.163.132 role=role1 VLAN=123 AP=Test-A/Test-B SSID=testID1 AAA profile=testID1_AAA auth method=802.1x auth server=test_server";

    #[test]
    fn a_controller_authentication_is_a_login() {
        assert_eq!(observe(CONTROLLER), one("user1", "10.124.163.132"));
    }

    #[test]
    fn a_controller_authentication_behind_a_relay_with_ipv6_is_a_login() {
        let line = CONTROLLER
            .replace("IP=10.124.163.132", "IP=2001:db8:163::132")
            .replace("<141>Mar 20", "<134>Mar 20 10:48:42 relay01 Mar 20");
        assert_eq!(observe(&line), one("user1", "2001:db8:163::132"));
    }

    #[test]
    fn controller_keys_with_spaces_do_not_swallow_values() {
        let fields =
            controller_fields(" username=user1 IP=10.0.0.1 AAA profile=p auth method=802.1x");
        assert_eq!(
            fields,
            vec![
                ("username", "user1"),
                ("IP", "10.0.0.1"),
                ("AAA profile", "p"),
                ("auth method", "802.1x"),
            ]
        );
    }

    #[test]
    fn a_controller_mac_or_machine_authentication_is_nothing() {
        let mac = CONTROLLER.replace("username=user1", "username=00005e005301");
        assert_eq!(observe(&mac), vec![]);
        let machine = CONTROLLER.replace("username=user1", "username=host/LT-42.corp.example");
        assert_eq!(observe(&machine), vec![]);
        let no_ip = CONTROLLER.replace("IP=10.124.163.132", "IP=0.0.0.0");
        assert_eq!(observe(&no_ip), vec![]);
    }

    /// The reference's ClearPass shape, one segment.
    const CLEARPASS: &str = "<46>2014-06-19 14:39:39,543 10.2.2.2 All Session Log Fields 4 1 0 Common.Alerts-Present=0,Common.Auth-Type=,Common.Enforcement-Profiles=[Allow Access Profile],Common.Host-MAC-Address=,Common.Login-Status=ACCEPT,Common.Request-Timestamp=2014-06-19 14:39:39+05:30,Common.Service=Guest Access,Common.Username=prem1,WEBAUTH.Auth-Source=[Local User Repository],WEBAUTH.Host-IP-  Address=127.0.0.1,";

    #[test]
    fn a_clearpass_accept_from_loopback_is_nothing() {
        assert_eq!(observe(CLEARPASS), vec![]);
    }

    #[test]
    fn a_clearpass_accept_is_a_login_at_the_host_address() {
        let line = CLEARPASS.replace("=127.0.0.1", "=10.20.30.41");
        assert_eq!(observe(&line), one("prem1", "10.20.30.41"));
    }

    #[test]
    fn a_clearpass_framed_address_wins_over_the_host_address() {
        let line = CLEARPASS.replace(
            "Common.Username=prem1,",
            "Common.Username=prem1,RADIUS.Acct-Framed-IP-Address=10.9.8.7,",
        );
        assert_eq!(observe(&line), one("prem1", "10.9.8.7"));
    }

    #[test]
    fn a_clearpass_reject_is_nothing() {
        let line = CLEARPASS
            .replace("=127.0.0.1", "=10.20.30.41")
            .replace("Login-Status=ACCEPT", "Login-Status=REJECT");
        assert_eq!(observe(&line), vec![]);
    }

    #[test]
    fn clearpass_values_may_hold_commas_and_keys_double_spaces() {
        let pairs = clearpass_pairs(
            "A.B=x,y,Common.Service=Guest, Access,WEBAUTH.Host-IP-  Address=10.0.0.1,",
        );
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            pairs,
            vec![
                ("A.B", "x,y"),
                ("Common.Service", "Guest, Access"),
                ("WEBAUTH.Host-IP-Address", "10.0.0.1"),
            ]
        );
    }

    #[test]
    fn clearpass_segments_a_second_apart_are_reassembled() {
        let line = CLEARPASS.replace("=127.0.0.1", "=10.20.30.41");
        let body_at = line.find("Common.").unwrap();
        let cut = line.find("prem1").unwrap() + 2;
        let first = format!("{} 4 2 0 {}", &line[..body_at - 7], &line[body_at..cut]);
        let second = format!(
            "<46>2014-06-19 14:39:40,002 10.2.2.2 All Session Log Fields 4 2 1 {}",
            &line[cut..]
        );
        let mut parser = parser();
        assert_eq!(parser.observe(&first, 0), vec![]);
        assert_eq!(parser.pending(), 1);
        assert_eq!(
            summary(parser.observe(&second, 1)),
            one("prem1", "10.20.30.41")
        );
        assert_eq!(parser.pending(), 0);
    }

    #[test]
    fn the_clearpass_header_is_found_after_numbers_in_the_filter_name() {
        let segment = clearpass_segment(
            "<46>2014-06-19 14:39:39,543 10.2.2.2 Session Log 2 7 3 1 Common.Username=x,",
        )
        .unwrap();
        assert_eq!(segment.event, "10.2.2.2 Session Log 2 7");
        assert_eq!((segment.total, segment.number), (3, 1));
        assert_eq!(segment.text, "Common.Username=x,");
    }

    #[test]
    fn other_aruba_lines_are_nothing() {
        let line = "<143>Mar 20 10:48:41 2014 aruba.mobility.test authmgr[3469]: <522026> <INFO> <Test-1 192.168.94.12>  User miss: ingress=0x1001e, VLAN=1, u_port=0, flags=0";
        let mut parser = parser();
        assert_eq!(parser.observe(line, 0), vec![]);
        assert_eq!(parser.pending(), 0);
    }
}
