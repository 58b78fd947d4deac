//! Per-message encoders for the HTTP sinks, called once per received message on the hot path:
//! a Sentinel `CommonSecurityLog` row for the Logs Ingestion API ([`write_csl`]), a Splunk HEC
//! event envelope ([`write_hec`]) and the `cefrelay parse` JSON ([`write_event_json`]).
//!
//! Each writer streams one JSON object straight into the batch buffer through serde's
//! `SerializeMap`; nothing is collected into an intermediate `serde_json::Map`.

use std::fmt;
use std::sync::OnceLock;

use bytes::{BufMut, BytesMut};
use cefrelay_panos::sourcetype;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

use crate::event::{key_hash, Event};
use crate::sink::encode::Origin;

/// What an encoder needs about one received message.
pub struct Received<'e, 'a> {
    pub event: &'e Event<'a>,
    /// The whole received frame as text.
    pub raw: &'e str,
    pub origin: Origin,
}

/// Log Analytics column types, spelled as a DCR's `streamDeclarations` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    /// 32-bit.
    Int,
    /// 64-bit.
    Long,
    Real,
    Datetime,
}

impl ColumnType {
    #[cfg(test)]
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::String => "string",
            ColumnType::Int => "int",
            ColumnType::Long => "long",
            ColumnType::Real => "real",
            ColumnType::Datetime => "datetime",
        }
    }
}

/// The Logs Ingestion API truncates longer field values (specs §3b); cutting them here keeps a
/// single huge value from eating the 1 MB request budget for text the table would drop anyway.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The columns [`write_csl`] can emit, with their Log Analytics types (the `CommonSecurityLog`
/// table reference, specs §1.7). `deploy/azure-dcr.json` declares exactly these, in this order.
#[cfg(test)]
pub const CSL_COLUMNS: &[(&str, ColumnType)] = &[
    ("TimeGenerated", ColumnType::Datetime),
    ("Computer", ColumnType::String),
    ("DeviceVendor", ColumnType::String),
    ("DeviceProduct", ColumnType::String),
    ("DeviceVersion", ColumnType::String),
    ("DeviceEventClassID", ColumnType::String),
    ("Activity", ColumnType::String),
    ("LogSeverity", ColumnType::String),
    ("AdditionalExtensions", ColumnType::String),
    ("SourceTranslatedAddress", ColumnType::String),
    ("DestinationTranslatedAddress", ColumnType::String),
    ("SourceDnsDomain", ColumnType::String),
    ("DestinationDnsDomain", ColumnType::String),
    ("SourceServiceName", ColumnType::String),
    ("DestinationServiceName", ColumnType::String),
    ("DeviceFacility", ColumnType::String),
    ("DeviceInboundInterface", ColumnType::String),
    ("DeviceOutboundInterface", ColumnType::String),
    ("DeviceNtDomain", ColumnType::String),
    ("DeviceDnsDomain", ColumnType::String),
    ("DevicePayloadId", ColumnType::String),
    ("DeviceTranslatedAddress", ColumnType::String),
    ("FilePath", ColumnType::String),
    ("FileHash", ColumnType::String),
    ("FilePermission", ColumnType::String),
    ("FileType", ColumnType::String),
    ("FileCreateTime", ColumnType::String),
    ("FileModificationTime", ColumnType::String),
    ("RequestMethod", ColumnType::String),
    ("RequestContext", ColumnType::String),
    ("RequestCookies", ColumnType::String),
    ("RequestClientApplication", ColumnType::String),
    ("Reason", ColumnType::String),
    ("SourceTranslatedPort", ColumnType::Int),
    ("DestinationTranslatedPort", ColumnType::Int),
    ("SourceIP", ColumnType::String),
    ("DestinationIP", ColumnType::String),
    ("SourcePort", ColumnType::Int),
    ("DestinationPort", ColumnType::Int),
    ("Protocol", ColumnType::String),
    ("ApplicationProtocol", ColumnType::String),
    ("ReceivedBytes", ColumnType::Long),
    ("SentBytes", ColumnType::Long),
    ("CommunicationDirection", ColumnType::String),
    ("SourceMACAddress", ColumnType::String),
    ("DestinationMACAddress", ColumnType::String),
    ("SourceHostName", ColumnType::String),
    ("DestinationHostName", ColumnType::String),
    ("SourceNTDomain", ColumnType::String),
    ("DestinationNTDomain", ColumnType::String),
    ("SourceUserName", ColumnType::String),
    ("DestinationUserName", ColumnType::String),
    ("SourceUserID", ColumnType::String),
    ("DestinationUserID", ColumnType::String),
    ("SourceUserPrivileges", ColumnType::String),
    ("DestinationUserPrivileges", ColumnType::String),
    ("SourceProcessId", ColumnType::Int),
    ("DestinationProcessId", ColumnType::Int),
    ("SourceProcessName", ColumnType::String),
    ("DestinationProcessName", ColumnType::String),
    ("DeviceAddress", ColumnType::String),
    ("DeviceName", ColumnType::String),
    ("DeviceMacAddress", ColumnType::String),
    ("ProcessID", ColumnType::Int),
    ("ProcessName", ColumnType::String),
    ("DeviceExternalID", ColumnType::String),
    ("DeviceTimeZone", ColumnType::String),
    ("DeviceAction", ColumnType::String),
    ("DeviceEventCategory", ColumnType::String),
    ("EventCount", ColumnType::Int),
    ("Message", ColumnType::String),
    ("EventOutcome", ColumnType::String),
    ("EventType", ColumnType::Int),
    ("ExtID", ColumnType::String),
    ("ReceiptTime", ColumnType::String),
    ("StartTime", ColumnType::Datetime),
    ("EndTime", ColumnType::Datetime),
    ("FileName", ColumnType::String),
    ("FileID", ColumnType::String),
    ("FileSize", ColumnType::Int),
    ("OldFileCreateTime", ColumnType::String),
    ("OldFileHash", ColumnType::String),
    ("OldFileID", ColumnType::String),
    ("OldFileModificationTime", ColumnType::String),
    ("OldFileName", ColumnType::String),
    ("OldFilePath", ColumnType::String),
    ("OldFilePermission", ColumnType::String),
    ("OldFileSize", ColumnType::Int),
    ("OldFileType", ColumnType::String),
    ("RequestURL", ColumnType::String),
    ("DeviceCustomString1", ColumnType::String),
    ("DeviceCustomString1Label", ColumnType::String),
    ("DeviceCustomString2", ColumnType::String),
    ("DeviceCustomString2Label", ColumnType::String),
    ("DeviceCustomString3", ColumnType::String),
    ("DeviceCustomString3Label", ColumnType::String),
    ("DeviceCustomString4", ColumnType::String),
    ("DeviceCustomString4Label", ColumnType::String),
    ("DeviceCustomString5", ColumnType::String),
    ("DeviceCustomString5Label", ColumnType::String),
    ("DeviceCustomString6", ColumnType::String),
    ("DeviceCustomString6Label", ColumnType::String),
    ("DeviceCustomNumber1", ColumnType::Int),
    ("FieldDeviceCustomNumber1", ColumnType::Long),
    ("DeviceCustomNumber1Label", ColumnType::String),
    ("DeviceCustomNumber2", ColumnType::Int),
    ("FieldDeviceCustomNumber2", ColumnType::Long),
    ("DeviceCustomNumber2Label", ColumnType::String),
    ("DeviceCustomNumber3", ColumnType::Int),
    ("FieldDeviceCustomNumber3", ColumnType::Long),
    ("DeviceCustomNumber3Label", ColumnType::String),
    ("DeviceCustomFloatingPoint1", ColumnType::Real),
    ("DeviceCustomFloatingPoint1Label", ColumnType::String),
    ("DeviceCustomFloatingPoint2", ColumnType::Real),
    ("DeviceCustomFloatingPoint2Label", ColumnType::String),
    ("DeviceCustomFloatingPoint3", ColumnType::Real),
    ("DeviceCustomFloatingPoint3Label", ColumnType::String),
    ("DeviceCustomFloatingPoint4", ColumnType::Real),
    ("DeviceCustomFloatingPoint4Label", ColumnType::String),
    ("DeviceCustomIPv6Address1", ColumnType::String),
    ("DeviceCustomIPv6Address1Label", ColumnType::String),
    ("DeviceCustomIPv6Address2", ColumnType::String),
    ("DeviceCustomIPv6Address2Label", ColumnType::String),
    ("DeviceCustomIPv6Address3", ColumnType::String),
    ("DeviceCustomIPv6Address3Label", ColumnType::String),
    ("DeviceCustomIPv6Address4", ColumnType::String),
    ("DeviceCustomIPv6Address4Label", ColumnType::String),
    ("DeviceCustomDate1", ColumnType::String),
    ("DeviceCustomDate1Label", ColumnType::String),
    ("DeviceCustomDate2", ColumnType::String),
    ("DeviceCustomDate2Label", ColumnType::String),
    ("FlexString1", ColumnType::String),
    ("FlexString1Label", ColumnType::String),
    ("FlexString2", ColumnType::String),
    ("FlexString2Label", ColumnType::String),
    ("FlexDate1", ColumnType::String),
    ("FlexDate1Label", ColumnType::String),
    ("FlexNumber1", ColumnType::Int),
    ("FlexNumber1Label", ColumnType::String),
    ("FlexNumber2", ColumnType::Int),
    ("FlexNumber2Label", ColumnType::String),
];

