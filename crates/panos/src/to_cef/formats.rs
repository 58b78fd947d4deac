//! The format strings, as data: each is the text an admin pastes into a PAN-OS syslog server
//! profile, verbatim from the reference (`panos-formats.md` §2; Set A, "Configure the Firewall to
//! Forward Logs in CEF Format (PAN OS 10)", matches real PAN-OS 10.1.8 output key for key; Set B
//! is a running 9.x profile). Kept as the original text so that each can be compared with its
//! source by eye; the conversion splits one into its header pieces and `key=$variable` pairs.

use crate::log::LogType;

/// Set A Traffic.
pub static TRAFFIC: &str = "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|1|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial src=$src dst=$dst sourceTranslatedAddress=$natsrc \
    destinationTranslatedAddress=$natdst cs1Label=Rule cs1=$rule suser=$srcuser duser=$dstuser \
    app=$app cs3Label=Virtual System cs3=$vsys cs4Label=Source Zone cs4=$from \
    cs5Label=Destination Zone cs5=$to deviceInboundInterface=$inbound_if \
    deviceOutboundInterface=$outbound_if cs6Label=LogProfile cs6=$logset cn1Label=SessionID \
    cn1=$sessionid cnt=$repeatcnt spt=$sport dpt=$dport sourceTranslatedPort=$natsport \
    destinationTranslatedPort=$natdport flexString1Label=Flags flexString1=$flags proto=$proto \
    act=$action flexNumber1Label=Total bytes flexNumber1=$bytes in=$bytes_sent \
    out=$bytes_received cn2Label=Packets cn2=$packets PanOSPacketsReceived=$pkts_received \
    PanOSPacketsSent=$pkts_sent start=$cef-formatted-time_generated \
    cn3Label=Elapsed time in seconds cn3=$elapsed cs2Label=URL Category cs2=$category \
    externalId=$seqno reason=$session_end_reason PanOSDGl1=$dg_hier_level_1 \
    PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 \
    PanOSVsysName=$vsys_name dvchost=$device_name cat=$action_source \
    PanOSActionFlags=$actionflags PanOSSrcUUID=$src_uuid PanOSDstUUID=$dst_uuid \
    PanOSTunnelID=$tunnelid PanOSMonitorTag=$monitortag PanOSParentSessionID=$parent_session_id \
    PanOSParentStartTime=$parent_start_time PanOSTunnelType=$tunnel PanOSSCTPAssocID=$assoc_id \
    PanOSSCTPChunks=$chunks PanOSSCTPChunkSent=$chunks_sent PanOSSCTPChunksRcv=$chunks_received \
    PanOSRuleUUID=$rule_uuid PanOSHTTP2Con=$http2_connection PanLinkChange=$link_change_count \
    PanPolicyID=$policy_id PanLinkDetail=$link_switches PanSDWANCluster=$sdwan_cluster \
    PanSDWANDevice=$sdwan_device_type PanSDWANClustype=$sdwan_cluster_type \
    PanSDWANSite=$sdwan_site PanDynamicUsrgrp=$dynusergroup_name";

/// Set A Threat: vulnerability, spyware, virus, file, scan, flood, packet and any other
/// THREAT subtype without a format of its own.
pub static THREAT: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$threatid|$type|$number-of-severity|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial src=$src dst=$dst sourceTranslatedAddress=$natsrc \
    destinationTranslatedAddress=$natdst cs1Label=Rule cs1=$rule suser=$srcuser duser=$dstuser \
    app=$app cs3Label=Virtual System cs3=$vsys cs4Label=Source Zone cs4=$from \
    cs5Label=Destination Zone cs5=$to deviceInboundInterface=$inbound_if \
    deviceOutboundInterface=$outbound_if cs6Label=LogProfile cs6=$logset cn1Label=SessionID \
    cn1=$sessionid cnt=$repeatcnt spt=$sport dpt=$dport sourceTranslatedPort=$natsport \
    destinationTranslatedPort=$natdport flexString1Label=Flags flexString1=$flags proto=$proto \
    act=$action request=$misc cs2Label=URL Category cs2=$category flexString2Label=Direction \
    flexString2=$direction PanOSActionFlags=$actionflags externalId=$seqno cat=$subtype \
    fileId=$pcap_id PanOSDGl1=$dg_hier_level_1 PanOSDGl2=$dg_hier_level_2 \
    PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 PanOSVsysName=$vsys_name \
    dvchost=$device_name PanOSSrcUUID=$src_uuid PanOSDstUUID=$dst_uuid PanOSTunnelID=$tunnelid \
    PanOSMonitorTag=$monitortag PanOSParentSessionID=$parent_session_id \
    PanOSParentStartTime=$parent_start_time PanOSTunnelType=$tunnel \
    PanOSThreatCategory=$thr_category PanOSContentVer=$contentver PanOSAssocID=$assoc_id \
    PanOSPPID=$ppid PanOSHTTPHeader=$http_headers PanOSURLCatList=$url_category_list \
    PanOSRuleUUID=$rule_uuid PanOSHTTP2Con=$http2_connection PanDynamicUsrgrp=$dynusergroup_name";

