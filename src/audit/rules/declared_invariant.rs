//! Declared invariants (`invariants` in the table configuration): a condition in DynamoDB's
//! ConditionExpression notation, with `OLD.`/`NEW.` prefixes and `+`/`-`, that every audited
//! change must satisfy. The finding's rule id is the invariant's `name`.
//!
//! Invariant: whatever the team declared: `NEW.balance >= 0`, `NEW.status <> 'closed' OR
//! NEW.balance = 0`, `NEW.balance = OLD.balance - NEW.lastAmount`. Expressions are parsed once at
//! configuration load (see [`crate::expr`]); evaluation is exact decimal and never panics.
//!
//! When it is checked: on every audited change (not re-deliveries, not TTL deletes) whose record
//! carries every image the invariant reads (in `expression` and `when`): a rule reading `OLD.` is
//! skipped for INSERTs and for NEW_IMAGE streams, a rule reading `NEW.` for REMOVEs and OLD_IMAGE
//! streams. Then, if `when` is given and does not hold, it is skipped; otherwise a false
//! `expression` is a finding. Inside an image a missing attribute follows DynamoDB: a comparison
//! with it is false, except `<>` against a present value, which is true (so
//! `NEW.status <> 'closed'` holds when there is no status).
//!
//! Evidence: the old and new values of every top-level attribute the invariant reads, and the
//! expression (and `when`) text.
//!
//! Known false positives: none of its own: it reports exactly what was declared. A condition that
//! compares with an attribute some writers leave out fires on their records (see above).

use serde_json::json;

use super::Context;
use crate::audit::finding::{Finding, JsonMap};
use crate::audit::report;
use crate::config::Invariant;
use crate::expr::{Images, Side};

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let change = ctx.change;
    let images = Images {
        old: change.old_image.as_ref(),
        new: change.new_image.as_ref(),
    };
    for invariant in &ctx.rules.invariants {
        if !ctx.rules.enabled(&invariant.rule) || !has_images(invariant, &images) {
            continue;
        }
        if invariant.when.as_ref().is_some_and(|w| !w.holds(&images)) {
            continue;
        }
        if invariant.expression.holds(&images) {
            continue;
        }
        findings.push(finding(ctx, invariant));
    }
}

/// Whether the record carries every image the invariant reads.
fn has_images(invariant: &Invariant, images: &Images<'_, '_>) -> bool {
    let reads = |side| {
        invariant.expression.reads(side) || invariant.when.as_ref().is_some_and(|w| w.reads(side))
    };
    (!reads(Side::Old) || images.old.is_some()) && (!reads(Side::New) || images.new.is_some())
}

fn finding(ctx: &Context<'_, '_>, invariant: &Invariant) -> Finding {
    let change = ctx.change;
    let mut evidence = JsonMap::new();
    let paths = invariant
        .expression
        .paths()
        .into_iter()
        .chain(invariant.when.iter().flat_map(|w| w.paths()));
    for path in paths {
        if !evidence.contains_key(&path.attribute) {
            let (name, pair) = report::attribute_evidence(
                &path.attribute,
                change.old_image.as_ref(),
                change.new_image.as_ref(),
            );
            evidence.insert(name, pair);
        }
    }
    evidence.insert(
        "expression".to_owned(),
        json!(invariant.expression.text.clone()),
    );
    if let Some(when) = &invariant.when {
        evidence.insert("when".to_owned(), json!(when.text.clone()));
    }
    let message = format!(
        "{} breaks the declared invariant `{}`: {} does not hold after this write.",
        report::item_label(change),
        invariant.rule,
        invariant.expression
    );
    report::finding(
        change,
        ctx.rules,
        &invariant.rule,
        invariant.severity,
        message,
        evidence,
    )
}