/// CEF extension key → the CSL column(s) it fills (specs §1.7). `cn1`–`cn3` fill two columns: the
/// legacy 32-bit `DeviceCustomNumberN` and the 64-bit `FieldDeviceCustomNumberN`.
/// Sorted by key (byte order), which keeps it readable and its keys unique; a test checks it.
const EXTENSIONS: &[(&str, &[(&str, ColumnType)])] = &[
    ("act", &[("DeviceAction", ColumnType::String)]),
    ("app", &[("ApplicationProtocol", ColumnType::String)]),
    ("c6a1", &[("DeviceCustomIPv6Address1", ColumnType::String)]),
    (
        "c6a1Label",
        &[("DeviceCustomIPv6Address1Label", ColumnType::String)],
    ),
    ("c6a2", &[("DeviceCustomIPv6Address2", ColumnType::String)]),
    (
        "c6a2Label",
        &[("DeviceCustomIPv6Address2Label", ColumnType::String)],
    ),
    ("c6a3", &[("DeviceCustomIPv6Address3", ColumnType::String)]),
    (
        "c6a3Label",
        &[("DeviceCustomIPv6Address3Label", ColumnType::String)],
    ),
    ("c6a4", &[("DeviceCustomIPv6Address4", ColumnType::String)]),
    (
        "c6a4Label",
        &[("DeviceCustomIPv6Address4Label", ColumnType::String)],
    ),
    ("cat", &[("DeviceEventCategory", ColumnType::String)]),
    ("cfp1", &[("DeviceCustomFloatingPoint1", ColumnType::Real)]),
    (
        "cfp1Label",
        &[("DeviceCustomFloatingPoint1Label", ColumnType::String)],
    ),
    ("cfp2", &[("DeviceCustomFloatingPoint2", ColumnType::Real)]),
    (
        "cfp2Label",
        &[("DeviceCustomFloatingPoint2Label", ColumnType::String)],
    ),
    ("cfp3", &[("DeviceCustomFloatingPoint3", ColumnType::Real)]),
    (
        "cfp3Label",
        &[("DeviceCustomFloatingPoint3Label", ColumnType::String)],
    ),
    ("cfp4", &[("DeviceCustomFloatingPoint4", ColumnType::Real)]),
    (
        "cfp4Label",
        &[("DeviceCustomFloatingPoint4Label", ColumnType::String)],
    ),
    (
        "cn1",
        &[
            ("DeviceCustomNumber1", ColumnType::Int),
            ("FieldDeviceCustomNumber1", ColumnType::Long),
        ],
    ),
    (
        "cn1Label",
        &[("DeviceCustomNumber1Label", ColumnType::String)],
    ),
    (
        "cn2",
        &[
            ("DeviceCustomNumber2", ColumnType::Int),
            ("FieldDeviceCustomNumber2", ColumnType::Long),
        ],
    ),
    (
        "cn2Label",
        &[("DeviceCustomNumber2Label", ColumnType::String)],
    ),
    (
        "cn3",
        &[
            ("DeviceCustomNumber3", ColumnType::Int),
            ("FieldDeviceCustomNumber3", ColumnType::Long),
        ],
    ),
    (
        "cn3Label",
        &[("DeviceCustomNumber3Label", ColumnType::String)],
    ),
    ("cnt", &[("EventCount", ColumnType::Int)]),
    ("cs1", &[("DeviceCustomString1", ColumnType::String)]),
    (
        "cs1Label",
        &[("DeviceCustomString1Label", ColumnType::String)],
    ),
    ("cs2", &[("DeviceCustomString2", ColumnType::String)]),
    (
        "cs2Label",
        &[("DeviceCustomString2Label", ColumnType::String)],
    ),
    ("cs3", &[("DeviceCustomString3", ColumnType::String)]),
    (
        "cs3Label",
        &[("DeviceCustomString3Label", ColumnType::String)],
    ),
    ("cs4", &[("DeviceCustomString4", ColumnType::String)]),
    (
        "cs4Label",
        &[("DeviceCustomString4Label", ColumnType::String)],
    ),
    ("cs5", &[("DeviceCustomString5", ColumnType::String)]),
    (
        "cs5Label",
        &[("DeviceCustomString5Label", ColumnType::String)],
    ),
    ("cs6", &[("DeviceCustomString6", ColumnType::String)]),
    (
        "cs6Label",
        &[("DeviceCustomString6Label", ColumnType::String)],
    ),
    (
        "destinationDnsDomain",
        &[("DestinationDnsDomain", ColumnType::String)],
    ),
    (
        "destinationServiceName",
        &[("DestinationServiceName", ColumnType::String)],
    ),
    (
        "destinationTranslatedAddress",
        &[("DestinationTranslatedAddress", ColumnType::String)],
    ),
    (
        "destinationTranslatedPort",
        &[("DestinationTranslatedPort", ColumnType::Int)],
    ),
    (
        "deviceCustomDate1",
        &[("DeviceCustomDate1", ColumnType::String)],
    ),
    (
        "deviceCustomDate1Label",
        &[("DeviceCustomDate1Label", ColumnType::String)],
    ),
    (
        "deviceCustomDate2",
        &[("DeviceCustomDate2", ColumnType::String)],
    ),
    (
        "deviceCustomDate2Label",
        &[("DeviceCustomDate2Label", ColumnType::String)],
    ),
    (
        "deviceDirection",
        &[("CommunicationDirection", ColumnType::String)],
    ),
    (
        "deviceDnsDomain",
        &[("DeviceDnsDomain", ColumnType::String)],
    ),
    (
        "deviceExternalId",
        &[("DeviceExternalID", ColumnType::String)],
    ),
    ("deviceFacility", &[("DeviceFacility", ColumnType::String)]),
    (
        "deviceInboundInterface",
        &[("DeviceInboundInterface", ColumnType::String)],
    ),
    ("deviceNtDomain", &[("DeviceNtDomain", ColumnType::String)]),
    (
        "deviceOutboundInterface",
        &[("DeviceOutboundInterface", ColumnType::String)],
    ),
    (
        "devicePayloadId",
        &[("DevicePayloadId", ColumnType::String)],
    ),
    ("deviceProcessName", &[("ProcessName", ColumnType::String)]),
    (
        "deviceTranslatedAddress",
        &[("DeviceTranslatedAddress", ColumnType::String)],
    ),
    ("dhost", &[("DestinationHostName", ColumnType::String)]),
    ("dmac", &[("DestinationMACAddress", ColumnType::String)]),
    ("dntdom", &[("DestinationNTDomain", ColumnType::String)]),
    ("dpid", &[("DestinationProcessId", ColumnType::Int)]),
    (
        "dpriv",
        &[("DestinationUserPrivileges", ColumnType::String)],
    ),
    ("dproc", &[("DestinationProcessName", ColumnType::String)]),
    ("dpt", &[("DestinationPort", ColumnType::Int)]),
    ("dst", &[("DestinationIP", ColumnType::String)]),
    ("dtz", &[("DeviceTimeZone", ColumnType::String)]),
    ("duid", &[("DestinationUserID", ColumnType::String)]),
    ("duser", &[("DestinationUserName", ColumnType::String)]),
    ("dvc", &[("DeviceAddress", ColumnType::String)]),
    ("dvchost", &[("DeviceName", ColumnType::String)]),
    ("dvcmac", &[("DeviceMacAddress", ColumnType::String)]),
    ("dvcpid", &[("ProcessID", ColumnType::Int)]),
    ("end", &[("EndTime", ColumnType::Datetime)]),
    ("externalId", &[("ExtID", ColumnType::String)]),
    ("fileCreateTime", &[("FileCreateTime", ColumnType::String)]),
    ("fileHash", &[("FileHash", ColumnType::String)]),
    ("fileId", &[("FileID", ColumnType::String)]),
    (
        "fileModificationTime",
        &[("FileModificationTime", ColumnType::String)],
    ),
    ("filePath", &[("FilePath", ColumnType::String)]),
    ("filePermission", &[("FilePermission", ColumnType::String)]),
    ("fileType", &[("FileType", ColumnType::String)]),
    ("flexDate1", &[("FlexDate1", ColumnType::String)]),
    ("flexDate1Label", &[("FlexDate1Label", ColumnType::String)]),
    ("flexNumber1", &[("FlexNumber1", ColumnType::Int)]),
    (
        "flexNumber1Label",
        &[("FlexNumber1Label", ColumnType::String)],
    ),
    ("flexNumber2", &[("FlexNumber2", ColumnType::Int)]),
    (
        "flexNumber2Label",
        &[("FlexNumber2Label", ColumnType::String)],
    ),
    ("flexString1", &[("FlexString1", ColumnType::String)]),
    (
        "flexString1Label",
        &[("FlexString1Label", ColumnType::String)],
    ),
    ("flexString2", &[("FlexString2", ColumnType::String)]),
    (
        "flexString2Label",
        &[("FlexString2Label", ColumnType::String)],
    ),
    ("fname", &[("FileName", ColumnType::String)]),
    ("fsize", &[("FileSize", ColumnType::Int)]),
    ("in", &[("ReceivedBytes", ColumnType::Long)]),
    ("msg", &[("Message", ColumnType::String)]),
    (
        "oldFileCreateTime",
        &[("OldFileCreateTime", ColumnType::String)],
    ),
    ("oldFileHash", &[("OldFileHash", ColumnType::String)]),
    ("oldFileId", &[("OldFileID", ColumnType::String)]),
    (
        "oldFileModificationTime",
        &[("OldFileModificationTime", ColumnType::String)],
    ),
    ("oldFileName", &[("OldFileName", ColumnType::String)]),
    ("oldFilePath", &[("OldFilePath", ColumnType::String)]),
    (
        "oldFilePermission",
        &[("OldFilePermission", ColumnType::String)],
    ),
    ("oldFileSize", &[("OldFileSize", ColumnType::Int)]),
    ("oldFileType", &[("OldFileType", ColumnType::String)]),
    ("out", &[("SentBytes", ColumnType::Long)]),
    ("outcome", &[("EventOutcome", ColumnType::String)]),
    ("proto", &[("Protocol", ColumnType::String)]),
    ("reason", &[("Reason", ColumnType::String)]),
    ("request", &[("RequestURL", ColumnType::String)]),
    (
        "requestClientApplication",
        &[("RequestClientApplication", ColumnType::String)],
    ),
    ("requestContext", &[("RequestContext", ColumnType::String)]),
    ("requestCookies", &[("RequestCookies", ColumnType::String)]),
    ("requestMethod", &[("RequestMethod", ColumnType::String)]),
    ("rt", &[("ReceiptTime", ColumnType::String)]),
    ("shost", &[("SourceHostName", ColumnType::String)]),
    ("smac", &[("SourceMACAddress", ColumnType::String)]),
    ("sntdom", &[("SourceNTDomain", ColumnType::String)]),
    (
        "sourceDnsDomain",
        &[("SourceDnsDomain", ColumnType::String)],
    ),
    (
        "sourceServiceName",
        &[("SourceServiceName", ColumnType::String)],
    ),
    (
        "sourceTranslatedAddress",
        &[("SourceTranslatedAddress", ColumnType::String)],
    ),
    (
        "sourceTranslatedPort",
        &[("SourceTranslatedPort", ColumnType::Int)],
    ),
    ("spid", &[("SourceProcessId", ColumnType::Int)]),
    ("spriv", &[("SourceUserPrivileges", ColumnType::String)]),
    ("sproc", &[("SourceProcessName", ColumnType::String)]),
    ("spt", &[("SourcePort", ColumnType::Int)]),
    ("src", &[("SourceIP", ColumnType::String)]),
    ("start", &[("StartTime", ColumnType::Datetime)]),
    ("suid", &[("SourceUserID", ColumnType::String)]),
    ("suser", &[("SourceUserName", ColumnType::String)]),
    ("type", &[("EventType", ColumnType::Int)]),
];

