//! The MITRE ATT&CK mapping table: its line format, its parser and the lookup.

use std::cell::LazyCell;
use std::fmt;
use std::str::FromStr;

use regex::{Regex, RegexSet};
use rustc_hash::FxHashMap;

use super::Threat;

/// The table cefrelay ships; its header documents the line format.
const DEFAULT_TABLE: &str = include_str!("default.table");

/// A lookup step, in the order [`Table::classify`] tries them; its name is the table file's
/// `step` field and the `mitreSource` of a classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// The threat ID, exactly.
    Override,
    /// A regular expression searched in the threat name.
    Regex,
    /// `PanOSThreatCategory`, exactly.
    Category,
    /// The log subtype, exactly.
    Subtype,
    /// The subtype or `*`: tactic-only answers for what nothing else mapped.
    Fallback,
}

impl Step {
    /// The name in the table file and in `mitreSource`.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Override => "override",
            Step::Regex => "regex",
            Step::Category => "category",
            Step::Subtype => "subtype",
            Step::Fallback => "fallback",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Step {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [
            Step::Override,
            Step::Regex,
            Step::Category,
            Step::Subtype,
            Step::Fallback,
        ]
        .into_iter()
        .find(|step| step.as_str() == name)
        .ok_or_else(|| {
            format!(
                "unknown step {name:?}: expected override, regex, category, subtype or fallback"
            )
        })
    }
}

/// What a threat maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification<'t> {
    /// A technique (`T1203`, `T1204.002`) or tactic (`TA0002`) ID: `threatAttackID`.
    pub id: &'t str,
    /// Its ATT&CK name: `threatAttackName`.
    pub name: &'t str,
    /// The step that matched: `mitreSource`.
    pub source: Step,
}

/// A table line that is not a valid mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    /// 1-based line number in the table text.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TableError {}

/// An ATT&CK ID and name, as a line gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Technique {
    id: String,
    name: String,
}

/// Which way a threat went, as PAN-OS logs it: the optional fifth field of a table line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ClientToServer,
    ServerToClient,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client-to-server",
            Direction::ServerToClient => "server-to-client",
        }
    }

    /// The direction a threat's `direction` names; `None` for anything else (unknown).
    fn of(text: &str) -> Option<Direction> {
        [Direction::ClientToServer, Direction::ServerToClient]
            .into_iter()
            .find(|direction| direction.as_str() == text)
    }
}

/// What one step and match maps to: for any direction, and for each direction on its own. Each
/// with the line it came from, to name duplicates.
#[derive(Debug, Clone, Default)]
struct Directed {
    any: Option<(Technique, usize)>,
    client_to_server: Option<(Technique, usize)>,
    server_to_client: Option<(Technique, usize)>,
}

impl Directed {
    fn slot(&mut self, direction: Option<Direction>) -> &mut Option<(Technique, usize)> {
        match direction {
            None => &mut self.any,
            Some(Direction::ClientToServer) => &mut self.client_to_server,
            Some(Direction::ServerToClient) => &mut self.server_to_client,
        }
    }

    /// The technique for a threat going `direction`: the line for that direction, else the line
    /// without one. A line for a direction never answers for the other or an unknown one. The
    /// direction is asked for only when a line for one exists: reading it is a search of the
    /// CEF extension, and two lines of the built-in table have one.
    fn for_direction(&self, direction: &dyn Fn() -> Option<Direction>) -> Option<&Technique> {
        if self.client_to_server.is_none() && self.server_to_client.is_none() {
            return self.any.as_ref().map(|(technique, _)| technique);
        }
        let directed = match direction() {
            None => &None,
            Some(Direction::ClientToServer) => &self.client_to_server,
            Some(Direction::ServerToClient) => &self.server_to_client,
        };
        directed
            .as_ref()
            .or(self.any.as_ref())
            .map(|(technique, _)| technique)
    }
}

/// The mappings of one exact-match step.
/// Fx, not SipHash: built from the table only, then read with every threat's fields (the
/// flooding SipHash guards against needs keys chosen at insertion); Fx hashes a short key in a
/// few instructions, SipHash in ~100.
type ExactStep = FxHashMap<String, Directed>;

