//! deploy/grafana-dashboard.json and deploy/prometheus-alerts.yml against the relay they watch:
//! every metric their queries name must be one a running relay exports (a renamed metric would
//! otherwise leave an empty panel and an alert that can never fire), and promtool (Debian's
//! `prometheus` package, unpacked by .ci/peers) must accept the rules and the dashboard's queries,
//! and see each alert fire on the series of fixtures/prometheus/alerts.test.yml.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::util::{project_path, RefusingPort, Relay};

/// PromQL words that are not metric names: aggregation operators (which may be followed by
/// `by (…)` before their parenthesis), binary and set operators, modifiers.
const KEYWORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "and",
    "or",
    "unless",
    "atan2",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
];

/// Keywords followed by a list of label names in parentheses.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names a PromQL expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    selectors(expr).into_iter().map(|(name, _)| name).collect()
}

/// The series selectors of a PromQL expression: each metric name with the labels its matchers
/// `{…}` name. Skipped: strings, ranges `[…]`, label lists after `by`/`without`/`on`/`ignoring`/
/// `group_*`, Grafana variables (`$x`, `${x}`), numbers and durations, keywords, and functions (a
/// name followed by `(`).
fn selectors(expr: &str) -> Vec<(String, BTreeSet<String>)> {
    let chars: Vec<char> = expr.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    // Past the bracket that closes the one at `start`, strings inside included.
    let skip_group = |start: usize, close: char| {
        let mut j = start + 1;
        while j < chars.len() && chars[j] != close {
            if chars[j] == '"' || chars[j] == '\'' {
                let quote = chars[j];
                j += 1;
                while j < chars.len() && chars[j] != quote {
                    j += if chars[j] == '\\' { 2 } else { 1 };
                }
            }
            j += 1;
        }
        j + 1
    };
    let next_non_space = |from: usize| (from..chars.len()).find(|&j| !chars[j].is_whitespace());
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_group(i, c) - 1,
            '{' => i = skip_group(i, '}') - 1,
            '[' => i = skip_group(i, ']') - 1,
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    i = skip_group(i, '}') - 1;
                } else {
                    while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                    continue;
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
                continue;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = next_non_space(i);
                if LABEL_LISTS.contains(&word.as_str()) {
                    if let Some(open) = next.filter(|&j| chars[j] == '(') {
                        i = skip_group(open, ')');
                    }
                } else if !KEYWORDS.contains(&word.to_ascii_lowercase().as_str())
                    && next.map(|j| chars[j]) != Some('(')
                {
                    let mut labels = BTreeSet::new();
                    if let Some(open) = next.filter(|&j| chars[j] == '{') {
                        let close = skip_group(open, '}');
                        let end = close.saturating_sub(1).min(chars.len());
                        let inside: String = chars[open + 1..end].iter().collect();
                        labels = matcher_labels(&inside);
                        i = close;
                    }
                    found.push((word, labels));
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The label names of the matchers between a selector's braces: `a="x",b=~"y"` gives a and b.
fn matcher_labels(inside: &str) -> BTreeSet<String> {
    let mut unquoted = String::new();
    let mut quote = None;
    let mut escaped = false;
    for c in inside.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None if c == '"' || c == '\'' || c == '`' => quote = Some(c),
            None => unquoted.push(c),
        }
    }
    unquoted
        .split(',')
        .filter_map(|matcher| matcher.split(['=', '!', '~']).next())
        .map(str::trim)
        .filter(|label| !label.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn the_query_reader_finds_metric_names_and_nothing_else() {
    let expr = r#"histogram_quantile(0.99, sum by (sink, le) (rate(cefrelay_x_bucket{instance=~"$instance",sink=~"a}b"}[$__rate_interval])))
        / on (sink) group_left(type) cefrelay_y{q='x'} > 2 * sum without(le)(cefrelay_z offset 1d) and time() - ${v} > 1e3"#;
    assert_eq!(
        metric_names(expr),
        ["cefrelay_x_bucket", "cefrelay_y", "cefrelay_z"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        metric_names("count(up == 0) or vector(0)"),
        ["up".to_string()].into()
    );
    let labels = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    assert_eq!(
        selectors(r#"rate(a{x="1,y=2", y!~"}"}[5m]) + b{} + c"#),
        [
            ("a".to_string(), labels(&["x", "y"])),
            ("b".to_string(), labels(&[])),
            ("c".to_string(), labels(&[])),
        ]
    );
}

/// Every metric a running relay exports, with the labels its samples carry. The names come from
/// the `# TYPE` lines: every family is declared there even before its first sample (a histogram
/// as its `_bucket`, `_sum` and `_count`). A relay just started has no sample of some families
/// (rules, senders, HTTP requests), so their labels come from the samples of the golden
/// rendering too (fixtures/metrics/render.prom, every family filled in), but never a name: a
/// metric must come out of the running relay.
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let agent = RefusingPort::new();
    let relay = Relay::start(agent.port, &[]);
    let text = relay.try_metrics().expect("GET /metrics");
    let mut exported: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.entry(format!("{name}{suffix}")).or_default();
            }
        } else {
            exported.entry(name.to_string()).or_default();
        }
    }
    // The families the dashboard and the alerts rest on are there at all: a relay that
    // exported nothing would make every check below pass.
    for name in [
        "cefrelay_received_frames_total",
        "cefrelay_sender_last_seen_timestamp_seconds",
        "cefrelay_tls_certificate_expiry_timestamp_seconds",
        "cefrelay_sink_queue_depth",
        "cefrelay_sink_unreleased_events",
        "cefrelay_sink_buffer_max_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(
            exported.contains_key(name),
            "{name} not in /metrics:\n{text}"
        );
    }
    // The agent forward's buffer bound: the default memory buffer's 16 MiB.
    assert_eq!(
        relay.metric("cefrelay_sink_buffer_max_bytes{sink=\"agent\"}"),
        16 * 1024 * 1024
    );
    let golden = read("fixtures/metrics/render.prom");
    for line in text.lines().chain(golden.lines()) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (name, labels) = sample_labels(line);
        if let Some(known) = exported.get_mut(&name) {
            known.extend(labels);
        }
    }
    exported
}