/// Words of the per-row bitset that remembers which [`EXTENSIONS`] entries already have a value.
const SEEN_WORDS: usize = EXTENSIONS.len().div_ceil(64);

const EXTENSION_SLOTS: usize = 1024;
// Slots hold an index + 1 in a byte, and stay at most a quarter full so probes are short.
const _: () = assert!(EXTENSIONS.len() < 255 && EXTENSIONS.len() * 4 <= EXTENSION_SLOTS);

/// The [`EXTENSIONS`] entry of a CEF key. Every key of every event is looked up, so by hash: a
/// binary search (~7 string comparisons a key) was a quarter of the Azure sink's CPU.
fn extension_index(key: &str) -> Option<usize> {
    static TABLE: OnceLock<[u8; EXTENSION_SLOTS]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut table = [0u8; EXTENSION_SLOTS];
        for (index, (key, _)) in EXTENSIONS.iter().enumerate() {
            let mut slot = extension_slot(key);
            while table[slot] != 0 {
                slot = (slot + 1) % EXTENSION_SLOTS;
            }
            table[slot] = index as u8 + 1;
        }
        table
    });
    let mut slot = extension_slot(key);
    loop {
        let index = usize::from(table[slot].checked_sub(1)?);
        if EXTENSIONS[index].0 == key {
            return Some(index);
        }
        slot = (slot + 1) % EXTENSION_SLOTS;
    }
}

