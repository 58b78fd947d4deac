//! `cefrelay install` and `uninstall` into a temporary `--root`, with the real rsyslog, syslog-ng
//! and systemd-analyze checking what they leave behind.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{cefrelay, project_path, Ca};

fn run(root: &Path, args: &[&str]) -> (Output, String) {
    let output = cefrelay()
        .args(args)
        .arg("--root")
        .arg(root)
        .output()
        .expect("run cefrelay");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() || args.contains(&"--listen"),
        "{args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output, stdout)
}

/// Every file under `root`: relative path → (mode, inode, modification time).
fn files(root: &Path) -> BTreeMap<String, (u32, u64, i64)> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, (u32, u64, i64)>) {
        for entry in fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(&path, root, out);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(
                    name,
                    (
                        meta.permissions().mode() & 0o7777,
                        meta.ino(),
                        meta.mtime_nsec(),
                    ),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn read(root: &Path, path: &str) -> String {
    fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn write(root: &Path, path: &str, text: &str) -> PathBuf {
    let path = root.join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    path
}

/// A peer program (absolute, or relative to the project), or `None` where it is missing outside
/// CI (CI installs every peer: .ci/peers).
fn peer(path: &str) -> Option<PathBuf> {
    let path = project_path(path);
    let found = path.exists().then_some(path.clone());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} is missing; .ci/peers installs it",
            path.display()
        );
        eprintln!("skipped: {} is not installed", path.display());
    }
    found
}

