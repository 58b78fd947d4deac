//! User-ID: learning user-to-IP mappings and pushing them to PAN-OS firewalls and User-ID
//! agents.

pub mod target;
