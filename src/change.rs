//! The domain form of one stream record (`Change`) and the identities the core orders and groups
//! by: `SequenceNumber` (order within an item) and `ItemId` (table + full primary key).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use crate::value::{Image, Value};

/// What happened to the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventName {
    Insert,
    Modify,
    Remove,
}

impl EventName {
    pub fn parse(text: &str) -> Option<EventName> {
        match text {
            "INSERT" => Some(EventName::Insert),
            "MODIFY" => Some(EventName::Modify),
            "REMOVE" => Some(EventName::Remove),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
        }
    }
}

/// A stream record's SequenceNumber: a decimal string (21 to 40 digits on AWS; shorter in some
/// hand-made samples). Ordered numerically, by length then text, never by timestamp. The text is
/// kept exactly as the record gave it (Lambda's `batchItemFailures` must echo it); leading zeros
/// are ignored when ordering.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SequenceNumber(String);

impl SequenceNumber {
    pub fn parse(text: &str) -> Option<SequenceNumber> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(SequenceNumber(text.to_owned()))
    }

    /// The text as the record gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn significant(&self) -> &str {
        let trimmed = self.0.trim_start_matches('0');
        if trimmed.is_empty() { "0" } else { trimmed }
    }
}

impl PartialEq for SequenceNumber {
    fn eq(&self, other: &Self) -> bool {
        self.significant() == other.significant()
    }
}

impl Eq for SequenceNumber {}

impl std::hash::Hash for SequenceNumber {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.significant().hash(state)
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SequenceNumber {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        SequenceNumber::parse(&text).ok_or_else(|| format!("`{text}` is not a sequence number"))
    }
}

impl From<SequenceNumber> for String {
    fn from(s: SequenceNumber) -> String {
        s.0
    }
}

/// Which item a record belongs to: the table (from eventSourceARN) and the full primary key in a
/// canonical, unambiguous text form (attributes sorted by name, numbers normalized), so `1.0`
/// and `1` name the same item, as they do in DynamoDB.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ItemId {
    pub table: String,
    pub key: String,
}

impl ItemId {
    pub fn new(table: &str, keys: &Image<'_>) -> ItemId {
        let mut sorted: Vec<&(std::borrow::Cow<'_, str>, Value<'_>)> =
            keys.attributes.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        // A JSON array of [name, "TYPE:value"] pairs: unambiguous whatever the names hold.
        let mut key = String::with_capacity(32);
        key.push('[');
        for (i, (name, value)) in sorted.into_iter().enumerate() {
            if i > 0 {
                key.push(',');
            }
            key.push('[');
            push_json_string(&mut key, name);
            key.push(',');
            let canonical = match value {
                Value::S(s) => format!("S:{s}"),
                Value::N(n) => format!("N:{}", n.value),
                Value::B(b) => format!("B:{b}"),
                other => format!("{}:{}", other.type_tag(), other.to_plain_json()),
            };
            push_json_string(&mut key, &canonical);
            key.push(']');
        }
        key.push(']');
        ItemId {
            table: table.to_owned(),
            key,
        }
    }
}

/// Appends `text` as a JSON string literal.
fn push_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.table, self.key)
    }
}

/// One decoded stream record, ready for the audit core. Borrows from the event bytes.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// Position of the record in its batch (0-based).
    pub index: usize,
    pub event_id: Cow<'a, str>,
    pub event_name: EventName,
    pub table: Cow<'a, str>,
    pub stream_arn: Cow<'a, str>,
    pub keys: Image<'a>,
    pub item: ItemId,
    pub sequence_number: SequenceNumber,
    pub old_image: Option<Image<'a>>,
    pub new_image: Option<Image<'a>>,
    pub stream_view_type: Option<Cow<'a, str>>,
    /// Seconds since the epoch, as the record gives it (not a DynamoDB number; only displayed).
    pub approximate_creation_time: Option<f64>,
    /// A deletion made by DynamoDB's Time to Live, not by an application.
    pub ttl_delete: bool,
}

/// Extracts the table name from `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL`. Where
/// the ARN has no such part (hand-made events), the whole ARN stands for the table.
pub fn table_from_stream_arn(arn: &str) -> &str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or("");
    if let Some(rest) = resource.strip_prefix("table/") {
        let name = rest.split('/').next().unwrap_or("");
        if !name.is_empty() {
            return name;
        }
    }
    arn
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_order_numerically() {
        let s = |t: &str| SequenceNumber::parse(t).unwrap();
        assert!(s("999") < s("1000"));
        assert!(s("111") < s("222"));
        assert!(s("4421584500000000017450439091") < s("4421584500000000017450439092"));
        assert!(s("99999999999999999999") < s("100000000000000000000"));
        assert_eq!(s("00123"), s("123"));
        assert_eq!(s("00123").as_str(), "00123");
        assert!(s("0099") < s("100"));
        assert!(SequenceNumber::parse("").is_none());
        assert!(SequenceNumber::parse("12a").is_none());
        assert!(SequenceNumber::parse("-1").is_none());
    }

    #[test]
    fn item_keys_are_canonical_json() {
        fn image(json: &str) -> Image<'_> {
            let mut de = serde_json::Deserializer::from_str(json);
            serde::de::DeserializeSeed::deserialize(
                crate::source::lenient::Decode(crate::source::attribute_value::ImageShape {
                    depth: 0,
                }),
                &mut de,
            )
            .unwrap()
            .unwrap()
        }
        let a = ItemId::new("T", &image(r#"{"sk": {"N": "1.0"}, "pk": {"S": "a\"b"}}"#));
        let b = ItemId::new("T", &image(r#"{"pk": {"S": "a\"b"}, "sk": {"N": "1"}}"#));
        assert_eq!(a, b);
        assert_eq!(a.key, r#"[["pk","S:a\"b"],["sk","N:1"]]"#);
        let parsed: Vec<Vec<String>> = serde_json::from_str(&a.key).unwrap();
        assert_eq!(parsed.len(), 2);
    }

    #[test]
    fn table_names_come_from_the_arn() {
        assert_eq!(
            table_from_stream_arn(
                "arn:aws:dynamodb:us-east-1:123456789012:table/Accounts/stream/2024-01-01T00:00:00.000"
            ),
            "Accounts"
        );
        assert_eq!(
            table_from_stream_arn(
                "arn:{{{partition}}}:dynamodb:{{{region}}}:{{{account_id}}}:table/{{{table}}}/stream/2015"
            ),
            "{{{table}}}"
        );
        assert_eq!(table_from_stream_arn("eventsource_arn"), "eventsource_arn");
        assert_eq!(
            table_from_stream_arn("arn:aws:dynamodb:r:a:table/"),
            "arn:aws:dynamodb:r:a:table/"
        );
    }
}
