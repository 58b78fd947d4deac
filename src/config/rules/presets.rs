//! Presets: rule lists shipped with the relay, in the same TOML as `[[rule]]`s, so that an admin
//! can print one (`cefrelay rules show NAME`), copy it and edit it.

/// Every preset's name, as `preset = "…"` takes it.
pub const NAMES: [&str; 2] = ["sophos", "reduce-traffic"];

/// The TOML of the preset `name`.
pub fn text(name: &str) -> Option<&'static str> {
    match name {
        "sophos" => Some(include_str!("presets/sophos.toml")),
        "reduce-traffic" => Some(include_str!("presets/reduce-traffic.toml")),
        _ => None,
    }
}

/// The first comment line of the preset: what it is for.
pub fn summary(name: &str) -> Option<&'static str> {
    let first = text(name)?.lines().next()?;
    Some(first.trim_start_matches('#').trim())
}
