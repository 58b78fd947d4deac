//! `cefrelay top`: the running relay at a glance, like `vector top`. Each second it scrapes the
//! admin endpoint's `/metrics` and `/peers`, and shows the rates between two scrapes per listener,
//! sender, filter decision and sink, with buffers and errors. On a terminal it is a full-screen
//! view (ratatui); with `--once`, or when standard output is not a terminal, the same tables are
//! printed as plain text after one interval.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Row, Table};
use ratatui::Frame;
use serde_json::Value;

use super::prometheus::{self, Sample};
use super::{admin_address, get};
use crate::cli::TopArgs;
use crate::sanitize::for_terminal;
use crate::telemetry::admin::Client;

const INTERVAL: Duration = Duration::from_secs(1);
/// Senders shown one by one, busiest first; the rest share one row.
const MAX_SENDERS: usize = 10;

pub fn run(args: &TopArgs) -> anyhow::Result<u8> {
    let admin = match admin_address(&args.admin)? {
        Ok(admin) => admin,
        Err(code) => return Ok(code),
    };
    // The first scrape says at once, before the terminal is taken over, when no relay answers.
    let first = Scrape::take(&admin)?;
    if args.once || !std::io::stdout().is_terminal() {
        std::thread::sleep(INTERVAL);
        let view = View::between(admin.address, &first, &Scrape::take(&admin)?);
        print!("{}", view.plain_text());
        return Ok(0);
    }
    let mut terminal = match ratatui::try_init() {
        Ok(terminal) => terminal,
        Err(error) => {
            ratatui::restore();
            return Err(error).context("cannot take over the terminal");
        }
    };
    let shown = watch(&mut terminal, &admin, first);
    ratatui::restore();
    shown.map(|()| 0)
}

/// Redraws each interval until `q`, Esc or Ctrl-C; a relay that stops answering is said on the
/// screen, and the view comes back when it answers again.
fn watch(
    terminal: &mut ratatui::DefaultTerminal,
    admin: &Client,
    first: Scrape,
) -> anyhow::Result<()> {
    let mut before = first;
    let mut view = View::between(admin.address, &before, &before);
    let mut problem: Option<String> = None;
    let mut next = Instant::now() + INTERVAL;
    loop {
        terminal.draw(|frame| view.draw(frame, problem.as_deref()))?;
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            if let Event::Key(key) = event::read()? {
                let ctrl_c =
                    key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                if key.kind == KeyEventKind::Press
                    && (ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc))
                {
                    return Ok(());
                }
            }
            continue;
        }
        next = Instant::now() + INTERVAL;
        match Scrape::take(admin) {
            Ok(after) => {
                view = View::between(admin.address, &before, &after);
                before = after;
                problem = None;
            }
            Err(error) => problem = Some(for_terminal(&format!("{error:#}")).into_owned()),
        }
    }
}

/// What the admin endpoint said at one moment.
struct Scrape {
    at: Instant,
    metrics: Vec<Sample>,
    peers: Value,
}

impl Scrape {
    fn take(admin: &Client) -> anyhow::Result<Scrape> {
        let metrics = prometheus::parse(&get(admin, "/metrics")?);
        let peers = serde_json::from_str(&get(admin, "/peers")?)
            .with_context(|| format!("http://{admin}/peers is not JSON"))?;
        Ok(Scrape {
            at: Instant::now(),
            metrics,
            peers,
        })
    }

    /// The sum of the samples named `name` whose label `label` (if given) has that value.
    fn sum(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        self.metrics
            .iter()
            .filter(|s| s.name == name && label.is_none_or(|(key, value)| s.label(key) == value))
            // A fold from 0.0, not `sum`: the sum of nothing is -0.0, which would print as "-0".
            .fold(0.0, |total, s| total + s.value)
    }

    /// The values label `key` takes on metric `name`, in the order the relay writes them.
    fn label_values(&self, name: &str, key: &str) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for sample in self.metrics.iter().filter(|s| s.name == name) {
            if !values.iter().any(|v| v == sample.label(key)) {
                values.push(sample.label(key).to_string());
            }
        }
        values
    }

    fn one(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value)
    }
}

/// Two scrapes, for rates.
struct Between<'s> {
    before: &'s Scrape,
    after: &'s Scrape,
    seconds: f64,
}

