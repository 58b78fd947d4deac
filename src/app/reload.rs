//! SIGHUP: re-read the configuration and the certificates. The filter, the rules and the
//! enrichment change at once (the rules as one set: a bad rule file changes nothing); TLS
//! certificates are used by new connections (open ones keep theirs); the admin endpoint's token
//! is swapped for the next requests; listener, forward, sink and admin address changes need a
//! restart, which the log says. A configuration that does not validate changes
//! nothing.

use std::sync::Arc;

use crate::config::{Config, ConfigError};
use crate::pipeline::Pipeline;
use crate::source::tls::TlsTerminator;
use crate::telemetry::admin::Token;
use crate::telemetry::metrics::Metrics;

/// Applies what can change while running; false when the configuration or a certificate was
/// refused (the running ones stay).
pub fn apply(
    running: &Config,
    reloaded: Result<Config, ConfigError>,
    pipeline: &Pipeline,
    tls_listeners: &[(String, Arc<TlsTerminator>)],
    metrics: &Metrics,
    admin_token: &Token,
) -> bool {
    let mut applied = true;
    match reloaded {
        Err(error) => {
            tracing::error!(%error, "SIGHUP: configuration not reloaded, the running one stays");
            applied = false;
        }
        Ok(fresh) => {
            let filter = fresh.filter;
            if filter != pipeline.filter() {
                tracing::info!(?filter, "SIGHUP: agent filter changed");
                pipeline.set_filter(filter);
            }
            pipeline.set_stages(&fresh);
            tracing::info!(
                rules = fresh.rules.rules.len(),
                threat_enrichment = fresh.enrich.threat.is_some(),
                "SIGHUP: rules and enrichment reloaded"
            );
            let token = fresh.admin_token.map(Arc::new);
            if admin_token.load().as_deref() != token.as_deref() {
                // Where it came from, never the token itself.
                let from = token
                    .as_ref()
                    .map_or("none: the endpoint is open", |t| &t.from);
                tracing::info!(from, "SIGHUP: admin endpoint token changed");
                admin_token.store(token);
            }
            if fresh.listeners != running.listeners
                || fresh.forward != running.forward
                || fresh.sinks != running.sinks
                || fresh.admin != running.admin
            {
                tracing::warn!(
                    "SIGHUP: listener, forward, sink or admin address settings changed; restart cefrelay to apply them"
                );
            }
        }
    }
    for (name, terminator) in tls_listeners {
        match terminator.reload() {
            Ok(()) => {
                tracing::info!(listener = %name, "SIGHUP: TLS certificates reloaded");
                // Listener names are unique (the configuration refuses duplicates).
                if let Some(listener) = metrics.listeners.iter().find(|l| l.name == *name) {
                    let expiry = u64::try_from(terminator.expiry()).unwrap_or(0);
                    listener.tls_certificate_expiry.set(expiry);
                }
            }
            Err(error) => {
                tracing::error!(listener = %name, error = format!("{error:#}"), "SIGHUP: TLS certificates not reloaded, the old ones stay");
                applied = false;
            }
        }
    }
    applied
}
