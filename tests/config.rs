//! deploy/cefrelay.toml is the reference for every key: it must stay valid, commented-out
//! examples included.

mod common;

use common::{cefrelay, project_path};

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

    // Uncomment the TLS listener: every documented key must be one the parser knows.
    let uncommented: String = example
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with("[[listener]]")
                    || rest.starts_with("address = \"tls")
                    || rest.starts_with("tls_") =>
            {
                rest.to_string()
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(uncommented.contains("\ntls_client_ca"));
    let output = check(&uncommented);
    assert!(output.status.success(), "{output:?}");
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