impl Between<'_> {
    /// Per second, the growth of the counters `names` (with label `label`), added up; a counter
    /// that went back (the relay restarted) counts as no growth.
    fn rate(&self, names: &[&str], label: Option<(&str, &str)>) -> f64 {
        if self.seconds <= 0.0 {
            return 0.0;
        }
        names
            .iter()
            .map(|name| (self.after.sum(name, label) - self.before.sum(name, label)).max(0.0))
            .sum::<f64>()
            / self.seconds
    }

    fn peer_rate(&self, address: Option<&str>, field: &str) -> f64 {
        let count = |scrape: &Scrape| {
            let counts = match address {
                Some(address) => &scrape.peers["peers"][address],
                None => &scrape.peers["other"],
            };
            counts[field].as_f64().unwrap_or(0.0)
        };
        if self.seconds <= 0.0 {
            return 0.0;
        }
        (count(self.after) - count(self.before)).max(0.0) / self.seconds
    }
}

/// One table of the view.
struct Section {
    title: &'static str,
    header: &'static [&'static str],
    rows: Vec<Vec<String>>,
}

impl Section {
    /// Each column's width: its widest cell or heading.
    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }
}

struct View {
    /// The relay: where, which version, its CPU and memory.
    about: String,
    sections: Vec<Section>,
}

const LISTENER_ERRORS: [&str; 6] = [
    "cefrelay_malformed_frames_total",
    "cefrelay_oversized_frames_total",
    "cefrelay_queue_full_drops_total",
    "cefrelay_udp_kernel_drops",
    "cefrelay_tls_handshake_failures_total",
    "cefrelay_connections_rejected_total",
];
const PEER_DROPS: [&str; 4] = [
    "dropped_traffic",
    "dropped_not_cef",
    "dropped_invalid_cef",
    "dropped_other",
];

impl View {
    fn between(admin: SocketAddr, before: &Scrape, after: &Scrape) -> View {
        let span = Between {
            before,
            after,
            seconds: after.at.duration_since(before.at).as_secs_f64(),
        };
        View {
            about: about(admin, &span),
            sections: vec![
                listeners(&span),
                senders(&span),
                decisions(&span),
                sinks(&span),
            ],
        }
    }

    fn plain_text(&self) -> String {
        let mut text = format!("{}\n", self.about);
        for section in &self.sections {
            text.push_str(&format!("\n{}\n", section.title));
            let widths = section.widths();
            let header: Vec<String> = section.header.iter().map(|h| h.to_string()).collect();
            for row in std::iter::once(&header).chain(&section.rows) {
                let cells: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .enumerate()
                    .map(|(column, (cell, width))| match column {
                        0 => format!("{cell:<width$}"),
                        _ => format!("{cell:>width$}"),
                    })
                    .collect();
                text.push_str(cells.join("  ").trim_end());
                text.push('\n');
            }
            if section.rows.is_empty() {
                text.push_str("(none yet)\n");
            }
        }
        text
    }

    fn draw(&self, frame: &mut Frame<'_>, problem: Option<&str>) {
        let status = match problem {
            Some(problem) => format!("{problem} (showing the last answer)"),
            None => format!("{} · refreshed every second · q quits", self.about),
        };
        let mut heights = vec![Constraint::Length(1)];
        heights.extend(
            self.sections
                .iter()
                .map(|section| Constraint::Length(section.rows.len().max(1) as u16 + 3)),
        );
        heights.push(Constraint::Min(0));
        let areas = Layout::vertical(heights).split(frame.area());
        frame.render_widget(Paragraph::new(status), areas[0]);
        for (section, area) in self.sections.iter().zip(areas.iter().skip(1)) {
            let widths = section
                .widths()
                .into_iter()
                .map(|width| Constraint::Length(width as u16));
            let rows = section.rows.iter().map(|row| aligned(row));
            let header: Vec<String> = section.header.iter().map(|h| h.to_string()).collect();
            let table = Table::new(rows, widths)
                .header(aligned(&header).style(Style::default().add_modifier(Modifier::BOLD)))
                .column_spacing(2)
                .block(Block::bordered().title(section.title));
            frame.render_widget(table, *area);
        }
    }
}

/// A row as the plain text has it: the name on the left, the numbers on the right.
fn aligned(cells: &[String]) -> Row<'static> {
    Row::new(cells.iter().enumerate().map(|(column, cell)| {
        let line = Line::from(cell.clone());
        match column {
            0 => line,
            _ => line.right_aligned(),
        }
    }))
}

