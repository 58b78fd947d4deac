//! Platform rules and threat enrichment, black box: config errors, the `rules` command, and a
//! running relay that drops, suppresses, enriches and reloads its rules on SIGHUP.

use std::io::Write;
use std::time::Duration;

use crate::util::{cefrelay, project_path, wait_until, Agent, Relay, PATIENCE};

fn check(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, text).expect("write config");
    let output = cefrelay()
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run check-config");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn rule_mistakes_exit_64_naming_file_line_key_and_rule() {
    let cases = [
        (
            "[[rule]]\nname = \"x\"\naction = \"drop\"\nmatch = { cat = { regex = \"(\" } }\n",
            ["rules.toml:4", "rule[0].match", "rule `x`", "regex does not compile"],
        ),
        (
            "[[rule]]\nname = \"x\"\nmatch = { dport = { near = 1 } }\naction = \"drop\"\n",
            ["rules.toml:3", "rule[0].match", "match.dport", "unknown operator"],
        ),
        (
            "[[rule]]\nname = \"r\"\naction = \"route\"\nsinks = [\"nowhere\"]\n",
            ["rules.toml:2", "rule.r.sinks", "no sink is named `nowhere`", "agent"],
        ),
        (
            "[[rule]]\nname = \"s\"\naction = \"suppress\"\n",
            ["rules.toml:3", "rule[0].key", "rule `s`", "key = ["],
        ),
        (
            "[[rule]]\nname = \"s\"\naction = \"sample\"\nrate = 0\n",
            ["rules.toml:4", "rule[0].rate", "out of range", "1 to"],
        ),
        (
            "[[rule]]\nname = \"d\"\naction = \"drop\"\n[[rule]]\nname = \"d\"\naction = \"keep\"\n",
            ["rules.toml:5", "rule.d", "two rules are named `d`", "metrics"],
        ),
        (
            "[[rule]]\npreset = \"sophos\"\naction = \"drop\"\n",
            ["rules.toml:2", "rule[0].preset", "no other key", "rules show"],
        ),
        (
            "[[rule]]\npreset = \"cribl\"\n",
            ["rules.toml:2", "rule[0].preset", "no preset is named `cribl`", "sophos"],
        ),
        (
            "[forward]\nrules = [\"ghost\"]\n",
            ["rules.toml:2", "agent.rules", "no rule is named `ghost`", ""],
        ),
        (
            "[rules]\nmax_suppress_keys = 0\n",
            ["rules.toml:2", "rules.max_suppress_keys", "out of range", ""],
        ),
    ];
    for (config, expected) in cases {
        let (code, stderr) = check(config);
        assert_eq!(code, Some(64), "{config}: {stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{config}: `{part}` not in: {stderr}");
        }
    }
}

#[test]
fn a_bad_mitre_table_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("mitre.table"),
        "# mine\nregex\t(?i)log4j\tT1190\tExploit Public-Facing Application\nsubtype\tscan\n",
    )
    .expect("write table");
    let path = dir.path().join("cefrelay.toml");
    std::fs::write(&path, "[enrich]\nmitre_table = \"mitre.table\"\n").expect("write config");
    let output = cefrelay()
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run check-config");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("enrich.mitre_table") && stderr.contains("mitre.table: line 3"),
        "{stderr}"
    );
}

#[test]
fn presets_are_listed_and_printed_as_rules_a_configuration_takes() {
    let listed = cefrelay().args(["rules", "presets"]).output().expect("run");
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.contains("sophos") && listed.contains("reduce-traffic"),
        "{listed}"
    );
    for preset in ["sophos", "reduce-traffic"] {
        let shown = cefrelay()
            .args(["rules", "show", preset])
            .output()
            .expect("run");
        assert!(shown.status.success());
        let text = String::from_utf8(shown.stdout).expect("utf-8");
        // Printed to be copied: as a configuration of its own, it validates.
        let (code, stderr) = check(&format!("[filter]\nmode = \"cef-all\"\n{text}"));
        assert_eq!(code, Some(0), "{preset}: {stderr}");
    }
    let unknown = cefrelay()
        .args(["rules", "show", "nope"])
        .output()
        .expect("run");
    assert_eq!(unknown.status.code(), Some(64));
}

/// A line of the golden PAN-OS fixtures with a syslog header.
fn fixture(name: &str) -> String {
    let body = std::fs::read_to_string(project_path(&format!("fixtures/panos-cef/{name}")))
        .expect("fixture");
    format!("<14>May  8 08:10:31 fw1 {}", body.trim_end())
}

