//! `windows-4624`: Windows Security event 4624 ("An account was successfully logged on") as
//! forwarders send it.
//!
//! * **JSON** (NXLog `to_json()`, and others that keep the event data's names):
//!   `{"EventID":4624,"TargetUserName":"LPW","TargetDomainName":"LP","LogonType":"3",
//!   "IpAddress":"10.0.2.10",…}`, after the syslog header.
//! * **WinCollect / NXLog tab-separated**: `AgentDevice=WindowsLog\tAgentLogFile=Security\t…
//!   EventID=4624\t…\tMessage=An account was successfully logged on. … New Logon: … Account
//!   Name: user Account Domain: CORP … Source Network Address: 10.0.2.10 …`. The Message is
//!   the event's text with its line breaks turned into spaces or tabs; its *Subject* section
//!   names the account that reported the logon (often the computer), so the user is read from
//!   the *New Logon* section.
//!
//! The user is `DOMAIN\user` (`user` alone when the domain is empty or `-`). Not mapped:
//! machine accounts (`…$`), `ANONYMOUS LOGON` and the other built-in `NT AUTHORITY` accounts,
//! service and batch logons (types 5 and 4: services, not people), and addresses that are
//! `-`, loopback or unspecified (a local logon). An IPv4 address written IPv4-mapped
//! (`::ffff:10.0.2.10`) is mapped as IPv4.
//!
//! The logoff events 4634 and 4647 carry no address, so they observe nothing: mappings learned
//! here end by timeout.

use serde_json::Value;

use super::{client_address, is_person, observation, Observed};

const LOGON: &str = "4624";

/// Logon types that are services, not people: batch (4) and service (5).
const SERVICE_LOGON_TYPES: [&str; 2] = ["4", "5"];

/// What a 4624 event says, whatever form it came in.
struct Logon<'a> {
    user: &'a str,
    domain: &'a str,
    logon_type: &'a str,
    address: &'a str,
}

pub(super) fn observe(message: &str, observed: &mut Vec<Observed>) {
    if let Some(tab_separated) = message.find("AgentDevice=").map(|at| &message[at..]) {
        if let Some(logon) = tab_separated_logon(tab_separated) {
            logon.observe(observed);
        }
        return;
    }
    let Some(json) = message.find('{').map(|at| &message[at..]) else {
        return;
    };
    // The first JSON value, whatever a forwarder put after it.
    let Some(Ok(Value::Object(event))) = serde_json::Deserializer::from_str(json)
        .into_iter::<Value>()
        .next()
    else {
        return;
    };
    let text = |key: &str| -> Option<String> {
        match event.get(key)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    };
    if text("EventID").as_deref() != Some(LOGON) {
        return;
    }
    let (user, domain, logon_type, address) = (
        text("TargetUserName").unwrap_or_default(),
        text("TargetDomainName").unwrap_or_default(),
        text("LogonType").unwrap_or_default(),
        text("IpAddress").unwrap_or_default(),
    );
    Logon {
        user: &user,
        domain: &domain,
        logon_type: &logon_type,
        address: &address,
    }
    .observe(observed);
}

/// The logon a tab-separated WinCollect/NXLog event describes, when it is event 4624.
fn tab_separated_logon(event: &str) -> Option<Logon<'_>> {
    let is_logon = event
        .split('\t')
        .any(|field| field.trim().strip_prefix("EventID=") == Some(LOGON));
    if !is_logon {
        return None;
    }
    let message = &event[event.find("Message=")?..];
    let new_logon = &message[message.find("New Logon:")?..];
    Some(Logon {
        user: between(new_logon, "Account Name:", "Account Domain:")?,
        domain: between(new_logon, "Account Domain:", "Logon ID:").unwrap_or_default(),
        logon_type: first_word_after(message, "Logon Type:").unwrap_or_default(),
        address: first_word_after(message, "Source Network Address:")?,
    })
}