const RSYSLOG_CONF: &str = "\
module(load=\"imudp\")
input(type=\"imudp\" port=\"514\")
module(load=\"imtcp\")
$InputTCPServerRun 514
input(type=\"imtcp\" port=\"10514\")
*.* /var/log/syslog
if $rawmsg contains \"ASA-\" then {
  action(type=\"omfwd\" target=\"127.0.0.1\" port=\"25226\" protocol=\"tcp\")
}
";
const OMSAGENT_CONF: &str =
    "if $rawmsg contains \"CEF:\" or $rawmsg contains \"ASA-\" then @@127.0.0.1:25226\n";
const AMA_CONF: &str = "*.* action(type=\"omfwd\" template=\"RSYSLOG_TraditionalForwardFormat\"\n  target=\"127.0.0.1\" port=\"28330\" protocol=\"tcp\")\n";
const SYSLOG_NG_CONF: &str = "\
@version: 3.38
source s_src { internal(); };
source s_net { udp(port(514)); tcp(port(601)); };
destination d_file { file(\"/var/log/net.log\"); };
log { source(s_src); source(s_net); destination(d_file); };
";

#[test]
fn install_creates_exactly_the_expected_files_with_their_modes() {
    let root = tempfile::tempdir().unwrap();
    let (_, stdout) = run(root.path(), &["install", "--agent", "ama"]);

    let found: BTreeMap<String, u32> = files(root.path())
        .into_iter()
        .map(|(path, (mode, _, _))| (path, mode))
        .collect();
    let expected: BTreeMap<String, u32> = [
        ("etc/cefrelay/cefrelay.example.toml", 0o644),
        ("etc/cefrelay/cefrelay.toml", 0o644),
        ("etc/systemd/system/cefrelay.service", 0o644),
        ("usr/local/bin/cefrelay", 0o755),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_string(), m))
    .collect();
    assert_eq!(found, expected);

    // What install writes is what deploy/ holds.
    assert_eq!(
        read(root.path(), "etc/systemd/system/cefrelay.service"),
        fs::read_to_string(project_path("deploy/cefrelay.service")).unwrap()
    );
    assert_eq!(
        read(root.path(), "etc/cefrelay/cefrelay.example.toml"),
        fs::read_to_string(project_path("deploy/cefrelay.toml")).unwrap()
    );
    assert_eq!(
        fs::read(root.path().join("usr/local/bin/cefrelay")).unwrap(),
        fs::read(env!("CARGO_BIN_EXE_cefrelay")).unwrap()
    );
    let config = read(root.path(), "etc/cefrelay/cefrelay.toml");
    assert!(config.contains("agent = \"ama\""), "{config}");
    assert!(config.contains("\"tcp://127.0.0.1:28330\""), "{config}");
    let check = cefrelay()
        .arg("check-config")
        .arg(root.path().join("etc/cefrelay/cefrelay.toml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");

    // Under --root nothing is started: the commands are printed, in order.
    let commands: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("not run (--root)"))
        .skip(1)
        .map(str::trim)
        .collect();
    assert_eq!(
        commands,
        [
            "systemctl daemon-reload",
            "systemctl enable cefrelay.service",
            "systemctl restart cefrelay.service"
        ],
        "{stdout}"
    );
}

#[test]
fn a_second_run_changes_nothing_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    // The agent is named: without --agent it follows the port that listens, which
    // the_listening_agent_port_is_chosen changes while this test runs.
    run(root.path(), &["install", "--agent", "legacy"]);
    let before = files(root.path());
    let (_, stdout) = run(root.path(), &["install", "--agent", "legacy"]);
    assert_eq!(files(root.path()), before, "same inodes, same times");
    assert!(
        stdout.contains("nothing to do: cefrelay is installed as asked"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("created") && !stdout.contains("systemctl"),
        "{stdout}"
    );
}

#[test]
fn dry_run_writes_nothing_and_lists_every_action() {
    let root = tempfile::tempdir().unwrap();
    write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
    let before = files(root.path());
    let (_, stdout) = run(
        root.path(),
        &["install", "--dry-run", "--disable-conflicting-inputs"],
    );
    assert_eq!(files(root.path()), before);
    assert_eq!(read(root.path(), "etc/rsyslog.conf"), RSYSLOG_CONF);
    for action in [
        "would create /etc/cefrelay/cefrelay.toml (mode 0644)",
        "would create /usr/local/bin/cefrelay (mode 0755)",
        "would create /etc/systemd/system/cefrelay.service (mode 0644)",
        "+#cefrelay-disabled: input(type=\"imudp\" port=\"514\")",
        "systemctl try-restart rsyslog.service syslog-ng.service",
        "dry run: nothing was changed",
    ] {
        assert!(stdout.contains(action), "missing {action:?} in:\n{stdout}");
    }
}

#[test]
fn dry_run_prints_the_configuration_and_the_unit_it_would_write() {
    let flags = ["install", "--agent", "ama", "--filter", "cef-all"];
    let dry = tempfile::tempdir().unwrap();
    let (_, stdout) = run(dry.path(), &[&flags[..], &["--dry-run"]].concat());
    assert!(files(dry.path()).is_empty());

    // The text shown is what a real run with the same flags writes, whole and in order.
    let real = tempfile::tempdir().unwrap();
    run(real.path(), &flags);
    for path in [
        "/etc/cefrelay/cefrelay.toml",
        "/etc/systemd/system/cefrelay.service",
    ] {
        let written = read(real.path(), &path[1..]);
        let shown = format!("----- {path} -----\n{written}----- end of {path} -----\n");
        assert!(
            stdout.contains(&shown),
            "{path} not shown whole in:\n{stdout}"
        );
    }
    assert!(stdout.contains("mode = \"cef-all\""), "{stdout}");
    let unit = fs::read_to_string(project_path("deploy/cefrelay.service")).unwrap();
    assert!(stdout.contains(&unit), "{stdout}");

    // A file left as it is has nothing to show.
    let (_, again) = run(real.path(), &[&flags[..], &["--dry-run"]].concat());
    assert!(!again.contains("----- /etc/"), "{again}");
}

/// `install --dry-run` without `--agent`: (its stdout, the configuration it would write).
fn dry_run_without_agent(command: &mut Command, root: &Path) -> (String, String) {
    let output = command
        .args(["install", "--dry-run", "--root"])
        .arg(root)
        .output()
        .expect("run cefrelay");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{output:?}");
    let start = "----- /etc/cefrelay/cefrelay.toml -----\n";
    let config = stdout
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once("----- end of"))
        .map(|(config, _)| config.to_string())
        .unwrap_or_else(|| panic!("no configuration shown in:\n{stdout}"));
    (stdout, config)
}

#[test]
fn the_listening_agent_port_is_chosen() {
    let root = tempfile::tempdir().unwrap();

    // Nothing listens: in a network namespace of its own (root only), whatever this machine runs.
    let mut isolated = Command::new("unshare");
    isolated.args(["--net", env!("CARGO_BIN_EXE_cefrelay")]);
    if Command::new("unshare")
        .args(["--net", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        let (stdout, config) = dry_run_without_agent(&mut isolated, root.path());
        assert!(
            stdout.contains("agent: legacy (127.0.0.1:25226): nothing listens on 127.0.0.1:28330 (Azure Monitor agent) nor 127.0.0.1:25226 (legacy agent), so the default stays; give --agent ama"),
            "{stdout}"
        );
        assert!(
            config.contains("agent = \"legacy\"\naddress = [\"tcp://127.0.0.1:25226\"]"),
            "{config}"
        );
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "`unshare --net` failed: CI runs as root, where it works"
        );
        eprintln!("skipped the no-agent case: `unshare --net` needs root");
    }

    // The Azure Monitor agent's port listens: here, this test holds it.
    let held = match std::net::TcpListener::bind("127.0.0.1:28330") {
        Ok(listener) => Some(listener),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            // Something on this machine (an agent, another test) already listens there: the
            // choice must be the same, only the holder is not this test.
            eprintln!("127.0.0.1:28330 is taken on this machine; checking with its holder");
            None
        }
        Err(error) => panic!("binding 127.0.0.1:28330: {error}"),
    };
    let (stdout, config) = dry_run_without_agent(&mut crate::util::cefrelay(), root.path());
    assert!(
        stdout.contains("agent: ama (127.0.0.1:28330): "),
        "{stdout}"
    );
    if held.is_some() {
        assert!(
            stdout.contains(&format!("(pid {}) listens on its port", std::process::id())),
            "the holder is named: {stdout}"
        );
    }
    assert!(
        config.contains("agent = \"ama\"\naddress = [\"tcp://127.0.0.1:28330\"]"),
        "{config}"
    );
    assert!(
        stdout.contains("(the agent's port was looked up on this host, not under --root)"),
        "{stdout}"
    );
    drop(held);
}

#[test]
fn disabling_the_forwarding_rule_says_what_the_filter_drops() {
    let root = tempfile::tempdir().unwrap();
    write(
        root.path(),
        "etc/rsyslog.d/security-config-omsagent.conf",
        OMSAGENT_CONF,
    );
    let disable = [
        "install",
        "--agent",
        "legacy",
        "--dry-run",
        "--disable-conflicting-inputs",
    ];
    let (_, stdout) = run(root.path(), &disable);
    for said in [
        "note: the forwarding rule disabled above sent the agent whatever it matched",
        "filter cef: forwards valid CEF except PAN-OS TRAFFIC; drops TRAFFIC, lines without CEF (Cisco ASA, unconverted PAN-OS CSV)",
        "to forward what the rule did, install with --filter legacy",
    ] {
        assert!(stdout.contains(said), "missing {said:?} in:\n{stdout}");
    }

    // The legacy filter forwards what the rule did: the note says so, with no advice.
    let (_, stdout) = run(
        root.path(),
        &[&disable[..], &["--filter", "legacy"]].concat(),
    );
    assert!(
        stdout.contains("filter legacy: forwards lines containing CEF: or ASA-"),
        "{stdout}"
    );
    assert!(!stdout.contains("install with --filter legacy"), "{stdout}");

    // Left in place, the rule still forwards: nothing to warn about yet.
    let (_, stdout) = run(root.path(), &["install", "--agent", "legacy", "--dry-run"]);
    assert!(!stdout.contains("note: the forwarding rule"), "{stdout}");
}

#[test]
fn an_existing_config_is_kept_with_the_difference_shown_unless_forced() {
    let root = tempfile::tempdir().unwrap();
    run(root.path(), &["install", "--agent", "legacy"]);
    let legacy = read(root.path(), "etc/cefrelay/cefrelay.toml");

    let (_, stdout) = run(root.path(), &["install", "--agent", "ama"]);
    assert_eq!(read(root.path(), "etc/cefrelay/cefrelay.toml"), legacy);
    assert!(
        stdout.contains("-address = [\"tcp://127.0.0.1:25226\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("+address = [\"tcp://127.0.0.1:28330\"]"),
        "{stdout}"
    );
    assert!(stdout.contains("add --force to replace it"), "{stdout}");

    run(root.path(), &["install", "--agent", "ama", "--force"]);
    assert!(read(root.path(), "etc/cefrelay/cefrelay.toml").contains("28330"));
    assert_eq!(
        read(root.path(), "etc/cefrelay/cefrelay.toml.cefrelay.bak"),
        legacy
    );
}

#[test]
fn bad_flags_exit_64_naming_the_flag_and_write_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (output, _) = run(root.path(), &["install", "--listen", "smtp://0.0.0.0:25"]);
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--listen smtp://0.0.0.0:25"), "{stderr}");
    assert!(files(root.path()).is_empty());
}

#[test]
fn a_tls_certificate_that_is_not_there_exits_64_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let output = cefrelay()
        .args(["install", "--tls-cert", "/etc/pki/none.pem"])
        .args(["--tls-key", "/etc/pki/none.key", "--root"])
        .arg(root.path())
        .output()
        .expect("run cefrelay");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("none.pem"), "{stderr}");
    assert!(files(root.path()).is_empty());
}

