//! A [`crate::log::Log`] as the CEF record the firewall itself would send.
