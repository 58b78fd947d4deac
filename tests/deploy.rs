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
    let text = deploy("haproxy.cfg");
    assert!(text.contains("mode tcp") && text.contains("balance leastconn"));
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
