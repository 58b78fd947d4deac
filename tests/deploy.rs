//! The files under deploy/ that the relay cannot run itself: checked by their own tools where this
//! machine has them (haproxy), and against the binary (configurations, flags).

use std::collections::BTreeSet;
use std::fs;
use std::process::Command;

use crate::util::{cefrelay, project_path};

fn deploy(name: &str) -> String {
    fs::read_to_string(project_path(&format!("deploy/{name}"))).expect("read deploy file")
}

#[test]
fn haproxy_accepts_its_config() {
    let config = project_path("deploy/haproxy.cfg");
    let output = match Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&config)
        .output()
    {
        Ok(output) => output,
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "haproxy is missing ({error}); .ci/peers installs it"
            );
            eprintln!("skipped: haproxy is not installed");
            return;
        }
    };
    assert!(
        output.status.success(),
        "haproxy -c: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An HAProxy configuration as data: each section (`backend relays`) with its directives, each
/// a list of words, comments and blank lines left out.
fn haproxy_sections(text: &str) -> Vec<(String, Vec<Vec<String>>)> {
    let mut sections: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    for line in text.lines() {
        let code = line.split_once('#').map_or(line, |(code, _)| code);
        let words: Vec<String> = code.split_whitespace().map(str::to_string).collect();
        if words.is_empty() {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let (_, directives) = sections.last_mut().expect("a directive outside any section");
            directives.push(words);
        } else {
            sections.push((words.join(" "), Vec::new()));
        }
    }
    sections
}

fn directive<'a>(directives: &'a [Vec<String>], name: &[&str]) -> Option<&'a [String]> {
    directives
        .iter()
        .find(|words| words.len() >= name.len() && words[..name.len()] == *name)
        .map(|words| &words[name.len()..])
}

/// `word value` pairs of a server line, as `check port 9514` gives `port` → `9514`.
fn option_value<'a>(words: &'a [String], name: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| w == name)
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

#[test]
fn haproxy_balances_by_source_checks_health_and_sends_the_proxy_header() {
    let text = deploy("haproxy.cfg");
    let sections = haproxy_sections(&text);
    let section = |name: &str| {
        sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_slice())
            .unwrap_or_else(|| panic!("haproxy.cfg has no `{name}` section"))
    };
    let defaults = section("defaults");
    assert_eq!(directive(defaults, &["mode"]), Some(&["tcp".to_string()][..]));
    // Long idle timeouts: syslog senders keep one connection for hours.
    for side in ["client", "server"] {
        let value = directive(defaults, &["timeout", side]).expect("a timeout");
        assert!(
            ["h", "d"].iter().any(|unit| value[0].ends_with(unit)),
            "timeout {side} {value:?} is not in hours or days"
        );
    }
    let frontend = section("frontend syslog_tcp");
    assert_eq!(directive(frontend, &["bind"]), Some(&[":514".to_string()][..]));
    let backend_name = directive(frontend, &["default_backend"]).expect("a default_backend")[0]
        .clone();
    let backend = section(&format!("backend {backend_name}"));
    assert_eq!(
        directive(backend, &["balance"]),
        Some(&["source".to_string()][..])
    );
    assert_eq!(
        directive(backend, &["hash-type"]),
        Some(&["consistent".to_string()][..])
    );
    // leastconn is documented as the alternative, in a comment of the backend.
    assert!(text.contains("#   balance leastconn"));
    assert_eq!(
        directive(backend, &["option", "httpchk"]),
        Some(&["GET".to_string(), "/health".to_string()][..])
    );
    let default_server = directive(backend, &["default-server"]).unwrap_or(&[]);
    let servers: Vec<&Vec<String>> = backend
        .iter()
        .filter(|words| words[0] == "server")
        .collect();
    assert!(servers.len() >= 2, "a front for one relay");
    let mut admin_ports = BTreeSet::new();
    for server in servers {
        let options: Vec<String> = server[3..]
            .iter()
            .chain(default_server)
            .cloned()
            .collect();
        let name = &server[1];
        assert!(
            options.iter().any(|o| o == "send-proxy-v2"),
            "{name}: no send-proxy-v2"
        );
        assert!(
            !options.iter().any(|o| o.starts_with("check-send-proxy")),
            "{name}: the health check must not send a PROXY header to the admin endpoint"
        );
        assert!(options.iter().any(|o| o == "check"), "{name}: no check");
        assert_eq!(
            option_value(&options, "on-marked-down"),
            Some("shutdown-sessions"),
            "{name}: senders must leave a relay marked down at once"
        );
        // Checked on the admin port, never on the syslog port.
        let syslog_port = server[2].rsplit_once(':').unwrap().1;
        let admin_port = option_value(&options, "port")
            .unwrap_or_else(|| panic!("{name}: `check port <admin>` missing"));
        assert_ne!(admin_port, syslog_port, "{name}: health probes on the syslog port");
        assert!(admin_ports.insert(admin_port.to_string()));
    }
    // The relay side is shown with the PROXY protocol keys (commented until the listeners have them).
    for key in [
        "proxy_protocol = \"v2\"",
        "trusted_proxies = [\"127.0.0.1/32\"]",
        "listen = \"127.0.0.1:9514\"",
    ] {
        assert!(text.contains(key), "the relay TOML lacks {key}");
    }
}

