//! One test per quirk of reference §4 that applies to CSV (named for it), the layouts, and a
//! property test: random values → a CSV line quoted as PAN-OS quotes → the same values.

use std::borrow::Cow;

use proptest::prelude::*;

use super::*;

/// A TRAFFIC line of PAN-OS 9.0 (67 columns) with `middle` as its columns 7 to 30.
fn traffic_9_0(middle: &str) -> String {
    format!(
        "1,2025/03/24 10:00:00,007200001234,TRAFFIC,end,2304,2025/03/24 10:00:00,{middle},\
         1000,400,600,10,2025/03/24 09:59:50,10,any,0,42,0x0,US,US,0,5,5,tcp-fin,\
         0,0,0,0,,fw-edge-1,from-policy,,,0,,0,,N/A,0,0,0,0,rule-uuid,0"
    )
}

const SESSION: &str = "192.0.2.10,198.51.100.20,203.0.113.1,198.51.100.20,Outbound Web,\
example\\alice,,ssl,vsys1,trust,untrust,ethernet1/2,ethernet1/1,Forward,,12345,1,50000,443,\
40000,443,0x400053,tcp,allow";

#[test]
fn session_columns_are_named_by_pan_os_variables() {
    let line = traffic_9_0(SESSION);
    let log = parse(&line).unwrap();
    assert_eq!(log.log_type, Some(LogType::Traffic));
    assert_eq!(
        (log.type_text, log.subtype, log.version),
        ("TRAFFIC", "end", "2304")
    );
    assert_eq!(log.serial, "007200001234");
    assert_eq!(log.values().len(), 67);
    for (name, value) in [
        ("src", "192.0.2.10"),
        ("natsrc", "203.0.113.1"),
        ("rule", "Outbound Web"),
        ("srcuser", "example\\alice"),
        ("from", "trust"),
        ("to", "untrust"),
        ("inbound_if", "ethernet1/2"),
        ("sessionid", "12345"),
        ("repeatcnt", "1"),
        ("sport", "50000"),
        ("dport", "443"),
        ("proto", "tcp"),
        ("action", "allow"),
        ("bytes_sent", "400"),
        ("seqno", "42"),
        ("actionflags", "0x0"),
        ("device_name", "fw-edge-1"),
        ("http2_connection", "0"),
    ] {
        assert_eq!(log.get(name), Some(value), "{name}");
    }
    // 9.0 ends before 9.1's link switches: a missing trailing column is no error.
    assert_eq!(log.get("link_switches"), None);
    assert!(log.extra().is_empty());
}

#[test]
fn quirk_4_no_hostname_and_quirk_5_hyphen_after_hostname() {
    let line = format!("FW-DNS-11 - {}", traffic_9_0(SESSION));
    assert_eq!(parse(&line).unwrap().get("src"), Some("192.0.2.10"));
}

#[test]
fn quirk_7_relay_prepends_a_second_header() {
    let line = format!("Feb 24 22:06:07 BD-Panorama {}", traffic_9_0(SESSION));
    let log = parse(&line).unwrap();
    assert_eq!(log.values()[0], "1");
    assert_eq!(log.get("dst"), Some("198.51.100.20"));
}

#[test]
fn quirk_8_two_spaces_before_the_rfc_5424_msg() {
    let line = format!(" {}", traffic_9_0(SESSION));
    assert_eq!(parse(&line).unwrap().get("rule"), Some("Outbound Web"));
}

#[test]
fn quirk_10_cdl_iso_timestamps() {
    let line = "931201168,2021-10-22T16:10:10.000000Z,no-serial,GLOBALPROTECT,globalprotect,9.1,\
                2021-10-22T16:10:05.000000Z,vsys1,gateway-hip-check,host-info,,,host\\\\user";
    let log = parse(line).unwrap();
    assert_eq!(log.log_type, Some(LogType::GlobalProtect));
    assert_eq!((log.serial, log.version), ("no-serial", "9.1"));
    assert_eq!(log.get("receive_time"), Some("2021-10-22T16:10:10.000000Z"));
    assert_eq!(log.get("srcuser"), Some("host\\\\user"));
}

