//! Email addresses parsed at the edge: trimmed, lower-cased, and shape-checked, so uniqueness is
//! case-insensitive and every stored address is deliverable in form.

use std::fmt;

/// A normalised email address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses untrusted input; `None` when it is not a plausible address.
    pub fn parse(raw: &str) -> Option<Email> {
        let s = raw.trim().to_lowercase();
        if s.len() < 3 || s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
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
        if s.contains(['<', '>', '(', ')', ',', ';', ':', '"', '[', ']', '\\']) {
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
        ] {
            assert!(Email::parse(bad).is_none(), "{bad}");
        }
    }
}
