//! deploy/cefrelay.toml is the reference for every key: it must stay valid, commented-out
//! examples included.

use crate::util::{cefrelay, project_path, Ca};

fn check(text: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cefrelay.toml");
    std::fs::write(&path, text).expect("write config");
    cefrelay()
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run check-config")
}

#[test]
fn the_documented_example_is_valid_with_its_commented_keys_enabled() {
    let example =
        std::fs::read_to_string(project_path("deploy/cefrelay.toml")).expect("read the example");
    let output = check(&example);
    assert!(output.status.success(), "{output:?}");

    // Uncomment the example blocks (the TLS listener, the forward's disk buffer, the three
    // sinks): every documented key must be one the parser knows. Prose lines never start with
    // `key = ` or `[[`.
    let uncommented: String = example
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_code(rest) => rest.to_string(),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        // The forward's buffer table replaces its queue_events shorthand.
        .replace("\nqueue_events = 65536\n", "\n");
    // check-config reads the TLS files and tries the state directory, as run would: real ones.
    let dir = tempfile::tempdir().expect("temp dir");
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir(&tls_dir).expect("mkdir tls");
    let ca = Ca::new("example CA");
    ca.write_server_files(&tls_dir);
    std::fs::copy(tls_dir.join("ca.pem"), tls_dir.join("clients.pem")).expect("client CA");
    let admin_token = dir.path().join("admin-token");
    std::fs::write(&admin_token, "example-token\n").expect("admin token");
    let uncommented = uncommented
        .replace(
            "\"/etc/cefrelay/tls/",
            &format!("\"{}/", tls_dir.to_str().expect("utf-8 path")),
        )
        // The built-in MITRE table, read as an override file: the same format.
        .replace(
            "\"/etc/cefrelay/mitre.table\"",
            &format!("{:?}", project_path("crates/panos/src/mitre/default.table")),
        )
        .replace(
            "\"/etc/cefrelay/admin-token\"",
            &format!("{:?}", admin_token.to_str().expect("utf-8 path")),
        )
        .replace(
            "state_dir = \"/var/lib/cefrelay\"",
            &format!(
                "state_dir = \"{}/state\"",
                dir.path().to_str().expect("utf-8 path")
            ),
        );
    for key in [
        "\nstate_dir = \"/",
        "\ntls_client_ca",
        "\nproxy_protocol = \"v2\"",
        "\nproxy_header_timeout_secs",
        "\nbuffer = { type = \"disk\"",
        "\nindexer_ack",
        "\nformat = \"ndjson\"",
        "\nmitre_table",
        "\npreset = \"sophos\"",
        "\n[[userid.source]]",
        "\n[[userid.target]]",
        "\ntoken_file = \"/",
    ] {
        assert!(uncommented.contains(key), "{key} was not uncommented");
    }
    assert_eq!(uncommented.matches("\n[[sink]]").count(), 3);
    let path = dir.path().join("cefrelay.toml");
    std::fs::write(&path, &uncommented).expect("write config");
    let output = cefrelay()
        .arg("check-config")
        .arg(&path)
        .env("CEFRELAY_AZURE_CLIENT_SECRET", "azure-secret")
        .env("CEFRELAY_SPLUNK_TOKEN", "splunk-token")
        .env("CEFRELAY_HTTP_TOKEN", "http-token")
        .env("CEFRELAY_NAC_URL", "mysql://relay:nac-secret@127.0.0.1/nac")
        .env("CEFRELAY_FW_KEY", "firewall-key")
        .output()
        .expect("run check-config");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("azure-secret")
            && !stdout.contains("splunk-token")
            && !stdout.contains("nac-secret"),
        "secrets never printed: {stdout}"
    );
}

/// `[[table]]` or `key = …` (a lower-case TOML key), as opposed to prose.
fn is_code(line: &str) -> bool {
    if line.starts_with("[[") {
        return true;
    }
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let output = check("[forward]\nagent = \"ama\"\nqueue_evnts = 5\n");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("queue_evnts") && stderr.contains(":3"),
        "{stderr}"
    );
}

#[test]
fn a_remote_admin_endpoint_needs_the_explicit_opt_in() {
    let refused = check("[admin]\nlisten = \"0.0.0.0:9514\"\n");
    assert_eq!(refused.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(":2") && stderr.contains("admin.listen") && stderr.contains("allow_remote"),
        "{stderr}"
    );
    let taken = check("[admin]\nlisten = \"0.0.0.0:9514\"\nallow_remote = true\n");
    assert!(taken.status.success(), "{taken:?}");
}
