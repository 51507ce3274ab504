//! `version-gap`: a MODIFY whose new version is greater than the old version plus the step.
//!
//! Invariant: with a fixed step, each write adds exactly the step. A bigger jump means writes
//! computed their version from something other than the version they replaced (a cached copy,
//! a counter elsewhere), which is how lost updates hide from the equality check.
//!
//! Evidence: old and new version and the configured step.
//!
//! Not checked: tables configured with `"step": "any"`, records without both versions, sums
//! beyond 38 digits.
//!
//! Known false positives: applications that bump versions by more than one on purpose; set
//! their step, or `"any"`.

use serde_json::json;

use super::Context;
use crate::audit::finding::{Finding, Severity};
use crate::audit::report;
use crate::change::EventName;
use crate::config::VersionStep;

pub const RULE: &str = "version-gap";

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let change = ctx.change;
    if change.event_name != EventName::Modify {
        return;
    }
    let VersionStep::Exactly(step) = ctx.rules.version_step else {
        return;
    };
    let (Some(old), Some(new)) = (
        ctx.version_in(change.old_image.as_ref()),
        ctx.version_in(change.new_image.as_ref()),
    ) else {
        return;
    };
    let Some(expected) = old.checked_add(&step) else {
        return;
    };
    if new <= expected {
        return;
    }
    let attribute = ctx.rules.version_attribute.as_str();
    let serde_json::Value::Object(evidence) = json!({
        attribute: {"old": old.to_string(), "new": new.to_string()},
        "step": step.to_string(),
    }) else {
        return;
    };
    let message = format!(
        "Version jumped on {}: `{attribute}` {old} -> {new} where {expected} was expected; the writer did not derive its version from the one it replaced.",
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
