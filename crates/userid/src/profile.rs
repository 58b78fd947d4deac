//! Where user↔IP mappings come from in syslog: parse profiles as PAN-OS defines them
//! ([`Profile`]).
//!
//! A [`Profile`] has PAN-OS's own semantics, so that a profile an admin copies from the
//! firewall's *Syslog Parse Profile* page behaves here as it did there: the event regex (or
//! event string) must be found in the message, the user and the address are extracted, and an
//! address that is not an IP address makes no observation.

use std::net::IpAddr;

use regex::Regex;

/// One user↔IP fact read from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// The user as the sender wrote it (`domain\user`, `user@domain`, `user`).
    pub user: String,
    /// The address the user is at.
    pub ip: IpAddr,
    /// `true` for a login (add the mapping), `false` for a logout (remove it).
    pub login: bool,
    /// How long the firewall should keep the mapping; `None` leaves it to the firewall's own
    /// User Identification Timeout.
    pub timeout_mins: Option<u32>,
    /// The profile that matched: a [`Profile`]'s name.
    pub profile: String,
}

/// How a PAN-OS syslog parse profile recognises its event and finds the user and address.
#[derive(Debug, Clone)]
pub enum Identifier {
    /// *Regex Identifier*: `event` must match somewhere in the message; the user and the
    /// address are capture group 1 of the first match of `user` and `address`.
    Regex {
        /// The Event Regex, e.g. `(authentication\ success){1}`.
        event: Regex,
        /// The Username Regex, e.g. `User:([a-zA-Z0-9\\\._]+)`.
        user: Regex,
        /// The Address Regex, e.g. `Source:([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})`.
        address: Regex,
    },
    /// *Field Identifier*: `event` must occur literally in the message; a value runs from just
    /// after the first occurrence of its prefix to the next occurrence of its delimiter, or to
    /// the end of the message when the delimiter does not follow.
    ///
    /// A delimiter is written as on the firewall, where `\s` stands for a space (the PAN-OS
    /// help's own example). Here `\s` is any whitespace character, `\t` a tab and `\\` a
    /// backslash; anything else is literal.
    Field {
        /// The Event String, e.g. `authentication success`.
        event: String,
        /// The Username Prefix, e.g. `User:`.
        user_prefix: String,
        /// The Username Delimiter, e.g. `\s`.
        user_delimiter: String,
        /// The Address Prefix, e.g. `Source:`.
        address_prefix: String,
        /// The Address Delimiter, e.g. `\s`.
        address_delimiter: String,
    },
}

/// A PAN-OS syslog parse profile, as an admin copies it from the firewall.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The profile's name, reported in [`Observed::profile`].
    pub name: String,
    /// Whether the profile matches login events (`true`) or logout events (`false`): PAN-OS
    /// profiles are one or the other, never both.
    pub login: bool,
    /// How the event, the user and the address are found.
    pub identifier: Identifier,
    /// The timeout given to the mappings this profile learns.
    pub timeout_mins: Option<u32>,
}

impl Profile {
    /// The mapping `message` carries, when it is this profile's event and both the user and
    /// an IP address are found. Values are trimmed of surrounding whitespace; an empty user
    /// is no observation.
    pub fn observe(&self, message: &str) -> Option<Observed> {
        let (user, address) = match &self.identifier {
            Identifier::Regex {
                event,
                user,
                address,
            } => {
                if !event.is_match(message) {
                    return None;
                }
                (first_group(user, message)?, first_group(address, message)?)
            }
            Identifier::Field {
                event,
                user_prefix,
                user_delimiter,
                address_prefix,
                address_delimiter,
            } => {
                if !message.contains(event.as_str()) {
                    return None;
                }
                (
                    field_value(message, user_prefix, user_delimiter)?,
                    field_value(message, address_prefix, address_delimiter)?,
                )
            }
        };
        let user = user.trim();
        if user.is_empty() {
            return None;
        }
        Some(Observed {
            user: user.to_owned(),
            ip: address.trim().parse().ok()?,
            login: self.login,
            timeout_mins: self.timeout_mins,
            profile: self.name.clone(),
        })
    }
}

/// Capture group 1 of `regex`'s first match in `message`.
fn first_group<'m>(regex: &Regex, message: &'m str) -> Option<&'m str> {
    Some(regex.captures(message)?.get(1)?.as_str())
}

/// The text after the first `prefix` up to `delimiter` (written as on the firewall, see
/// [`Identifier::Field`]), or to the end of `message`.
fn field_value<'m>(message: &'m str, prefix: &str, delimiter: &str) -> Option<&'m str> {
    if prefix.is_empty() {
        return None;
    }
    let start = message.find(prefix)? + prefix.len();
    let rest = &message[start..];
    let end = find_delimiter(rest, delimiter).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Where `delimiter` first occurs in `text`, its escapes (`\s`, `\t`, `\\`) read as PAN-OS
/// admins write them.
fn find_delimiter(text: &str, delimiter: &str) -> Option<usize> {
    // Each piece is "any whitespace" or one literal character; delimiters are a few characters,
    // so trying every start is cheap and simpler than building a regex per profile.
    let pieces = delimiter_pieces(delimiter);
    if pieces.is_empty() {
        return None;
    }
    text.char_indices().map(|(at, _)| at).find(|&at| {
        let mut chars = text[at..].chars();
        pieces.iter().all(|piece| match (piece, chars.next()) {
            (DelimiterPiece::Whitespace, Some(c)) => c.is_whitespace(),
            (DelimiterPiece::Char(want), Some(c)) => c == *want,
            (_, None) => false,
        })
    })
}

enum DelimiterPiece {
    Whitespace,
    Char(char),
}

fn delimiter_pieces(delimiter: &str) -> Vec<DelimiterPiece> {
    let mut pieces = Vec::new();
    let mut chars = delimiter.chars().peekable();
    while let Some(c) = chars.next() {
        let piece = match (c, chars.peek()) {
            ('\\', Some('s')) => DelimiterPiece::Whitespace,
            ('\\', Some('t')) => DelimiterPiece::Char('\t'),
            ('\\', Some('\\')) => DelimiterPiece::Char('\\'),
            _ => {
                pieces.push(DelimiterPiece::Char(c));
                continue;
            }
        };
        chars.next();
        pieces.push(piece);
    }
    pieces
}

#[cfg(test)]
mod tests;
