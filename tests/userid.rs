//! User-ID end to end: a real MariaDB holding a NAC's `clienthist` table, `cefrelay userid sync`
//! pushing to an HTTPS server that speaks the firewall's XML API, and a running relay learning
//! logins and logouts from syslog.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::util::http_server::{HttpServer, Reply, Seen};
use crate::util::mariadb::MariaDb;
use crate::util::{cefrelay, project_path, wait_until, Agent, Ca, Relay, PATIENCE};

const SUCCESS: &str = "<response status=\"success\"><result>ok</result></response>";

/// A firewall's XML API over HTTPS, trusting only requests with `key=KEY` for `type=user-id`.
fn firewall(ca: &Ca) -> HttpServer {
    let (cert, key) = ca.issue(
        &["localhost", "127.0.0.1"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    HttpServer::start_tls(&cert, &key, |seen| {
        let form = form(seen);
        let ok = seen.path() == "/api/"
            && form.get("type").map(String::as_str) == Some("user-id")
            && form.get("key").map(String::as_str) == Some("KEY")
            && form
                .get("cmd")
                .is_some_and(|cmd| cmd.starts_with("<uid-message>"));
        if ok {
            Reply::xml(200, SUCCESS)
        } else {
            Reply::xml(
                403,
                "<response status=\"error\" code=\"403\"><msg>Invalid credentials.</msg></response>",
            )
        }
    })
}

fn form(seen: &Seen) -> BTreeMap<String, String> {
    form_urlencoded::parse(&seen.body).into_owned().collect()
}

/// The logins and logouts of every request the firewall took: ip → (user, timeout).
fn entries(requests: &[Seen], section: &str) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for seen in requests {
        let Some(cmd) = form(seen).remove("cmd") else {
            continue;
        };
        let document = roxmltree::Document::parse(&cmd).expect("the cmd is XML");
        for node in document.descendants().filter(|n| n.has_tag_name(section)) {
            for entry in node.children().filter(|n| n.has_tag_name("entry")) {
                found.push((
                    entry.attribute("ip").unwrap_or_default().to_string(),
                    entry.attribute("name").unwrap_or_default().to_string(),
                    entry.attribute("timeout").unwrap_or_default().to_string(),
                ));
            }
        }
    }
    found
}

/// The NAC's table in the shape of SafeConnect's `clienthist`, with the rows the cron script
/// trips on: several logins per address (the last wins), `null` principals, roles after the
/// user, an address re-used by another user, rows outside the window, a name with quotes,
/// `&`, `<` and a backslash.
fn nac() -> MariaDb {
    let db = MariaDb::start().expect("Debian's mariadb-server (bash .ci/peers installs it)");
    db.sql(
        "SET time_zone = '+00:00';
         CREATE TABLE clienthist (
           clientHistId BIGINT AUTO_INCREMENT PRIMARY KEY, transType CHAR(15),
           transDate TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, currentIpAddress CHAR(15),
           principal TEXT);
         INSERT INTO clienthist (transType, transDate, currentIpAddress, principal) VALUES
           ('login', UTC_TIMESTAMP() - INTERVAL 50 MINUTE, '10.1.0.1', 'olduser,STAFF'),
           ('login', UTC_TIMESTAMP() - INTERVAL 20 MINUTE, '10.1.0.1', 'alice,STAFF,VPN'),
           ('login', UTC_TIMESTAMP() - INTERVAL 30 MINUTE, '10.1.0.2', 'null'),
           ('login', UTC_TIMESTAMP() - INTERVAL 10 MINUTE, '10.1.0.3', 'bob'),
           ('login', UTC_TIMESTAMP() - INTERVAL 5 HOUR, '10.1.0.4', 'carol,STAFF'),
           ('login', UTC_TIMESTAMP() - INTERVAL 15 MINUTE, '10.1.0.5', 'o''brien \"&<x>\\\\y,ROLE'),
           ('login', UTC_TIMESTAMP() - INTERVAL 40 MINUTE, '10.1.0.6', 'dave'),
           ('login', UTC_TIMESTAMP() - INTERVAL 5 MINUTE, '10.1.0.6', 'erin');",
    );
    db
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.to_str().expect("utf-8 path").to_string()
}

/// A configuration with the NAC source and one firewall target at `url`.
fn sync_config(dir: &Path, db: &MariaDb, url: &str, ca_file: &str) -> String {
    let url_file = write(dir, "nac.url", &db.url());
    let key_file = write(dir, "fw.key", "KEY\n");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    write(
        dir,
        "cefrelay.toml",
        &format!(
            r#"state_dir = "{state}"
[userid]
default_domain = "CORP"

[[userid.source]]
name = "nac"
type = "sql"
url_file = "{url_file}"
query = "SELECT transDate, currentIpAddress, principal FROM clienthist WHERE transDate >= ? ORDER BY transDate, clientHistId"
params = ["$cursor"]
columns = {{ ip = "currentIpAddress", user = "principal", time = "transDate" }}
user_split = ","
valid_for_secs = 14400

[[userid.target]]
name = "fw1"
type = "firewall"
url = "{url}"
api_key_file = "{key_file}"
ca_file = "{ca_file}"
"#,
            state = state.display()
        ),
    )
}

fn sync(config: &str, extra: &[&str]) -> (Option<i32>, String) {
    let output = cefrelay()
        .args(["userid", "sync", "--config", config])
        .args(extra)
        .output()
        .expect("run userid sync");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    (output.status.code(), format!("{stdout}{stderr}"))
}

#[test]
fn sync_reads_the_nac_table_and_pushes_only_what_changed() {
    let db = nac();
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("firewall CA");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let fw = firewall(&ca);
    let config = sync_config(dir.path(), &db, &fw.url(), &ca_file);

    // The dry run prints the documents it would send, byte for byte as the golden file.
    let (code, printed) = sync(&config, &["--dry-run"]);
    assert_eq!(code, Some(0), "{printed}");
    let golden = project_path("fixtures/userid/sync-dry-run.txt");
    if std::env::var_os("CEFRELAY_BLESS").is_some() {
        std::fs::write(&golden, &printed).expect("bless");
    }
    assert_eq!(
        printed,
        std::fs::read_to_string(&golden).expect("golden"),
        "CEFRELAY_BLESS=1 rewrites it"
    );
    assert!(fw.requests().is_empty(), "a dry run sends nothing");

    let (code, printed) = sync(&config, &[]);
    assert_eq!(code, Some(0), "{printed}");
    assert!(
        printed.contains("target fw1: 4 logins, 0 logouts sent"),
        "{printed}"
    );
    let logins = entries(&fw.requests(), "login");
    let expected = [
        ("10.1.0.1", "CORP\\alice", "220"),
        ("10.1.0.3", "CORP\\bob", "230"),
        ("10.1.0.5", "o'brien \"&<x>\\y", "225"),
        ("10.1.0.6", "CORP\\erin", "235"),
    ]
    .map(|(ip, user, timeout)| (ip.to_string(), user.to_string(), timeout.to_string()));
    assert_eq!(logins, expected);

    // Again: the firewall holds all of it, so nothing is sent.
    let (code, printed) = sync(&config, &[]);
    assert_eq!(code, Some(0), "{printed}");
    assert!(
        printed.contains("target fw1: 0 logins, 0 logouts sent"),
        "{printed}"
    );
    assert_eq!(fw.requests().len(), 1);
}

#[test]
fn a_target_that_refuses_the_key_fails_the_sync_and_says_so() {
    let db = nac();
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("firewall CA");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let fw = firewall(&ca);
    let config = sync_config(dir.path(), &db, &fw.url(), &ca_file);
    write(dir.path(), "fw.key", "WRONG\n");
    let (code, printed) = sync(&config, &[]);
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("target fw1: FAILED"), "{printed}");
    assert!(
        !printed.contains("WRONG"),
        "the key is never printed: {printed}"
    );
}

