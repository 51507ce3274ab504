//! Turns Lambda DynamoDB Streams event bytes into domain [`Record`]s, each decoded on its own.
//!
//! The event is parsed once, straight into typed values that borrow from the input; a record
//! that cannot be interpreted becomes a [`MalformedRecord`] and the batch goes on. Only an
//! event that is not JSON, or has no `Records` array, is an error for the whole input.

pub mod attribute_value;
pub mod lenient;
pub mod record;

use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

pub use record::{MalformedRecord, Record};

use lenient::{Decode, Key};
use record::RecordShape;

/// Why a whole event could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    // The message carries the parser's own text, so it is not also chained as a source (a
    // one-line error would print it twice).
    #[error("not valid JSON: {0}")]
    Json(serde_json::Error),
    #[error("not valid JSON: invalid UTF-8 at byte {offset}")]
    NotUtf8 { offset: usize },
    #[error("not a DynamoDB Streams event: the top level must be an object with a `Records` array")]
    NoRecords,
}

impl From<serde_json::Error> for DecodeError {
    fn from(error: serde_json::Error) -> Self {
        DecodeError::Json(error)
    }
}

/// Decodes a Lambda DynamoDB Streams event (`{"Records": [...]}`).
///
/// The bytes are checked as UTF-8 once, up front: that is faster than serde_json checking each
/// string on its own, and JSON must be UTF-8 anyway.
pub fn decode_event(bytes: &[u8]) -> Result<Vec<Record<'_>>, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| DecodeError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let records = EventSeed.deserialize(&mut deserializer)?;
    deserializer.end()?;
    records.ok_or(DecodeError::NoRecords)
}

/// Visitor methods for the scalar kinds, each meaning "this is not where the records are".
macro_rules! scalars_are_not_records {
    () => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    };
}

struct EventSeed;

impl<'de> DeserializeSeed<'de> for EventSeed {
    type Value = Option<Vec<Record<'de>>>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventSeed {
    type Value = Option<Vec<Record<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a DynamoDB Streams event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut records = None;
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            if name == "Records" && records.is_none() {
                records = map.next_value_seed(RecordsSeed)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(records)
    }

    // Any other top-level kind: consume it and report "no Records".
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    scalars_are_not_records!();
}

struct RecordsSeed;

impl<'de> DeserializeSeed<'de> for RecordsSeed {
    type Value = Option<Vec<Record<'de>>>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        // A non-array `Records` is reported as "no Records": route it through the event visitor's
        // catch-alls, then accept only arrays here.
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed {
    type Value = Option<Vec<Record<'de>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of stream records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::with_capacity(seq.size_hint().unwrap_or(128));
        let mut index = 0;
        while let Some(decoded) = seq.next_element_seed(Decode(RecordShape { index }))? {
            records.push(decoded.unwrap_or_else(|problem| {
                Record::Malformed(Box::new(MalformedRecord {
                    index,
                    problem: problem.to_string(),
                    ..MalformedRecord::default()
                }))
            }));
            index += 1;
        }
        Ok(Some(records))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    scalars_are_not_records!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_event_errors() {
        assert!(matches!(decode_event(b"{"), Err(DecodeError::Json(_))));
        assert!(matches!(decode_event(b"[]"), Err(DecodeError::NoRecords)));
        assert!(matches!(decode_event(b"{}"), Err(DecodeError::NoRecords)));
        assert!(matches!(
            decode_event(br#"{"Records": 5}"#),
            Err(DecodeError::NoRecords)
        ));
        assert!(matches!(
            decode_event(br#"{"Records": []} x"#),
            Err(DecodeError::Json(_))
        ));
        assert_eq!(decode_event(br#"{"Records": []}"#).unwrap().len(), 0);
    }

    #[test]
    fn a_bad_record_does_not_sink_the_batch() {
        let event = br#"{"Records": [
            5,
            {"eventID":"a","eventName":"INSERT","eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/T/stream/x",
             "dynamodb":{"Keys":{"id":{"S":"1"}},"NewImage":{"id":{"S":"1"},"n":{"N":"bad"}},"SequenceNumber":"100"}},
            {"eventID":"b","eventName":"INSERT","eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/T/stream/x",
             "dynamodb":{"Keys":{"id":{"S":"1"}},"NewImage":{"id":{"S":"1"}},"SequenceNumber":"200"}}
        ]}"#;
        let records = decode_event(event).unwrap();
        assert_eq!(records.len(), 3);
        let Record::Malformed(first) = &records[0] else {
            panic!()
        };
        assert_eq!(
            first.problem,
            "expected a stream record object, found a number"
        );
        let Record::Malformed(second) = &records[1] else {
            panic!()
        };
        assert_eq!(
            second.problem,
            "dynamodb.NewImage.n: N `bad` is not a decimal number"
        );
        assert_eq!(second.table.as_deref(), Some("T"));
        assert_eq!(second.sequence_number.as_ref().unwrap().as_str(), "100");
        assert!(matches!(&records[2], Record::Change(c) if c.sequence_number.as_str() == "200"));
    }
}
