//! Decodes DynamoDB's attribute-value JSON (`{"N": "5"}`, `{"M": {...}}`, ...) into typed
//! [`Value`]s, checking every number on the way in.

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess, SeqAccess};

use super::lenient::{Bool, Decode, Key, Lenient, Problem, Shape, Str, StrList};
use crate::decimal::Decimal;
use crate::value::{Image, Number, Value};

/// Nesting deeper than DynamoDB allows (32 levels) is refused before it can exhaust the stack.
const MAX_DEPTH: usize = 32;

fn number(text: Cow<'_, str>) -> Lenient<Number<'_>> {
    match Decimal::parse(&text) {
        Ok(value) => Ok(Number { text, value }),
        Err(e) => Err(Problem::new(format!("N {e}"))),
    }
}

/// A `B` value: standard base64 with padding, as AWS writes it. It stays text (and compares as
/// text: AWS's encoding is canonical), but text that is not base64 is not a binary value.
fn binary(text: Cow<'_, str>) -> Lenient<Cow<'_, str>> {
    let bytes = text.as_bytes();
    let body = bytes.len()
        - bytes
            .iter()
            .rev()
            .take(2)
            .take_while(|&&b| b == b'=')
            .count();
    let valid = bytes.len().is_multiple_of(4)
        && bytes[..body]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if valid {
        Ok(text)
    } else {
        let shown: String = text.chars().take(40).collect();
        Err(Problem::new(format!("B `{shown}` is not base64")))
    }
}

/// An image: attribute name -> attribute value. Also the body of an `M`.
pub struct ImageShape {
    pub depth: usize,
}

impl<'de> Shape<'de> for ImageShape {
    type Out = Image<'de>;

    fn expected(&self) -> &'static str {
        "an object of attribute values"
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient<Image<'de>>, A::Error> {
        let mut attributes = Vec::with_capacity(map.size_hint().unwrap_or(8));
        let mut problem = None;
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            let value = map.next_value_seed(Decode(AttributeValueShape { depth: self.depth }))?;
            match value {
                Ok(v) if problem.is_none() => attributes.push((name, v)),
                Ok(_) => {}
                Err(p) => {
                    problem.get_or_insert_with(|| p.at(&name));
                }
            }
        }
        Ok(match problem {
            Some(p) => Err(p),
            None => Ok(Image { attributes }),
        })
    }
}

/// One attribute value: an object with exactly one type tag.
pub struct AttributeValueShape {
    pub depth: usize,
}

impl<'de> Shape<'de> for AttributeValueShape {
    type Out = Value<'de>;

    fn expected(&self) -> &'static str {
        "an attribute value object such as {\"S\": \"text\"}"
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient<Value<'de>>, A::Error> {
        if self.depth >= MAX_DEPTH {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Err(Problem::new(format!(
                "nested deeper than {MAX_DEPTH} levels"
            ))));
        }
        let depth = self.depth + 1;
        let mut result: Option<Lenient<Value<'de>>> = None;
        let mut tags = 0usize;
        while let Some(Key(tag)) = map.next_key::<Key<'de>>()? {
            tags += 1;
            if tags > 1 {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let decoded = match tag.as_ref() {
                "S" => map.next_value_seed(Decode(Str))?.map(Value::S),
                "N" => map
                    .next_value_seed(Decode(Str))?
                    .and_then(number)
                    .map(Value::N),
                "B" => map
                    .next_value_seed(Decode(Str))?
                    .and_then(binary)
                    .map(Value::B),
                "BOOL" => map.next_value_seed(Decode(Bool))?.map(Value::Bool),
                "NULL" => map.next_value_seed(Decode(Bool))?.and_then(|flag| {
                    if flag {
                        Ok(Value::Null)
                    } else {
                        Err(Problem::new("NULL must be true"))
                    }
                }),
                "M" => map
                    .next_value_seed(Decode(ImageShape { depth }))?
                    .map(Value::M),
                "L" => map
                    .next_value_seed(Decode(ListShape { depth }))?
                    .map(Value::L),
                "SS" => map.next_value_seed(Decode(StrList))?.map(Value::Ss),
                "BS" => map.next_value_seed(Decode(StrList))?.and_then(|members| {
                    members
                        .into_iter()
                        .enumerate()
                        .map(|(i, m)| binary(m).map_err(|p| p.at(&format!("[{i}]"))))
                        .collect::<Lenient<Vec<_>>>()
                        .map(Value::Bs)
                }),
                "NS" => map.next_value_seed(Decode(StrList))?.and_then(|members| {
                    members
                        .into_iter()
                        .enumerate()
                        .map(|(i, m)| number(m).map_err(|p| p.at(&format!("[{i}]"))))
                        .collect::<Lenient<Vec<_>>>()
                        .map(Value::Ns)
                }),
                unknown => {
                    map.next_value::<IgnoredAny>()?;
                    Err(Problem::new(format!("unknown type tag `{unknown}`")))
                }
            };
            result = Some(decoded);
        }
        Ok(match (result, tags) {
            (None, _) => Err(Problem::new("empty attribute value: no type tag")),
            (Some(_), n) if n > 1 => Err(Problem::new(format!(
                "{n} type tags in one attribute value"
            ))),
            (Some(r), _) => r,
        })
    }
}