#[test]
fn rules_test_prints_what_each_line_meets_and_flags_unused_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("cefrelay.toml");
    std::fs::write(
        &config,
        "[filter]\nmode = \"cef-all\"\n[[rule]]\npreset = \"sophos\"\n[[rule]]\npreset = \"reduce-traffic\"\n",
    )
    .expect("write config");
    let lines = dir.path().join("sample.log");
    let sample = [
        fixture("threat.cef"),
        fixture("traffic.csv"),
        fixture("hipmatch.csv"),
    ];
    std::fs::write(&lines, sample.join("\n")).expect("write lines");
    let output = cefrelay()
        .args(["rules", "test", "--expect-all-used", "--config"])
        .arg(&config)
        .arg(&lines)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("line 1: sophos/keep-severe-threats (keep) -> agent"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 2: reduce-traffic/suppress-repeats (suppress) -> agent"),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 3: sophos/drop-non-security (drop) -> no sink"),
        "{stdout}"
    );
    assert!(stdout.contains("3 lines: 2 to agent"), "{stdout}");
    assert_eq!(output.status.code(), Some(1), "some rules matched nothing");
    assert!(String::from_utf8_lossy(&output.stderr).contains("sophos/drop-dns-requests"));
}

#[test]
fn a_running_relay_drops_suppresses_enriches_and_reloads_its_rules() {
    let agent = Agent::start(0, Duration::ZERO);
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = "[[rule]]\nname = \"drop-hip\"\nmatch = { type = \"HIPMATCH\" }\naction = \"drop\"\n\
                 [[rule]]\nname = \"system-repeats\"\nmatch = { type = \"SYSTEM\" }\n\
                 action = \"suppress\"\nkey = [\"host\", \"eventid\"]\nallow = 1\nwindow_secs = 1\n";
    let listener = "[[listener]]\naddress = \"tcp://127.0.0.1:{port}\"\n";
    let relay = Relay::with_config(
        agent.address.port(),
        &format!("{listener}{rules}"),
        dir.path(),
    );
    let send = |lines: &[String]| {
        let mut stream = relay.tcp();
        for line in lines {
            stream.write_all(line.as_bytes()).expect("write");
            stream.write_all(b"\n").expect("write");
        }
    };
    let (threat, system, hip) = (
        fixture("threat.csv"),
        fixture("system.cef"),
        fixture("hipmatch.csv"),
    );
    send(&[
        threat.clone(),
        hip.clone(),
        system.clone(),
        system.clone(),
        system.clone(),
    ]);
    // The threat and one SYSTEM event at once, then the window's summary: cnt=2.
    assert!(wait_until(PATIENCE, || agent.lines().iter().any(|l| l
        .contains("cnt=2 ")
        && l.contains("cefrelayRule=system-repeats"))));
    let lines = agent.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(
        lines[0].contains("threatAttackID=T1190"),
        "converted CSV enriched: {}",
        lines[0]
    );
    assert!(!lines.iter().any(|l| l.contains("|HIPMATCH|")));
    assert_eq!(
        relay.metric("cefrelay_rule_dropped_total{rule=\"drop-hip\",dry_run=\"false\"}"),
        1
    );
    assert_eq!(
        relay.metric("cefrelay_rule_suppressed_total{rule=\"system-repeats\",dry_run=\"false\"}"),
        2
    );
    assert_eq!(
        relay.metric("cefrelay_threats_classified_total{step=\"category\"}"),
        1
    );

    // A rule that does not compile: nothing changes.
    let path = dir.path().join("cefrelay.toml");
    let listen = format!(
        "[[listener]]\naddress = \"tcp://127.0.0.1:{}\"\n",
        relay.port
    );
    std::fs::write(
        &path,
        format!("{listen}[[rule]]\nname = \"bad\"\nmatch = {{ type = {{ regex = \"(\" }} }}\naction = \"drop\"\n"),
    )
    .expect("write config");
    relay.signal("HUP");
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_config_reloads_total{result=\"failed\"}")
        >= 1));
    send(std::slice::from_ref(&hip));
    assert!(wait_until(PATIENCE, || relay.metric(
        "cefrelay_rule_dropped_total{rule=\"drop-hip\",dry_run=\"false\"}"
    ) >= 2));
    // The bad file left the old rules in place. Now a dry-run drop: HIPMATCH goes through.
    std::fs::write(
        &path,
        format!("{listen}[[rule]]\nname = \"maybe-hip\"\nmatch = {{ type = \"HIPMATCH\" }}\naction = \"drop\"\ndry_run = true\n"),
    )
    .expect("write config");
    relay.signal("HUP");
    assert!(wait_until(PATIENCE, || relay
        .metric("cefrelay_config_reloads_total{result=\"ok\"}")
        >= 1));
    send(&[hip]);
    assert!(wait_until(PATIENCE, || agent
        .lines()
        .iter()
        .any(|l| l.contains("|HIPMATCH|"))));
    assert_eq!(
        relay.metric("cefrelay_rule_dropped_total{rule=\"drop-hip\",dry_run=\"false\"}"),
        2,
        "the bad file left the old rules in place, the good one replaced them"
    );
    assert_eq!(
        relay.metric("cefrelay_rule_dropped_total{rule=\"maybe-hip\",dry_run=\"true\"}"),
        1
    );
}
