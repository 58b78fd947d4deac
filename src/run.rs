//! `cefrelay run`: bind every listener, start the sink, relay until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use socket2::{Domain, Socket, Type};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::RunArgs;
use crate::config::AGENT_SINK_NAME;
use crate::config::{BufferKind, Config, ConfigError, Protocol};
use crate::exit;
use crate::host::proc_net::UdpDropReader;
use crate::pipeline::Pipeline;
use crate::sink::agent::{self, AgentSink};
use crate::sink::buffer;
use crate::sink::http::HttpSinkTask;
use crate::sink::Sinks;
use crate::source::tcp::TcpSource;
use crate::source::tls::TlsTerminator;
use crate::source::udp;
use crate::source::Shared;
use crate::telemetry::metrics::{Metrics, SinkMetrics};
use crate::telemetry::{self, admin};

/// The configuration `run` would use: the file (or the defaults) with the command-line flags on top.
pub fn effective_config(args: &RunArgs) -> Result<Config, ConfigError> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    args.apply(&mut config)?;
    Ok(config)
}

pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let config = match effective_config(args) {
        Ok(config) => config,
        Err(error) => return Ok(exit::bad_config(error)),
    };
    telemetry::init_logging(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("cefrelay")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(config, || effective_config(args)))
}

/// Why binding failed, and for port 514 exactly how to allow it.
fn bind_error(protocol: &Protocol, address: SocketAddr, error: std::io::Error) -> anyhow::Error {
    let mut message = format!("cannot listen on {protocol}://{address}: {error}");
    if error.kind() == std::io::ErrorKind::PermissionDenied && address.port() < 1024 {
        message.push_str(&format!(
            "\nports below 1024 need CAP_NET_BIND_SERVICE. Any one of these fixes it:\n\
             - run as root;\n\
             - sudo setcap cap_net_bind_service=+ep {};\n\
             - under systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE in the unit (cefrelay install does this);\n\
             - or listen on a high port, e.g. --listen {protocol}://{}:5514",
            std::env::current_exe().map_or_else(|_| "/usr/local/bin/cefrelay".into(), |p| p.display().to_string()),
            match address { SocketAddr::V4(a) => a.ip().to_string(), SocketAddr::V6(a) => format!("[{}]", a.ip()) },
        ));
    } else if error.kind() == std::io::ErrorKind::AddrInUse {
        message.push_str("\nanother process holds the port: `ss -lntup` shows which (often rsyslog or syslog-ng)");
    }
    anyhow::anyhow!(message)
}