#[test]
fn quirk_11_quoting() {
    let line = "1,2025/03/24 10:00:00,007200001234,HIPMATCH,0,2562,2025/03/24 10:00:00,\
                example\\bob,vsys1,LAPTOP-7,\"Microsoft Windows 10 Pro , 64-bit\",192.0.2.30,\
                \"filter \"\"All Logs\"\"\",1,profile,\"\",\" CUC_Apple,low-risk\"";
    let log = parse(line).unwrap();
    assert_eq!(log.get("os"), Some("Microsoft Windows 10 Pro , 64-bit"));
    assert!(matches!(log.values()[10], Cow::Borrowed(_)));
    assert_eq!(log.get("matchname"), Some("filter \"All Logs\""));
    assert!(matches!(log.values()[12], Cow::Owned(_)));
    assert_eq!(log.get("future_use"), Some("1"));
    assert_eq!(log.values()[15], "");
    assert_eq!(log.values()[16], " CUC_Apple,low-risk");
}

#[test]
fn quirk_12_link_switches_braces_hold_commas() {
    // Link Switches is TRAFFIC's column 69: 61 empty columns after the source address.
    let line = format!(
        "1,2025/03/24 10:00:00,007200001234,TRAFFIC,end,2562,2025/03/24 10:00:00,192.0.2.10{}\
         {{2025/03/24 10:00:01:ethernet1/1:ethernet1/2,2025/03/24 10:00:02:x:y}},cluster-a,x",
        ",".repeat(62)
    );
    let log = parse(&line).unwrap();
    assert_eq!(
        log.get("link_switches"),
        Some("{2025/03/24 10:00:01:ethernet1/1:ethernet1/2,2025/03/24 10:00:02:x:y}")
    );
    assert_eq!(log.get("sdwan_cluster"), Some("cluster-a"));
    assert_eq!(log.get("sdwan_device_type"), Some("x"));
}

#[test]
fn quirk_13_backslashes_are_kept_as_sent() {
    let line = traffic_9_0(&SESSION.replace("example\\alice", "example\\\\alice"));
    assert_eq!(
        parse(&line).unwrap().get("srcuser"),
        Some("example\\\\alice")
    );
}

#[test]
fn quirk_14_trailing_empty_column_single_spaces_and_extra_columns() {
    let line = "1,2025/03/24 10:00:00,007200001234,SYSTEM,general,2562,2025/03/24 10:00:00,\
                , ,, ,,general,informational,text,1001,0x0,0,0,0,0,,fw-1,,,2025-03-24T10:00:00Z,\
                newer,";
    let log = parse(line).unwrap();
    assert_eq!(log.get("eventid"), Some(" "));
    assert_eq!(log.get("high_res_timestamp"), Some("2025-03-24T10:00:00Z"));
    assert_eq!(log.extra(), ["newer", ""]);
    assert_eq!(log.fields().count(), 26);
}

#[test]
fn quirk_15_first_field_zero_large_or_missing_and_empty_serial() {
    for first in ["0", "1", "931201168"] {
        let line = format!("{first},2025/03/24 10:00:00,,CONFIG,0,2562,2025/03/24 10:00:00,h");
        let log = parse(&line).unwrap();
        assert_eq!((log.serial, log.get("host")), ("", Some("h")), "{first}");
    }
    let headless = "2021-10-27T19:20:59.000000Z,no-serial,TRAFFIC,end,10.0,\
                    2021-10-27T19:20:40.000000Z,192.0.2.12,,,,,,,,,,,,,Forward,170172,1,42493,80,\
                    46254,80,tcp,allow,892";
    let log = parse(headless).unwrap();
    assert_eq!(
        (log.type_text, log.subtype, log.version),
        ("TRAFFIC", "end", "10.0")
    );
    assert_eq!(log.get("future_use"), None);
    assert_eq!(log.get("src"), Some("192.0.2.12"));
    assert_eq!(log.get("serial"), Some("no-serial"));
    // Strata also drops the FUTURE_USE before the session ID and the flags.
    assert_eq!(log.get("logset"), Some("Forward"));
    assert_eq!(log.get("sessionid"), Some("170172"));
    assert_eq!(log.get("flags"), None);
    assert_eq!(log.get("proto"), Some("tcp"));
    assert_eq!(log.get("bytes"), Some("892"));
}