fn extension_slot(key: &str) -> usize {
    (key_hash(key.as_bytes()) >> 54) as usize % EXTENSION_SLOTS
}

/// One `CommonSecurityLog` row as a JSON object (no trailing newline) appended to `out`.
///
/// - `TimeGenerated` (when the relay received the message, UTC, milliseconds) and `Computer`
///   (the syslog hostname, else the sender's IP as the agent does, specs §2.6) are always there.
/// - Without a valid CEF record the row still carries the syslog `Message`, so that nothing the
///   filter kept disappears on the way into the table.
/// - Typed columns get JSON numbers; `StartTime`/`EndTime` are converted to ISO 8601 UTC. A value
///   that does not fit its column's type (`dpt=abc`, an `int` overflow, a zone we cannot place),
///   a repeated key, and every key without a column go to `AdditionalExtensions`.
/// - Empty values are left out: a Log Analytics string column has no null distinct from `""`, and
///   a missing number is null, so omitting them loses nothing and keeps requests small.
pub fn write_csl(message: &Received<'_, '_>, out: &mut BytesMut) {
    write_json(out, &CslRow(message));
}

/// Options of the Splunk HEC sink.
#[derive(Debug, Clone, Default)]
pub struct HecOptions {
    pub index: Option<String>,
    pub source: Option<String>,
    /// Overrides [`splunk_sourcetype`].
    pub sourcetype: Option<String>,
    /// Overrides the syslog hostname (or the sender's IP).
    pub host: Option<String>,
}

