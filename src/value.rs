//! Typed DynamoDB attribute values (`S`, `N`, `B`, `BOOL`, `NULL`, `M`, `L`, `SS`, `NS`, `BS`),
//! with the semantic equality and digest the rules use.
//!
//! Values borrow from the event bytes where they can (`Cow`), because allocation, not parsing,
//! is what decoding a 6 MB batch costs. Equality and digests are semantic, as CONTRACT.md pins:
//! map fields and set members are unordered and numbers compare as decimals (`1.0` equals `1`).

use std::borrow::Cow;

use crate::decimal::Decimal;

/// A number as it appeared in the record (kept for display: "N as its decimal string") and its
/// exact value (used for every comparison).
#[derive(Debug, Clone)]
pub struct Number<'a> {
    pub text: Cow<'a, str>,
    pub value: Decimal,
}

impl Number<'_> {
    pub fn into_owned(self) -> Number<'static> {
        Number {
            text: Cow::Owned(self.text.into_owned()),
            value: self.value,
        }
    }
}

/// One attribute value. `B` and `BS` members stay in their base64 text: AWS always writes
/// canonical base64, so comparing the text compares the bytes.
#[derive(Debug, Clone)]
pub enum Value<'a> {
    S(Cow<'a, str>),
    N(Number<'a>),
    B(Cow<'a, str>),
    Bool(bool),
    Null,
    M(Image<'a>),
    L(Vec<Value<'a>>),
    Ss(Vec<Cow<'a, str>>),
    Ns(Vec<Number<'a>>),
    Bs(Vec<Cow<'a, str>>),
}

/// An item image or a map value: attribute name -> value, in the order the record gave them.
/// Lookups are linear: items have few attributes, and a `Vec` costs one allocation.
#[derive(Debug, Clone, Default)]
pub struct Image<'a> {
    pub attributes: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> Image<'a> {
    pub fn get(&self, name: &str) -> Option<&Value<'a>> {
        self.attributes
            .iter()
            .find(|(n, _)| n.as_ref() == name)
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.attributes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty()
    }

    /// Semantic equality: same attribute names, each value semantically equal.
    pub fn semantic_eq(&self, other: &Image<'_>) -> bool {
        self.len() == other.len()
            && self
                .attributes
                .iter()
                .all(|(name, v)| other.get(name).is_some_and(|w| v.semantic_eq(w)))
    }

    /// Order-independent 128-bit digest of the whole image; equal images have equal digests.
    pub fn digest(&self) -> Digest {
        let mut sum: u128 = 0;
        for (name, value) in &self.attributes {
            sum = sum.wrapping_add(entry_digest(name, value));
        }
        Digest(mix(TAG_M, &sum.to_le_bytes()))
    }

    /// The image as plain JSON (`N` as its decimal string, `B` as base64), for findings.
    pub fn to_plain_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut sorted: Vec<_> = self.attributes.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        sorted
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_plain_json()))
            .collect()
    }
}

impl<'a> Value<'a> {
    /// DynamoDB's type tag, for messages.
    pub fn type_tag(&self) -> &'static str {
        match self {
            Value::S(_) => "S",
            Value::N(_) => "N",
            Value::B(_) => "B",
            Value::Bool(_) => "BOOL",
            Value::Null => "NULL",
            Value::M(_) => "M",
            Value::L(_) => "L",
            Value::Ss(_) => "SS",
            Value::Ns(_) => "NS",
            Value::Bs(_) => "BS",
        }
    }

    pub fn as_number(&self) -> Option<&Number<'a>> {
        match self {
            Value::N(n) => Some(n),
            _ => None,
        }
    }

    pub fn semantic_eq(&self, other: &Value<'_>) -> bool {
        match (self, other) {
            (Value::S(a), Value::S(b)) | (Value::B(a), Value::B(b)) => a == b,
            (Value::N(a), Value::N(b)) => a.value == b.value,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Null, Value::Null) => true,
            (Value::M(a), Value::M(b)) => a.semantic_eq(b),
            (Value::L(a), Value::L(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.semantic_eq(y))
            }
            (Value::Ss(a), Value::Ss(b)) | (Value::Bs(a), Value::Bs(b)) => {
                same_members(a, b, |x, y| x == y)
            }
            (Value::Ns(a), Value::Ns(b)) => same_members(a, b, |x, y| x.value == y.value),
            _ => false,
        }
    }

    /// Order-independent digest for sets and maps, exact-decimal for numbers.
    pub fn digest(&self) -> u128 {
        match self {
            Value::S(s) => mix(TAG_S, s.as_bytes()),
            Value::N(n) => number_digest(&n.value),
            Value::B(b) => mix(TAG_B, b.as_bytes()),
            Value::Bool(b) => mix(TAG_BOOL, &[*b as u8]),
            Value::Null => mix(TAG_NULL, &[]),
            Value::M(m) => m.digest().0,
            Value::L(items) => {
                let mut hasher = xxhash_rust::xxh3::Xxh3::new();
                hasher.update(&[TAG_L]);
                for item in items {
                    hasher.update(&item.digest().to_le_bytes());
                }
                hasher.digest128()
            }
            Value::Ss(members) => {
                set_digest(TAG_SS, members.iter().map(|s| mix(TAG_S, s.as_bytes())))
            }
            Value::Bs(members) => {
                set_digest(TAG_BS, members.iter().map(|s| mix(TAG_B, s.as_bytes())))
            }
            Value::Ns(members) => {
                set_digest(TAG_NS, members.iter().map(|n| number_digest(&n.value)))
            }
        }
    }

    /// Plain JSON: `N` as its decimal string (as written), `B` as base64, sets as arrays.
    pub fn to_plain_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::S(s) | Value::B(s) => J::String(s.to_string()),
            Value::N(n) => J::String(n.text.to_string()),
            Value::Bool(b) => J::Bool(*b),
            Value::Null => J::Null,
            Value::M(m) => J::Object(m.to_plain_json()),
            Value::L(items) => J::Array(items.iter().map(Value::to_plain_json).collect()),
            Value::Ss(members) | Value::Bs(members) => {
                J::Array(members.iter().map(|s| J::String(s.to_string())).collect())
            }
            Value::Ns(members) => J::Array(
                members
                    .iter()
                    .map(|n| J::String(n.text.to_string()))
                    .collect(),
            ),
        }
    }
}

