//! A rule's `match` table, compiled: which field each test reads and how it compares.
//!
//! ```toml
//! match = { type = "THREAT", subtype = ["spyware", "virus"], dport = { lt = 1024 },
//!           any = [{ peer = { cidr = "10.0.0.0/8" } }, { Rule = { prefix = "dmz-" } }],
//!           not = { action = "allow" } }
//! ```
//!
//! Each key of the table is a field test, or `all` / `any` (an array of such tables) or `not` (one
//! table); every entry of a table must hold. A field's value is a string or number (equals), an
//! array (one of), or a table of operators: `equals`, `one_of`, `prefix`, `contains`, `regex`,
//! `cidr` (one or an array), `lt`, `le`, `gt`, `ge` (numbers), `exists` (true or false).

use std::net::IpAddr;

use cefrelay_cef::Key;
use ipnet::IpNet;
use regex::Regex;
use toml::{Table, Value};

use crate::config::validate::network;

/// A field a rule can read. Names are resolved when the rules load; [`Field::Named`] is looked up
/// per event in the order its doc gives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// The sender's address (`peer`).
    Peer,
    /// `host`: the syslog HOSTNAME.
    Host,
    AppName,
    /// The syslog facility and severity, as numbers (`facility`, `syslog.severity`).
    Facility,
    SyslogSeverity,
    ProcId,
    MsgId,
    /// The whole message text after the syslog header (`message`).
    Message,
    DeviceVendor,
    DeviceProduct,
    DeviceVersion,
    SignatureId,
    /// The CEF header's Name (`name`); a PAN-OS log's type.
    Name,
    /// The CEF header's Severity (`severity`, `cef.severity`).
    Severity,
    /// The enrichment of a PAN-OS threat (`alertType`, `threatId`, `threatName`).
    AlertType,
    ThreatId,
    ThreatName,
    /// `ext.KEY`: only the CEF extension key.
    Extension(FieldName),
    /// `panos.VARIABLE`: only the PAN-OS field.
    Panos(String),
    /// Any other name: the PAN-OS field of that variable name, else the CEF extension key, else
    /// the extension value whose label (`cs1Label=Rule`) is the name.
    Named(FieldName),
}

/// A field name that may be a CEF extension key, with the key's searcher built when the rules
/// load: building it for every event (~1 400 instructions) cost the sophos preset more than its
/// searches. Compared and hashed by the name alone.
#[derive(Debug, Clone)]
pub struct FieldName {
    name: String,
    /// `None` when the name cannot be an extension key (no record has it). Boxed: a searcher is
    /// ~300 bytes, and a rule's conditions hold many fields.
    key: Option<Box<Key>>,
}

impl FieldName {
    pub fn new(name: &str) -> FieldName {
        FieldName {
            name: name.to_string(),
            key: Key::new(name).map(Box::new),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The name as an extension key.
    pub fn key(&self) -> Option<&Key> {
        self.key.as_deref()
    }
}

impl From<&str> for FieldName {
    fn from(name: &str) -> FieldName {
        FieldName::new(name)
    }
}

impl PartialEq for FieldName {
    fn eq(&self, other: &FieldName) -> bool {
        self.name == other.name
    }
}

impl Eq for FieldName {}

impl std::hash::Hash for FieldName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl Field {
    /// The field `name` refers to.
    pub fn parse(name: &str) -> Result<Field, String> {
        let field = match name {
            "peer" => Field::Peer,
            "host" | "hostname" => Field::Host,
            "app_name" => Field::AppName,
            "facility" => Field::Facility,
            "syslog.severity" => Field::SyslogSeverity,
            "procid" => Field::ProcId,
            "msgid" => Field::MsgId,
            "message" => Field::Message,
            "device_vendor" => Field::DeviceVendor,
            "device_product" => Field::DeviceProduct,
            "device_version" => Field::DeviceVersion,
            "signature_id" | "deviceEventClassID" => Field::SignatureId,
            "name" | "cef.name" => Field::Name,
            "severity" | "cef.severity" => Field::Severity,
            "alertType" => Field::AlertType,
            "threatId" => Field::ThreatId,
            "threatName" => Field::ThreatName,
            _ => {
                if let Some(key) = name.strip_prefix("ext.") {
                    Field::Extension(FieldName::new(valid_name(key, name)?))
                } else if let Some(variable) = name.strip_prefix("panos.") {
                    Field::Panos(valid_name(variable, name)?.to_string())
                } else {
                    Field::Named(FieldName::new(valid_name(name, name)?))
                }
            }
        };
        Ok(field)
    }
}

fn valid_name<'n>(name: &'n str, whole: &str) -> Result<&'n str, String> {
    if name.is_empty() || name.contains(char::is_whitespace) {
        Err(format!("`{whole}` is not a field name"))
    } else {
        Ok(name)
    }
}

