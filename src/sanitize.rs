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

/// For a message of our own that spans lines (an error with its fix on the next line): each line
/// as [`for_terminal`], the line breaks kept.
pub fn lines_for_terminal(text: &str) -> String {
    text.split('\n')
        .map(for_terminal)
        .collect::<Vec<_>>()
        .join("\n")
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

    #[test]
    fn a_multi_line_message_keeps_its_lines_and_loses_its_escapes() {
        assert_eq!(
            lines_for_terminal("cannot listen\nfix: \u{1b}[31mthis\r"),
            "cannot listen\nfix: \\u{1b}[31mthis\\u{d}"
        );
    }
}