fn same_members<T>(a: &[T], b: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
    // Sets are small in practice; a quadratic scan allocates nothing.
    a.len() == b.len()
        && a.iter().all(|x| b.iter().any(|y| eq(x, y)))
        && b.iter().all(|y| a.iter().any(|x| eq(x, y)))
}

/// A 128-bit image digest, as stored in checkpoints: a collision would hide a `history-gap`, and
/// at 2^-128 per comparison that never happens in practice. xxh3 is a fixed, published algorithm,
/// so digests stay comparable across versions and machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest(pub u128);

impl Digest {
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }

    pub fn from_hex(text: &str) -> Option<Digest> {
        (text.len() == 32)
            .then(|| u128::from_str_radix(text, 16).ok())
            .flatten()
            .map(Digest)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <Cow<'de, str>>::deserialize(d)?;
        Digest::from_hex(&text).ok_or_else(|| serde::de::Error::custom("a digest is 32 hex digits"))
    }
}

const TAG_S: u8 = 1;
const TAG_N: u8 = 2;
const TAG_B: u8 = 3;
const TAG_BOOL: u8 = 4;
const TAG_NULL: u8 = 5;
const TAG_M: u8 = 6;
const TAG_L: u8 = 7;
const TAG_SS: u8 = 8;
const TAG_NS: u8 = 9;
const TAG_BS: u8 = 10;
const TAG_ENTRY: u8 = 11;

/// Hashes a tag and bytes. Short inputs go through one-shot xxh3 on a stack buffer: creating a
/// streaming hasher per attribute value cost more than the hashing itself.
fn mix(tag: u8, bytes: &[u8]) -> u128 {
    const INLINE: usize = 127;
    if bytes.len() <= INLINE {
        let mut buffer = [0u8; INLINE + 1];
        buffer[0] = tag;
        buffer[1..=bytes.len()].copy_from_slice(bytes);
        return xxhash_rust::xxh3::xxh3_128(&buffer[..=bytes.len()]);
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&[tag]);
    hasher.update(bytes);
    hasher.digest128()
}

