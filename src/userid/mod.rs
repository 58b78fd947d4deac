//! User-ID: the relay learns who is on which address — from a NAC's SQL table and from the
//! authentication syslog it already receives — into one bounded mapping table, and keeps every
//! PAN-OS firewall's (or User-ID agent's) table right through the XML API, each target on its
//! own task so a dead one never holds back another.
//!
//! The table and what each target was told are saved in the state directory, so a restart
//! resumes with the remaining timeouts instead of resending everything or forgetting.

pub mod command;
pub mod sql;
pub mod target;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cefrelay_userid::message::{Login, Logout};
use cefrelay_userid::profile::{Builtin, BuiltinParser, Profile};
use cefrelay_userid::table::{Learned, Settings, Table, Told};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::userid::{self as config, SourceKind, SqlSource, SyslogSource, Userid};
use crate::telemetry::metrics::userid::UseridMetrics;
use sql::{Database, Position, RowMapping};
use target::{PushError, Target};

/// A target is told again about a mapping when what it holds runs out within this.
const REFRESH_WITHIN_SECS: u64 = 10 * 60;
/// How often the table is expired, targets are refreshed and the state is saved.
const MAINTENANCE: Duration = Duration::from_secs(30);
/// A target is pushed to at most this often: the changes of a burst travel together.
const COALESCE: Duration = Duration::from_millis(500);
/// ISE and ClearPass segments of one event wait at most this long for the others.
const REASSEMBLY_WAIT_SECS: u64 = 10;
const REASSEMBLY_PENDING: usize = 10_000;

fn unix(time: OffsetDateTime) -> u64 {
    u64::try_from(time.unix_timestamp()).unwrap_or(0)
}

/// What the state file holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    mappings: Vec<(IpAddr, cefrelay_userid::table::Mapping)>,
    told: BTreeMap<String, Told>,
    /// Where each SQL source's last poll stopped (a time in Unix seconds, or an id): shown by
    /// `GET /userid`. A start reads the whole validity window again regardless, so that the
    /// table is rebuilt from what the NAC says now.
    #[serde(default)]
    cursors: BTreeMap<String, i64>,
}

/// A syslog source with its profiles, ready to read messages.
struct SyslogTap {
    name: String,
    config: SyslogSource,
    profiles: Vec<Profile>,
    /// Built-in parsers keep ISE's segments between messages.
    builtins: Mutex<Vec<BuiltinParser>>,
}

/// The User-ID service of a running relay (or of one `userid sync`).
pub struct Service {
    config: Userid,
    table: Mutex<Table>,
    told: Mutex<BTreeMap<String, Told>>,
    cursors: Mutex<BTreeMap<String, i64>>,
    taps: Vec<SyslogTap>,
    changed: Notify,
    pub metrics: Arc<UseridMetrics>,
    state_file: PathBuf,
}