/// Set A URL (THREAT subtype `url`).
pub static URL: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|$number-of-severity|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial src=$src dst=$dst sourceTranslatedAddress=$natsrc \
    destinationTranslatedAddress=$natdst cs1Label=Rule cs1=$rule suser=$srcuser duser=$dstuser \
    app=$app cs3Label=Virtual System cs3=$vsys cs4Label=Source Zone cs4=$from \
    cs5Label=Destination Zone cs5=$to deviceInboundInterface=$inbound_if \
    deviceOutboundInterface=$outbound_if cs6Label=LogProfile cs6=$logset cn1Label=SessionID \
    cn1=$sessionid cnt=$repeatcnt spt=$sport dpt=$dport sourceTranslatedPort=$natsport \
    destinationTranslatedPort=$natdport flexString1Label=Flags flexString1=$flags proto=$proto \
    act=$action request=$misc cs2Label=URL Category cs2=$category flexString2Label=Direction \
    flexString2=$direction PanOSActionFlags=$actionflags externalId=$seqno \
    requestContext=$contenttype cat=$threatid fileId=$pcap_id requestMethod=$http_method \
    requestClientApplication=$user_agent PanOSXForwarderfor=$xff PanOSReferer=$referer \
    PanOSDGl1=$dg_hier_level_1 PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 \
    PanOSDGl4=$dg_hier_level_4 PanOSVsysName=$vsys_name dvchost=$device_name \
    PanOSSrcUUID=$src_uuid PanOSDstUUID=$dst_uuid PanOSTunnelID=$tunnelid \
    PanOSMonitorTag=$monitortag PanOSParentSessionID=$parent_session_id \
    PanOSParentStartTime=$parent_start_time PanOSTunnelType=$tunnel \
    PanOSThreatCategory=$thr_category PanOSContentVer=$contentver PanOSAssocID=$assoc_id \
    PanOSPPID=$ppid PanOSHTTPHeader=$http_headers PanOSRuleUUID=$rule_uuid \
    PanOSURLCatList=$url_category_list PanOSHTTP2Con=$http2_connection \
    PanDynamicUsrgrp=$dynusergroup_name";

/// Set A Wildfire (THREAT subtypes `wildfire`, `wildfire-virus`).
pub static WILDFIRE: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|$number-of-severity|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial src=$src dst=$dst sourceTranslatedAddress=$natsrc \
    destinationTranslatedAddress=$natdst cs1Label=Rule cs1=$rule suser=$srcuser duser=$dstuser \
    app=$app cs3Label=Virtual System cs3=$vsys cs4Label=Source Zone cs4=$from \
    cs5Label=Destination Zone cs5=$to deviceInboundInterface=$inbound_if \
    deviceOutboundInterface=$outbound_if cs6Label=LogProfile cs6=$logset cn1Label=SessionID \
    cn1=$sessionid cnt=$repeatcnt spt=$sport dpt=$dport sourceTranslatedPort=$natsport \
    destinationTranslatedPort=$natdport flexString1Label=Flags flexString1=$flags proto=$proto \
    act=$action request=$misc cs2Label=URL Category cs2=$category flexString2Label=Direction \
    flexString2=$direction PanOSActionFlags=$actionflags externalId=$seqno cat=$threatid \
    filePath=$cloud fileId=$pcap_id fileHash=$filedigest fileType=$filetype suid=$sender \
    msg=$subject duid=$recipient oldFileId=$reportid PanOSDGl1=$dg_hier_level_1 \
    PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 \
    PanOSVsysName=$vsys_name dvchost=$device_name PanOSSrcUUID=$src_uuid PanOSDstUUID=$dst_uuid \
    PanOSTunnelID=$tunnelid PanOSMonitorTag=$monitortag PanOSParentSessionID=$parent_session_id \
    PanOSParentStartTime=$parent_start_time PanOSTunnelType=$tunnel \
    PanOSThreatCategory=$thr_category PanOSContentVer=$contentver PanOSAssocID=$assoc_id \
    PanOSPPID=$ppid PanOSHTTPHeader=$http_headers PanOSRuleUUID=$rule_uuid";

