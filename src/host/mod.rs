//! Reading and editing the Linux host this relay runs on, shared by `install`, `troubleshoot`
//! and the telemetry.

pub mod proc_net;
pub mod syslog_conf;