/// One Splunk HEC event envelope (JSON object, no newline): `time` (epoch seconds with
/// millisecond decimals, from the syslog timestamp, else when the relay received the message),
/// `host` (the syslog hostname, else the sender's IP), `source` and `index` (left out when not
/// configured, so the HEC token's defaults apply), `sourcetype`, and `event` = the raw received
/// text, which is what the Splunk PAN-OS add-on parses.
pub fn write_hec(message: &Received<'_, '_>, options: &HecOptions, out: &mut BytesMut) {
    write_json(out, &HecEnvelope { message, options });
}

/// The Splunk Add-on for Palo Alto Networks sourcetype for a PAN-OS log (`pan:traffic`,
/// `pan:threat`, ...), `cef` for any other CEF, and `syslog` for anything else.
pub fn splunk_sourcetype(message: &Received<'_, '_>) -> &'static str {
    if let Some(cef) = message.event.valid_cef() {
        return sourcetype::for_cef(&cef.device_vendor, &cef.name, &cef.signature_id)
            .unwrap_or("cef");
    }
    sourcetype::for_csv(message.event.syslog.msg).unwrap_or("syslog")
}

/// The `cefrelay parse` JSON shape of the message, for the generic HTTP sink.
pub fn write_event_json(message: &Received<'_, '_>, out: &mut BytesMut) {
    write_json(out, message.event);
}

fn write_json(out: &mut BytesMut, value: &(impl Serialize + ?Sized)) {
    let start = out.len();
    // Writing into memory cannot fail, and these Serialize impls raise no errors of their own;
    // should one ever appear, the half-written object goes so that the batch stays valid JSON.
    if serde_json::to_writer((&mut *out).writer(), value).is_err() {
        out.truncate(start);
    }
}

struct CslRow<'m, 'e, 'a>(&'m Received<'e, 'a>);

impl Serialize for CslRow<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = self.0;
        let syslog = &message.event.syslog;
        let received_at = message.origin.received_at;
        let mut row = serializer.serialize_map(None)?;
        row.serialize_entry("TimeGenerated", &IsoMillis(received_at))?;
        match syslog.hostname {
            Some(host) => row.serialize_entry("Computer", &Capped(host))?,
            None => row.serialize_entry("Computer", &format_args!("{}", message.origin.peer))?,
        }
        let Some(cef) = message.event.valid_cef() else {
            row.serialize_entry("Message", &Capped(syslog.msg))?;
            return row.end();
        };
        row.serialize_entry("DeviceVendor", &Capped(&cef.device_vendor))?;
        row.serialize_entry("DeviceProduct", &Capped(&cef.device_product))?;
        row.serialize_entry("DeviceVersion", &Capped(&cef.device_version))?;
        row.serialize_entry("DeviceEventClassID", &Capped(&cef.signature_id))?;
        row.serialize_entry("Activity", &Capped(&cef.name))?;
        row.serialize_entry("LogSeverity", &Capped(&cef.severity))?;

        let mut seen = [0u64; SEEN_WORDS];
        let mut additional = String::new();
        for (key, value) in &cef.extensions {
            if value.is_empty() {
                continue;
            }
            let mut accepted = false;
            if let Some(index) = extension_index(key) {
                let (word, bit) = (index / 64, 1u64 << (index % 64));
                // A repeated key must not fill its columns twice (duplicate names in one JSON
                // object); only a value that went into a column counts, so that
                // `dpt=abc dpt=443` still fills DestinationPort.
                if seen[word] & bit == 0 {
                    for &(column, column_type) in EXTENSIONS[index].1 {
                        accepted |=
                            write_column(&mut row, column, column_type, value, received_at)?;
                    }
                    if accepted {
                        seen[word] |= bit;
                    }
                }
            }
            if !accepted {
                push_additional(&mut additional, key, value);
            }
        }
        if !additional.is_empty() {
            row.serialize_entry("AdditionalExtensions", &Capped(&additional))?;
        }
        row.end()
    }
}

