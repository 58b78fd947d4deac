//! The admin endpoint's bearer token (`[admin] token_file`), black-box: the real binary, its
//! admin port on 127.0.0.1, raw HTTP requests with and without the header, and the relay's own
//! commands that read the endpoint.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::util::{cefrelay, Agent, Relay};

const TOKEN: &str = "0f6c1b7e9a2d4c3b8e5f7a6d9c0b1e2f";

/// GET `path` with `headers` (each ending in CRLF): the status code and the whole response.
fn get(admin: SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut stream = TcpStream::connect_timeout(&admin, Duration::from_secs(2)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"));
    (status, response)
}

/// A relay whose configuration in `dir` has `[admin] token_file` naming a file with `TOKEN`
/// (and a trailing newline, as `echo` writes it).
fn relay_with_token(dir: &Path, agent: &Agent) -> Relay {
    let token = dir.join("admin-token");
    std::fs::write(&token, format!("{TOKEN}\n")).expect("write token");
    let config = format!(
        "[[listener]]\naddress = \"tcp://127.0.0.1:{{port}}\"\n[admin]\ntoken_file = {:?}\n",
        token.to_str().expect("utf-8 path")
    );
    Relay::with_config(agent.address.port(), &config, dir)
}

#[test]
fn with_a_token_file_every_route_but_health_needs_the_bearer_token() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = relay_with_token(dir.path(), &agent);
    let right = format!("Authorization: Bearer {TOKEN}\r\n");
    for path in [
        "/metrics",
        "/peers",
        "/mocks",
        "/userid",
        "/tap",
        "/tap?stage=dropped",
        "/nowhere",
    ] {
        let (status, response) = get(relay.admin, path, "");
        assert_eq!(status, 401, "{path} without a token: {response}");
        assert!(
            response.contains("WWW-Authenticate: Bearer realm=\"cefrelay\""),
            "{response}"
        );
        assert!(!response.contains("cefrelay_"), "nothing leaks: {response}");
        let wrong = format!("Authorization: Bearer {}x\r\n", &TOKEN[..TOKEN.len() - 1]);
        assert_eq!(get(relay.admin, path, &wrong).0, 401, "{path} wrong token");
        let basic = format!("Authorization: Basic {TOKEN}\r\n");
        assert_eq!(get(relay.admin, path, &basic).0, 401, "{path} other scheme");
    }
    let (status, body) = get(relay.admin, "/metrics", &right);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("cefrelay_received_frames_total"), "{body}");
    assert_eq!(get(relay.admin, "/peers", &right).0, 200);
    assert_eq!(get(relay.admin, "/mocks", &right).0, 200);
    // Known route, nothing behind it: the token lets the 404 through.
    assert_eq!(get(relay.admin, "/userid", &right).0, 404);
    assert_eq!(get(relay.admin, "/nowhere", &right).0, 404);
    // Probes send no credentials: /health stays open, and says only whether sinks are reachable.
    assert!(crate::util::wait_until(crate::util::PATIENCE, || get(
        relay.admin,
        "/health",
        ""
    )
    .0 == 200));
}

#[test]
fn without_a_token_file_the_endpoint_stays_open() {
    let agent = Agent::start(0, Duration::ZERO);
    let relay = Relay::start(agent.address.port(), &[]);
    let (status, body) = get(relay.admin, "/metrics", "");
    assert_eq!(status, 200, "{body}");
    // A header sent anyway changes nothing.
    let (status, _) = get(relay.admin, "/peers", "Authorization: Bearer whatever\r\n");
    assert_eq!(status, 200);
}

/// The configuration `relay_with_token` left in `dir`, with the admin address the harness gave
/// the relay as a flag written in: what the relay's own commands read with `--config`.
fn client_config(dir: &Path, relay: &Relay) -> std::path::PathBuf {
    let text = std::fs::read_to_string(dir.join("cefrelay.toml")).expect("read config");
    let path = dir.join("client.toml");
    std::fs::write(
        &path,
        text.replace(
            "[admin]\n",
            &format!("[admin]\nlisten = \"{}\"\n", relay.admin),
        ),
    )
    .expect("write config");
    path
}

#[test]
fn userid_show_sends_the_token_of_its_configuration() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = relay_with_token(dir.path(), &agent);
    let shown = client_config(dir.path(), &relay);
    let output = cefrelay()
        .args(["userid", "show", "--config"])
        .arg(&shown)
        .output()
        .expect("run userid show");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Past the token: the relay answers that it has no User-ID, not 401.
    assert!(stderr.contains("404"), "{stderr}");
    assert!(stderr.contains("User-ID is not configured"), "{stderr}");
}

fn check_config(dir: &Path, token_file_line: &str) -> std::process::Output {
    let path = dir.join("cefrelay.toml");
    std::fs::write(
        &path,
        format!(
            "state_dir = {:?}\n[admin]\n{token_file_line}\n",
            dir.join("state")
        ),
    )
    .expect("write config");
    cefrelay()
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run check-config")
}

