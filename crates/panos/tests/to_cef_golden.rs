//! Golden conversions: each `fixtures/panos-cef/<type>.csv` line, parsed and converted with the
//! default options (device version from the config version column, UTC for times without an
//! offset), gives the line of the same number in `<type>.cef`, byte for byte. The CSV lines are
//! ours, written from the PAN-OS column orders; the CEF lines were checked by hand against the
//! format strings in `to_cef::formats`.

use std::path::Path;

use cefrelay_panos::csv::parse;
use cefrelay_panos::to_cef::{to_cef, Options};

const TYPES: [&str; 17] = [
    "traffic",
    "threat",
    "url",
    "wildfire",
    "data",
    "config",
    "system",
    "hipmatch",
    "globalprotect",
    "userid",
    "authentication",
    "tunnel",
    "correlation",
    "decryption",
    "iptag",
    "audit",
    "unknown",
];

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/panos-cef")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_type_converts_to_its_golden_cef() {
    for log_type in TYPES {
        let csv = fixture(&format!("{log_type}.csv"));
        let cef = fixture(&format!("{log_type}.cef"));
        assert_eq!(csv.lines().count(), cef.lines().count(), "{log_type}");
        for (number, (line, expected)) in csv.lines().zip(cef.lines()).enumerate() {
            let log = parse(line).unwrap_or_else(|| panic!("{log_type}.csv:{}", number + 1));
            let mut converted = String::new();
            to_cef(&log, &Options::default(), &mut converted);
            assert_eq!(converted, expected, "{log_type}.csv:{}", number + 1);
        }
    }
}
