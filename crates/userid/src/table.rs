//! The user-to-IP mapping table every source feeds, and what each target has been told.
//!
//! An IP has one user (a new login replaces the old one); a user may hold many IPs. Each mapping
//! expires when its source stops vouching for it (the NAC's re-authentication window, a
//! profile's timeout). The table is bounded: beyond `max_entries` the mapping closest to its
//! expiry is evicted, and counted. Times are Unix seconds given by the caller, so tests drive
//! them.
//!
//! [`Told`] is one target's view: what it was sent and until when. [`Told::changes`] is what it
//! still needs — a login for a new or changed mapping, a refresh before what it holds runs out
//! while the source still vouches, a logout for a mapping that ended — so only changes are sent.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::message::{Login, Logout};

/// One mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// The user as pushed (`DOMAIN\user`).
    pub user: String,
    /// The source that learned it.
    pub source: String,
    /// When it was learned, and when it stops being true.
    pub learned: u64,
    /// When its source stops vouching for it.
    pub expires: u64,
}

/// What [`Table::learn`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Learned {
    /// Nobody held the address (or their mapping had ended).
    New,
    /// The same user again: the expiry moves on.
    Refreshed,
    /// Another user on this IP: the old mapping is gone.
    Replaced {
        /// The user who held the address.
        previous: String,
    },
    /// `ignore_users` names the user.
    Ignored,
    /// A source earlier in `source_priority` holds this IP for another user.
    Outranked {
        /// The source that holds it.
        holder: String,
    },
}

/// How the table treats names and sources.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Mappings held at once.
    pub max_entries: usize,
    /// `*` matches any run of characters; matched against the whole name and the name without
    /// its domain, case-insensitively.
    pub ignore_users: Vec<String>,
    /// Put before bare names (`user` → `CORP\user`); `user@domain` names are kept as they are.
    pub default_domain: Option<String>,
    /// Source names, first wins on a conflict; unlisted sources come after, equal.
    pub source_priority: Vec<String>,
}

/// Every mapping, by address.
#[derive(Debug, Clone)]
pub struct Table {
    settings: Settings,
    by_ip: HashMap<IpAddr, Mapping>,
    /// Mappings evicted because the table was full, since [`Self::take_evicted`].
    evicted: u64,
}

impl Table {
    /// An empty table.
    pub fn new(settings: Settings) -> Self {
        Table {
            settings,
            by_ip: HashMap::new(),
            evicted: 0,
        }
    }

    /// The name as it is pushed: the default domain before a bare name.
    pub fn normalize(&self, user: &str) -> String {
        let user = user.trim();
        match &self.settings.default_domain {
            Some(domain) if !user.contains('\\') && !user.contains('@') => {
                format!("{domain}\\{user}")
            }
            _ => user.to_string(),
        }
    }

    /// Whether `ignore_users` names `user`.
    pub fn ignores(&self, user: &str) -> bool {
        let bare = user.rsplit('\\').next().unwrap_or(user);
        self.settings
            .ignore_users
            .iter()
            .any(|pattern| wildcard(pattern, user) || wildcard(pattern, bare))
    }

    /// `source` says `user` is at `ip` until `expires`.
    pub fn learn(
        &mut self,
        ip: IpAddr,
        user: &str,
        source: &str,
        now: u64,
        expires: u64,
    ) -> Learned {
        if user.trim().is_empty() {
            return Learned::Ignored;
        }
        let user = self.normalize(user);
        if self.ignores(&user) {
            return Learned::Ignored;
        }
        let outcome = match self.by_ip.get(&ip) {
            None => Learned::New,
            Some(held) if held.expires <= now => Learned::New,
            Some(held) if held.user.eq_ignore_ascii_case(&user) => Learned::Refreshed,
            Some(held) if self.rank(&held.source) < self.rank(source) => {
                return Learned::Outranked {
                    holder: held.source.clone(),
                };
            }
            Some(held) => Learned::Replaced {
                previous: held.user.clone(),
            },
        };
        if outcome == Learned::New && self.by_ip.len() >= self.settings.max_entries.max(1) {
            self.evict_one(now);
        }
        let expires = match (&outcome, self.by_ip.get(&ip)) {
            // A refresh never shortens what a source vouched for.
            (Learned::Refreshed, Some(held)) => held.expires.max(expires),
            _ => expires,
        };
        let learned = match (&outcome, self.by_ip.get(&ip)) {
            (Learned::Refreshed, Some(held)) => held.learned,
            _ => now,
        };
        self.by_ip.insert(
            ip,
            Mapping {
                user,
                source: source.to_string(),
                learned,
                expires,
            },
        );
        outcome
    }

    /// A logout: the mapping of `ip` ends, if it is `user`'s (any user's without one).
    pub fn forget(&mut self, ip: IpAddr, user: Option<&str>) -> Option<Mapping> {
        let held = self.by_ip.get(&ip)?;
        if let Some(user) = user {
            if !held.user.eq_ignore_ascii_case(&self.normalize(user)) {
                return None;
            }
        }
        self.by_ip.remove(&ip)
    }

