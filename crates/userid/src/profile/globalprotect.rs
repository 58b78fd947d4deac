//! `panos-globalprotect`: the GLOBALPROTECT logs of a PAN-OS gateway, in the firewall's CSV
//! or in its GlobalProtect CEF format, and the SYSTEM/globalprotect logs PAN-OS wrote before
//! 9.1.3 gave GlobalProtect a log type of its own.
//!
//! What each event means, from PAN-OS's "Event Descriptions for the GlobalProtect Logs":
//!
//! * Login: the gateway has given the client its tunnel address: `gateway-connected`
//!   ("successful connection for tunnel or non-tunnel mode"), `gateway-register`,
//!   `gateway-setup-ipsec`, `gateway-setup-ssl`. Before that (`portal-*`, `gateway-prelogin`,
//!   `gateway-auth`, `gateway-getconfig`) there is no private IP yet, or not one the client
//!   holds, and nothing is learned.
//! * Logout: `gateway-logout`, `gateway-unregister`, and `gateway-config-release`, which the
//!   docs describe as "configuration release, such as remove ip-user mapping or remove tunnel"
//!   (the old SYSTEM log writes it in the same second as the user's logout, with the private
//!   IP the logout itself lacks).
//! * Only status `success` counts: a failed connection maps nobody.
//!
//! The user is the Source User; a `pre-logon` tunnel (the machine's, before anyone logs on)
//! maps nobody. Each private address, IPv4 and IPv6, is one observation; `0.0.0.0` and `::`
//! mean none.

use cefrelay_panos::log::LogType;

use super::{client_address, is_person, observation, Observed};

/// The events that give a client its tunnel address.
const LOGIN_EVENTS: [&str; 4] = [
    "gateway-connected",
    "gateway-register",
    "gateway-setup-ipsec",
    "gateway-setup-ssl",
];

/// The events that take it back.
const LOGOUT_EVENTS: [&str; 3] = [
    "gateway-logout",
    "gateway-unregister",
    "gateway-config-release",
];

/// The SYSTEM log's event ids (subtype `globalprotect`) that carry `Private IP:` in their
/// description, and whether each is a login.
const SYSTEM_EVENTS: [(&str, bool); 2] = [
    ("globalprotectgateway-config-succ", true),
    ("globalprotectgateway-config-release", false),
];

/// The user a pre-logon tunnel is logged with.
const PRE_LOGON_USER: &str = "pre-logon";

/// One GlobalProtect log's fields, whatever format it came in.
struct Event<'a> {
    eventid: &'a str,
    status: &'a str,
    user: &'a str,
    private_ips: [Option<&'a str>; 2],
}

pub(super) fn observe(message: &str, observed: &mut Vec<Observed>) {
    if let Some(Ok(cef)) = cefrelay_cef::parse_in_message(message) {
        let is_globalprotect = cef.device_vendor == "Palo Alto Networks"
            && (cef.name == "GLOBALPROTECT" || cef.signature_id == "GLOBALPROTECT");
        if is_globalprotect {
            let event = Event {
                eventid: cef.extension("PanOSEventID").unwrap_or_default(),
                status: cef.extension("PanOSEventStatus").unwrap_or_default(),
                user: cef.extension("PanOSSourceUserName").unwrap_or_default(),
                private_ips: [
                    cef.extension("PanOSPrivateIPv4"),
                    cef.extension("PanOSPrivateIPv6"),
                ],
            };
            event.observe(observed);
        }
        return;
    }
    let Some(log) = cefrelay_panos::csv::parse(message) else {
        return;
    };
    match log.log_type {
        Some(LogType::GlobalProtect) => {
            let event = Event {
                eventid: log.get("eventid").unwrap_or_default(),
                status: log.get("status").unwrap_or_default(),
                user: log.get("srcuser").unwrap_or_default(),
                private_ips: [log.get("private_ip"), log.get("private_ipv6")],
            };
            event.observe(observed);
        }
        Some(LogType::System) if log.subtype == "globalprotect" => {
            let eventid = log.get("eventid").unwrap_or_default();
            let description = log.get("opaque").unwrap_or_default();
            if let Some(&(_, login)) = SYSTEM_EVENTS.iter().find(|(id, _)| *id == eventid) {
                observe_system(description, login, observed);
            }
        }
        _ => {}
    }
}

