//! RFC 5424 STRUCTURED-DATA: `[SD-ID PARAM-NAME="PARAM-VALUE" ...]...` or NILVALUE.

use std::borrow::Cow;

use crate::{ParseErrorKind, SdElement};

use super::Parser;

/// RFC 5424 SD-NAME length.
const MAX_SD_NAME: usize = 32;

/// Resolves the RFC 5424 PARAM-VALUE escapes `\"`, `\\` and `\]`; any other backslash is kept
/// literally, as RFC 5424 §6.3.3 requires.
fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(escaped @ ('"' | '\\' | ']')) = chars.clone().next() {
                out.push(escaped);
                chars.next();
                continue;
            }
        }
        out.push(c);
    }
    out
}

impl<'a> Parser<'a, '_> {
    /// STRUCTURED-DATA at `pos`. On malformed SD, `pos` is left at the start of the element
    /// that failed (so MSG keeps it) and the message becomes partial.
    pub(super) fn structured_data(&mut self, elements: &mut Vec<SdElement<'a>>) {
        let start = self.pos;
        match self.at(start) {
            Some(b'-') if matches!(self.at(start + 1), None | Some(b' ')) => self.pos += 1,
            Some(b'[') => {
                while self.at(self.pos) == Some(b'[') {
                    match self.sd_element() {
                        Ok(element) => elements.push(element),
                        Err(offset) => {
                            self.deviate(offset, ParseErrorKind::InvalidStructuredData);
                            self.partial = true;
                            return;
                        }
                    }
                }
                if !matches!(self.at(self.pos), None | Some(b' ')) {
                    self.deviate(self.pos, ParseErrorKind::InvalidStructuredData);
                    self.partial = true;
                }
            }
            _ => {
                self.deviate(start, ParseErrorKind::InvalidStructuredData);
                self.partial = true;
            }
        }
    }

    /// `[SD-ID *(SP SD-PARAM)]` at `pos`; on success moves past `]`, on failure returns the
    /// offset of the problem and leaves `pos` alone.
    fn sd_element(&mut self) -> Result<SdElement<'a>, usize> {
        let mut i = self.pos + 1;
        let id = self.sd_name(&mut i).ok_or(i)?;
        let mut params = Vec::new();
        loop {
            match self.at(i) {
                Some(b']') => {
                    self.pos = i + 1;
                    return Ok(SdElement { id, params });
                }
                Some(b' ') => {
                    i += 1;
                    if self.at(i) == Some(b' ') {
                        self.deviate(i, ParseErrorKind::InvalidStructuredData);
                        while self.at(i) == Some(b' ') {
                            i += 1;
                        }
                    }
                    let name = self.sd_name(&mut i).ok_or(i)?;
                    if self.at(i) != Some(b'=') {
                        return Err(i);
                    }
                    if self.at(i + 1) != Some(b'"') {
                        return Err(i + 1);
                    }
                    i += 2;
                    let value = self.param_value(&mut i).ok_or(i)?;
                    params.push((name, value));
                }
                _ => return Err(i),
            }
        }
    }

    /// SD-ID or PARAM-NAME at `*i`: up to SP, `=`, `]` or `"`. `None` if empty.
    fn sd_name(&mut self, i: &mut usize) -> Option<&'a str> {
        let start = *i;
        while let Some(c) = self.at(*i) {
            if matches!(c, b' ' | b'=' | b']' | b'"') {
                break;
            }
            *i += 1;
        }
        if *i == start {
            return None;
        }
        let name = self.slice(start, *i);
        if self.strict && (name.len() > MAX_SD_NAME || !name.bytes().all(|c| c.is_ascii_graphic()))
        {
            self.deviate(start, ParseErrorKind::InvalidStructuredData);
        }
        Some(name)
    }

    /// PARAM-VALUE after its opening quote at `*i`; moves `*i` past the closing quote. Borrowed
    /// unless it holds escapes. `None` if the closing quote is missing.
    fn param_value(&mut self, i: &mut usize) -> Option<Cow<'a, str>> {
        let start = *i;
        let mut escaped = false;
        loop {
            match self.at(*i)? {
                b'"' => break,
                b'\\' if matches!(self.at(*i + 1), Some(b'"' | b'\\' | b']')) => {
                    escaped = true;
                    *i += 2;
                }
                b']' => {
                    // RFC 5424 wants `\]`; inside quotes the meaning is still clear.
                    self.deviate(*i, ParseErrorKind::InvalidStructuredData);
                    *i += 1;
                }
                _ => *i += 1,
            }
        }
        let raw = self.slice(start, *i);
        *i += 1;
        Some(if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use crate::parser::tests::{p, strict_error};
    use crate::{ParseError, ParseErrorKind, SdElement, Status};

    #[test]
    fn rfc5424_sd_escapes_make_owned_values_only_when_needed() {
        let m = p(r#"<14>1 - h a - - [x@1 a="q\"b\\s\]e" b="plain" c="bad\n"] msg"#);
        let params = &m.structured_data[0].params;
        assert_eq!(params[0], ("a", Cow::Owned::<str>(r#"q"b\s]e"#.into())));
        assert!(matches!(params[1].1, Cow::Borrowed("plain")));
        assert_eq!(params[2].1, r"bad\n");
        assert!(matches!(params[2].1, Cow::Borrowed(_)));
        assert_eq!(m.msg, "msg");
        assert_eq!(m.status, Status::Ok);
    }

    #[test]
    fn rfc5424_sd_element_without_params() {
        let m = p("<14>1 - - - - - [a][b x=\"1\"]");
        assert_eq!(m.structured_data.len(), 2);
        assert_eq!(
            m.structured_data[0],
            SdElement {
                id: "a",
                params: vec![]
            }
        );
        assert_eq!(m.msg, "");
    }

    #[test]
    fn rfc5424_malformed_sd_is_partial_and_kept_in_msg() {
        let m = p("<14>1 - host app - - [ok a=\"1\"][broken a=\"x] rest");
        assert_eq!(m.status, Status::Partial);
        assert_eq!(m.hostname, Some("host"));
        assert_eq!(m.structured_data.len(), 1);
        assert_eq!(m.msg, "[broken a=\"x] rest");
    }

    #[test]
    fn rfc5424_missing_sd_is_partial() {
        let m = p("<14>1 2020-03-27T09:57:41Z PA-VM - - 1,2020/03/27 09:57:41,x");
        assert_eq!(m.status, Status::Partial);
        assert_eq!(m.msgid, Some("1,2020/03/27"));
        assert_eq!(m.msg, "09:57:41,x");
    }

    #[test]
    fn strict_rfc5424_unescaped_bracket_in_value() {
        assert_eq!(
            strict_error("<14>1 - - - - - [a b=\"x]\"]"),
            ParseError {
                offset: 23,
                kind: ParseErrorKind::InvalidStructuredData
            }
        );
    }

    #[test]
    fn strict_rfc5424_bad_sd() {
        assert_eq!(
            strict_error("<14>1 - - - - - [a b]"),
            ParseError {
                offset: 20,
                kind: ParseErrorKind::InvalidStructuredData
            }
        );
        assert_eq!(
            strict_error("<14>1 - - - - - x"),
            ParseError {
                offset: 16,
                kind: ParseErrorKind::InvalidStructuredData
            }
        );
    }
}
