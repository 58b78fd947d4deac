//! `<uid-message>` documents and what the XML API's answers mean.
//!
//! A document carries logins (a user is at an address, for `timeout` minutes) and logouts (the
//! address's mapping ends). PAN-OS takes at most 5 MB per POST and works best with batches of
//! about a thousand entries, so [`uid_messages`] cuts the entries into documents within both
//! bounds. [`parse_answer`] reads a `<response>` and [`verdict`] says what to do next, from the
//! HTTP status and the answer together: PAN-OS sends errors both ways.

use std::fmt::Write;
use std::net::IpAddr;

/// A user is at an address: the firewall maps `ip` to `user` for `timeout_mins` minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// As the firewall shows it, usually `DOMAIN\user`.
    pub user: String,
    /// The address the user is at.
    pub ip: IpAddr,
    /// At least 1: PAN-OS reads 0 as "never expires", which a relay must not ask for by accident.
    pub timeout_mins: u32,
}

/// The mapping of `ip` to `user` ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    /// The user whose mapping ends.
    pub user: String,
    /// The address that is no longer theirs.
    pub ip: IpAddr,
}

/// One document, ready to send, and how many entries of each kind it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidMessage {
    /// The document, one line, no XML declaration.
    pub xml: String,
    /// How many `<login>` entries it holds.
    pub logins: usize,
    /// How many `<logout>` entries it holds.
    pub logouts: usize,
}

const HEAD: &str = "<uid-message><version>2.0</version><type>update</type><payload>";
const TAIL: &str = "</payload></uid-message>";
/// The form field that carries the document to a firewall; it counts toward the POST size.
const CMD_FIELD: &str = "cmd=";

/// The logins and logouts as `<uid-message>` documents, each with at most `max_entries` entries
/// and at most `max_bytes` bytes once form-encoded as `cmd=…` (the firewall's POST body; a User-ID
/// agent's raw body is never longer). Within a document the logins come first, as PAN-OS
/// processes them first anyway; entries keep their order, so documents hold all the logins,
/// then the logouts. A single entry longer than `max_bytes` goes alone in its document: cutting
/// cannot make it fit, and the target's answer says what it makes of it.
///
/// The firewall processes a document's logins before its logouts, so a caller must not give a
/// login and a logout for the same address in one call and expect the logout to come first.
pub fn uid_messages(
    logins: &[Login],
    logouts: &[Logout],
    max_entries: usize,
    max_bytes: usize,
) -> Vec<UidMessage> {
    let max_entries = max_entries.max(1);
    let mut documents = Vec::new();
    let mut batch = Batch::default();
    let entries = logins
        .iter()
        .map(|login| (Section::Login, login_entry(login)))
        .chain(
            logouts
                .iter()
                .map(|logout| (Section::Logout, logout_entry(logout))),
        );
    for (section, entry) in entries {
        let grows_by = form_encoded_len(&entry)
            + if batch.is_empty_in(section) {
                section.wrapper_len()
            } else {
                0
            };
        let full = batch.entries() >= max_entries || batch.encoded_len() + grows_by > max_bytes;
        if !batch.is_empty() && full {
            documents.push(std::mem::take(&mut batch).into_message());
        }
        batch.push(section, &entry);
    }
    if !batch.is_empty() {
        documents.push(batch.into_message());
    }
    documents
}

#[derive(Debug, Clone, Copy)]
enum Section {
    Login,
    Logout,
}

impl Section {
    /// `<login></login>` or `<logout></logout>`, form-encoded.
    fn wrapper_len(self) -> usize {
        match self {
            Section::Login => form_encoded_len("<login></login>"),
            Section::Logout => form_encoded_len("<logout></logout>"),
        }
    }
}