#[test]
fn a_running_relay_learns_logins_and_logouts_from_syslog_and_pushes_them() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("firewall CA");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let key_file = write(dir.path(), "fw.key", "KEY");
    let fw = firewall(&ca);
    let state = dir.path().join("state");
    // PAN-OS's own parse profile example, as a field identifier (login) and a regex (logout).
    let config = format!(
        r#"state_dir = "{state}"
[[listener]]
address = "tcp://127.0.0.1:{{port}}"
[userid]
[[userid.source]]
name = "auth"
type = "syslog"
senders = ["127.0.0.0/8"]
timeout_mins = 45
[[userid.source.profile]]
name = "pan-example-login"
event = "login"
event_string = "authentication success"
user_prefix = "User:"
user_delimiter = " "
address_prefix = "Source:"
address_delimiter = " "
[[userid.source.profile]]
name = "pan-example-logout"
event = "logout"
event_regex = "logged out"
user_regex = "User:([^ ]+)"
address_regex = "Source:([0-9.]+)"
[[userid.target]]
name = "fw1"
type = "firewall"
url = "{url}"
api_key_file = "{key_file}"
ca_file = "{ca_file}"
"#,
        state = state.display(),
        url = fw.url()
    );
    let relay = Relay::with_config(agent.address.port(), &config, dir.path());
    let send = |line: &str| {
        let mut stream = relay.tcp();
        stream
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    };
    send("<13>Jul  5 13:15:04 authsrv [Tue Jul 5 13:15:04 2005 CDT] Administrator authentication success User:domain\\johndoe_4 Source:192.168.0.212");
    assert!(wait_until(PATIENCE, || !entries(&fw.requests(), "login").is_empty()));
    assert_eq!(
        entries(&fw.requests(), "login"),
        [(
            "192.168.0.212".into(),
            "domain\\johndoe_4".into(),
            "45".into()
        )]
    );
    let (_, shown) = relay.admin_get("/userid").expect("GET /userid");
    assert!(
        shown.contains("\"user\":\"domain\\\\johndoe_4\""),
        "{shown}"
    );
    assert_eq!(
        relay.metric("cefrelay_userid_profile_matched_total{profile=\"pan-example-login\"}"),
        1
    );

    send("<13>Jul  5 14:15:04 authsrv User:domain\\johndoe_4 Source:192.168.0.212 logged out");
    assert!(wait_until(PATIENCE, || !entries(&fw.requests(), "logout").is_empty()));
    assert_eq!(
        entries(&fw.requests(), "logout")
            .into_iter()
            .map(|(ip, user, _)| (ip, user))
            .collect::<Vec<_>>(),
        [("192.168.0.212".to_string(), "domain\\johndoe_4".to_string())]
    );
    // The message itself still goes through the filter like any other: not CEF, dropped.
    assert_eq!(agent.count(), 0);
}

