//! Money as integer minor units plus an ISO 4217 currency; floats never touch an amount.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 alphabetic currency code (three upper-case ASCII letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollar, the default shop currency.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");

    /// Parses a three-letter code, accepting lower case.
    pub fn parse(s: &str) -> Result<Self, MoneyError> {
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

    /// Number of minor-unit digits (JPY has none, most currencies two).
    pub fn exponent(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"VND" | b"CLP" | b"ISK" | b"UGX" | b"XAF" | b"XOF" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" | b"IQD" | b"LYD" => 3,
            _ => 2,
        }
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Integer minor units (cents for USD).
    pub amount: i64,
    /// ISO 4217 currency.
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
