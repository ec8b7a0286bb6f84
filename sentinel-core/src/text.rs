//! Text from requests (resource names, hot values) made safe for outputs read as lines.
//!
//! A resource name or an argument value can come straight from a request: a custom
//! resource namer, a header. Written raw, a newline in it forges a line of the metric log
//! or of a log file, a `\r` rewrites a terminal line, and bidirectional controls make a
//! name read as something else. [`Escaped`] writes such text with every control
//! character, line or paragraph separator and bidirectional formatting character escaped
//! Rust-style (`\n`, `\r`, `\t`, `\0`, `\\`, `\u{202e}`), so it stays on one line and reads
//! as what it is. Each output applies it in one place: the metric log's lines, Prometheus
//! labels, `tracing` fields and [`BlockError`](crate::BlockError)'s text (gRPC then
//! percent-encodes that text into `grpc-message`).

use std::borrow::Cow;
use std::fmt;

/// Whether `c` must be escaped: controls, line and paragraph separators, and the invisible
/// formatting characters (Unicode's `Cf`: bidi controls, zero-width characters, the
/// byte-order mark, tags), which make one text look like another.
fn needs_escape(c: char) -> bool {
    c == '\\'
        || c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

/// Displays text with control and invisible formatting characters escaped (see the
/// [module docs](self)).
///
/// ```
/// use sentinel_core::text::Escaped;
/// assert_eq!(Escaped("GET /a\nforged|line\u{202e}").to_string(), r"GET /a\nforged|line\u{202e}");
/// assert_eq!(Escaped("café").to_string(), "café");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

/// Displays text as [`Escaped`] does, cut after `max` characters of the text with a note of
/// how many bytes were left out, for outputs that must stay small whatever a client sent
/// (a block error in a header).
///
/// ```
/// use sentinel_core::text::Clipped;
/// assert_eq!(Clipped("abcdef", 3).to_string(), "abc…(+3 bytes)");
/// assert_eq!(Clipped("a\nb", 8).to_string(), r"a\nb");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Clipped<'a>(pub &'a str, pub usize);

impl fmt::Display for Clipped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Clipped(text, max) = *self;
        match text.char_indices().nth(max) {
            None => Escaped(text).fmt(f),
            Some((cut, _)) => {
                Escaped(&text[..cut]).fmt(f)?;
                write!(f, "…(+{} bytes)", text.len() - cut)
            }
        }
    }
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(needs_escape) {
            f.write_str(&rest[..at])?;
            let c = rest[at..].chars().next().unwrap_or_default();
            match c {
                '\\' => f.write_str(r"\\")?,
                '\n' => f.write_str(r"\n")?,
                '\r' => f.write_str(r"\r")?,
                '\t' => f.write_str(r"\t")?,
                '\0' => f.write_str(r"\0")?,
                c => write!(f, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[at + c.len_utf8()..];
        }
        f.write_str(rest)
    }
}

/// `text` escaped as [`Escaped`] writes it; borrowed when nothing needs escaping.
pub fn escape(text: &str) -> Cow<'_, str> {
    if text.contains(needs_escape) {
        Cow::Owned(Escaped(text).to_string())
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_and_formatting_character_is_escaped_once() {
        let invisible = "x\u{200b}\u{feff}\u{ad}\u{e0041}y";
        assert_eq!(escape(invisible), r"x\u{200b}\u{feff}\u{ad}\u{e0041}y");
        let nasty = "a\nb\rc\td\0e\\f\u{1b}[31mg\u{2028}h\u{2066}i|j ü 名";
        let out = escape(nasty);
        assert_eq!(out, r"a\nb\rc\td\0e\\f\u{1b}[31mg\u{2028}h\u{2066}i|j ü 名");
        assert!(!out.chars().any(needs_escape_in_output), "{out}");
        assert!(matches!(escape("plain GET /items/{id}"), Cow::Borrowed(_)));
    }

    fn needs_escape_in_output(c: char) -> bool {
        c != '\\' && needs_escape(c)
    }
}