/// A document being filled: its entries' XML per section and their form-encoded length.
#[derive(Default)]
struct Batch {
    login_xml: String,
    logout_xml: String,
    logins: usize,
    logouts: usize,
    entries_len: usize,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.entries() == 0
    }

    fn is_empty_in(&self, section: Section) -> bool {
        match section {
            Section::Login => self.logins == 0,
            Section::Logout => self.logouts == 0,
        }
    }

    fn entries(&self) -> usize {
        self.logins + self.logouts
    }

    /// The whole POST field's length were the document closed now. Form encoding maps each
    /// byte on its own, so the parts' lengths add up.
    fn encoded_len(&self) -> usize {
        let mut len = CMD_FIELD.len() + form_encoded_len(HEAD) + form_encoded_len(TAIL);
        for section in [Section::Login, Section::Logout] {
            if !self.is_empty_in(section) {
                len += section.wrapper_len();
            }
        }
        len + self.entries_len
    }

    fn push(&mut self, section: Section, entry: &str) {
        self.entries_len += form_encoded_len(entry);
        match section {
            Section::Login => {
                self.login_xml.push_str(entry);
                self.logins += 1;
            }
            Section::Logout => {
                self.logout_xml.push_str(entry);
                self.logouts += 1;
            }
        }
    }

    fn into_message(self) -> UidMessage {
        let mut xml = String::with_capacity(
            HEAD.len() + self.login_xml.len() + self.logout_xml.len() + TAIL.len() + 40,
        );
        xml.push_str(HEAD);
        if self.logins > 0 {
            xml.push_str("<login>");
            xml.push_str(&self.login_xml);
            xml.push_str("</login>");
        }
        if self.logouts > 0 {
            xml.push_str("<logout>");
            xml.push_str(&self.logout_xml);
            xml.push_str("</logout>");
        }
        xml.push_str(TAIL);
        UidMessage {
            xml,
            logins: self.logins,
            logouts: self.logouts,
        }
    }
}

fn login_entry(login: &Login) -> String {
    let mut entry = String::from("<entry name=\"");
    escape_attribute(&mut entry, &login.user);
    // A timeout of 0 would mean "never expires" to PAN-OS.
    let _ = write!(
        entry,
        "\" ip=\"{}\" timeout=\"{}\"/>",
        login.ip,
        login.timeout_mins.max(1)
    );
    entry
}

fn logout_entry(logout: &Logout) -> String {
    let mut entry = String::from("<entry name=\"");
    escape_attribute(&mut entry, &logout.user);
    let _ = write!(entry, "\" ip=\"{}\"/>", logout.ip);
    entry
}

/// Appends `value` with the five XML special characters escaped; a backslash is plain text.
fn escape_attribute(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

/// The length of `text` as `application/x-www-form-urlencoded` writes it.
fn form_encoded_len(text: &str) -> usize {
    form_urlencoded::byte_serialize(text.as_bytes())
        .map(str::len)
        .sum()
}

/// What an XML API answer says, apart from its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `<response status="success">`.
    Success,
    /// `<response status="error" code="N"><msg>…</msg></response>`, or a body that is no
    /// `<response>` at all (then `code` is `None` and `message` is the start of the body).
    Error {
        /// The `code` attribute, when there is a numeric one.
        code: Option<u32>,
        /// What the target says went wrong.
        message: String,
    },
}

/// How much of a body that is not a `<response>` an [`Answer`] keeps: enough to recognise a
/// proxy's error page, not a whole one in every log line.
const JUNK_KEPT_CHARS: usize = 200;

/// Reads an XML API answer. The message is the text of `<msg>`, its `<line>`s joined by `; `
/// (PAN-OS puts one line per failing entry or reason there).
pub fn parse_answer(body: &str) -> Answer {
    let junk = || Answer::Error {
        code: None,
        message: truncated(body.trim(), JUNK_KEPT_CHARS),
    };
    let Ok(document) = roxmltree::Document::parse(body) else {
        return junk();
    };
    let response = document.root_element();
    if !response.has_tag_name("response") {
        return junk();
    }
    let code = response
        .attribute("code")
        .and_then(|code| code.trim().parse().ok());
    match response.attribute("status") {
        Some("success") => Answer::Success,
        status => Answer::Error {
            code,
            message: response_message(response).unwrap_or_else(|| match status {
                Some(status) => format!("status \"{status}\" without a message"),
                None => "a response without a status".to_string(),
            }),
        },
    }
}

/// The text of the first `<msg>`: its `<line>`s joined, or its own text.
fn response_message(response: roxmltree::Node<'_, '_>) -> Option<String> {
    let msg = response.descendants().find(|n| n.has_tag_name("msg"))?;
    let lines: Vec<String> = msg
        .descendants()
        .filter(|n| n.has_tag_name("line"))
        .map(|line| collapse(&text_of(line)))
        .filter(|line| !line.is_empty())
        .collect();
    let message = if lines.is_empty() {
        collapse(&text_of(msg))
    } else {
        lines.join("; ")
    };
    (!message.is_empty()).then_some(message)
}

fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// Runs of white space (PAN-OS indents its messages) become one space.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn truncated(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The key in a keygen answer (`<response status="success"><result><key>…</key></result>`), or
/// what the answer says instead.
pub fn keygen_key(body: &str) -> Result<String, Answer> {
    let answer = parse_answer(body);
    if answer != Answer::Success {
        return Err(answer);
    }
    let document = roxmltree::Document::parse(body).map_err(|_| Answer::Success)?;
    document
        .descendants()
        .find(|n| n.has_tag_name("key"))
        .map(|key| text_of(key).trim().to_string())
        .filter(|key| !key.is_empty())
        .ok_or(Answer::Error {
            code: None,
            message: "a successful keygen answer without a key".to_string(),
        })
}

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The target took the document.
    Done,
    /// A passing trouble (5xx, a timeout, a busy or restarting firewall): send it again later.
    Retry,
    /// The key is bad or lacks the rights, or the URL leads nowhere useful: every document would
    /// fail the same way, so stop this target until it is reconfigured.
    Stop,
    /// The target refuses this document: sending it again would fail again.
    Reject,
}

/// The error codes PAN-OS documents as success.
const SUCCESS_CODES: [u32; 2] = [19, 20];
/// Internal errors (2–5, 11, 21) and a timed-out session (22): they pass.
const TRANSIENT_CODES: [u32; 7] = [2, 3, 4, 5, 11, 21, 22];
/// Invalid key or no rights (403), unauthorized (16).
const UNAUTHORIZED_CODES: [u32; 2] = [16, 403];