/// The text between the first `start` label and the `end` label after it, trimmed.
fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let rest = &text[from..];
    Some(rest[..rest.find(end)?].trim())
}

/// The first word after the first `label`.
fn first_word_after<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    let from = text.find(label)? + label.len();
    text[from..].split_whitespace().next()
}

impl Logon<'_> {
    fn observe(&self, observed: &mut Vec<Observed>) {
        let user = self.user.trim();
        let domain = self.domain.trim();
        let built_in = domain.eq_ignore_ascii_case("NT AUTHORITY")
            || user.eq_ignore_ascii_case("ANONYMOUS LOGON");
        if built_in
            || user.ends_with('$')
            || user == "-"
            || !is_person(user)
            || SERVICE_LOGON_TYPES.contains(&self.logon_type.trim())
        {
            return;
        }
        let Some(ip) = client_address(self.address) else {
            return;
        };
        let user = if domain.is_empty() || domain == "-" {
            user.to_owned()
        } else {
            format!("{domain}\\{user}")
        };
        observed.push(observation(&user, ip, true));
    }
}

#[cfg(test)]
mod tests {
    use crate::profile::{Builtin, BuiltinParser};

    fn observe(message: &str) -> Vec<(String, String, bool)> {
        BuiltinParser::new(Builtin::Windows4624, 8, 10)
            .observe(message, 0)
            .into_iter()
            .map(|o| {
                assert_eq!(o.profile, "windows-4624");
                (o.user, o.ip.to_string(), o.login)
            })
            .collect()
    }

    fn one(user: &str, ip: &str) -> Vec<(String, String, bool)> {
        vec![(user.to_owned(), ip.to_owned(), true)]
    }

    /// The reference's NXLog JSON shape, behind a syslog header.
    const JSON: &str = r#"<14>Oct 21 15:30:01 DC01 NXLog: {"EventTime":"2019-10-21 15:30:01","Hostname":"DC01.lp.local","Keywords":-9214364837600034816,"EventType":"AUDIT_SUCCESS","SeverityValue":2,"Severity":"INFO","EventID":4624,"SourceName":"Microsoft-Windows-Security-Auditing","TargetUserSid":"S-1-5-21-3541430928-2051711210-1391384369-1103","TargetUserName":"LPW","TargetDomainName":"LP","TargetLogonId":"0x5a1b2c","LogonType":"3","LogonProcessName":"Kerberos","AuthenticationPackageName":"Kerberos","WorkstationName":"-","IpAddress":"10.0.2.10","IpPort":"60208"}"#;

    #[test]
    fn a_json_network_logon_is_a_login_of_domain_user() {
        assert_eq!(observe(JSON), one("LP\\LPW", "10.0.2.10"));
    }

