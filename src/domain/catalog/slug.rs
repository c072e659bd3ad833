//! URL slugs (Shopify's handles). Shopify stores hold handles in any script (`حقيبة-يد`,
//! `áo-thun`, `限定-セット`), with `_`, `º` and `™`, up to 255 characters, so a slug is any run of
//! letters, digits, marks and symbols plus `-` and `_`: ASCII punctuation, spaces, controls and
//! invisible characters are what it may not hold. Slugs are kept NFC and lower case, and
//! percent-encoded wherever they go into a URL.

use unicode_normalization::UnicodeNormalization;

/// Longest slug, in characters (Shopify's handle limit).
pub const MAX_CHARS: usize = 255;

/// Longest slug derived from a title, in characters.
const DERIVED_CHARS: usize = 100;

/// Derives a slug from a title (`"Café Crème 2"` → `"cafe-creme-2"`, `"限定セット"` kept).
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut dash = false;
    for c in title.nfc().flat_map(char::to_lowercase) {
        let mapped = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => Some('a'),
            'ç' => Some('c'),
            'è' | 'é' | 'ê' | 'ë' => Some('e'),
            'ì' | 'í' | 'î' | 'ï' => Some('i'),
            'ñ' => Some('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => Some('o'),
            'ù' | 'ú' | 'û' | 'ü' => Some('u'),
            'ß' => Some('s'),
            c if c.is_ascii_alphanumeric() => Some(c),
            c if !c.is_ascii() && c.is_alphanumeric() => Some(c),
            _ => None,
        };
        match mapped {
            Some(c) => {
                if dash && !out.is_empty() {
                    out.push('-');
                    n += 1;
                }
                dash = false;
                out.push(c);
                n += 1;
            }
            None => dash = true,
        }
        if n >= DERIVED_CHARS {
            break;
        }
    }
    out
}

/// The normal form a handle is stored in: trimmed, NFC, lower case.
pub fn normalize(s: &str) -> String {
    s.trim().nfc().flat_map(char::to_lowercase).collect()
}

/// Characters that render as nothing (or reorder text) and would let two handles look alike.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFF}')
}

fn slug_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'
    } else {
        !c.is_whitespace() && !c.is_control() && !invisible(c) && !c.is_uppercase()
    }
}

/// Whether `s` is a usable slug as stored (already [`normalize`]d).
pub fn is_slug(s: &str) -> bool {
    let n = s.chars().count();
    n > 0 && n <= MAX_CHARS && s.chars().all(slug_char) && s.nfc().eq(s.chars())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Café Crème — 2 Cups!"), "cafe-creme-2-cups");
        assert_eq!(slugify("  T-Shirt  (Blue) "), "t-shirt-blue");
        assert_eq!(slugify("限定 セット"), "限定-セット");
        assert_eq!(slugify("Áo Thun Nữ"), "ao-thun-nữ");
        assert!(is_slug("t-shirt-blue"));
        for good in [
            "a--b",
            "-a",
            "a_b",
            "حقيبة-يد",
            "nº-5",
            "brand™-kit",
            "áo-thun",
        ] {
            assert!(is_slug(&normalize(good)), "{good}");
        }
        assert!(is_slug(&"x".repeat(255)));
        for bad in ["", "A", "a b", "a/b", "a?b", "a\u{200B}b", "a\tb", "a.b"] {
            assert!(!is_slug(bad), "{bad}");
        }
        assert!(!is_slug(&"x".repeat(256)));
        assert_eq!(normalize(" Nº-5 "), "nº-5");
        // Decomposed input normalises to the precomposed form.
        assert_eq!(normalize("a\u{0301}o"), "áo");
    }
}
