//! Exact decimal numbers as DynamoDB stores them: up to 38 significant digits, never floating point.
//!
//! DynamoDB's `N` type carries up to 38 significant digits with an exponent of roughly -130..+125.
//! A `u128` holds any 38-digit coefficient (10^38 < 2^128), so a normalized
//! `(sign, coefficient, exponent)` triple represents every DynamoDB number exactly, compares
//! without allocating, and is `Copy`. `rust_decimal` (28 digits) and `f64` (about 16) would both
//! make two different 38-digit versions compare equal, which is exactly the false `lost-update`
//! this tool must not raise.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// Most significant digits a DynamoDB number can carry.
pub const MAX_DIGITS: u32 = 38;

/// An exact decimal: `(-1)^negative * coefficient * 10^exponent`, normalized so that equal values
/// have equal representations (no trailing zeros in the coefficient; zero is `0e0`, never negative).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    coefficient: u128,
    exponent: i32,
}

/// Why a string is not a DynamoDB number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    #[error("empty number")]
    Empty,
    #[error("`{0}` is not a decimal number")]
    Syntax(String),
    #[error("`{0}` has more than 38 significant digits")]
    TooManyDigits(String),
    #[error("`{0}` has an exponent out of range")]
    ExponentRange(String),
}

const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < 39 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

fn digit_count(value: u128) -> u32 {
    if value == 0 {
        return 1;
    }
    // 38 digits at most: a short linear scan is cheap and obviously right.
    let mut n = 1;
    while n < 39 && value >= POW10[n as usize] {
        n += 1;
    }
    n
}

impl Decimal {
    pub const ZERO: Decimal = Decimal {
        negative: false,
        coefficient: 0,
        exponent: 0,
    };

    /// Builds a normalized value from parts.
    fn normalized(negative: bool, mut coefficient: u128, mut exponent: i32) -> Decimal {
        if coefficient == 0 {
            return Decimal::ZERO;
        }
        while coefficient.is_multiple_of(10) {
            coefficient /= 10;
            exponent += 1;
        }
        Decimal {
            negative,
            coefficient,
            exponent,
        }
    }

    /// A whole number.
    pub fn from_i64(value: i64) -> Decimal {
        Decimal::normalized(value < 0, value.unsigned_abs() as u128, 0)
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    pub fn is_zero(&self) -> bool {
        self.coefficient == 0
    }

    /// Sign, coefficient digits (no trailing zeros) and exponent: the canonical parts, for hashing.
    pub fn parts(&self) -> (bool, u128, i32) {
        (self.negative, self.coefficient, self.exponent)
    }

    /// Position of the most significant digit: `digits + exponent`. Orders magnitudes first.
    fn adjusted(&self) -> i64 {
        digit_count(self.coefficient) as i64 + self.exponent as i64
    }

    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        match self.adjusted().cmp(&other.adjusted()) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        // Same leading position: scale the one with fewer digits up. The difference in
        // exponents is below 38 and the scaled value keeps the other's digit count, so it fits.
        let (a, b) = (self, other);
        match a.exponent.cmp(&b.exponent) {
            Ordering::Equal => a.coefficient.cmp(&b.coefficient),
            Ordering::Greater => {
                let shift = (a.exponent - b.exponent) as usize;
                (a.coefficient * POW10[shift]).cmp(&b.coefficient)
            }
            Ordering::Less => {
                let shift = (b.exponent - a.exponent) as usize;
                a.coefficient.cmp(&(b.coefficient * POW10[shift]))
            }
        }
    }

    /// `self + other`, or `None` when the exact result does not fit 38 significant digits.
    pub fn checked_add(&self, other: &Decimal) -> Option<Decimal> {
        if self.is_zero() {
            return Some(*other);
        }
        if other.is_zero() {
            return Some(*self);
        }
        let exponent = self.exponent.min(other.exponent);
        let scale = |d: &Decimal| -> Option<u128> {
            let shift = usize::try_from(d.exponent - exponent).ok()?;
            let factor = *POW10.get(shift)?;
            d.coefficient.checked_mul(factor)
        };
        let (a, b) = (scale(self)?, scale(other)?);
        let (negative, coefficient) = if self.negative == other.negative {
            (self.negative, a.checked_add(b)?)
        } else if a >= b {
            (self.negative, a - b)
        } else {
            (other.negative, b - a)
        };
        let result = Decimal::normalized(negative, coefficient, exponent);
        (digit_count(result.coefficient) <= MAX_DIGITS).then_some(result)
    }

