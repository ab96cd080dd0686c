//! Money: a `Decimal` held at exactly two decimal places.
//!
//! Amounts enter the system as strings (our JSON) or as the provider's JSON numbers,
//! and both are parsed straight into decimals; no amount ever passes through `f64`.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The number of decimal places every amount carries (cents).
pub const MONEY_SCALE: u32 = 2;

/// The largest magnitude a `NUMERIC(18,2)` column holds.
/// The largest amount in cents: 14 integer digits and 2 decimals, which leaves
/// NUMERIC(18,2) room for sums of many such amounts.
const MAX_ABS_UNITS: i64 = 9_999_999_999_999_999;
/// Integer digits of the largest amount ([`MAX_ABS_UNITS`]).
const MAX_INTEGER_DIGITS: usize = 14;

/// An amount of money in cents precision. Negative amounts are allowed (ledger
/// postings); request fields that must be positive say so with [`Money::positive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("must be a decimal amount such as \"12.50\"")]
    NotANumber,
    #[error("must have at most two decimal places")]
    TooPrecise,
    #[error("is too large")]
    TooLarge,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("must be a string with exactly two decimals, such as \"12.50\"")]
    NotExact,
}

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Exactly `value`, refusing anything finer than a cent (no silent rounding).
    pub fn new(value: Decimal) -> Result<Money, MoneyError> {
        let normalized = value.normalize();
        if normalized.scale() > MONEY_SCALE {
            return Err(MoneyError::TooPrecise);
        }
        let mut exact = normalized;
        exact.rescale(MONEY_SCALE);
        if exact.mantissa().unsigned_abs() > MAX_ABS_UNITS as u128 {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(exact))
    }

    /// From a whole number of cents.
    pub fn from_cents(cents: i64) -> Money {
        Money(Decimal::new(cents, MONEY_SCALE))
    }

    pub fn cents(&self) -> i64 {
        // In range by construction: at most 18 digits fit an i64.
        self.0.mantissa() as i64
    }

    pub fn as_decimal(&self) -> Decimal {
        self.0
    }

    /// Refuses zero and negative amounts (a transfer of "0.00" is a mistake).
    pub fn positive(self) -> Result<Money, MoneyError> {
        if self.0 > Decimal::ZERO {
            Ok(self)
        } else {
            Err(MoneyError::NotPositive)
        }
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).and_then(|d| Money::new(d).ok())
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).and_then(|d| Money::new(d).ok())
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Money, MoneyError> {
        let trimmed = s.trim();
        // Decimal::from_str accepts forms we do not want in money ("1e3", "_").
        let plain = !trimmed.is_empty()
            && trimmed
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            && trimmed.matches('.').count() <= 1;
        if !plain {
            return Err(MoneyError::NotANumber);
        }
        let value = Decimal::from_str_exact(trimmed).map_err(|_| MoneyError::NotANumber)?;
        Money::new(value)
    }
}

impl Money {
    /// The canonical text ("-12.50") written into `buf`, without the formatting
    /// machinery: lists of amounts are written by the hundred per response.
    fn write_to(self, buf: &mut [u8; MONEY_TEXT_MAX_BYTES]) -> &str {
        let cents = self.cents();
        let mut rest = cents.unsigned_abs();
        let mut at = buf.len();
        let digit = |b: &mut [u8; MONEY_TEXT_MAX_BYTES], at: &mut usize, d: u64| {
            *at -= 1;
            b[*at] = b'0' + d as u8;
        };
        digit(buf, &mut at, rest % 10);
        rest /= 10;
        digit(buf, &mut at, rest % 10);
        rest /= 10;
        at -= 1;
        buf[at] = b'.';
        loop {
            digit(buf, &mut at, rest % 10);
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        if cents < 0 {
            at -= 1;
            buf[at] = b'-';
        }
        std::str::from_utf8(&buf[at..]).expect("ASCII digits")
    }
}

/// "-" and 19 digits of an i64's cents, and the point.
const MONEY_TEXT_MAX_BYTES: usize = 21;

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Scale is always 2, so this prints "10.50", never "10.5".
        f.write_str(self.write_to(&mut [0; MONEY_TEXT_MAX_BYTES]))
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.write_to(&mut [0; MONEY_TEXT_MAX_BYTES]))
    }
}

