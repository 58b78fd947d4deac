//! Decode: the frame's bytes as text (lossily when they are not UTF-8, counted and warned about),
//! then the syslog header and the CEF record, each counted by what it turned out to be; a PAN-OS
//! CSV log is recognised by column and (`[panos] csv = "convert"`) converted to the CEF the
//! firewall would send. Parsing never drops: anything becomes an event, with a status saying how
//! much was understood.

use std::borrow::Cow;

use cefrelay_cef::Cef;
use cefrelay_panos::log::Log;
use cefrelay_panos::to_cef;
use cefrelay_syslog::{Format, ParseOptions};

use crate::config::Panos;
use crate::event::{Event, Origin};
use crate::telemetry::events;
use crate::telemetry::metrics::ParseMetrics;
use crate::telemetry::tally::Tally;

/// The frame as text, and whether invalid bytes had to be replaced (U+FFFD).
pub fn text<'f>(frame: &'f [u8], origin: Origin, parse: &ParseMetrics) -> (Cow<'f, str>, bool) {
    // simdutf8 first: on the valid text that nearly every frame is, it checks a 1 KB frame in a
    // tenth of std's instructions (std's check was ~750 per message, callgrind). It says only
    // whether the text is valid; std's check then says where it is not.
    if let Ok(text) = simdutf8::basic::from_utf8(frame) {
        return (Cow::Borrowed(text), false);
    }
    match std::str::from_utf8(frame) {
        Ok(text) => (Cow::Borrowed(text), false),
        Err(error) => {
            events::FrameNotUtf8 {
                peer: origin.peer,
                len: frame.len(),
                valid_up_to: error.valid_up_to(),
            }
            .emit(parse);
            (String::from_utf8_lossy(frame), true)
        }
    }
}

/// The syslog header and CEF record of `text`, counted by format and validity.
pub fn parse<'t>(text: &'t str, lossy: bool, origin: Origin, tally: &mut Tally) -> Event<'t> {
    let event = Event::parse(text, lossy, &ParseOptions::new(origin.received_at));
    tally.parsed[match event.syslog.format {
        Format::Rfc3164 => 0,
        Format::Rfc5424 => 1,
        Format::None => 2,
    }] += 1;
    match &event.cef {
        Some(Ok(_)) => tally.cef[0] += 1,
        Some(Err(_)) => tally.cef[1] += 1,
        None => {}
    }
    event
}

/// Writes into `out` a part of the CEF record the firewall would have sent for `event`'s PAN-OS
/// CSV (its own CEF format strings, times in UTC from its clock offset): `to_cef::to_cef_header`,
/// all that a filter reads, then `to_cef::to_cef_extension` for a log that goes on. False when
/// `event` is not PAN-OS CSV.
pub fn csv_to_cef(
    event: &Event<'_>,
    panos: &Panos,
    origin: Origin,
    part: fn(&Log<'_>, &to_cef::Options, &mut String),
    out: &mut String,
) -> bool {
    let Some(log) = &event.panos_csv else {
        return false;
    };
    part(log, &options(log, panos, origin), out);
    true
}

fn options(log: &Log<'_>, panos: &Panos, origin: Origin) -> to_cef::Options {
    to_cef::Options {
        sender_sw_version: None,
        default_offset: panos.offset_for(log.serial, origin.peer),
    }
}

/// Gives `event` the CEF record converted from its CSV (`cef`), which the filter and the outputs
/// then see as if the firewall had sent it; counted by log type. The filter needs only the
/// header ([`csv_to_cef`]); [`complete_converted`] then gives it the rest.
pub fn attach_converted<'a>(
    event: &mut Event<'a>,
    cef: &'a str,
    origin: Origin,
    parse: &ParseMetrics,
) {
    let log_type = event.panos_csv.as_ref().and_then(|log| log.log_type);
    match cefrelay_cef::parse_cef(cef) {
        Ok(record) => {
            parse.panos_converted(log_type).inc();
            event.cef = Some(Ok(record));
            event.converted = Some(cef);
        }
        Err(error) => events::PanosNotConverted {
            peer: origin.peer,
            error: &error,
        }
        .emit(parse),
    }
}

/// Gives `event`, which [`attach_converted`] gave the converted header, the whole record `cef`:
/// that header, then from `extension_start` the extension. The header is not parsed again.
pub fn complete_converted<'a>(
    event: &mut Event<'a>,
    cef: &'a str,
    extension_start: usize,
    origin: Origin,
    parse: &ParseMetrics,
) {
    let header = match event.cef.take() {
        Some(Ok(header)) => header,
        // Only a converted header comes here; anything else stays as it was.
        other => {
            event.cef = other;
            return;
        }
    };
    match cefrelay_cef::parse_extension(cef, extension_start) {
        Ok(extensions) => {
            event.cef = Some(Ok(Cef {
                extensions,
                ..header
            }));
            event.converted = Some(cef);
        }
        Err(error) => {
            // Every format's extension starts with a key (the golden and corpus tests parse
            // them all). Should one not, the log goes on as the CSV it came as, not as a header
            // without its fields.
            events::PanosNotConverted {
                peer: origin.peer,
                error: &error,
            }
            .emit(parse);
            event.converted = None;
        }
    }
}
