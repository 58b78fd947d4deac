use std::fs;
use std::path::Path;

use super::edit::{comment_out, MARK};
use super::rsyslog::InputModules;
use super::*;

fn write(root: &Path, path: &str, text: &str) {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

const RSYSLOG_CONF: &str = "\
module(load=\"imuxsock\")
# provides UDP syslog reception
module(load=\"imudp\")
input(type=\"imudp\" port=\"514\")
$ModLoad imtcp
$InputTCPServerRun 514
input(type=\"imtcp\"
      port=\"10514\")
input(type=\"imptcp\"
      port=[\"601\", \"514\"])
#$UDPServerRun 514
*.* /var/log/syslog
";

#[test]
fn rsyslog_inputs_on_514_are_found_and_others_are_not() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
    let found = find(root.path());
    let lines: Vec<_> = found
        .iter()
        .map(|c| (c.first_line, c.last_line, c.kind.clone()))
        .collect();
    assert_eq!(
        lines,
        vec![
            (4, 4, Kind::Input { transport: "udp" }),
            (6, 6, Kind::Input { transport: "tcp" }),
            (9, 10, Kind::Input { transport: "tcp" }),
            (3, 3, Kind::InputModule { module: "imudp" }),
        ]
    );
    assert_eq!(found[0].path, Path::new("/etc/rsyslog.conf"));
    assert_eq!(found[0].text, "input(type=\"imudp\" port=\"514\")");
}

#[test]
fn old_forwarding_rules_are_found_and_the_agents_own_is_only_reported() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "etc/rsyslog.d/security-config-omsagent.conf",
        "if $rawmsg contains \"CEF:\" or $rawmsg contains \"ASA-\" then @@127.0.0.1:25226\n",
    );
    write(
        root.path(),
        "etc/rsyslog.d/10-azuremonitoragent-omfwd.conf",
        "*.* action(type=\"omfwd\" template=\"AMA_RSYSLOG_TraditionalForwardFormat\"\n  target=\"127.0.0.1\" Port=\"28330\" Protocol=\"tcp\")\n",
    );
    write(
        root.path(),
        "etc/syslog-ng/conf.d/security-config-omsagent.conf",
        "filter f_oms_filter {match(\"CEF\\|ASA\" ) ;};\ndestination oms_destination {tcp(\"127.0.0.1\" port(25226));};\nlog {source(s_src);filter(f_oms_filter);destination(oms_destination);};\n",
    );
    let found = find(root.path());
    let kinds: Vec<_> = found
        .iter()
        .map(|c| (c.daemon, c.kind.clone(), c.first_line))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Daemon::Rsyslog, Kind::AmaForward { port: 28330 }, 1),
            (Daemon::Rsyslog, Kind::CefForward { port: 25226 }, 1),
            (Daemon::SyslogNg, Kind::CefForward { port: 25226 }, 2),
        ]
    );
    assert!(!found[0].disabled_by_install());
    assert!(found[0]
        .to_string()
        .contains("10-azuremonitoragent-omfwd.conf:1-2"));
}

#[test]
fn syslog_ng_sources_on_514_including_the_defaults() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "etc/syslog-ng/syslog-ng.conf",
        "@version: 3.38\nsource s_src { system(); internal(); };\nsource s_net { udp(ip(0.0.0.0) port(514)); tcp(port(601)); network(transport(\"tcp\")); };\nsource s_tls {\n  network(port(6514) transport(\"tls\"));\n  syslog(port(514));\n};\ndestination d_net { udp(\"10.0.0.1\" port(514)); };\n",
    );
    let found = find(root.path());
    let kinds: Vec<_> = found
        .iter()
        .map(|c| (c.kind.clone(), c.first_line, c.text.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (
                Kind::Input { transport: "udp" },
                3,
                "udp(ip(0.0.0.0) port(514));"
            ),
            (
                Kind::Input { transport: "tcp" },
                3,
                "network(transport(\"tcp\"));"
            ),
            (Kind::Input { transport: "tcp" }, 6, "syslog(port(514));"),
        ]
    );
}

#[test]
fn disabling_keeps_the_rest_of_each_line_and_restoring_gives_back_the_original() {
    let root = tempfile::tempdir().unwrap();
    let syslog_ng = "source s_net { udp(port(514)); internal(); };\n";
    write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
    write(root.path(), "etc/syslog-ng/syslog-ng.conf", syslog_ng);
    let found = find(root.path());
    let edits = plan_disable(root.path(), &found).unwrap();
    assert_eq!(edits.len(), 2);
    for edit in &edits {
        apply(edit).unwrap();
    }
    let rsyslog = fs::read_to_string(root.path().join("etc/rsyslog.conf")).unwrap();
    assert!(rsyslog.contains(&format!("\n{MARK}input(type=\"imudp\" port=\"514\")\n")));
    assert!(rsyslog.contains(&format!("\n{MARK}$InputTCPServerRun 514\n")));
    assert!(rsyslog.contains(&format!(
        "\n{MARK}input(type=\"imptcp\"\n{MARK}      port=[\"601\", \"514\"])\n"
    )));
    assert!(rsyslog.contains("input(type=\"imtcp\"\n      port=\"10514\")\n"));
    let ng = fs::read_to_string(root.path().join("etc/syslog-ng/syslog-ng.conf")).unwrap();
    assert_eq!(
        ng,
        format!("source s_net {{  internal(); }}; {MARK}{syslog_ng}")
    );
    assert_eq!(
        fs::read_to_string(root.path().join("etc/rsyslog.conf.cefrelay.bak")).unwrap(),
        RSYSLOG_CONF
    );
    assert!(find(root.path()).is_empty(), "nothing left to disable");

    for edit in plan_restore(root.path()).unwrap() {
        apply(&edit).unwrap();
    }
    assert_eq!(
        fs::read_to_string(root.path().join("etc/rsyslog.conf")).unwrap(),
        RSYSLOG_CONF
    );
    assert_eq!(
        fs::read_to_string(root.path().join("etc/syslog-ng/syslog-ng.conf")).unwrap(),
        syslog_ng
    );
}

#[test]
fn editing_keeps_the_inode_and_mode() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
    let path = root.path().join("etc/rsyslog.conf");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let before = fs::metadata(&path).unwrap();
    for edit in plan_disable(root.path(), &find(root.path())).unwrap() {
        apply(&edit).unwrap();
    }
    let after = fs::metadata(&path).unwrap();
    assert_eq!(before.ino(), after.ino());
    assert_eq!(after.permissions().mode() & 0o777, 0o640);
}

#[test]
fn garbage_never_panics() {
    for text in [
        "input(",
        "\"",
        "source { udp(port(",
        "$UDPServerRun x",
        "){}};;((",
        "action(type=\"omfwd\" port=\"25226\" target=\"127.0.0.1\"",
    ] {
        let _ = rsyslog::conflicts(text, "x.conf", &mut InputModules::default());
        let _ = syslog_ng::conflicts(text, "x.conf");
        let _ = comment_out(text, &[(0..text.len(), "continue")]);
    }
}
