//! `history-gap`: a record's OldImage differs from the NewImage of the previous record of the same
//! item: changes are missing from the audited history.
//!
//! Invariant: the item's state before a change is the state after the previous change. After a
//! REMOVE the item is absent, so a MODIFY or REMOVE that still shows an OldImage means the record
//! re-creating it is missing. Compared through the 128-bit digest the checkpoint keeps (semantic:
//! set and map order ignored, numbers as decimals).
//!
//! Evidence: the previous record's sequence number and the versions on both sides when known.
//!
//! Not checked: the first record of an item (nothing to compare with), INSERTs (they carry no
//! OldImage), records without an OldImage, and records after one that carried no NewImage
//! (KEYS_ONLY / OLD_IMAGE views, malformed records).
//!
//! Known false positives: a stream whose event source mapping filters records
//! (`FilterCriteria`), or an audit started mid-stream after a trimmed shard, shows gaps that are
//! the filter's or the trim's, not the application's.

use serde_json::json;

use super::Context;
use crate::audit::finding::{Finding, JsonMap, Severity};
use crate::audit::report;
use crate::audit::state::ImageState;
use crate::change::EventName;

pub const RULE: &str = "history-gap";

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let change = ctx.change;
    let Some(previous) = ctx.previous else { return };
    if change.event_name == EventName::Insert {
        return;
    }
    let Some(old) = change.old_image.as_ref() else {
        return;
    };
    let (expected_version, explanation) = match &previous.image {
        ImageState::Unknown => return,
        ImageState::Present { digest, version } => {
            if old.digest() == *digest {
                return;
            }
            (
                *version,
                "its OldImage differs from the item as the previous record left it",
            )
        }
        ImageState::Absent => (
            None,
            "the previous record removed the item, yet this record's OldImage shows it existing",
        ),
    };
    let old_version = ctx.version_in(Some(old));
    let mut evidence = JsonMap::new();
    evidence.insert(
        "previous_sequence_number".to_owned(),
        json!(previous.sequence_number.as_str()),
    );
    let mut versions = JsonMap::new();
    if let Some(v) = expected_version {
        versions.insert("previous_new".to_owned(), json!(v.to_string()));
    }
    if let Some(v) = old_version {
        versions.insert("old".to_owned(), json!(v.to_string()));
    }
    if !versions.is_empty() {
        evidence.insert(ctx.rules.version_attribute.clone(), versions.into());
    }
    let span = match (expected_version, old_version) {
        (Some(a), Some(b)) => format!(" (version {a} to {b})"),
        _ => String::new(),
    };
    let message = format!(
        "History gap on {}: {explanation}{span}; changes since sequence number {} are missing from the audited stream.",
        report::item_label(change),
        previous.sequence_number
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
