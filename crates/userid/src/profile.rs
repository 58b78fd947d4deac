//! Where user↔IP mappings come from in syslog: parse profiles as PAN-OS defines them
//! ([`Profile`]) and the built-in parsers for the senders User-ID deployments meet most
//! ([`Builtin`], run by a [`BuiltinParser`]).
//!
//! A [`Profile`] has PAN-OS's own semantics, so that a profile an admin copies from the
//! firewall's *Syslog Parse Profile* page behaves here as it did there: the event regex (or
//! event string) must be found in the message, the user and the address are extracted, and an
//! address that is not an IP address makes no observation.
//!
//! The built-ins read each format's real structure rather than searching it with regexes:
//!
//! | Built-in | Login | Logout |
//! |---|---|---|
//! | `panos-globalprotect` | a gateway connection with a private IP (`profile/globalprotect.rs`) | the gateway's logout or configuration release with a private IP |
//! | `cisco-ise` | RADIUS accounting `Start`/`Interim-Update`, a passed authentication, with `Framed-IP-Address` (`profile/ise.rs`) | accounting `Stop` |
//! | `aruba` | controller `User Authentication Successful`, ClearPass `Login-Status=ACCEPT` (`profile/aruba.rs`) | none |
//! | `windows-4624` | event 4624 in JSON or WinCollect/NXLog form (`profile/windows.rs`) | none: 4634/4647 carry no address |
//!
//! All built-ins skip addresses no user sits behind (unspecified, loopback, multicast) and
//! users that are a MAC address (MAC authentication bypass names the device, not a person).

mod aruba;
mod globalprotect;
mod ise;
mod segments;
mod windows;

use std::net::IpAddr;

use regex::Regex;

use segments::Reassembly;

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
    /// The profile that matched: a [`Profile`]'s name or a [`Builtin`]'s (`cisco-ise`, …).
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

/// A parser for one sender's format, built into cefrelay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// PAN-OS GLOBALPROTECT logs, CSV or CEF: `panos-globalprotect`.
    PanosGlobalProtect,
    /// Cisco ISE RADIUS accounting and passed authentications: `cisco-ise`.
    CiscoIse,
    /// Aruba Mobility Controller authentications and ClearPass session logs: `aruba`.
    Aruba,
    /// Windows Security event 4624 forwarded as JSON or by WinCollect/NXLog: `windows-4624`.
    Windows4624,
}

impl Builtin {
    /// Every built-in's name, as configurations write it.
    pub const NAMES: [&'static str; 4] =
        ["panos-globalprotect", "cisco-ise", "aruba", "windows-4624"];

    /// The built-in a configuration names; `None` for a name not in [`Builtin::NAMES`].
    pub fn from_name(name: &str) -> Option<Builtin> {
        const ALL: [Builtin; 4] = [
            Builtin::PanosGlobalProtect,
            Builtin::CiscoIse,
            Builtin::Aruba,
            Builtin::Windows4624,
        ];
        ALL.into_iter().find(|builtin| builtin.name() == name)
    }

    /// The name configurations use for this built-in, also its [`Observed::profile`].
    pub fn name(self) -> &'static str {
        match self {
            Builtin::PanosGlobalProtect => Builtin::NAMES[0],
            Builtin::CiscoIse => Builtin::NAMES[1],
            Builtin::Aruba => Builtin::NAMES[2],
            Builtin::Windows4624 => Builtin::NAMES[3],
        }
    }
}

/// Runs one [`Builtin`] over a sender's messages. Stateful because Cisco ISE and Aruba
/// ClearPass split long events into numbered segments, sent as separate syslog messages, that
/// have to be put back together before the event can be read.
#[derive(Debug)]
pub struct BuiltinParser {
    builtin: Builtin,
    segments: Reassembly,
}