/// Writes `value` into `column` if it is valid for the column's type; `false` if it is not.
fn write_column<M: SerializeMap>(
    row: &mut M,
    column: &'static str,
    column_type: ColumnType,
    value: &str,
    received_at: OffsetDateTime,
) -> Result<bool, M::Error> {
    let number = value.trim();
    match column_type {
        ColumnType::String => row.serialize_entry(column, &Capped(value))?,
        ColumnType::Int => match number.parse::<i32>() {
            Ok(n) => row.serialize_entry(column, &n)?,
            Err(_) => return Ok(false),
        },
        ColumnType::Long => match number.parse::<i64>() {
            Ok(n) => row.serialize_entry(column, &n)?,
            Err(_) => return Ok(false),
        },
        // `parse` accepts "NaN" and "inf", which JSON cannot carry.
        ColumnType::Real => match number.parse::<f64>() {
            Ok(n) if n.is_finite() => row.serialize_entry(column, &n)?,
            _ => return Ok(false),
        },
        ColumnType::Datetime => match cefrelay_cef::time::parse(value, received_at) {
            Some(time) => row.serialize_entry(column, &IsoMillis(time))?,
            None => return Ok(false),
        },
    }
    Ok(true)
}

/// Appends `key=value` to `AdditionalExtensions`, `;`-separated as the agent writes it (Sentinel
/// content extracts with `key=(.+?)(;|$)`, specs §1.7). A `;` inside a value is written `\;` so
/// that the pairs can be split again; backslashes are left alone, because PAN-OS values such as
/// `domain\user` would otherwise read doubled in every query.
fn push_additional(additional: &mut String, key: &str, value: &str) {
    if additional.len() >= MAX_FIELD_BYTES {
        return;
    }
    if !additional.is_empty() {
        additional.push(';');
    }
    additional.push_str(key);
    additional.push('=');
    let mut pieces = value.split(';');
    if let Some(first) = pieces.next() {
        additional.push_str(first);
    }
    for piece in pieces {
        additional.push_str("\\;");
        additional.push_str(piece);
    }
}

/// A string value cut to [`MAX_FIELD_BYTES`] on a character boundary.
struct Capped<'s>(&'s str);

impl Serialize for Capped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(cap(self.0))
    }
}

fn cap(text: &str) -> &str {
    cut(text, MAX_FIELD_BYTES)
}

/// The longest start of `text` within `max` bytes that ends on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// ISO 8601 in UTC with milliseconds, `2026-11-22T10:00:00.000Z`: what a Log Analytics
/// `datetime` column takes (specs §3b).
struct IsoMillis(OffsetDateTime);

impl fmt::Display for IsoMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a time at the very edge of `time`'s range has no UTC form; it is then written in
        // its own offset rather than not at all.
        let t = self.0.checked_to_offset(UtcOffset::UTC).unwrap_or(self.0);
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl Serialize for IsoMillis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

struct HecEnvelope<'m, 'e, 'a> {
    message: &'m Received<'e, 'a>,
    options: &'m HecOptions,
}

impl Serialize for HecEnvelope<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (message, options) = (self.message, self.options);
        let syslog = &message.event.syslog;
        let time = syslog.timestamp.unwrap_or(message.origin.received_at);
        let mut envelope = serializer.serialize_map(None)?;
        envelope.serialize_entry("time", &EpochMillis(time))?;
        match (&options.host, syslog.hostname) {
            (Some(host), _) => envelope.serialize_entry("host", host)?,
            (None, Some(host)) => envelope.serialize_entry("host", host)?,
            (None, None) => {
                envelope.serialize_entry("host", &format_args!("{}", message.origin.peer))?
            }
        }
        if let Some(source) = &options.source {
            envelope.serialize_entry("source", source)?;
        }
        let sourcetype = match &options.sourcetype {
            Some(sourcetype) => sourcetype.as_str(),
            None => splunk_sourcetype(message),
        };
        envelope.serialize_entry("sourcetype", sourcetype)?;
        if let Some(index) = &options.index {
            envelope.serialize_entry("index", index)?;
        }
        envelope.serialize_entry("event", message.raw)?;
        envelope.end()
    }
}

/// Epoch seconds with the milliseconds as decimals: HEC's `time`. Milliseconds since 1970 stay far
/// below 2^53, so the division gives the double nearest the exact decimal, which serde_json writes
/// back as that decimal (`1612775149.123`).
struct EpochMillis(OffsetDateTime);