#[test]
fn user_id_mistakes_exit_64_naming_file_line_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "[userid]\n[[userid.source]]\nname = \"a\"\ntype = \"syslog\"\nsenders = [\"10.0.0.0/8\"]\n[[userid.source.profile]]\nname = \"p\"\nevent = \"login\"\nevent_regex = \"x\"\nuser_regex = \"User:(\"\naddress_regex = \"Source:(.*)\"\n",
            ["cefrelay.toml:11", "userid.source[0].profile[0].user_regex", "profile `p`"],
        ),
        (
            "[userid]\n[[userid.target]]\nname = \"fw\"\ntype = \"firewall\"\nurl = \"ftp://fw\"\napi_key_env = \"K\"\n",
            ["cefrelay.toml:6", "userid.target[0].url", "http"],
        ),
        (
            "[userid]\n[[userid.source]]\nname = \"nac\"\ntype = \"sql\"\nurl_env = \"PATH\"\nquery = \"SELECT a FROM t WHERE x > ? AND y < ?\"\nparams = [\"$cursor\"]\n",
            ["cefrelay.toml:5", "userid.source[0].url", "mysql://"],
        ),
        (
            "[userid]\n[[userid.source]]\nname = \"s\"\ntype = \"syslog\"\nsenders = [\"10.0.0.0/8\"]\nprofiles = [\"fortinac\"]\n",
            ["cefrelay.toml:7", "userid.source[0].profiles", "no built-in profile is named `fortinac`"],
        ),
    ];
    for (text, expected) in cases {
        let path = write(
            dir.path(),
            "cefrelay.toml",
            &format!("state_dir = \"{}\"\n{text}", dir.path().display()),
        );
        let output = cefrelay()
            .args(["check-config", &path])
            .output()
            .expect("run");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{text}: {stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{text}: `{part}` not in {stderr}");
        }
    }
}