/// Set B data (THREAT subtype `data`): Set A has no Data format.
pub static DATA: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|$number-of-severity|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial src=$src dst=$dst sourceTranslatedAddress=$natsrc \
    destinationTranslatedAddress=$natdst cs1Label=Rule cs1=$rule suser=$srcuser duser=$dstuser \
    app=$app cs3Label=Virtual System cs3=$vsys cs4Label=Source Zone cs4=$from \
    cs5Label=Destination Zone cs5=$to deviceInboundInterface=$inbound_if \
    deviceOutboundInterface=$outbound_if cs6Label=LogProfile cs6=$logset cn1Label=SessionID \
    cn1=$sessionid cnt=$repeatcnt spt=$sport dpt=$dport sourceTranslatedPort=$natsport \
    destinationTranslatedPort=$natdport flexString1Label=Flags flexString1=$flags proto=$proto \
    act=$action request=$misc cs2Label=URL Category cs2=$category flexString2Label=Direction \
    flexString2=$direction PanOSActionFlags=$actionflags externalId=$seqno cat=$threatid \
    fileId=$pcap_id PanOSDGl1=$dg_hier_level_1 PanOSDGl2=$dg_hier_level_2 \
    PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 PanOSVsysName=$vsys_name \
    dvchost=$device_name PanOSSrcUUID=$src_uuid PanOSDstUUID=$dst_uuid PanOSTunnelID=$tunnelid \
    PanOSMonitorTag=$monitortag PanOSParentSessionID=$parent_session_id \
    PanOSParentStartTime=$parent_start_time PanOSTunnelType=$tunnel \
    PanOSThreatCategory=$thr_category PanOSContentVer=$contentver";

/// Set A Config.
pub static CONFIG: &str = "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$result|$type|1|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial shost=$host cs3Label=Virtual System cs3=$vsys act=$cmd \
    duser=$admin destinationServiceName=$client msg=$path externalId=$seqno \
    PanOSDGl1=$dg_hier_level_1 PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 \
    PanOSDGl4=$dg_hier_level_4 PanOSVsysName=$vsys_name dvchost=$device_name \
    PanOSActionFlags=$actionflags cs1Label=Before Change Detail cs1=$before-change-detail \
    cs2Label=After Change Detail cs2=$after-change-detail";

/// Set A System.
pub static SYSTEM: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|$number-of-severity|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial cs3Label=Virtual System cs3=$vsys fname=$object \
    flexString2Label=Module flexString2=$module msg=$opaque externalId=$seqno cat=$eventid \
    PanOSDGl1=$dg_hier_level_1 PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 \
    PanOSDGl4=$dg_hier_level_4 PanOSVsysName=$vsys_name dvchost=$device_name \
    PanOSActionFlags=$actionflags";

/// Set A HIP Match.
pub static HIPMATCH: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$matchtype|$type|1|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial suser=$srcuser cs3Label=Virtual System cs3=$vsys \
    shost=$machinename src=$src cnt=$repeatcnt externalId=$seqno cat=$matchname \
    start=$cef-formatted-time_generated cs2Label=Operating System cs2=$os \
    PanOSActionFlags=$actionflags PanOSDGl1=$dg_hier_level_1 PanOSDGl2=$dg_hier_level_2 \
    PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 PanOSVsysName=$vsys_name \
    dvchost=$device_name cn2Label=Virtual System ID cn2=$vsys_id c6a2Label=IPv6 Source Address \
    c6a2=$srcipv6 PanOSHostID=$hostid";