impl Event<'_> {
    fn observe(&self, observed: &mut Vec<Observed>) {
        let login = if LOGIN_EVENTS.contains(&self.eventid) {
            true
        } else if LOGOUT_EVENTS.contains(&self.eventid) {
            false
        } else {
            return;
        };
        let user = self.user.trim();
        if self.status != "success" || !is_person(user) || user == PRE_LOGON_USER {
            return;
        }
        observed.extend(
            self.private_ips
                .iter()
                .flatten()
                .filter_map(|text| client_address(text))
                .map(|ip| observation(user, ip, login)),
        );
    }
}

/// A SYSTEM/globalprotect description: `GlobalProtect gateway client configuration generated.
/// User name: tng\picard, Private IP: 192.168.55.101, Client version: …`.
fn observe_system(description: &str, login: bool, observed: &mut Vec<Observed>) {
    let value = |label: &str| {
        let start = description.find(label)? + label.len();
        let rest = &description[start..];
        Some(rest[..rest.find(',').unwrap_or(rest.len())].trim())
    };
    let (Some(user), Some(ip)) = (value("User name:"), value("Private IP:")) else {
        return;
    };
    if let Some(ip) = client_address(ip).filter(|_| is_person(user) && user != PRE_LOGON_USER) {
        observed.push(observation(user, ip, login));
    }
}

#[cfg(test)]
mod tests {
    use crate::profile::{Builtin, BuiltinParser};

    fn observe(message: &str) -> Vec<(String, String, bool)> {
        let mut parser = BuiltinParser::new(Builtin::PanosGlobalProtect, 8, 10);
        parser
            .observe(message, 0)
            .into_iter()
            .map(|o| {
                assert_eq!(o.profile, "panos-globalprotect");
                assert_eq!(o.timeout_mins, None);
                (o.user, o.ip.to_string(), o.login)
            })
            .collect()
    }

    fn one(user: &str, ip: &str, login: bool) -> Vec<(String, String, bool)> {
        vec![(user.to_owned(), ip.to_owned(), login)]
    }

    /// The relay's own fixture (fixtures/panos-cef/globalprotect.csv), a PAN-OS 10.1 line.
    const CONNECTED_CSV: &str = "1,2024/05/08 01:10:31,013201001234,GLOBALPROTECT,0,2561,2024/05/08 01:10:30,vsys1,gateway-connected,connected,,IPSec,jdoe,US,LT-JDOE,198.51.100.23,::,10.250.0.12,::,5a1b2c3d-aaaa-bbbb-cccc-0123456789ab,PF1XYZ,6.1.3-16,Microsoft,\"Microsoft Windows 10 Pro , 64-bit\",1,,,,success,US West,0,on-demand,0,gp-portal,7294713681,0x8000000000000000,2024-05-08T01:10:30.512-07:00,,,,,,11,0,0,0,,PA-3220-edge,1,";

