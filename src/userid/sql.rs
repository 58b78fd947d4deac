//! A NAC's table of who is on which address, polled: MySQL/MariaDB or PostgreSQL through sqlx
//! (no compile-time macros: the query is the admin's), every value bound, never pasted into the
//! query text. Each poll reads from where the last stopped (`$cursor`); the first reads the
//! whole validity window, so a restart rebuilds what is still true.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::mysql::{MySqlPool, MySqlRow};
use sqlx::postgres::{PgPool, PgRow};
use sqlx::Row;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::config::userid::{Cursor, SqlParam, SqlSource};

/// One row, as the source's columns give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NacRow {
    pub ip: String,
    pub user: Option<String>,
    pub time: OffsetDateTime,
    pub id: Option<i64>,
}

/// A row's mapping, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowMapping {
    /// `user` is at `ip` until `expires`.
    Mapping {
        ip: IpAddr,
        user: String,
        expires: OffsetDateTime,
    },
    /// A user value that means nobody (`null`, empty).
    NoUser,
    /// Its window has already passed.
    Expired,
    /// The address column holds no IP address.
    BadAddress,
}

/// What `row` maps, by the source's rules: the user is the text before the first `user_split`
/// (`"USER,ROLE1,ROLE2"`), `ignore_values` mean nobody, and the mapping holds for `valid_for`
/// after the row's time.
pub fn row_mapping(source: &SqlSource, row: &NacRow, now: OffsetDateTime) -> RowMapping {
    let Ok(ip) = row.ip.trim().parse::<IpAddr>() else {
        return RowMapping::BadAddress;
    };
    let whole = row.user.as_deref().unwrap_or_default().trim();
    let user = match &source.user_split {
        Some(separator) => whole.split(separator.as_str()).next().unwrap_or_default(),
        None => whole,
    }
    .trim();
    if row.user.is_none()
        || source
            .ignore_values
            .iter()
            .any(|v| v.eq_ignore_ascii_case(user))
    {
        return RowMapping::NoUser;
    }
    let expires = row.time + source.valid_for;
    if expires <= now {
        return RowMapping::Expired;
    }
    RowMapping::Mapping {
        ip,
        user: user.to_string(),
        expires,
    }
}

/// Where the next poll starts: after this time, or this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Time(OffsetDateTime),
    Id(i64),
}

impl Position {
    /// The start of the validity window: what the first poll reads from.
    pub fn start(source: &SqlSource, now: OffsetDateTime) -> Position {
        match source.cursor {
            Cursor::Time => Position::Time(now - source.valid_for),
            Cursor::Id => Position::Id(0),
        }
    }

    /// The position after `rows`.
    pub fn after(self, rows: &[NacRow]) -> Position {
        match self {
            Position::Time(since) => Position::Time(
                rows.iter()
                    .map(|r| r.time)
                    .max()
                    .unwrap_or(since)
                    .max(since),
            ),
            Position::Id(since) => Position::Id(
                rows.iter()
                    .filter_map(|r| r.id)
                    .max()
                    .unwrap_or(since)
                    .max(since),
            ),
        }
    }
}

/// An open connection pool to the source's database.
pub enum Database {
    MySql(MySqlPool),
    Postgres(PgPool),
}

impl Database {
    /// Connects lazily: a database that is down fails the poll, not the start.
    pub fn connect(source: &SqlSource) -> anyhow::Result<Database> {
        let url = source.url.value.as_str();
        // One connection: a poll is one query every few minutes.
        // The URL holds a password: errors name the source, never the URL.
        if url.starts_with("postgres") {
            let options = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(source.query_timeout);
            Ok(Database::Postgres(options.connect_lazy(url).map_err(
                |e| {
                    anyhow::anyhow!(
                        "the PostgreSQL URL from {} is not valid: {}",
                        source.url.from,
                        sanitize(&e)
                    )
                },
            )?))
        } else {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let options = sqlx::mysql::MySqlPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(source.query_timeout);
            Ok(Database::MySql(options.connect_lazy(&url).map_err(
                |e| {
                    anyhow::anyhow!(
                        "the MySQL URL from {} is not valid: {}",
                        source.url.from,
                        sanitize(&e)
                    )
                },
            )?))
        }
    }