#[test]
fn tls_files_reach_the_service_as_credentials() {
    let root = tempfile::tempdir().unwrap();
    // The files must exist where the installed system has them: install loads them as run will.
    let pki = root.path().join("etc/pki");
    fs::create_dir_all(&pki).unwrap();
    let (cert, key) = Ca::new("install test").issue(
        &["relay.example"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    fs::write(pki.join("relay.pem"), cert).unwrap();
    fs::write(pki.join("relay.key"), key).unwrap();
    let (_, stdout) = run(
        root.path(),
        &[
            "install",
            "--tls-cert",
            "/etc/pki/relay.pem",
            "--tls-key",
            "/etc/pki/relay.key",
        ],
    );
    let drop_in = read(
        root.path(),
        "etc/systemd/system/cefrelay.service.d/tls.conf",
    );
    assert!(
        drop_in.contains("LoadCredential=tls-cert.pem:/etc/pki/relay.pem\n"),
        "{drop_in}"
    );
    assert!(
        drop_in.contains("LoadCredential=tls-key.pem:/etc/pki/relay.key\n"),
        "{drop_in}"
    );
    let config = read(root.path(), "etc/cefrelay/cefrelay.toml");
    assert!(
        config.contains("address = \"tls://0.0.0.0:6514\""),
        "{config}"
    );
    assert!(
        config.contains("tls_key = \"/run/credentials/cefrelay.service/tls-key.pem\""),
        "{config}"
    );
    assert!(stdout.contains("created /etc/systemd/system/cefrelay.service.d/tls.conf"));

    // Without TLS flags (and --force for the config) the drop-in goes again.
    run(root.path(), &["install", "--force"]);
    assert!(!root
        .path()
        .join("etc/systemd/system/cefrelay.service.d/tls.conf")
        .exists());
}

#[test]
fn conflicts_are_reported_then_disabled_in_place_and_uninstall_restores_them() {
    let root = tempfile::tempdir().unwrap();
    let rsyslog = write(root.path(), "etc/rsyslog.conf", RSYSLOG_CONF);
    write(
        root.path(),
        "etc/rsyslog.d/security-config-omsagent.conf",
        OMSAGENT_CONF,
    );
    write(
        root.path(),
        "etc/rsyslog.d/10-azuremonitoragent-omfwd.conf",
        AMA_CONF,
    );
    let syslog_ng = write(root.path(), "etc/syslog-ng/syslog-ng.conf", SYSLOG_NG_CONF);
    let inode = fs::metadata(&rsyslog).unwrap().ino();

    // Reported, left alone.
    let (_, stdout) = run(root.path(), &["install"]);
    for conflict in [
        "conflict: /etc/rsyslog.conf:2: rsyslog listens on udp/514",
        "conflict: /etc/rsyslog.conf:4: rsyslog listens on tcp/514",
        "conflict: /etc/rsyslog.conf:8: rsyslog forwards to the agent port 25226",
        "conflict: /etc/rsyslog.d/security-config-omsagent.conf:1: rsyslog forwards to the agent port 25226",
        "conflict: /etc/rsyslog.d/10-azuremonitoragent-omfwd.conf:1-2: rsyslog the Azure Monitor agent's forward to 28330",
        "conflict: /etc/syslog-ng/syslog-ng.conf:3: syslog-ng listens on udp/514",
        "conflict: /etc/rsyslog.conf:1: rsyslog loads imudp only for its inputs on 514",
        "run again with --disable-conflicting-inputs",
    ] {
        assert!(stdout.contains(conflict), "missing {conflict:?} in:\n{stdout}");
    }
    assert_eq!(read(root.path(), "etc/rsyslog.conf"), RSYSLOG_CONF);

    // Disabled: only those lines, in place, with a backup.
    let (_, stdout) = run(root.path(), &["install", "--disable-conflicting-inputs"]);
    let edited = read(root.path(), "etc/rsyslog.conf");
    assert_eq!(
        edited,
        RSYSLOG_CONF
            .replace(
                "module(load=\"imudp\")\n",
                "#cefrelay-disabled: module(load=\"imudp\")\n"
            )
            .replace(
                "input(type=\"imudp\" port=\"514\")",
                "#cefrelay-disabled: input(type=\"imudp\" port=\"514\")"
            )
            .replace(
                "$InputTCPServerRun 514",
                "#cefrelay-disabled: $InputTCPServerRun 514"
            )
            .replace(
                "  action(type=\"omfwd\"",
                "continue #cefrelay-disabled:   action(type=\"omfwd\""
            )
    );
    assert_eq!(
        fs::metadata(&rsyslog).unwrap().ino(),
        inode,
        "edited in place"
    );
    assert_eq!(
        read(root.path(), "etc/rsyslog.conf.cefrelay.bak"),
        RSYSLOG_CONF
    );
    assert_eq!(
        read(root.path(), "etc/rsyslog.d/10-azuremonitoragent-omfwd.conf"),
        AMA_CONF,
        "the agent's own file is never edited"
    );
    assert!(read(root.path(), "etc/syslog-ng/syslog-ng.conf")
        .contains("source s_net {  tcp(port(601)); }; #cefrelay-disabled: source s_net"));
    let restart = stdout
        .find("systemctl try-restart rsyslog.service syslog-ng.service")
        .expect("the daemons are restarted");
    assert!(restart < stdout.find("systemctl restart cefrelay.service").unwrap());

    // The daemons themselves accept what is left.
    if let Some(rsyslogd) = peer("/usr/sbin/rsyslogd") {
        let check = Command::new(rsyslogd)
            .args(["-N1", "-f"])
            .arg(&rsyslog)
            .output()
            .unwrap();
        assert!(check.status.success(), "rsyslogd -N1: {check:?}");
    }
    if let Some(syslog_ng_binary) = peer(".peers/syslog-ng/usr/sbin/syslog-ng") {
        let lib = project_path(".peers/syslog-ng/usr/lib/syslog-ng");
        let check = Command::new(syslog_ng_binary)
            .env("LD_LIBRARY_PATH", &lib)
            .arg(format!("--module-path={}/3.38", lib.display()))
            .arg("--syntax-only")
            .arg("-f")
            .arg(&syslog_ng)
            .output()
            .unwrap();
        assert!(check.status.success(), "syslog-ng --syntax-only: {check:?}");
    }

    // Uninstall gives every line back, keeps the configuration, and a second one has nothing to do.
    let (_, stdout) = run(root.path(), &["uninstall"]);
    assert!(
        stdout.contains("systemctl disable --now cefrelay.service"),
        "{stdout}"
    );
    assert_eq!(read(root.path(), "etc/rsyslog.conf"), RSYSLOG_CONF);
    assert_eq!(
        read(root.path(), "etc/rsyslog.d/security-config-omsagent.conf"),
        OMSAGENT_CONF
    );
    assert_eq!(
        read(root.path(), "etc/syslog-ng/syslog-ng.conf"),
        SYSLOG_NG_CONF
    );
    for gone in [
        "etc/systemd/system/cefrelay.service",
        "usr/local/bin/cefrelay",
        "etc/cefrelay/cefrelay.example.toml",
    ] {
        assert!(!root.path().join(gone).exists(), "{gone} left behind");
    }
    assert!(root.path().join("etc/cefrelay/cefrelay.toml").exists());
    let (_, stdout) = run(root.path(), &["uninstall"]);
    assert!(
        stdout.contains("nothing to do: cefrelay is not installed"),
        "{stdout}"
    );
    run(root.path(), &["uninstall", "--purge"]);
    assert!(!root.path().join("etc/cefrelay").exists());
}

#[test]
fn man_dir_writes_a_page_per_subcommand_for_the_packages() {
    let dir = tempfile::tempdir().unwrap();
    let output = cefrelay()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let mut pages: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for page in [
        "cefrelay.1",
        "cefrelay-install.1",
        "cefrelay-run.1",
        "cefrelay-cef-troubleshoot.1",
        "cefrelay-userid-sync.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "no {page} in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p.contains("help")), "{pages:?}");
    // The subcommand's page has its options, which the top page does not.
    let install = read(dir.path(), "cefrelay-install.1");
    assert!(install.contains(".TH cefrelay-install 1"), "{install}");
    assert!(
        install.contains("\\-\\-disable\\-conflicting\\-inputs"),
        "{install}"
    );
    // Without --dir, the top page goes to stdout as before, the same page.
    let stdout = cefrelay().arg("man").output().unwrap().stdout;
    assert_eq!(
        String::from_utf8(stdout).unwrap(),
        read(dir.path(), "cefrelay.1")
    );

    let missing = cefrelay()
        .args(["man", "--dir", "/nonexistent/man1"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("writing the man pages to /nonexistent/man1"));
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = peer("/usr/bin/systemd-analyze") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // verify also checks that ExecStart= exists: point it at the binary under test.
    let unit = fs::read_to_string(project_path("deploy/cefrelay.service"))
        .unwrap()
        .replace("/usr/local/bin/cefrelay", env!("CARGO_BIN_EXE_cefrelay"));
    let path = write(dir.path(), "cefrelay.service", &unit);
    let output = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for directive in [
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "StateDirectory=cefrelay",
        "Restart=on-failure",
        "ProtectSystem=strict",
    ] {
        assert!(unit.lines().any(|l| l == directive), "{directive} missing");
    }
}