    /// The same event in PAN-OS's GlobalProtect CEF format (fixtures/panos-cef/globalprotect.cef).
    const CONNECTED_CEF: &str = "CEF:0|Palo Alto Networks|PAN-OS|10.1|0|GLOBALPROTECT|1|rt=May 08 2024 08:10:31 GMT PanOSDeviceSN=013201001234 PanOSLogTimeStamp=2024/05/08 01:10:30 PanOSVirtualSystem=vsys1 PanOSEventID=gateway-connected PanOSStage=connected PanOSAuthMethod= PanOSTunnelType=IPSec PanOSSourceUserName=jdoe PanOSSourceRegion=US PanOSEndpointDeviceName=LT-JDOE PanOSPublicIPv4=198.51.100.23 PanOSPublicIPv6=:: PanOSPrivateIPv4=10.250.0.12 PanOSPrivateIPv6=:: PanOSHostID=5a1b2c3d-aaaa-bbbb-cccc-0123456789ab PanOSDeviceSN=PF1XYZ PanOSGlobalProtectClientVersion=6.1.3-16 PanOSEndpointOSType=Microsoft PanOSEndpointOSVersion=Microsoft Windows 10 Pro , 64-bit PanOSCountOfRepeats=1 PanOSQuarantineReason= PanOSConnectionError= PanOSDescription= PanOSEventStatus=success PanOSGPGatewayLocation=US West PanOSLoginDuration=0 PanOSConnectionMethod=on-demand PanOSConnectionErrorID=0 PanOSPortal=gp-portal PanOSSequenceNo=7294713681 PanOSActionFlags=0x8000000000000000";

    #[test]
    fn a_gateway_connection_in_csv_is_a_login_for_the_private_ip() {
        assert_eq!(observe(CONNECTED_CSV), one("jdoe", "10.250.0.12", true));
    }

    #[test]
    fn a_gateway_connection_behind_a_syslog_header_is_read_too() {
        let message = format!("<14>May  8 01:10:31 PA-3220-edge {CONNECTED_CSV}");
        assert_eq!(observe(&message), one("jdoe", "10.250.0.12", true));
        let relayed =
            format!("May  8 01:10:33 10.5.172.40 May  8 01:10:31 PA-3220-edge {CONNECTED_CSV}");
        assert_eq!(observe(&relayed), one("jdoe", "10.250.0.12", true));
    }

    #[test]
    fn a_gateway_connection_in_cef_is_a_login_for_the_private_ip() {
        assert_eq!(observe(CONNECTED_CEF), one("jdoe", "10.250.0.12", true));
        let message = format!("<14>May  8 01:10:31 PA-3220-edge {CONNECTED_CEF}");
        assert_eq!(observe(&message), one("jdoe", "10.250.0.12", true));
    }

    #[test]
    fn the_cef_template_with_type_and_subtype_swapped_and_no_severity_is_read() {
        // PAN-OS's GlobalProtect template writes `$type|$subtype|` and no severity field.
        let message = CONNECTED_CEF.replace("|0|GLOBALPROTECT|1|", "|GLOBALPROTECT|0|");
        assert_eq!(observe(&message), one("jdoe", "10.250.0.12", true));
    }

    #[test]
    fn a_tunnel_setup_with_a_domain_user_is_a_login() {
        // elastic's GlobalProtect sample (PAN-OS 9.1 / 10.x columns).
        let line = "Nov 30 16:09:08 1,2021/03/02 11:01:03,123456789999,GLOBALPROTECT,0,2305,2021/03/02 11:01:02,vsys1,gateway-setup-ipsec,tunnel,,IPSec,domain\\musterman,DE,Rechner123,175.16.199.1,0.0.0.0,10.20.30.40,0.0.0.0,96c43d47-8bb5-4f78-8dfc-413a189a29e0,SERIALNR,5.1.1,OS,\"OS 10 Enterprise, 64-bit\",1,,,,success,,0,,0,GPGateway,6894571632887761989,0x8000000000000000,1970-01-01T01:00:00.000+01:00,,0,manual only,,";
        assert_eq!(observe(line), one("domain\\musterman", "10.20.30.40", true));
    }

    #[test]
    fn a_configuration_release_is_a_logout_for_the_private_ip() {
        let line = "Nov 30 16:09:08 1,2021/03/24 11:29:49,013101001308,GLOBALPROTECT,0,2305,2021/03/24 11:29:49,vsys1,gateway-config-release,configuration,,,domain\\user,BE,CP935,89.160.20.112,0.0.0.0,10.20.13.217,0.0.0.0,e0957c11-93-437a-9e23-9f0c24059898,5J9VN53,5.2.4,OS,\"OS 10 Pro , 64-bit\",1,,,\"\",success,,0,,0,GlobalProtect_GW,6919501582016786,0x0";
        assert_eq!(observe(line), one("domain\\user", "10.20.13.217", false));
    }

