//! What User-ID did: mappings by source, SQL polls, profile matches, and per target the logins
//! and logouts sent, the failures by reason, the age of the last good push, and whether it
//! stopped (a bad key: `/health` says so).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock};

use super::{Counter, Family, Gauge};

type Registry<T> = Mutex<BTreeMap<Vec<String>, Arc<T>>>;

/// The mapping table as JSON, from the running service (`GET /userid`).
pub type MappingsView = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Default)]
pub struct UseridMetrics {
    counters: Registry<Counter>,
    gauges: Registry<Gauge>,
    /// Mappings held, by source (set by the service as it changes the table).
    mappings: Mutex<BTreeMap<String, u64>>,
    /// Targets that stopped, and why.
    stopped: Mutex<BTreeMap<String, String>>,
    pub evictions: Counter,
    /// ISE/ClearPass events whose segments never all arrived.
    pub reassembly_given_up: Counter,
    /// Set when a service runs: `GET /userid` answers with it.
    pub view: OnceLock<MappingsView>,
}

impl std::fmt::Debug for UseridMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UseridMetrics").finish_non_exhaustive()
    }
}

const PROFILE_MATCHED: Family = Family::counter(
    "cefrelay_userid_profile_matched_total",
    "Syslog messages a User-ID parse profile recognised, by profile",
);
const SQL_POLLS: Family = Family::counter(
    "cefrelay_userid_sql_polls_total",
    "User-ID SQL polls, by source and result",
);
const SQL_ROWS: Family = Family::counter(
    "cefrelay_userid_sql_rows_total",
    "Rows User-ID SQL polls read, by source",
);
const SQL_BAD_ROWS: Family = Family::counter(
    "cefrelay_userid_sql_bad_rows_total",
    "Rows whose address column holds no IP address, by source",
);
const SENT: Family = Family::counter(
    "cefrelay_userid_sent_total",
    "User-ID logins and logouts a target took, by target and kind",
);
const FAILED: Family = Family::counter(
    "cefrelay_userid_failed_total",
    "User-ID pushes that failed, by target and reason",
);
const LAST_PUSH: Family = Family::gauge(
    "cefrelay_userid_last_push_age_seconds",
    "Seconds since a target last took a push (absent before the first)",
);
const MAPPINGS: Family = Family::gauge(
    "cefrelay_userid_mappings",
    "User-ID mappings held, by source",
);
const EVICTIONS: Family = Family::counter(
    "cefrelay_userid_evictions_total",
    "User-ID mappings evicted because the table was full",
);
const REASSEMBLY_GIVEN_UP: Family = Family::counter(
    "cefrelay_userid_reassembly_given_up_total",
    "ISE or ClearPass events whose segments did not all arrive within the wait",
);
const STOPPED: Family = Family::gauge(
    "cefrelay_userid_target_stopped",
    "1 for a User-ID target that stopped (bad key or rights) until a restart",
);

impl UseridMetrics {
    fn counter(&self, family: &Family, labels: &[&str]) -> Arc<Counter> {
        let mut key = vec![family.name.to_string()];
        key.extend(labels.iter().map(|l| l.to_string()));
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters.entry(key).or_default().clone()
    }

    pub fn profile_matched(&self, profile: &str) -> Arc<Counter> {
        self.counter(&PROFILE_MATCHED, &[profile])
    }

    pub fn sql_polls(&self, source: &str, ok: bool) -> Arc<Counter> {
        self.counter(&SQL_POLLS, &[source, if ok { "ok" } else { "failed" }])
    }

    pub fn sql_rows(&self, source: &str) -> Arc<Counter> {
        self.counter(&SQL_ROWS, &[source])
    }

    pub fn sql_bad_rows(&self, source: &str) -> Arc<Counter> {
        self.counter(&SQL_BAD_ROWS, &[source])
    }

    pub fn sent(&self, target: &str, kind: &str) -> Arc<Counter> {
        self.counter(&SENT, &[target, kind])
    }

    pub fn failed(&self, target: &str, reason: &str) -> Arc<Counter> {
        self.counter(&FAILED, &[target, reason])
    }

    /// When `target` last took a push (Unix seconds).
    pub fn pushed_at(&self, target: &str) -> Arc<Gauge> {
        let mut gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        gauges.entry(vec![target.to_string()]).or_default().clone()
    }

    pub fn set_mappings(&self, by_source: BTreeMap<String, u64>) {
        *self.mappings.lock().unwrap_or_else(|e| e.into_inner()) = by_source;
    }

    pub fn stopped(&self, target: &str, reason: &str) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        stopped.insert(target.to_string(), reason.to_string());
    }

    /// Targets that stopped, with why: `/health` reports them.
    pub fn stopped_targets(&self) -> Vec<String> {
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        stopped
            .iter()
            .map(|(t, why)| format!("{t} ({why})"))
            .collect()
    }

    pub(super) fn render(&self, out: &mut String, now_unix: u64) {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let labels: [(&Family, &[&str]); 6] = [
            (&PROFILE_MATCHED, &["profile"]),
            (&SQL_POLLS, &["source", "result"]),
            (&SQL_ROWS, &["source"]),
            (&SQL_BAD_ROWS, &["source"]),
            (&SENT, &["target", "kind"]),
            (&FAILED, &["target", "reason"]),
        ];
        for (family, names) in labels {
            let rows: Vec<_> = counters
                .iter()
                .filter(|(key, _)| key[0] == family.name)
                .collect();
            if rows.is_empty() {
                continue;
            }
            family.header(out);
            for (key, counter) in rows {
                let pairs: Vec<String> = names
                    .iter()
                    .zip(&key[1..])
                    .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
                    .collect();
                let _ = writeln!(
                    out,
                    "{}{{{}}} {}",
                    family.name,
                    pairs.join(","),
                    counter.get()
                );
            }
        }
        drop(counters);
        let gauges = self.gauges.lock().unwrap_or_else(|e| e.into_inner());
        if !gauges.is_empty() {
            LAST_PUSH.header(out);
            for (key, at) in gauges.iter().filter(|(_, at)| at.get() > 0) {
                let age = now_unix.saturating_sub(at.get());
                let _ = writeln!(
                    out,
                    "{}{{target=\"{}\"}} {age}",
                    LAST_PUSH.name,
                    escape(&key[0])
                );
            }
        }
        drop(gauges);
        let mappings = self.mappings.lock().unwrap_or_else(|e| e.into_inner());
        if !mappings.is_empty() {
            MAPPINGS.header(out);
            for (source, count) in mappings.iter() {
                let _ = writeln!(
                    out,
                    "{}{{source=\"{}\"}} {count}",
                    MAPPINGS.name,
                    escape(source)
                );
            }
        }
        drop(mappings);
        let stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        if !stopped.is_empty() {
            STOPPED.header(out);
            for target in stopped.keys() {
                let _ = writeln!(out, "{}{{target=\"{}\"}} 1", STOPPED.name, escape(target));
            }
        }
        for (family, counter) in [
            (&EVICTIONS, &self.evictions),
            (&REASSEMBLY_GIVEN_UP, &self.reassembly_given_up),
        ] {
            family.header(out);
            let _ = writeln!(out, "{} {}", family.name, counter.get());
        }
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
