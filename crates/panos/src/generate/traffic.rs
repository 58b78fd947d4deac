//! TRAFFIC logs, and the session fields THREAT logs share with them.

use time::OffsetDateTime;

use super::fields::{
    cef_time, earlier, session_ips, uuid, write_device, Device, LOG_PROFILES, RULES, SERVICES,
    URL_CATEGORIES, USERS, ZONES,
};
use super::record::{CefWriter, Record, INFORMATIONAL};
use super::rng::Rng;

/// The fields a session (TRAFFIC and THREAT) log starts with, up to the protocol.
pub(super) struct Session {
    src: String,
    dst: String,
    nat_src: String,
    nat_dst: String,
    rule: &'static str,
    src_user: &'static str,
    dst_user: &'static str,
    pub(super) app: &'static str,
    zones: (&'static str, &'static str, &'static str, &'static str),
    log_profile: &'static str,
    session_id: u64,
    src_port: u64,
    dst_port: u64,
    nat_src_port: u64,
    proto: &'static str,
}

impl Session {
    pub(super) fn new(rng: &mut Rng, service: (u64, &'static str, &'static str)) -> Session {
        let (src, dst) = session_ips(rng);
        let (dst_port, app, proto) = service;
        let src_port = if proto == "icmp" {
            0
        } else {
            rng.between(1024, 65535)
        };
        // Outbound IPv4 traffic is source-NATed to the firewall's public address.
        let natted = !src.contains(':') && rng.percent(60);
        Session {
            nat_src: if natted {
                format!("203.0.113.{}", rng.between(1, 30))
            } else {
                "0.0.0.0".into()
            },
            nat_dst: if natted {
                dst.clone()
            } else {
                "0.0.0.0".into()
            },
            nat_src_port: if natted { rng.between(1024, 65535) } else { 0 },
            src,
            dst,
            rule: rng.pick(&RULES),
            src_user: rng.pick(&USERS),
            dst_user: if rng.percent(10) {
                rng.pick(&USERS)
            } else {
                ""
            },
            app,
            zones: rng.pick(&ZONES),
            log_profile: rng.pick(&LOG_PROFILES),
            session_id: rng.between(1000, 4_000_000),
            src_port,
            dst_port,
            proto,
        }
    }

    /// `rt=` … `proto=`: the keys every session template shares, in template order.
    pub(super) fn write(&self, cef: &mut CefWriter, device: &Device, rt: &str, flags: &str) {
        let (from, to, inbound, outbound) = self.zones;
        let nat_dst_port = if self.nat_src_port == 0 {
            0
        } else {
            self.dst_port
        };
        cef.kv("rt", rt)
            .kv("deviceExternalId", device.serial)
            .kv("src", &self.src)
            .kv("dst", &self.dst)
            .kv("sourceTranslatedAddress", &self.nat_src)
            .kv("destinationTranslatedAddress", &self.nat_dst)
            .kv("cs1Label", "Rule")
            .kv("cs1", self.rule)
            .kv("suser", self.src_user)
            .kv("duser", self.dst_user)
            .kv("app", self.app)
            .kv("cs3Label", "Virtual System")
            .kv("cs3", "vsys1")
            .kv("cs4Label", "Source Zone")
            .kv("cs4", from)
            .kv("cs5Label", "Destination Zone")
            .kv("cs5", to)
            .kv("deviceInboundInterface", inbound)
            .kv("deviceOutboundInterface", outbound)
            .kv("cs6Label", "LogProfile")
            .kv("cs6", self.log_profile)
            .kv("cn1Label", "SessionID")
            .kv("cn1", self.session_id)
            .kv("cnt", 1)
            .kv("spt", self.src_port)
            .kv("dpt", self.dst_port)
            .kv("sourceTranslatedPort", self.nat_src_port)
            .kv("destinationTranslatedPort", nat_dst_port)
            .kv("flexString1Label", "Flags")
            .kv("flexString1", flags)
            .kv("proto", self.proto);
    }
}

// One piece: the PAN-OS CEF format string, one field per line, in the firewall's order.
pub(super) fn traffic(device: &Device, rng: &mut Rng, now: OffsetDateTime) -> Record {
    let service = rng.pick(&SERVICES);
    let session = Session::new(rng, service);
    let (subtype, action, reason) = match rng.below(20) {
        0..=15 => (
            "end",
            "allow",
            rng.pick(&[
                "tcp-fin",
                "aged-out",
                "tcp-rst-from-client",
                "tcp-rst-from-server",
            ]),
        ),
        16 => ("start", "allow", "n/a"),
        17 => ("drop", "drop", "policy-deny"),
        18 => ("deny", "deny", "policy-deny"),
        _ => ("deny", "reset-both", "policy-deny"),
    };
    let received = earlier(now, rng, 2);
    let elapsed = if subtype == "end" { rng.below(900) } else { 0 };
    let generated = received - time::Duration::seconds(elapsed as i64);
    let (sent, received_bytes) = (rng.between(60, 90_000), rng.between(0, 2_000_000));
    let (packets_sent, packets_received) = (sent / 900 + 1, received_bytes / 1400 + 1);
    let mut cef = CefWriter::new(device.version, subtype, "TRAFFIC", Some("1"));
    session.write(
        &mut cef,
        device,
        &cef_time(received),
        rng.pick(&[
            "0x400019",
            "0x400053",
            "0x19",
            "0x400000",
            "0x8000000000000000",
        ]),
    );
    cef.kv("act", action)
        .kv("flexNumber1Label", "Total bytes")
        .kv("flexNumber1", sent + received_bytes)
        .kv("in", sent)
        .kv("out", received_bytes)
        .kv("cn2Label", "Packets")
        .kv("cn2", packets_sent + packets_received)
        .kv("PanOSPacketsReceived", packets_received)
        .kv("PanOSPacketsSent", packets_sent)
        .kv("start", cef_time(generated))
        .kv("cn3Label", "Elapsed time in seconds")
        .kv("cn3", elapsed)
        .kv("cs2Label", "URL Category")
        .kv("cs2", rng.pick(&URL_CATEGORIES))
        .external_id()
        .kv("reason", reason);
    write_device(&mut cef, device);
    cef.kv(
        "cat",
        if action == "allow" {
            "from-policy"
        } else {
            "from-application"
        },
    )
    .kv("PanOSActionFlags", "0x0")
    .kv("PanOSSrcUUID", "")
    .kv("PanOSDstUUID", "")
    .kv("PanOSTunnelID", 0)
    .kv("PanOSMonitorTag", "")
    .kv("PanOSParentSessionID", 0)
    .kv("PanOSParentStartTime", "")
    .kv("PanOSTunnelType", "N/A")
    .kv("PanOSSCTPAssocID", 0)
    .kv("PanOSSCTPChunks", 0)
    .kv("PanOSSCTPChunkSent", 0)
    .kv("PanOSSCTPChunksRcv", 0)
    .kv("PanOSRuleUUID", uuid(rng))
    .kv("PanOSHTTP2Con", 0)
    .kv("PanLinkChange", 0)
    .kv("PanPolicyID", "")
    .kv("PanLinkDetail", "")
    .kv("PanSDWANCluster", "")
    .kv("PanSDWANDevice", "")
    .kv("PanSDWANClustype", "")
    .kv("PanSDWANSite", "")
    .kv("PanDynamicUsrgrp", "");
    cef.finish(INFORMATIONAL)
}