#[test]
fn quirk_16_tunnel_inspection_type_is_start_or_end() {
    for type_text in ["START", "END"] {
        let line = format!(
            "1,2025/03/24 10:00:00,007200001234,{type_text},start,2561,2025/03/24 10:00:00,\
             192.0.2.1"
        );
        let log = parse(&line).unwrap();
        assert_eq!(
            (log.log_type, log.type_text),
            (Some(LogType::Tunnel), type_text)
        );
        assert_eq!(log.get("src"), Some("192.0.2.1"));
    }
}

#[test]
fn quirk_17_type_name_mismatches() {
    for (type_text, log_type) in [
        ("AUTH", LogType::Authentication),
        ("AUTHENTICATION", LogType::Authentication),
        ("HIP-MATCH", LogType::HipMatch),
        ("HIPMATCH", LogType::HipMatch),
    ] {
        let line = format!("1,2025/03/24 10:00:00,1,{type_text},0,2562,2025/03/24 10:00:00,x");
        assert_eq!(
            parse(&line).unwrap().log_type,
            Some(log_type),
            "{type_text}"
        );
    }
}

#[test]
fn quirk_18_config_change_details_move_with_the_version() {
    let new = "1,2025/03/24 10:20:11,007200001234,CONFIG,0,2562,2025/03/24 10:20:11,192.0.2.50,\
               vsys1,set,admin,Web,Submitted, config shared address,7355014001,0x0,0,0,0,0,,fw,\
               ,,,2025-03-24T10:20:11.315+01:00,\"<a b=\"\"1\"\"/>\",after";
    let log = parse(new).unwrap();
    assert_eq!(log.get("path"), Some(" config shared address"));
    assert_eq!(log.get("seqno"), Some("7355014001"));
    assert_eq!(log.get("before-change-detail"), Some("<a b=\"1\"/>"));
    assert_eq!(log.get("after-change-detail"), Some("after"));
    assert_eq!(log.schema.unwrap().versions, "4.0–8.0, 10.0–11.x");

    let old = "1,2019/08/07 13:30:00,013201005678,CONFIG,0,2304,2019/08/07 13:30:00,192.0.2.50,\
               vsys1,edit,ops,CLI,Succeeded,vsys  vsys1 rulebase,before,\"action: \"\"allow\"\"\",\
               120033,0x0,0,0,0,0,,PA-VM";
    let log = parse(old).unwrap();
    assert_eq!(log.get("before-change-detail"), Some("before"));
    assert_eq!(log.get("after-change-detail"), Some("action: \"allow\""));
    assert_eq!(log.get("seqno"), Some("120033"));
    assert_eq!(log.get("device_name"), Some("PA-VM"));
}

#[test]
fn globalprotect_9_1_0_layout_has_seqno_before_the_type() {
    let line = "1,2020/04/01 10:49:35,013201005678,11,0x0,GLOBALPROTECT,0,2305,\
                2020/04/01 10:49:35,vsys1,gateway-auth,login,LDAP,,example\\dave";
    let log = parse(line).unwrap();
    assert_eq!(log.log_type, Some(LogType::GlobalProtect));
    assert_eq!(
        (log.subtype, log.version, log.serial),
        ("0", "2305", "013201005678")
    );
    assert_eq!(log.get("seqno"), Some("11"));
    assert_eq!(log.get("eventid"), Some("gateway-auth"));
    assert_eq!(log.get("srcuser"), Some("example\\dave"));
}

