//! `cefrelay run`: build every source and sink from the configuration ([`App::build`]), then
//! relay until told to stop ([`App::run`]). The binary drives it with signals; tests drive the
//! same app in-process with the [`Shutdown`] tokens.

pub mod reload;
pub mod shutdown;
pub mod sinks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::RunArgs;
use crate::config::{Config, ConfigError, Protocol};
use crate::exit;
use crate::host::proc_net::UdpDropReader;
use crate::pipeline::filter::Decision;
use crate::pipeline::Pipeline;
use crate::sink::Sinks;
use crate::source::bind::{bind_error, bind_tcp};
use crate::source::tcp::TcpSource;
use crate::source::tls::TlsTerminator;
use crate::source::udp;
use crate::source::Shared;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{self, admin};
use shutdown::Leftover;
pub use shutdown::Shutdown;
use sinks::Delivery;

/// Why the app did not start.
#[derive(Debug)]
pub enum Refused {
    /// The configuration cannot work (exit 64).
    BadConfig(String),
    /// Something else failed: a port taken, a buffer that cannot open.
    Failed(anyhow::Error),
}

pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let load = || Config::load_with(args.config.as_deref(), &args.overrides());
    let config = match load() {
        Ok(config) => config,
        Err(error) => return Ok(exit::bad_config(error)),
    };
    telemetry::init_logging(&config.log);
    telemetry::process::started();
    tracing::info!(
        version = crate::cli::VERSION,
        config = %args.config.as_deref().map_or_else(|| "<built-in defaults>".into(), |p| p.display().to_string()),
        "cefrelay starting"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cefrelay")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let app = match App::build(config).await {
            Ok(app) => app,
            Err(Refused::BadConfig(why)) => return Ok(exit::bad_config(why)),
            Err(Refused::Failed(error)) => return Err(error),
        };
        let shutdown = Shutdown::default();
        shutdown.on_signals()?;
        app.run(shutdown, Some(&load)).await
    })
}

/// Everything bound and built, not yet serving.
pub struct App {
    config: Config,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    deliveries: Vec<Delivery>,
    on_disk: Vec<bool>,
    sources: Vec<Source>,
    admin: Option<TcpListener>,
    udp_drops: Arc<UdpDropReader>,
    tls_listeners: Vec<(String, Arc<TlsTerminator>)>,
    userid: Option<Arc<crate::userid::Service>>,
}

/// A bound listener.
enum Source {
    Tcp(Box<TcpSource>),
    Udp {
        socket: tokio::net::UdpSocket,
        index: usize,
    },
}

impl App {
    /// Binds every listener and opens every sink's buffer, so that a bad address or buffer fails
    /// the start, not half of it.
    pub async fn build(config: Config) -> Result<App, Refused> {
        let listener_names = config.listeners.iter().map(|l| l.name()).collect();
        let metrics = Arc::new(Metrics::new(
            listener_names,
            sinks::metrics(&config),
            &Decision::reasons(),
        ));
        let mut stages = Vec::new();
        let mut writers = Vec::new();
        let mut deliveries = Vec::new();
        let mut on_disk = Vec::new();
        for sink in sinks::build(&config, &metrics)? {
            stages.push(sink.stage);
            writers.push(sink.writer);
            deliveries.push(sink.delivery);
            on_disk.push(sink.on_disk);
        }
        let userid = config.userid.as_ref().map(|settings| {
            let service = Arc::new(crate::userid::Service::new(
                settings,
                &config.state_dir,
                metrics.userid.clone(),
            ));
            service.restore(OffsetDateTime::now_utc());
            let view = service.clone();
            let _ = metrics
                .userid
                .view
                .set(Arc::new(move || view.mappings_json()));
            service
        });
        let shared = Arc::new(Shared {
            pipeline: Pipeline::new(&config, stages, userid.clone(), metrics.clone()),
            sinks: Sinks::new(writers),
        });

        let mut sources = Vec::new();
        let mut udp_drops = UdpDropReader::default();
        let mut tls_listeners = Vec::new();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        for (index, listener) in config.listeners.iter().enumerate() {
            let name = listener.name();
            let failed = |e| Refused::Failed(bind_error(&listener.protocol, listener.address, e));
            match listener.protocol {
                Protocol::Udp => {
                    let count = match listener.udp_sockets {
                        0 => cores,
                        count => count,
                    };
                    for socket in udp::bind(listener, count).map_err(failed)? {
                        udp_drops.add(&name, &socket);
                        sources.push(Source::Udp { socket, index });
                    }
                }
                Protocol::Tcp | Protocol::Tls => {
                    let tls = match &listener.tls {
                        None => None,
                        Some(settings) => {
                            let terminator = TlsTerminator::load(settings).map_err(|error| {
                                Refused::BadConfig(format!("listener[{index}] {name}: {error:#}"))
                            })?;
                            metrics.listeners[index]
                                .tls_certificate_expiry
                                .set(u64::try_from(terminator.expiry()).unwrap_or(0));
                            Some(Arc::new(terminator))
                        }
                    };
                    tls_listeners.extend(tls.iter().map(|t| (name.clone(), t.clone())));
                    sources.push(Source::Tcp(Box::new(TcpSource {
                        listener: bind_tcp(listener.address).map_err(failed)?,
                        config: listener.clone(),
                        index,
                        tls,
                        drain: config.shutdown_grace / 2,
                    })));
                }
            }
        }
        let admin = match config.admin {
            None => None,
            Some(address) => Some(TcpListener::bind(address).await.map_err(|error| {
                Refused::Failed(anyhow::anyhow!(
                    "cannot open the admin endpoint on {address}: {error}"
                ))
            })?),
        };
        Ok(App {
            config,
            metrics,
            shared,
            deliveries,
            on_disk,
            sources,
            admin,
            udp_drops: Arc::new(udp_drops),
            tls_listeners,
            userid,
        })
    }

