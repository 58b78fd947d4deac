//! The `CommonSecurityLog` columns and which CEF key fills which (the table reference, specs
//! §1.7), with the per-key lookup the encoder does for every key of every event.

use std::sync::OnceLock;

use crate::event::key_hash;

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
pub const EXTENSIONS: &[(&str, &[(&str, ColumnType)])] = &[
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
pub const SEEN_WORDS: usize = EXTENSIONS.len().div_ceil(64);

const EXTENSION_SLOTS: usize = 1024;
// Slots hold an index + 1 in a byte, and stay at most a quarter full so probes are short.
const _: () = assert!(EXTENSIONS.len() < 255 && EXTENSIONS.len() * 4 <= EXTENSION_SLOTS);

/// The [`EXTENSIONS`] entry of a CEF key. Every key of every event is looked up, so by hash: a
/// binary search (~7 string comparisons a key) was a quarter of the Azure sink's CPU.
pub fn extension_index(key: &str) -> Option<usize> {
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
