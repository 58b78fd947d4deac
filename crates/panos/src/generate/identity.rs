//! GLOBALPROTECT, USERID and HIPMATCH logs: who is behind an address, and on what endpoint.

use time::OffsetDateTime;

use super::fields::{
    cef_time, earlier, external_ip, internal_ip, plain_time, uuid, write_device, Device, USERS,
};
use super::record::{CefWriter, Record, INFORMATIONAL};
use super::rng::Rng;

// One piece: the PAN-OS CEF format string, one field per line, in the firewall's order.
pub(super) fn globalprotect(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let (event_id, stage, status) = rng.pick(&[
        ("portal-prelogin", "before-login", "success"),
        ("gateway-auth", "login", "success"),
        ("gateway-auth", "login", "failure"),
        ("gateway-connected", "connected", "success"),
        ("gateway-config-release", "configuration", "success"),
        ("gateway-logout", "logout", "success"),
    ]);
    let received = earlier(now, rng, 2);
    let user = match rng.pick(&USERS[..5]) {
        "" => "corp\\jdoe",
        user => user,
    };
    let connected = stage != "before-login";
    // The 10.x template really is `$type|$subtype|` with no severity: the class id holds the
    // type, the name holds the subtype ("0" on a firewall).
    let mut cef = CefWriter::new(device.version, "GLOBALPROTECT", "0", None);
    cef.kv("rt", plain_time(received))
        .kv("PanOSDeviceSN", device.serial)
        .kv("PanOSLogTimeStamp", plain_time(received))
        .kv("PanOSVirtualSystem", "vsys1")
        .kv("PanOSEventID", event_id)
        .kv("PanOSStage", stage)
        .kv("PanOSAuthMethod", if connected { "LDAP" } else { "" })
        .kv("PanOSTunnelType", if connected { "IPSec" } else { "" })
        .kv("PanOSSourceUserName", if connected { user } else { "" })
        .kv("PanOSSourceRegion", rng.pick(&["US", "BE", "DE", "GB"]))
        .kv(
            "PanOSEndpointDeviceName",
            rng.pick(&["LT-JDOE-01", "CP935", ""]),
        )
        .kv("PanOSPublicIPv4", external_ip(rng))
        .kv("PanOSPublicIPv6", "")
        .kv(
            "PanOSPrivateIPv4",
            if connected {
                internal_ip(rng)
            } else {
                "0.0.0.0".into()
            },
        )
        .kv("PanOSPrivateIPv6", "")
        .kv("PanOSHostID", uuid(rng))
        .kv("PanOSDeviceSN", rng.pick(&["5J9VN53", "C02XK1JHJGH5", ""]))
        .kv(
            "PanOSGlobalProtectClientVersion",
            rng.pick(&["5.2.4", "6.1.3"]),
        )
        .kv(
            "PanOSEndpointOSType",
            rng.pick(&["Microsoft Windows", "Apple Mac"]),
        )
        .kv(
            "PanOSEndpointOSVersion",
            "Microsoft Windows 10 Pro , 64-bit",
        )
        .kv("PanOSCountOfRepeats", 1)
        .kv("PanOSQuarantineReason", "")
        .kv(
            "PanOSConnectionError",
            if status == "failure" {
                "Authentication failed: Invalid username or password"
            } else {
                ""
            },
        )
        .kv("PanOSDescription", "")
        .kv("PanOSEventStatus", status)
        .kv("PanOSGPGatewayLocation", "")
        .kv("PanOSLoginDuration", rng.below(36_000))
        .kv(
            "PanOSConnectionMethod",
            rng.pick(&["user-logon", "on-demand"]),
        )
        .kv("PanOSConnectionErrorID", 0)
        .kv(
            "PanOSPortal",
            rng.pick(&["GlobalProtect Portal", "GP-Portal-Corp"]),
        )
        .kv("PanOSSequenceNo", rng.between(1 << 40, 1 << 52))
        .kv("PanOSActionFlags", "0x0");
    cef.finish(INFORMATIONAL)
}

pub(super) fn userid(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let subtype = rng.pick(&["login", "login", "logout", "register-tag"]);
    let (source_name, source, source_type) = rng.pick(&[
        ("dc01.corp.example.com", "AD", "kerberos"),
        ("GP-Gateway", "globalprotect", "globalprotect"),
        ("cefrelay", "XMLAPI", "xml-api"),
    ]);
    let user = match rng.pick(&USERS[..5]) {
        "" => "corp\\svc_backup",
        user => user,
    };
    let mut cef = CefWriter::new(device.version, subtype, "USERID", Some("1"));
    cef.kv("rt", cef_time(earlier(now, rng, 2)))
        .kv("deviceExternalId", device.serial)
        .kv("cs1Label", "Factor Type")
        .kv("cs1", "")
        .kv("cs3Label", "Virtual System")
        .kv("cs3", "vsys1")
        .kv("cs4Label", "Data Source Name")
        .kv("cs4", source_name)
        .kv("cs5Label", "Data Source")
        .kv("cs5", source)
        .kv("cs6Label", "Data Source Type")
        .kv("cs6", source_type)
        .kv("cn1Label", "Factor Number")
        .kv("cn1", 0)
        .kv("cn2Label", "Virtual System ID")
        .kv("cn2", 1)
        .kv("cn3Label", "Timeout Threshold")
        .kv("cn3", 2700)
        .kv("src", internal_ip(rng))
        .kv("spt", 0)
        .kv("dpt", 0)
        .kv("cnt", 1)
        .kv("duser", user)
        .external_id()
        .kv("cat", "")
        .kv("end", "");
    write_device(&mut cef, device);
    cef.kv("PanOSActionFlags", "0x0")
        .kv("PanOSUGFlags", "0x100")
        .kv("PanOSUserBySource", user);
    cef.finish(INFORMATIONAL)
}

pub(super) fn hipmatch(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let received = earlier(now, rng, 2);
    let user = match rng.pick(&USERS[..5]) {
        "" => "corp\\jdoe",
        user => user,
    };
    let mut cef = CefWriter::new(
        device.version,
        rng.pick(&["object", "profile"]),
        "HIPMATCH",
        Some("1"),
    );
    cef.kv("rt", cef_time(received))
        .kv("deviceExternalId", device.serial)
        .kv("suser", user)
        .kv("cs3Label", "Virtual System")
        .kv("cs3", "vsys1")
        .kv("shost", rng.pick(&["LT-JDOE-01", "CP935", "MBP-JSMITH"]))
        .kv("src", internal_ip(rng))
        .kv("cnt", 1)
        .external_id()
        .kv(
            "cat",
            rng.pick(&["Corp-Managed-Laptop", "Disk-Encrypted", "AV-Up-To-Date"]),
        )
        .kv("start", cef_time(received))
        .kv("cs2Label", "Operating System")
        .kv(
            "cs2",
            rng.pick(&["Microsoft Windows 10 Enterprise , 64-bit", "Mac OS X 14.2"]),
        )
        .kv("PanOSActionFlags", "0x0");
    write_device(&mut cef, device);
    cef.kv("cn2Label", "Virtual System ID")
        .kv("cn2", 1)
        .kv("c6a2Label", "IPv6 Source Address")
        .kv("c6a2", "")
        .kv("PanOSHostID", uuid(rng));
    cef.finish(INFORMATIONAL)
}
