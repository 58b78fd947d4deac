//! `[userid]`: where user-to-IP mappings come from (`[[userid.source]]`: a NAC's SQL table, or
//! authentication syslog the relay receives) and which PAN-OS firewalls or User-ID agents get
//! them (`[[userid.target]]`).

use std::net::IpAddr;
use std::time::Duration;

use cefrelay_userid::profile::{Identifier, Profile};
use ipnet::IpNet;
use regex::Regex;
use toml::Spanned;

use super::files::{self, CaFile};
use super::limits;
use super::raw::{RawParseProfile, RawUserid, RawUseridSource, RawUseridTarget};
use super::validate::{Secret, Validator};
use super::ConfigError;

#[derive(Debug, Clone)]
pub struct Userid {
    pub max_entries: usize,
    /// Patterns of user names never pushed; `*` matches any run of characters.
    pub ignore_users: Vec<String>,
    pub default_domain: Option<String>,
    pub source_priority: Vec<String>,
    pub sources: Vec<UseridSource>,
    pub targets: Vec<UseridTarget>,
}

#[derive(Debug, Clone)]
pub struct UseridSource {
    pub name: String,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Sql(Box<SqlSource>),
    Syslog(SyslogSource),
}

#[derive(Debug, Clone)]
pub struct SqlSource {
    /// `mysql://…`, `mariadb://…` or `postgres://…`, with its password: never logged.
    pub url: Secret,
    pub query: String,
    pub params: Vec<SqlParam>,
    pub columns: SqlColumns,
    pub cursor: Cursor,
    /// The user is the text before the first separator; the rest are groups.
    pub user_split: Option<String>,
    /// User values that mean nobody (`null`, empty).
    pub ignore_values: Vec<String>,
    pub interval: Duration,
    /// How long a row's mapping stays true after its time.
    pub valid_for: Duration,
    pub query_timeout: Duration,
}

/// A value bound to the query's next `?` (MySQL) or `$N` (PostgreSQL), never pasted into it.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlParam {
    Text(String),
    Integer(i64),
    /// `"$cursor"`: where the last poll stopped (at start, the beginning of the validity window).
    Cursor,
    /// `"$window_start"`: now minus `valid_for_secs`.
    WindowStart,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqlColumns {
    pub ip: String,
    pub user: String,
    pub time: String,
    /// An increasing id, for `cursor = "id"`.
    pub id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    Time,
    Id,
}

#[derive(Debug, Clone)]
pub struct SyslogSource {
    /// Only messages from these senders are read.
    pub senders: Vec<IpNet>,
    /// Built-in profiles by name.
    pub builtin: Vec<String>,
    pub profiles: Vec<Profile>,
    /// The login timeout when a profile sets none.
    pub timeout_mins: u32,
}

impl SyslogSource {
    pub fn takes_from(&self, peer: IpAddr) -> bool {
        self.senders.iter().any(|net| net.contains(&peer))
    }
}

#[derive(Debug, Clone)]
pub struct UseridTarget {
    pub name: String,
    pub kind: TargetKind,
    /// `https://fw.example.net` (no path); requests go to `{url}/api/` (firewall) or `{url}/`
    /// (agent).
    pub url: String,
    pub auth: TargetAuth,
    pub vsys: Option<String>,
    pub serial: Option<String>,
    pub ca_file: Option<CaFile>,
    pub tls_insecure: bool,
    pub batch_entries: usize,
    pub timeout: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    Firewall,
    Agent,
}

#[derive(Debug, Clone)]
pub enum TargetAuth {
    ApiKey(Secret),
    Keygen {
        user: String,
        password: Secret,
    },
    /// The User-ID agent's XML API takes no key.
    None,
}

/// The names of the built-in syslog profiles.
pub const BUILTIN_PROFILES: [&str; 4] =
    ["panos-globalprotect", "cisco-ise", "aruba", "windows-4624"];