impl Technique {
    /// This technique as the answer of `source`.
    fn found(&self, source: Step) -> Classification<'_> {
        Classification {
            id: &self.id,
            name: &self.name,
            source,
        }
    }
}

/// The technique an exact step maps `key` to, for a threat going `direction`.
fn lookup<'t>(
    step: &'t ExactStep,
    key: &str,
    direction: &dyn Fn() -> Option<Direction>,
) -> Option<&'t Technique> {
    step.get(key)?.for_direction(direction)
}

/// A parsed mapping table.
#[derive(Debug, Clone)]
pub struct Table {
    overrides: FxHashMap<u64, Directed>,
    // One pass over the name finds every matching regex; the lowest index is the first line.
    // One entry per distinct pattern, in the order of its first line; its lines for each
    // direction share it.
    name_regexes: RegexSet,
    name_techniques: Vec<Directed>,
    categories: ExactStep,
    subtypes: ExactStep,
    fallbacks: ExactStep,
}

/// `T` and four digits, optionally `.` and three (a sub-technique), or `TA` and four digits.
fn is_attack_id(id: &str) -> bool {
    let all_digits = |part: &str, len: usize| {
        part.len() == len && part.bytes().all(|byte| byte.is_ascii_digit())
    };
    if let Some(tactic) = id.strip_prefix("TA") {
        return all_digits(tactic, 4);
    }
    let Some(technique) = id.strip_prefix('T') else {
        return false;
    };
    match technique.split_once('.') {
        Some((base, sub)) => all_digits(base, 4) && all_digits(sub, 3),
        None => all_digits(technique, 4),
    }
}

/// Adds `key` for `direction` to an exact step, refusing what an earlier line already mapped:
/// with first-hit lookups the second line could never apply, which is surely not what its
/// author meant.
fn insert_unique<K: std::hash::Hash + Eq + fmt::Display>(
    step: &mut FxHashMap<K, Directed>,
    key: K,
    direction: Option<Direction>,
    technique: Technique,
    line: usize,
) -> Result<(), String> {
    let mapped = match direction {
        None => key.to_string(),
        Some(direction) => format!("{key} {}", direction.as_str()),
    };
    let slot = step.entry(key).or_default().slot(direction);
    if let Some((_, first)) = slot {
        return Err(format!("{mapped} is already mapped on line {first}"));
    }
    *slot = Some((technique, line));
    Ok(())
}

impl Table {
    /// The table shipped in the crate (`default.table`).
    pub fn builtin() -> Table {
        Table::parse(DEFAULT_TABLE).expect("default.table is valid (tested)")
    }

