//! A list of rules with, for each PAN-OS log type its rules name, the rules an event of that
//! type can match. Platform rule sets key on the log type: eight of the sophos preset's nine
//! rules require one (`type = "THREAT"`, `type = ["HIPMATCH", …]`), so a SYSTEM event need only
//! try the three that may take it. Trying a rule that cannot match costs ~200 instructions of
//! condition walking; the type is read once, into the memo slot every `type` test shares.

use crate::config::rules::condition::Test;
use crate::config::rules::{Condition, Field};
use crate::pipeline::facts::{Facts, FieldMemo};

/// The rules of a list (global, or one sink's), in order, by the log type they require.
pub struct RuleList {
    /// Every rule of the list.
    all: Vec<usize>,
    /// The `type` field the rules test and its memo slot; `None` when no rule requires a type.
    type_field: Option<(Field, Option<u8>)>,
    /// For each type some rule names, the rules an event of that type can match.
    by_type: Vec<(String, Vec<usize>)>,
    /// The rules an event of any other type, or of none, can match: those that require no type.
    untyped: Vec<usize>,
}

/// The types a rule requires: a `type` test of its top level that only a value it lists passes.
fn required_types(condition: &Condition) -> Option<(&Field, Option<u8>, &[String])> {
    match condition {
        Condition::All(parts) => parts.iter().find_map(type_test),
        test => type_test(test),
    }
}

/// The field, memo slot and values of a test that `type` is one of a list.
fn type_test(condition: &Condition) -> Option<(&Field, Option<u8>, &[String])> {
    let Condition::Test { field, test, memo } = condition else {
        return None;
    };
    if !is_type(field) {
        return None;
    }
    match test {
        Test::Equals(value) => Some((field, *memo, std::slice::from_ref(value))),
        Test::OneOf(values) => Some((field, *memo, values.as_slice())),
        _ => None,
    }
}

fn is_type(field: &Field) -> bool {
    matches!(field, Field::Named(name) if name.as_str() == "type")
}

