//! The leaf of configuration validation: where a value sits (span → file:line, dotted key) and the
//! checks every layer shares (numbers within their [`Limit`], paths beside the file, URLs,
//! secrets). Command-line flags go through the same checks; an error about a value that came from
//! a flag names the flag instead of a line.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::de::DeserializeOwned;
use toml::Spanned;

use super::limits::Limit;
use super::ConfigError;

/// Byte range of a value in the config file, for errors that name its line.
pub type Span = Range<usize>;

/// How errors name the command line, where a file name would be.
pub const COMMAND_LINE: &str = "<command line>";

/// The span given to values that came from the command line: past any file's end, so no line.
pub const FROM_COMMAND_LINE: Span = usize::MAX..usize::MAX;

/// Where a flag's value lands in the configuration: an error on a key under `key_prefix` names
/// the flag, not the file.
#[derive(Debug, Clone, Copy)]
pub struct FlagKey {
    pub key_prefix: &'static str,
    pub flag: &'static str,
}

/// A secret read at start from a file or an environment variable, never from the command line.
/// Debug and Display print where it came from, never the value.
#[derive(Clone, PartialEq)]
pub struct Secret {
    pub value: String,
    pub from: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(from {})", self.from)
    }
}

/// Reads TOML into the raw serde layer; serde's errors get the file, line and dotted key.
pub fn parse<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: e.span().map(|span| line_of(text, span)),
        key: e.span().and_then(|span| key_of_value(text, span.start)),
        message: e.message().trim().to_string(),
    })
}

/// The dotted key of the value that starts at `at` (`listener[1].max_message_bytes`,
/// `sink[0].buffer.max_events`), for serde's errors, which name only the expected type. `None`
/// when `at` is not a value after `key =`.
fn key_of_value(text: &str, at: usize) -> Option<String> {
    let before = text.get(..at)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut path = Vec::new();
    let mut end = at;
    // The key, then the keys of the inline tables it sits in on this line.
    loop {
        let (key, key_start) = key_before(text.get(line_start..end)?)?;
        path.push(key);
        let prefix = text.get(line_start..line_start + key_start)?;
        match prefix.rfind('{') {
            Some(brace) if !prefix[brace..].contains('}') => end = line_start + brace,
            _ => break,
        }
    }
    // Table headers, without a trailing comment.
    let headers = || {
        text.get(..line_start)
            .unwrap_or_default()
            .lines()
            .map(|line| line.split('#').next().unwrap_or_default().trim())
            .filter(|line| line.starts_with('['))
    };
    if let Some(header) = headers().next_back() {
        if let Some(name) = header.strip_prefix("[[").and_then(|h| h.strip_suffix("]]")) {
            let index = headers().filter(|line| *line == header).count();
            path.push(format!("{}[{}]", name.trim(), index.saturating_sub(1)));
        } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            path.push(name.trim().to_string());
        }
    }
    path.reverse();
    Some(path.join("."))
}

/// In `segment`, which ends where a value starts: the key before its `=`, and where that key
/// starts.
fn key_before(segment: &str) -> Option<(String, usize)> {
    let rest = segment.trim_end_matches([' ', '\t']).strip_suffix('=')?;
    let rest = rest.trim_end_matches([' ', '\t']);
    let start = rest
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = rest.get(start..)?.trim_matches('"');
    (!key.is_empty()).then(|| (key.to_string(), start))
}

fn line_of(text: &str, span: Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

pub struct Validator<'a> {
    text: &'a str,
    file: &'a Path,
    /// The keys that command-line flags set, for errors that must name the flag.
    flags: &'a [FlagKey],
}

impl<'a> Validator<'a> {
    /// Checks values read from `text` (the contents of `file`), some of them set by `flags`.
    pub fn new(text: &'a str, file: &'a Path, flags: &'a [FlagKey]) -> Self {
        Validator { text, file, flags }
    }

    /// `key` is refused: names the flag that set it, or the file and the line of `span`.
    pub fn error(&self, key: String, span: Option<Span>, message: String) -> ConfigError {
        if let Some(flag) = self.flags.iter().find(|f| key.starts_with(f.key_prefix)) {
            return ConfigError {
                file: PathBuf::from(COMMAND_LINE),
                line: None,
                key: Some(flag.flag.to_string()),
                message,
            };
        }
        ConfigError {
            file: self.file.to_path_buf(),
            line: span
                .filter(|span| span.start <= self.text.len())
                .map(|span| line_of(self.text, span)),
            key: Some(key),
            message,
        }
    }