fn about(admin: SocketAddr, span: &Between<'_>) -> String {
    let after = span.after;
    let version = after
        .metrics
        .iter()
        .find(|s| s.name == "cefrelay_build_info")
        .map_or_else(
            || "cefrelay".to_string(),
            |info| {
                format!(
                    "cefrelay {} ({})",
                    for_terminal(info.label("version")),
                    for_terminal(info.label("commit"))
                )
            },
        );
    let cpu = span.rate(&["process_cpu_seconds_total"], None) * 100.0;
    let memory = after
        .one("process_resident_memory_bytes")
        .map_or_else(|| "-".into(), bytes);
    format!("{version} at http://{admin} · cpu {cpu:.1}% · memory {memory}")
}

fn listeners(span: &Between<'_>) -> Section {
    let frames = "cefrelay_received_frames_total";
    let rows = span
        .after
        .label_values(frames, "listener")
        .into_iter()
        .map(|listener| {
            let this = Some(("listener", listener.as_str()));
            vec![
                for_terminal(&listener).into_owned(),
                rate(span.rate(&[frames], this)),
                bytes(span.rate(&["cefrelay_received_bytes_total"], this)),
                count(span.after.sum("cefrelay_connections_active", this)),
                rate(span.rate(&LISTENER_ERRORS, this)),
            ]
        })
        .collect();
    Section {
        title: "Listeners",
        header: &["listener", "events/s", "bytes/s", "connections", "errors/s"],
        rows,
    }
}

fn senders(span: &Between<'_>) -> Section {
    let peers = span.after.peers["peers"].as_object();
    // (received/s, forwarded/s, dropped/s, received) of each sender, busiest first.
    let mut rates: Vec<(String, [f64; 4])> = peers
        .into_iter()
        .flatten()
        .map(|(address, counts)| {
            let row = [
                span.peer_rate(Some(address), "received"),
                span.peer_rate(Some(address), "forwarded"),
                PEER_DROPS
                    .iter()
                    .map(|field| span.peer_rate(Some(address), field))
                    .sum(),
                counts["received"].as_f64().unwrap_or(0.0),
            ];
            (for_terminal(address).into_owned(), row)
        })
        .collect();
    let other = span.after.peers["other"]["received"]
        .as_f64()
        .unwrap_or(0.0);
    if other > 0.0 {
        let row = [
            span.peer_rate(None, "received"),
            span.peer_rate(None, "forwarded"),
            PEER_DROPS.iter().map(|f| span.peer_rate(None, f)).sum(),
            other,
        ];
        rates.push(("(senders beyond the relay's table)".into(), row));
    }
    rates.sort_by(|a, b| b.1[0].total_cmp(&a.1[0]).then(b.1[3].total_cmp(&a.1[3])));
    if rates.len() > MAX_SENDERS {
        let rest = rates.split_off(MAX_SENDERS - 1);
        let mut sum = [0.0; 4];
        for (_, row) in &rest {
            for (total, value) in sum.iter_mut().zip(row) {
                *total += value;
            }
        }
        rates.push((format!("({} more)", rest.len()), sum));
    }
    let rows = rates
        .into_iter()
        .map(|(sender, [received, forwarded, dropped, total])| {
            vec![
                sender,
                rate(received),
                rate(forwarded),
                rate(dropped),
                count(total),
            ]
        })
        .collect();
    Section {
        title: "Senders",
        header: &[
            "sender",
            "received/s",
            "forwarded/s",
            "dropped/s",
            "received",
        ],
        rows,
    }
}

fn decisions(span: &Between<'_>) -> Section {
    let filter = "cefrelay_filter_total";
    let rows = span
        .after
        .metrics
        .iter()
        .filter(|s| s.name == filter && s.value > 0.0)
        .map(|sample| {
            let this = Some(("reason", sample.label("reason")));
            vec![
                for_terminal(sample.label("reason")).into_owned(),
                for_terminal(sample.label("action")).into_owned(),
                rate(span.rate(&[filter], this)),
                count(sample.value),
            ]
        })
        .collect();
    Section {
        title: "Filter decisions",
        header: &["decision", "action", "events/s", "total"],
        rows,
    }
}