impl Serialize for EpochMillis {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let millis = self.0.unix_timestamp_nanos().div_euclid(1_000_000);
        serializer.serialize_f64(millis as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cefrelay_syslog::ParseOptions;
    use serde_json::{json, Value};
    use time::macros::datetime;

    const RECEIVED_AT: OffsetDateTime = datetime!(2021-02-08 09:05:49.123 UTC);
    const PEER: &str = "192.0.2.7";

    /// No native PAN-OS THREAT CEF line is among the fixtures, so this one is the §1.8 threat
    /// template filled with the values of the real CSV THREAT line in
    /// `usiem-panos-rfc3164-noprio.log` (pa-fw1, GPON exploit, thr_category code-execution).
    const THREAT_CEF: &str = "<14>Feb  8 09:05:49 pa-fw1 CEF:0|Palo Alto Networks|PAN-OS|10.0.4|vulnerability|THREAT|5|\
rt=Feb 08 2021 09:05:48 GMT deviceExternalId=0123456789 src=100.10.20.34 dst=200.10.20.65 \
sourceTranslatedAddress=100.10.20.34 destinationTranslatedAddress=200.10.20.65 cs1Label=Rule cs1=ssl vpn access \
suser= duser= app=web-browsing cs3Label=Virtual System cs3=vsys1 cs4Label=Source Zone cs4=untrust \
cs5Label=Destination Zone cs5=untrust deviceInboundInterface=ethernet1/1 deviceOutboundInterface=ethernet1/1 \
cs6Label=LogProfile cs6=InnoTec Log Collector cn1Label=SessionID cn1=104063 cnt=1 spt=36026 dpt=443 \
sourceTranslatedPort=36026 destinationTranslatedPort=20077 flexString1Label=Flags flexString1=0x1502000 proto=tcp \
act=reset-both request=\"diag_Form\" cs2Label=URL Category cs2=any flexString2Label=Direction \
flexString2=client-to-server PanOSActionFlags=0x8000000000000000 externalId=1607660 \
cat=GPON Home Routers Remote Code Execution Vulnerability(37264) fileId=0 PanOSDGl1=0 PanOSDGl2=0 PanOSDGl3=0 \
PanOSDGl4=0 PanOSVsysName= dvchost=pa-fw1 PanOSSrcUUID= PanOSDstUUID= PanOSTunnelID=0 PanOSMonitorTag= \
PanOSParentSessionID=0 PanOSParentStartTime= PanOSTunnelType=N/A PanOSThreatCategory=code-execution \
PanOSContentVer=AppThreat-8371-6531";

    fn parse(text: &str) -> Event<'_> {
        Event::parse(text, false, &ParseOptions::new(RECEIVED_AT))
    }

    fn origin() -> Origin {
        Origin {
            peer: PEER.parse().expect("ip"),
            received_at: RECEIVED_AT,
        }
    }

    fn encode(text: &str, write: impl Fn(&Received<'_, '_>, &mut BytesMut)) -> Value {
        let event = parse(text);
        let message = Received {
            event: &event,
            raw: text,
            origin: origin(),
        };
        let mut out = BytesMut::new();
        write(&message, &mut out);
        serde_json::from_slice(&out).expect("one JSON object")
    }

    fn csl(text: &str) -> Value {
        encode(text, write_csl)
    }

    fn hec(text: &str, options: &HecOptions) -> Value {
        encode(text, |message, out| write_hec(message, options, out))
    }