#[test]
fn a_database_that_is_down_is_retried_and_counted_while_syslog_flows() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let refusing = crate::util::RefusingPort::new();
    let url_file = write(
        dir.path(),
        "nac.url",
        &format!("mysql://root@127.0.0.1:{}/nac", refusing.port),
    );
    let config = format!(
        r#"state_dir = "{state}"
[[listener]]
address = "tcp://127.0.0.1:{{port}}"
[userid]
[[userid.source]]
name = "nac"
type = "sql"
url_file = "{url_file}"
query = "SELECT transDate, currentIpAddress, principal FROM clienthist WHERE transDate >= ?"
params = ["$cursor"]
columns = {{ ip = "currentIpAddress", user = "principal", time = "transDate" }}
interval_secs = 10
query_timeout_secs = 2
"#,
        state = dir.path().display()
    );
    let relay = Relay::with_config(agent.address.port(), &config, dir.path());
    assert!(wait_until(PATIENCE, || relay.metric(
        "cefrelay_userid_sql_polls_total{source=\"nac\",result=\"failed\"}"
    ) >= 2));
    let mut stream = relay.tcp();
    stream
        .write_all(format!("{}\n", crate::util::cef_threat(1)).as_bytes())
        .expect("send");
    assert!(
        wait_until(PATIENCE, || agent.count() >= 1),
        "syslog still flows"
    );
}

#[test]
fn a_target_that_is_down_never_holds_back_another_and_catches_up_when_back() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = Ca::new("firewall CA");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let key_file = write(dir.path(), "fw.key", "KEY");
    let healthy = firewall(&ca);
    // The other answers 503 until the test brings it back.
    let back = Arc::new(AtomicBool::new(false));
    let (cert, key) = ca.issue(
        &["localhost", "127.0.0.1"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let is_back = back.clone();
    let flaky = HttpServer::start_tls(&cert, &key, move |_| {
        if is_back.load(Ordering::SeqCst) {
            Reply::xml(200, SUCCESS)
        } else {
            Reply::xml(503, "<response status=\"error\"><msg>busy</msg></response>")
        }
    });
    let target = |name: &str, url: &str| {
        format!(
            "[[userid.target]]\nname = \"{name}\"\ntype = \"firewall\"\nurl = \"{url}\"\napi_key_file = \"{key_file}\"\nca_file = \"{ca_file}\"\nretry_initial_ms = 50\nretry_max_ms = 200\n"
        )
    };
    let config = format!(
        "state_dir = \"{state}\"\n[[listener]]\naddress = \"tcp://127.0.0.1:{{port}}\"\n[userid]\n\
         [[userid.source]]\nname = \"auth\"\ntype = \"syslog\"\nsenders = [\"127.0.0.1\"]\n\
         [[userid.source.profile]]\nname = \"login\"\nevent = \"login\"\nevent_string = \"authentication success\"\n\
         user_prefix = \"User:\"\naddress_prefix = \"Source:\"\n{}{}",
        target("healthy", &healthy.url()),
        target("flaky", &flaky.url()),
        state = dir.path().display()
    );
    let relay = Relay::with_config(agent.address.port(), &config, dir.path());
    let mut stream = relay.tcp();
    stream
        .write_all(b"<13>Jul  5 13:15:04 auth authentication success User:alice Source:10.9.9.9\n")
        .expect("send");
    // The healthy firewall gets its login while the other can only fail.
    assert!(wait_until(PATIENCE, || !entries(
        &healthy.requests(),
        "login"
    )
    .is_empty()));
    assert!(wait_until(PATIENCE, || !flaky.requests().is_empty()));
    assert_eq!(
        relay.metric("cefrelay_userid_sent_total{target=\"flaky\",kind=\"login\"}"),
        0
    );
    back.store(true, Ordering::SeqCst);
    assert!(wait_until(PATIENCE, || relay.metric(
        "cefrelay_userid_sent_total{target=\"flaky\",kind=\"login\"}"
    ) == 1));
    assert_eq!(
        entries(&flaky.requests(), "login")
            .last()
            .map(|(ip, user, _)| (ip.clone(), user.clone())),
        Some(("10.9.9.9".to_string(), "alice".to_string()))
    );
    // The healthy one took the login once (its answer may still have been on the way when its
    // request was seen above).
    assert!(wait_until(PATIENCE, || relay.metric(
        "cefrelay_userid_sent_total{target=\"healthy\",kind=\"login\"}"
    ) == 1));
}
