//! `cefrelay userid sync` (one poll of every SQL source and one push to every target: what the
//! NAC cron script did, with timeouts, batches, errors read and a summary) and `cefrelay userid
//! show` (the running relay's table).

use std::sync::Arc;

use time::OffsetDateTime;

use super::sql::{Database, Position};
use super::target::Target;
use super::Service;
use crate::cli::UseridCommand;
use crate::config::userid::SourceKind;
use crate::config::{Config, DEFAULT_ADMIN};
use crate::exit;
use crate::sanitize::for_terminal;
use crate::telemetry::admin::Client;
use crate::telemetry::metrics::userid::UseridMetrics;
use cefrelay_userid::message::uid_messages;

/// The most a POST may carry (PAN-OS: 5 MB).
const MAX_REQUEST_BYTES: usize = 5 * 1024 * 1024;

pub fn run(command: &UseridCommand) -> anyhow::Result<u8> {
    match command {
        UseridCommand::Sync { config, dry_run } => {
            let config = match Config::load(config) {
                Ok(config) => config,
                Err(error) => return Ok(exit::bad_config(error)),
            };
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(sync(&config, *dry_run))
        }
        UseridCommand::Show { config, json } => show(config.as_deref(), *json),
    }
}

async fn sync(config: &Config, dry_run: bool) -> anyhow::Result<u8> {
    let Some(settings) = &config.userid else {
        return Ok(exit::bad_config("the configuration has no [userid] table"));
    };
    let service = Arc::new(Service::new(
        settings,
        &config.state_dir,
        Arc::new(UseridMetrics::default()),
    ));
    let now = OffsetDateTime::now_utc();
    service.restore(now);
    let mut failed = false;
    for source in &settings.sources {
        let SourceKind::Sql(sql) = &source.kind else {
            println!(
                "source {}: syslog, read by `cefrelay run` only",
                source.name
            );
            continue;
        };
        let database = Database::connect(sql)?;
        let start = Position::start(sql, now);
        match service
            .poll_once(&source.name, sql, &database, start, now)
            .await
        {
            Ok(_) => {
                let rows = service.metrics.sql_rows(&source.name).get();
                println!("source {}: {rows} rows read", source.name);
            }
            Err(error) => {
                println!(
                    "source {}: FAILED: {}",
                    source.name,
                    for_terminal(&format!("{error:#}"))
                );
                failed = true;
            }
        }
        database.close().await;
    }
    println!("mappings: {}", service.table().len());
    for target in &settings.targets {
        let (logins, logouts) = service.changes_for(&target.name, now);
        if dry_run {
            let messages = uid_messages(&logins, &logouts, target.batch_entries, MAX_REQUEST_BYTES);
            println!(
                "target {}: would send {} logins, {} logouts in {} requests",
                target.name,
                logins.len(),
                logouts.len(),
                messages.len()
            );
            for message in messages {
                println!("{}", message.xml);
            }
            continue;
        }
        let pushed = match Target::new(target) {
            Ok(client) => service
                .push(&target.name, &client, now)
                .await
                .map_err(|e| e.to_string()),
            Err(error) => Err(format!("{error:#}")),
        };
        match pushed {
            Ok((logins, logouts)) => {
                println!(
                    "target {}: {logins} logins, {logouts} logouts sent",
                    target.name
                )
            }
            Err(error) => {
                println!("target {}: FAILED: {}", target.name, for_terminal(&error));
                failed = true;
            }
        }
    }
    if !dry_run {
        service.save();
    }
    Ok(u8::from(failed))
}

fn show(config: Option<&std::path::Path>, json: bool) -> anyhow::Result<u8> {
    let client = match config.map(Config::load) {
        Some(Err(error)) => return Ok(exit::bad_config(error)),
        Some(Ok(config)) => match Client::of(&config) {
            Some(client) => client,
            None => anyhow::bail!("the configuration turns the admin endpoint off"),
        },
        None => Client::at(
            DEFAULT_ADMIN
                .parse()
                .expect("the default admin address is valid"),
        ),
    };
    let admin = client.address;
    let Some((status, body)) = client.get("/userid") else {
        anyhow::bail!("no relay answers on {admin}");
    };
    if status != 200 {
        anyhow::bail!("{admin}/userid: {status} {}", for_terminal(body.trim()));
    }
    if json {
        println!("{body}");
        return Ok(0);
    }
    let table: serde_json::Value = serde_json::from_str(&body)?;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    println!(
        "{:<40} {:<32} {:<12} {:>10}",
        "address", "user", "source", "expires in"
    );
    for mapping in table["mappings"].as_array().into_iter().flatten() {
        let left = mapping["expires"].as_i64().unwrap_or(0) - now;
        println!(
            "{:<40} {:<32} {:<12} {:>9}m",
            for_terminal(mapping["ip"].as_str().unwrap_or_default()),
            for_terminal(mapping["user"].as_str().unwrap_or_default()),
            for_terminal(mapping["source"].as_str().unwrap_or_default()),
            left.max(0) / 60
        );
    }
    Ok(0)
}