pub fn validate(check: &Validator<'_>, raw: &RawUserid) -> Result<Userid, ConfigError> {
    let sources = raw
        .source
        .iter()
        .enumerate()
        .map(|(index, source)| validate_source(check, index, source))
        .collect::<Result<Vec<_>, _>>()?;
    for (index, source) in sources.iter().enumerate() {
        if sources[..index]
            .iter()
            .any(|other| other.name == source.name)
        {
            return Err(check.error(
                format!("userid.source[{index}].name"),
                Some(raw.source[index].name.span()),
                format!("two sources are named `{}`", source.name),
            ));
        }
    }
    let targets = raw
        .target
        .iter()
        .enumerate()
        .map(|(index, target)| validate_target(check, index, target))
        .collect::<Result<Vec<_>, _>>()?;
    for (index, target) in targets.iter().enumerate() {
        if targets[..index]
            .iter()
            .any(|other| other.name == target.name)
        {
            return Err(check.error(
                format!("userid.target[{index}].name"),
                Some(raw.target[index].name.span()),
                format!("two targets are named `{}`", target.name),
            ));
        }
    }
    let source_priority = raw
        .source_priority
        .as_ref()
        .map(|names| {
            for name in names.get_ref() {
                if !sources.iter().any(|source| &source.name == name) {
                    return Err(check.error(
                        "userid.source_priority".into(),
                        Some(names.span()),
                        format!("no source is named `{name}`"),
                    ));
                }
            }
            Ok(names.get_ref().clone())
        })
        .transpose()?
        .unwrap_or_default();
    let default_domain = raw.default_domain.as_ref().map(|d| d.get_ref().clone());
    if let (Some(domain), Some(raw_domain)) = (&default_domain, &raw.default_domain) {
        if domain.is_empty() || domain.contains('\\') {
            return Err(check.error(
                "userid.default_domain".into(),
                Some(raw_domain.span()),
                "a domain name without backslash, e.g. \"CORP\"".into(),
            ));
        }
    }
    Ok(Userid {
        max_entries: check.size(
            "userid.max_entries",
            raw.max_entries.as_ref(),
            &limits::USERID_ENTRIES,
            100_000,
        )?,
        ignore_users: raw
            .ignore_users
            .as_ref()
            .map_or_else(|| vec!["*$".to_string()], |users| users.get_ref().clone()),
        default_domain,
        source_priority,
        sources,
        targets,
    })
}

fn validate_source(
    check: &Validator<'_>,
    index: usize,
    raw: &RawUseridSource,
) -> Result<UseridSource, ConfigError> {
    let key = |field: &str| format!("userid.source[{index}].{field}");
    let name = raw.name.get_ref().clone();
    if name.is_empty() {
        return Err(check.error(
            key("name"),
            Some(raw.name.span()),
            "a source needs a name".into(),
        ));
    }
    let kind = match raw.kind.get_ref().as_str() {
        "sql" => SourceKind::Sql(Box::new(validate_sql(check, index, raw)?)),
        "syslog" => SourceKind::Syslog(validate_syslog(check, index, raw)?),
        other => {
            return Err(check.error(
                key("type"),
                Some(raw.kind.span()),
                format!("`{other}` is not a User-ID source type: use \"sql\" or \"syslog\""),
            ))
        }
    };
    // Keys of the other type are mistakes, not options: say so.
    let (sql_keys, syslog_keys) = (
        raw.url_file.is_some()
            || raw.url_env.is_some()
            || raw.query.is_some()
            || raw.params.is_some()
            || raw.columns.is_some()
            || raw.cursor.is_some()
            || raw.user_split.is_some()
            || raw.ignore_values.is_some()
            || raw.interval_secs.is_some()
            || raw.valid_for_secs.is_some()
            || raw.query_timeout_secs.is_some(),
        raw.senders.is_some() || raw.profiles.is_some() || !raw.profile.is_empty(),
    );
    let stray = match &kind {
        SourceKind::Sql(_) if syslog_keys => {
            Some("senders, profiles and profile belong to a syslog source")
        }
        SourceKind::Syslog(_) if sql_keys => {
            Some("url, query, params, columns and the poll settings belong to an sql source")
        }
        _ => None,
    };
    if let Some(why) = stray {
        return Err(check.error(key("type"), Some(raw.kind.span()), why.into()));
    }
    Ok(UseridSource { name, kind })
}

