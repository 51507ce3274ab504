//! Numeric bounds (`negative-balance` by default): an attribute of a NewImage outside its
//! configured `[min, max]`.
//!
//! Invariant: the default, `balance >= 0`, is the classic over-withdrawal: two requests both saw
//! enough money and both withdrew. Comparison is exact decimal; `-0` is not negative. Only numbers
//! are checked: an absent, NULL or string attribute is not.
//!
//! Evidence: the attribute's old and new value, and the bound.
//!
//! Known false positives: accounts allowed an overdraft; give their table its own bound.

use serde_json::json;

use super::Context;
use crate::audit::finding::{Finding, JsonMap};
use crate::audit::report;
use crate::change::EventName;

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let change = ctx.change;
    if change.event_name == EventName::Remove {
        return;
    }
    let Some(new) = change.new_image.as_ref() else {
        return;
    };
    for bound in &ctx.rules.bounds {
        if !ctx.rules.enabled(&bound.rule) {
            continue;
        }
        let Some(number) = new.get(&bound.attribute).and_then(|v| v.as_number()) else {
            continue;
        };
        let value = number.value;
        let violated = match (bound.min, bound.max) {
            (Some(min), _) if value < min => format!("below its minimum {min}"),
            (_, Some(max)) if value > max => format!("above its maximum {max}"),
            _ => continue,
        };
        let mut evidence = JsonMap::new();
        let (name, pair) =
            report::attribute_evidence(&bound.attribute, change.old_image.as_ref(), Some(new));
        evidence.insert(name, pair);
        let mut limits = JsonMap::new();
        if let Some(min) = bound.min {
            limits.insert("min".to_owned(), json!(min.to_string()));
        }
        if let Some(max) = bound.max {
            limits.insert("max".to_owned(), json!(max.to_string()));
        }
        evidence.insert("bound".to_owned(), limits.into());
        let cause = if bound.rule == "negative-balance" {
            "; concurrent withdrawals each saw enough funds and all went through"
        } else {
            ""
        };
        let message = format!(
            "`{}` on {} is {} after this write, {violated}{cause}.",
            bound.attribute,
            report::item_label(change),
            number.text
        );
        findings.push(report::finding(
            change,
            ctx.rules,
            &bound.rule,
            bound.severity,
            message,
            evidence,
        ));
    }
}
