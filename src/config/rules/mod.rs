//! `[[rule]]` and `[rules]`: the platform rules, validated and compiled. Presets expand in place
//! (their rules are named `PRESET/NAME`); a sink's `rules` names rules that then apply to that
//! sink only, after the global ones. What the rules do to events is `pipeline::rules`.

pub mod condition;
pub mod presets;

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::limits;
use super::raw::{RawConfig, RawRule, RuleAction};
use super::validate::{self, Span, Validator};
use super::ConfigError;
pub use condition::{Condition, Field};

/// Every rule, in the order they are tried, and where each applies.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub rules: Vec<Rule>,
    /// Suppression windows open at once, over every suppress rule.
    pub max_suppress_keys: usize,
    /// The rules each sink names, by sink name, in the sink's order.
    pub sink_rules: Vec<(String, Vec<String>)>,
}

impl Rules {
    /// Whether the rule named `name` applies to one or more sinks only (a sink names it).
    pub fn is_sink_rule(&self, name: &str) -> bool {
        self.sink_rules
            .iter()
            .any(|(_, names)| names.iter().any(|n| n == name))
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub condition: Condition,
    pub action: Action,
    /// Counts what it would do, changes nothing.
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Forward; no later rule is tried.
    Keep,
    Drop,
    /// Keep 1 in `rate`, chosen by a hash of the key (the whole message without one), so one key
    /// is kept or dropped on every relay and for every sink.
    Sample {
        rate: u64,
        key: Option<Vec<Field>>,
    },
    /// Let `allow` events per key through in each window, count the rest, and close each window
    /// with one summary event.
    Suppress {
        key: Vec<Field>,
        allow: u64,
        window: Duration,
    },
    /// Only these sinks take the event.
    Route {
        sinks: Vec<String>,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::Sample { .. } => "sample",
            Action::Suppress { .. } => "suppress",
            Action::Route { .. } => "route",
        }
    }
}

const DEFAULT_SUPPRESS_KEYS: u64 = 100_000;
const DEFAULT_WINDOW_SECS: u64 = 300;

/// `[[rule]]`, `[rules]` and the sinks' `rules`, validated. `sinks` are the sink names a route or a
/// sink's `rules` may name (the agent forward's included when it is on), in sink order.
pub fn validate(
    check: &Validator<'_>,
    raw: &RawConfig,
    sinks: &[(String, Option<&Spanned<Vec<String>>>)],
) -> Result<Rules, ConfigError> {
    let max_suppress_keys = check.size(
        "rules.max_suppress_keys",
        raw.rules.max_suppress_keys.as_ref(),
        &limits::SUPPRESS_KEYS,
        DEFAULT_SUPPRESS_KEYS,
    )?;
    // Each rule with the line that wrote it (a preset's: the `preset` key's).
    let mut placed: Vec<(Rule, Option<Span>)> = Vec::new();
    for (index, raw_rule) in raw.rule.iter().enumerate() {
        let key = format!("rule[{index}]");
        match &raw_rule.preset {
            Some(preset) => {
                let expanded = expand(check, &key, raw_rule, preset)?;
                placed.extend(expanded.into_iter().map(|rule| (rule, Some(preset.span()))));
            }
            None => placed.push((rule(check, &key, raw_rule, None)?, first_span(raw_rule))),
        }
    }
    let count = placed.len() as u64;
    if !limits::RULES.range.contains(&count) {
        return Err(check.error(
            "rule".into(),
            None,
            format!("{count} rules is out of range: {}", limits::RULES),
        ));
    }
    for (index, (rule, span)) in placed.iter().enumerate() {
        if placed[..index]
            .iter()
            .any(|(other, _)| other.name == rule.name)
        {
            return Err(check.error(
                format!("rule.{}", rule.name),
                span.clone(),
                format!(
                    "two rules are named `{}`: each needs its own name (it labels its metrics)",
                    rule.name
                ),
            ));
        }
        if let Action::Route { sinks: targets } = &rule.action {
            if let Some(unknown) = targets.iter().find(|t| !sinks.iter().any(|(s, _)| s == *t)) {
                return Err(check.error(
                    format!("rule.{}.sinks", rule.name),
                    span.clone(),
                    format!("no sink is named `{unknown}` (sinks: {})", names(sinks)),
                ));
            }
        }
    }
    let rules: Vec<Rule> = placed.into_iter().map(|(rule, _)| rule).collect();
    let mut sink_rules = Vec::new();
    for (sink, named) in sinks {
        let Some(named) = named else { continue };
        for name in named.get_ref() {
            let Some(rule) = rules.iter().find(|rule| &rule.name == name) else {
                return Err(check.error(
                    format!("{sink}.rules"),
                    Some(named.span()),
                    format!("no rule is named `{name}`"),
                ));
            };
            if matches!(rule.action, Action::Route { .. }) {
                return Err(check.error(
                    format!("{sink}.rules"),
                    Some(named.span()),
                    format!("`{name}` routes: a sink's own rules can keep, drop, sample or suppress, not route"),
                ));
            }
        }
        sink_rules.push((sink.clone(), named.get_ref().clone()));
    }
    Ok(Rules {
        rules,
        max_suppress_keys,
        sink_rules,
    })
}