impl RuleList {
    /// `all`: positions in `conditions` of the list's rules, in order. The conditions' memo
    /// slots must be shared already ([`Condition::share_memo_slots`]).
    pub fn new<'c>(all: Vec<usize>, condition_of: impl Fn(usize) -> &'c Condition) -> RuleList {
        let guards: Vec<_> = all
            .iter()
            .map(|&index| (index, required_types(condition_of(index))))
            .collect();
        let type_field = guards
            .iter()
            .find_map(|(_, guard)| guard.map(|(field, memo, _)| (field.clone(), memo)));
        let mut types: Vec<&String> = guards
            .iter()
            .flat_map(|(_, guard)| guard.map_or(&[][..], |(_, _, types)| types))
            .collect();
        types.sort_unstable();
        types.dedup();
        let taking = |log_type: Option<&str>| -> Vec<usize> {
            guards
                .iter()
                .filter(|(_, guard)| match (guard, log_type) {
                    (None, _) => true,
                    (Some((_, _, types)), Some(log_type)) => types.iter().any(|t| t == log_type),
                    (Some(_), None) => false,
                })
                .map(|(index, _)| *index)
                .collect()
        };
        let by_type = types
            .into_iter()
            .map(|log_type| (log_type.clone(), taking(Some(log_type))))
            .collect();
        RuleList {
            untyped: taking(None),
            type_field,
            by_type,
            all,
        }
    }

    /// Whether the list has no rules.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// The rules, in order, that an event can match: the type's own list when a rule requires
    /// a type (reading the event's type into `memo`), else every rule.
    pub fn candidates<'f>(&self, facts: &Facts<'f, '_>, memo: &FieldMemo<'f>) -> &[usize] {
        let Some((field, slot)) = &self.type_field else {
            return &self.all;
        };
        memo.with_value(facts, field, *slot, |log_type| {
            log_type
                .and_then(|log_type| self.by_type.iter().find(|(t, _)| t == log_type))
                .map_or(&self.untyped, |(_, rules)| rules)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use cefrelay_panos::mitre::Table;
    use cefrelay_syslog::ParseOptions;
    use time::OffsetDateTime;

    use super::*;
    use crate::config::Config;
    use crate::event::{Event, Origin};
    use crate::pipeline::facts::MEMO_SLOTS;
    use crate::pipeline::rules::matches;

    fn condition(toml: &str) -> Condition {
        let table: toml::Table = toml::from_str(toml).expect("valid TOML");
        Condition::compile(&table, "").expect("a valid condition")
    }

    fn list(conditions: &[Condition]) -> RuleList {
        RuleList::new((0..conditions.len()).collect(), |index| &conditions[index])
    }

    fn lists_by_type(list: &RuleList) -> Vec<(&str, &[usize])> {
        let mut lists: Vec<(&str, &[usize])> = list
            .by_type
            .iter()
            .map(|(t, rules)| (t.as_str(), rules.as_slice()))
            .collect();
        lists.push(("", &list.untyped));
        lists
    }

    #[test]
    fn each_type_gets_the_rules_that_name_it_or_no_type_in_order() {
        let conditions = [
            condition(r#"type = "THREAT""#),
            condition(r#"action = "deny""#),
            condition(r#"type = ["SYSTEM", "THREAT"]"#),
            condition(r#"type = { prefix = "SYS" }"#),
            condition(r#"any = [{ type = "CONFIG" }]"#),
        ];
        assert_eq!(
            lists_by_type(&list(&conditions)),
            [
                ("SYSTEM", &[1, 2, 3, 4][..]),
                ("THREAT", &[0, 1, 2, 3, 4][..]),
                // A prefix or a type under `any` is not an exact list: those rules stay in all.
                ("", &[1, 3, 4][..]),
            ]
        );
    }

    #[test]
    fn without_a_required_type_every_rule_is_a_candidate_and_the_type_is_not_read() {
        let conditions = [condition(r#"action = "deny""#), condition("")];
        let list = list(&conditions);
        assert!(list.type_field.is_none());
        assert_eq!(list.all, [0, 1]);
    }

    #[test]
    fn a_rule_left_out_of_a_types_list_matches_no_event_of_that_type() {
        let state = tempfile::tempdir().expect("temp dir");
        let toml = format!(
            "state_dir = {:?}\n{}",
            state.path(),
            r#"
            [[rule]]
            preset = "sophos"
            [[rule]]
            name = "traffic-to-dns"
            match = { type = "TRAFFIC", dport = 53 }
            action = "drop"
            [[rule]]
            name = "any-type-from-fw1"
            match = { host = "fw1" }
            action = "keep"
            "#
        );
        let config = Config::from_toml(&toml, Path::new("test.toml")).expect("valid config");
        let mut conditions: Vec<Condition> = config
            .rules
            .rules
            .iter()
            .map(|rule| rule.condition.clone())
            .collect();
        Condition::share_memo_slots(conditions.iter_mut(), MEMO_SLOTS);
        let list = list(&conditions);
        assert!(list.by_type.len() >= 5, "the preset names its types");

        let table = Table::builtin();
        let origin = Origin {
            peer: "192.0.2.10".parse().expect("ip"),
            received_at: OffsetDateTime::UNIX_EPOCH,
        };
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/panos-cef");
        let mut lines = 0;
        for entry in std::fs::read_dir(&fixtures).expect("fixtures") {
            let body = std::fs::read_to_string(entry.expect("entry").path()).expect("fixture");
            let text = format!("<14>May  8 08:10:31 fw1 {}", body.trim_end());
            let event = Event::parse(&text, false, &ParseOptions::new(origin.received_at));
            let facts = Facts::new(&event, origin, &text, Some(&table));
            let memo = FieldMemo::new();
            let matching: Vec<usize> = (0..conditions.len())
                .filter(|&index| matches(&conditions[index], &facts, &memo))
                .collect();
            let candidates = list.candidates(&facts, &memo);
            assert!(
                matching.iter().all(|index| candidates.contains(index)),
                "{text}: rules {matching:?} match, candidates {candidates:?}"
            );
            lines += 1;
        }
        assert!(lines >= 30, "every fixture read: {lines}");
    }
}
