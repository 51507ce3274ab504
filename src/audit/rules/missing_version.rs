//! `missing-version`: an INSERT or MODIFY whose NewImage has no version attribute, or has a
//! non-number in it.
//!
//! Invariant: every write of a versioned table sets a numeric version, or the version rules
//! cannot see races. A write path that forgets the version is often the same one that forgets
//! the ConditionExpression.
//!
//! Evidence: the version attribute's old and new value and `new_type` (`absent`, or the type tag
//! of what the NewImage holds instead of a number).
//!
//! Known false positives: tables that are not versioned at all; switch the rule off for them
//! (`disabled_rules`) or name their real version attribute.

use super::Context;
use crate::audit::finding::{Finding, JsonMap, Severity};
use crate::audit::report;
use crate::change::EventName;
use crate::value::Value;

pub const RULE: &str = "missing-version";

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let change = ctx.change;
    if change.event_name == EventName::Remove {
        return;
    }
    let Some(new) = change.new_image.as_ref() else {
        return;
    };
    let attribute = &ctx.rules.version_attribute;
    let found = new.get(attribute);
    let problem = match found {
        Some(Value::N(_)) => return,
        None => format!("has no `{attribute}` attribute"),
        Some(other) => format!(
            "has `{attribute}` of type {}, not a number",
            other.type_tag()
        ),
    };
    let mut evidence = JsonMap::new();
    let (name, mut pair) =
        report::attribute_evidence(attribute, change.old_image.as_ref(), Some(new));
    // A plain value cannot show the type (`"1"` is what an N 1 and an S "1" both look like), and
    // an absent attribute shows nothing at all: say which it was.
    if let serde_json::Value::Object(fields) = &mut pair {
        let found_type = found.map_or("absent", |v| v.type_tag());
        fields.insert("new_type".to_owned(), serde_json::json!(found_type));
    }
    evidence.insert(name, pair);
    let message = format!(
        "{} on {} {problem}: the version rules cannot check this write.",
        change.event_name.as_str(),
        report::item_label(change)
    );
    findings.push(report::finding(
        change,
        ctx.rules,
        RULE,
        Severity::Warning,
        message,
        evidence,
    ));
}