fn sinks(span: &Between<'_>) -> Section {
    let sent = "cefrelay_sink_sent_events_total";
    let rows = span
        .after
        .label_values(sent, "sink")
        .into_iter()
        .map(|sink| {
            let this = Some(("sink", sink.as_str()));
            let gauge = |name: &str| span.after.sum(name, this);
            vec![
                for_terminal(&sink).into_owned(),
                rate(span.rate(&[sent], this)),
                bytes(span.rate(&["cefrelay_sink_sent_bytes_total"], this)),
                rate(span.rate(&["cefrelay_sink_send_errors_total"], this)),
                rate(span.rate(&["cefrelay_sink_dropped_events_total"], this)),
                count(gauge("cefrelay_sink_queue_depth")),
                bytes(gauge("cefrelay_sink_buffered_bytes")),
                format!("{:.1}s", gauge("cefrelay_sink_oldest_event_age_seconds")),
                if gauge("cefrelay_sink_connected") > 0.0 {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
            ]
        })
        .collect();
    Section {
        title: "Sinks",
        header: &[
            "sink",
            "sent/s",
            "bytes/s",
            "errors/s",
            "dropped/s",
            "queued",
            "buffered",
            "oldest",
            "connected",
        ],
        rows,
    }
}

fn rate(per_second: f64) -> String {
    format!("{per_second:.1}")
}

fn count(value: f64) -> String {
    format!("{value:.0}")
}

fn bytes(value: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = value;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{value:.0}{}", UNITS[0]),
        _ => format!("{value:.1}{}", UNITS[unit]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(at: Instant, metrics: &str, peers: Value) -> Scrape {
        Scrape {
            at,
            metrics: prometheus::parse(metrics),
            peers,
        }
    }

    #[test]
    fn rates_are_growth_per_second_between_two_scrapes() {
        let start = Instant::now();
        let before = scrape(
            start,
            "cefrelay_received_frames_total{listener=\"udp://0.0.0.0:514\"} 100\n\
             cefrelay_filter_total{action=\"drop\",reason=\"traffic\"} 10\n",
            serde_json::json!({"peers": {"192.0.2.1": {"received": 100, "forwarded": 90}},
                               "other": {"received": 0}}),
        );
        let after = scrape(
            start + Duration::from_secs(2),
            "cefrelay_received_frames_total{listener=\"udp://0.0.0.0:514\"} 300\n\
             cefrelay_filter_total{action=\"drop\",reason=\"traffic\"} 50\n\
             cefrelay_filter_total{action=\"forward\",reason=\"cef\"} 0\n",
            serde_json::json!({"peers": {"192.0.2.1": {"received": 300, "forwarded": 250,
                                                        "dropped_traffic": 40}},
                               "other": {"received": 0}}),
        );
        let view = View::between("127.0.0.1:9514".parse().unwrap(), &before, &after);
        let text = view.plain_text();
        assert!(
            text.contains("udp://0.0.0.0:514     100.0       0B            0"),
            "{text}"
        );
        assert!(
            text.contains("192.0.2.1       100.0         80.0       20.0       300"),
            "{text}"
        );
        assert!(text.contains("traffic     drop      20.0     50"), "{text}");
        assert!(
            !text.contains("cef "),
            "a decision never made is left out: {text}"
        );
        assert!(text.contains("Sinks\nsink"), "{text}");
    }

    #[test]
    fn a_counter_that_went_back_is_no_growth() {
        let start = Instant::now();
        let metric = |n: u32| format!("cefrelay_sink_sent_events_total{{sink=\"agent\"}} {n}\n");
        let before = scrape(start, &metric(500), Value::Null);
        let after = scrape(start + INTERVAL, &metric(3), Value::Null);
        let span = Between {
            before: &before,
            after: &after,
            seconds: 1.0,
        };
        assert_eq!(span.rate(&["cefrelay_sink_sent_events_total"], None), 0.0);
    }

    #[test]
    fn busy_senders_come_first_and_the_rest_share_a_row() {
        let start = Instant::now();
        let counts = |scale: u64| {
            let peers: serde_json::Map<String, Value> = (0..MAX_SENDERS as u64 + 5)
                .map(|n| {
                    (
                        format!("192.0.2.{n}"),
                        serde_json::json!({"received": n * scale}),
                    )
                })
                .collect();
            serde_json::json!({"peers": peers, "other": {}})
        };
        let before = scrape(start, "", counts(0));
        let after = scrape(start + INTERVAL, "", counts(1));
        let span = Between {
            before: &before,
            after: &after,
            seconds: 1.0,
        };
        let section = senders(&span);
        assert_eq!(section.rows.len(), MAX_SENDERS);
        assert_eq!(section.rows[0][0], "192.0.2.14");
        assert_eq!(section.rows[MAX_SENDERS - 1][0], "(6 more)");
        assert_eq!(section.rows[MAX_SENDERS - 1][1], "15.0", "0+1+…+5");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(512.0), "512B");
        assert_eq!(bytes(1536.0), "1.5KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0MiB");
    }
}