    fn sourcetype(text: &str) -> &'static str {
        let event = parse(text);
        splunk_sourcetype(&Received {
            event: &event,
            raw: text,
            origin: origin(),
        })
    }

    const NO_OPTIONS: HecOptions = HecOptions {
        index: None,
        source: None,
        sourcetype: None,
        host: None,
    };

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
        let csv =
            "<14>Feb  8 09:05:49 pa-fw1 1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability";
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
            serde_json::from_str(&std::fs::read_to_string(path).expect("read the DCR"))
                .expect("JSON");
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

    #[allow(dead_code)]
    mod panos_corpus {
        include!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/util/panos_corpus.rs"
        ));
    }

    /// The PAN-OS sample lines as (file, line), one list per set: the project's own
    /// `fixtures/panos` always, and the external corpus of real lines when it is there (the rule
    /// and the skip line are those of `tests/util/panos_corpus.rs`).
    fn fixtures() -> Vec<Vec<(String, String)>> {
        let project = panos_corpus::from_manifest("");
        let mut sets = Vec::new();
        for set in panos_corpus::line_sets(&project) {
            let mut lines = Vec::new();
            for path in set.files() {
                let text = std::fs::read_to_string(&path).expect("fixture is UTF-8");
                let name = path.display().to_string();
                lines.extend(
                    text.lines()
                        .filter(|l| !l.is_empty())
                        .map(|l| (name.clone(), l.to_string())),
                );
            }
            sets.push(lines);
        }
        sets
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

    /// The expected sourcetype comes from the raw line the way SOURCES.md counts types (first
    /// type keyword among the first 8 comma-separated fields; in CEF from Palo Alto Networks,
    /// Name, else Device Event Class ID), not from the encoder's own parse.
    #[test]
    fn fixture_lines_get_the_panos_add_on_sourcetypes() {
        let addon = [
            ("TRAFFIC", "pan:traffic"),
            ("THREAT", "pan:threat"),
            ("SYSTEM", "pan:system"),
            ("CONFIG", "pan:config"),
            ("HIPMATCH", "pan:hipmatch"),
            ("GLOBALPROTECT", "pan:globalprotect"),
            ("USERID", "pan:userid"),
            ("DECRYPTION", "pan:decryption"),
            ("CORRELATION", "pan:correlation"),
        ];
        let others = [
            "AUTHENTICATION",
            "AUTH",
            "IPTAG",
            "GTP",
            "SCTP",
            "START",
            "END",
        ];
        let is_type =
            |field: &&str| addon.iter().any(|(t, _)| t == field) || others.contains(field);
        let sourcetype_of = |kind: Option<&str>, otherwise| {
            kind.and_then(|kind| addon.iter().find(|(t, _)| *t == kind))
                .map_or(otherwise, |(_, sourcetype)| *sourcetype)
        };
        for lines in fixtures() {
            let mut seen = std::collections::BTreeMap::<&str, usize>::new();
            for (file, line) in &lines {
                let got = sourcetype(line);
                if let Some((_, cef)) = line.split_once("CEF:") {
                    // 0 version, 1 vendor, 2 product, 3 version, 4 class ID, 5 name.
                    let header: Vec<&str> = cef.splitn(8, '|').collect();
                    let kind = (header.get(1) == Some(&"Palo Alto Networks"))
                        .then(|| [5, 4].into_iter().filter_map(|i| header.get(i).copied()))
                        .and_then(|mut fields| fields.find(is_type));
                    assert_eq!(got, sourcetype_of(kind, "cef"), "{file}: {line}");
                    continue;
                }
                let kind = line.split(',').take(8).find(is_type);
                assert_eq!(got, sourcetype_of(kind, "syslog"), "{file}: {line}");
                *seen.entry(kind.unwrap_or("none")).or_default() += 1;
            }
            println!("{seen:?}");
            for (kind, _) in addon {
                assert!(seen.contains_key(kind), "no {kind} line in the fixtures");
            }
        }
    }

    #[test]
    fn cef_sourcetypes_follow_the_panos_type_wherever_the_format_puts_it() {
        assert_eq!(sourcetype(THREAT_CEF), "pan:threat");
        // Native GlobalProtect format: type and subtype swapped.
        assert_eq!(
            sourcetype(
                "CEF:0|Palo Alto Networks|PAN-OS|10.1.8|GLOBALPROTECT|login|3|PanOSEventID=x"
            ),
            "pan:globalprotect"
        );
        // Strata "LF": the type first; the SYSTEM subtype `globalprotect` is no type.
        assert_eq!(
            sourcetype("CEF:0|Palo Alto Networks|LF|2.0|SYSTEM|globalprotect|3|dtz=UTC"),
            "pan:system"
        );
        assert_eq!(
            sourcetype("CEF:0|Palo Alto Networks|PAN-OS|10.1|start|END|1|a=b"),
            "cef"
        );
        assert_eq!(
            sourcetype("<14>Feb  8 09:05:49 fw CEF:0|Fortinet|FortiGate|7|1|THREAT|5|a=b"),
            "cef"
        );
        assert_eq!(
            sourcetype("<14>Feb  8 09:05:49 fw sshd[1]: THREAT,TRAFFIC"),
            "syslog"
        );
        assert_eq!(
            sourcetype("<14>Feb  8 09:05:49 fw 1,2021/02/08 09:05:48,012,AUTHENTICATION,x"),
            "syslog"
        );
    }

    #[test]
    fn hec_envelope_carries_the_raw_text_and_the_syslog_metadata() {
        let csv =
            "<14>Feb  8 09:05:49 pa-fw1 1,2021/02/08 09:05:48,0123456789,THREAT,vulnerability,1";
        assert_eq!(
            hec(csv, &NO_OPTIONS),
            json!({
                "time": 1_612_775_149.0,
                "host": "pa-fw1",
                "sourcetype": "pan:threat",
                "event": csv,
            })
        );
        let options = HecOptions {
            index: Some("netfw".into()),
            source: Some("cefrelay".into()),
            sourcetype: Some("pan:log".into()),
            host: Some("override".into()),
        };
        assert_eq!(
            hec(csv, &options),
            json!({
                "time": 1_612_775_149.0,
                "host": "override",
                "source": "cefrelay",
                "sourcetype": "pan:log",
                "index": "netfw",
                "event": csv,
            })
        );
        // No header: the sender's address and the time of receipt, to the millisecond.
        let bare = "CEF:0|V|P|1|2|N|3|a=b";
        let event = encode(bare, |message, out| write_hec(message, &NO_OPTIONS, out));
        assert_eq!(event["host"], PEER);
        assert_eq!(event["sourcetype"], "cef");
        let mut out = BytesMut::new();
        let parsed = parse(bare);
        let message = Received {
            event: &parsed,
            raw: bare,
            origin: origin(),
        };
        write_hec(&message, &NO_OPTIONS, &mut out);
        assert!(out.starts_with(b"{\"time\":1612775149.123,"), "{out:?}");
    }

    #[test]
    fn event_json_is_the_parse_command_shape() {
        let event = parse(THREAT_CEF);
        let mut out = BytesMut::new();
        let message = Received {
            event: &event,
            raw: THREAT_CEF,
            origin: origin(),
        };
        write_event_json(&message, &mut out);
        assert_eq!(
            out.as_ref(),
            serde_json::to_vec(&event).expect("JSON").as_slice()
        );
    }

    #[test]
    fn rows_append_to_what_the_batch_already_holds() {
        let event = parse(THREAT_CEF);
        let message = Received {
            event: &event,
            raw: THREAT_CEF,
            origin: origin(),
        };
        let mut out = BytesMut::from(&b"["[..]);
        write_csl(&message, &mut out);
        out.extend_from_slice(b",");
        write_csl(&message, &mut out);
        out.extend_from_slice(b"]");
        let rows: Vec<Value> = serde_json::from_slice(&out).expect("array");
        assert_eq!(rows.len(), 2);
        assert!(!out.contains(&b'\n'));
    }
}
