//! `cefrelay tap`: prints what becomes of each message in the running relay, as its admin
//! endpoint streams it (`GET /tap`, see `telemetry::tap`).

use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use serde_json::Value;

use super::{admin_address, read_body, request};
use crate::cli::TapArgs;
use crate::exit;
use crate::sanitize::for_terminal;
use crate::telemetry::tap::compile_matches;

pub fn run(args: &TapArgs) -> anyhow::Result<u8> {
    // A mistake in --match is said before the relay is asked, in the words the relay would use.
    if let Err(why) = compile_matches(&args.matches) {
        eprintln!("cefrelay: --{why}");
        return Ok(exit::BAD_CONFIG);
    }
    let admin = match admin_address(&args.admin)? {
        Ok(admin) => admin,
        Err(code) => return Ok(code),
    };
    let path = path(args);
    let (status, body) = request(&admin, &path)?;
    match status {
        200 => {}
        401 => bail!("{}", super::refused(&admin)),
        404 => bail!("the relay on {admin} has no /tap: it is older than this cefrelay"),
        _ => {
            let why = read_body(body).unwrap_or_default();
            bail!(
                "the relay on {admin} refused the tap: {}",
                for_terminal(why.trim())
            );
        }
    }
    // The stream waits for messages as long as the relay has none to show.
    body.get_ref().set_read_timeout(None)?;
    eprintln!("tapping http://{admin}{path} (Ctrl-C stops)");
    let mut out = std::io::stdout().lock();
    let mut shown = 0u64;
    for line in body.lines() {
        let line = line.with_context(|| format!("reading the tap from {admin}"))?;
        let event: Value = serde_json::from_str(&line)
            .with_context(|| format!("{admin} sent a line that is not JSON"))?;
        if let Some(skipped) = event.get("skipped").and_then(Value::as_u64) {
            eprintln!(
                "cefrelay: {skipped} messages skipped: the tap could not keep up, so it shows a \
                 sample (the relay itself does not slow down)"
            );
            continue;
        }
        if args.json {
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{}", human(&event))?;
        }
        shown += 1;
    }
    if args.limit.is_some_and(|limit| shown >= limit) {
        return Ok(0);
    }
    bail!("the relay on {admin} ended the tap after {shown} messages: it stopped or restarted")
}

/// `/tap?stage=…&match=…&limit=…`, percent-encoded.
fn path(args: &TapArgs) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("stage", &args.stage);
    for expression in &args.matches {
        query.append_pair("match", expression);
    }
    if let Some(limit) = args.limit {
        query.append_pair("limit", &limit.to_string());
    }
    format!("/tap?{}", query.finish())
}

/// One event as a line for people: time, sender, fate, decision and reason, sinks, text.
fn human(event: &Value) -> String {
    let text = |key: &str| for_terminal(event[key].as_str().unwrap_or("-")).into_owned();
    let sinks: Vec<String> = event["sinks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|sink| for_terminal(sink).into_owned())
        .collect();
    let to = if sinks.is_empty() {
        String::new()
    } else {
        format!(" -> {}", sinks.join(","))
    };
    let omitted = match event["omitted_bytes"].as_u64() {
        Some(bytes) => format!(" [{bytes} more bytes not shown]"),
        None => String::new(),
    };
    format!(
        "{} {} {:<9} {} ({}){to}  {}{omitted}",
        text("time"),
        text("sender"),
        text("stage"),
        text("decision"),
        text("reason"),
        text("message"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_for_people_shows_the_fate_and_keeps_escapes_out() {
        let event = serde_json::json!({
            "time": "2026-11-27T01:56:30Z", "stage": "forwarded", "decision": "cef",
            "reason": "rule keep-\u{1b}[31m (keep)", "sender": "192.0.2.1",
            "sinks": ["agent", "sentinel"], "message": "CEF:0|x",
        });
        assert_eq!(
            human(&event),
            "2026-11-27T01:56:30Z 192.0.2.1 forwarded cef (rule keep-\\u{1b}[31m (keep)) \
             -> agent,sentinel  CEF:0|x"
        );
        let dropped = serde_json::json!({
            "time": "t", "stage": "dropped", "decision": null, "reason": "r",
            "sender": "s", "sinks": [], "message": "m", "omitted_bytes": 70,
        });
        assert_eq!(
            human(&dropped),
            "t s dropped   - (r)  m [70 more bytes not shown]"
        );
    }
}
