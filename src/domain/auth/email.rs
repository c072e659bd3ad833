//! Email addresses parsed at the edge into one normal form, so uniqueness holds for what a
//! person reads, not for invisible differences.
//!
//! The rule: trim surrounding whitespace, apply Unicode NFC (a precomposed `é` and `e` + U+0301
//! are the same address), lower-case; then every character must be visible ASCII (without
//! `<>()[],;:"\\` and spaces) or a Unicode letter or digit. Format characters (zero-width
//! space U+200B, joiners U+200C/U+200D, word joiner U+2060, BOM, bidi controls, soft hyphen),
//! controls, spaces and non-ASCII symbols are refused rather than stripped, so `ad\u{200B}min@…` is an
//! error, never a second account that looks like `admin@…`.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// A normalised email address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

/// Characters an address may hold (before the `@` and structure checks).
fn allowed(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_graphic()
            && !matches!(
                c,
                '<' | '>' | '(' | ')' | ',' | ';' | ':' | '"' | '[' | ']' | '\\'
            )
    } else {
        c.is_alphanumeric()
    }
}

impl Email {
    /// Parses untrusted input; `None` when it is not a plausible address.
    pub fn parse(raw: &str) -> Option<Email> {
        let s: String = raw.trim().nfc().collect::<String>().to_lowercase();
        if s.len() < 3 || s.len() > 254 || !s.chars().all(allowed) {
            return None;
        }
        let (local, domain) = s.rsplit_once('@')?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return None;
        }
        if domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
            || !domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
        {
            return None;
        }
        Some(Email(s))
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(
            Email::parse("  Ann.Lee@Example.COM ").map(|e| e.0),
            Some("ann.lee@example.com".into())
        );
        // One address for one spelling: decomposed and precomposed accents normalise alike.
        assert_eq!(
            Email::parse("Jose\u{301}@example.com"),
            Email::parse("jos\u{E9}@example.com")
        );
        assert_eq!(
            Email::parse("Jos\u{C9}@Example.com").map(|e| e.0),
            Some("jos\u{E9}@example.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a@b",
            "a b@x.com",
            "a@x..com",
            "a@-x.com.",
            "<a@x.com>",
            "a@@x.com",
            "ad\u{200B}min@x.com",
            "admin\u{200D}@x.com",
            "ad\u{2060}min@x.com",
            "\u{FEFF}admin@x.com",
            "ad\u{00AD}min@x.com",
            "admin@x\u{202E}.com",
            "ad\u{0007}min@x.com",
            "ad\u{00A0}min@x.com",
            "ad\u{2062}min@x.com",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad}");
        }
    }
}