fn names(sinks: &[(String, Option<&Spanned<Vec<String>>>)]) -> String {
    let names: Vec<&str> = sinks.iter().map(|(name, _)| name.as_str()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The first line of a rule's table that says something, for errors about the whole rule.
fn first_span(raw: &RawRule) -> Option<Span> {
    raw.name
        .as_ref()
        .map(Spanned::span)
        .or_else(|| raw.action.as_ref().map(Spanned::span))
        .or_else(|| raw.condition.as_ref().map(Spanned::span))
}

/// A preset's rules, named `PRESET/NAME`; a `[[rule]]` with `preset` takes no other key.
fn expand(
    check: &Validator<'_>,
    key: &str,
    raw: &RawRule,
    preset: &Spanned<String>,
) -> Result<Vec<Rule>, ConfigError> {
    let other_keys = raw.name.is_some()
        || raw.condition.is_some()
        || raw.action.is_some()
        || raw.dry_run.is_some()
        || raw.rate.is_some()
        || raw.key.is_some()
        || raw.allow.is_some()
        || raw.window_secs.is_some()
        || raw.sinks.is_some();
    if other_keys {
        return Err(check.error(
            format!("{key}.preset"),
            Some(preset.span()),
            "a rule with `preset` takes no other key: print the preset (`cefrelay rules show NAME`) and edit a copy".into(),
        ));
    }
    let name = preset.get_ref();
    let Some(text) = presets::text(name) else {
        return Err(check.error(
            format!("{key}.preset"),
            Some(preset.span()),
            format!(
                "no preset is named `{name}` (presets: {})",
                presets::NAMES.join(", ")
            ),
        ));
    };
    let file = format!("<preset {name}>");
    let preset_check = Validator::new(text, Path::new(&file), &[]);
    let preset_raw: RawConfig = validate::parse(text, Path::new(&file))?;
    preset_raw
        .rule
        .iter()
        .enumerate()
        .map(|(index, raw)| rule(&preset_check, &format!("rule[{index}]"), raw, Some(name)))
        .collect()
}

/// One rule that is not a preset.
fn rule(
    check: &Validator<'_>,
    key: &str,
    raw: &RawRule,
    preset: Option<&str>,
) -> Result<Rule, ConfigError> {
    let line = first_span(raw);
    let name = match &raw.name {
        Some(name) if name.get_ref().is_empty() || name.get_ref().contains('"') => {
            return Err(check.error(
                format!("{key}.name"),
                Some(name.span()),
                "a rule name is a non-empty label without quotes".into(),
            ))
        }
        Some(name) => name.get_ref().clone(),
        None => key.to_string(),
    };
    let name = match preset {
        Some(preset) => format!("{preset}/{name}"),
        None => name,
    };
    let named = |field: &str| format!("{key}.{field}");
    let condition = match &raw.condition {
        None => Condition::always(),
        Some(table) => Condition::compile(table.get_ref(), "match").map_err(|why| {
            check.error(
                named("match"),
                Some(table.span()),
                format!("rule `{name}`: {why}"),
            )
        })?,
    };
    let Some(action) = &raw.action else {
        return Err(check.error(
            named("action"),
            line.clone(),
            format!("rule `{name}` needs an action: keep, drop, sample, suppress or route"),
        ));
    };
    let key_fields = |required: bool| -> Result<Option<Vec<Field>>, ConfigError> {
        let Some(fields) = &raw.key else {
            if required {
                return Err(check.error(
                    named("key"),
                    Some(action.span()),
                    format!("rule `{name}` suppresses by key: list the fields that make it, e.g. key = [\"src\", \"dst\", \"dport\"]"),
                ));
            }
            return Ok(None);
        };
        if fields.get_ref().is_empty() {
            return Err(check.error(
                named("key"),
                Some(fields.span()),
                "an empty key: list one field or more".into(),
            ));
        }
        fields
            .get_ref()
            .iter()
            .map(|field| {
                Field::parse(field)
                    .map_err(|why| check.error(named("key"), Some(fields.span()), why))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    };
    let unused = |present: bool, field: &str| -> Result<(), ConfigError> {
        if present {
            return Err(check.error(
                named(field),
                line.clone(),
                format!(
                    "rule `{name}`: `{field}` means nothing to action `{}`",
                    action_name(*action.get_ref())
                ),
            ));
        }
        Ok(())
    };
    let kind = *action.get_ref();
    unused(raw.rate.is_some() && kind != RuleAction::Sample, "rate")?;
    unused(
        raw.key.is_some() && !matches!(kind, RuleAction::Sample | RuleAction::Suppress),
        "key",
    )?;
    unused(raw.allow.is_some() && kind != RuleAction::Suppress, "allow")?;
    unused(
        raw.window_secs.is_some() && kind != RuleAction::Suppress,
        "window_secs",
    )?;
    unused(raw.sinks.is_some() && kind != RuleAction::Route, "sinks")?;
    let action = match kind {
        RuleAction::Keep => Action::Keep,
        RuleAction::Drop => Action::Drop,
        RuleAction::Sample => {
            let Some(rate) = &raw.rate else {
                return Err(check.error(
                    named("rate"),
                    Some(action.span()),
                    format!("rule `{name}` samples: say how many, rate = N keeps 1 in N"),
                ));
            };
            Action::Sample {
                rate: check.number(&named("rate"), Some(rate), &limits::SAMPLE_RATE, 1)?,
                key: key_fields(false)?,
            }
        }
        RuleAction::Suppress => Action::Suppress {
            key: key_fields(true)?.unwrap_or_default(),
            allow: check.number(
                &named("allow"),
                raw.allow.as_ref(),
                &limits::SUPPRESS_ALLOW,
                1,
            )?,
            window: check.secs(
                &named("window_secs"),
                raw.window_secs.as_ref(),
                &limits::SUPPRESS_WINDOW_SECS,
                DEFAULT_WINDOW_SECS,
            )?,
        },
        RuleAction::Route => {
            let Some(sinks) = &raw.sinks else {
                return Err(check.error(
                    named("sinks"),
                    Some(action.span()),
                    format!("rule `{name}` routes: name the sinks, e.g. sinks = [\"agent\"]"),
                ));
            };
            if sinks.get_ref().is_empty() {
                return Err(check.error(
                    named("sinks"),
                    Some(sinks.span()),
                    "route to no sink: use action = \"drop\"".into(),
                ));
            }
            Action::Route {
                sinks: sinks.get_ref().clone(),
            }
        }
    };
    Ok(Rule {
        name,
        condition,
        action,
        dry_run: raw.dry_run.unwrap_or(false),
    })
}

fn action_name(action: RuleAction) -> &'static str {
    match action {
        RuleAction::Keep => "keep",
        RuleAction::Drop => "drop",
        RuleAction::Sample => "sample",
        RuleAction::Suppress => "suppress",
        RuleAction::Route => "route",
    }
}