/// The body of an `L`.
pub struct ListShape {
    pub depth: usize,
}

impl<'de> Shape<'de> for ListShape {
    type Out = Vec<Value<'de>>;

    fn expected(&self) -> &'static str {
        "an array of attribute values"
    }

    fn seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<Self::Out>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
        let mut problem = None;
        let mut index = 0usize;
        while let Some(item) =
            seq.next_element_seed(Decode(AttributeValueShape { depth: self.depth }))?
        {
            match item {
                Ok(v) => items.push(v),
                Err(p) => {
                    problem.get_or_insert_with(|| p.at(&format!("[{index}]")));
                }
            }
            index += 1;
        }
        Ok(match problem {
            Some(p) => Err(p),
            None => Ok(items),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::DeserializeSeed;

    fn image(json: &str) -> Lenient<Image<'_>> {
        let mut de = serde_json::Deserializer::from_str(json);
        Decode(ImageShape { depth: 0 })
            .deserialize(&mut de)
            .unwrap()
    }

    #[test]
    fn decodes_every_type() {
        let img = image(
            r#"{"s":{"S":"x"},"n":{"N":"1.50"},"b":{"B":"AAEqQQ=="},"t":{"BOOL":true},"z":{"NULL":true},
                "m":{"M":{"inner":{"N":"-3"}}},"l":{"L":[{"S":"a"},{"N":"2"}]},
                "ss":{"SS":["a","b"]},"ns":{"NS":["1","2.5"]},"bs":{"BS":["AA==","AQ=="]}}"#,
        )
        .unwrap();
        let tags: Vec<_> = img.attributes.iter().map(|(_, v)| v.type_tag()).collect();
        assert_eq!(
            tags,
            ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"]
        );
        assert_eq!(img.get("n").unwrap().as_number().unwrap().text, "1.50");
        for ok in ["", "AA==", "AAE=", "AAEC", "QSoBAA==", "+/+/"] {
            assert!(binary(Cow::Borrowed(ok)).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn problems_name_the_attribute_path() {
        let cases = [
            (r#"{"a":{"N":"abc"}}"#, "a: N `abc` is not a decimal number"),
            (
                r#"{"a":{"M":{"b":{"L":[{"S":"x"},{"N":"1x"}]}}}}"#,
                "a.b[1]: N `1x` is not a decimal number",
            ),
            (r#"{"a":{"Q":"x"}}"#, "a: unknown type tag `Q`"),
            (r#"{"a":{}}"#, "a: empty attribute value: no type tag"),
            (
                r#"{"a":{"S":"x","N":"1"}}"#,
                "a: 2 type tags in one attribute value",
            ),
            (
                r#"{"a":"plain"}"#,
                "a: expected an attribute value object such as {\"S\": \"text\"}, found a string",
            ),
            (r#"{"a":{"N":5}}"#, "a: expected a string, found a number"),
            (
                r#"{"a":{"NS":["1","x"]}}"#,
                "a[1]: N `x` is not a decimal number",
            ),
            (r#"{"a":{"NULL":false}}"#, "a: NULL must be true"),
            (
                r#"{"a":{"B":"!!!notb64"}}"#,
                "a: B `!!!notb64` is not base64",
            ),
            (r#"{"a":{"B":"AAE"}}"#, "a: B `AAE` is not base64"),
            (
                r#"{"a":{"BS":["AA==","A=A="]}}"#,
                "a[1]: B `A=A=` is not base64",
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(image(json).unwrap_err().to_string(), expected, "{json}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut json = String::new();
        for _ in 0..40 {
            json.push_str(r#"{"M":{"a":"#);
        }
        json.push_str(r#"{"S":"x"}"#);
        for _ in 0..40 {
            json.push_str("}}");
        }
        let doc = format!(r#"{{"top":{json}}}"#);
        let err = image(&doc).unwrap_err();
        assert!(err.message.contains("nested deeper"), "{err}");
    }
}
