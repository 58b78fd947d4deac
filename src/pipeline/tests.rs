//! The rules and enrich stages through [`Pipeline::process`], on real-shaped PAN-OS lines (the
//! golden conversion fixtures, CSV and CEF), with times chosen by the test: no sleeps.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use super::facts::MEMO_SLOTS;
use super::*;
use crate::app::sinks;
use crate::config::Config;

const HEADER: &str = "<14>May  8 08:10:31 fw1 ";

fn line(fixture: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/panos-cef")
        .join(fixture);
    let body = std::fs::read_to_string(&path).expect("fixture");
    format!("{HEADER}{}", body.trim_end())
}

/// A pipeline over the sinks of `toml`, and its metrics.
fn pipeline(toml: &str) -> (Pipeline, Arc<Metrics>) {
    let state = tempfile::tempdir().expect("temp dir");
    let toml = format!("state_dir = {:?}\n{toml}", state.path());
    let config = Config::from_toml(&toml, Path::new("test.toml")).expect("valid config");
    let metrics = Arc::new(Metrics::new(
        Vec::new(),
        sinks::metrics(&config),
        &Decision::reasons(),
    ));
    let pipeline = Pipeline::new(&config, sinks::stages(&config), None, metrics.clone());
    (pipeline, metrics)
}

fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_715_155_831 + secs).expect("a valid time")
}

const PEER: &str = "192.0.2.10";

/// What each sink's batch holds after `frames`, all received at `when`, as lines.
fn run(pipeline: &Pipeline, frames: &[&str], when: OffsetDateTime) -> Vec<Vec<String>> {
    let mut batches = batches(pipeline);
    let mut tally = pipeline.tally();
    for frame in frames {
        pipeline.process(
            frame.as_bytes(),
            PEER.parse().expect("ip"),
            when,
            &mut batches,
            &mut tally,
        );
    }
    pipeline.flush(&mut tally);
    lines(&batches)
}

fn batches(pipeline: &Pipeline) -> Vec<Batch> {
    pipeline
        .sink_names()
        .iter()
        .map(|_| Batch::default())
        .collect()
}