    /// Where each listener is bound, in listener order: the port a `:0` address was given.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut bound: Vec<(usize, SocketAddr)> = Vec::new();
        for source in &self.sources {
            let (index, address) = match source {
                Source::Tcp(tcp) => (tcp.index, tcp.listener.local_addr()),
                Source::Udp { socket, index } => (*index, socket.local_addr()),
            };
            // A UDP listener's sockets share one address (SO_REUSEPORT).
            let seen = bound.iter().any(|(i, _)| *i == index);
            if let (Ok(address), false) = (address, seen) {
                bound.push((index, address));
            }
        }
        bound.into_iter().map(|(_, address)| address).collect()
    }

    /// Serves until `shutdown.drain`, then drains within the grace period (or until
    /// `shutdown.now`). `reload` re-reads the configuration on SIGHUP. Returns the exit code: 0
    /// drained (or kept on disk), 1 events lost, 130 stopped at once.
    pub async fn run(
        self,
        shutdown: Shutdown,
        reload: Option<&(dyn Fn() -> Result<Config, ConfigError> + Sync)>,
    ) -> anyhow::Result<u8> {
        for (listener, bound) in self.config.listeners.iter().zip(self.local_addrs()) {
            tracing::info!(listener = %listener.name(), %bound, "listening");
        }
        let filter = self.config.filter;
        tracing::info!(
            filter = filter.name(),
            "agent filter: {}",
            filter.in_words()
        );
        for sink in sinks::metrics(&self.config) {
            tracing::info!(sink = %sink.name, kind = %sink.kind, "sink");
        }
        tracing::info!(
            rules = self.config.rules.rules.len(),
            threat_enrichment = self.config.enrich.threat.is_some(),
            "platform rules and enrichment"
        );
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let abort_sinks = CancellationToken::new();
        let running = self.start(&stop, &tasks, &abort_sinks);
        running.serve_until(&shutdown.drain, reload).await?;
        tracing::info!(
            grace_secs = running.config.shutdown_grace.as_secs(),
            "stopping: no new data accepted, draining the buffers to the sinks"
        );
        // Listener tasks hold the buffers' writers; this one must go too for the sinks to see
        // the end.
        drop(running.shared);
        stop.cancel();
        tasks.close();
        let drain = async {
            tasks.wait().await;
            // Every buffer writer is gone once the listener tasks are: each sink ends when its
            // buffer is empty.
            for task in running.sink_tasks {
                let _ = task.await;
            }
        };
        tokio::select! {
            () = drain => {
                tracing::info!("drained; bye");
                Ok(0)
            }
            () = tokio::time::sleep(running.config.shutdown_grace) => {
                let leftover = Leftover::read(&running.metrics, &running.on_disk);
                abort_sinks.cancel();
                Ok(leftover.report())
            }
            () = shutdown.now.cancelled() => {
                tracing::warn!("second signal: exiting at once");
                Ok(exit::INTERRUPTED)
            }
        }
    }

    /// Spawns every listener task (under `tasks`, stopped by `stop`), the admin endpoint and every
    /// sink's delivery (aborted by `abort_sinks`).
    fn start(
        self,
        stop: &CancellationToken,
        tasks: &TaskTracker,
        abort_sinks: &CancellationToken,
    ) -> Running {
        let App {
            config,
            metrics,
            shared,
            deliveries,
            on_disk,
            sources,
            admin,
            udp_drops,
            tls_listeners,
            userid,
        } = self;
        // Before any listener runs, so the first summary counts from the first frame.
        if let Some(every) = config.log.summary_every {
            tokio::spawn(telemetry::summary::log_every(
                metrics.clone(),
                every,
                stop.clone(),
            ));
        }
        for source in sources {
            match source {
                Source::Udp { socket, index } => {
                    let listener = config.listeners[index].clone();
                    let serve = udp::serve(socket, listener, index, shared.clone(), stop.clone());
                    tasks.spawn(serve);
                }
                Source::Tcp(tcp) => {
                    tasks.spawn(tcp.run(shared.clone(), stop.clone(), tasks.clone()));
                }
            }
        }
        tasks.spawn(sweep_suppression_windows(shared.clone(), stop.clone()));
        if let Some(userid) = userid {
            tasks.spawn(userid.run(stop.clone()));
        }
        let admin_token = Arc::new(admin::Token::from(config.admin_token.clone().map(Arc::new)));
        if let Some(admin) = admin {
            if let Ok(address) = admin.local_addr() {
                tracing::info!(%address, "metrics on http://{address}/metrics");
                if !address.ip().is_loopback() && config.admin_token.is_none() {
                    tracing::warn!(%address, "the admin endpoint (metrics, health, peers, User-ID table) listens beyond loopback with no authentication (admin.allow_remote without admin.token_file): keep that network private");
                }
            }
            tokio::spawn(admin::serve(
                admin,
                metrics.clone(),
                udp_drops,
                admin_token.clone(),
                stop.clone(),
            ));
        }
        let sink_tasks = deliveries
            .into_iter()
            .map(|delivery| delivery.spawn(&metrics, abort_sinks.clone()))
            .collect();
        Running {
            config,
            metrics,
            shared,
            sink_tasks,
            on_disk,
            tls_listeners,
            admin_token,
        }
    }
}

