//! Decodes one stream record (`{eventID, eventName, eventSourceARN, dynamodb: {...}}`) into a
//! [`Change`], or into a [`MalformedRecord`] that keeps whatever identity could be recovered.

use std::borrow::Cow;

use serde::de::{IgnoredAny, MapAccess};

use super::attribute_value::ImageShape;
use super::lenient::{Decode, JsonNumber, Key, Lenient, Num, Problem, Shape, Str};
use crate::change::{Change, EventName, ItemId, SequenceNumber, table_from_stream_arn};
use crate::value::Image;

/// A record as the audit core receives it.
#[derive(Debug, Clone)]
pub enum Record<'a> {
    Change(Box<Change<'a>>),
    Malformed(Box<MalformedRecord>),
}

impl Record<'_> {
    pub fn sequence_number(&self) -> Option<&SequenceNumber> {
        match self {
            Record::Change(c) => Some(&c.sequence_number),
            Record::Malformed(m) => m.sequence_number.as_ref(),
        }
    }

    pub fn event_id(&self) -> Option<&str> {
        match self {
            Record::Change(c) => Some(&c.event_id),
            Record::Malformed(m) => m.event_id.as_deref(),
        }
    }
}

/// A record that could not be interpreted, with what could be recovered of its identity so the
/// finding still says where it came from, and the checkpoint can still move past it.
#[derive(Debug, Clone, Default)]
pub struct MalformedRecord {
    pub index: usize,
    pub event_id: Option<String>,
    pub event_name: Option<String>,
    pub table: Option<String>,
    pub stream_arn: Option<String>,
    /// The key as plain JSON, when `Keys` decoded.
    pub key: Option<serde_json::Map<String, serde_json::Value>>,
    pub item: Option<ItemId>,
    pub sequence_number: Option<SequenceNumber>,
    /// The SequenceNumber as the record wrote it, even when it is not a valid one (for the
    /// finding, which names the record that exposed it).
    pub sequence_text: Option<String>,
    pub approximate_creation_time: Option<f64>,
    /// What is wrong, with the path to it.
    pub problem: String,
}

/// Fields of a record, each decoded on its own so one bad field does not hide the others.
#[derive(Default)]
struct RecordFields<'de> {
    event_id: Option<Lenient<Cow<'de, str>>>,
    event_name: Option<Lenient<Cow<'de, str>>>,
    stream_arn: Option<Lenient<Cow<'de, str>>>,
    user_identity: Option<Lenient<UserIdentity<'de>>>,
    dynamodb: Option<Lenient<StreamRecordFields<'de>>>,
}

#[derive(Default)]
struct StreamRecordFields<'de> {
    keys: Option<Lenient<Image<'de>>>,
    new_image: Option<Lenient<Image<'de>>>,
    old_image: Option<Lenient<Image<'de>>>,
    sequence_number: Option<Lenient<Cow<'de, str>>>,
    approximate_creation_time: Option<Lenient<JsonNumber>>,
    stream_view_type: Option<Lenient<Cow<'de, str>>>,
    size_bytes: Option<Lenient<JsonNumber>>,
}

#[derive(Default)]
struct UserIdentity<'de> {
    kind: Option<Cow<'de, str>>,
    principal_id: Option<Cow<'de, str>>,
}

/// The position of one element of `Records`.
pub struct RecordShape {
    pub index: usize,
}

impl<'de> Shape<'de> for RecordShape {
    type Out = Record<'de>;

    fn expected(&self) -> &'static str {
        "a stream record object"
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient<Record<'de>>, A::Error> {
        let mut fields = RecordFields::default();
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            match name.as_ref() {
                "eventID" => fields.event_id = Some(map.next_value_seed(Decode(Str))?),
                "eventName" => fields.event_name = Some(map.next_value_seed(Decode(Str))?),
                "eventSourceARN" => fields.stream_arn = Some(map.next_value_seed(Decode(Str))?),
                "userIdentity" => {
                    fields.user_identity = Some(map.next_value_seed(Decode(UserIdentityShape))?)
                }
                "dynamodb" => {
                    fields.dynamodb = Some(map.next_value_seed(Decode(StreamRecordShape))?)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Ok(fields.finish(self.index)))
    }
}

struct UserIdentityShape;

impl<'de> Shape<'de> for UserIdentityShape {
    type Out = UserIdentity<'de>;

    fn expected(&self) -> &'static str {
        "a userIdentity object"
    }

    fn null(self) -> Lenient<UserIdentity<'de>> {
        Ok(UserIdentity::default())
    }

    fn map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lenient<UserIdentity<'de>>, A::Error> {
        let mut identity = UserIdentity::default();
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            match name.as_ref() {
                "type" => identity.kind = map.next_value_seed(Decode(Str))?.ok(),
                "principalId" => identity.principal_id = map.next_value_seed(Decode(Str))?.ok(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Ok(identity))
    }
}

struct StreamRecordShape;

impl<'de> Shape<'de> for StreamRecordShape {
    type Out = StreamRecordFields<'de>;

    fn expected(&self) -> &'static str {
        "a `dynamodb` stream record object"
    }

    fn map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<Lenient<StreamRecordFields<'de>>, A::Error> {
        let mut f = StreamRecordFields::default();
        while let Some(Key(name)) = map.next_key::<Key<'de>>()? {
            let image = || Decode(ImageShape { depth: 0 });
            match name.as_ref() {
                "Keys" => f.keys = Some(map.next_value_seed(image())?),
                "NewImage" => f.new_image = Some(map.next_value_seed(image())?),
                "OldImage" => f.old_image = Some(map.next_value_seed(image())?),
                "SequenceNumber" => f.sequence_number = Some(map.next_value_seed(Decode(Str))?),
                "ApproximateCreationDateTime" => {
                    f.approximate_creation_time = Some(map.next_value_seed(Decode(Num))?)
                }
                "StreamViewType" => f.stream_view_type = Some(map.next_value_seed(Decode(Str))?),
                "SizeBytes" => f.size_bytes = Some(map.next_value_seed(Decode(Num))?),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Ok(f))
    }
}