    /// A path from the file, relative to the file's directory unless absolute.
    pub fn beside_file(&self, path: &Path) -> PathBuf {
        match self.file.parent() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// `value` when it is within `limit`, `default` when the key is absent.
    pub fn number(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<u64, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        let n = *value.get_ref();
        if limit.range.contains(&n) {
            Ok(n)
        } else {
            Err(self.error(
                key.to_string(),
                Some(value.span()),
                format!("{n} is out of range: {limit}"),
            ))
        }
    }

    /// A size or count in memory: [`Self::number`] as a `usize`.
    pub fn size(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<usize, ConfigError> {
        let n = self.number(key, value, limit, default)?;
        usize::try_from(n).map_err(|_| {
            self.error(
                key.to_string(),
                value.map(Spanned::span),
                format!("{n} does not fit in this machine's memory"),
            )
        })
    }

    pub fn millis(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(
            self.number(key, value, limit, default)?,
        ))
    }

    pub fn secs(
        &self,
        key: &str,
        value: Option<&Spanned<u64>>,
        limit: &Limit,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(
            self.number(key, value, limit, default)?,
        ))
    }

    /// A secret from `{base}_file` or `{base}_env`; errors name whichever key was given.
    pub fn secret(
        &self,
        base: &str,
        span: Span,
        file: Option<&PathBuf>,
        env: Option<&String>,
    ) -> Result<Secret, ConfigError> {
        let suffix = if file.is_none() && env.is_some() {
            "_env"
        } else {
            "_file"
        };
        let error =
            |message: String| self.error(format!("{base}{suffix}"), Some(span.clone()), message);
        match (file, env) {
            (Some(_), Some(_)) => Err(error(
                "give the secret as a file or as an environment variable, not both".into(),
            )),
            (Some(path), None) => {
                let path = self.beside_file(path);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
                let value = text.trim().to_string();
                if value.is_empty() {
                    return Err(error(format!("{} is empty", path.display())));
                }
                Ok(Secret {
                    value,
                    from: format!("file {}", path.display()),
                })
            }
            (None, Some(name)) => match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => Ok(Secret {
                    value: value.trim().to_string(),
                    from: format!("environment variable {name}"),
                }),
                _ => Err(error(format!("the environment variable {name} is not set"))),
            },
            (None, None) => Err(error(
                "needs a secret: a *_file or *_env key (never the secret itself in the file)"
                    .into(),
            )),
        }
    }

    /// A list of addresses or CIDR networks (`trusted_proxies`, `senders`).
    pub fn networks(
        &self,
        key: String,
        list: &Spanned<Vec<String>>,
    ) -> Result<Vec<IpNet>, ConfigError> {
        list.get_ref()
            .iter()
            .map(|text| {
                network(text).map_err(|why| self.error(key.clone(), Some(list.span()), why))
            })
            .collect()
    }

    /// `key` of a `type_name` sink is missing; the error points at the sink's `type`.
    pub fn missing(&self, key: String, kind: &Spanned<String>, type_name: &str) -> ConfigError {
        let short = key.rsplit('.').next().unwrap_or_default().to_string();
        self.error(
            key,
            Some(kind.span()),
            format!("a {type_name} sink needs `{short}`"),
        )
    }

    /// `text`, a URL built from the value of `key`, parsed once for every request to come.
    pub fn whole_url(
        &self,
        key: String,
        value: &Spanned<String>,
        text: &str,
    ) -> Result<reqwest::Url, ConfigError> {
        reqwest::Url::parse(text).map_err(|error| {
            self.error(
                key,
                Some(value.span()),
                format!("`{text}` is not a URL: {error}"),
            )
        })
    }

    /// An http:// or https:// URL without its trailing slash: the base that sinks append their
    /// paths to before they parse the whole.
    pub fn url_base(&self, key: String, value: &Spanned<String>) -> Result<String, ConfigError> {
        let text = value.get_ref().trim_end_matches('/');
        let scheme_ok = text.starts_with("https://") || text.starts_with("http://");
        match reqwest::Url::parse(text) {
            Ok(_) if scheme_ok => Ok(text.to_string()),
            _ => Err(self.error(
                key,
                Some(value.span()),
                format!("`{}` is not an http:// or https:// URL", value.get_ref()),
            )),
        }
    }
}

/// A network, or one address as a /32 or /128.
pub fn network(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{text}` is not an address or CIDR network"))
}
