//! deploy/grafana-dashboard.json and deploy/prometheus-alerts.yml against the relay they watch:
//! every metric their queries name must be one a running relay exports (a renamed metric would
//! otherwise leave an empty panel and an alert that can never fire), and promtool (Debian's
//! `prometheus` package, unpacked by .ci/peers) must accept the rules and the dashboard's queries,
//! and see each alert fire on the series of fixtures/prometheus/alerts.test.yml.

use std::collections::BTreeSet;
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

/// The metric names a PromQL expression reads. Skipped: strings, label matchers `{…}`, ranges
/// `[…]`, label lists after `by`/`without`/`on`/`ignoring`/`group_*`, Grafana variables (`$x`,
/// `${x}`), numbers and durations, keywords, and functions (a name followed by `(`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
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
                    names.insert(word);
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    names
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
}

/// Every metric name a running relay exports, from its `# TYPE` lines: every family is declared
/// there even before its first sample (a histogram as its `_bucket`, `_sum` and `_count`).
fn exported_names() -> BTreeSet<String> {
    let agent = RefusingPort::new();
    let relay = Relay::start(agent.port, &[]);
    let text = relay.try_metrics().expect("GET /metrics");
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_string());
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
        assert!(names.contains(name), "{name} not in /metrics:\n{text}");
    }
    names
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

/// `(where, unknown names)` of the queries that name a metric not in `exported`.
fn unknown_metrics(
    queries: &[(String, String)],
    exported: &BTreeSet<String>,
) -> Vec<(String, Vec<String>)> {
    queries
        .iter()
        .filter_map(|(place, expr)| {
            let unknown: Vec<String> = metric_names(expr)
                .into_iter()
                .filter(|name| !exported.contains(name))
                .collect();
            (!unknown.is_empty()).then(|| (place.clone(), unknown))
        })
        .collect()
}

#[test]
fn the_dashboard_and_the_alerts_query_only_metrics_the_relay_exports() {
    let exported = exported_names();
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
