//! The alert type Sophos derives for a PAN-OS threat.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// Threat names whose ID varies between signatures of one kind, and the alert type they all get.
/// These are the normalizations Sophos publishes; the rest of its list is not public.
static NORMALIZED_NAMES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"^Apache Log4j Remote Code Execution Vulnerability\(\d+\)$",
            "Apache Log4j Remote Code Execution Vulnerability(N)",
        ),
        // DNS signatures carry the domain they matched: `Fastflux:evil.example(109000001)`.
        (r"(?i)^fast-?flux:[^()]*\(\d+\)$", "Fastflux:DOMAIN(N)"),
    ]
    .into_iter()
    .map(|(pattern, normalized)| {
        let regex = Regex::new(pattern).expect("the built-in patterns are valid (tested)");
        (regex, normalized)
    })
    .collect()
});

/// The normalized name of the first pattern that matches, else `name` itself.
fn normalize(name: &str) -> Cow<'_, str> {
    NORMALIZED_NAMES
        .iter()
        .find(|(regex, _)| regex.is_match(name))
        .map_or(Cow::Borrowed(name), |(_, normalized)| {
            Cow::Borrowed(*normalized)
        })
}

/// The `PanOSAlertType` of a threat, as Sophos' mapping expression computes it: with `cat` set
/// and not `vulnerability`, `cat` normalized (a known name's numeric ID becomes `(N)`); with
/// `cat` = `vulnerability`, the class ID normalized the same way; with `cat` empty or absent,
/// `PanOSThreatCategory` (empty when that is absent too).
pub fn alert_type<'a>(
    cat: Option<&'a str>,
    device_event_class_id: &'a str,
    thr_category: Option<&'a str>,
) -> Cow<'a, str> {
    match cat {
        Some("") | None => Cow::Borrowed(thr_category.unwrap_or_default()),
        Some("vulnerability") => normalize(device_event_class_id),
        Some(cat) => normalize(cat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG4J: &str = "Apache Log4j Remote Code Execution Vulnerability(44530)";

    #[test]
    fn named_cat_is_normalized() {
        assert_eq!(
            alert_type(Some(LOG4J), "spyware", Some("code-execution")),
            "Apache Log4j Remote Code Execution Vulnerability(N)"
        );
        assert_eq!(
            alert_type(Some("fastflux:evil.example(109000001)"), "spyware", None),
            "Fastflux:DOMAIN(N)"
        );
    }

    #[test]
    fn unknown_cat_is_kept() {
        let cat = "Virus.ramnit:lfjyaf.com(121569082)";
        assert!(matches!(
            alert_type(Some(cat), "virus", Some("virus")),
            Cow::Borrowed(kept) if kept == cat
        ));
    }

    #[test]
    fn vulnerability_cat_uses_the_class_id() {
        assert_eq!(
            alert_type(Some("vulnerability"), LOG4J, Some("code-execution")),
            "Apache Log4j Remote Code Execution Vulnerability(N)"
        );
        assert_eq!(
            alert_type(
                Some("vulnerability"),
                "Generic Cross-Site Scripting Vulnerability(94093)",
                None
            ),
            "Generic Cross-Site Scripting Vulnerability(94093)"
        );
    }

    #[test]
    fn empty_cat_uses_the_threat_category() {
        assert_eq!(
            alert_type(Some(""), LOG4J, Some("code-execution")),
            "code-execution"
        );
        assert_eq!(alert_type(None, LOG4J, Some("dns-c2")), "dns-c2");
        assert_eq!(alert_type(None, LOG4J, None), "");
    }

    #[test]
    fn the_patterns_compile() {
        assert_eq!(NORMALIZED_NAMES.len(), 2);
    }
}
