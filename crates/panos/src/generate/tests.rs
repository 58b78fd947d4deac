use super::record::FACILITY_LOCAL4;
use super::*;

use cefrelay_syslog::{ParseOptions, Status};

fn reference_time() -> OffsetDateTime {
    time::macros::datetime!(2026-03-05 09:07:03.250 UTC)
}

fn line(pool: &Pool, header: &SyslogHeader, marker: &str, n: u64) -> String {
    let mut out = Vec::new();
    pool.record(n).write_line(header, marker, n, &mut out);
    String::from_utf8(out).expect("generated lines are UTF-8")
}

#[test]
fn every_generated_line_parses_as_cef_and_carries_its_marker() {
    let pool = Pool::new(&Mix::default(), DEFAULT_SEED, reference_time());
    let options = ParseOptions::new(reference_time());
    for format in [HeaderFormat::Rfc3164, HeaderFormat::Rfc5424] {
        let header = SyslogHeader::new(format, "fw-collector-01", reference_time());
        for n in 0..2000 {
            let text = line(&pool, &header, "gen-test", n);
            let message = cefrelay_syslog::parse(&text, &options);
            assert_eq!(message.status, Status::Ok, "{text}");
            assert_eq!(message.facility, Some(FACILITY_LOCAL4), "{text}");
            assert_eq!(message.hostname, Some("fw-collector-01"), "{text}");
            let cef = match cefrelay_cef::parse_in_message(message.body) {
                Some(Ok(cef)) => cef,
                other => panic!("not valid CEF ({other:?}): {text}"),
            };
            assert_eq!(cef.version, 0);
            for field in [
                &cef.device_vendor,
                &cef.device_product,
                &cef.device_version,
                &cef.signature_id,
                &cef.name,
            ] {
                assert!(!field.is_empty(), "empty header field: {text}");
            }
            // Only the GlobalProtect template lacks a severity, as PAN-OS 10.x sends it.
            if cef.signature_id != "GLOBALPROTECT" {
                assert!(cef.severity_level().is_some(), "severity: {text}");
            }
            assert_eq!(
                cef.extension("externalId"),
                Some(format!("gen-test-{n}").as_str()),
                "{text}"
            );
        }
    }
}

#[test]
fn line_len_matches_the_written_line() {
    let pool = Pool::new(&Mix::default(), 7, reference_time());
    let header = SyslogHeader::new(HeaderFormat::Rfc5424, "h", reference_time());
    for n in [0, 9, 10, 99, 100, 12_345, u64::MAX] {
        let record = pool.record(n);
        let mut out = Vec::new();
        record.write_line(&header, "m", n, &mut out);
        assert_eq!(record.line_len(&header, "m", n), out.len());
    }
}

#[test]
fn the_same_seed_gives_the_same_messages_and_another_seed_others() {
    let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
    let lines = |seed| {
        let pool = Pool::new(&Mix::default(), seed, reference_time());
        (0..POOL_SIZE as u64)
            .map(|n| line(&pool, &header, "m", n))
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(1), lines(1));
    assert_ne!(lines(1), lines(2));
}

#[test]
fn the_default_mix_is_mostly_traffic_then_threat() {
    let pool = Pool::new(&Mix::default(), DEFAULT_SEED, reference_time());
    let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
    let text: Vec<String> = (0..POOL_SIZE as u64)
        .map(|n| line(&pool, &header, "m", n))
        .collect();
    let percent =
        |needle: &str| text.iter().filter(|t| t.contains(needle)).count() * 100 / POOL_SIZE;
    assert_eq!(percent("|TRAFFIC|1|"), 70);
    assert!((19..=20).contains(&percent("|THREAT|")));
    assert!((4..=5).contains(&percent("|SYSTEM|")));
    for kind in [
        "|url|THREAT|",
        "|wildfire|THREAT|",
        " cat=vulnerability ",
        " cat=spyware ",
        " cat=virus ",
        "|CONFIG|1|",
        "|GLOBALPROTECT|0|",
        "|USERID|1|",
        "|HIPMATCH|1|",
    ] {
        assert!(
            percent(kind) < 10 && text.iter().any(|t| t.contains(kind)),
            "{kind}"
        );
    }
}

#[test]
fn a_threat_only_mix_names_every_record_threat() {
    let mix: Mix = "threat=100".parse().expect("valid mix");
    let pool = Pool::new(&mix, 3, reference_time());
    let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
    for n in 0..POOL_SIZE as u64 {
        let text = line(&pool, &header, "m", n);
        assert!(text.contains("|THREAT|"), "{text}");
    }
}

#[test]
fn bad_mixes_are_refused_with_a_reason() {
    for (mix, reason) in [
        ("trafic=70", "unknown log kind"),
        ("traffic", "kind=weight"),
        ("traffic=lots", "whole number"),
        ("traffic=0", "positive weight"),
        ("", "positive weight"),
    ] {
        let error = mix.parse::<Mix>().expect_err(mix);
        assert!(error.contains(reason), "{mix}: {error}");
    }
    assert!("Traffic=1, url=2".parse::<Mix>().is_ok());
}

#[test]
fn the_pool_holds_the_quirks_receivers_must_survive() {
    let pool = Pool::new(&Mix::default(), DEFAULT_SEED, reference_time());
    let header = SyslogHeader::new(HeaderFormat::Rfc3164, "h", reference_time());
    let text: Vec<String> = (0..POOL_SIZE as u64)
        .map(|n| line(&pool, &header, "m", n))
        .collect();
    let any = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(any("suser=corp\\"), "raw backslash in a user");
    assert!(
        any("request=\"www.bing.com/search?q="),
        "unescaped = in a URL"
    );
    assert!(any("cs1=Allow Outbound Web "), "rule name with spaces");
    assert!(any("duser= "), "empty value");
    assert!(any("GLOBALPROTECT|0|rt="), "GlobalProtect without severity");
    let sizes: usize = text.iter().map(String::len).sum();
    let average = sizes / text.len();
    assert!((700..=1800).contains(&average), "average {average} bytes");
}

#[test]
fn rfc3164_header_pads_the_day_with_a_space() {
    let header = SyslogHeader::new(HeaderFormat::Rfc3164, "fw", reference_time());
    let mut out = Vec::new();
    header.write(166, &mut out);
    assert_eq!(out, b"<166>Mar  5 09:07:03 fw ");
    let header = SyslogHeader::new(HeaderFormat::Rfc5424, "fw", reference_time());
    out.clear();
    header.write(14, &mut out);
    assert_eq!(out, b"<14>1 2026-03-05T09:07:03.250Z fw - - - - ");
}

#[test]
fn rng_stays_in_bounds() {
    let mut rng = Rng::new(0);
    for _ in 0..10_000 {
        assert!(rng.below(7) < 7);
        assert!((3..=5).contains(&rng.between(3, 5)));
    }
    assert_eq!(rng.below(0), 0);
}