/// How a field's value is compared.
#[derive(Debug, Clone)]
pub enum Test {
    Equals(String),
    OneOf(Vec<String>),
    Prefix(String),
    Contains(String),
    Regex(Regex),
    Cidr(Vec<IpNet>),
    Less(f64),
    LessOrEqual(f64),
    Greater(f64),
    GreaterOrEqual(f64),
    /// The field is present (with any value, empty included) or absent.
    Exists(bool),
}

impl Test {
    /// Whether `value` (`None`: the event has no such field) passes.
    pub fn passes(&self, value: Option<&str>) -> bool {
        let Some(value) = value else {
            return matches!(self, Test::Exists(false));
        };
        match self {
            Test::Equals(expected) => value == expected,
            Test::OneOf(expected) => expected.iter().any(|e| e == value),
            Test::Prefix(prefix) => value.starts_with(prefix.as_str()),
            Test::Contains(part) => value.contains(part.as_str()),
            Test::Regex(regex) => regex.is_match(value),
            Test::Cidr(nets) => value
                .parse::<IpAddr>()
                .is_ok_and(|ip| nets.iter().any(|net| net.contains(&ip))),
            Test::Less(n) => number(value).is_some_and(|v| v < *n),
            Test::LessOrEqual(n) => number(value).is_some_and(|v| v <= *n),
            Test::Greater(n) => number(value).is_some_and(|v| v > *n),
            Test::GreaterOrEqual(n) => number(value).is_some_and(|v| v >= *n),
            Test::Exists(exists) => *exists,
        }
    }
}

/// A field's text as a number; text that is not one fails every numeric test.
fn number(value: &str) -> Option<f64> {
    // A CEF severity or a port is a few digits: summed as an integer, which is exact below
    // 2^53, instead of going through the float parser (~75 instructions a test).
    if (1..=15).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        let integer = value
            .bytes()
            .fold(0u64, |n, digit| n * 10 + u64::from(digit - b'0'));
        return Some(integer as f64);
    }
    value.trim().parse().ok()
}

/// A compiled `match` table.
#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Test {
        field: Field,
        test: Test,
        /// Where an event keeps this field's value once a test has read it, shared by every
        /// test of the same field in the rule set (set by [`Condition::share_memo_slots`]):
        /// the sophos preset reads `type` in eight rules and `subtype` in four.
        memo: Option<u8>,
    },
}

impl Condition {
    /// Matches every event: a rule without `match`.
    pub fn always() -> Condition {
        Condition::All(Vec::new())
    }

    /// Compiles `table`; errors name the path inside it (`any[1].dport.lt`).
    pub fn compile(table: &Table, path: &str) -> Result<Condition, String> {
        let mut all = Vec::new();
        for (key, value) in table {
            let here = join(path, key);
            let condition = match key.as_str() {
                "all" | "any" => {
                    let Value::Array(items) = value else {
                        return Err(format!("`{here}` takes an array of tables"));
                    };
                    let mut parts = Vec::new();
                    for (index, item) in items.iter().enumerate() {
                        let Value::Table(table) = item else {
                            return Err(format!("`{here}[{index}]` must be a table of tests"));
                        };
                        parts.push(Condition::compile(table, &format!("{here}[{index}]"))?);
                    }
                    if key == "all" {
                        Condition::All(parts)
                    } else {
                        Condition::Any(parts)
                    }
                }
                "not" => {
                    let Value::Table(table) = value else {
                        return Err(format!("`{here}` takes a table of tests"));
                    };
                    Condition::Not(Box::new(Condition::compile(table, &here)?))
                }
                name => {
                    let field = Field::parse(name).map_err(|why| format!("`{here}`: {why}"))?;
                    field_tests(field, value, &here)?
                }
            };
            all.push(condition);
        }
        // Every test of a table must hold, so the order is free: the cheap ones first, and an
        // event that fails on the CEF header never has its extension searched.
        all.sort_by_key(Condition::cost);
        Ok(match all.len() {
            1 => all.pop().expect("one condition"),
            _ => Condition::All(all),
        })
    }