    /// Drops the mappings that ended by `now`; returns how many.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.by_ip.len();
        self.by_ip.retain(|_, mapping| mapping.expires > now);
        before - self.by_ip.len()
    }

    /// The mapping of `ip`.
    pub fn get(&self, ip: &IpAddr) -> Option<&Mapping> {
        self.by_ip.get(ip)
    }

    /// How many mappings it holds.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// Every mapping, by address.
    pub fn entries(&self) -> BTreeMap<IpAddr, &Mapping> {
        self.by_ip.iter().map(|(ip, m)| (*ip, m)).collect()
    }

    /// Mappings per source.
    pub fn by_source(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for mapping in self.by_ip.values() {
            *counts.entry(mapping.source.as_str()).or_default() += 1;
        }
        counts
    }

    /// The mappings evicted since the last call.
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    /// The table as saved in the state directory.
    pub fn save(&self) -> Vec<(IpAddr, Mapping)> {
        self.entries()
            .into_iter()
            .map(|(ip, mapping)| (ip, mapping.clone()))
            .collect()
    }

    /// Takes back what [`Self::save`] wrote, without the mappings that ended by `now`, up to
    /// `max_entries`; returns how many.
    pub fn restore(&mut self, saved: Vec<(IpAddr, Mapping)>, now: u64) -> usize {
        for (ip, mapping) in saved {
            if mapping.expires > now && self.by_ip.len() < self.settings.max_entries {
                self.by_ip.insert(ip, mapping);
            }
        }
        self.by_ip.len()
    }

    /// A source's place in `source_priority` (lower wins).
    fn rank(&self, source: &str) -> usize {
        let priority = &self.settings.source_priority;
        priority
            .iter()
            .position(|name| name == source)
            .unwrap_or(priority.len())
    }

    /// Evicts the mapping closest to its expiry (an ended one first).
    fn evict_one(&mut self, now: u64) {
        if self.expire(now) > 0 {
            return;
        }
        let soonest = self
            .by_ip
            .iter()
            .min_by_key(|(ip, mapping)| (mapping.expires, **ip))
            .map(|(ip, _)| *ip);
        if let Some(ip) = soonest {
            self.by_ip.remove(&ip);
            self.evicted += 1;
        }
    }
}

/// `pattern` with `*` as any run of characters, against `text`, ignoring ASCII case.
fn wildcard(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_ascii_lowercase(), text.to_ascii_lowercase());
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == text;
    };
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// What one target holds: per IP the user it was told and until when (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    by_ip: BTreeMap<IpAddr, (String, u64)>,
}

impl Told {
    /// What the target still needs so that it holds what `table` holds at `now`: a login for
    /// every mapping it does not have (or has for another user, or for a shorter time than the
    /// source now vouches for while its own runs out within `refresh_within` seconds), with the
    /// time that remains as its timeout (in minutes, at least 1); a logout for every address it
    /// holds that the table no longer maps.
    pub fn changes(
        &self,
        table: &Table,
        now: u64,
        refresh_within: u64,
    ) -> (Vec<Login>, Vec<Logout>) {
        let mut logins = Vec::new();
        for (ip, mapping) in table.entries() {
            if mapping.expires <= now {
                continue;
            }
            let needed = match self.by_ip.get(&ip) {
                None => true,
                Some((user, _)) if !user.eq_ignore_ascii_case(&mapping.user) => true,
                Some((_, until)) => {
                    mapping.expires > *until && until.saturating_sub(now) <= refresh_within
                }
            };
            if needed {
                let remaining = mapping.expires - now;
                logins.push(Login {
                    user: mapping.user.clone(),
                    ip,
                    timeout_mins: u32::try_from(remaining.div_ceil(60))
                        .unwrap_or(u32::MAX)
                        .max(1),
                });
            }
        }
        let logouts = self
            .by_ip
            .iter()
            .filter(|(ip, (_, until))| {
                *until > now && table.get(ip).is_none_or(|m| m.expires <= now)
            })
            .map(|(ip, (user, _))| Logout {
                user: user.clone(),
                ip: *ip,
            })
            .collect();
        (logins, logouts)
    }

    /// The target took these: remember them (a login until now plus its timeout).
    pub fn acknowledge(&mut self, logins: &[Login], logouts: &[Logout], now: u64) {
        for logout in logouts {
            self.by_ip.remove(&logout.ip);
        }
        for login in logins {
            let until = now + u64::from(login.timeout_mins) * 60;
            self.by_ip.insert(login.ip, (login.user.clone(), until));
        }
    }

    /// Forgets what ran out on the target by itself.
    pub fn expire(&mut self, now: u64) {
        self.by_ip.retain(|_, (_, until)| *until > now);
    }

