//! `cefrelay rules`: the presets, and a dry run of a configuration's rules over sample lines
//! through the relay's own pipeline (decode, PAN-OS conversion, filters, rules, enrichment and
//! each sink's encoder), so what it prints is what `run` would do.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::sync::Arc;

use time::OffsetDateTime;

use crate::app::sinks;
use crate::buffer::Batch;
use crate::cli::{RulesCommand, RulesTestArgs};
use crate::config::rules::presets;
use crate::config::Config;
use crate::exit;
use crate::pipeline::filter::Decision;
use crate::pipeline::Pipeline;
use crate::sanitize::for_terminal;
use crate::telemetry::metrics::Metrics;

pub fn run(command: &RulesCommand) -> anyhow::Result<u8> {
    match command {
        RulesCommand::Presets => {
            for name in presets::NAMES {
                println!("{name:<16} {}", presets::summary(name).unwrap_or_default());
            }
            Ok(0)
        }
        RulesCommand::Show { preset } => match presets::text(preset) {
            Some(text) => {
                print!("{text}");
                Ok(0)
            }
            None => {
                eprintln!(
                    "cefrelay rules show: no preset is named `{}` (presets: {})",
                    for_terminal(preset),
                    presets::NAMES.join(", ")
                );
                Ok(exit::BAD_CONFIG)
            }
        },
        RulesCommand::Test(args) => test(args),
    }
}

fn test(args: &RulesTestArgs) -> anyhow::Result<u8> {
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(error) => return Ok(exit::bad_config(error)),
    };
    let stages = sinks::stages(&config);
    let metrics = Arc::new(Metrics::new(
        Vec::new(),
        sinks::metrics(&config),
        &Decision::reasons(),
    ));
    let pipeline = Pipeline::new(&config, stages, None, metrics.clone());
    let sink_names = pipeline.sink_names();
    let rule_names: Vec<(String, &'static str, bool)> = config
        .rules
        .rules
        .iter()
        .map(|rule| (rule.name.clone(), rule.action.name(), rule.dry_run))
        .collect();
    let matched = |metrics: &Metrics| -> Vec<u64> {
        rule_names
            .iter()
            .map(|(name, _, dry_run)| metrics.rules.rule(name, *dry_run).matched.get())
            .collect()
    };
    let mut reached_totals: BTreeMap<String, u64> = BTreeMap::new();
    let mut lines = 0u64;
    let mut each_line = |text: &str| {
        lines += 1;
        let before = matched(&metrics);
        let mut batches: Vec<Batch> = sink_names.iter().map(|_| Batch::default()).collect();
        let mut tally = pipeline.tally();
        pipeline.process(
            text.as_bytes(),
            args.peer,
            OffsetDateTime::now_utc(),
            &mut batches,
            &mut tally,
        );
        pipeline.flush(&mut tally);
        let after = matched(&metrics);
        let hits: Vec<String> = rule_names
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| a > b)
            .map(|((name, action, dry_run), _)| {
                let dry = if *dry_run { ", dry run" } else { "" };
                format!("{name} ({action}{dry})")
            })
            .collect();
        let reached: Vec<&str> = sink_names
            .iter()
            .zip(&batches)
            .filter(|(_, batch)| batch.events > 0)
            .map(|(name, _)| name.as_str())
            .collect();
        for name in &reached {
            *reached_totals.entry((*name).to_string()).or_default() += 1;
        }
        let rules = if hits.is_empty() {
            "no rule".to_string()
        } else {
            hits.join(", ")
        };
        let sinks = if reached.is_empty() {
            "no sink".to_string()
        } else {
            reached.join(", ")
        };
        println!("line {lines}: {rules} -> {sinks}");
    };
    if args.files.is_empty() {
        for line in io::stdin().lock().lines() {
            each_line(&line?);
        }
    } else {
        for path in &args.files {
            let file = File::open(path).map_err(|e| {
                anyhow::anyhow!("{}: {e}", for_terminal(&path.display().to_string()))
            })?;
            for line in BufReader::new(file).lines() {
                each_line(&line?);
            }
        }
    }
    println!();
    println!("{:<48} {:<9} {:>8}", "rule", "action", "matched");
    let totals = matched(&metrics);
    let mut unused = Vec::new();
    for ((name, action, dry_run), count) in rule_names.iter().zip(&totals) {
        let action = if *dry_run {
            format!("{action}*")
        } else {
            (*action).to_string()
        };
        println!("{:<48} {action:<9} {count:>8}", for_terminal(name));
        if *count == 0 {
            unused.push(name.as_str());
        }
    }
    println!();
    for name in &sink_names {
        let count = reached_totals.get(name).copied().unwrap_or(0);
        println!("{lines} lines: {count} to {name}");
    }
    if args.expect_all_used && !unused.is_empty() {
        eprintln!(
            "cefrelay rules test: rules that matched no line: {}",
            for_terminal(&unused.join(", "))
        );
        return Ok(1);
    }
    Ok(0)
}
