//! `version-regression`: a MODIFY whose new version is lower than the old one; or an INSERT of a
//! key REMOVEd earlier in the audited history with a version <= the version it had when removed.
//!
//! Invariant: versions only move forward, across deletes too. Going backwards means a writer
//! holding a stale copy wrote it back (a delayed retry, a global-table conflict, a cache written
//! through), or re-created a deleted item from stale data.
//!
//! Evidence: old and new version; for a re-creation, the version at removal and the new one.
//!
//! Not checked: records without the images involved; removals whose REMOVE record carried no
//! OldImage (the version at removal is unknown).
//!
//! Not a finding: re-creating an item that Time to Live deleted (the expiry records no version at
//! removal, so the new item's versions may start again).
//!
//! Known false positives: applications that deliberately restart versions when they re-create an
//! item they deleted themselves.

use serde_json::json;

use super::Context;
use crate::audit::finding::{Finding, JsonMap, Severity};
use crate::audit::report;
use crate::change::EventName;

pub const RULE: &str = "version-regression";

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let change = ctx.change;
    let attribute = ctx.rules.version_attribute.as_str();
    let new_version = ctx.version_in(change.new_image.as_ref());
    let (evidence, message) = match change.event_name {
        EventName::Modify => {
            let (Some(old), Some(new)) = (ctx.version_in(change.old_image.as_ref()), new_version)
            else {
                return;
            };
            if new >= old {
                return;
            }
            (
                json!({attribute: {"old": old.to_string(), "new": new.to_string()}}),
                format!(
                    "Version went backwards on {}: `{attribute}` {old} -> {new}, so a writer holding a stale copy overwrote newer data.",
                    report::item_label(change)
                ),
            )
        }
        EventName::Insert => {
            let (Some(removed), Some(new)) =
                (ctx.previous.and_then(|p| p.removed_version), new_version)
            else {
                return;
            };
            if new > removed {
                return;
            }
            (
                json!({attribute: {"removed": removed.to_string(), "new": new.to_string()}}),
                format!(
                    "Deleted item re-created with an old version on {}: `{attribute}` was {removed} when removed, now {new}; a stale writer resurrected it.",
                    report::item_label(change)
                ),
            )
        }
        EventName::Remove => return,
    };
    let serde_json::Value::Object(evidence) = evidence else {
        return;
    };
    let evidence: JsonMap = evidence;
    findings.push(report::finding(
        change,
        ctx.rules,
        RULE,
        Severity::Critical,
        message,
        evidence,
    ));
}