fn lines(batches: &[Batch]) -> Vec<Vec<String>> {
    batches
        .iter()
        .map(|batch| {
            String::from_utf8_lossy(&batch.data)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

fn rule_metric(
    metrics: &Metrics,
    name: &str,
    dry_run: bool,
) -> Arc<crate::telemetry::metrics::rules::RuleMetrics> {
    metrics.rules.rule(name, dry_run)
}

#[test]
fn a_drop_rule_on_panos_fields_drops_csv_and_cef_alike() {
    let (pipeline, metrics) = pipeline(
        r#"[[rule]]
name = "drop-trust-threats"
match = { type = "THREAT", from = "trust", thr_category = "code-execution" }
action = "drop"
"#,
    );
    let (csv, cef) = (line("threat.csv"), line("threat.cef"));
    let out = run(&pipeline, &[&csv, &cef, &line("system.cef")], at(0));
    assert_eq!(out[0].len(), 1, "only SYSTEM passes: {out:?}");
    assert!(out[0][0].contains("|SYSTEM|"));
    let rule = rule_metric(&metrics, "drop-trust-threats", false);
    assert_eq!((rule.matched.get(), rule.dropped.get()), (2, 2));
}

#[test]
fn fields_kept_once_read_are_each_events_own_and_fields_past_the_memo_are_read_anyway() {
    // More distinct fields than an event keeps: the first rule's `severity` and 15 of its 17
    // absent fields fill every memo slot, so `type` and `subtype` are read at each test, and
    // `severity`, kept once read, must be each event's own.
    let absent: Vec<String> = (0..=MEMO_SLOTS)
        .map(|n| format!("absent{n} = {{ exists = false }}"))
        .collect();
    let (pipeline, metrics) = pipeline(&format!(
        r#"[[rule]]
name = "drop-nothing"
match = {{ severity = 99, {absent} }}
action = "drop"

[[rule]]
name = "keep-severe"
match = {{ type = "THREAT", severity = {{ ge = 4 }} }}
action = "keep"

[[rule]]
name = "drop-vulnerability"
match = {{ type = "THREAT", subtype = "vulnerability" }}
action = "drop"
"#,
        absent = absent.join(", ")
    ));
    let severe = line("threat.cef");
    assert!(severe.contains("|THREAT|4|") && severe.contains("vulnerability"));
    let mild = severe.replacen("|THREAT|4|", "|THREAT|2|", 1);
    // Severe, mild, severe: a value kept from one event must not decide for the next.
    let out = run(&pipeline, &[&severe, &mild, &severe], at(0));
    assert_eq!(out[0].len(), 2, "{out:?}");
    assert!(out[0].iter().all(|line| line.contains("|THREAT|4|")));
    assert_eq!(rule_metric(&metrics, "keep-severe", false).matched.get(), 2);
    assert_eq!(
        rule_metric(&metrics, "drop-vulnerability", false)
            .dropped
            .get(),
        1
    );
}

#[test]
fn a_keep_floor_beats_a_later_drop() {
    let (pipeline, metrics) = pipeline(
        r#"[[rule]]
name = "keep-severe"
match = { type = "THREAT", severity = { ge = 4 } }
action = "keep"

[[rule]]
name = "drop-threats"
match = { type = "THREAT" }
action = "drop"
"#,
    );
    let severe = line("threat.cef");
    let mild = severe.replacen("|THREAT|4|", "|THREAT|2|", 1);
    let out = run(&pipeline, &[&severe, &mild], at(0));
    assert_eq!(out[0].len(), 1, "{out:?}");
    assert!(out[0][0].contains("|THREAT|4|"));
    assert_eq!(rule_metric(&metrics, "keep-severe", false).matched.get(), 1);
    assert_eq!(
        rule_metric(&metrics, "drop-threats", false).dropped.get(),
        1
    );
}

#[test]
fn sampling_keeps_about_one_in_n_and_always_the_same_sessions() {
    let (pipeline, metrics) = pipeline(
        r#"[filter]
mode = "cef-all"

[[rule]]
name = "sample-traffic"
match = { type = "TRAFFIC" }
action = "sample"
rate = 10
key = ["src", "dst", "dport"]
"#,
    );
    let traffic = line("traffic.cef");
    let frames: Vec<String> = (0..10_000)
        .map(|n| traffic.replacen("src=", &format!("src=10.{}.{}.1 x=", n / 250, n % 250), 1))
        .collect();
    let frames: Vec<&str> = frames.iter().map(String::as_str).collect();
    let first = run(&pipeline, &frames, at(0));
    let kept = first[0].len();
    assert!(
        (900..=1100).contains(&kept),
        "{kept} of 10 000 kept at 1 in 10"
    );
    assert_eq!(
        rule_metric(&metrics, "sample-traffic", false)
            .sampled_out
            .get(),
        10_000 - kept as u64
    );
    // The same sessions, again (as another relay would see them): the same ones kept.
    assert_eq!(run(&pipeline, &frames, at(5)), first);
}

#[test]
fn suppression_lets_allow_through_and_closes_each_window_with_one_summary() {
    let (pipeline, metrics) = pipeline(
        r#"[[rule]]
name = "repeats"
match = { type = "SYSTEM" }
action = "suppress"
key = ["host", "eventid"]
allow = 1
window_secs = 60
"#,
    );
    let system = line("system.cef");
    let out = run(&pipeline, &[system.as_str(); 5], at(0));
    assert_eq!(out[0].len(), 1, "one through: {out:?}");
    let rule = rule_metric(&metrics, "repeats", false);
    assert_eq!(rule.suppressed.get(), 4);

    let mut batches = batches(&pipeline);
    pipeline.sweep(Some(at(59)), &mut batches);
    assert_eq!(batches[0].events, 0, "the window is still open");
    pipeline.sweep(Some(at(60)), &mut batches);
    let summaries = lines(&batches);
    assert_eq!(summaries[0].len(), 1, "{summaries:?}");
    let summary = &summaries[0][0];
    let start = at(0).unix_timestamp() * 1000;
    let end = at(60).unix_timestamp() * 1000;
    assert!(
        summary.contains(&format!(
            "cnt=4 start={start} end={end} cefrelayRule=repeats"
        )),
        "{summary}"
    );
    // A valid CEF record with the suppressed events' header.
    let cef_text = &summary[summary.find("CEF:").expect("CEF")..];
    let cef = cefrelay_cef::parse_cef(cef_text).expect("the summary is valid CEF");
    assert_eq!((&*cef.device_product, &*cef.name), ("PAN-OS", "SYSTEM"));
    assert_eq!(rule.summaries.get(), 1);

    // The next window starts afresh and holds nothing back: no second summary.
    run(&pipeline, &[&system], at(61));
    let mut batches = batches_after_sweep(&pipeline, at(200));
    assert_eq!(batches.remove(0).events, 0);
}

fn batches_after_sweep(pipeline: &Pipeline, now: OffsetDateTime) -> Vec<Batch> {
    let mut batches = batches(pipeline);
    pipeline.sweep(Some(now), &mut batches);
    batches
}

#[test]
fn at_shutdown_every_open_window_reports_what_it_held_back() {
    let (pipeline, _) = pipeline(
        r#"[[rule]]
name = "repeats"
action = "suppress"
key = ["name"]
allow = 0
window_secs = 3600
"#,
    );
    run(
        &pipeline,
        &[&line("system.cef"), &line("threat.cef")],
        at(0),
    );
    let mut batches = batches(&pipeline);
    pipeline.sweep(None, &mut batches);
    let summaries = lines(&batches);
    assert_eq!(summaries[0].len(), 2, "{summaries:?}");
    assert!(summaries[0].iter().all(|s| s.contains("cnt=1 ")));
}

#[test]
fn a_route_sends_to_the_named_sinks_only_and_sink_rules_apply_to_their_sink() {
    let (pipeline, _) = pipeline(
        r#"[filter]
mode = "cef-all"

[[sink]]
name = "cheap"
type = "http"
url = "http://127.0.0.1:9/"

[[rule]]
name = "traffic-to-cheap"
match = { type = "TRAFFIC" }
action = "route"
sinks = ["cheap"]

[[rule]]
name = "no-system-for-cheap"
match = { type = "SYSTEM" }
action = "drop"

[[sink]]
name = "other"
type = "http"
url = "http://127.0.0.1:9/"
rules = ["no-system-for-cheap"]
"#,
    );
    let out = run(
        &pipeline,
        &[
            &line("traffic.cef"),
            &line("threat.cef"),
            &line("system.cef"),
        ],
        at(0),
    );
    assert_eq!(pipeline.sink_names(), ["agent", "cheap", "other"]);
    // agent: threat, system; cheap: traffic, threat, system; other: threat.
    assert_eq!(
        out.iter().map(Vec::len).collect::<Vec<_>>(),
        [2, 3, 1],
        "{out:?}"
    );
    assert!(out[0].iter().all(|l| !l.contains("|TRAFFIC|")));
    assert!(out[2][0].contains("THREAT"));
}

#[test]
fn a_dry_run_rule_counts_what_it_would_do_and_changes_nothing() {
    let (pipeline, metrics) = pipeline(
        r#"[[rule]]
name = "would-drop-threats"
match = { type = "THREAT" }
action = "drop"
dry_run = true
"#,
    );
    let out = run(
        &pipeline,
        &[&line("threat.cef"), &line("threat.csv")],
        at(0),
    );
    assert_eq!(out[0].len(), 2);
    let rule = rule_metric(&metrics, "would-drop-threats", true);
    assert_eq!((rule.matched.get(), rule.dropped.get()), (2, 2));
}

#[test]
fn threats_gain_alert_type_and_mitre_fields_and_rules_can_match_them() {
    let (pipeline, metrics) = pipeline(
        r#"[[rule]]
name = "drop-by-technique"
match = { threatId = "T9999" }
action = "drop"
"#,
    );
    let out = run(
        &pipeline,
        &[&line("threat.cef"), &line("threat.csv")],
        at(0),
    );
    assert_eq!(out[0].len(), 2);
    // `cat` is `vulnerability`, so the alert type is the class ID (the threat name); the
    // category code-execution sent client-to-server is an exploit of a public-facing server.
    for forwarded in &out[0] {
        assert!(
            forwarded.ends_with(
                " PanOSAlertType=HTTP Directory Traversal Vulnerability(30844) \
                 threatAttackID=T1190 threatAttackName=Exploit Public-Facing Application \
                 mitreSource=category"
            ),
            "{forwarded}"
        );
    }
    let classified: u64 = metrics
        .rules
        .threats_classified
        .iter()
        .map(|c| c.get())
        .sum();
    assert_eq!(classified + metrics.rules.threats_unmapped.get(), 2);

    let system = line("system.cef");
    let out = run(&pipeline, &[&system], at(0));
    assert!(
        !out[0][0].contains("threatAttackID"),
        "only threats are classified"
    );
}

#[test]
fn threat_enrichment_can_be_turned_off() {
    let (pipeline, _) = pipeline("[enrich]\nthreat = false\n");
    let out = run(&pipeline, &[&line("threat.cef")], at(0));
    assert!(!out[0][0].contains("threatAttackID"), "{out:?}");
}

#[test]
fn a_reload_swaps_the_rules_at_once() {
    let (pipeline, _) = pipeline("");
    let threat = line("threat.cef");
    assert_eq!(run(&pipeline, &[&threat], at(0))[0].len(), 1);
    let state = tempfile::tempdir().expect("temp dir");
    let fresh = Config::from_toml(
        &format!(
            "state_dir = {:?}\n[[rule]]\nname = \"d\"\nmatch = {{ type = \"THREAT\" }}\naction = \"drop\"\n",
            state.path()
        ),
        Path::new("reloaded.toml"),
    )
    .expect("valid");
    pipeline.set_stages(&fresh);
    assert_eq!(run(&pipeline, &[&threat], at(1))[0].len(), 0);
}

#[test]
fn peer_cidr_and_labels_are_fields_too() {
    let (pipeline, _) = pipeline(
        r#"[[rule]]
name = "lab"
match = { peer = { cidr = "192.0.2.0/24" }, Rule = { prefix = "Internal" } }
action = "drop"
"#,
    );
    assert!(run(&pipeline, &[&line("threat.cef")], at(0))[0].is_empty());
    let peer: IpAddr = "198.51.100.1".parse().expect("ip");
    let mut batches = batches(&pipeline);
    let mut tally = pipeline.tally();
    pipeline.process(
        line("threat.cef").as_bytes(),
        peer,
        at(0),
        &mut batches,
        &mut tally,
    );
    assert_eq!(batches[0].events, 1, "another sender is not matched");
}

/// Per-message counts stay in the source's tally until it flushes, then all arrive at once: the
/// filter decisions, the parse outcomes, the per-sender counts (first TRAFFIC drop said once).
#[test]
fn counts_reach_the_shared_metrics_at_the_flush_and_not_before() {
    let (pipeline, metrics) = pipeline("");
    let mut batches = batches(&pipeline);
    let mut tally = pipeline.tally();
    let peer: IpAddr = PEER.parse().expect("ip");
    for fixture in ["traffic.cef", "traffic.cef", "threat.cef", "threat.csv"] {
        pipeline.process(
            line(fixture).as_bytes(),
            peer,
            at(0),
            &mut batches,
            &mut tally,
        );
    }
    let forwarded = |metrics: &Metrics| metrics.filter(Decision::ForwardCef.index()).get();
    let traffic = |metrics: &Metrics| metrics.filter(Decision::DropTraffic.index()).get();
    assert_eq!((forwarded(&metrics), traffic(&metrics)), (0, 0));
    assert!(!metrics.observer.peers_json().contains(PEER));

    pipeline.flush(&mut tally);
    assert_eq!((forwarded(&metrics), traffic(&metrics)), (2, 2));
    assert_eq!(metrics.parse.rfc3164.get(), 4);
    assert_eq!(
        metrics.parse.cef_valid.get(),
        3,
        "the CSV line has no CEF of its own"
    );
    let peers: serde_json::Value =
        serde_json::from_str(&metrics.observer.peers_json()).expect("json");
    let counts = &peers["peers"][PEER];
    assert_eq!(counts["received"], 4, "{peers}");
    assert_eq!(counts["dropped_traffic"], 2, "{peers}");
    assert_eq!(counts["forwarded"], 2, "{peers}");

    // A second flush adds to the first; an empty one changes nothing.
    pipeline.process(
        line("traffic.cef").as_bytes(),
        peer,
        at(0),
        &mut batches,
        &mut tally,
    );
    pipeline.flush(&mut tally);
    pipeline.flush(&mut tally);
    assert_eq!(traffic(&metrics), 3);
}

/// Every event a tap holds now, without waiting.
fn tapped(subscription: &mut crate::telemetry::tap::Subscription<'_>) -> Vec<TapEvent> {
    std::iter::from_fn(|| subscription.events.try_recv().ok()).collect()
}

use crate::telemetry::tap::{Stage, TapEvent, TAP_QUEUE};

#[test]
fn a_full_tap_counts_what_it_skips_and_never_holds_the_pipeline_up() {
    let (pipeline, metrics) = pipeline("");
    let mut subscription = metrics.tap.open(Stage::Received, None).expect("a tap");
    let threat = line("threat.cef");
    // Nobody reads the tap: the queue fills, and the rest is skipped, not waited for.
    let out = run(&pipeline, &vec![threat.as_str(); TAP_QUEUE + 7], at(0));
    assert_eq!(
        out[0].len(),
        TAP_QUEUE + 7,
        "every message still reaches the sink"
    );
    assert_eq!(subscription.take_skipped(), 7);
    assert_eq!(tapped(&mut subscription).len(), TAP_QUEUE);
    // Read, the queue takes messages again.
    run(&pipeline, &[&threat], at(1));
    assert_eq!(tapped(&mut subscription).len(), 1);
    assert_eq!(subscription.take_skipped(), 0);
}

#[test]
fn a_tap_shows_its_stage_and_matches_with_the_decision_and_the_reason() {
    let (pipeline, metrics) = pipeline("");
    let mut dropped = metrics.tap.open(Stage::Dropped, None).expect("a tap");
    let condition = crate::telemetry::tap::compile_matches(&["type=THREAT".into()]).unwrap();
    let mut threats = metrics.tap.open(Stage::Received, condition).expect("a tap");
    let (threat, traffic) = (line("threat.cef"), line("traffic.cef"));
    run(&pipeline, &[&threat, &traffic], at(0));

    let dropped = tapped(&mut dropped);
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].text, traffic);
    assert_eq!(dropped[0].sinks, 0);
    assert_eq!(
        (dropped[0].decision, &*dropped[0].reason),
        (Some("traffic"), "filter")
    );
    assert_eq!(dropped[0].sender, PEER.parse::<IpAddr>().unwrap());

    let threats = tapped(&mut threats);
    assert_eq!(threats.len(), 1, "{threats:?}");
    assert_eq!(threats[0].text, threat);
    assert_eq!(threats[0].sinks, 1, "written to the agent, sink 0");
    assert_eq!(threats[0].decision, Some("cef"));
}

#[test]
fn a_tap_names_the_rule_that_decided() {
    let (pipeline, metrics) = pipeline(
        r#"[[rule]]
name = "quiet-system"
match = { type = "SYSTEM" }
action = "drop"

[[rule]]
name = "threats"
match = { type = "THREAT" }
action = "keep"
"#,
    );
    let mut shown = metrics.tap.open(Stage::Received, None).expect("a tap");
    run(
        &pipeline,
        &[&line("system.cef"), &line("threat.cef")],
        at(0),
    );
    let reasons: Vec<_> = tapped(&mut shown)
        .into_iter()
        .map(|event| (event.sinks, event.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (0, "rule quiet-system (drop)".into()),
            (1, "rule threats (keep)".into())
        ]
    );
}

#[test]
fn a_closed_tap_leaves_the_pipeline_untapped() {
    let (pipeline, metrics) = pipeline("");
    drop(metrics.tap.open(Stage::Received, None).expect("a tap"));
    assert!(!metrics.tap.is_tapped());
    assert_eq!(run(&pipeline, &[&line("threat.cef")], at(0))[0].len(), 1);
}

/// A PAN-OS CSV log is converted header first, for the filter, and whole only for a sink that
/// takes it or a tap that watches: dropped by the agent's filter it is still counted as a
/// converted TRAFFIC log; a tap's condition on an extension field finds it; a sink whose own
/// filter takes TRAFFIC gets the record the golden conversion has, not the header alone.
#[test]
fn a_csv_log_is_converted_whole_only_for_a_sink_or_a_tap_that_gets_it() {
    let traffic = line("traffic.csv");
    let golden = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/panos-cef/traffic.cef"),
    )
    .expect("fixture");

    let (agent_only, metrics) = pipeline("");
    let condition = crate::telemetry::tap::compile_matches(&["src=10.1.20.15".into()]).unwrap();
    let mut dropped = metrics.tap.open(Stage::Dropped, condition).expect("a tap");
    assert_eq!(run(&agent_only, &[&traffic], at(0)), [Vec::<String>::new()]);
    assert_eq!(metrics.filter(Decision::DropTraffic.index()).get(), 1);
    assert_eq!(
        metrics
            .parse
            .panos_converted(Some(cefrelay_panos::log::LogType::Traffic))
            .get(),
        1
    );
    let shown = tapped(&mut dropped);
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].text, traffic);

    let (takes_traffic, _) = pipeline("[forward]\nfilter = \"cef-all\"\n");
    let out = run(&takes_traffic, &[&traffic], at(0));
    assert_eq!(out[0].len(), 1, "{out:?}");
    assert!(out[0][0].ends_with(golden.trim_end()), "{out:?}");
}