    #[test]
    fn a_gateway_logout_is_a_logout() {
        let line =
            CONNECTED_CSV.replace(",gateway-connected,connected,", ",gateway-logout,logout,");
        assert_eq!(observe(&line), one("jdoe", "10.250.0.12", false));
        let cef = CONNECTED_CEF.replace("=gateway-connected ", "=gateway-logout ");
        assert_eq!(observe(&cef), one("jdoe", "10.250.0.12", false));
    }

    #[test]
    fn the_private_ipv6_is_mapped_as_well() {
        // Cortex Data Lake forwarding, dual-stack tunnel (elastic sample, eventid changed).
        let line = "Nov 30 16:09:08 931201168,2021-10-22T16:10:10.000000Z,no-serial,GLOBALPROTECT,globalprotect,9.1,2021-10-22T16:10:05.000000Z,vsys1,gateway-connected,connected,,,host\\user,,HOSTNAME,10.1.1.1,,10.2.2.2,fc00::1,8cbc136b-e262-4cf8-912c-95ea132d9fef,SERIALNR,5.2.6,,,1,,,,success,,0,,0,GlobalProtect_External_Gateway,1305925,true";
        assert_eq!(
            observe(line),
            vec![
                ("host\\user".to_owned(), "10.2.2.2".to_owned(), true),
                ("host\\user".to_owned(), "fc00::1".to_owned(), true),
            ]
        );
        let cef = CONNECTED_CEF.replace("PanOSPrivateIPv6=::", "PanOSPrivateIPv6=2001:db8::12");
        assert_eq!(
            observe(&cef),
            vec![
                ("jdoe".to_owned(), "10.250.0.12".to_owned(), true),
                ("jdoe".to_owned(), "2001:db8::12".to_owned(), true),
            ]
        );
    }

    #[test]
    fn a_failed_connection_is_nothing() {
        let line = CONNECTED_CSV.replace(",success,", ",failure,");
        assert_eq!(observe(&line), vec![]);
        let cef = CONNECTED_CEF.replace("PanOSEventStatus=success", "PanOSEventStatus=failure");
        assert_eq!(observe(&cef), vec![]);
    }

    #[test]
    fn authentication_and_portal_events_carry_no_tunnel_address_and_are_nothing() {
        let auth = "<142>Sep 16 07:43:05 FOO-BAR.example.com 1,2024/09/16 07:43:04,029436670131,GLOBALPROTECT,0,2562,2024/09/16 07:43:04,vsys1,gateway-auth,login,Cookie,,jdoe,US,Big-Johns-Computer,192.0.2.56,0.0.0.0,0.0.0.0,0.0.0.0,de:ad:be:ef:01:23,NZ3A5HSG4J,6.1.0,Mac,\"Apple Mac OS X 14.5.0\",1,,,,success,,0,user-logon,0,ABCVPN Gateway,8203912156868205408,0x0,2024-09-16T07:43:05.824-05:00,auto,0,manual only,,ABC-GW,121,0,0,0,,ABC-FW1,1";
        assert_eq!(observe(auth), vec![]);
        let portal = "Nov 30 16:09:08 1,2021/03/24 11:30:00,013101001305,GLOBALPROTECT,0,2305,2021/03/24 11:30:00,vsys1,portal-prelogin,before-login,,,,BE,,216.160.83.57,0.0.0.0,81.2.69.193,0.0.0.0,09300aaa-23-4900-8aa9-32695452aa,,5.2.4,OS,\"OS 10 Pro , 64-bit\",1,,,\"\",success,,0,,0,GlobalProtect Portal,69200719497738,0x0";
        assert_eq!(observe(portal), vec![]);
    }

