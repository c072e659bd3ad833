//! Money as integer minor units plus an ISO 4217 currency; floats never touch an amount.

use std::fmt;

use serde::{Deserialize, Serialize};

/// ISO 4217 currencies in circulation with their minor-unit digits, sorted by code (funds and
/// precious-metal codes without minor units, such as XAU or XDR, are not money a shop prices in).
const ISO_4217: [(&[u8; 3], u8); 166] = [
    (b"AED", 2),
    (b"AFN", 2),
    (b"ALL", 2),
    (b"AMD", 2),
    (b"ANG", 2),
    (b"AOA", 2),
    (b"ARS", 2),
    (b"AUD", 2),
    (b"AWG", 2),
    (b"AZN", 2),
    (b"BAM", 2),
    (b"BBD", 2),
    (b"BDT", 2),
    (b"BGN", 2),
    (b"BHD", 3),
    (b"BIF", 0),
    (b"BMD", 2),
    (b"BND", 2),
    (b"BOB", 2),
    (b"BOV", 2),
    (b"BRL", 2),
    (b"BSD", 2),
    (b"BTN", 2),
    (b"BWP", 2),
    (b"BYN", 2),
    (b"BZD", 2),
    (b"CAD", 2),
    (b"CDF", 2),
    (b"CHE", 2),
    (b"CHF", 2),
    (b"CHW", 2),
    (b"CLF", 4),
    (b"CLP", 0),
    (b"CNY", 2),
    (b"COP", 2),
    (b"COU", 2),
    (b"CRC", 2),
    (b"CUP", 2),
    (b"CVE", 2),
    (b"CZK", 2),
    (b"DJF", 0),
    (b"DKK", 2),
    (b"DOP", 2),
    (b"DZD", 2),
    (b"EGP", 2),
    (b"ERN", 2),
    (b"ETB", 2),
    (b"EUR", 2),
    (b"FJD", 2),
    (b"FKP", 2),
    (b"GBP", 2),
    (b"GEL", 2),
    (b"GHS", 2),
    (b"GIP", 2),
    (b"GMD", 2),
    (b"GNF", 0),
    (b"GTQ", 2),
    (b"GYD", 2),
    (b"HKD", 2),
    (b"HNL", 2),
    (b"HTG", 2),
    (b"HUF", 2),
    (b"IDR", 2),
    (b"ILS", 2),
    (b"INR", 2),
    (b"IQD", 3),
    (b"IRR", 2),
    (b"ISK", 0),
    (b"JMD", 2),
    (b"JOD", 3),
    (b"JPY", 0),
    (b"KES", 2),
    (b"KGS", 2),
    (b"KHR", 2),
    (b"KMF", 0),
    (b"KPW", 2),
    (b"KRW", 0),
    (b"KWD", 3),
    (b"KYD", 2),
    (b"KZT", 2),
    (b"LAK", 2),
    (b"LBP", 2),
    (b"LKR", 2),
    (b"LRD", 2),
    (b"LSL", 2),
    (b"LYD", 3),
    (b"MAD", 2),
    (b"MDL", 2),
    (b"MGA", 2),
    (b"MKD", 2),
    (b"MMK", 2),
    (b"MNT", 2),
    (b"MOP", 2),
    (b"MRU", 2),
    (b"MUR", 2),
    (b"MVR", 2),
    (b"MWK", 2),
    (b"MXN", 2),
    (b"MXV", 2),
    (b"MYR", 2),
    (b"MZN", 2),
    (b"NAD", 2),
    (b"NGN", 2),
    (b"NIO", 2),
    (b"NOK", 2),
    (b"NPR", 2),
    (b"NZD", 2),
    (b"OMR", 3),
    (b"PAB", 2),
    (b"PEN", 2),
    (b"PGK", 2),
    (b"PHP", 2),
    (b"PKR", 2),
    (b"PLN", 2),
    (b"PYG", 0),
    (b"QAR", 2),
    (b"RON", 2),
    (b"RSD", 2),
    (b"RUB", 2),
    (b"RWF", 0),
    (b"SAR", 2),
    (b"SBD", 2),
    (b"SCR", 2),
    (b"SDG", 2),
    (b"SEK", 2),
    (b"SGD", 2),
    (b"SHP", 2),
    (b"SLE", 2),
    (b"SOS", 2),
    (b"SRD", 2),
    (b"SSP", 2),
    (b"STN", 2),
    (b"SVC", 2),
    (b"SYP", 2),
    (b"SZL", 2),
    (b"THB", 2),
    (b"TJS", 2),
    (b"TMT", 2),
    (b"TND", 3),
    (b"TOP", 2),
    (b"TRY", 2),
    (b"TTD", 2),
    (b"TWD", 2),
    (b"TZS", 2),
    (b"UAH", 2),
    (b"UGX", 0),
    (b"USD", 2),
    (b"USN", 2),
    (b"UYI", 0),
    (b"UYU", 2),
    (b"UYW", 4),
    (b"UZS", 2),
    (b"VED", 2),
    (b"VES", 2),
    (b"VND", 0),
    (b"VUV", 0),
    (b"WST", 2),
    (b"XAF", 0),
    (b"XCD", 2),
    (b"XCG", 2),
    (b"XOF", 0),
    (b"XPF", 0),
    (b"YER", 2),
    (b"ZAR", 2),
    (b"ZMW", 2),
    (b"ZWG", 2),
];