    #[test]
    fn json_with_a_string_event_id_ipv6_and_trailing_text_is_read() {
        let line = JSON
            .replace(r#""EventID":4624"#, r#""EventID":"4624""#)
            .replace("10.0.2.10", "2001:db8::a")
            + " trailer";
        assert_eq!(observe(&line), one("LP\\LPW", "2001:db8::a"));
    }

    #[test]
    fn an_ipv4_mapped_address_is_mapped_as_ipv4() {
        let line = JSON.replace("10.0.2.10", "::ffff:10.0.2.10");
        assert_eq!(observe(&line), one("LP\\LPW", "10.0.2.10"));
    }

    #[test]
    fn json_logons_nobody_sits_behind_are_nothing() {
        for (from, to) in [
            ("\"LPW\"", "\"WS042$\""),
            ("\"LPW\"", "\"ANONYMOUS LOGON\""),
            ("\"LP\"", "\"NT AUTHORITY\""),
            ("\"10.0.2.10\"", "\"-\""),
            ("\"10.0.2.10\"", "\"::1\""),
            ("\"10.0.2.10\"", "\"127.0.0.1\""),
            ("\"LogonType\":\"3\"", "\"LogonType\":\"5\""),
            ("\"EventID\":4624", "\"EventID\":4625"),
            ("\"EventID\":4624", "\"EventID\":4634"),
        ] {
            let line = JSON.replace(from, to);
            assert_ne!(line, JSON);
            assert_eq!(observe(&line), vec![], "{to}");
        }
    }

    #[test]
    fn a_json_logon_without_a_domain_is_the_user_alone() {
        let line = JSON.replace(r#""TargetDomainName":"LP""#, r#""TargetDomainName":"-""#);
        assert_eq!(observe(&line), one("LPW", "10.0.2.10"));
    }

    /// WinCollect's tab-separated form (Windows 10: Logon Information before New Logon).
    const TAB_SEPARATED: &str = "<13>Oct 21 15:30:01 WS042 AgentDevice=WindowsLog\tAgentLogFile=Security\tPluginVersion=7.2.9.108\tSource=Microsoft-Windows-Security-Auditing\tComputer=WS042.corp.example\tOriginatingComputer=10.0.2.42\tUser=\tDomain=\tEventID=4624\tEventIDCode=4624\tEventType=8\tEventCategory=12544\tRecordNumber=181412\tTimeGenerated=1571671801\tTimeWritten=1571671801\tLevel=Log Always\tKeywords=Audit Success\tTask=SE_ADT_LOGON_LOGON\tOpcode=Info\tMessage=An account was successfully logged on.  Subject:  Security ID:  NT AUTHORITY\\SYSTEM  Account Name:  WS042$  Account Domain:  CORP  Logon ID:  0x3E7  Logon Information:  Logon Type:  10  Restricted Admin Mode:  No  Virtual Account:  No  Elevated Token:  Yes  Impersonation Level:  Impersonation  New Logon:  Security ID:  CORP\\jdoe  Account Name:  jdoe  Account Domain:  CORP  Logon ID:  0x8A1F2  Linked Logon ID:  0x0  Network Account Name:  -  Network Account Domain:  -  Logon GUID:  {00000000-0000-0000-0000-000000000000}  Process Information:  Process ID:  0x4c8  Process Name:  C:\\Windows\\System32\\svchost.exe  Network Information:  Workstation Name:  WS042  Source Network Address:  10.0.2.77  Source Port:  0  Detailed Authentication Information:  Logon Process:  User32   Authentication Package:  Negotiate";

    #[test]
    fn a_tab_separated_logon_is_a_login_of_the_new_logon_account() {
        assert_eq!(observe(TAB_SEPARATED), one("CORP\\jdoe", "10.0.2.77"));
    }

    #[test]
    fn a_tab_separated_logon_with_tabs_inside_the_message_is_read() {
        let line = TAB_SEPARATED.replace("  ", "\t");
        assert_eq!(observe(&line), one("CORP\\jdoe", "10.0.2.77"));
    }

    #[test]
    fn tab_separated_logons_nobody_sits_behind_are_nothing() {
        for (from, to) in [
            ("Account Name:  jdoe", "Account Name:  WS043$"),
            ("Account Name:  jdoe", "Account Name:  ANONYMOUS LOGON"),
            (
                "Source Network Address:  10.0.2.77",
                "Source Network Address:  -",
            ),
            (
                "Source Network Address:  10.0.2.77",
                "Source Network Address:  127.0.0.1",
            ),
            ("Logon Type:  10", "Logon Type:  5"),
            ("\tEventID=4624\t", "\tEventID=4634\t"),
        ] {
            let line = TAB_SEPARATED.replace(from, to);
            assert_ne!(line, TAB_SEPARATED);
            assert_eq!(observe(&line), vec![], "{to}");
        }
    }

    #[test]
    fn other_messages_are_nothing() {
        assert_eq!(
            observe("<14>Oct 21 15:30:01 host app: {\"not\": \"an event\"}"),
            vec![]
        );
        assert_eq!(observe("<14>Oct 21 15:30:01 host app: {broken"), vec![]);
        assert_eq!(observe("plain text"), vec![]);
    }
}