fn number_digest(value: &Decimal) -> u128 {
    let (negative, coefficient, exponent) = value.parts();
    let mut bytes = [0u8; 21];
    bytes[0] = negative as u8;
    bytes[1..17].copy_from_slice(&coefficient.to_le_bytes());
    bytes[17..21].copy_from_slice(&exponent.to_le_bytes());
    mix(TAG_N, &bytes)
}

fn entry_digest(name: &str, value: &Value<'_>) -> u128 {
    // The value's digest is fixed-size, so (name, digest) is unambiguous without a length prefix.
    const INLINE: usize = 96;
    let digest = value.digest().to_le_bytes();
    if name.len() <= INLINE {
        let mut buffer = [0u8; INLINE + 16];
        buffer[..16].copy_from_slice(&digest);
        buffer[16..16 + name.len()].copy_from_slice(name.as_bytes());
        return mix(TAG_ENTRY, &buffer[..16 + name.len()]);
    }
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&[TAG_ENTRY]);
    hasher.update(&digest);
    hasher.update(name.as_bytes());
    hasher.digest128()
}

fn set_digest(tag: u8, members: impl Iterator<Item = u128>) -> u128 {
    let sum = members.fold(0u128, |acc, m| acc.wrapping_add(m));
    mix(tag, &sum.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &'static str) -> Value<'static> {
        Value::N(Number {
            text: Cow::Borrowed(text),
            value: Decimal::parse(text).unwrap(),
        })
    }

    fn image(attrs: Vec<(&'static str, Value<'static>)>) -> Image<'static> {
        Image {
            attributes: attrs
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
        }
    }

    #[test]
    fn numbers_compare_as_decimals() {
        assert!(n("1.0").semantic_eq(&n("1")));
        assert_eq!(n("1.0").digest(), n("1").digest());
        assert!(!n("1").semantic_eq(&n("1.01")));
        assert!(!n("1").semantic_eq(&Value::S("1".into())));
    }

    #[test]
    fn maps_and_sets_are_unordered_lists_are_not() {
        let a = image(vec![("x", n("1")), ("y", Value::S("a".into()))]);
        let b = image(vec![("y", Value::S("a".into())), ("x", n("1.00"))]);
        assert!(a.semantic_eq(&b));
        assert_eq!(a.digest(), b.digest());

        let s1 = Value::Ss(vec!["a".into(), "b".into()]);
        let s2 = Value::Ss(vec!["b".into(), "a".into()]);
        assert!(s1.semantic_eq(&s2));
        assert_eq!(s1.digest(), s2.digest());

        let l1 = Value::L(vec![n("1"), n("2")]);
        let l2 = Value::L(vec![n("2"), n("1")]);
        assert!(!l1.semantic_eq(&l2));
        assert_ne!(l1.digest(), l2.digest());
    }

    #[test]
    fn different_images_have_different_digests() {
        let base = image(vec![("balance", n("100")), ("version", n("3"))]);
        let changed = image(vec![("balance", n("80")), ("version", n("3"))]);
        let extra = image(vec![
            ("balance", n("100")),
            ("version", n("3")),
            ("note", Value::Null),
        ]);
        let renamed = image(vec![("balanc", n("100")), ("version", n("3"))]);
        let digests = [
            base.digest(),
            changed.digest(),
            extra.digest(),
            renamed.digest(),
        ];
        for i in 0..digests.len() {
            for j in i + 1..digests.len() {
                assert_ne!(digests[i], digests[j], "{i} vs {j}");
            }
        }
        // Types matter: S "1" is not N 1, B "AA==" is not S "AA==".
        assert_ne!(Value::S("1".into()).digest(), n("1").digest());
        assert_ne!(
            Value::S("AA==".into()).digest(),
            Value::B("AA==".into()).digest()
        );
    }

    #[test]
    fn digest_hex_round_trips() {
        let d = image(vec![("a", n("1"))]).digest();
        assert_eq!(Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Digest::from_hex("xyz"), None);
    }
}
