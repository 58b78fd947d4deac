use std::borrow::Cow;

use bytes::BytesMut;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::columns::{extension_index, ColumnType, CSL_COLUMNS, EXTENSIONS};
use super::encoder::write_csl;
use crate::sink::json::MAX_FIELD_BYTES;
use crate::sink::test_support::{
    encode, enriched, fixtures, mitre_fields, parse, PEER, THREAT_CEF,
};

fn csl(text: &str) -> Value {
    encode(text, write_csl)
}

fn csl_with(text: &str, added: &[(&'static str, Cow<'_, str>)]) -> String {
    let event = parse(text);
    let mut out = BytesMut::new();
    write_csl(&enriched(&event, text, added), &mut out);
    String::from_utf8(out.to_vec()).expect("UTF-8")
}

#[test]
fn panos_threat_cef_becomes_the_row_sentinel_content_expects() {
    // A JSON text rather than `json!`: this many keys exceed the macro's recursion limit.
    let expected: Value = serde_json::from_str(
            r#"{
            "TimeGenerated": "2021-02-08T09:05:49.123Z",
            "Computer": "pa-fw1",
            "DeviceVendor": "Palo Alto Networks",
            "DeviceProduct": "PAN-OS",
            "DeviceVersion": "10.0.4",
            "DeviceEventClassID": "vulnerability",
            "Activity": "THREAT",
            "LogSeverity": "5",
            "ReceiptTime": "Feb 08 2021 09:05:48 GMT",
            "DeviceExternalID": "0123456789",
            "SourceIP": "100.10.20.34",
            "DestinationIP": "200.10.20.65",
            "SourceTranslatedAddress": "100.10.20.34",
            "DestinationTranslatedAddress": "200.10.20.65",
            "DeviceCustomString1Label": "Rule",
            "DeviceCustomString1": "ssl vpn access",
            "ApplicationProtocol": "web-browsing",
            "DeviceCustomString3Label": "Virtual System",
            "DeviceCustomString3": "vsys1",
            "DeviceCustomString4Label": "Source Zone",
            "DeviceCustomString4": "untrust",
            "DeviceCustomString5Label": "Destination Zone",
            "DeviceCustomString5": "untrust",
            "DeviceInboundInterface": "ethernet1/1",
            "DeviceOutboundInterface": "ethernet1/1",
            "DeviceCustomString6Label": "LogProfile",
            "DeviceCustomString6": "InnoTec Log Collector",
            "DeviceCustomNumber1Label": "SessionID",
            "DeviceCustomNumber1": 104063,
            "FieldDeviceCustomNumber1": 104063,
            "EventCount": 1,
            "SourcePort": 36026,
            "DestinationPort": 443,
            "SourceTranslatedPort": 36026,
            "DestinationTranslatedPort": 20077,
            "FlexString1Label": "Flags",
            "FlexString1": "0x1502000",
            "Protocol": "tcp",
            "DeviceAction": "reset-both",
            "RequestURL": "\"diag_Form\"",
            "DeviceCustomString2Label": "URL Category",
            "DeviceCustomString2": "any",
            "FlexString2Label": "Direction",
            "FlexString2": "client-to-server",
            "ExtID": "1607660",
            "DeviceEventCategory": "GPON Home Routers Remote Code Execution Vulnerability(37264)",
            "FileID": "0",
            "DeviceName": "pa-fw1",
            "AdditionalExtensions": "PanOSActionFlags=0x8000000000000000;PanOSDGl1=0;PanOSDGl2=0;PanOSDGl3=0;PanOSDGl4=0;PanOSTunnelID=0;PanOSParentSessionID=0;PanOSTunnelType=N/A;PanOSThreatCategory=code-execution;PanOSContentVer=AppThreat-8371-6531"
            }"#,
        )
        .expect("expected row");
    assert_eq!(csl(THREAT_CEF), expected);
}

