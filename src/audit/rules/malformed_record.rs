//! `malformed-record`: a record that cannot be interpreted (no Keys, an unknown type tag, an N that
//! is not a number, a field of the wrong JSON type, ...).
//!
//! Not a race, but an audit blind spot: the record's change went unchecked, and the item's next
//! record cannot be compared with it. The batch goes on; the finding says what was wrong and
//! where, so the producer can be fixed.
//!
//! Evidence: `problem` (the path to the bad field and what is wrong with it) and the record's
//! position in its batch.

use serde_json::json;

use crate::audit::finding::{Finding, JsonMap, Severity, finding_id};
use crate::config::TableRules;
use crate::source::MalformedRecord;

pub const RULE: &str = "malformed-record";

pub fn finding(record: &MalformedRecord, rules: &TableRules) -> Finding {
    let table = record.table.clone().unwrap_or_default();
    let key = record.key.clone().unwrap_or_default();
    let sequence_number = record
        .sequence_number
        .as_ref()
        .map(|s| s.as_str().to_owned())
        .or_else(|| record.sequence_text.clone())
        .unwrap_or_default();
    // Without a sequence number nothing else tells two bad records apart: fall back to the event
    // id, and then to the position in the batch with the problem, so ids stay deterministic and
    // two different bad records do not share one.
    let id_sequence = if !sequence_number.is_empty() {
        sequence_number.clone()
    } else if let Some(event_id) = record.event_id.as_deref().filter(|e| !e.is_empty()) {
        format!("event:{event_id}")
    } else {
        format!("index:{}:{}", record.index, record.problem)
    };
    let mut evidence = JsonMap::new();
    evidence.insert("problem".to_owned(), json!(record.problem));
    evidence.insert("record_index".to_owned(), json!(record.index));
    let place = match (&record.table, &record.key) {
        (Some(t), Some(k)) if !k.is_empty() => {
            format!(" for {t} {}", serde_json::Value::Object(k.clone()))
        }
        (Some(t), _) => format!(" for table {t}"),
        _ => String::new(),
    };
    let message = format!(
        "Malformed stream record #{}{place} was not audited: {}.",
        record.index, record.problem
    );
    Finding {
        id: finding_id(RULE, &table, &key, &id_sequence),
        rule: RULE.to_owned(),
        severity: rules.severity(RULE, Severity::Warning),
        table,
        key,
        sequence_number,
        event_id: record.event_id.clone().unwrap_or_default(),
        event_name: record.event_name.clone().unwrap_or_default(),
        message,
        evidence,
        approximate_creation_time: record
            .approximate_creation_time
            .and_then(crate::time::rfc3339_from_epoch_seconds),
        stream_arn: record.stream_arn.clone(),
        context: None,
    }
}