/// Takes an optional lenient field: absent is fine, present-but-wrong is a problem at `path`.
fn optional<T>(field: Option<Lenient<T>>, path: &str, problems: &mut Vec<Problem>) -> Option<T> {
    match field? {
        Ok(v) => Some(v),
        Err(p) => {
            problems.push(p.at(path));
            None
        }
    }
}

/// Metadata the rules do not depend on (eventID, userIdentity, timestamps, sizes, view type): a
/// wrong JSON type there is ignored rather than costing the whole record its audit.
fn metadata<T>(field: Option<Lenient<T>>) -> Option<T> {
    field?.ok()
}

fn required<T>(field: Option<Lenient<T>>, path: &str, problems: &mut Vec<Problem>) -> Option<T> {
    if field.is_none() {
        problems.push(Problem::new("missing").at(path));
    }
    optional(field, path, problems)
}

impl<'de> RecordFields<'de> {
    fn finish(self, index: usize) -> Record<'de> {
        let mut problems: Vec<Problem> = Vec::new();
        let event_id = metadata(self.event_id);
        let event_name_text = required(self.event_name, "eventName", &mut problems);
        let stream_arn = required(self.stream_arn, "eventSourceARN", &mut problems);
        let identity = metadata(self.user_identity);
        let stream = required(self.dynamodb, "dynamodb", &mut problems);

        let event_name = event_name_text.as_deref().and_then(|text| {
            let parsed = EventName::parse(text);
            if parsed.is_none() {
                problems.push(
                    Problem::new(format!(
                        "unknown event `{text}` (expected INSERT, MODIFY or REMOVE)"
                    ))
                    .at("eventName"),
                );
            }
            parsed
        });
        let table = stream_arn
            .as_deref()
            .map(table_from_stream_arn)
            .map(str::to_owned);

        let mut keys = None;
        let mut sequence_number = None;
        let mut sequence_text = None;
        let mut old_image = None;
        let mut new_image = None;
        let mut approximate_creation_time = None;
        let mut stream_view_type = None;
        if let Some(s) = stream {
            keys = required(s.keys, "dynamodb.Keys", &mut problems);
            if keys.as_ref().is_some_and(Image::is_empty) {
                problems.push(Problem::new("no key attributes").at("dynamodb.Keys"));
            }
            let seq_text = required(s.sequence_number, "dynamodb.SequenceNumber", &mut problems);
            sequence_number = seq_text.as_deref().and_then(|text| {
                let parsed = SequenceNumber::parse(text);
                if parsed.is_none() {
                    problems.push(
                        Problem::new(format!("`{text}` is not a decimal sequence number"))
                            .at("dynamodb.SequenceNumber"),
                    );
                }
                parsed
            });
            sequence_text = seq_text.map(Cow::into_owned);
            new_image = optional(s.new_image, "dynamodb.NewImage", &mut problems);
            old_image = optional(s.old_image, "dynamodb.OldImage", &mut problems);
            approximate_creation_time =
                metadata(s.approximate_creation_time).map(JsonNumber::as_f64);
            stream_view_type = metadata(s.stream_view_type);
            // SizeBytes is decoded only to be skipped cheaply; nothing reads it.
            let _ = metadata(s.size_bytes);
        }

        let item = match (&table, &keys) {
            (Some(t), Some(k)) if !k.is_empty() => Some(ItemId::new(t, k)),
            _ => None,
        };

        if let Some(first) = problems.into_iter().next() {
            return Record::Malformed(Box::new(MalformedRecord {
                index,
                event_id: event_id.map(Cow::into_owned),
                event_name: event_name_text.map(Cow::into_owned),
                table,
                stream_arn: stream_arn.map(Cow::into_owned),
                key: keys.as_ref().map(Image::to_plain_json),
                item,
                sequence_number,
                sequence_text,
                approximate_creation_time,
                problem: first.to_string(),
            }));
        }

        // All required parts are present when no problem was recorded.
        let (Some(event_name), Some(stream_arn), Some(keys), Some(item), Some(sequence_number)) =
            (event_name, stream_arn, keys, item, sequence_number)
        else {
            return Record::Malformed(Box::new(MalformedRecord {
                index,
                problem: "record could not be interpreted".to_owned(),
                ..MalformedRecord::default()
            }));
        };
        let table = match &stream_arn {
            Cow::Borrowed(arn) => Cow::Borrowed(table_from_stream_arn(arn)),
            Cow::Owned(arn) => Cow::Owned(table_from_stream_arn(arn).to_owned()),
        };
        let ttl_delete = event_name == EventName::Remove
            && identity.as_ref().is_some_and(|u| {
                u.kind.as_deref() == Some("Service")
                    && u.principal_id.as_deref() == Some("dynamodb.amazonaws.com")
            });
        Record::Change(Box::new(Change {
            index,
            event_id: event_id.unwrap_or(Cow::Borrowed("")),
            event_name,
            table,
            stream_arn,
            keys,
            item,
            sequence_number,
            old_image,
            new_image,
            stream_view_type,
            approximate_creation_time,
            ttl_delete,
        }))
    }
}