    #[test]
    fn a_connection_without_a_private_ip_or_user_is_nothing() {
        let no_ip = CONNECTED_CSV.replace(",10.250.0.12,", ",0.0.0.0,");
        assert_eq!(observe(&no_ip), vec![]);
        let no_user = CONNECTED_CSV.replace(",jdoe,", ",,");
        assert_eq!(observe(&no_user), vec![]);
        let pre_logon = CONNECTED_CSV.replace(",jdoe,", ",pre-logon,");
        assert_eq!(observe(&pre_logon), vec![]);
    }

    #[test]
    fn old_system_logs_map_on_configuration_and_unmap_on_release() {
        // Palo Alto's demo data (PAN-OS 7, before the GLOBALPROTECT log type), behind a relay.
        let generated = "Feb 24 21:48:28 10.5.172.40 Feb 24 21:45:09 BD-Panorama 1,2016/02/24 21:45:08,007200001165,SYSTEM,globalprotect,0,2016/02/24 21:40:54,,globalprotectgateway-config-succ,VPN-GW-N,0,0,general,informational,\"GlobalProtect gateway client configuration generated. User name: tng\\picard, Private IP: 192.168.55.101, Client version: 2.3.4-4, Device name: BD-CLIENT, Client OS version: Microsoft W\",641955,0x8000000000000000,0,0,0,0,,PA-VM";
        assert_eq!(
            observe(generated),
            one("tng\\picard", "192.168.55.101", true)
        );
        let released = "Feb 24 22:09:26 10.5.172.40 Feb 24 22:06:07 BD-Panorama 1,2016/02/24 22:06:06,007200001165,SYSTEM,globalprotect,0,2016/02/24 22:01:41,,globalprotectgateway-config-release,VPN-GW-N,0,0,general,informational,\"GlobalProtect gateway client configuration released. User name: tng\\picard, Private IP: 192.168.55.101, Client version: 2.3.4-4, Device name: BD-CLIENT, Client OS version: Microsoft Wi\",641976,0x8000000000000000,0,0,0,0,,PA-VM";
        assert_eq!(
            observe(released),
            one("tng\\picard", "192.168.55.101", false)
        );
        let logout = "Feb 24 22:09:26 10.5.172.40 Feb 24 22:06:07 BD-Panorama 1,2016/02/24 22:06:06,007200001165,SYSTEM,globalprotect,0,2016/02/24 22:01:41,,globalprotectgateway-logout-succ,VPN-GW-N,0,0,general,informational,\"GlobalProtect gateway user logout succeeded. User name: tng\\picard, Client OS version: Microsoft Windows Server 2008 R2 Enterprise Edition Service Pac, Reason: client logout.\",641977,0x8000000000000000,0,0,0,0,,PA-VM";
        assert_eq!(observe(logout), vec![], "no address to unmap");
    }

    #[test]
    fn other_logs_are_nothing() {
        let traffic = "Feb 24 21:50:30 10.5.172.40 Feb 24 21:47:11 BD-Panorama 1,2016/02/24 21:47:11,007200001165,TRAFFIC,end,1,2016/02/24 21:42:31,192.168.55.101,8.8.8.8,0.0.0.0,0.0.0.0,Permit All,tng\\picard,,dns,vsys1,trust,untrust,tunnel.2,ethernet1/1,Syslog To Panorama,2016/02/24 21:42:31,235961,1,53909,53,0,0,0x64,udp,allow,74,74,0,1,2016/02/24 21:42:01,0,any,0,13457861041,0x8000000000000000,192.168.0.0-192.168.255.255,United States,0,1,0,aged-out,15,0,0,0,,PA-VM,from-policy";
        assert_eq!(observe(traffic), vec![]);
        assert_eq!(observe("CEF:0|Other|Product|1|100|GLOBALPROTECT|1|PanOSEventID=gateway-connected PanOSSourceUserName=x PanOSPrivateIPv4=10.0.0.1 PanOSEventStatus=success"), vec![]);
        assert_eq!(observe("hello"), vec![]);
    }
}
