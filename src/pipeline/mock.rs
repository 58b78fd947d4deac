//! The troubleshooter's mock messages (`cef-troubleshoot`, and Microsoft's `cef_troubleshoot.py`
//! before it): CEF from a vendor no real device uses, with a unique marker as the syslog hostname,
//! so that its journey through the relay can be followed.

use crate::event::Event;

/// The vendor of the mock messages; they always pass every filter, counted on their own.
pub const MOCK_VENDOR: &str = "TestCommonEventFormat";

pub fn is_mock(event: &Event<'_>) -> bool {
    event
        .valid_cef()
        .is_some_and(|cef| cef.device_vendor == MOCK_VENDOR)
}

/// The marker that names one mock message: its syslog hostname.
pub fn marker<'a>(event: &Event<'a>) -> &'a str {
    event.syslog.hostname.unwrap_or_default()
}