    /// Runs the source's query from `position`, within the query timeout.
    pub async fn poll(
        &self,
        source: &SqlSource,
        position: Position,
        now: OffsetDateTime,
    ) -> anyhow::Result<Vec<NacRow>> {
        let run = async {
            match self {
                Database::MySql(pool) => {
                    let mut query = sqlx::query(&source.query);
                    for param in &source.params {
                        query = match bound(param, source, position, now) {
                            Bound::Text(text) => query.bind(text),
                            Bound::Integer(n) => query.bind(n),
                            Bound::Time(t) => {
                                query.bind(PrimitiveDateTime::new(t.date(), t.time()))
                            }
                        };
                    }
                    let rows = query.fetch_all(pool).await?;
                    rows.iter()
                        .map(|row| mysql_row(row, source))
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                }
                Database::Postgres(pool) => {
                    let mut query = sqlx::query(&source.query);
                    for param in &source.params {
                        query = match bound(param, source, position, now) {
                            Bound::Text(text) => query.bind(text),
                            Bound::Integer(n) => query.bind(n),
                            Bound::Time(t) => query.bind(t),
                        };
                    }
                    let rows = query.fetch_all(pool).await?;
                    rows.iter()
                        .map(|row| pg_row(row, source))
                        .collect::<Result<Vec<_>, sqlx::Error>>()
                }
            }
        };
        match tokio::time::timeout(source.query_timeout, run).await {
            Ok(result) => result.map_err(|e: sqlx::Error| anyhow::anyhow!("{}", sanitize(&e))),
            Err(_) => anyhow::bail!(
                "the query took longer than {} s",
                source.query_timeout.as_secs()
            ),
        }
    }