#[test]
fn values_that_do_not_fit_their_column_go_to_additional_extensions() {
    let row = csl(
        "<14>Feb  8 09:05:49 fw CEF:0|V|P|1|c|N|3|dpt=abc spt=99999999999 cn2=5000000000 \
             cfp1=NaN cfp2=2.5 start=Feb 30 2021 10:00:00 end=Jan 01 2021 10:00:00 PST \
             act=allow act=deny PanOSX=a;b sproc=x spid=y spid=7",
    );
    assert_eq!(
        row["AdditionalExtensions"],
        "dpt=abc;spt=99999999999;cfp1=NaN;start=Feb 30 2021 10:00:00;\
             end=Jan 01 2021 10:00:00 PST;act=deny;PanOSX=a\\;b;spid=y"
    );
    // Too big for the legacy int column, right for the long one: kept, so not an extra.
    assert_eq!(row["FieldDeviceCustomNumber2"], 5_000_000_000_i64);
    assert!(row.get("DeviceCustomNumber2").is_none(), "{row}");
    assert_eq!(row["DeviceCustomFloatingPoint2"], 2.5);
    assert_eq!(row["DeviceAction"], "allow");
    assert_eq!(row["SourceProcessId"], 7);
    for absent in ["DestinationPort", "SourcePort", "StartTime", "EndTime"] {
        assert!(row.get(absent).is_none(), "{absent}: {row}");
    }
}

#[test]
fn cef_times_become_iso_8601_utc_with_milliseconds() {
    let row = csl(
        "<14>Feb  8 09:05:49 fw CEF:0|V|P|1|c|N|3|start=Feb 08 2021 10:05:48.5 GMT+01:00 \
             end=1612775148123 rt=Feb 08 2021 09:05:48",
    );
    assert_eq!(row["StartTime"], "2021-02-08T09:05:48.500Z");
    assert_eq!(row["EndTime"], "2021-02-08T09:05:48.123Z");
    assert_eq!(row["ReceiptTime"], "Feb 08 2021 09:05:48");
}

#[test]
fn a_message_without_valid_cef_still_gets_a_row() {
    let csv = "<14>Feb  8 09:05:49 pa-fw1 1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability";
    assert_eq!(
        csl(csv),
        json!({
            "TimeGenerated": "2021-02-08T09:05:49.123Z",
            "Computer": "pa-fw1",
            "Message": "1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability",
        })
    );
    let row = csl("CEF:0|broken");
    assert_eq!(row["Computer"], PEER);
    assert_eq!(row["Message"], "CEF:0|broken");
    assert!(row.get("DeviceVendor").is_none(), "{row}");
}

#[test]
fn long_values_are_cut_to_64_kib_on_a_character_boundary() {
    let text = format!(
        "CEF:0|V|P|1|c|N|3|cs1={} PanOSX={}",
        "€".repeat(30_000),
        "x".repeat(70_000)
    );
    let row = csl(&text);
    let cut = row["DeviceCustomString1"].as_str().expect("string");
    assert_eq!(cut.len(), MAX_FIELD_BYTES - 1);
    assert!(cut.chars().all(|c| c == '€'));
    let additional = row["AdditionalExtensions"].as_str().expect("string");
    assert_eq!(additional.len(), MAX_FIELD_BYTES);
}

/// Every extension key maps to declared columns, the table is sorted (so no key repeats),
/// and `CSL_COLUMNS` holds exactly the header columns plus the mapped ones.
#[test]
fn the_mapping_and_the_column_list_agree() {
    for pair in EXTENSIONS.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "not sorted: {} {}",
            pair[0].0,
            pair[1].0
        );
    }
    let mut expected: Vec<(&str, ColumnType)> = [
        "TimeGenerated",
        "Computer",
        "DeviceVendor",
        "DeviceProduct",
        "DeviceVersion",
        "DeviceEventClassID",
        "Activity",
        "LogSeverity",
        "AdditionalExtensions",
    ]
    .iter()
    .map(|name| {
        let column_type = match *name {
            "TimeGenerated" => ColumnType::Datetime,
            _ => ColumnType::String,
        };
        (*name, column_type)
    })
    .chain(
        EXTENSIONS
            .iter()
            .flat_map(|(_, columns)| columns.iter().copied()),
    )
    .collect();
    let mut declared = CSL_COLUMNS.to_vec();
    expected.sort_by_key(|(name, _)| *name);
    declared.sort_by_key(|(name, _)| *name);
    assert_eq!(declared, expected);
    assert!(declared.windows(2).all(|pair| pair[0].0 != pair[1].0));
    for (index, (key, _)) in EXTENSIONS.iter().enumerate() {
        assert_eq!(extension_index(key), Some(index), "{key}");
    }
    for unmapped in ["PanOSThreatCategory", "", "cn", "cn10", "act ", "ACT"] {
        assert_eq!(extension_index(unmapped), None, "{unmapped}");
    }
}