    /// `-self`.
    pub fn negated(&self) -> Decimal {
        if self.is_zero() {
            *self
        } else {
            Decimal {
                negative: !self.negative,
                ..*self
            }
        }
    }

    /// `self - other`, or `None` when the exact result does not fit 38 significant digits.
    pub fn checked_sub(&self, other: &Decimal) -> Option<Decimal> {
        self.checked_add(&other.negated())
    }

    /// Parses DynamoDB's number syntax: optional sign, digits with an optional fraction, optional
    /// exponent. Leading and trailing zeros are not significant.
    pub fn parse(text: &str) -> Result<Decimal, DecimalError> {
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Err(DecimalError::Empty);
        }
        let syntax = || DecimalError::Syntax(text.to_owned());
        let mut i = 0;
        let mut negative = false;
        if bytes[0] == b'-' || bytes[0] == b'+' {
            negative = bytes[0] == b'-';
            i = 1;
        }
        let mut coefficient: u128 = 0;
        let mut significant: u32 = 0;
        let mut any_digit = false;
        // Digits dropped past the 38th significant digit must all be zero, else the value is
        // not representable exactly; zeros dropped that way still scale the value.
        let mut dropped_zeros: i64 = 0;
        let mut fraction_digits: i64 = 0;
        let mut in_fraction = false;
        let mut too_many = false;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'0'..=b'9' => {
                    any_digit = true;
                    let d = (b - b'0') as u128;
                    if in_fraction {
                        fraction_digits += 1;
                    }
                    if coefficient == 0 && d == 0 {
                        // leading zero: not significant
                    } else if significant < MAX_DIGITS {
                        coefficient = coefficient * 10 + d;
                        significant += 1;
                    } else if d == 0 {
                        dropped_zeros += 1;
                    } else {
                        too_many = true;
                    }
                }
                b'.' if !in_fraction => in_fraction = true,
                b'e' | b'E' => break,
                _ => return Err(syntax()),
            }
            i += 1;
        }
        if !any_digit {
            return Err(syntax());
        }
        let mut exponent: i64 = 0;
        if i < bytes.len() {
            // exponent part
            i += 1;
            let mut exp_negative = false;
            if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
                exp_negative = bytes[i] == b'-';
                i += 1;
            }
            if i >= bytes.len() {
                return Err(syntax());
            }
            while i < bytes.len() {
                let b = bytes[i];
                if !b.is_ascii_digit() {
                    return Err(syntax());
                }
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add((b - b'0') as i64);
                i += 1;
            }
            if exp_negative {
                exponent = -exponent;
            }
        }
        if too_many {
            return Err(DecimalError::TooManyDigits(text.to_owned()));
        }
        let exponent = exponent - fraction_digits + dropped_zeros;
        if coefficient == 0 {
            return Ok(Decimal::ZERO);
        }
        let exponent = i32::try_from(exponent)
            .ok()
            .filter(|e| (-1000..=1000).contains(e))
            .ok_or_else(|| DecimalError::ExponentRange(text.to_owned()))?;
        Ok(Decimal::normalized(negative, coefficient, exponent))
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Decimal::parse(s)
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Plain notation when it stays short (what people and DynamoDB write), scientific otherwise.
impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        let digits = self.coefficient.to_string();
        let exp = self.exponent as i64;
        let len = digits.len() as i64;
        if (0..=20).contains(&exp) {
            f.write_str(&digits)?;
            for _ in 0..exp {
                f.write_str("0")?;
            }
            Ok(())
        } else if exp < 0 && -exp < len {
            let split = (len + exp) as usize;
            write!(f, "{}.{}", &digits[..split], &digits[split..])
        } else if exp < 0 && -exp - len <= 20 {
            f.write_str("0.")?;
            for _ in 0..(-exp - len) {
                f.write_str("0")?;
            }
            f.write_str(&digits)
        } else {
            write!(f, "{}E{}", digits, exp)
        }
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({self})")
    }
}