impl Money {
    /// The exact form of money in JSON: what we write, and all we read.
    pub const PATTERN: &'static str = r"^-?(?:0|[1-9][0-9]{0,13})\.[0-9]{2}$";

    /// As [`Money::PATTERN`], above zero (a savings target).
    pub const POSITIVE_PATTERN: &'static str = r"^(?:[1-9][0-9]{0,13}\.[0-9]{2}|0\.(?:0[1-9]|[1-9][0-9]))$";

    /// Parses money as our JSON writes it and the API document promises
    /// ([`Money::PATTERN`]), nothing looser (`"1000"`, `".50"`, `" 12.50"`, `"1.5"`
    /// and `"012.50"` are refused), so the app's generated client and the server
    /// agree.
    pub fn parse_exact(s: &str) -> Result<Money, MoneyError> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let exact = digits.split_once('.').is_some_and(|(whole, cents)| {
            (1..=MAX_INTEGER_DIGITS).contains(&whole.len())
                && (whole == "0" || !whole.starts_with('0'))
                && cents.len() == 2
                && whole.bytes().chain(cents.bytes()).all(|b| b.is_ascii_digit())
        });
        if !exact {
            return Err(MoneyError::NotExact);
        }
        s.parse()
    }
}

/// Only the exact form ([`Money::parse_exact`]): what we read is what we write.
impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let s = String::deserialize(deserializer)?;
        Money::parse_exact(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_json_form_is_exact() {
        for ok in ["0.00", "12.50", "-3.05", "1234567.89"] {
            assert!(Money::parse_exact(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1000",
            ".50",
            " 12.50",
            "12.50 ",
            "1.5",
            "1.505",
            "+1.00",
            "1e3.00",
            "",
            "-",
            "12345678901234567.00",
            "123456789012345.00",
            "012.50",
            "00.00",
        ] {
            assert_eq!(Money::parse_exact(bad), Err(MoneyError::NotExact), "{bad:?}");
        }
        assert!(serde_json::from_str::<Money>("\"1000\"").is_err());
        assert_eq!(serde_json::from_str::<Money>("\"10.50\"").unwrap().to_string(), "10.50");
    }

    #[test]
    fn prints_two_decimals() {
        assert_eq!("10.5".parse::<Money>().unwrap().to_string(), "10.50");
        assert_eq!("7".parse::<Money>().unwrap().to_string(), "7.00");
        assert_eq!(Money::from_cents(-1).to_string(), "-0.01");
    }

    #[test]
    fn refuses_sub_cent_and_odd_forms() {
        assert_eq!("1.005".parse::<Money>(), Err(MoneyError::TooPrecise));
        assert_eq!("1e3".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("1.2.3".parse::<Money>(), Err(MoneyError::NotANumber));
        assert_eq!("12345678901234567.00".parse::<Money>(), Err(MoneyError::TooLarge));
        // Trailing zeros beyond the cent are exact, not extra precision.
        assert_eq!("1.500".parse::<Money>().unwrap().to_string(), "1.50");
    }

    #[test]
    fn positive_refuses_zero() {
        assert_eq!(Money::ZERO.positive(), Err(MoneyError::NotPositive));
    }

    proptest! {
        #[test]
        fn cents_round_trip_through_text(cents in -MAX_ABS_UNITS..=MAX_ABS_UNITS) {
            let m = Money::from_cents(cents);
            let back: Money = m.to_string().parse().unwrap();
            prop_assert_eq!(back, m);
            prop_assert_eq!(back.cents(), cents);
        }

        #[test]
        fn text_is_what_decimal_prints(cents in any::<i64>()) {
            let m = Money::from_cents(cents);
            let decimal = Decimal::new(cents, MONEY_SCALE).to_string();
            prop_assert_eq!(m.to_string(), decimal.clone());
            prop_assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{decimal}\""));
        }
    }
}