    /// How many addresses the target holds.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn table() -> Table {
        Table::new(Settings {
            max_entries: 3,
            ignore_users: vec!["*$".into(), "svc_*".into()],
            default_domain: Some("CORP".into()),
            source_priority: vec!["nac".into(), "ise".into()],
        })
    }

    #[test]
    fn an_ip_has_one_user_and_a_new_login_replaces_the_old() {
        let mut table = table();
        assert_eq!(
            table.learn(ip("10.0.0.1"), "alice", "nac", 0, 600),
            Learned::New
        );
        assert_eq!(
            table.learn(ip("10.0.0.1"), "CORP\\Alice", "nac", 10, 900),
            Learned::Refreshed
        );
        assert_eq!(table.get(&ip("10.0.0.1")).unwrap().expires, 900);
        assert_eq!(
            table.learn(ip("10.0.0.1"), "bob", "nac", 20, 900),
            Learned::Replaced {
                previous: "CORP\\Alice".into()
            },
            "the latest spelling is kept"
        );
        assert_eq!(
            table.learn(ip("10.0.0.2"), "bob@corp.example", "nac", 20, 900),
            Learned::New
        );
        assert_eq!(table.get(&ip("10.0.0.2")).unwrap().user, "bob@corp.example");
    }

    #[test]
    fn service_and_machine_accounts_are_ignored() {
        let mut table = table();
        assert_eq!(
            table.learn(ip("10.0.0.1"), "PC01$", "ise", 0, 600),
            Learned::Ignored
        );
        assert_eq!(
            table.learn(ip("10.0.0.1"), "CORP\\svc_backup", "ise", 0, 600),
            Learned::Ignored
        );
        assert_eq!(
            table.learn(ip("10.0.0.1"), "  ", "ise", 0, 600),
            Learned::Ignored
        );
        assert!(table.is_empty());
        assert!(wildcard("a*b*c", "axxbyyc") && !wildcard("a*b*c", "axxbyy") && wildcard("*", ""));
    }

    #[test]
    fn a_higher_priority_source_is_not_overwritten_while_its_mapping_holds() {
        let mut table = table();
        table.learn(ip("10.0.0.1"), "alice", "nac", 0, 600);
        assert_eq!(
            table.learn(ip("10.0.0.1"), "mallory", "syslog", 10, 900),
            Learned::Outranked {
                holder: "nac".into()
            }
        );
        assert_eq!(
            table.learn(ip("10.0.0.1"), "bob", "syslog", 601, 900),
            Learned::New,
            "once the NAC's mapping ended, anyone may map the IP"
        );
    }

    #[test]
    fn a_full_table_evicts_the_mapping_closest_to_its_end_and_counts_it() {
        let mut table = table();
        table.learn(ip("10.0.0.1"), "a", "nac", 0, 500);
        table.learn(ip("10.0.0.2"), "b", "nac", 0, 300);
        table.learn(ip("10.0.0.3"), "c", "nac", 0, 900);
        table.learn(ip("10.0.0.4"), "d", "nac", 0, 900);
        assert_eq!(table.len(), 3);
        assert!(table.get(&ip("10.0.0.2")).is_none());
        assert_eq!(table.take_evicted(), 1);
    }

    #[test]
    fn a_target_is_told_only_what_changed_and_refreshed_before_it_runs_out() {
        let mut table = table();
        let mut told = Told::default();
        table.learn(ip("10.0.0.1"), "alice", "nac", 0, 3600);
        let (logins, logouts) = told.changes(&table, 0, 600);
        assert_eq!((logins.len(), logouts.len()), (1, 0));
        assert_eq!(logins[0].timeout_mins, 60);
        told.acknowledge(&logins, &logouts, 0);
        assert_eq!(
            told.changes(&table, 100, 600),
            (vec![], vec![]),
            "nothing new"
        );

        // The source vouches again: the target is told when what it holds nears its end.
        table.learn(ip("10.0.0.1"), "alice", "nac", 1000, 7200);
        assert!(
            told.changes(&table, 1000, 600).0.is_empty(),
            "50 minutes still held"
        );
        let (logins, _) = told.changes(&table, 3100, 600);
        assert_eq!(logins.len(), 1);
        assert_eq!(
            logins[0].timeout_mins, 69,
            "what remains of the source's window"
        );
        told.acknowledge(&logins, &[], 3100);

        // Logout: the table no longer maps it.
        table.forget(ip("10.0.0.1"), Some("alice"));
        let (logins, logouts) = told.changes(&table, 3200, 600);
        assert_eq!((logins.len(), logouts.len()), (0, 1));
        told.acknowledge(&logins, &logouts, 3200);
        assert!(told.is_empty());
    }

    #[test]
    fn a_logout_for_another_user_leaves_the_mapping() {
        let mut table = table();
        table.learn(ip("10.0.0.1"), "alice", "nac", 0, 3600);
        assert!(table.forget(ip("10.0.0.1"), Some("bob")).is_none());
        assert!(table.forget(ip("10.0.0.1"), Some("alice")).is_some());
    }

    #[test]
    fn a_saved_table_comes_back_without_what_ended() {
        let mut table = table();
        table.learn(ip("10.0.0.1"), "alice", "nac", 0, 100);
        table.learn(ip("10.0.0.2"), "bob", "nac", 0, 1000);
        let saved = serde_json::to_string(&table.save()).unwrap();
        let mut restored = self::table();
        let count = restored.restore(serde_json::from_str(&saved).unwrap(), 500);
        assert_eq!(count, 1);
        assert_eq!(restored.get(&ip("10.0.0.2")).unwrap().user, "CORP\\bob");
    }
}
