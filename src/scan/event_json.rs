//! Writes records read from the DynamoDB Streams API as a Lambda DynamoDB Streams event.
//!
//! `scan` feeds these bytes through the same decoder `replay` and the Lambda function use
//! ([`crate::source::decode_event`]), so a live stream and a captured event of the same records
//! are audited by one code path and give the same findings. The API's record is the Lambda
//! record minus `eventSourceARN`, which is set to the stream's ARN as Lambda sets it.
//! Maps are written with their keys sorted, so the same records always give the same bytes.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, StreamRecord};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// The event `{"Records": [...]}` holding `records`, as JSON bytes.
pub fn lambda_event(stream_arn: &str, records: &[Record]) -> Vec<u8> {
    let event = Event {
        stream_arn,
        records,
    };
    // Serializing plain strings, numbers and maps into a Vec cannot fail.
    serde_json::to_vec(&event).unwrap_or_default()
}

struct Event<'a> {
    stream_arn: &'a str,
    records: &'a [Record],
}

impl Serialize for Event<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        let records: Vec<LambdaRecord<'_>> = self
            .records
            .iter()
            .map(|record| LambdaRecord {
                stream_arn: self.stream_arn,
                record,
            })
            .collect();
        map.serialize_entry("Records", &records)?;
        map.end()
    }
}

struct LambdaRecord<'a> {
    stream_arn: &'a str,
    record: &'a Record,
}

impl Serialize for LambdaRecord<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut map = s.serialize_map(None)?;
        if let Some(id) = &r.event_id {
            map.serialize_entry("eventID", id)?;
        }
        if let Some(name) = &r.event_name {
            map.serialize_entry("eventName", name.as_str())?;
        }
        if let Some(version) = &r.event_version {
            map.serialize_entry("eventVersion", version)?;
        }
        if let Some(source) = &r.event_source {
            map.serialize_entry("eventSource", source)?;
        }
        if let Some(region) = &r.aws_region {
            map.serialize_entry("awsRegion", region)?;
        }
        map.serialize_entry("eventSourceARN", self.stream_arn)?;
        if let Some(identity) = &r.user_identity {
            let mut fields = Vec::new();
            if let Some(kind) = &identity.r#type {
                fields.push(("type", kind.as_str()));
            }
            if let Some(principal) = &identity.principal_id {
                fields.push(("principalId", principal.as_str()));
            }
            map.serialize_entry("userIdentity", &Fields(&fields))?;
        }
        if let Some(dynamodb) = &r.dynamodb {
            map.serialize_entry("dynamodb", &Dynamodb(dynamodb))?;
        }
        map.end()
    }
}

struct Fields<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct Dynamodb<'a>(&'a StreamRecord);

impl Serialize for Dynamodb<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let mut map = s.serialize_map(None)?;
        if let Some(time) = &d.approximate_creation_date_time {
            // Lambda writes epoch seconds as a JSON number, as the API's wire format does.
            map.serialize_entry("ApproximateCreationDateTime", &time.as_secs_f64())?;
        }
        if let Some(keys) = &d.keys {
            map.serialize_entry("Keys", &Image(keys))?;
        }
        if let Some(new) = &d.new_image {
            map.serialize_entry("NewImage", &Image(new))?;
        }
        if let Some(old) = &d.old_image {
            map.serialize_entry("OldImage", &Image(old))?;
        }
        if let Some(seq) = &d.sequence_number {
            map.serialize_entry("SequenceNumber", seq)?;
        }
        if let Some(size) = d.size_bytes {
            map.serialize_entry("SizeBytes", &size)?;
        }
        if let Some(view) = &d.stream_view_type {
            map.serialize_entry("StreamViewType", view.as_str())?;
        }
        map.end()
    }
}

struct Image<'a>(&'a HashMap<String, AttributeValue>);

impl Serialize for Image<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<(&String, &AttributeValue)> = self.0.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = s.serialize_map(Some(entries.len()))?;
        for (name, value) in entries {
            map.serialize_entry(name, &Attribute(value))?;
        }
        map.end()
    }
}

/// One attribute value in DynamoDB's JSON: `{"S": "..."}`, `{"N": "..."}`, ...
struct Attribute<'a>(&'a AttributeValue);