    /// Gives every field that the tests of `conditions` read a memo slot of its own, the same
    /// for every test of that field, up to `slots` fields (the rest are read at each test).
    pub fn share_memo_slots<'c>(
        conditions: impl IntoIterator<Item = &'c mut Condition>,
        slots: u8,
    ) {
        // In rule order, so that with more fields than slots the first rules' fields have them.
        fn share(condition: &mut Condition, fields: &mut Vec<Field>, slots: u8) {
            match condition {
                Condition::All(parts) | Condition::Any(parts) => {
                    parts.iter_mut().for_each(|part| share(part, fields, slots))
                }
                Condition::Not(inner) => share(inner, fields, slots),
                Condition::Test { field, memo, .. } => {
                    let slot = match fields.iter().position(|known| known == field) {
                        Some(slot) => slot,
                        None => {
                            fields.push(field.clone());
                            fields.len() - 1
                        }
                    };
                    *memo = u8::try_from(slot).ok().filter(|&slot| slot < slots);
                }
            }
        }
        let mut fields = Vec::new();
        for condition in conditions {
            share(condition, &mut fields, slots);
        }
    }

    /// How much reading this condition's fields costs, roughly: the syslog and CEF headers are
    /// at hand, a PAN-OS type or subtype is in the header, any other field is a search of the
    /// extension, a threat's enrichment a classification.
    fn cost(&self) -> u8 {
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                parts.iter().map(Condition::cost).max().unwrap_or(0)
            }
            Condition::Not(inner) => inner.cost(),
            Condition::Test { field, test, .. } => {
                let field_cost = match field {
                    Field::Named(name) if matches!(name.as_str(), "type" | "subtype") => 1,
                    Field::Named(_) | Field::Panos(_) | Field::Extension(_) => 2,
                    Field::AlertType | Field::ThreatId | Field::ThreatName => 3,
                    _ => 0,
                };
                field_cost + u8::from(matches!(test, Test::Regex(_)))
            }
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The tests of one field: a value (equals), an array (one of) or a table of operators.
fn field_tests(field: Field, value: &Value, path: &str) -> Result<Condition, String> {
    let test = |test| Condition::Test {
        field: field.clone(),
        test,
        memo: None,
    };
    match value {
        Value::Array(items) => {
            let values = items
                .iter()
                .map(|item| scalar(item, path))
                .collect::<Result<_, _>>()?;
            Ok(test(Test::OneOf(values)))
        }
        Value::Table(operators) => {
            if operators.is_empty() {
                return Err(format!("`{path}` has no operator"));
            }
            let mut tests = Vec::new();
            for (operator, argument) in operators {
                let here = join(path, operator);
                tests.push(test(operator_test(operator, argument, &here)?));
            }
            Ok(match tests.len() {
                1 => tests.pop().expect("one test"),
                _ => Condition::All(tests),
            })
        }
        scalar_value => Ok(test(Test::Equals(scalar(scalar_value, path)?))),
    }
}

