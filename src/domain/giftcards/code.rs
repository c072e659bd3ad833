//! Gift card codes: 15 random characters from an alphabet without look-alikes (no 0/O, 1/I)
//! and a check character (Luhn mod 32), shown as `XXXX-XXXX-XXXX-XXXX`. The check character
//! catches any one mistyped character and any two swapped neighbours but `A9`/`9A` before any
//! lookup. Only a hash of
//! the code is stored: the code is a bearer secret, shown once.

/// The characters a code is made of.
const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters of a code, check character included.
pub const LEN: usize = 16;

fn value(c: u8) -> Option<usize> {
    ALPHABET.iter().position(|a| *a == c)
}

/// The Luhn mod 32 check character of `payload`.
fn check_char(payload: &[u8]) -> Option<u8> {
    let n = ALPHABET.len();
    let mut sum = 0;
    let mut factor = 2;
    for &c in payload.iter().rev() {
        let v = value(c)? * factor;
        sum += v / n + v % n;
        factor = if factor == 2 { 1 } else { 2 };
    }
    Some(ALPHABET[(n - sum % n) % n])
}

/// A fresh code, normalised (16 characters, no dashes).
pub fn generate() -> String {
    let mut s: Vec<u8> = (0..LEN - 1)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())])
        .collect();
    let check = check_char(&s).unwrap_or(ALPHABET[0]);
    s.push(check);
    String::from_utf8(s).unwrap_or_default()
}

/// A code as typed, normalised (upper case, spaces and dashes dropped), if it has the right
/// length, alphabet and check character.
pub fn parse(typed: &str) -> Option<String> {
    let s: Vec<u8> = typed
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'-')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if s.len() != LEN {
        return None;
    }
    let (payload, check) = s.split_at(LEN - 1);
    (check_char(payload)? == check[0]).then(|| String::from_utf8(s).unwrap_or_default())
}

/// The code as shown: four groups of four.
pub fn display(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_parse_and_typos_do_not() {
        for _ in 0..200 {
            let c = generate();
            assert_eq!(parse(&display(&c).to_lowercase()), Some(c.clone()));
            // Any single changed character is caught.
            for i in 0..LEN {
                let mut b = c.clone().into_bytes();
                b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                assert_eq!(
                    parse(std::str::from_utf8(&b).expect("utf8")),
                    None,
                    "{c} at {i}"
                );
            }
            // Swapping two different neighbours is caught, except Luhn's one blind spot: the
            // alphabet's first and last characters (A and 9) next to each other.
            for i in 0..LEN - 1 {
                let mut b = c.clone().into_bytes();
                let blind = matches!((b[i], b[i + 1]), (b'A', b'9') | (b'9', b'A'));
                if b[i] != b[i + 1] && !blind {
                    b.swap(i, i + 1);
                    assert_eq!(
                        parse(std::str::from_utf8(&b).expect("utf8")),
                        None,
                        "{c} swap {i}"
                    );
                }
            }
        }
        assert_eq!(parse("short"), None);
        assert_eq!(parse("0000-0000-0000-0000"), None, "not in the alphabet");
    }
}