#[test]
fn the_kubernetes_config_map_holds_a_valid_configuration() {
    let manifest = deploy("kubernetes.yaml");
    let block: Vec<&str> = manifest
        .lines()
        .skip_while(|l| l.trim() != "cefrelay.toml: |")
        .skip(1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    assert!(block.len() > 5, "no cefrelay.toml block in kubernetes.yaml");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cefrelay.toml");
    fs::write(&path, block.join("\n")).unwrap();
    let output = cefrelay().arg("check-config").arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "check-config: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_kubernetes_service_takes_514_over_udp_and_tcp_without_root() {
    let manifest = deploy("kubernetes.yaml");
    let documents: Vec<&str> = manifest.split("\n---\n").collect();
    let kinds: Vec<&str> = documents
        .iter()
        .filter_map(|d| d.lines().find_map(|l| l.strip_prefix("kind: ")))
        .collect();
    assert_eq!(kinds, ["ConfigMap", "Deployment", "Service"]);
    let service = documents[2];
    for protocol in ["UDP", "TCP"] {
        assert!(
            service.contains(&format!(
                "port: 514\n      targetPort: syslog-{}\n      protocol: {protocol}",
                protocol.to_lowercase()
            )),
            "the Service lacks 514/{protocol}"
        );
    }
    let deployment = documents[1];
    for needed in [
        "runAsNonRoot: true",
        "allowPrivilegeEscalation: false",
        "readOnlyRootFilesystem: true",
        "drop: [\"ALL\"]",
        "add: [\"NET_BIND_SERVICE\"]",
        "net.ipv4.ip_unprivileged_port_start",
    ] {
        assert!(deployment.contains(needed), "the Deployment lacks {needed}");
    }
}

#[test]
fn the_dockerfile_runs_as_non_root_with_the_config_it_copies() {
    let dockerfile = deploy("Dockerfile");
    let runtime = dockerfile
        .rsplit_once("\nFROM ")
        .expect("a multi-stage build")
        .1;
    assert!(runtime.contains(":nonroot") && runtime.contains("\nUSER nonroot"));
    assert!(runtime.contains("COPY deploy/cefrelay.toml /etc/cefrelay/cefrelay.toml"));
    assert!(runtime.contains(r#"CMD ["run", "--config", "/etc/cefrelay/cefrelay.toml"]"#));
    // Every file copied from the build context exists.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let source = line.split_whitespace().nth(1).unwrap();
        assert!(
            project_path(source).exists(),
            "{line}: {source} does not exist"
        );
    }
    let ignored = fs::read_to_string(project_path(".dockerignore")).unwrap();
    assert!(
        ignored.lines().any(|l| l == "target/"),
        "the build context would carry target/"
    );
}

/// The `--flags` written after `cefrelay COMMAND` anywhere in `text`.
fn flags_used(text: &str, command: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(&format!("cefrelay {command}")) else {
            continue;
        };
        for word in rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("--") && word.len() > 2 {
                flags.insert(word.to_string());
            }
        }
    }
    flags
}

#[test]
fn the_migration_guide_and_readme_use_only_real_flags() {
    let guide = deploy("MIGRATION.md");
    let readme = fs::read_to_string(project_path("README.md")).unwrap();
    for command in ["install", "uninstall", "cef-troubleshoot"] {
        let help = cefrelay().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&help.stdout);
        for text in [&guide, &readme] {
            for flag in flags_used(text, command) {
                assert!(
                    help.contains(&flag),
                    "`cefrelay {command} {flag}` is not a flag"
                );
            }
        }
    }
    assert!(!flags_used(&guide, "install").is_empty());
}