/// The verdict on an answer. The HTTP status and the answer are read apart, as PAN-OS signals
/// errors both ways (an error status, or 200 with `status="error"`). Codes the API documents
/// for other commands (unknown command, bad xpath, object not found, operation denied …) mean
/// the document cannot be taken as it is: rejected, like a malformed one (17, 18, 400). A 2xx
/// whose body is not a `<response>` is rejected too: nothing says the target took it.
pub fn verdict(http_status: u16, answer: &Answer) -> Verdict {
    match http_status {
        // Not authenticated, no rights; no API there (a wrong URL, a target of another type, a
        // redirect elsewhere, which a POST does not follow).
        300..=399 | 401 | 403 | 404 | 405 => return Verdict::Stop,
        408 | 429 | 500..=599 => return Verdict::Retry,
        200..=299 => {}
        // 400 and the other refusals of this request.
        _ => return Verdict::Reject,
    }
    match answer {
        Answer::Success => Verdict::Done,
        Answer::Error {
            code: Some(code), ..
        } if SUCCESS_CODES.contains(code) => Verdict::Done,
        Answer::Error {
            code: Some(code), ..
        } if TRANSIENT_CODES.contains(code) => Verdict::Retry,
        Answer::Error {
            code: Some(code), ..
        } if UNAUTHORIZED_CODES.contains(code) => Verdict::Stop,
        Answer::Error { .. } => Verdict::Reject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str, ip: &str, timeout_mins: u32) -> Login {
        Login {
            user: user.to_string(),
            ip: ip.parse().unwrap(),
            timeout_mins,
        }
    }

    fn logout(user: &str, ip: &str) -> Logout {
        Logout {
            user: user.to_string(),
            ip: ip.parse().unwrap(),
        }
    }

    fn form_len(xml: &str) -> usize {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("cmd", xml)
            .finish()
            .len()
    }

    #[test]
    fn a_small_batch_is_one_document_with_logins_first() {
        let documents = uid_messages(
            &[
                login("CORP\\alice", "10.0.0.1", 60),
                login("CORP\\bob", "2001:db8::7", 1),
            ],
            &[logout("CORP\\carol", "10.0.0.3")],
            1000,
            5 * 1024 * 1024,
        );
        assert_eq!(
            documents,
            vec![UidMessage {
                xml: concat!(
                    "<uid-message><version>2.0</version><type>update</type><payload>",
                    "<login>",
                    r#"<entry name="CORP\alice" ip="10.0.0.1" timeout="60"/>"#,
                    r#"<entry name="CORP\bob" ip="2001:db8::7" timeout="1"/>"#,
                    "</login><logout>",
                    r#"<entry name="CORP\carol" ip="10.0.0.3"/>"#,
                    "</logout></payload></uid-message>"
                )
                .to_string(),
                logins: 2,
                logouts: 1,
            }]
        );
    }

    #[test]
    fn a_document_with_only_logouts_has_no_login_section() {
        let documents = uid_messages(&[], &[logout("bob", "10.0.0.2")], 10, 10_000);
        assert_eq!(
            documents[0].xml,
            "<uid-message><version>2.0</version><type>update</type><payload>\
             <logout><entry name=\"bob\" ip=\"10.0.0.2\"/></logout></payload></uid-message>"
        );
        assert!(uid_messages(&[], &[], 10, 10_000).is_empty());
    }

    #[test]
    fn a_zero_timeout_is_sent_as_one_minute_not_as_never() {
        let documents = uid_messages(&[login("u", "10.0.0.1", 0)], &[], 10, 10_000);
        assert!(documents[0].xml.contains(r#"timeout="1""#));
    }

    #[test]
    fn attribute_values_are_escaped_and_the_backslash_is_kept() {
        let documents = uid_messages(
            &[login("o'brien & <co> \"x\"\\y", "10.0.0.1", 5)],
            &[],
            10,
            10_000,
        );
        let expected = r#"<entry name="o&apos;brien &amp; &lt;co&gt; &quot;x&quot;\y" ip="10.0.0.1" timeout="5"/>"#;
        assert!(documents[0].xml.contains(expected), "{}", documents[0].xml);
        // And it is XML that reads back as the same name.
        let document = roxmltree::Document::parse(&documents[0].xml).unwrap();
        let entry = document
            .descendants()
            .find(|n| n.has_tag_name("entry"))
            .unwrap();
        assert_eq!(entry.attribute("name"), Some("o'brien & <co> \"x\"\\y"));
    }

    #[test]
    fn documents_are_cut_by_entries_keeping_order() {
        let logins: Vec<Login> = (1..=5)
            .map(|n| login(&format!("u{n}"), &format!("10.0.0.{n}"), 10))
            .collect();
        let logouts: Vec<Logout> = (6..=8)
            .map(|n| logout(&format!("u{n}"), &format!("10.0.0.{n}")))
            .collect();
        let documents = uid_messages(&logins, &logouts, 3, 5 * 1024 * 1024);
        let counts: Vec<(usize, usize)> = documents.iter().map(|d| (d.logins, d.logouts)).collect();
        assert_eq!(counts, vec![(3, 0), (2, 1), (0, 2)]);
        // Every entry once, in order: logins then logouts.
        let names: Vec<String> = documents
            .iter()
            .flat_map(|d| {
                let document = roxmltree::Document::parse(&d.xml).unwrap();
                document
                    .descendants()
                    .filter(|n| n.has_tag_name("entry"))
                    .map(|n| n.attribute("name").unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected: Vec<String> = (1..=8).map(|n| format!("u{n}")).collect();
        assert_eq!(names, expected);
        // The mixed document has its login section before its logout section.
        let mixed = &documents[1].xml;
        assert!(mixed.find("<login>").unwrap() < mixed.find("<logout>").unwrap());
    }

    #[test]
    fn documents_are_cut_by_form_encoded_bytes() {
        // Backslashes and quotes triple in size when form-encoded: the bound is on that size.
        let logins: Vec<Login> = (0..40)
            .map(|n| login(&format!("CORP\\user-{n:03}"), &format!("10.0.1.{n}"), 45))
            .collect();
        let logouts: Vec<Logout> = (0..40)
            .map(|n| logout(&format!("CORP\\user-{n:03}"), &format!("10.0.2.{n}")))
            .collect();
        let max_bytes = 1000;
        let documents = uid_messages(&logins, &logouts, 1000, max_bytes);
        assert!(documents.len() > 1);
        for document in &documents {
            let encoded = form_len(&document.xml);
            assert!(encoded <= max_bytes, "{encoded} > {max_bytes}");
            assert!(document.xml.len() < encoded);
        }
        // Each document but the last is full: with the next entry it would not have fitted.
        let (mut login_at, mut logout_at) = (0, 0);
        for document in &documents[..documents.len() - 1] {
            let (login_end, logout_end) =
                (login_at + document.logins, logout_at + document.logouts);
            let (login_next, logout_next) = if login_end < logins.len() {
                (login_end + 1, logout_end)
            } else {
                (login_end, logout_end + 1)
            };
            let with_next = uid_messages(
                &logins[login_at..login_next],
                &logouts[logout_at..logout_next],
                1000,
                max_bytes,
            );
            assert_eq!(with_next.len(), 2);
            (login_at, logout_at) = (login_end, logout_end);
        }
        let logins_sent: usize = documents.iter().map(|d| d.logins).sum();
        let logouts_sent: usize = documents.iter().map(|d| d.logouts).sum();
        assert_eq!((logins_sent, logouts_sent), (40, 40));
    }

    #[test]
    fn the_byte_count_is_exact_at_the_boundary() {
        let logins = [login("a", "10.0.0.1", 1), login("b", "10.0.0.2", 1)];
        let both = form_len(&uid_messages(&logins, &[], 10, usize::MAX)[0].xml);
        assert_eq!(uid_messages(&logins, &[], 10, both).len(), 1);
        assert_eq!(uid_messages(&logins, &[], 10, both - 1).len(), 2);
    }

    #[test]
    fn an_entry_too_long_for_any_document_goes_alone() {
        let long = "x".repeat(500);
        let documents = uid_messages(
            &[
                login("a", "10.0.0.1", 1),
                login(&long, "10.0.0.2", 1),
                login("c", "10.0.0.3", 1),
            ],
            &[],
            10,
            300,
        );
        let counts: Vec<usize> = documents.iter().map(|d| d.logins).collect();
        assert_eq!(counts, vec![1, 1, 1]);
        assert!(documents[1].xml.contains(&long));
    }

    #[test]
    fn a_success_answer_is_success() {
        assert_eq!(
            parse_answer(r#"<response status="success"><result>ok</result></response>"#),
            Answer::Success
        );
        assert_eq!(
            parse_answer("<?xml version=\"1.0\"?>\n<response status = 'success'/>\n"),
            Answer::Success
        );
    }

    #[test]
    fn an_error_answer_gives_its_code_and_message() {
        assert_eq!(
            parse_answer(
                r#"<response status="error" code="18"><msg>Malformed   command</msg></response>"#
            ),
            Answer::Error {
                code: Some(18),
                message: "Malformed command".into()
            }
        );
        assert_eq!(
            parse_answer(
                "<response status=\"error\" code=\"403\"><result><msg>\n  <line>Invalid credential</line>\n  <line><![CDATA[ no rights ]]></line></msg></result></response>"
            ),
            Answer::Error {
                code: Some(403),
                message: "Invalid credential; no rights".into()
            }
        );
        assert_eq!(
            parse_answer(r#"<response status="error"/>"#),
            Answer::Error {
                code: None,
                message: "status \"error\" without a message".into()
            }
        );
    }

    #[test]
    fn a_body_that_is_no_response_is_an_error_with_the_start_of_the_body() {
        assert_eq!(
            parse_answer("<html><body>502 Bad Gateway</body></html>"),
            Answer::Error {
                code: None,
                message: "<html><body>502 Bad Gateway</body></html>".into()
            }
        );
        let junk = "é".repeat(500);
        let Answer::Error { code, message } = parse_answer(&junk) else {
            panic!("junk is no success");
        };
        assert_eq!(code, None);
        assert_eq!(message.chars().count(), JUNK_KEPT_CHARS + 1);
        assert!(message.ends_with('…'));
        assert_eq!(
            parse_answer(""),
            Answer::Error {
                code: None,
                message: String::new()
            }
        );
    }

    #[test]
    fn the_keygen_answer_gives_the_key() {
        assert_eq!(
            keygen_key(
                "<response status = 'success'><result><key>LUFRPT1abc==</key></result></response>"
            ),
            Ok("LUFRPT1abc==".to_string())
        );
        assert_eq!(
            keygen_key(
                r#"<response status="error" code="403"><result><msg>Invalid Credential</msg></result></response>"#
            ),
            Err(Answer::Error {
                code: Some(403),
                message: "Invalid Credential".into()
            })
        );
        assert!(keygen_key(r#"<response status="success"><result/></response>"#).is_err());
    }

    #[test]
    fn every_verdict_branch() {
        let error = |code: Option<u32>| Answer::Error {
            code,
            message: String::new(),
        };
        let cases = [
            (200, Answer::Success, Verdict::Done),
            (200, error(Some(19)), Verdict::Done),
            (200, error(Some(20)), Verdict::Done),
            (500, Answer::Success, Verdict::Retry),
            (502, error(None), Verdict::Retry),
            (503, error(None), Verdict::Retry),
            (408, error(None), Verdict::Retry),
            (429, error(None), Verdict::Retry),
            (200, error(Some(2)), Verdict::Retry),
            (200, error(Some(5)), Verdict::Retry),
            (200, error(Some(11)), Verdict::Retry),
            (200, error(Some(21)), Verdict::Retry),
            (200, error(Some(22)), Verdict::Retry),
            (403, error(Some(403)), Verdict::Stop),
            (403, Answer::Success, Verdict::Stop),
            (200, error(Some(403)), Verdict::Stop),
            (200, error(Some(16)), Verdict::Stop),
            (401, error(None), Verdict::Stop),
            (404, error(None), Verdict::Stop),
            (400, error(Some(400)), Verdict::Reject),
            (200, error(Some(17)), Verdict::Reject),
            (200, error(Some(18)), Verdict::Reject),
            (200, error(Some(1)), Verdict::Reject),
            (200, error(Some(13)), Verdict::Reject),
            (200, error(None), Verdict::Reject),
            (302, Answer::Success, Verdict::Stop),
            (413, error(None), Verdict::Reject),
        ];
        for (status, answer, expected) in cases {
            assert_eq!(verdict(status, &answer), expected, "{status} {answer:?}");
        }
    }
}