    /// Parses a table in the format `default.table` documents:
    /// `step<TAB>match<TAB>id<TAB>name[<TAB>direction]` a line, `#` comments and blank lines
    /// ignored. Every regex is compiled here, so a table that parses cannot fail at lookup.
    pub fn parse(text: &str) -> Result<Table, TableError> {
        let mut overrides = FxHashMap::default();
        let mut name_patterns: Vec<&str> = Vec::new();
        let mut name_techniques: Vec<Directed> = Vec::new();
        let mut categories = FxHashMap::default();
        let mut subtypes = FxHashMap::default();
        let mut fallbacks = FxHashMap::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |message: String| TableError { line, message };
            // A file edited on Windows still parses.
            let content = raw.strip_suffix('\r').unwrap_or(raw);
            if content.trim().is_empty() || content.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = content.split('\t').collect();
            let (step, key, id, name, direction) = match fields[..] {
                [step, key, id, name] => (step, key, id, name, None),
                [step, key, id, name, direction] => (step, key, id, name, Some(direction)),
                _ => {
                    return Err(error(format!(
                        "expected 4 tab-separated fields (step, match, id, name) or 5 (and \
                         direction), found {}",
                        fields.len()
                    )))
                }
            };
            let step: Step = step.parse().map_err(error)?;
            if key.is_empty() {
                return Err(error("empty match".to_owned()));
            }
            if !is_attack_id(id) {
                return Err(error(format!(
                    "{id:?} is not an ATT&CK ID (T1234, T1234.567 or TA1234)"
                )));
            }
            if name.trim().is_empty() {
                return Err(error("empty name".to_owned()));
            }
            let direction = match direction {
                None => None,
                Some(text) => Some(Direction::of(text).ok_or_else(|| {
                    error(format!(
                        "unknown direction {text:?}: expected client-to-server or \
                         server-to-client"
                    ))
                })?),
            };
            let technique = Technique {
                id: id.to_owned(),
                name: name.to_owned(),
            };
            match step {
                Step::Override => {
                    let threat_id: u64 = key
                        .parse()
                        .map_err(|_| error(format!("{key:?} is not a threat ID")))?;
                    insert_unique(&mut overrides, threat_id, direction, technique, line)
                        .map_err(error)?;
                }
                Step::Regex => {
                    // Compiled alone first so that a bad pattern is reported with its line.
                    Regex::new(key).map_err(|err| error(format!("invalid regex: {err}")))?;
                    let at = match name_patterns.iter().position(|known| *known == key) {
                        Some(at) => at,
                        None => {
                            name_patterns.push(key);
                            name_techniques.push(Directed::default());
                            name_patterns.len() - 1
                        }
                    };
                    // A repeated pattern for the same direction could never apply; as before
                    // directions existed, the first line keeps it.
                    name_techniques[at]
                        .slot(direction)
                        .get_or_insert((technique, line));
                }
                Step::Category => {
                    insert_unique(&mut categories, key.to_owned(), direction, technique, line)
                        .map_err(error)?;
                }
                Step::Subtype => {
                    insert_unique(&mut subtypes, key.to_owned(), direction, technique, line)
                        .map_err(error)?;
                }
                Step::Fallback => {
                    insert_unique(&mut fallbacks, key.to_owned(), direction, technique, line)
                        .map_err(error)?;
                }
            }
        }
        // Each pattern compiled alone, so only the set's size limit can fail here: no one line
        // is at fault, and the last line is where the set became too large.
        let name_regexes = RegexSet::new(&name_patterns).map_err(|err| TableError {
            line: text.lines().count(),
            message: format!("the regex lines together are too large: {err}"),
        })?;
        Ok(Table {
            overrides,
            name_regexes,
            name_techniques,
            categories,
            subtypes,
            fallbacks,
        })
    }

    /// The technique or tactic of `threat`, trying in order the threat-ID override, the name
    /// regexes (first line first), `PanOSThreatCategory`, the subtype, and the fallback for the
    /// subtype or `*`. Within a step, a line for the threat's direction wins over the line for
    /// any direction of the same match, and a line for a direction applies to no other.
    /// `None` when no step maps it.
    ///
    /// `direction` gives the threat's `client-to-server` or `server-to-client` (any other
    /// value, or none, is an unknown direction); it is called at most once, and only when a line
    /// for a direction could apply.
    pub fn classify<'d>(
        &self,
        threat: &Threat<'_>,
        direction: impl FnOnce() -> Option<&'d str>,
    ) -> Option<Classification<'_>> {
        let direction = LazyCell::new(|| direction().and_then(Direction::of));
        let direction = &|| *direction;
        threat
            .id()
            .and_then(|id| self.overrides.get(&id)?.for_direction(direction))
            .map(|technique| technique.found(Step::Override))
            .or_else(|| {
                let technique = self
                    .name_regexes
                    .matches(threat.name)
                    .iter()
                    .find_map(|at| self.name_techniques[at].for_direction(direction))?;
                Some(technique.found(Step::Regex))
            })
            .or_else(|| {
                lookup(&self.categories, threat.category?, direction)
                    .map(|category| category.found(Step::Category))
            })
            .or_else(|| {
                lookup(&self.subtypes, threat.subtype, direction)
                    .map(|subtype| subtype.found(Step::Subtype))
            })
            .or_else(|| {
                lookup(&self.fallbacks, threat.subtype, direction)
                    .or_else(|| lookup(&self.fallbacks, "*", direction))
                    .map(|fallback| fallback.found(Step::Fallback))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classification of a threat of unknown direction by the built-in table, as (id,
    /// name, step).
    fn classify(name: &str, category: &str, subtype: &str) -> Option<(String, String, Step)> {
        classify_going(name, category, subtype, None)
    }

    fn classify_going(
        name: &str,
        category: &str,
        subtype: &str,
        direction: Option<&str>,
    ) -> Option<(String, String, Step)> {
        let threat = Threat {
            name,
            category: Some(category).filter(|category| !category.is_empty()),
            subtype,
        };
        Table::builtin()
            .classify(&threat, || direction)
            .map(|found| (found.id.to_owned(), found.name.to_owned(), found.source))
    }

    fn mapped(id: &str, name: &str, source: Step) -> Option<(String, String, Step)> {
        Some((id.to_owned(), name.to_owned(), source))
    }

    /// The eight mappings Sophos publishes, as (threat name, category, subtype) → (technique,
    /// name, step). Each threat gets a category and subtype that a later step would map
    /// differently, where one exists, so the table also pins which step answers; and each is
    /// tried in both directions, which must not change a published answer.
    const PUBLISHED: [(&str, &str, &str, &str, &str, Step); 8] = [
        (
            "Apache Log4j Remote Code Execution Vulnerability(N)",
            "code-execution",
            "vulnerability",
            "T1203",
            "Exploitation for Client Execution",
            Step::Regex,
        ),
        (
            "RealVNC VNC Server ClientCutText Message Memory Corruption Vulnerability(33672)",
            "overflow",
            "vulnerability",
            "T1203",
            "Exploitation for Client Execution",
            Step::Override,
        ),
        (
            "DOCX With Attached Templates In Multiple Attacks(86646)",
            "code-execution",
            "vulnerability",
            "T1221",
            "Template Injection",
            Step::Regex,
        ),
        (
            "Generic Cross-Site Scripting Vulnerability(94093)",
            "code-execution",
            "vulnerability",
            "T1189",
            "Drive-by Compromise",
            Step::Regex,
        ),
        (
            "Fastflux:DOMAIN(N)",
            "dns-c2",
            "spyware",
            "T1036",
            "Masquerading",
            Step::Regex,
        ),
        (
            "Virus.ramnit:lfjyaf.com(121569082)",
            "dns-malware",
            "spyware",
            "TA0002",
            "Execution",
            Step::Regex,
        ),
        (
            "OpenSSL SSL_check_chain NULL Pointer Dereference Vulnerability(58033)",
            "dos",
            "vulnerability",
            "T1573",
            "Encrypted Channel",
            Step::Override,
        ),
        (
            "Microsoft Office File Embedded in PDF File Detection(86796)",
            "",
            "file",
            "T1204.002",
            "Malicious File",
            Step::Regex,
        ),
    ];

    #[test]
    fn the_eight_published_mappings_hold_in_every_direction() {
        for (name, category, subtype, id, technique, step) in PUBLISHED {
            for direction in [None, Some("client-to-server"), Some("server-to-client")] {
                assert_eq!(
                    classify_going(name, category, subtype, direction),
                    mapped(id, technique, step),
                    "{name} ({direction:?})"
                );
            }
        }
    }

    #[test]
    fn later_steps_answer_in_order() {
        assert_eq!(
            classify("Some Signature(1)", "sql-injection", "vulnerability"),
            mapped("T1190", "Exploit Public-Facing Application", Step::Category)
        );
        assert_eq!(
            classify("TCP Port Scan(8001)", "", "scan"),
            mapped("T1046", "Network Service Discovery", Step::Subtype)
        );
        assert_eq!(
            classify("Adware Beacon(2)", "adware", "spyware"),
            mapped("TA0011", "Command and Control", Step::Fallback)
        );
        assert_eq!(
            classify("Odd Packet(3)", "protocol-anomaly", "packet"),
            None
        );
    }

    /// Reading the direction is a search of the CEF extension: only a threat that a line for a
    /// direction could classify asks for it, and then once.
    #[test]
    fn the_direction_is_read_only_where_a_line_for_one_could_apply() {
        let reads = std::cell::Cell::new(0);
        let classify = |name, category| {
            let threat = Threat {
                name,
                category: Some(category),
                subtype: "vulnerability",
            };
            Table::builtin()
                .classify(&threat, || {
                    reads.set(reads.get() + 1);
                    Some("client-to-server")
                })
                .map(|found| found.id.to_owned())
        };
        assert_eq!(
            classify("Some Signature(1)", "sql-injection").as_deref(),
            Some("T1190")
        );
        assert_eq!(reads.get(), 0);
        assert_eq!(
            classify("Some Exploit(5)", "code-execution").as_deref(),
            Some("T1190")
        );
        assert_eq!(reads.get(), 1);
    }

    #[test]
    fn code_execution_and_overflow_follow_the_direction() {
        for category in ["code-execution", "overflow"] {
            let going =
                |direction| classify_going("Some Exploit(5)", category, "vulnerability", direction);
            let client_execution =
                mapped("T1203", "Exploitation for Client Execution", Step::Category);
            assert_eq!(
                going(Some("client-to-server")),
                mapped("T1190", "Exploit Public-Facing Application", Step::Category),
                "{category}"
            );
            assert_eq!(
                going(Some("server-to-client")),
                client_execution,
                "{category}"
            );
            assert_eq!(going(None), client_execution, "{category}");
            assert_eq!(going(Some("unknown")), client_execution, "{category}");
        }
    }

    #[test]
    fn a_line_for_the_threats_direction_wins_and_applies_to_no_other() {
        // The directed lines come first and last in the file: order within a match is no matter.
        let table = Table::parse(
            "regex\tExploit\tT1190\tServer side\tclient-to-server\n\
             regex\tExploit\tT1203\tAny side\n\
             override\t7\tT1210\tInbound only\tclient-to-server\n\
             category\tc\tT1059\tOutbound only\tserver-to-client\n\
             fallback\t*\tTA0001\tFor any\n\
             subtype\ts\tT1046\tAny\n\
             subtype\ts\tT1595\tInbound\tclient-to-server\n",
        )
        .unwrap();
        let classify = |name, category, subtype, direction| {
            let threat = Threat {
                name,
                category: Some(category),
                subtype,
            };
            table
                .classify(&threat, || direction)
                .map(|found| (found.id, found.source))
        };
        let inbound = Some("client-to-server");
        let outbound = Some("server-to-client");
        assert_eq!(
            classify("Exploit(1)", "", "", inbound),
            Some(("T1190", Step::Regex))
        );
        assert_eq!(
            classify("Exploit(1)", "", "", outbound),
            Some(("T1203", Step::Regex))
        );
        assert_eq!(
            classify("X(7)", "", "", inbound),
            Some(("T1210", Step::Override))
        );
        assert_eq!(
            classify("X(7)", "c", "", outbound),
            Some(("T1059", Step::Category))
        );
        for unknown in [None, Some("both")] {
            assert_eq!(
                classify("X(7)", "c", "", unknown),
                Some(("TA0001", Step::Fallback)),
                "{unknown:?}"
            );
        }
        assert_eq!(
            classify("X(8)", "", "s", inbound),
            Some(("T1595", Step::Subtype))
        );
        assert_eq!(
            classify("X(8)", "", "s", outbound),
            Some(("T1046", Step::Subtype))
        );
    }

    #[test]
    fn star_fallback_catches_any_subtype() {
        let table = Table::parse(
            "fallback\tvulnerability\tTA0001\tInitial Access\nfallback\t*\tTA0040\tImpact\n",
        )
        .unwrap();
        let threat = |subtype| Threat {
            name: "X(1)",
            category: None,
            subtype,
        };
        assert_eq!(
            table
                .classify(&threat("vulnerability"), || None)
                .unwrap()
                .id,
            "TA0001"
        );
        let any = table.classify(&threat("flood"), || None).unwrap();
        assert_eq!((any.id, any.source), ("TA0040", Step::Fallback));
    }

    #[test]
    fn first_regex_line_wins() {
        let table = Table::parse("regex\tb\tT0002\tSecond\nregex\ta\tT0001\tFirst\n").unwrap();
        let threat = Threat {
            name: "ab",
            category: None,
            subtype: "vulnerability",
        };
        assert_eq!(table.classify(&threat, || None).unwrap().name, "Second");
    }

    #[test]
    fn builtin_table_parses_with_every_step() {
        let table = Table::builtin();
        assert!(!table.overrides.is_empty());
        assert!(!table.name_techniques.is_empty());
        assert!(!table.categories.is_empty());
        assert!(!table.subtypes.is_empty());
        assert!(!table.fallbacks.is_empty());
    }

    #[test]
    fn comments_blank_lines_and_crlf_are_accepted() {
        let table = Table::parse(
            "# heading\r\n\r\n  \nsubtype\tscan\tT1046\tNetwork Service Discovery\r\n",
        )
        .unwrap();
        let scan = table.subtypes["scan"]
            .any
            .as_ref()
            .expect("for any direction");
        assert_eq!(scan.0.name, "Network Service Discovery");
    }

    fn parse_error(text: &str) -> TableError {
        Table::parse(text).unwrap_err()
    }

    #[test]
    fn errors_name_the_line() {
        let good = "subtype\tscan\tT1046\tNetwork Service Discovery\n";
        let cases = [
            (
                "subtype scan T1046 Spaces\n",
                "expected 4 tab-separated fields",
            ),
            ("subtype\tscan\tT1046\n", "found 3"),
            ("technique\tscan\tT1046\tX\n", "unknown step \"technique\""),
            ("subtype\t\tT1046\tX\n", "empty match"),
            ("subtype\tscan\tT104\tX\n", "not an ATT&CK ID"),
            ("subtype\tscan\tT1046.1\tX\n", "not an ATT&CK ID"),
            ("subtype\tscan\tT1046\t \n", "empty name"),
            (
                "override\tLog4j\tT1203\tX\n",
                "\"Log4j\" is not a threat ID",
            ),
            ("regex\t(unclosed\tT1203\tX\n", "invalid regex"),
            (
                "override\t7\tT1203\tX\noverride\t7\tT1190\tY\n",
                "7 is already mapped on line 3",
            ),
            (
                "subtype\tscan\tT1595\tActive Scanning\n",
                "scan is already mapped on line 2",
            ),
            (
                "subtype\tscan\tT1595\tActive Scanning\tinbound\n",
                "unknown direction \"inbound\"",
            ),
            (
                "subtype\tscan\tT1595\tActive Scanning\t\n",
                "unknown direction \"\"",
            ),
            (
                "subtype\tscan\tT1595\tX\tclient-to-server\textra\n",
                "found 6",
            ),
            (
                "subtype\tscan\tT1595\tX\tclient-to-server\n\
                 subtype\tscan\tT1046\tY\tclient-to-server\n",
                "scan client-to-server is already mapped on line 3",
            ),
        ];
        for (bad, message) in cases {
            let error = parse_error(&format!("# header\n{good}{bad}"));
            let last_line = 2 + bad.lines().count();
            assert_eq!(error.line, last_line, "{bad:?}");
            assert!(error.message.contains(message), "{bad:?}: {error}");
        }
        assert!(parse_error("x\n").to_string().starts_with("line 1: "));
    }

    #[test]
    fn attack_ids() {
        for id in ["T1203", "T1204.002", "TA0002"] {
            assert!(is_attack_id(id), "{id}");
        }
        for id in [
            "",
            "T",
            "t1203",
            "T12034",
            "T1204.02",
            "TA002",
            "TA0002.001",
            "X1203",
        ] {
            assert!(!is_attack_id(id), "{id}");
        }
    }

    #[test]
    fn step_names_round_trip() {
        for step in [
            Step::Override,
            Step::Regex,
            Step::Category,
            Step::Subtype,
            Step::Fallback,
        ] {
            assert_eq!(step.to_string().parse::<Step>(), Ok(step));
        }
    }
}
