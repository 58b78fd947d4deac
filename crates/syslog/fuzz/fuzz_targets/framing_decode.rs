//! The framing decoder on arbitrary bytes, in every mode: no panics, a bounded buffer, and the
//! same frames whether the bytes arrive at once or split at fuzzer-chosen points.
#![no_main]

use bytes::BytesMut;
use cefrelay_syslog::framing::{Frame, FrameDecoder, FramingMode};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fn run(mode: FramingMode, max: usize, data: &[u8], chunk: usize) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new(mode, max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(frame) = decoder.decode(&mut buf).expect("decode never errors") {
            out.push(frame);
        }
        assert!(buf.len() <= max + 11);
    }
    while let Some(frame) = decoder.decode_eof(&mut buf).expect("decode_eof never errors") {
        out.push(frame);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let mode = match control % 3 {
        0 => FramingMode::Auto,
        1 => FramingMode::OctetCounted,
        _ => FramingMode::NonTransparent,
    };
    let max = usize::from(control / 3) + 1;
    let chunk = usize::from(control % 7) + 1;
    assert_eq!(run(mode, max, data, data.len()), run(mode, max, data, chunk));
});
