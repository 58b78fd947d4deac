//! The black-box tests of the `cefrelay` binary, as one test binary (`autotests = false` in
//! Cargo.toml): one module per area, and `util` with the helpers they share. Run one area with a
//! filter, e.g. `cargo test --test tests corpus::`.

mod util;

mod admin;
mod config;
mod corpus;
mod deploy;
mod faults_agent;
mod faults_buffer;
mod faults_connections;
mod http_sinks;
mod install;
mod limits;
mod monitoring;
mod panos;
mod parse_golden;
mod peers;
mod proxy;
mod relay;
mod rules;
mod scaleout;
mod send;
mod tls;
mod troubleshoot;
mod userid;
mod watch;