/// The name and label names of a sample line, `name{a="x",b="y \"z\""} 1`.
fn sample_labels(line: &str) -> (String, BTreeSet<String>) {
    let Some((name, rest)) = line.split_once('{') else {
        let name = line.split_whitespace().next().unwrap_or_default();
        return (name.to_string(), BTreeSet::new());
    };
    let mut labels = BTreeSet::new();
    let mut rest = rest;
    while let Some((label, value)) = rest.split_once("=\"") {
        labels.insert(label.trim_start_matches(',').to_string());
        // Past the value's closing quote, escaped quotes inside it skipped.
        let mut end = 0;
        let mut escaped = false;
        for (at, c) in value.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = at;
                    break;
                }
                _ => {}
            }
        }
        rest = &value[end + 1..];
        if rest.starts_with('}') {
            break;
        }
    }
    (name.to_string(), labels)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(project_path(relative)).expect("read file")
}

/// Every panel of a dashboard, those nested in collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// (where, expression) of every query of the dashboard: panel targets and template variables.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a target with an expr");
            queries.push((format!("panel {:?}", panel["title"]), expr.to_string()));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("templating")
    {
        if variable["type"] != "query" {
            continue;
        }
        let definition = variable["definition"].as_str().expect("definition");
        // label_values(<series selector>, <label>): the selector is the query.
        let selector = definition
            .strip_prefix("label_values(")
            .and_then(|rest| rest.rsplit_once(','))
            .map(|(selector, _)| selector)
            .unwrap_or_else(|| panic!("not label_values(…): {definition}"));
        queries.push((
            format!("variable {}", variable["name"]),
            selector.to_string(),
        ));
    }
    queries
}

/// (alert name, expression) of every rule.
fn alert_rules() -> Vec<(String, String)> {
    let rules: serde_norway::Value =
        serde_norway::from_str(&read("deploy/prometheus-alerts.yml")).expect("YAML");
    let mut all = Vec::new();
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .expect("an alerting rule")
                .to_string();
            let expr = rule["expr"].as_str().expect("expr").to_string();
            all.push((name, expr));
        }
    }
    all
}

/// Labels every series has in Prometheus without the relay exporting them: the scrape target's.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

