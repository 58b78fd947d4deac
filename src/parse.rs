//! `cefrelay parse`: messages in, one JSON object per message out (NDJSON).

use std::fs::File;
use std::io::{self, BufWriter, ErrorKind, Read, Write};
use std::path::Path;

use anyhow::Context;
use bytes::BytesMut;
use cefrelay_syslog::framing::{Frame, FrameDecoder};
use cefrelay_syslog::ParseOptions;
use tokio_util::codec::Decoder;

use cefrelay_panos::to_cef;

use crate::cli::ParseArgs;
use crate::event::Event;
use crate::sanitize::for_terminal;

const READ_CHUNK: usize = 64 * 1024;

/// What one input taught us, for the summary on standard error.
#[derive(Debug, Default)]
struct Tally {
    messages: u64,
    oversized: u64,
    malformed: u64,
}

/// Runs the command. Returns the process exit code: 0 when every input was read, 1 when one could
/// not be (the others are still parsed).
pub fn run(args: &ParseArgs) -> anyhow::Result<u8> {
    let mut options = ParseOptions::new(args.now.unwrap_or_else(time::OffsetDateTime::now_utc));
    options.default_offset = args.timezone;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut exit_code = 0;
    let inputs: Vec<&Path> = if args.files.is_empty() {
        vec![Path::new("-")]
    } else {
        args.files.iter().map(|p| p.as_path()).collect()
    };
    for path in inputs {
        let result = if path == Path::new("-") {
            parse_stream(io::stdin().lock(), args, &options, &mut out)
        } else {
            File::open(path)
                .map_err(anyhow::Error::from)
                .and_then(|file| parse_stream(file, args, &options, &mut out))
        };
        let name = for_terminal(&path.display().to_string()).into_owned();
        match result {
            Ok(tally) => report(&name, &tally),
            Err(error) if is_broken_pipe(&error) => return Ok(exit_code),
            Err(error) => {
                eprintln!(
                    "cefrelay parse: {name}: {}",
                    for_terminal(&format!("{error:#}"))
                );
                exit_code = 1;
            }
        }
    }
    match out.flush() {
        Err(error) if error.kind() != ErrorKind::BrokenPipe => {
            Err(error).context("writing to standard output")
        }
        _ => Ok(exit_code),
    }
}

fn parse_stream(
    mut input: impl Read,
    args: &ParseArgs,
    options: &ParseOptions,
    out: &mut impl Write,
) -> anyhow::Result<Tally> {
    let mut decoder = FrameDecoder::new(args.framing.into(), args.max_frame);
    let mut buffer = BytesMut::with_capacity(READ_CHUNK);
    let mut tally = Tally::default();
    loop {
        buffer.reserve(READ_CHUNK);
        let start = buffer.len();
        buffer.resize(start + READ_CHUNK, 0);
        let read = loop {
            match input.read(&mut buffer[start..]) {
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                other => break other.context("reading input")?,
            }
        };
        buffer.truncate(start + read);
        if read == 0 {
            while let Some(frame) = decoder.decode_eof(&mut buffer)? {
                emit(frame, options, args.to_cef, out, &mut tally)?;
            }
            return Ok(tally);
        }
        while let Some(frame) = decoder.decode(&mut buffer)? {
            emit(frame, options, args.to_cef, out, &mut tally)?;
        }
    }
}

fn emit(
    frame: Frame,
    options: &ParseOptions,
    to_cef: bool,
    out: &mut impl Write,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    match frame {
        Frame::Message(bytes) => {
            tally.messages += 1;
            let (text, lossy) = match String::from_utf8_lossy(&bytes) {
                std::borrow::Cow::Borrowed(text) => (std::borrow::Cow::Borrowed(text), false),
                owned => (owned, true),
            };
            let event = Event::parse(&text, lossy, options);
            if to_cef {
                write_converted(&text, &event, options, out).context("writing the line")?;
            } else {
                serde_json::to_writer(&mut *out, &event).context("writing JSON")?;
                out.write_all(b"\n").context("writing JSON")?;
            }
        }
        Frame::Oversized { .. } => tally.oversized += 1,
        Frame::Malformed { .. } => tally.malformed += 1,
    }
    Ok(())
}

/// `text` with its PAN-OS CSV replaced by the CEF record the firewall would send, its syslog
/// header as it came; any other message unchanged.
fn write_converted(
    text: &str,
    event: &Event<'_>,
    options: &ParseOptions,
    out: &mut impl Write,
) -> io::Result<()> {
    let Some(log) = &event.panos_csv else {
        return writeln!(out, "{text}");
    };
    let mut cef = String::new();
    let convert = to_cef::Options {
        sender_sw_version: None,
        default_offset: options.default_offset,
    };
    to_cef::to_cef(log, &convert, &mut cef);
    // The CSV is the message, a slice of `text`: everything before it is the header.
    let header_len = event.syslog.msg.as_ptr() as usize - text.as_ptr() as usize;
    let header = text.get(..header_len).unwrap_or_default();
    writeln!(out, "{header}{cef}")
}

fn report(name: &str, tally: &Tally) {
    if tally.oversized > 0 || tally.malformed > 0 {
        eprintln!(
            "cefrelay parse: {name}: {} messages; skipped {} oversized and {} malformed frames",
            tally.messages, tally.oversized, tally.malformed
        );
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<io::Error>())
        .any(|io| io.kind() == ErrorKind::BrokenPipe)
}
