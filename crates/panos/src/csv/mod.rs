//! Parsing PAN-OS CSV into a [`crate::log::Log`].
