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
            let (_, directives) = sections
                .last_mut()
                .expect("a directive outside any section");
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
    assert_eq!(
        directive(defaults, &["mode"]),
        Some(&["tcp".to_string()][..])
    );
    // Long idle timeouts: syslog senders keep one connection for hours.
    for side in ["client", "server"] {
        let value = directive(defaults, &["timeout", side]).expect("a timeout");
        assert!(
            ["h", "d"].iter().any(|unit| value[0].ends_with(unit)),
            "timeout {side} {value:?} is not in hours or days"
        );
    }
    let frontend = section("frontend syslog_tcp");
    assert_eq!(
        directive(frontend, &["bind"]),
        Some(&[":514".to_string()][..])
    );
    let backend_name =
        directive(frontend, &["default_backend"]).expect("a default_backend")[0].clone();
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
        let options: Vec<String> = server[3..].iter().chain(default_server).cloned().collect();
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
        assert_ne!(
            admin_port, syslog_port,
            "{name}: health probes on the syslog port"
        );
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

/// The documents of a multi-document YAML file.
fn yaml_documents(text: &str) -> Vec<serde_norway::Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| serde::Deserialize::deserialize(document).expect("valid YAML"))
        .filter(|value: &serde_norway::Value| !value.is_null())
        .collect()
}

fn kind<'a>(documents: &'a [serde_norway::Value], kind: &str) -> Vec<&'a serde_norway::Value> {
    documents
        .iter()
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect()
}

fn the_one<'a>(documents: &'a [serde_norway::Value], wanted: &str) -> &'a serde_norway::Value {
    match kind(documents, wanted).as_slice() {
        [one] => one,
        other => panic!("kubernetes.yaml has {} {wanted}s, not one", other.len()),
    }
}

fn text<'a>(value: &'a serde_norway::Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value:?}"))
}

/// A Kubernetes quantity (`2Gi`, `128Mi`, `500m`, `2`) in its base unit.
fn quantity(value: &serde_norway::Value) -> f64 {
    let text = match value {
        serde_norway::Value::Number(n) => return n.as_f64().unwrap(),
        other => text(other, "a quantity"),
    };
    for (suffix, factor) in [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("m", 1e-3),
    ] {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<f64>().expect("a number") * factor;
        }
    }
    text.parse().expect("a quantity")
}

/// Every `*.toml` in every ConfigMap of the manifest, by name.
fn embedded_configurations(documents: &[serde_norway::Value]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for map in kind(documents, "ConfigMap") {
        let serde_norway::Value::Mapping(data) = &map["data"] else {
            continue;
        };
        for (name, value) in data {
            let name = text(name, "a ConfigMap key");
            if name.ends_with(".toml") {
                found.push((name.to_string(), text(value, name).to_string()));
            }
        }
    }
    found
}