fn validate_sql(
    check: &Validator<'_>,
    index: usize,
    raw: &RawUseridSource,
) -> Result<SqlSource, ConfigError> {
    let key = |field: &str| format!("userid.source[{index}].{field}");
    let url = check.secret(
        &key("url"),
        raw.kind.span(),
        raw.url_file.as_ref().map(Spanned::get_ref),
        raw.url_env.as_ref().map(Spanned::get_ref),
    )?;
    let scheme_ok = ["mysql://", "mariadb://", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.value.starts_with(scheme));
    if !scheme_ok {
        // The URL holds a password: name where it came from, never print it.
        return Err(check.error(
            key("url"),
            Some(raw.kind.span()),
            format!(
                "the URL from {} is not mysql://, mariadb:// or postgres://",
                url.from
            ),
        ));
    }
    let Some(query) = &raw.query else {
        return Err(check.missing(key("query"), &raw.kind, "sql"));
    };
    let params = match &raw.params {
        None => Vec::new(),
        Some(values) => values
            .get_ref()
            .iter()
            .map(|value| match value {
                toml::Value::String(text) if text == "$cursor" => Ok(SqlParam::Cursor),
                toml::Value::String(text) if text == "$window_start" => Ok(SqlParam::WindowStart),
                toml::Value::String(text) => Ok(SqlParam::Text(text.clone())),
                toml::Value::Integer(n) => Ok(SqlParam::Integer(*n)),
                _ => Err(check.error(
                    key("params"),
                    Some(values.span()),
                    "each parameter is a string or an integer (\"$cursor\", \"$window_start\" are filled in)".into(),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let placeholders = query.get_ref().matches('?').count().max(
        (1..=params.len() + 1)
            .take_while(|n| query.get_ref().contains(&format!("${n}")))
            .count(),
    );
    if placeholders != params.len() {
        return Err(check.error(
            key("params"),
            Some(query.span()),
            format!(
                "the query has {placeholders} placeholders (? or $1, $2, …) and params gives {} values: every value is bound, none pasted into the text",
                params.len()
            ),
        ));
    }
    let Some(columns) = &raw.columns else {
        return Err(check.missing(key("columns"), &raw.kind, "sql"));
    };
    let column = |name: &str| -> Result<String, ConfigError> {
        columns.get_ref().get(name).cloned().ok_or_else(|| {
            check.error(
                key("columns"),
                Some(columns.span()),
                format!("columns needs `{name}`: columns = {{ ip = \"…\", user = \"…\", time = \"…\" }}"),
            )
        })
    };
    if let Some(unknown) = columns
        .get_ref()
        .keys()
        .find(|k| !["ip", "user", "time", "id"].contains(&k.as_str()))
    {
        return Err(check.error(
            key("columns"),
            Some(columns.span()),
            format!("unknown column role `{unknown}`: ip, user, time, id"),
        ));
    }
    let cursor = match raw.cursor.as_ref().map(|c| c.get_ref().as_str()) {
        None | Some("time") => Cursor::Time,
        Some("id") => Cursor::Id,
        Some(other) => {
            return Err(check.error(
                key("cursor"),
                raw.cursor.as_ref().map(Spanned::span),
                format!("`{other}`: the cursor is \"time\" or \"id\""),
            ))
        }
    };
    let columns = SqlColumns {
        ip: column("ip")?,
        user: column("user")?,
        time: column("time")?,
        id: columns.get_ref().get("id").cloned(),
    };
    if cursor == Cursor::Id && columns.id.is_none() {
        return Err(check.error(
            key("cursor"),
            raw.cursor.as_ref().map(Spanned::span),
            "cursor = \"id\" needs columns.id".into(),
        ));
    }
    Ok(SqlSource {
        url,
        query: query.get_ref().clone(),
        params,
        columns,
        cursor,
        user_split: raw
            .user_split
            .as_ref()
            .map(|s| s.get_ref().clone())
            .filter(|s| !s.is_empty()),
        ignore_values: raw.ignore_values.as_ref().map_or_else(
            || vec!["null".to_string(), String::new()],
            |values| values.get_ref().clone(),
        ),
        interval: check.secs(
            &key("interval_secs"),
            raw.interval_secs.as_ref(),
            &limits::USERID_INTERVAL_SECS,
            300,
        )?,
        valid_for: check.secs(
            &key("valid_for_secs"),
            raw.valid_for_secs.as_ref(),
            &limits::USERID_VALID_FOR_SECS,
            4 * 3600,
        )?,
        query_timeout: check.secs(
            &key("query_timeout_secs"),
            raw.query_timeout_secs.as_ref(),
            &limits::TIMEOUT_SECS,
            30,
        )?,
    })
}

fn validate_syslog(
    check: &Validator<'_>,
    index: usize,
    raw: &RawUseridSource,
) -> Result<SyslogSource, ConfigError> {
    let key = |field: &str| format!("userid.source[{index}].{field}");
    let Some(senders) = &raw.senders else {
        return Err(check.missing(key("senders"), &raw.kind, "syslog"));
    };
    let senders = check.networks(key("senders"), senders)?;
    let builtin = raw
        .profiles
        .as_ref()
        .map(|names| {
            for name in names.get_ref() {
                if !BUILTIN_PROFILES.contains(&name.as_str()) {
                    return Err(check.error(
                        key("profiles"),
                        Some(names.span()),
                        format!(
                            "no built-in profile is named `{name}` ({})",
                            BUILTIN_PROFILES.join(", ")
                        ),
                    ));
                }
            }
            Ok(names.get_ref().clone())
        })
        .transpose()?
        .unwrap_or_default();
    let profiles = raw
        .profile
        .iter()
        .enumerate()
        .map(|(n, profile)| validate_profile(check, &key(&format!("profile[{n}]")), profile))
        .collect::<Result<Vec<_>, _>>()?;
    if builtin.is_empty() && profiles.is_empty() {
        return Err(check.error(
            key("profiles"),
            Some(raw.kind.span()),
            format!(
                "a syslog source needs profiles: built-in ({}) or [[userid.source.profile]]",
                BUILTIN_PROFILES.join(", ")
            ),
        ));
    }
    let timeout_mins = check.number(
        &key("timeout_mins"),
        raw.timeout_mins.as_ref(),
        &limits::USERID_TIMEOUT_MINS,
        60,
    )?;
    Ok(SyslogSource {
        senders,
        builtin,
        profiles,
        timeout_mins: u32::try_from(timeout_mins).unwrap_or(u32::MAX),
    })
}

fn validate_profile(
    check: &Validator<'_>,
    key: &str,
    raw: &RawParseProfile,
) -> Result<Profile, ConfigError> {
    let field = |name: &str| format!("{key}.{name}");
    let login = match raw.event.get_ref().as_str() {
        "login" => true,
        "logout" => false,
        other => {
            return Err(check.error(
                field("event"),
                Some(raw.event.span()),
                format!("`{other}`: a profile matches \"login\" or \"logout\" events"),
            ))
        }
    };
    let regex = |value: &Spanned<String>, name: &str| {
        Regex::new(value.get_ref()).map_err(|e| {
            check.error(
                field(name),
                Some(value.span()),
                format!(
                    "profile `{}`: the regex does not compile: {e}",
                    raw.name.get_ref()
                ),
            )
        })
    };
    let regex_keys = [&raw.event_regex, &raw.user_regex, &raw.address_regex];
    let field_keys = [
        &raw.event_string,
        &raw.user_prefix,
        &raw.user_delimiter,
        &raw.address_prefix,
        &raw.address_delimiter,
    ];
    let identifier = match (&raw.event_regex, &raw.user_regex, &raw.address_regex) {
        (Some(event), Some(user), Some(address)) if field_keys.iter().all(|k| k.is_none()) => {
            let user_regex = regex(user, "user_regex")?;
            let address_regex = regex(address, "address_regex")?;
            for (compiled, name, raw_value) in
                [(&user_regex, "user_regex", user), (&address_regex, "address_regex", address)]
            {
                if compiled.captures_len() < 2 {
                    return Err(check.error(
                        field(name),
                        Some(raw_value.span()),
                        format!("profile `{}`: the value is capture group 1: add ( )", raw.name.get_ref()),
                    ));
                }
            }
            Identifier::Regex {
                event: regex(event, "event_regex")?,
                user: user_regex,
                address: address_regex,
            }
        }
        _ if regex_keys.iter().all(|k| k.is_none()) => {
            let (Some(event), Some(user_prefix), Some(address_prefix)) =
                (&raw.event_string, &raw.user_prefix, &raw.address_prefix)
            else {
                return Err(check.error(
                    field("event_string"),
                    Some(raw.name.span()),
                    format!(
                        "profile `{}`: a field identifier needs event_string, user_prefix and address_prefix (delimiters default to a space)",
                        raw.name.get_ref()
                    ),
                ));
            };
            Identifier::Field {
                event: event.get_ref().clone(),
                user_prefix: user_prefix.get_ref().clone(),
                user_delimiter: raw
                    .user_delimiter
                    .as_ref()
                    .map_or_else(|| " ".to_string(), |d| d.get_ref().clone()),
                address_prefix: address_prefix.get_ref().clone(),
                address_delimiter: raw
                    .address_delimiter
                    .as_ref()
                    .map_or_else(|| " ".to_string(), |d| d.get_ref().clone()),
            }
        }
        _ => {
            return Err(check.error(
                field("event_regex"),
                Some(raw.name.span()),
                format!(
                    "profile `{}`: either a regex identifier (event_regex, user_regex, address_regex) or a field identifier (event_string, user_prefix, address_prefix), not a mix",
                    raw.name.get_ref()
                ),
            ))
        }
    };
    let timeout_mins = raw
        .timeout_mins
        .as_ref()
        .map(|t| {
            check.number(
                &field("timeout_mins"),
                Some(t),
                &limits::USERID_TIMEOUT_MINS,
                60,
            )
        })
        .transpose()?
        .map(|t| u32::try_from(t).unwrap_or(u32::MAX));
    Ok(Profile {
        name: raw.name.get_ref().clone(),
        login,
        identifier,
        timeout_mins,
    })
}

fn validate_target(
    check: &Validator<'_>,
    index: usize,
    raw: &RawUseridTarget,
) -> Result<UseridTarget, ConfigError> {
    let key = |field: &str| format!("userid.target[{index}].{field}");
    let kind = match raw.kind.get_ref().as_str() {
        "firewall" => TargetKind::Firewall,
        "agent" => TargetKind::Agent,
        other => {
            return Err(check.error(
                key("type"),
                Some(raw.kind.span()),
                format!("`{other}` is not a User-ID target type: use \"firewall\" (or Panorama) or \"agent\""),
            ))
        }
    };
    let url = check.url_base(key("url"), &raw.url)?;
    let has_key = raw.api_key_file.is_some() || raw.api_key_env.is_some();
    let has_password = raw.password_file.is_some() || raw.password_env.is_some();
    let auth = match (kind, has_key, &raw.user) {
        (TargetKind::Agent, false, None) if !has_password => TargetAuth::None,
        (_, true, None) if !has_password => TargetAuth::ApiKey(check.secret(
            &key("api_key"),
            raw.kind.span(),
            raw.api_key_file.as_ref().map(Spanned::get_ref),
            raw.api_key_env.as_ref().map(Spanned::get_ref),
        )?),
        (TargetKind::Firewall, false, Some(user)) => TargetAuth::Keygen {
            user: user.get_ref().clone(),
            password: check.secret(
                &key("password"),
                user.span(),
                raw.password_file.as_ref().map(Spanned::get_ref),
                raw.password_env.as_ref().map(Spanned::get_ref),
            )?,
        },
        _ => {
            return Err(check.error(
                key("api_key_file"),
                Some(raw.kind.span()),
                "a firewall target needs api_key_file or api_key_env, or user with password_file or password_env (for keygen), not both; an agent takes an API key or nothing".into(),
            ))
        }
    };
    if kind == TargetKind::Agent && (raw.vsys.is_some() || raw.serial.is_some()) {
        return Err(check.error(
            key("type"),
            Some(raw.kind.span()),
            "vsys and serial are a firewall's (or Panorama's) settings, not an agent's".into(),
        ));
    }
    let retry_initial = check.millis(
        &key("retry_initial_ms"),
        raw.retry_initial_ms.as_ref(),
        &limits::RETRY_INITIAL_MS,
        1000,
    )?;
    let retry_max = check.millis(
        &key("retry_max_ms"),
        raw.retry_max_ms.as_ref(),
        &limits::RETRY_MAX_MS,
        60_000,
    )?;
    Ok(UseridTarget {
        name: raw.name.get_ref().clone(),
        kind,
        url,
        auth,
        vsys: raw.vsys.as_ref().map(|v| v.get_ref().clone()),
        serial: raw.serial.as_ref().map(|v| v.get_ref().clone()),
        ca_file: raw
            .ca_file
            .as_ref()
            .map(|path| files::ca_file(check, &key("ca_file"), path))
            .transpose()?,
        tls_insecure: raw.tls_insecure.unwrap_or(false),
        batch_entries: check.size(
            &key("batch_entries"),
            raw.batch_entries.as_ref(),
            &limits::USERID_BATCH_ENTRIES,
            1000,
        )?,
        timeout: check.secs(
            &key("timeout_secs"),
            raw.timeout_secs.as_ref(),
            &limits::TIMEOUT_SECS,
            30,
        )?,
        retry_initial,
        retry_max: retry_max.max(retry_initial),
    })
}