#[test]
fn the_sample_dcr_declares_exactly_the_csl_columns() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/azure-dcr.json");
    let dcr: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read the DCR")).expect("JSON");
    let rule = &dcr["resources"][0];
    assert_eq!(rule["type"], "Microsoft.Insights/dataCollectionRules");
    assert_eq!(rule["kind"], "Direct");
    let properties = &rule["properties"];
    let stream = "Custom-CefRelayCommonSecurityLog";
    let columns: Vec<(String, String)> = properties["streamDeclarations"][stream]["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").into(),
                c["type"].as_str().expect("type").into(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = CSL_COLUMNS
        .iter()
        .map(|(name, column_type)| ((*name).into(), column_type.as_str().into()))
        .collect();
    assert_eq!(columns, expected);
    let flow = &properties["dataFlows"][0];
    assert_eq!(flow["streams"], json!([stream]));
    assert_eq!(flow["outputStream"], "Microsoft-CommonSecurityLog");
    assert_eq!(flow["transformKql"], "source");
    let destination = &properties["destinations"]["logAnalytics"][0];
    assert_eq!(flow["destinations"], json!([destination["name"]]));
}

fn has_type(value: &Value, column_type: ColumnType) -> bool {
    match column_type {
        ColumnType::String => value.is_string(),
        ColumnType::Int => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        ColumnType::Long => value.is_i64(),
        ColumnType::Real => value.is_f64() || value.is_i64(),
        ColumnType::Datetime => value.as_str().is_some_and(|text| {
            text.len() == 24
                && text.ends_with('Z')
                && text.as_bytes()[19] == b'.'
                && OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .is_ok()
        }),
    }
}

#[test]
fn every_fixture_row_uses_only_declared_columns_with_their_types() {
    for lines in fixtures() {
        let mut cef_rows = 0;
        for (file, line) in &lines {
            let row = csl(line);
            let object = row.as_object().expect("object");
            assert!(object.contains_key("TimeGenerated") && object.contains_key("Computer"));
            for (key, value) in object {
                let declared = CSL_COLUMNS.iter().find(|(name, _)| name == key);
                let Some((_, column_type)) = declared else {
                    panic!("{file}: undeclared column {key} in {row}");
                };
                assert!(
                    has_type(value, *column_type),
                    "{file}: {key}={value} is not {}",
                    column_type.as_str()
                );
            }
            cef_rows += usize::from(object.contains_key("DeviceVendor"));
        }
        println!("{} fixture lines, {cef_rows} with CEF", lines.len());
        assert!(cef_rows > 0, "the fixtures hold a CEF line");
    }
}

#[test]
fn rows_append_to_what_the_batch_already_holds() {
    let event = parse(THREAT_CEF);
    let message = enriched(&event, THREAT_CEF, &[]);
    let mut out = BytesMut::from(&b"["[..]);
    write_csl(&message, &mut out);
    out.extend_from_slice(b",");
    write_csl(&message, &mut out);
    out.extend_from_slice(b"]");
    let rows: Vec<Value> = serde_json::from_slice(&out).expect("array");
    assert_eq!(rows.len(), 2);
    assert!(!out.contains(&b'\n'));
}

#[test]
fn added_fields_follow_the_records_own_in_additional_extensions() {
    let plain = csl_with(THREAT_CEF, &[]);
    let own = "PanOSContentVer=AppThreat-8371-6531";
    let expected = plain.replace(
        own,
        &format!(
            "{own};PanOSAlertType=Exploit;threatAttackID=T1190;\
             threatAttackName=Exploit Public-Facing Application;mitreSource=cefrelay"
        ),
    );
    assert_ne!(expected, plain, "the golden row ends with {own}");
    assert_eq!(csl_with(THREAT_CEF, &mitre_fields()), expected);
}

#[test]
fn added_fields_reach_a_row_without_cef_and_keep_their_semicolons_apart() {
    let csv = "<14>Feb  8 09:05:49 pa-fw1 1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability";
    let added = [
        ("threatAttackID", Cow::Borrowed("T1190;T1203")),
        ("mitreSource", Cow::Borrowed("")),
    ];
    assert_eq!(
        csl_with(csv, &added),
        "{\"TimeGenerated\":\"2021-02-08T09:05:49.123Z\",\"Computer\":\"pa-fw1\",\
         \"Message\":\"1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability\",\
         \"AdditionalExtensions\":\"threatAttackID=T1190\\\\;T1203\"}"
    );
}
