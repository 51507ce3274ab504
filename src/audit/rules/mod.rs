//! The list of built-in rules: the only place that names them all, and the order they run in.
//!
//! Each rule is one file with one `check` function over a [`Context`]: the change, the table's
//! settings and the item's checkpoint before the change.

pub mod bounds;
pub mod declared_invariant;
pub mod duplicate_request;
pub mod history_gap;
pub mod ledger_mismatch;
pub mod lost_update;
pub mod malformed_record;
pub mod missing_version;
pub mod unbalanced_transfer;
pub mod version_gap;
pub mod version_regression;

use super::finding::Finding;
use super::state::ItemState;
use crate::change::Change;
use crate::config::TableRules;
use crate::decimal::Decimal;
use crate::value::Image;

/// Rule ids with fixed names (bounds and declared invariants are named by configuration;
/// `negative-balance` is the default bound).
pub const BUILT_IN_RULES: &[&str] = &[
    history_gap::RULE,
    missing_version::RULE,
    lost_update::RULE,
    version_regression::RULE,
    version_gap::RULE,
    malformed_record::RULE,
    "negative-balance",
    duplicate_request::RULE,
    unbalanced_transfer::RULE,
    ledger_mismatch::RULE,
];

/// What a rule sees.
pub struct Context<'c, 'a> {
    pub change: &'c Change<'a>,
    pub rules: &'c TableRules,
    /// The item's checkpoint before this change; `None` for the first record of an item.
    pub previous: Option<&'c ItemState>,
}

impl<'a> Context<'_, 'a> {
    /// The numeric version in an image, if it has one.
    pub fn version_in(&self, image: Option<&Image<'a>>) -> Option<Decimal> {
        image?
            .get(&self.rules.version_attribute)?
            .as_number()
            .map(|n| n.value)
    }
}

/// Runs every enabled rule in a fixed order, so findings come out in a stable order.
pub fn check_all(context: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let enabled = |rule: &str| context.rules.enabled(rule);
    if enabled(history_gap::RULE) {
        history_gap::check(context, findings);
    }
    if enabled(missing_version::RULE) {
        missing_version::check(context, findings);
    }
    if enabled(lost_update::RULE) {
        lost_update::check(context, findings);
    }
    if enabled(version_regression::RULE) {
        version_regression::check(context, findings);
    }
    if enabled(version_gap::RULE) {
        version_gap::check(context, findings);
    }
    if enabled(duplicate_request::RULE) {
        duplicate_request::check(context, findings);
    }
    bounds::check(context, findings);
    declared_invariant::check(context, findings);
}