/// Set A Tunnel (the key really is spelled `PanOSTunneInspectionRule`).
pub static TUNNEL: &str = "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|1|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial src=$src dst=$dst sourceTranslatedAddress=$natsrc \
    destinationTranslatedAddress=$natdst cs1Label=Rule cs1=$rule suser=$srcuser duser=$dstuser \
    app=$app cs3Label=Virtual System cs3=$vsys cs4Label=Source Zone cs4=$from \
    cs5Label=Destination Zone cs5=$to deviceInboundInterface=$inbound_if \
    deviceOutboundInterface=$outbound_if cs6Label=Log Action cs6=$logset cn1Label=SessionID \
    cn1=$sessionid cnt=$repeatcnt spt=$sport dpt=$dport sourceTranslatedPort=$natsport \
    destinationTranslatedPort=$natdport flexString1Label=Flags flexString1=$flags proto=$proto \
    act=$action externalId=$seqno PanOSActionFlags=$actionflags PanOSDGl1=$dg_hier_level_1 \
    PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 \
    PanOSVsysName=$vsys_name dvchost=$device_name PanOSTunnelID=$tunnelid \
    PanOSMonitorTag=$monitortag PanOSParentSessionID=$parent_session_id \
    PanOSParentStartTime=$parent_start_time cs2Label=Tunnel Type cs2=$tunnel \
    flexNumber1Label=Total bytes flexNumber1=$bytes in=$bytes_sent out=$bytes_received \
    cn2Label=Packets cn2=$packets PanOSPacketsSent=$pkts_sent \
    PanOSPacketsReceived=$pkts_received flexNumber2Label=Maximum Encapsulation \
    flexNumber2=$max_encap cfp1Label=Unknown Protocol cfp1=$unknown_proto \
    cfp2Label=Strict Checking cfp2=$strict_check PanOSTunnelFragment=$tunnel_fragment \
    cfp3Label=Sessions Created cfp3=$sessions_created cfp4Label=Sessions Closed \
    cfp4=$sessions_closed reason=$session_end_reason cat=$action_source \
    start=$cef-formatted-time_generated cn3Label=Elapsed time in seconds cn3=$elapsed \
    PanOSTunneInspectionRule=$tunnel_insp_rule PanOSRmtUserIP=$remote_user_ip \
    PanOSRmtUserID=$remote_user_id PanOSRuleUUID=$rule_uuid PanOSPcapID=$pcap_id \
    PanDynamicUsrgrp=$dynusergroup_name";

/// Set A User ID.
pub static USERID: &str = "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|1|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial cs1Label=Factor Type cs1=$factortype cs3Label=Virtual System \
    cs3=$vsys cs4Label=Data Source Name cs4=$datasourcename cs5Label=Data Source \
    cs5=$datasource cs6Label=Data Source Type cs6=$datasourcetype cn1Label=Factor Number \
    cn1=$factorno cn2Label=Virtual System ID cn2=$vsys_id cn3Label=Timeout Threshold \
    cn3=$timeout src=$ip spt=$beginport dpt=$endport cnt=$repeatcnt duser=$user \
    externalId=$seqno cat=$eventid end=$factorcompletiontime PanOSDGl1=$dg_hier_level_1 \
    PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 \
    PanOSVsysName=$vsys_name dvchost=$device_name PanOSActionFlags=$actionflags \
    PanOSUGFlags=$ugflags PanOSUserBySource=$userbysource";

/// Set A GlobalProtect, repaired to 7 header fields (see the module docs): class ID and Name
/// swapped back, severity `1` added, `rt` formatted like every other `rt`. The extension is
/// otherwise verbatim, `PanOSDeviceSN` twice included.
pub static GLOBALPROTECT: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|1|\
    rt=$cef-formatted-receive_time \
    PanOSDeviceSN=$serial PanOSLogTimeStamp=$time_generated PanOSVirtualSystem=$vsys \
    PanOSEventID=$eventid PanOSStage=$stage PanOSAuthMethod=$auth_method \
    PanOSTunnelType=$tunnel_type PanOSSourceUserName=$srcuser PanOSSourceRegion=$srcregion \
    PanOSEndpointDeviceName=$machinename PanOSPublicIPv4=$public_ip \
    PanOSPublicIPv6=$public_ipv6 PanOSPrivateIPv4=$private_ip PanOSPrivateIPv6=$private_ipv6 \
    PanOSHostID=$hostid PanOSDeviceSN=$serialnumber PanOSGlobalProtectClientVersion=$client_ver \
    PanOSEndpointOSType=$client_os PanOSEndpointOSVersion=$client_os_ver \
    PanOSCountOfRepeats=$repeatcnt PanOSQuarantineReason=$reason PanOSConnectionError=$error \
    PanOSDescription=$opaque PanOSEventStatus=$status PanOSGPGatewayLocation=$location \
    PanOSLoginDuration=$login_duration PanOSConnectionMethod=$connect_method \
    PanOSConnectionErrorID=$error_code PanOSPortal=$portal PanOSSequenceNo=$seqno \
    PanOSActionFlags=$actionflags";