/// An ISO 4217 currency in circulation; its minor-unit exponent is known, so amounts in minor
/// units can be shown and imported exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct Currency([u8; 3]);

/// From text (JSON, config) only codes of [`ISO_4217`] are accepted; from stored records
/// (binary codecs) any three letters, so a record written before this check stays readable.
impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let human = d.is_human_readable();
        let s = String::deserialize(d)?;
        let parsed = if human {
            Currency::parse(&s)
        } else {
            Currency::letters(&s)
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

impl Currency {
    /// US dollar, the default shop currency.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses an ISO 4217 code in circulation, accepting lower case (`ZZZ` is refused).
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let c = Currency::letters(s)?;
        if ISO_4217
            .binary_search_by(|(code, _)| code.cmp(&&c.0))
            .is_ok()
        {
            Ok(c)
        } else {
            Err(MoneyError::InvalidCurrency(s.chars().take(16).collect()))
        }
    }

    /// Any three ASCII letters, upper-cased (the shape, not the list).
    fn letters(s: &str) -> Result<Self, MoneyError> {
        let b = s.as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::InvalidCurrency(s.chars().take(16).collect()));
        }
        Ok(Currency([
            b[0].to_ascii_uppercase(),
            b[1].to_ascii_uppercase(),
            b[2].to_ascii_uppercase(),
        ]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Number of minor-unit digits per ISO 4217 (JPY 0, USD 2, KWD 3, CLF 4); 2 for a code
    /// read from an old record that is not in the list.
    pub fn exponent(&self) -> u32 {
        ISO_4217
            .binary_search_by(|(code, _)| code.cmp(&&self.0))
            .map_or(2, |i| u32::from(ISO_4217[i].1))
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a money operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Amounts in different currencies cannot be combined.
    #[error("currency mismatch: {0} vs {1}")]
    CurrencyMismatch(Currency, Currency),
    /// The result does not fit in 64 bits.
    #[error("amount overflow")]
    Overflow,
    /// Not an ISO 4217 code.
    #[error("invalid currency code `{0}`")]
    InvalidCurrency(String),
}

/// An amount of money: `{"amount": 1999, "currency": "USD"}` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// Integer minor units in the currency's exponent (cents for USD, yen for JPY).
    pub amount: i64,
    /// ISO 4217 currency code.
    #[schema(value_type = String, pattern = "^[A-Z]{3}$", example = "USD")]
    pub currency: Currency,
}

impl Money {
    /// Builds an amount in minor units.
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    /// Zero in `currency`, the identity for sums.
    pub const fn zero(currency: Currency) -> Self {
        Money {
            amount: 0,
            currency,
        }
    }

    fn same(&self, o: &Money) -> Result<(), MoneyError> {
        if self.currency == o.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, o.currency))
        }
    }

    /// Sum, refusing mixed currencies and overflow.
    pub fn checked_add(self, o: Money) -> Result<Money, MoneyError> {
        self.same(&o)?;
        let amount = self
            .amount
            .checked_add(o.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Difference, refusing mixed currencies and overflow.
    pub fn checked_sub(self, o: Money) -> Result<Money, MoneyError> {
        self.same(&o)?;
        let amount = self
            .amount
            .checked_sub(o.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Multiplies by a quantity (line totals), refusing overflow.
    pub fn checked_mul(self, qty: i64) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(qty).ok_or(MoneyError::Overflow)?;
        Ok(Money::new(amount, self.currency))
    }

    /// Splits into `parts` amounts that differ by at most one minor unit and sum exactly to self.
    pub fn allocate(self, parts: usize) -> Vec<Money> {
        if parts == 0 {
            return Vec::new();
        }
        let n = i64::try_from(parts).unwrap_or(i64::MAX);
        let base = self.amount.div_euclid(n);
        let rem = self.amount.rem_euclid(n);
        (0..n)
            .map(|i| Money::new(base + i64::from(i < rem), self.currency))
            .collect()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = self.currency.exponent();
        if exp == 0 {
            return write!(f, "{} {}", self.amount, self.currency);
        }
        let div = 10i64.pow(exp);
        let sign = if self.amount < 0 { "-" } else { "" };
        let abs = self.amount.unsigned_abs();
        let div_u = div.unsigned_abs();
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / div_u,
            abs % div_u,
            self.currency,
            width = exp as usize
        )
    }
}

/// Parses a decimal (`19.99`, `20`, `1,299.50`) into an integer with `exp` decimals; `None`
/// when it is not a number or has more precision than `exp` (non-zero digits beyond it).
pub fn parse_decimal(s: &str, exp: usize) -> Option<i64> {
    let s = s.trim().replace(',', "");
    if s.is_empty() {
        return None;
    }
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r.to_owned()),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if frac.len() > exp && frac[exp..].bytes().any(|b| b != b'0') {
        return None;
    }
    let mut frac_digits: String = frac.chars().take(exp).collect();
    while frac_digits.len() < exp {
        frac_digits.push('0');
    }
    let int_v: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac_v: i64 = if exp == 0 {
        0
    } else {
        frac_digits.parse().ok()?
    };
    let v = int_v
        .checked_mul(10i64.checked_pow(u32::try_from(exp).ok()?)?)?
        .checked_add(frac_v)?;
    Some(if neg { -v } else { v })
}