impl serde::Serialize for Decimal {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Decimal {
    /// Accepts a string (exact) or a JSON number. JSON numbers reach serde as `u64`/`i64`/`f64`;
    /// an `f64` is printed shortest-round-trip, which gives back what a person wrote for up to
    /// 15 digits. Write long decimals as strings.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal number (a JSON number or a string such as \"0.01\")")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
                Decimal::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
                Ok(Decimal::normalized(false, v as u128, 0))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal::from_i64(v))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Decimal, E> {
                if !v.is_finite() {
                    return Err(E::custom("not a finite number"));
                }
                Decimal::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn equal_values_compare_equal_whatever_the_spelling() {
        assert_eq!(d("1"), d("1.0"));
        assert_eq!(d("1"), d("+1.000"));
        assert_eq!(d("100"), d("1e2"));
        assert_eq!(d("100"), d("1E+2"));
        assert_eq!(d("0.01"), d("1e-2"));
        assert_eq!(d("0"), d("-0"));
        assert_eq!(d("0"), d("0.000e5"));
        assert_eq!(d("007"), d("7"));
        assert!(!d("-0").is_negative());
        assert!(!d("-0.0").is_negative());
    }

    #[test]
    fn thirty_eight_digit_values_differing_in_the_last_digit_differ() {
        let a = d("12345678901234567890123456789012345678");
        let b = d("12345678901234567890123456789012345679");
        assert_ne!(a, b);
        assert!(a < b);
        assert_eq!(a.checked_add(&d("1")), Some(b));
        assert_eq!(
            d("99999999999999999999999999999999999999").checked_add(&d("1")),
            Some(d("1e38"))
        );
        assert_eq!(
            d("0.12345678901234567890123456789012345678"),
            d("1.2345678901234567890123456789012345678e-1")
        );
    }

    #[test]
    fn ordering_is_exact() {
        let ordered = [
            "-1e10",
            "-5",
            "-0.5",
            "-1e-130",
            "0",
            "1e-130",
            "0.1",
            "0.10000000000000000000000000000000000001",
            "1",
            "1.5",
            "2",
            "10",
            "1e125",
        ];
        for pair in ordered.windows(2) {
            assert!(d(pair[0]) < d(pair[1]), "{} < {}", pair[0], pair[1]);
            assert!(d(pair[1]) > d(pair[0]), "{} > {}", pair[1], pair[0]);
        }
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for bad in [
            "", "-", "abc", "1.2.3", "1e", "1e+", "--1", "1,5", " 1", "0x10", "NaN", "Infinity",
            ".", "e5",
        ] {
            assert!(Decimal::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            Decimal::parse("123456789012345678901234567890123456789"),
            Err(DecimalError::TooManyDigits(_))
        ));
        // Trailing zeros past the 38th digit are not significant.
        assert_eq!(
            d("1234567890123456789012345678901234567800000"),
            d("12345678901234567890123456789012345678e5")
        );
        assert!(Decimal::parse("1e99999999999999999999").is_err());
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(d("0.1").checked_add(&d("0.2")), Some(d("0.3")));
        assert_eq!(d("100").checked_sub(&d("80")), Some(d("20")));
        assert_eq!(d("5").checked_sub(&d("7")), Some(d("-2")));
        assert_eq!(d("-5").checked_add(&d("5")), Some(d("0")));
        assert_eq!(d("1e100").checked_add(&d("1")), None);
    }

    #[test]
    fn displays_plainly() {
        for (input, shown) in [
            ("1.50", "1.5"),
            ("-0", "0"),
            ("1e2", "100"),
            ("0.001", "0.001"),
            ("-12.34", "-12.34"),
            ("1e-130", "1E-130"),
            ("1e125", "1E125"),
        ] {
            assert_eq!(d(input).to_string(), shown);
        }
    }
}