#[test]
fn a_missing_empty_or_oversized_token_file_is_a_config_error_naming_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n  \n").expect("write");
    let spaced = dir.path().join("spaced");
    std::fs::write(&spaced, "two words\n").expect("write");
    let huge = dir.path().join("huge");
    std::fs::write(&huge, "a".repeat(64 * 1024)).expect("write");
    for (file, why) in [
        (dir.path().join("absent"), "cannot read"),
        (dir.path().to_path_buf(), "is not a file"),
        (empty, "is empty"),
        (spaced, "printable ASCII"),
        (huge, "more than 1024 bytes"),
    ] {
        let output = check_config(dir.path(), &format!("token_file = {file:?}"));
        assert_eq!(output.status.code(), Some(64), "{file:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("cefrelay.toml:3") && stderr.contains("admin.token_file"),
            "{stderr}"
        );
        assert!(stderr.contains(why), "{why}: {stderr}");
    }
    let good = dir.path().join("good");
    std::fs::write(&good, format!("{TOKEN}\n")).expect("write");
    let output = check_config(dir.path(), &format!("token_file = {good:?}"));
    assert!(output.status.success(), "{output:?}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains(TOKEN)
            && !String::from_utf8_lossy(&output.stderr).contains(TOKEN),
        "the token is never printed"
    );
}

#[test]
fn run_refuses_to_start_without_its_token_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cefrelay.toml");
    std::fs::write(
        &path,
        format!(
            "state_dir = {:?}\n[admin]\nlisten = \"127.0.0.1:0\"\ntoken_file = \"absent\"\n",
            dir.path().join("state")
        ),
    )
    .expect("write config");
    let output = cefrelay()
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":4") && stderr.contains("admin.token_file"),
        "{stderr}"
    );
}

#[test]
fn sighup_swaps_the_token_without_a_restart() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = relay_with_token(dir.path(), &agent);
    let old = format!("Authorization: Bearer {TOKEN}\r\n");
    assert_eq!(get(relay.admin, "/metrics", &old).0, 200);

    const ROTATED: &str = "rotated-7d1e4b";
    std::fs::write(dir.path().join("admin-token"), format!("{ROTATED}\n")).expect("rotate");
    relay.signal("HUP");
    let new = format!("Authorization: Bearer {ROTATED}\r\n");
    assert!(
        crate::util::wait_until(crate::util::PATIENCE, || get(relay.admin, "/metrics", &new)
            .0
            == 200),
        "the rotated token is never taken"
    );
    assert_eq!(
        get(relay.admin, "/metrics", &old).0,
        401,
        "the old one is refused"
    );
    let (_, metrics) = get(relay.admin, "/metrics", &new);
    assert!(
        metrics.contains("cefrelay_config_reloads_total{result=\"ok\"} 1"),
        "{metrics}"
    );

    // A token file emptied by mistake: the reload is refused and the token stays.
    std::fs::write(dir.path().join("admin-token"), "").expect("empty");
    relay.signal("HUP");
    assert!(crate::util::wait_until(crate::util::PATIENCE, || get(
        relay.admin,
        "/metrics",
        &new
    )
    .1
    .contains("cefrelay_config_reloads_total{result=\"failed\"} 1")));
    assert_eq!(get(relay.admin, "/peers", "").0, 401, "still closed");
}

#[test]
fn top_and_tap_send_the_token_of_their_configuration() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let relay = relay_with_token(dir.path(), &agent);
    let config = client_config(dir.path(), &relay);

    let top = cefrelay()
        .args(["top", "--once", "--config"])
        .arg(&config)
        .output()
        .expect("run top");
    let stdout = String::from_utf8_lossy(&top.stdout);
    assert!(top.status.success(), "{top:?}");
    assert!(stdout.contains("Listeners"), "{stdout}");

    // Given only the address, it cannot know the token: it says so, and how to give it.
    let bare = cefrelay()
        .args(["top", "--once", "--admin", &relay.admin.to_string()])
        .output()
        .expect("run top");
    let stderr = String::from_utf8_lossy(&bare.stderr);
    assert!(!bare.status.success(), "{bare:?}");
    assert!(
        stderr.contains("401") && stderr.contains("--config"),
        "{stderr}"
    );

    let mut tap = cefrelay()
        .args(["tap", "--json", "--limit", "1", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tap");
    // Messages until the tap has shown one and ended (the tap may open after the first few).
    let mut sender = relay.tcp();
    let mut id = 0;
    let ended = crate::util::wait_until(crate::util::PATIENCE, || {
        id += 1;
        let _ = writeln!(sender, "{}", crate::util::cef_threat(id));
        std::thread::sleep(Duration::from_millis(50));
        matches!(tap.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = tap.kill();
    }
    let output = tap.wait_with_output().expect("tap output");
    assert!(ended && output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("externalId="),
        "{output:?}"
    );
}
