//! `lost-update`: a MODIFY whose NewImage version equals its OldImage version while some other
//! attribute changed.
//!
//! Invariant: every change bumps the version. A write that changes data but keeps the version is
//! the mark of a blind read-modify-write: the writer read version v, a concurrent writer moved
//! the item on, and this write overwrote that work while writing back a version computed from
//! stale data (or no version at all). Equality is exact: 38-digit versions that differ in the last
//! digit are different versions.
//!
//! Evidence: the version (old and new) and each attribute that changed (old and new).
//!
//! Not checked: records without both images, versions that are not numbers (see
//! `missing-version`), changes only to `version_exempt_attributes`.
//!
//! Known false positives: attributes an application legitimately updates without a version bump
//! (`lastSeenAt`, counters); list them in `version_exempt_attributes`.

use serde_json::json;

use super::Context;
use crate::audit::finding::{Finding, JsonMap, Severity};
use crate::audit::report;
use crate::change::EventName;

pub const RULE: &str = "lost-update";

/// Changed attributes named in the message; the evidence lists them all.
const NAMED_IN_MESSAGE: usize = 3;

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let change = ctx.change;
    if change.event_name != EventName::Modify {
        return;
    }
    let (Some(old), Some(new)) = (change.old_image.as_ref(), change.new_image.as_ref()) else {
        return;
    };
    let (Some(old_version), Some(new_version)) =
        (ctx.version_in(Some(old)), ctx.version_in(Some(new)))
    else {
        return;
    };
    if old_version != new_version {
        return;
    }
    let version_attribute = ctx.rules.version_attribute.as_str();
    let counts = |name: &str| name != version_attribute && !ctx.rules.is_version_exempt(name);
    let mut changed: Vec<&str> = Vec::new();
    for (name, value) in &old.attributes {
        if counts(name) && !new.get(name).is_some_and(|n| n.semantic_eq(value)) {
            changed.push(name);
        }
    }
    for (name, _) in &new.attributes {
        if counts(name) && old.get(name).is_none() {
            changed.push(name);
        }
    }
    if changed.is_empty() {
        return;
    }
    changed.sort_unstable();
    let mut evidence = JsonMap::new();
    evidence.insert(
        version_attribute.to_owned(),
        json!({"old": old_version.to_string(), "new": new_version.to_string()}),
    );
    for name in &changed {
        let (n, pair) = report::attribute_evidence(name, Some(old), Some(new));
        evidence.insert(n, pair);
    }
    let mut named: Vec<String> = changed
        .iter()
        .take(NAMED_IN_MESSAGE)
        .map(|n| format!("`{n}`"))
        .collect();
    if changed.len() > NAMED_IN_MESSAGE {
        named.push(format!("{} more", changed.len() - NAMED_IN_MESSAGE));
    }
    let message = format!(
        "Lost update on {}: {} changed but `{version_attribute}` stayed at {new_version}, so a blind read-modify-write overwrote a concurrent update.",
        report::item_label(change),
        named.join(", ")
    );
    findings.push(report::finding(
        change,
        ctx.rules,
        RULE,
        Severity::Critical,
        message,
        evidence,
    ));
}