/// Set B auth, without the newline and space the configured string ends with (a line break
/// would end the syslog record).
pub static AUTHENTICATION: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|1|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial cs1Label=Server Profile cs1=$serverprofile cs2Label=Normalize User \
    cs2=$normalize_user cs3Label=Virtual System cs3=$vsys cs4Label=Authentication Policy \
    cs4=$authpolicy cs5Label=Client Type cs5=$clienttype cs6Label=Log Action cs6=$logset \
    fname=$object cn1Label=Factor Number cn1=$factorno cn2Label=Authentication ID cn2=$authid \
    src=$ip cnt=$repeatcnt duser=$user flexString2Label=Vendor flexString2=$vendor msg=$event \
    externalId=$seqno PanOSDGl1=$dg_hier_level_1 PanOSDGl2=$dg_hier_level_2 \
    PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 PanOSVsysName=$vsys_name \
    dvchost=$device_name PanOSActionFlags=$actionflags PanOSDesc=$desc";

/// Set B correlation: Device Version hard-coded `8.0`, the severity a word.
pub static CORRELATION: &str = "CEF:0|Palo Alto Networks|PAN-OS|8.0|$category|$type|$severity|\
    rt=$cef-formatted-receive_time \
    deviceExternalId=$serial start=$cef-formatted-time_generated src=$src suser=$srcuser \
    cs3Label=Virtual System cs3=$vsys severity=$severity PanOSDGl1=$dg_hier_level_1 \
    PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 \
    PanOSVsysName=$vsys_name dvchost=$device_name cn2Label=Virtual System ID cn2=$vsys_id \
    fname=$object_name cn3Label=Object ID cn3=$object_id msg=$evidence";

/// Our format for the types PAN-OS publishes none for (DECRYPTION, SCTP, IPTAG, GTP, AUDIT): the
/// session keys the published formats share, in their order. A pair whose column the type lacks
/// is left out (with its label), and every other column follows as a `PanOS<Variable>` key (see
/// the module docs of [`super`]). Severity falls back to `1` when the type has no severity column.
pub static OURS: &str =
    "CEF:0|Palo Alto Networks|PAN-OS|$sender_sw_version|$subtype|$type|$number-of-severity|\
    rt=$cef-formatted-receive_time deviceExternalId=$serial src=$src dst=$dst \
    sourceTranslatedAddress=$natsrc destinationTranslatedAddress=$natdst cs1Label=Rule cs1=$rule \
    suser=$srcuser duser=$dstuser app=$app cs3Label=Virtual System cs3=$vsys \
    cs4Label=Source Zone cs4=$from cs5Label=Destination Zone cs5=$to \
    deviceInboundInterface=$inbound_if deviceOutboundInterface=$outbound_if \
    cs6Label=LogProfile cs6=$logset cn1Label=SessionID cn1=$sessionid cnt=$repeatcnt spt=$sport \
    dpt=$dport sourceTranslatedPort=$natsport destinationTranslatedPort=$natdport \
    flexString1Label=Flags flexString1=$flags proto=$proto act=$action \
    start=$cef-formatted-time_generated externalId=$seqno PanOSDGl1=$dg_hier_level_1 \
    PanOSDGl2=$dg_hier_level_2 PanOSDGl3=$dg_hier_level_3 PanOSDGl4=$dg_hier_level_4 \
    PanOSVsysName=$vsys_name dvchost=$device_name PanOSActionFlags=$actionflags";

/// Every published format, and ours last: what the tables built from formats go through.
pub static ALL: [&str; 14] = [
    TRAFFIC,
    THREAT,
    URL,
    WILDFIRE,
    DATA,
    CONFIG,
    SYSTEM,
    HIPMATCH,
    TUNNEL,
    USERID,
    GLOBALPROTECT,
    AUTHENTICATION,
    CORRELATION,
    OURS,
];

/// The published format for a log of `log_type` and `subtype`; `None` where PAN-OS publishes none.
pub fn published(log_type: LogType, subtype: &str) -> Option<&'static str> {
    Some(match log_type {
        LogType::Traffic => TRAFFIC,
        LogType::Threat => match subtype {
            "url" => URL,
            "wildfire" | "wildfire-virus" => WILDFIRE,
            "data" => DATA,
            _ => THREAT,
        },
        LogType::Config => CONFIG,
        LogType::System => SYSTEM,
        LogType::HipMatch => HIPMATCH,
        LogType::GlobalProtect => GLOBALPROTECT,
        LogType::UserId => USERID,
        LogType::Authentication => AUTHENTICATION,
        LogType::Tunnel => TUNNEL,
        LogType::Correlation => CORRELATION,
        LogType::Decryption | LogType::IpTag | LogType::Sctp | LogType::Gtp | LogType::Audit => {
            return None
        }
    })
}