fn operator_test(operator: &str, argument: &Value, path: &str) -> Result<Test, String> {
    Ok(match operator {
        "equals" => Test::Equals(scalar(argument, path)?),
        "one_of" => {
            let Value::Array(items) = argument else {
                return Err(format!("`{path}` takes an array"));
            };
            let values = items
                .iter()
                .map(|item| scalar(item, path))
                .collect::<Result<_, _>>()?;
            Test::OneOf(values)
        }
        "prefix" => Test::Prefix(scalar(argument, path)?),
        "contains" => Test::Contains(scalar(argument, path)?),
        "regex" => {
            let pattern = scalar(argument, path)?;
            // The regex crate runs in time linear in the input: no pattern can stall the relay.
            let regex = regex::RegexBuilder::new(&pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("`{path}`: the regex does not compile: {e}"))?;
            Test::Regex(regex)
        }
        "cidr" => {
            let texts = match argument {
                Value::Array(items) => items
                    .iter()
                    .map(|item| scalar(item, path))
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![scalar(other, path)?],
            };
            let nets = texts
                .iter()
                .map(|text| network(text).map_err(|why| format!("`{path}`: {why}")))
                .collect::<Result<_, _>>()?;
            Test::Cidr(nets)
        }
        "lt" | "le" | "gt" | "ge" => {
            let n = match argument {
                Value::Integer(n) => *n as f64,
                Value::Float(n) => *n,
                _ => return Err(format!("`{path}` takes a number")),
            };
            match operator {
                "lt" => Test::Less(n),
                "le" => Test::LessOrEqual(n),
                "gt" => Test::Greater(n),
                _ => Test::GreaterOrEqual(n),
            }
        }
        "exists" => match argument {
            Value::Boolean(exists) => Test::Exists(*exists),
            _ => return Err(format!("`{path}` takes true or false")),
        },
        other => {
            return Err(format!(
                "`{path}`: unknown operator `{other}` (equals, one_of, prefix, contains, regex, \
                 cidr, lt, le, gt, ge, exists)"
            ))
        }
    })
}