/// `(where, what is wrong)` of the queries that name a metric not in `exported`, or match on a
/// label its samples do not carry (an empty panel all the same).
fn unknown_metrics(
    queries: &[(String, String)],
    exported: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<(String, Vec<String>)> {
    queries
        .iter()
        .filter_map(|(place, expr)| {
            let mut wrong = Vec::new();
            for (name, labels) in selectors(expr) {
                let Some(known) = exported.get(&name) else {
                    wrong.push(name);
                    continue;
                };
                for label in labels {
                    if !known.contains(&label) && !TARGET_LABELS.contains(&label.as_str()) {
                        wrong.push(format!("{name}{{{label}}}"));
                    }
                }
            }
            wrong.dedup();
            (!wrong.is_empty()).then(|| (place.clone(), wrong))
        })
        .collect()
}

#[test]
fn the_dashboard_and_the_alerts_query_only_metrics_the_relay_exports() {
    let exported = exported();
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana-dashboard.json")).expect("dashboard JSON");
    let queries = dashboard_queries(&dashboard);
    assert!(queries.len() > 30, "{} queries", queries.len());
    assert_eq!(unknown_metrics(&queries, &exported), []);
    let alerts = alert_rules();
    assert!(alerts.len() >= 10, "{alerts:?}");
    assert_eq!(unknown_metrics(&alerts, &exported), []);

    // The check itself: a query naming a metric the relay does not export is caught.
    let renamed = [(
        "a renamed metric".to_string(),
        "sum by (sink) (rate(cefrelay_sink_sent_total[5m]))".to_string(),
    )];
    assert_eq!(
        unknown_metrics(&renamed, &exported),
        [(
            "a renamed metric".to_string(),
            vec!["cefrelay_sink_sent_total".to_string()]
        )]
    );
    // And so is a label the metric does not carry.
    let mislabelled = [(
        "a wrong label".to_string(),
        r#"cefrelay_received_frames_total{sink="agent",instance=~".*"}"#.to_string(),
    )];
    assert_eq!(
        unknown_metrics(&mislabelled, &exported),
        [(
            "a wrong label".to_string(),
            vec!["cefrelay_received_frames_total{sink}".to_string()]
        )]
    );
}

#[test]
fn the_dashboard_is_a_grafana_model_on_a_prometheus_datasource_variable() {
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana-dashboard.json")).expect("dashboard JSON");
    assert_eq!(dashboard["uid"], "cefrelay");
    assert!(dashboard["schemaVersion"].as_u64().is_some());
    assert!(
        dashboard["id"].is_null(),
        "id null: Grafana assigns one on import"
    );
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    let datasource = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(datasource["query"], "prometheus");
    let reference = format!("${{{}}}", datasource["name"].as_str().expect("name"));
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = &panel["title"];
        assert!(
            ids.insert(panel["id"].as_u64().expect("id")),
            "{title}: id twice"
        );
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64(), grid["w"].as_u64());
        assert!(
            x.zip(w).is_some_and(|(x, w)| x + w <= 24),
            "{title}: {grid}"
        );
        if panel["type"] == "row" {
            continue;
        }
        // Never a data source of the machine it was made on: the one chosen on import.
        assert_eq!(panel["datasource"]["uid"], reference.as_str(), "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], reference.as_str(), "{title}");
        }
    }
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        assert_eq!(variable["datasource"]["uid"], reference.as_str());
    }
}

/// promtool from .ci/peers (unpacked under .peers/, so no Prometheus server is installed and
/// started with it), or one on PATH; `None` outside CI where neither is there.
fn promtool() -> Option<PathBuf> {
    let unpacked = project_path(".peers/prometheus/usr/bin/promtool");
    if unpacked.exists() {
        return Some(unpacked);
    }
    if Command::new("promtool").arg("--version").output().is_ok() {
        return Some(PathBuf::from("promtool"));
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "promtool is missing; .ci/peers unpacks it (Debian's prometheus package)"
    );
    eprintln!("skipped: promtool is not installed (Debian's prometheus package; .ci/peers)");
    None
}

fn run(promtool: &PathBuf, args: &[&str]) {
    let output = Command::new(promtool)
        .args(args)
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn promtool_accepts_the_alerts_and_sees_each_one_fire() {
    let Some(promtool) = promtool() else { return };
    let rules = project_path("deploy/prometheus-alerts.yml");
    run(
        &promtool,
        &["check", "rules", rules.to_str().expect("utf-8")],
    );
    let tests = project_path("fixtures/prometheus/alerts.test.yml");
    run(
        &promtool,
        &["test", "rules", tests.to_str().expect("utf-8")],
    );
    // Every alert has a test that makes it fire.
    let fixture = read("fixtures/prometheus/alerts.test.yml");
    for (name, _) in alert_rules() {
        assert!(
            fixture.contains(&format!(
                "alertname: {name}\n        exp_alerts:\n          - "
            )),
            "{name} has no promtool test that makes it fire"
        );
    }
}

#[test]
fn promtool_parses_every_query_of_the_dashboard() {
    let Some(promtool) = promtool() else { return };
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana-dashboard.json")).expect("dashboard JSON");
    // As recording rules, with Grafana's variables as Grafana substitutes them.
    let mut file = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (_, expr)) in dashboard_queries(&dashboard).iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*")
            .replace("$sink", ".*");
        file.push_str(&format!(
            "      - record: dashboard:query_{n}\n        expr: {}\n",
            serde_json::to_string(&expr).expect("quoted")
        ));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, file).expect("write rules");
    run(
        &promtool,
        &["check", "rules", path.to_str().expect("utf-8")],
    );
}