#[test]
fn audit_layout() {
    let line = "007200001234,2025/03/24 10:36:00,audit,2562,gui-op,admin,\
                \"<show><system><info/></system></show>\",success";
    let log = parse(line).unwrap();
    assert_eq!(log.log_type, Some(LogType::Audit));
    assert_eq!(
        (log.serial, log.subtype, log.version),
        ("007200001234", "gui-op", "2562")
    );
    assert_eq!(
        log.get("cmd"),
        Some("<show><system><info/></system></show>")
    );
    assert_eq!(log.get("result"), Some("success"));
}

#[test]
fn unknown_type_is_a_log_with_unnamed_columns() {
    let line = "1,2025/03/24 10:00:00,007200001234,NEWTYPE,x,2818,2025/03/24 10:00:00,a";
    let log = parse(line).unwrap();
    assert_eq!(
        (log.log_type, log.schema, log.type_text),
        (None, None, "NEWTYPE")
    );
    assert_eq!(log.get("type"), None);
    assert_eq!(log.extra().len(), 8);
}

#[test]
fn not_panos_csv() {
    for msg in [
        "",
        "CEF:0|Palo Alto Networks|PAN-OS|10.1.8|end|TRAFFIC|1|rt=x",
        "a,b,c",
        "1,2025/03/24 10:00:00",
        "1,2025/03/24 10:00:00,007200001234,traffic,end",
        "hello world, this is not it",
        "1,2025/03/24 10:00:00,007200001234,,end",
    ] {
        assert!(parse(msg).is_none(), "{msg:?}");
        assert!(!is_panos_csv(msg), "{msg:?}");
    }
}

/// `value` as PAN-OS writes it: quoted when it holds a comma, a quote or starts with a space
/// (and at random otherwise, as PAN-OS always quotes some columns), quotes doubled.
fn quote(value: &str, always: bool) -> String {
    if always || value.contains([',', '"']) || value.starts_with([' ', '{']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

proptest! {
    #[test]
    fn random_values_survive_pan_os_quoting(
        values in proptest::collection::vec(("[ -~]{0,12}", any::<bool>()), 0..40),
    ) {
        let prefix = "1,2025/03/24 10:00:00,007200001234,THREAT,url,2562,2025/03/24 10:00:00";
        let mut line = prefix.to_owned();
        for (value, always) in &values {
            line.push(',');
            line.push_str(&quote(value, *always));
        }
        let log = parse(&line).unwrap();
        let parsed: Vec<&str> = log.values()[7..].iter().map(|v| v.as_ref()).collect();
        let expected: Vec<&str> = values.iter().map(|(v, _)| v.as_str()).collect();
        prop_assert_eq!(parsed, expected);
    }
}

/// The leading fields as `splitn` gives them: at most [`HEAD_FIELDS`], the last one up to the
/// next comma, missing ones empty.
#[test]
fn head_fields_are_splitn_s() {
    for record in [
        "",
        ",",
        "a",
        "a,b",
        "1,2,3,4,5,6,7,8",
        "1,2,3,4,5,6,7,8,9",
        "1,2,3,4,5,6,7,8,9,",
        "1,2,3,4,5,6,7,8,9,10,11",
        ",,,,,,,,,,,,",
        "é,ü,,x y,\"q,r\"",
    ] {
        let mut expected = [""; super::HEAD_FIELDS];
        for (slot, field) in expected
            .iter_mut()
            .zip(record.splitn(super::HEAD_FIELDS + 1, ','))
        {
            *slot = field;
        }
        assert_eq!(super::head_fields(record), expected, "{record}");
    }
}
