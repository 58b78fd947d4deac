//! Text that came from the network or a file is shown to people only through here, so a log line
//! can never drive the terminal (escape sequences, carriage returns, bells).

use std::borrow::Cow;

/// Replaces control characters (C0, DEL, C1) with their `\u{..}` escape; other text is untouched.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            clean.extend(c.escape_unicode());
        } else {
            clean.push(c);
        }
    }
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_carriage_returns_are_neutralised() {
        assert_eq!(for_terminal("a\x1b[31mb\r"), "a\\u{1b}[31mb\\u{d}");
        assert_eq!(for_terminal("a\u{9b}b"), "a\\u{9b}b");
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(for_terminal("plain text é"), Cow::Borrowed(_)));
    }
}
