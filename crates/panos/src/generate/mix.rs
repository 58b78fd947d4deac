//! Which PAN-OS log types a pool holds, and in what proportions (`--mix`).

use std::str::FromStr;

/// The PAN-OS log types (and THREAT subtypes) the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// TRAFFIC (end of session).
    Traffic,
    /// THREAT, subtype url.
    Url,
    /// THREAT, subtype vulnerability.
    Vulnerability,
    /// THREAT, subtype spyware.
    Spyware,
    /// THREAT, subtype virus.
    Virus,
    /// THREAT, subtype wildfire.
    Wildfire,
    /// SYSTEM.
    System,
    /// CONFIG.
    Config,
    /// GLOBALPROTECT.
    GlobalProtect,
    /// USERID.
    UserId,
    /// HIPMATCH.
    HipMatch,
}

impl LogKind {
    /// Every kind, in `--mix` order.
    pub const ALL: [LogKind; 11] = [
        LogKind::Traffic,
        LogKind::Url,
        LogKind::Vulnerability,
        LogKind::Spyware,
        LogKind::Virus,
        LogKind::Wildfire,
        LogKind::System,
        LogKind::Config,
        LogKind::GlobalProtect,
        LogKind::UserId,
        LogKind::HipMatch,
    ];

    /// The name used in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            LogKind::Traffic => "traffic",
            LogKind::Url => "url",
            LogKind::Vulnerability => "vulnerability",
            LogKind::Spyware => "spyware",
            LogKind::Virus => "virus",
            LogKind::Wildfire => "wildfire",
            LogKind::System => "system",
            LogKind::Config => "config",
            LogKind::GlobalProtect => "globalprotect",
            LogKind::UserId => "userid",
            LogKind::HipMatch => "hipmatch",
        }
    }
}

/// How THREAT logs split into subtypes when `--mix` says just `threat`: URL filtering logs are
/// the bulk of THREAT volume on a typical firewall, WildFire submissions the rarest.
const THREAT_SPLIT: [(LogKind, u64); 5] = [
    (LogKind::Url, 40),
    (LogKind::Vulnerability, 25),
    (LogKind::Spyware, 20),
    (LogKind::Virus, 10),
    (LogKind::Wildfire, 5),
];

/// Relative weights of the log kinds, as given to `--mix traffic=70,threat=20,...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// Weight per kind, in [`LogKind::ALL`] order; at least one is positive.
    weights: [u64; LogKind::ALL.len()],
}

impl Default for Mix {
    /// 70 % TRAFFIC, 20 % THREAT, 5 % SYSTEM, 5 % the other types, roughly what a perimeter
    /// firewall logs.
    fn default() -> Self {
        let mut mix = Mix {
            weights: [0; LogKind::ALL.len()],
        };
        mix.add_threat(20);
        for (kind, weight) in [
            (LogKind::Traffic, 70),
            (LogKind::System, 5),
            (LogKind::Config, 2),
            (LogKind::GlobalProtect, 1),
            (LogKind::UserId, 1),
            (LogKind::HipMatch, 1),
        ] {
            mix.add(kind, weight);
        }
        mix
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `kind=weight` pairs separated by commas; `threat` spreads its weight over the THREAT
    /// subtypes. Weights are relative, they need not add up to 100.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut mix = Mix {
            weights: [0; LogKind::ALL.len()],
        };
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not kind=weight, e.g. threat=20"))?;
            let weight: u64 = weight
                .trim()
                .parse()
                .ok()
                .filter(|w| *w <= 1_000_000)
                .ok_or_else(|| format!("`{pair}`: the weight must be a whole number"))?;
            let name = name.trim().to_ascii_lowercase();
            if name == "threat" {
                mix.add_threat(weight);
                continue;
            }
            let kind = LogKind::ALL
                .into_iter()
                .find(|k| k.name() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = LogKind::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "unknown log kind `{name}`: use threat or one of {}",
                        names.join(", ")
                    )
                })?;
            mix.add(kind, weight);
        }
        if mix.weights.iter().all(|w| *w == 0) {
            return Err("the mix needs at least one positive weight, e.g. threat=100".into());
        }
        Ok(mix)
    }
}

impl Mix {
    /// Weights are kept in hundredths so that `threat=1` still reaches every THREAT subtype.
    fn add(&mut self, kind: LogKind, weight: u64) {
        if let Some(at) = LogKind::ALL.iter().position(|k| *k == kind) {
            self.weights[at] += weight * 100;
        }
    }

    fn add_threat(&mut self, weight: u64) {
        for (kind, share) in THREAT_SPLIT {
            if let Some(at) = LogKind::ALL.iter().position(|k| *k == kind) {
                self.weights[at] += weight * share;
            }
        }
    }

    /// `total` kinds in these proportions (largest remainder, so the counts add up exactly), and
    /// at least one of every kind with a positive weight.
    pub(super) fn allocate(&self, total: usize) -> Vec<LogKind> {
        let sum: u64 = self.weights.iter().sum();
        let total_u64 = total as u64;
        let mut counts: Vec<(usize, u64, u64)> = self
            .weights
            .iter()
            .enumerate()
            .map(|(at, &w)| {
                let exact = u128::from(w) * u128::from(total_u64);
                let whole = (exact / u128::from(sum)) as u64;
                let remainder = (exact % u128::from(sum)) as u64;
                (at, whole.max(u64::from(w > 0)), remainder)
            })
            .collect();
        let assigned: u64 = counts.iter().map(|c| c.1).sum();
        let shortfall = total_u64.saturating_sub(assigned) as usize;
        counts.sort_by_key(|c| std::cmp::Reverse(c.2));
        for count in counts
            .iter_mut()
            .filter(|c| self.weights[c.0] > 0)
            .take(shortfall)
        {
            count.1 += 1;
        }
        counts.sort_by_key(|c| c.0);
        counts
            .into_iter()
            .flat_map(|(at, n, _)| std::iter::repeat_n(LogKind::ALL[at], n as usize))
            .collect()
    }
}