impl Serialize for Attribute<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        match self.0 {
            AttributeValue::S(v) => map.serialize_entry("S", v)?,
            // The decimal text exactly as DynamoDB sent it: never through a float.
            AttributeValue::N(v) => map.serialize_entry("N", v)?,
            AttributeValue::B(v) => map.serialize_entry("B", &base64(v.as_ref()))?,
            AttributeValue::Bool(v) => map.serialize_entry("BOOL", v)?,
            AttributeValue::Null(v) => map.serialize_entry("NULL", v)?,
            AttributeValue::Ss(v) => map.serialize_entry("SS", v)?,
            AttributeValue::Ns(v) => map.serialize_entry("NS", v)?,
            AttributeValue::Bs(v) => {
                let members: Vec<String> = v.iter().map(|b| base64(b.as_ref())).collect();
                map.serialize_entry("BS", &members)?
            }
            AttributeValue::L(v) => map.serialize_entry("L", &List(v))?,
            AttributeValue::M(v) => map.serialize_entry("M", &Image(v))?,
            // A type this SDK does not know: an unknown tag, which the decoder reports as a
            // malformed record (an audit blind spot made visible) instead of dropping it.
            _ => map.serialize_entry("UNKNOWN", &())?,
        }
        map.end()
    }
}

struct List<'a>(&'a [AttributeValue]);

impl Serialize for List<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for value in self.0 {
            seq.serialize_element(&Attribute(value))?;
        }
        seq.end()
    }
}

/// Standard base64 with padding, as DynamoDB's JSON carries binary values.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime};
    use aws_sdk_dynamodbstreams::types::{Identity, OperationType, StreamViewType};

    use crate::source::{Record as Decoded, decode_event};

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0, 1]), "AAE=");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0xfc]), "//79/A==");
    }

    fn image(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn an_api_record_becomes_the_lambda_record_the_decoder_reads() {
        let key = image(&[("id", AttributeValue::S("acct-1".into()))]);
        let record = Record::builder()
            .event_id("e1")
            .event_name(OperationType::Remove)
            .event_version("1.1")
            .event_source("aws:dynamodb")
            .aws_region("eu-west-1")
            .user_identity(
                Identity::builder()
                    .r#type("Service")
                    .principal_id("dynamodb.amazonaws.com")
                    .build(),
            )
            .dynamodb(
                StreamRecord::builder()
                    .approximate_creation_date_time(DateTime::from_secs(1_700_000_000))
                    .set_keys(Some(key.clone()))
                    .set_old_image(Some(image(&[
                        ("id", AttributeValue::S("acct-1".into())),
                        (
                            "version",
                            AttributeValue::N("12345678901234567890123456789012345678".into()),
                        ),
                        ("blob", AttributeValue::B(Blob::new(vec![0, 1]))),
                        ("tags", AttributeValue::Ss(vec!["a".into(), "b".into()])),
                        (
                            "nested",
                            AttributeValue::M(image(&[(
                                "l",
                                AttributeValue::L(vec![
                                    AttributeValue::Null(true),
                                    AttributeValue::Bool(false),
                                ]),
                            )])),
                        ),
                    ])))
                    .sequence_number("000000000000000000042")
                    .size_bytes(99)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build(),
            )
            .build();
        let arn = "arn:aws:dynamodb:eu-west-1:1:table/Accounts/stream/2024";
        let bytes = lambda_event(arn, &[record]);
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let r = &json["Records"][0];
        assert_eq!(r["eventSourceARN"], arn);
        assert_eq!(r["eventName"], "REMOVE");
        assert_eq!(r["userIdentity"]["principalId"], "dynamodb.amazonaws.com");
        assert_eq!(
            r["dynamodb"]["ApproximateCreationDateTime"],
            1_700_000_000.0
        );
        assert_eq!(r["dynamodb"]["OldImage"]["blob"]["B"], "AAE=");
        assert_eq!(
            r["dynamodb"]["OldImage"]["version"]["N"],
            "12345678901234567890123456789012345678"
        );
        assert_eq!(
            r["dynamodb"]["OldImage"]["nested"]["M"]["l"]["L"][0]["NULL"],
            true
        );

        let decoded = decode_event(&bytes).unwrap();
        let Decoded::Change(change) = &decoded[0] else {
            panic!("decoded as malformed: {decoded:?}")
        };
        assert_eq!(change.table, "Accounts");
        assert_eq!(change.sequence_number.as_str(), "000000000000000000042");
        assert!(change.ttl_delete, "TTL identity survives the conversion");
    }
}
