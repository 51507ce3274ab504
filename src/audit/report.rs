//! Builds findings for a change: identity fields, id, context attributes, and the small text
//! helpers rules use to write messages a person on call can read.

use serde_json::{Value as Json, json};

use super::finding::{Finding, JsonMap, Severity, finding_id};
use crate::change::Change;
use crate::config::TableRules;
use crate::value::{Image, Value};

/// Fills in everything a finding of `rule` about `change` has besides its message and evidence.
pub fn finding(
    change: &Change<'_>,
    rules: &TableRules,
    rule: &str,
    default_severity: Severity,
    message: String,
    evidence: JsonMap,
) -> Finding {
    let key = change.keys.to_plain_json();
    let sequence_number = change.sequence_number.as_str();
    Finding {
        id: finding_id(rule, &change.table, &key, sequence_number),
        rule: rule.to_owned(),
        severity: rules.severity(rule, default_severity),
        table: change.table.to_string(),
        key,
        sequence_number: sequence_number.to_owned(),
        event_id: change.event_id.to_string(),
        event_name: change.event_name.as_str().to_owned(),
        message,
        evidence,
        approximate_creation_time: change
            .approximate_creation_time
            .and_then(crate::time::rfc3339_from_epoch_seconds),
        stream_arn: Some(change.stream_arn.to_string()),
        context: context_attributes(change, rules),
    }
}

fn context_attributes(change: &Change<'_>, rules: &TableRules) -> Option<JsonMap> {
    if rules.context_attributes.is_empty() {
        return None;
    }
    let image = change.new_image.as_ref().or(change.old_image.as_ref())?;
    let context: JsonMap = rules
        .context_attributes
        .iter()
        .filter_map(|name| image.get(name).map(|v| (name.clone(), v.to_plain_json())))
        .collect();
    (!context.is_empty()).then_some(context)
}

/// `Accounts[id=acc-1]`, `Orders[pk=u#1, sk=o#9]`: how messages name an item.
pub fn item_label(change: &Change<'_>) -> String {
    let mut parts: Vec<String> = change
        .keys
        .attributes
        .iter()
        .map(|(name, value)| format!("{name}={}", plain_text(value)))
        .collect();
    parts.sort();
    format!("{}[{}]", change.table, parts.join(", "))
}

/// A value as a person reads it: numbers and strings bare, everything else as compact JSON.
pub fn plain_text(value: &Value<'_>) -> String {
    match value {
        Value::S(s) | Value::B(s) => s.to_string(),
        Value::N(n) => n.text.to_string(),
        other => other.to_plain_json().to_string(),
    }
}

/// `{"old": ..., "new": ...}` for an attribute, leaving out a side where it is absent.
pub fn old_new(old: Option<&Value<'_>>, new: Option<&Value<'_>>) -> Json {
    let mut pair = JsonMap::new();
    if let Some(old) = old {
        pair.insert("old".to_owned(), old.to_plain_json());
    }
    if let Some(new) = new {
        pair.insert("new".to_owned(), new.to_plain_json());
    }
    Json::Object(pair)
}

/// Evidence for one attribute across a change's two images.
pub fn attribute_evidence(
    name: &str,
    old: Option<&Image<'_>>,
    new: Option<&Image<'_>>,
) -> (String, Json) {
    (
        name.to_owned(),
        old_new(old.and_then(|i| i.get(name)), new.and_then(|i| i.get(name))),
    )
}

/// A single-entry evidence map with a plain value.
pub fn evidence_value(name: &str, value: Json) -> (String, Json) {
    (name.to_owned(), value)
}

/// Quick helper for string evidence.
pub fn text(value: impl Into<String>) -> Json {
    json!(value.into())
}
