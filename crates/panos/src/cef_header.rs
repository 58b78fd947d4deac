//! The PAN-OS log type of a CEF record, from its header: the firewall's own CEF (product
//! `PAN-OS`) names the type in Name and the subtype in Device Event Class ID, except where its
//! format strings do otherwise (THREAT Set A: the class ID is the threat, the subtype is in `cat`;
//! GLOBALPROTECT Set A: the two are swapped); Strata Logging Service's (product `LF`) has them
//! the other way round.

use std::sync::LazyLock;

use cefrelay_cef::Key;

use crate::log::LogType;

/// `cat`, where THREAT Set A keeps the subtype (and PAN-OS's CEF the threat category): looked up
/// in every PAN-OS THREAT record, so its searcher is built once.
pub static CAT: LazyLock<Key> = LazyLock::new(|| Key::new("cat").expect("a valid CEF key"));

/// What a CEF header says about the PAN-OS log it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CefType<'a> {
    /// `None` for a type we do not know.
    pub log_type: Option<LogType>,
    /// The type as the header writes it.
    pub type_text: &'a str,
    /// The subtype (`end`, `url`, `vulnerability`, …), wherever this header layout keeps it.
    pub subtype: &'a str,
    /// The record's `cat` extension when this layout needed it for the subtype (THREAT Set A,
    /// `None` there when the record has none), so that a reader of `cat` (the threat
    /// classification) does not search the extension for it again; `None`, not read, elsewhere.
    pub cat: Option<Option<&'a str>>,
}

/// The log type of a CEF record from Palo Alto Networks; `None` for any other vendor or product.
/// `cat` gives the record's `cat` extension, where THREAT Set A keeps the subtype; it is called only
/// for that layout, so the other records' extensions need not be read.
pub fn cef_type<'a>(
    vendor: &str,
    product: &str,
    class_id: &'a str,
    name: &'a str,
    cat: impl FnOnce() -> Option<&'a str>,
) -> Option<CefType<'a>> {
    if vendor != "Palo Alto Networks" {
        return None;
    }
    let (type_text, subtype, cat) = match product {
        "LF" => (class_id, name, None),
        "PAN-OS" if class_id == "GLOBALPROTECT" => (class_id, name, None),
        // Set A's THREAT class ID is the threat itself, `Name(id)`: the subtype is in `cat`.
        "PAN-OS" if name == "THREAT" && class_id.ends_with(')') => {
            let cat = cat();
            (name, cat.unwrap_or_default(), Some(cat))
        }
        "PAN-OS" => (name, class_id, None),
        _ => return None,
    };
    Some(CefType {
        log_type: LogType::from_name(type_text),
        type_text,
        subtype,
        cat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_strata_and_set_a_quirks_give_the_same_type_and_subtype() {
        let threat = |class_id, name, cat| {
            cef_type("Palo Alto Networks", "PAN-OS", class_id, name, || cat)
                .map(|t| (t.log_type, t.subtype))
        };
        assert_eq!(
            threat("url", "THREAT", None),
            Some((Some(LogType::Threat), "url"))
        );
        assert_eq!(
            threat(
                "GPON Home Routers Remote Code Execution Vulnerability(37264)",
                "THREAT",
                Some("vulnerability")
            ),
            Some((Some(LogType::Threat), "vulnerability"))
        );
        assert_eq!(
            threat("GLOBALPROTECT", "gateway-connected", None),
            Some((Some(LogType::GlobalProtect), "gateway-connected"))
        );
        let strata = cef_type("Palo Alto Networks", "LF", "TRAFFIC", "end", || None);
        assert_eq!(
            strata.map(|t| (t.log_type, t.subtype)),
            Some((Some(LogType::Traffic), "end"))
        );
        assert_eq!(
            cef_type("Fortinet", "FortiGate", "x", "THREAT", || None),
            None
        );
    }

    #[test]
    fn the_cat_read_for_a_set_a_subtype_is_kept_and_no_other_layout_reads_it() {
        let set_a = |cat| {
            cef_type(
                "Palo Alto Networks",
                "PAN-OS",
                "Eicar(39040)",
                "THREAT",
                || cat,
            )
            .map(|t| t.cat)
        };
        assert_eq!(set_a(Some("virus")), Some(Some(Some("virus"))));
        assert_eq!(set_a(None), Some(Some(None)));
        let native = cef_type("Palo Alto Networks", "PAN-OS", "url", "THREAT", || {
            panic!("a native header names its subtype")
        });
        assert_eq!(native.map(|t| t.cat), Some(None));
    }
}
