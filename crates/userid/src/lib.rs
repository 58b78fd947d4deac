#![forbid(unsafe_code)]
//! What cefrelay knows about PAN-OS User-ID, with no I/O.
//!
//! * [`message`]: `<uid-message>` documents of logins and logouts, in batches the XML API takes,
//!   and what its answers mean.
//! * [`profile`]: syslog parse profiles with PAN-OS's semantics (regex and field identifiers),
//!   and the built-in ones for GlobalProtect, Cisco ISE, Aruba and Windows logon events.
//! * [`table`]: the user-to-IP mapping table, bounded, and what each target still has to be told.

pub mod message;
pub mod profile;
pub mod table;