/// Closes the rules' suppression windows as they end, once a second, and sends their summary
/// events; at `stop`, closes every window still open, so that no held-back count is lost.
async fn sweep_suppression_windows(shared: Arc<Shared>, stop: CancellationToken) {
    let mut batches = shared.sinks.batches();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            () = stop.cancelled() => true,
        };
        let now = (!last).then(OffsetDateTime::now_utc);
        shared.pipeline.sweep(now, &mut batches);
        if batches.iter().any(|batch| batch.events > 0) {
            shared.sinks.send(&mut batches).await;
        }
        if last {
            return;
        }
    }
}

/// A started app: what the drain needs.
struct Running {
    config: Config,
    metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    sink_tasks: Vec<JoinHandle<()>>,
    on_disk: Vec<bool>,
    tls_listeners: Vec<(String, Arc<TlsTerminator>)>,
    /// What the admin endpoint requires, swapped by SIGHUP.
    admin_token: Arc<admin::Token>,
}

impl Running {
    /// Relays until `drain` fires, applying SIGHUP reloads meanwhile when `reload` is given.
    async fn serve_until(
        &self,
        drain: &CancellationToken,
        reload: Option<&(dyn Fn() -> Result<Config, ConfigError> + Sync)>,
    ) -> anyhow::Result<()> {
        let (Some(reload), false) = (reload, drain.is_cancelled()) else {
            drain.cancelled().await;
            return Ok(());
        };
        let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
        loop {
            tokio::select! {
                () = drain.cancelled() => return Ok(()),
                _ = hangup.recv() => {
                    let tls = &self.tls_listeners;
                    let applied = reload::apply(
                        &self.config,
                        reload(),
                        &self.shared.pipeline,
                        tls,
                        &self.metrics,
                        &self.admin_token,
                    );
                    if applied {
                        self.metrics.reloads.inc();
                    } else {
                        self.metrics.reloads_failed.inc();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// Run in process with a cancellation token; the agent here reads its lines and never the
    /// end of stream, which once kept the last batches unreleased and reported them lost.
    #[tokio::test]
    async fn a_drain_reports_no_loss_while_the_agent_has_read_every_byte_but_not_the_end_of_stream()
    {
        let agent = TcpListener::bind("127.0.0.1:0").await.expect("agent port");
        let state = tempfile::tempdir().expect("state dir");
        let text = format!(
            "state_dir = \"{}\"\n[admin]\nlisten = \"\"\n[[listener]]\naddress = \"tcp://127.0.0.1:0\"\n\
             [forward]\naddress = [\"tcp://{}\"]\n",
            state.path().display(),
            agent.local_addr().expect("agent address")
        );
        let config = Config::from_toml(&text, std::path::Path::new("test.toml")).expect("valid");
        let Ok(app) = App::build(config).await else {
            panic!("the app did not build");
        };
        let address = app.local_addrs()[0];
        let shutdown = Shutdown::default();
        let running = tokio::spawn(app.run(shutdown.clone(), None));

        let mut sender = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        for id in 0..3 {
            let line = format!(
                "<14>Nov 22 10:00:00 fw CEF:0|Palo Alto Networks|PAN-OS|10.1|url|THREAT|1|externalId={id}\n"
            );
            sender.write_all(line.as_bytes()).await.expect("send");
        }
        drop(sender);
        let (stream, _) = agent.accept().await.expect("the forward connects");
        let mut lines = BufReader::new(stream).lines();
        for id in 0..3 {
            let line = lines.next_line().await.expect("read").expect("a line");
            assert!(line.ends_with(&format!("externalId={id}")), "{line}");
        }
        shutdown.drain.cancel();
        let code = running.await.expect("the app task").expect("the app ran");
        assert_eq!(code, 0, "drained");
    }
}