    pub async fn close(&self) {
        match self {
            Database::MySql(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

/// A parameter's value for this poll.
enum Bound {
    Text(String),
    Integer(i64),
    /// In UTC.
    Time(OffsetDateTime),
}

fn bound(param: &SqlParam, source: &SqlSource, position: Position, now: OffsetDateTime) -> Bound {
    match param {
        SqlParam::Text(text) => Bound::Text(text.clone()),
        SqlParam::Integer(n) => Bound::Integer(*n),
        SqlParam::WindowStart => Bound::Time(now - source.valid_for),
        SqlParam::Cursor => match position {
            Position::Time(time) => Bound::Time(time),
            Position::Id(id) => Bound::Integer(id),
        },
    }
}

/// sqlx errors can quote the connection string; keep only the first line, and never a URL.
fn sanitize(error: &sqlx::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default();
    if first.contains("://") {
        "cannot connect (the details would show the URL)".to_string()
    } else {
        first.to_string()
    }
}

/// A time column: TIMESTAMP (UTC) or DATETIME (taken as UTC).
fn mysql_time(row: &MySqlRow, column: &str) -> Result<OffsetDateTime, sqlx::Error> {
    row.try_get::<OffsetDateTime, _>(column).or_else(|_| {
        row.try_get::<PrimitiveDateTime, _>(column)
            .map(|t| t.assume_utc())
    })
}

fn mysql_row(row: &MySqlRow, source: &SqlSource) -> Result<NacRow, sqlx::Error> {
    let columns = &source.columns;
    Ok(NacRow {
        ip: row
            .try_get::<Option<String>, _>(columns.ip.as_str())?
            .unwrap_or_default(),
        user: row.try_get::<Option<String>, _>(columns.user.as_str())?,
        time: mysql_time(row, &columns.time)?,
        id: match &columns.id {
            Some(id) => Some(
                row.try_get::<i64, _>(id.as_str())
                    .or_else(|_| row.try_get::<u64, _>(id.as_str()).map(|n| n as i64))?,
            ),
            None => None,
        },
    })
}

fn pg_row(row: &PgRow, source: &SqlSource) -> Result<NacRow, sqlx::Error> {
    let columns = &source.columns;
    let time = row
        .try_get::<OffsetDateTime, _>(columns.time.as_str())
        .or_else(|_| {
            row.try_get::<PrimitiveDateTime, _>(columns.time.as_str())
                .map(|t| t.assume_utc())
        })?;
    Ok(NacRow {
        ip: row
            .try_get::<Option<String>, _>(columns.ip.as_str())?
            .unwrap_or_default(),
        user: row.try_get::<Option<String>, _>(columns.user.as_str())?,
        time,
        id: match &columns.id {
            Some(id) => Some(row.try_get::<i64, _>(id.as_str())?),
            None => None,
        },
    })
}

/// How long to wait before polling a database that failed `failures` times in a row: doubling
/// from the interval's tenth, up to the interval.
pub fn retry_after(interval: Duration, failures: u32) -> Duration {
    let base = (interval / 10).max(Duration::from_secs(1));
    base.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
        .min(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::userid::SqlColumns;
    use crate::config::validate::Secret;

    fn source() -> SqlSource {
        SqlSource {
            url: Secret {
                value: "mysql://u:p@127.0.0.1/nac".into(),
                from: "test".into(),
            },
            query: "SELECT 1".into(),
            params: vec![],
            columns: SqlColumns {
                ip: "currentIpAddress".into(),
                user: "principal".into(),
                time: "transDate".into(),
                id: None,
            },
            cursor: Cursor::Time,
            user_split: Some(",".into()),
            ignore_values: vec!["null".into(), String::new()],
            interval: Duration::from_secs(300),
            valid_for: Duration::from_secs(4 * 3600),
            query_timeout: Duration::from_secs(30),
        }
    }

    fn row(ip: &str, user: Option<&str>, minutes_ago: i64) -> NacRow {
        NacRow {
            ip: ip.into(),
            user: user.map(str::to_string),
            time: now() - time::Duration::minutes(minutes_ago),
            id: None,
        }
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_764_000_000).unwrap()
    }

    #[test]
    fn the_user_is_the_principal_before_its_roles() {
        let mapped = row_mapping(
            &source(),
            &row("10.1.2.3", Some("jdoe,STUDENT,WIFI"), 10),
            now(),
        );
        assert_eq!(
            mapped,
            RowMapping::Mapping {
                ip: "10.1.2.3".parse().unwrap(),
                user: "jdoe".into(),
                expires: now() - time::Duration::minutes(10) + Duration::from_secs(4 * 3600),
            }
        );
    }

    #[test]
    fn null_principals_old_rows_and_bad_addresses_map_nothing() {
        assert_eq!(
            row_mapping(&source(), &row("10.1.2.3", Some("null"), 1), now()),
            RowMapping::NoUser
        );
        assert_eq!(
            row_mapping(&source(), &row("10.1.2.3", Some("NULL,ROLE"), 1), now()),
            RowMapping::NoUser
        );
        assert_eq!(
            row_mapping(&source(), &row("10.1.2.3", None, 1), now()),
            RowMapping::NoUser
        );
        assert_eq!(
            row_mapping(&source(), &row("10.1.2.3", Some("a"), 241), now()),
            RowMapping::Expired
        );
        assert_eq!(
            row_mapping(&source(), &row("not-ip", Some("a"), 1), now()),
            RowMapping::BadAddress
        );
    }

    #[test]
    fn the_cursor_moves_to_the_newest_row_and_never_back() {
        let start = Position::start(&source(), now());
        assert_eq!(start, Position::Time(now() - Duration::from_secs(4 * 3600)));
        let rows = [
            row("10.0.0.1", Some("a"), 30),
            row("10.0.0.2", Some("b"), 5),
        ];
        assert_eq!(
            start.after(&rows),
            Position::Time(now() - time::Duration::minutes(5))
        );
        assert_eq!(Position::Time(now()).after(&rows), Position::Time(now()));
    }

    #[test]
    fn a_failing_database_is_retried_sooner_than_the_interval_then_at_it() {
        let interval = Duration::from_secs(300);
        assert_eq!(retry_after(interval, 1), Duration::from_secs(30));
        assert_eq!(retry_after(interval, 2), Duration::from_secs(60));
        assert_eq!(retry_after(interval, 9), interval);
    }
}
