//! One-pass, forgiving JSON decoding: a value of the wrong shape becomes a described problem
//! instead of a serde error, so the parse carries on and one bad record cannot sink its batch.
//!
//! serde aborts the whole document on the first type mismatch. Decoding each record from a
//! `RawValue` would avoid that but reads every byte twice. Instead every position is decoded
//! through a [`Shape`]: it accepts the JSON kinds it expects and turns any other kind into
//! `Err(Problem)` after consuming it, so the parser stays in step. Only broken JSON syntax still
//! fails the document, and nothing can be recovered from that anyway.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What was wrong with a value, and where: `NewImage.balance` plus `N "abc" is not a number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Problem {
        Problem {
            path: String::new(),
            message: message.into(),
        }
    }

    /// Prefixes the location of the value inside its parent: a field name or `[index]`.
    pub fn at(mut self, segment: &str) -> Problem {
        let joiner = if self.path.is_empty() || self.path.starts_with('[') {
            ""
        } else {
            "."
        };
        self.path = format!("{segment}{joiner}{}", self.path);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The outcome of decoding one position: a value, or what was wrong with it.
pub type Lenient<T> = Result<T, Problem>;

/// A JSON number as serde reports it; only used where the domain is not a DynamoDB number.
#[derive(Debug, Clone, Copy)]
pub enum JsonNumber {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
}

impl JsonNumber {
    pub fn as_f64(self) -> f64 {
        match self {
            JsonNumber::Unsigned(v) => v as f64,
            JsonNumber::Signed(v) => v as f64,
            JsonNumber::Float(v) => v,
        }
    }
}

fn kind_problem(expected: &str, found: &str) -> Problem {
    Problem::new(format!("expected {expected}, found {found}"))
}

/// The JSON kinds one position accepts. Every method has a default that consumes the value and
/// reports it as the wrong kind.
pub trait Shape<'de>: Sized {
    type Out;

    /// What the position expects, for messages ("a string", "an attribute value object").
    fn expected(&self) -> &'static str;

    fn string(self, _value: Cow<'de, str>) -> Lenient<Self::Out> {
        Err(kind_problem(self.expected(), "a string"))
    }

    fn boolean(self, _value: bool) -> Lenient<Self::Out> {
        Err(kind_problem(self.expected(), "a boolean"))
    }

    fn number(self, _value: JsonNumber) -> Lenient<Self::Out> {
        Err(kind_problem(self.expected(), "a number"))
    }

    fn null(self) -> Lenient<Self::Out> {
        Err(kind_problem(self.expected(), "null"))
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient<Self::Out>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(kind_problem(self.expected(), "an object")))
    }

    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<Self::Out>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(kind_problem(self.expected(), "an array")))
    }
}

/// Adapts a [`Shape`] to serde: `deserializer.deserialize_any(Decode(shape))`.
pub struct Decode<S>(pub S);

impl<'de, S: Shape<'de>> DeserializeSeed<'de> for Decode<S> {
    type Value = Lenient<S::Out>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: Shape<'de>> Visitor<'de> for Decode<S> {
    type Value = Lenient<S::Out>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0.expected())
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.0.boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.0.number(JsonNumber::Signed(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.0.number(JsonNumber::Unsigned(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.0.number(JsonNumber::Float(v)))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(self.0.string(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.string(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(self.0.string(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.0.null())
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(self.0.null())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.seq(seq)
    }
}

/// An object key, borrowed when the JSON has no escapes in it.
pub struct Key<'de>(pub Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A string.
pub struct Str;

impl<'de> Shape<'de> for Str {
    type Out = Cow<'de, str>;
    fn expected(&self) -> &'static str {
        "a string"
    }
    fn string(self, value: Cow<'de, str>) -> Lenient<Self::Out> {
        Ok(value)
    }
}

/// A boolean.
pub struct Bool;

impl<'de> Shape<'de> for Bool {
    type Out = bool;
    fn expected(&self) -> &'static str {
        "a boolean"
    }
    fn boolean(self, value: bool) -> Lenient<bool> {
        Ok(value)
    }
}

/// A JSON number (for fields that are not DynamoDB numbers, such as timestamps and sizes).
pub struct Num;

impl<'de> Shape<'de> for Num {
    type Out = JsonNumber;
    fn expected(&self) -> &'static str {
        "a number"
    }
    fn number(self, value: JsonNumber) -> Lenient<JsonNumber> {
        Ok(value)
    }
}

/// An array of strings; the first bad member is the problem.
pub struct StrList;

impl<'de> Shape<'de> for StrList {
    type Out = Vec<Cow<'de, str>>;
    fn expected(&self) -> &'static str {
        "an array of strings"
    }
    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<Self::Out>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        let mut problem = None;
        let mut index = 0usize;
        while let Some(item) = seq.next_element_seed(Decode(Str))? {
            match item {
                Ok(s) => out.push(s),
                Err(p) => {
                    problem.get_or_insert_with(|| p.at(&format!("[{index}]")));
                }
            }
            index += 1;
        }
        Ok(match problem {
            Some(p) => Err(p),
            None => Ok(out),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode<'de, S: Shape<'de>>(json: &'de str, shape: S) -> Lenient<S::Out> {
        let mut de = serde_json::Deserializer::from_str(json);
        Decode(shape).deserialize(&mut de).unwrap()
    }

    #[test]
    fn wrong_kinds_become_problems_and_parsing_goes_on() {
        assert_eq!(decode(r#""x""#, Str).unwrap(), "x");
        assert!(decode(r#"{"a":[1,2,{"b":null}]}"#, Str).is_err());
        assert!(decode(r#"[1,"a",{}]"#, Bool).is_err());
        assert_eq!(decode(r#"["a","b"]"#, StrList).unwrap(), vec!["a", "b"]);
        let problem = decode(r#"["a",5]"#, StrList).unwrap_err();
        assert_eq!(
            problem.to_string(),
            "[1]: expected a string, found a number"
        );
    }

    #[test]
    fn escaped_strings_are_decoded() {
        assert_eq!(decode(r#""a\"b\u00e9""#, Str).unwrap(), "a\"bé");
    }
}