fn bind_tcp(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// `reload` reads the configuration again (file and flags), for SIGHUP.
async fn serve(
    config: Config,
    reload: impl Fn() -> Result<Config, ConfigError>,
) -> anyhow::Result<u8> {
    let listener_names: Vec<String> = config.listeners.iter().map(|l| l.name()).collect();
    // Sink order is the pipeline's encoder order: the agent forward first, then [[sink]]s.
    let mut sink_metrics = Vec::new();
    let mut buffers = Vec::new();
    if config.forward.enabled {
        let kind = format!(
            "agent {}://{}",
            config.forward.protocol,
            config
                .forward
                .addresses
                .first()
                .map_or_else(String::new, |a| a.to_string())
        );
        sink_metrics.push(SinkMetrics::new(AGENT_SINK_NAME, &kind));
        buffers.push(&config.forward.buffer);
    }
    for sink in &config.sinks {
        sink_metrics.push(SinkMetrics::new(&sink.name, sink.type_name()));
        buffers.push(&sink.buffer);
    }
    let metrics = Arc::new(Metrics::new(listener_names, sink_metrics));
    let on_disk: Vec<bool> = buffers
        .iter()
        .map(|buffer| matches!(buffer.kind, BufferKind::Disk { .. }))
        .collect();
    let mut writers = Vec::new();
    let mut readers = Vec::new();
    for (buffer, sink) in buffers.into_iter().zip(&metrics.sinks) {
        let (writer, reader) = buffer::open(buffer, &config.state_dir, sink.clone())?;
        writers.push(writer);
        readers.push(reader);
    }
    let mut http_sinks = Vec::new();
    let first_http = usize::from(config.forward.enabled);
    for (sink, sink_metrics) in config.sinks.iter().zip(&metrics.sinks[first_http..]) {
        match HttpSinkTask::new(
            sink.clone(),
            &config.state_dir,
            metrics.clone(),
            sink_metrics.clone(),
        ) {
            Ok(task) => http_sinks.push(task),
            Err(error) => return Ok(exit::bad_config(format!("{error:#}"))),
        }
    }
    let shared = Arc::new(Shared {
        pipeline: Pipeline::new(&config, metrics.clone()),
        sinks: Sinks::new(writers),
    });

    // Bind everything before serving anything, so a bad address fails the start, not half of it.
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut udp_drops = UdpDropReader::default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut tls_listeners = Vec::new();
    for (index, listener) in config.listeners.iter().enumerate() {
        let name = listener.name();
        match listener.protocol {
            Protocol::Udp => {
                let count = if listener.udp_sockets == 0 {
                    cores
                } else {
                    listener.udp_sockets
                };
                let sockets = udp::bind(listener, count)
                    .map_err(|e| bind_error(&listener.protocol, listener.address, e))?;
                for socket in sockets {
                    udp_drops.add(&name, &socket);
                    tasks.spawn(udp::serve(
                        socket,
                        listener.clone(),
                        index,
                        shared.clone(),
                        stop.clone(),
                    ));
                }
            }
            Protocol::Tcp | Protocol::Tls => {
                let tls = match &listener.tls {
                    None => None,
                    Some(settings) => match TlsTerminator::load(settings) {
                        Ok(terminator) => Some(Arc::new(terminator)),
                        Err(error) => {
                            return Ok(exit::bad_config(format!(
                                "listener[{index}] {name}: {error:#}"
                            )));
                        }
                    },
                };
                tls_listeners.extend(tls.iter().map(|t| (name.clone(), t.clone())));
                let bound = bind_tcp(listener.address)
                    .map_err(|e| bind_error(&listener.protocol, listener.address, e))?;
                let source = TcpSource {
                    listener: bound,
                    config: listener.clone(),
                    index,
                    tls,
                };
                tasks.spawn(source.run(shared.clone(), stop.clone(), tasks.clone()));
            }
        }
        tracing::info!(listener = %name, "listening");
    }
    let udp_drops = Arc::new(udp_drops);
    if let Some(address) = config.admin {
        let admin_listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot open the admin endpoint on {address}"))?;
        tracing::info!(%address, "metrics on http://{address}/metrics");
        tokio::spawn(admin::serve(
            admin_listener,
            metrics.clone(),
            udp_drops,
            stop.clone(),
        ));
    }

    let abort_sink = CancellationToken::new();
    let mut sink_tasks = Vec::new();
    let mut readers = readers.into_iter();
    if config.forward.enabled {
        if let Some(reader) = readers.next() {
            let sink = metrics.sinks[0].clone();
            sink_tasks.push(match config.forward.protocol {
                Protocol::Udp => tokio::spawn(agent::run_udp(
                    config.forward.clone(),
                    metrics.clone(),
                    sink,
                    reader,
                    abort_sink.clone(),
                )),
                Protocol::Tcp | Protocol::Tls => tokio::spawn(
                    AgentSink::new(config.forward.clone(), metrics.clone(), sink, reader)
                        .run(abort_sink.clone()),
                ),
            });
        }
    }
    for (task, reader) in http_sinks.into_iter().zip(readers) {
        sink_tasks.push(tokio::spawn(task.run(reader, abort_sink.clone())));
    }
    let pipeline_for_reload = shared.clone();
    drop(shared);

    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => {
                let reloaded = reload();
                if apply_reload(&config, reloaded, &pipeline_for_reload.pipeline, &tls_listeners) {
                    metrics.reloads.inc();
                } else {
                    metrics.reloads_failed.inc();
                }
            }
        }
    }
    // Listener tasks hold the queue's senders; this one must go too for the sink to see the end.
    drop(pipeline_for_reload);
    tracing::info!(
        grace_secs = config.shutdown_grace.as_secs(),
        "stopping: no new data accepted, draining the buffers to the sinks"
    );
    stop.cancel();
    tasks.close();
    let drain = async {
        tasks.wait().await;
        // Every buffer writer is gone once the listener tasks are: each sink ends when its
        // buffer is empty.
        for task in sink_tasks {
            let _ = task.await;
        }
    };
    let second_signal = async {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    };
    tokio::select! {
        () = drain => {
            tracing::info!("drained; bye");
            Ok(0)
        }
        () = tokio::time::sleep(config.shutdown_grace) => {
            // Counted before the sinks are stopped: stopping them ends the pushes that wait for
            // room, which takes those events out of every gauge.
            // Waiting: never sent. Unreleased: sent, but not known to have been delivered (the
            // agent may have read them). Disk buffers keep both for the next start.
            let left = |disk: bool, reading: fn(&SinkMetrics) -> u64| -> u64 {
                metrics
                    .sinks
                    .iter()
                    .zip(&on_disk)
                    .filter(|(_, &on_disk)| on_disk == disk)
                    .map(|(sink, _)| reading(sink))
                    .sum()
            };
            let waiting = |sink: &SinkMetrics| sink.queue_depth.get();
            let unreleased = |sink: &SinkMetrics| sink.unreleased_events.get();
            let kept = left(true, waiting) + left(true, unreleased);
            // Read from a connection and still waiting for buffer room: in no buffer at all.
            let stranded: u64 = metrics
                .listeners
                .iter()
                .map(|listener| listener.events_awaiting_buffer.get())
                .sum();
            // Everything in memory that was not seen delivered is lost, though the agent may
            // have read some of what the sinks had in hand (counted apart).
            let in_hand = left(false, unreleased);
            let lost = left(false, waiting) + in_hand + stranded;
            abort_sink.cancel();
            if lost == 0 {
                tracing::info!(events_kept = kept, "grace period over: the undelivered events stay in the disk buffers and go first on the next start");
                Ok(0)
            } else {
                tracing::warn!(events_lost = lost, of_which_taken_by_sinks = in_hand, events_kept = kept, "grace period over before the memory buffers were drained: events not seen delivered are lost (some a sink had taken, being sent or sent and not seen read, may have reached the far end)");
                Ok(1)
            }
        }
        () = second_signal => {
            tracing::warn!("second signal: exiting at once");
            Ok(130)
        }
    }
}

/// SIGHUP: re-read the configuration and the certificates. The filter changes at once; TLS
/// certificates are used by new connections (open ones keep theirs); listener and forward changes
/// need a restart, which the log says. A configuration that does not validate changes nothing.
/// False when the configuration or a certificate was refused.
fn apply_reload(
    running: &Config,
    reloaded: Result<Config, ConfigError>,
    pipeline: &Pipeline,
    tls_listeners: &[(String, Arc<TlsTerminator>)],
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
            if fresh.listeners != running.listeners
                || fresh.forward != running.forward
                || fresh.sinks != running.sinks
            {
                tracing::warn!(
                    "SIGHUP: listener, forward or sink settings changed; restart cefrelay to apply them"
                );
            }
        }
    }
    for (name, terminator) in tls_listeners {
        match terminator.reload() {
            Ok(()) => tracing::info!(listener = %name, "SIGHUP: TLS certificates reloaded"),
            Err(error) => {
                tracing::error!(listener = %name, error = format!("{error:#}"), "SIGHUP: TLS certificates not reloaded, the old ones stay");
                applied = false;
            }
        }
    }
    applied
}