/// A string, or a number or boolean as the text a log would carry.
fn scalar(value: &Value, path: &str) -> Result<String, String> {
    match value {
        Value::String(text) => Ok(text.clone()),
        Value::Integer(n) => Ok(n.to_string()),
        Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!("`{path}` takes a string or a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(text: &str) -> Result<Condition, String> {
        let table: Table = toml::from_str(text).expect("valid TOML");
        Condition::compile(&table, "match")
    }

    #[test]
    fn names_resolve_to_the_fields_they_name() {
        assert_eq!(Field::parse("peer"), Ok(Field::Peer));
        assert_eq!(Field::parse("severity"), Ok(Field::Severity));
        assert_eq!(Field::parse("syslog.severity"), Ok(Field::SyslogSeverity));
        assert_eq!(Field::parse("ext.cs1"), Ok(Field::Extension("cs1".into())));
        assert_eq!(Field::parse("panos.from"), Ok(Field::Panos("from".into())));
        assert_eq!(Field::parse("Rule"), Ok(Field::Named("Rule".into())));
        assert!(Field::parse("ext.").is_err());
    }

    #[test]
    fn every_operator_compares_as_documented() {
        let passes = |test: &str, value: Option<&str>| {
            let Condition::Test { test, .. } = compile(&format!("f = {test}")).unwrap() else {
                panic!("one test");
            };
            test.passes(value)
        };
        assert!(passes(r#""a""#, Some("a")) && !passes(r#""a""#, Some("ab")));
        assert!(passes("53", Some("53")));
        assert!(passes(r#"["a", "b"]"#, Some("b")) && !passes(r#"["a"]"#, Some("c")));
        assert!(passes(r#"{ prefix = "dmz" }"#, Some("dmz-web")));
        assert!(passes(r#"{ contains = "flux" }"#, Some("Fastflux:x")));
        assert!(passes(r#"{ regex = "^T1[0-9]+$" }"#, Some("T1190")));
        assert!(passes(r#"{ cidr = "10.0.0.0/8" }"#, Some("10.1.2.3")));
        assert!(passes(r#"{ cidr = ["::1", "192.0.2.0/24"] }"#, Some("::1")));
        assert!(!passes(r#"{ cidr = "10.0.0.0/8" }"#, Some("not-an-ip")));
        assert!(passes("{ lt = 1024 }", Some("53")) && !passes("{ lt = 1024 }", Some("8080")));
        assert!(passes("{ ge = 3 }", Some("3")) && !passes("{ gt = 3 }", Some("3")));
        assert!(!passes("{ lt = 10 }", Some("ten")));
        assert!(passes("{ exists = false }", None) && !passes(r#""a""#, None));
    }

    #[test]
    fn numbers_read_by_the_integer_shortcut_equal_the_float_parse() {
        for text in ["0", "3", "0003", "65535", "999999999999999"] {
            assert_eq!(number(text), text.parse().ok(), "{text}");
        }
        // Past the shortcut: the float parser, with its trimming and syntax.
        for text in [" 7 ", "+3", "3.5", "1e3", "9007199254740993", "-1"] {
            assert_eq!(number(text), text.trim().parse().ok(), "{text}");
        }
        assert_eq!(number(""), None);
        assert_eq!(number("3a"), None);
    }

    fn memo_slots(conditions: &[Condition]) -> Vec<Vec<(String, Option<u8>)>> {
        fn walk(condition: &Condition, out: &mut Vec<(String, Option<u8>)>) {
            match condition {
                Condition::All(parts) | Condition::Any(parts) => {
                    parts.iter().for_each(|part| walk(part, out))
                }
                Condition::Not(inner) => walk(inner, out),
                Condition::Test { field, memo, .. } => out.push((format!("{field:?}"), *memo)),
            }
        }
        conditions
            .iter()
            .map(|condition| {
                let mut out = Vec::new();
                walk(condition, &mut out);
                out.sort();
                out
            })
            .collect()
    }

    #[test]
    fn every_test_of_a_field_shares_its_memo_slot_up_to_the_limit() {
        let mut conditions = [
            compile(
                r#"type = "THREAT"
severity = { ge = 3 }"#,
            )
            .unwrap(),
            compile(
                r#"type = "SYSTEM"
not = { subtype = "vpn" }
any = [{ severity = 1 }, { action = "deny" }]"#,
            )
            .unwrap(),
        ];
        Condition::share_memo_slots(conditions.iter_mut(), 16);
        let slots = memo_slots(&conditions);
        let slot_of = |field: &str| {
            let found: Vec<Option<u8>> = slots
                .iter()
                .flatten()
                .filter(|(name, _)| name.contains(field))
                .map(|(_, slot)| *slot)
                .collect();
            assert!(
                found.iter().all(|slot| *slot == found[0]),
                "{field}: {found:?}"
            );
            found[0].expect("a slot")
        };
        let mut distinct = vec![
            slot_of("\"type\""),
            slot_of("Severity"),
            slot_of("\"subtype\""),
            slot_of("\"action\""),
        ];
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{slots:?}");

        // With room for two fields, the first rule's have them and the others are read at
        // each test.
        Condition::share_memo_slots(conditions.iter_mut(), 2);
        let slots = memo_slots(&conditions);
        let mut unslotted: Vec<&str> = slots
            .iter()
            .flatten()
            .filter(|(_, slot)| slot.is_none())
            .map(|(name, _)| name.as_str())
            .collect();
        unslotted.dedup();
        assert_eq!(unslotted.len(), 2, "{slots:?}");
        assert!(slots[0].iter().all(|(_, slot)| slot.is_some()), "{slots:?}");
    }

    #[test]
    fn mistakes_name_their_place_in_the_table() {
        let error = compile(r#"any = [{ dport = { lt = "x" } }]"#).unwrap_err();
        assert!(
            error.contains("`match.any[0].dport.lt` takes a number"),
            "{error}"
        );
        let error = compile(r#"cat = { regex = "(" }"#).unwrap_err();
        assert!(
            error.contains("`match.cat.regex`: the regex does not compile"),
            "{error}"
        );
        let error = compile(r#"src = { near = "x" }"#).unwrap_err();
        assert!(error.contains("unknown operator `near`"), "{error}");
        let error = compile(r#"src = { cidr = "10.0.0.0/33" }"#).unwrap_err();
        assert!(error.contains("not an address or CIDR"), "{error}");
    }
}