#[test]
fn the_kubernetes_config_maps_hold_valid_configurations() {
    let documents = yaml_documents(&deploy("kubernetes.yaml"));
    let configurations = embedded_configurations(&documents);
    assert!(
        !configurations.is_empty(),
        "no cefrelay.toml in kubernetes.yaml"
    );
    for (name, toml) in configurations {
        // The state directory is the pod's volume; here a temporary one stands in for it, so that
        // the check (which writes a probe there) touches nothing outside the test.
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let parsed: toml::Table = toml::from_str(&toml).expect("TOML");
        let toml = match parsed.get("state_dir").and_then(|v| v.as_str()) {
            Some(old) => toml.replace(
                &format!("state_dir = \"{old}\""),
                &format!("state_dir = \"{}\"", state_dir.display()),
            ),
            None => toml,
        };
        let path = dir.path().join(&name);
        fs::write(&path, toml).unwrap();
        let output = cefrelay().arg("check-config").arg(&path).output().unwrap();
        assert!(
            output.status.success(),
            "check-config {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_kubernetes_manifest_scales_out_keeping_buffers_and_sender_addresses() {
    let manifest = deploy("kubernetes.yaml");
    let documents = yaml_documents(&manifest);
    let (_, toml) = embedded_configurations(&documents)
        .into_iter()
        .find(|(name, _)| name == "cefrelay.toml")
        .expect("cefrelay.toml");
    let config: toml::Table = toml::from_str(&toml).unwrap();

    // A StatefulSet whose every replica has its own claim, mounted where the relay keeps state.
    assert!(kind(&documents, "Deployment").is_empty());
    let set = the_one(&documents, "StatefulSet");
    let spec = &set["spec"];
    let claims = spec["volumeClaimTemplates"]
        .as_sequence()
        .expect("volumeClaimTemplates");
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    let pod = &spec["template"]["spec"];
    let containers = pod["containers"].as_sequence().unwrap();
    let relay = containers
        .iter()
        .find(|c| c["name"].as_str() == Some("cefrelay"))
        .expect("the cefrelay container");
    let state_dir = config["state_dir"].as_str().expect("state_dir set");
    let mount = relay["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"] == claim["metadata"]["name"])
        .expect("the claim is mounted");
    assert_eq!(text(&mount["mountPath"], "mountPath"), state_dir);
    assert_ne!(mount["readOnly"].as_bool(), Some(true));
    // The forward buffers on that disk, and the claim is larger than the buffer may grow.
    let buffer = &config["forward"]["buffer"];
    assert_eq!(buffer["type"].as_str(), Some("disk"));
    let max_bytes = buffer["max_bytes"].as_integer().unwrap() as f64;
    assert!(quantity(&claim["spec"]["resources"]["requests"]["storage"]) > max_bytes);
    // The non-root relay can write to the volume.
    assert_eq!(pod["securityContext"]["fsGroup"].as_u64(), Some(65532));
    // The drain (shutdown_grace_secs) ends before the kubelet's SIGKILL.
    let grace = config["shutdown_grace_secs"].as_integer().unwrap_or(10) as u64;
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > grace);

    // Services: a headless one named by the StatefulSet, and a LoadBalancer that keeps the
    // sender's address on UDP and TCP 514.
    let services = kind(&documents, "Service");
    let headless = services
        .iter()
        .find(|s| s["spec"]["clusterIP"].as_str() == Some("None"))
        .expect("a headless Service");
    assert_eq!(headless["metadata"]["name"], spec["serviceName"]);
    let balancer = services
        .iter()
        .find(|s| s["spec"]["type"].as_str() == Some("LoadBalancer"))
        .expect("a LoadBalancer Service");
    assert_eq!(
        balancer["spec"]["externalTrafficPolicy"].as_str(),
        Some("Local")
    );
    let container_ports = relay["ports"].as_sequence().unwrap();
    for protocol in ["UDP", "TCP"] {
        let port = balancer["spec"]["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["port"].as_u64() == Some(514) && p["protocol"].as_str() == Some(protocol))
            .unwrap_or_else(|| panic!("the LoadBalancer lacks 514/{protocol}"));
        assert!(
            container_ports
                .iter()
                .any(|p| p["name"] == port["targetPort"] && p["protocol"] == port["protocol"]),
            "514/{protocol} points at no container port"
        );
    }

    // Readiness is /health on the admin port; liveness the admin port; never the syslog port.
    let admin = config["admin"]["listen"].as_str().expect("admin.listen");
    let admin: std::net::SocketAddr = admin.parse().unwrap();
    let admin_port = container_ports
        .iter()
        .find(|p| p["name"].as_str() == Some("admin"))
        .expect("an admin container port");
    assert_eq!(
        admin_port["containerPort"].as_u64(),
        Some(admin.port().into())
    );
    let readiness = &relay["readinessProbe"]["httpGet"];
    assert_eq!(readiness["path"].as_str(), Some("/health"));
    assert_eq!(readiness["port"].as_str(), Some("admin"));
    assert_eq!(
        relay["livenessProbe"]["tcpSocket"]["port"].as_str(),
        Some("admin")
    );
    // The kubelet reaches the pod's IP, not its loopback: the admin endpoint must listen there,
    // which the relay takes only with the explicit opt-in.
    assert!(
        !admin.ip().is_loopback(),
        "admin.listen {admin}: the kubelet cannot probe it"
    );
    assert!(toml.contains("allow_remote = true"));

    // Requests and a memory limit, from the README's measured figures.
    let resources = &relay["resources"];
    assert!(quantity(&resources["requests"]["cpu"]) >= 0.1);
    let memory_request = quantity(&resources["requests"]["memory"]);
    assert!(
        memory_request >= 75.0 * 1024.0 * 1024.0,
        "below the measured ~75 MiB peak"
    );
    assert!(quantity(&resources["limits"]["memory"]) >= memory_request);

    // A disruption budget and an autoscaler on CPU for the StatefulSet, the queue depth named.
    let budget = the_one(&documents, "PodDisruptionBudget");
    assert_eq!(
        budget["spec"]["selector"]["matchLabels"],
        spec["selector"]["matchLabels"]
    );
    let autoscaler = the_one(&documents, "HorizontalPodAutoscaler");
    assert_eq!(
        autoscaler["spec"]["scaleTargetRef"]["kind"].as_str(),
        Some("StatefulSet")
    );
    assert_eq!(
        autoscaler["spec"]["scaleTargetRef"]["name"],
        set["metadata"]["name"]
    );
    assert!(autoscaler["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    assert!(autoscaler["spec"]["metrics"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(|m| m["resource"]["name"].as_str() == Some("cpu")));
    assert!(manifest.contains("cefrelay_sink_queue_depth"));

    // The PROXY protocol alternative, commented until the listeners have its keys.
    for key in ["# proxy_protocol = \"v2\"", "# trusted_proxies = ["] {
        assert!(toml.contains(key), "the ConfigMap lacks `{key}`");
    }
}

#[test]
fn the_kubernetes_relay_takes_514_without_root() {
    let documents = yaml_documents(&deploy("kubernetes.yaml"));
    let pod = &the_one(&documents, "StatefulSet")["spec"]["template"]["spec"];
    let security = &pod["securityContext"];
    assert_eq!(security["runAsNonRoot"].as_bool(), Some(true));
    assert!(security["sysctls"]
        .as_sequence()
        .unwrap()
        .iter()
        .any(
            |s| s["name"].as_str() == Some("net.ipv4.ip_unprivileged_port_start")
                && s["value"].as_str() == Some("514")
        ));
    let container = &pod["containers"][0]["securityContext"];
    assert_eq!(container["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(container["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(
        container["capabilities"]["drop"],
        serde_norway::Value::Sequence(vec!["ALL".into()])
    );
    assert_eq!(
        container["capabilities"]["add"],
        serde_norway::Value::Sequence(vec!["NET_BIND_SERVICE".into()])
    );
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

#[test]
fn the_scaling_guide_and_manifest_name_only_real_metrics() {
    let metrics = fs::read_to_string(project_path("src/telemetry/metrics.rs")).unwrap();
    let mut named = 0;
    for file in ["SCALING.md", "kubernetes.yaml"] {
        let text = deploy(file);
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("cefrelay_") {
                named += 1;
                assert!(
                    metrics.contains(&format!("\"{word}\"")),
                    "{file} names `{word}`, which is no metric"
                );
            }
        }
    }
    assert!(named > 0);
    let guide = deploy("SCALING.md");
    for needed in [
        "balance source",
        "externalTrafficPolicy: Local",
        "mode log",
        "keepalived",
    ] {
        assert!(guide.contains(needed), "SCALING.md lacks {needed}");
    }
}