impl Service {
    pub fn new(config: &Userid, state_dir: &Path, metrics: Arc<UseridMetrics>) -> Service {
        let settings = Settings {
            max_entries: config.max_entries,
            ignore_users: config.ignore_users.clone(),
            default_domain: config.default_domain.clone(),
            source_priority: config.source_priority.clone(),
        };
        let taps = config
            .sources
            .iter()
            .filter_map(|source| match &source.kind {
                SourceKind::Syslog(syslog) => Some(SyslogTap {
                    name: source.name.clone(),
                    profiles: syslog.profiles.clone(),
                    builtins: Mutex::new(
                        syslog
                            .builtin
                            .iter()
                            .filter_map(|name| Builtin::from_name(name))
                            .map(|builtin| {
                                BuiltinParser::new(
                                    builtin,
                                    REASSEMBLY_PENDING,
                                    REASSEMBLY_WAIT_SECS,
                                )
                            })
                            .collect(),
                    ),
                    config: syslog.clone(),
                }),
                SourceKind::Sql(_) => None,
            })
            .collect();
        Service {
            config: config.clone(),
            table: Mutex::new(Table::new(settings)),
            told: Mutex::new(BTreeMap::new()),
            cursors: Mutex::new(BTreeMap::new()),
            taps,
            changed: Notify::new(),
            metrics,
            state_file: state_dir.join("userid").join("state.json"),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn told(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Told>> {
        self.told.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether any syslog source reads messages from `peer`: the pipeline asks before handing
    /// a message over, so other senders cost nothing.
    pub fn listens_to(&self, peer: IpAddr) -> bool {
        self.taps.iter().any(|tap| tap.config.takes_from(peer))
    }

    /// A syslog message from `peer`, before any filter: logins and logouts its sources' profiles
    /// recognise go into the table.
    pub fn observe_syslog(&self, text: &str, peer: IpAddr, now: OffsetDateTime) {
        let now_secs = unix(now);
        for tap in self.taps.iter().filter(|tap| tap.config.takes_from(peer)) {
            let mut seen: Vec<_> = tap
                .profiles
                .iter()
                .filter_map(|p| p.observe(text))
                .collect();
            {
                let mut builtins = tap.builtins.lock().unwrap_or_else(|e| e.into_inner());
                for parser in builtins.iter_mut() {
                    seen.extend(parser.observe(text, now_secs));
                    let given_up = parser.expire(now_secs);
                    self.metrics.reassembly_given_up.add(given_up as u64);
                }
            }
            for observed in seen {
                self.metrics.profile_matched(&observed.profile).inc();
                let timeout = observed.timeout_mins.unwrap_or(tap.config.timeout_mins);
                let mut table = self.table();
                if observed.login {
                    let expires = now_secs + u64::from(timeout) * 60;
                    let learned =
                        table.learn(observed.ip, &observed.user, &tap.name, now_secs, expires);
                    audit(&tap.name, "login", &observed.user, observed.ip, &learned);
                } else if table.forget(observed.ip, Some(&observed.user)).is_some() {
                    tracing::debug!(source = %tap.name, user = %observed.user, ip = %observed.ip, "User-ID logout");
                }
                self.metrics.evictions.add(table.take_evicted());
            }
            self.changed.notify_waiters();
        }
    }

    /// Reads the saved table and what each target was told; mappings that ended while the
    /// relay was down are left out.
    pub fn restore(&self, now: OffsetDateTime) {
        let Ok(text) = std::fs::read_to_string(&self.state_file) else {
            return;
        };
        match serde_json::from_str::<Saved>(&text) {
            Ok(saved) => {
                let count = self.table().restore(saved.mappings, unix(now));
                *self.cursors.lock().unwrap_or_else(|e| e.into_inner()) = saved.cursors;
                let mut told = self.told();
                for (name, mut view) in saved.told {
                    view.expire(unix(now));
                    told.insert(name, view);
                }
                tracing::info!(mappings = count, file = %self.state_file.display(), "User-ID table restored");
            }
            Err(error) => {
                tracing::warn!(%error, file = %self.state_file.display(), "User-ID state file unreadable; starting empty")
            }
        }
    }

    /// Writes the table and the targets' views (a temporary file renamed over the old one, so
    /// a crash leaves one or the other).
    pub fn save(&self) {
        let saved = Saved {
            mappings: self.table().save(),
            told: self.told().clone(),
            cursors: self
                .cursors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        };
        let write = || -> std::io::Result<()> {
            let dir = self
                .state_file
                .parent()
                .expect("the state file is in a directory");
            std::fs::create_dir_all(dir)?;
            let temporary = self.state_file.with_extension("json.tmp");
            std::fs::write(&temporary, serde_json::to_vec(&saved)?)?;
            std::fs::rename(&temporary, &self.state_file)
        };
        if let Err(error) = write() {
            tracing::warn!(%error, file = %self.state_file.display(), "cannot save the User-ID state");
        }
    }

    /// The rows of one poll into the table; returns (rows, mappings learned).
    fn learn_rows(
        &self,
        source: &str,
        config: &SqlSource,
        rows: &[sql::NacRow],
        now: OffsetDateTime,
    ) -> (usize, usize) {
        let mut learned = 0;
        let mut table = self.table();
        for row in rows {
            match sql::row_mapping(config, row, now) {
                RowMapping::Mapping { ip, user, expires } => {
                    let outcome = table.learn(ip, &user, source, unix(now), unix(expires));
                    if !matches!(outcome, Learned::Ignored | Learned::Outranked { .. }) {
                        learned += 1;
                    }
                    audit(source, "login", &user, ip, &outcome);
                }
                RowMapping::BadAddress => self.metrics.sql_bad_rows(source).inc(),
                RowMapping::NoUser | RowMapping::Expired => {}
            }
        }
        self.metrics.evictions.add(table.take_evicted());
        (rows.len(), learned)
    }

    /// Polls an SQL source once from `position`; returns where the next poll starts.
    pub async fn poll_once(
        &self,
        name: &str,
        config: &SqlSource,
        database: &Database,
        position: Position,
        now: OffsetDateTime,
    ) -> anyhow::Result<Position> {
        match database.poll(config, position, now).await {
            Ok(rows) => {
                let (count, learned) = self.learn_rows(name, config, &rows, now);
                self.metrics.sql_polls(name, true).inc();
                self.metrics.sql_rows(name).add(count as u64);
                tracing::debug!(source = %name, rows = count, learned, "User-ID SQL poll");
                self.count_mappings();
                self.changed.notify_waiters();
                let next = position.after(&rows);
                let cursor = match next {
                    Position::Time(time) => time.unix_timestamp(),
                    Position::Id(id) => id,
                };
                self.cursors
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_string(), cursor);
                Ok(next)
            }
            Err(error) => {
                self.metrics.sql_polls(name, false).inc();
                Err(error)
            }
        }
    }

    /// What `target` still needs to be told.
    pub fn changes_for(&self, target: &str, now: OffsetDateTime) -> (Vec<Login>, Vec<Logout>) {
        let table = self.table();
        let told = self.told();
        told.get(target).cloned().unwrap_or_default().changes(
            &table,
            unix(now),
            REFRESH_WITHIN_SECS,
        )
    }

    /// Tells `target` what it still needs; records what it took.
    pub async fn push(
        &self,
        name: &str,
        target: &Target,
        now: OffsetDateTime,
    ) -> Result<(usize, usize), PushError> {
        let (logins, logouts) = self.changes_for(name, now);
        if logins.is_empty() && logouts.is_empty() {
            return Ok((0, 0));
        }
        let result = target.push(&logins, &logouts).await;
        match &result {
            Ok(_) => {
                self.told()
                    .entry(name.to_string())
                    .or_default()
                    .acknowledge(&logins, &logouts, unix(now));
                self.metrics.sent(name, "login").add(logins.len() as u64);
                self.metrics.sent(name, "logout").add(logouts.len() as u64);
                self.metrics
                    .pushed_at(name)
                    .set(unix(OffsetDateTime::now_utc()));
                for login in &logins {
                    tracing::debug!(target_name = %name, user = %login.user, ip = %login.ip, timeout_mins = login.timeout_mins, "User-ID login pushed");
                }
                tracing::info!(target_name = %name, logins = logins.len(), logouts = logouts.len(), "User-ID changes pushed");
            }
            Err(PushError::Rejected {
                code,
                message,
                logins: refused_logins,
                logouts: refused_logouts,
            }) => {
                // A malformed command stays malformed: never sent again. What the target took
                // is recorded; the refused entries are logged for the admin.
                self.told()
                    .entry(name.to_string())
                    .or_default()
                    .acknowledge(&logins, &logouts, unix(now));
                for login in refused_logins {
                    tracing::warn!(target_name = %name, ?code, %message, user = %login.user, ip = %login.ip, "User-ID login refused as malformed; not sent again");
                }
                for logout in refused_logouts {
                    tracing::warn!(target_name = %name, ?code, %message, user = %logout.user, ip = %logout.ip, "User-ID logout refused as malformed; not sent again");
                }
                self.metrics.failed(name, "rejected").inc();
            }
            Err(error) => {
                self.metrics.failed(name, error.reason()).inc();
            }
        }
        result.map(|_| (logins.len(), logouts.len()))
    }

    /// Drops the mappings that ended and what targets hold that ran out by itself.
    fn expire(&self, now: OffsetDateTime) {
        let ended = self.table().expire(unix(now));
        for view in self.told().values_mut() {
            view.expire(unix(now));
        }
        if ended > 0 {
            self.changed.notify_waiters();
        }
        self.count_mappings();
    }

    /// The mapping table as JSON, for `GET /userid` and `cefrelay userid show`.
    pub fn mappings_json(&self) -> String {
        let table = self.table();
        let entries: Vec<serde_json::Value> = table
            .entries()
            .into_iter()
            .map(|(ip, mapping)| {
                serde_json::json!({
                    "ip": ip.to_string(),
                    "user": mapping.user,
                    "source": mapping.source,
                    "learned": mapping.learned,
                    "expires": mapping.expires,
                })
            })
            .collect();
        let cursors = self
            .cursors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        serde_json::json!({ "mappings": entries, "cursors": cursors }).to_string()
    }

    /// Publishes the mappings per source to the metrics.
    fn count_mappings(&self) {
        let by_source = self
            .table()
            .by_source()
            .into_iter()
            .map(|(source, count)| (source.to_string(), count as u64))
            .collect();
        self.metrics.set_mappings(by_source);
    }

    /// Runs every SQL source, every target and the maintenance until `stop`, then saves.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for source in &self.config.sources {
            if let SourceKind::Sql(config) = &source.kind {
                let service = self.clone();
                let (name, config, stop) = (source.name.clone(), config.clone(), stop.clone());
                tasks.spawn(async move { service.poll_forever(&name, &config, stop).await });
            }
        }
        for target in &self.config.targets {
            let service = self.clone();
            let (config, stop) = (target.clone(), stop.clone());
            tasks.spawn(async move { service.push_forever(&config, stop).await });
        }
        let mut tick = tokio::time::interval(MAINTENANCE);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.expire(OffsetDateTime::now_utc());
                    self.save();
                }
                () = stop.cancelled() => break,
            }
        }
        while tasks.join_next().await.is_some() {}
        self.save();
    }

    async fn poll_forever(&self, name: &str, config: &SqlSource, stop: CancellationToken) {
        let database = match Database::connect(config) {
            Ok(database) => database,
            Err(error) => {
                tracing::error!(source = %name, error = format!("{error:#}"), "User-ID SQL source not started");
                return;
            }
        };
        let mut position = Position::start(config, OffsetDateTime::now_utc());
        let mut failures = 0u32;
        loop {
            let wait = match self
                .poll_once(name, config, &database, position, OffsetDateTime::now_utc())
                .await
            {
                Ok(next) => {
                    position = next;
                    failures = 0;
                    config.interval
                }
                Err(error) => {
                    failures += 1;
                    let wait = sql::retry_after(config.interval, failures);
                    tracing::warn!(source = %name, error = format!("{error:#}"), retry_in_secs = wait.as_secs(), "User-ID SQL poll failed; the relay keeps serving");
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = stop.cancelled() => break,
            }
        }
        database.close().await;
    }

    async fn push_forever(&self, config: &config::UseridTarget, stop: CancellationToken) {
        let target = match Target::new(config) {
            Ok(target) => target,
            Err(error) => {
                tracing::error!(target_name = %config.name, error = format!("{error:#}"), "User-ID target not started");
                self.metrics.stopped(&config.name, &format!("{error:#}"));
                return;
            }
        };
        loop {
            // Registered before pushing, so a change made meanwhile wakes the next round.
            let changed = self.changed.notified();
            match self
                .push(&config.name, &target, OffsetDateTime::now_utc())
                .await
            {
                // What the target took is saved at once: a crash right after must not make a
                // restart send it again.
                Ok((0, 0)) => {}
                Ok(_) => self.save(),
                Err(PushError::Stopped { reason }) => {
                    tracing::error!(target_name = %config.name, %reason, "User-ID target stopped: fix its key or rights, then restart");
                    self.metrics.stopped(&config.name, &reason);
                    return;
                }
                Err(error) => {
                    tracing::warn!(target_name = %config.name, %error, "User-ID push failed; the next round tries again");
                }
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep(MAINTENANCE) => {}
                () = stop.cancelled() => return,
            }
            // Changes that come in a burst (a poll's rows, a flood of logins) go in one push.
            tokio::select! {
                () = tokio::time::sleep(COALESCE) => {}
                () = stop.cancelled() => return,
            }
        }
    }
}

/// One change, audited: every login goes to the log (debug), with the source that vouched.
fn audit(source: &str, kind: &str, user: &str, ip: IpAddr, learned: &Learned) {
    match learned {
        Learned::Ignored => tracing::trace!(%source, %user, %ip, "User-ID: ignored user"),
        Learned::Outranked { holder } => {
            tracing::debug!(%source, %user, %ip, %holder, "User-ID: a higher-priority source holds this address")
        }
        _ => tracing::debug!(%source, %kind, %user, %ip, ?learned, "User-ID mapping"),
    }
}