/// Parses an amount typed as a decimal (`19.99`, `20`, `1,299.50`) into minor units of
/// `currency`: the one reader of typed money, for forms and imports alike.
pub fn parse_amount(s: &str, currency: Currency) -> Option<i64> {
    parse_decimal(s, currency.exponent() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_and_rejects_mixing() {
        assert_eq!(Money::new(1999, Currency::USD).to_string(), "19.99 USD");
        assert_eq!(Money::new(-5, Currency::USD).to_string(), "-0.05 USD");
        assert_eq!(
            Money::new(1, Currency::USD).checked_add(Money::new(1, Currency::EUR)),
            Err(MoneyError::CurrencyMismatch(Currency::USD, Currency::EUR))
        );
        assert_eq!(
            Money::new(i64::MAX, Currency::USD).checked_add(Money::new(1, Currency::USD)),
            Err(MoneyError::Overflow)
        );
        assert!(Currency::parse("us").is_err());
        assert_eq!(Currency::parse("eur"), Ok(Currency::EUR));
    }

    #[test]
    fn only_iso_4217_codes_with_their_exponents() {
        for (code, exp) in [("JPY", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("CLF", 4)] {
            let c = Currency::parse(code).expect(code);
            assert_eq!(c.exponent(), exp, "{code}");
        }
        for bad in ["ZZZ", "XXX", "XAU", "ABC", "US1"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Currency>(r#""ZZZ""#).is_err());
        assert_eq!(
            serde_json::from_str::<Currency>(r#""jpy""#).ok(),
            Currency::parse("JPY").ok()
        );
        // Records stored before the list was enforced still decode.
        let bytes = postcard::to_stdvec(&"ZZZ").expect("encode");
        let old: Currency = postcard::from_bytes(&bytes).expect("decode old record");
        assert_eq!(old.as_str(), "ZZZ");
        assert_eq!(old.exponent(), 2);
        assert!(
            ISO_4217.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted for binary search"
        );
    }

    #[test]
    fn wire_shape() {
        let m = Money::new(1999, Currency::USD);
        let j = serde_json::to_string(&m).expect("serialize");
        assert_eq!(j, r#"{"amount":1999,"currency":"USD"}"#);
    }

    proptest! {
        #[test]
        fn allocate_sums_exactly(amount in -1_000_000_000i64..1_000_000_000, parts in 1usize..50) {
            let m = Money::new(amount, Currency::USD);
            let split = m.allocate(parts);
            prop_assert_eq!(split.len(), parts);
            let sum: i64 = split.iter().map(|p| p.amount).sum();
            prop_assert_eq!(sum, amount);
            let max = split.iter().map(|p| p.amount).max().unwrap_or(0);
            let min = split.iter().map(|p| p.amount).min().unwrap_or(0);
            prop_assert!(max - min <= 1);
        }

        #[test]
        fn add_then_sub_is_identity(a in -1_000_000_000_000i64..1_000_000_000_000, b in -1_000_000_000_000i64..1_000_000_000_000) {
            let x = Money::new(a, Currency::EUR);
            let y = Money::new(b, Currency::EUR);
            prop_assert_eq!(x.checked_add(y).and_then(|s| s.checked_sub(y)), Ok(x));
        }
    }
}