impl BuiltinParser {
    /// A parser for `builtin` that holds at most `max_pending` incomplete segmented events
    /// (when one more arrives, the oldest is given up) and gives up an event whose segments have
    /// not all arrived `max_wait_secs` after its first one (SC4S waits 10 s for ISE).
    pub fn new(builtin: Builtin, max_pending: usize, max_wait_secs: u64) -> Self {
        BuiltinParser {
            builtin,
            segments: Reassembly::new(max_pending, max_wait_secs),
        }
    }

    /// The mappings one syslog message carries: the whole text as received, header included.
    /// `now_secs` is the caller's clock (any monotonic seconds), used to age segmented events.
    /// A segment of an event that is not complete yet gives nothing until the last one arrives.
    pub fn observe(&mut self, message: &str, now_secs: u64) -> Vec<Observed> {
        let mut observed = Vec::new();
        match self.builtin {
            Builtin::PanosGlobalProtect => globalprotect::observe(message, &mut observed),
            Builtin::CiscoIse => ise::observe(message, now_secs, &mut self.segments, &mut observed),
            Builtin::Aruba => aruba::observe(message, now_secs, &mut self.segments, &mut observed),
            Builtin::Windows4624 => windows::observe(message, &mut observed),
        }
        let profile = self.builtin.name();
        for observation in &mut observed {
            observation.profile = profile.to_owned();
        }
        observed
    }

    /// Gives up the segmented events that have waited longer than `max_wait_secs`, and returns
    /// how many events were given up since the previous call: these, and those dropped because
    /// `max_pending` was reached. The caller counts them.
    ///
    /// What a given-up event's arrived segments carried is not used: a segment boundary can
    /// fall inside a value, so a user name or an address cut at it (`10.6.226.13` of
    /// `10.6.226.138`) would still parse and push a wrong mapping. Senders repeat the facts
    /// (ISE sends an accounting update every few minutes), so the next event makes up for it.
    pub fn expire(&mut self, now_secs: u64) -> usize {
        self.segments.expire(now_secs)
    }

    /// How many segmented events are waiting for more segments.
    pub fn pending(&self) -> usize {
        self.segments.pending()
    }
}

/// Whether a user may sit behind `ip`: not the unspecified, loopback or a multicast address
/// (or IPv4 broadcast), which senders write where they know no client address.
fn is_client_address(ip: IpAddr) -> bool {
    let special = match ip {
        IpAddr::V4(v4) => v4.is_broadcast(),
        IpAddr::V6(_) => false,
    };
    !(ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || special)
}

/// `text` as a client address (see [`is_client_address`]), trimmed; an IPv4-mapped IPv6
/// address (`::ffff:10.0.2.10`, as Windows writes some) as the IPv4 address it is.
fn client_address(text: &str) -> Option<IpAddr> {
    text.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
        .filter(|ip| is_client_address(*ip))
}

/// Whether `user` names a person rather than a device: not empty, not a MAC address
/// (`90-1B-0E-34-EA-92`, `90:1b:0e:34:ea:92`, `901b.0e34.ea92`, `901b0e34ea92`), which MAC
/// authentication bypass puts where the user goes, and not `host/…`, which 802.1X machine
/// authentication does.
fn is_person(user: &str) -> bool {
    let machine = user
        .get(..5)
        .is_some_and(|start| start.eq_ignore_ascii_case("host/"));
    !user.is_empty() && !machine && !is_mac_address(user)
}

fn is_mac_address(text: &str) -> bool {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | ':' | '.'))
        .collect();
    let separators = text.len() - hex.len();
    let undelimited = separators == 0 && hex.chars().any(|c| c.is_ascii_alphabetic());
    // Twelve digits alone are more likely an employee number than a MAC address.
    hex.len() == 12
        && (undelimited || matches!(separators, 2 | 5))
        && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// A login or logout of `user` at `ip` with no timeout of its own; the caller names the profile.
fn observation(user: &str, ip: IpAddr, login: bool) -> Observed {
    Observed {
        user: user.to_owned(),
        ip,
        login,
        timeout_mins: None,
        profile: String::new(),
    }
}

#[cfg(test)]
mod tests;
