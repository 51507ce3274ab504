//! `unbalanced-transfer` (opt-in: `transfer` in the table configuration): the changes of the
//! conserved attribute (NewImage minus OldImage) of all records carrying the same transfer id
//! must sum to zero.
//!
//! Invariant: money moves, it is not made or lost. A transfer written as two separate updates
//! instead of one TransactWriteItems can debit one account and never credit the other, or credit
//! twice when a leg is retried.
//!
//! Legs: a change whose image carries the transfer attribute (NewImage; OldImage for REMOVE) and
//! whose conserved attribute moved: delta = new - old, an absent side counting as 0 (INSERT,
//! REMOVE, or an image without the attribute). A MODIFY without both images, or with a conserved
//! value that is not a number, is not a leg. Legs may come from any item and table configured
//! with the same transfer attribute, in any batch. A leg already counted (same item and sequence
//! number) is not counted again.
//!
//! Timing: the core has no clock, so time is stream time: the ApproximateCreationDateTime of the
//! records audited. A transfer is settled when a record newer than its first leg by more than
//! `grace_seconds` is audited: unbalanced, it is reported once (on its last leg) and forgotten;
//! balanced, it is forgotten. [`crate::audit::Auditor::finish`] settles every transfer at the end
//! of a replay, reporting those still unbalanced as open.
//!
//! Evidence: the transfer id, the sum of the deltas, and each leg (table, key, sequence number,
//! delta).
//!
//! Known false positives: a later balance change that leaves a stale transfer id in the image
//! counts as a leg (writers should remove or replace the id); a leg that arrives after its
//! transfer was settled opens a new transfer of its own (choose a grace period longer than the
//! slowest transfer and the lag between shards).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::finding::{Finding, JsonMap, Severity, finding_id};
use crate::audit::report;
use crate::change::{Change, EventName, ItemId, SequenceNumber};
use crate::config::{Config, Transfer};
use crate::decimal::Decimal;
use crate::value::Image;

pub const RULE: &str = "unbalanced-transfer";

/// The record a finding about a pending rule is reported on, kept as plain data because the
/// record itself is gone by the time the rule decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRef {
    pub table: String,
    pub key: JsonMap,
    pub sequence_number: SequenceNumber,
    pub event_id: String,
    pub event_name: String,
    pub stream_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

impl RecordRef {
    pub fn of(change: &Change<'_>) -> RecordRef {
        RecordRef {
            table: change.table.to_string(),
            key: change.keys.to_plain_json(),
            sequence_number: change.sequence_number.clone(),
            event_id: change.event_id.to_string(),
            event_name: change.event_name.as_str().to_owned(),
            stream_arn: change.stream_arn.to_string(),
            time: stream_seconds(change),
        }
    }

    /// A finding about this record.
    pub fn finding(
        &self,
        config: &Config,
        rule: &str,
        default_severity: Severity,
        message: String,
        evidence: JsonMap,
    ) -> Finding {
        let rules = config.for_table(&self.table);
        Finding {
            id: finding_id(rule, &self.table, &self.key, self.sequence_number.as_str()),
            rule: rule.to_owned(),
            severity: rules.severity(rule, default_severity),
            table: self.table.clone(),
            key: self.key.clone(),
            sequence_number: self.sequence_number.as_str().to_owned(),
            event_id: self.event_id.clone(),
            event_name: self.event_name.clone(),
            message,
            evidence,
            approximate_creation_time: self
                .time
                .and_then(|t| crate::time::rfc3339_from_epoch_seconds(t as f64)),
            stream_arn: Some(self.stream_arn.clone()),
            context: None,
        }
    }
}

/// Whole seconds of a record's ApproximateCreationDateTime.
pub fn stream_seconds(change: &Change<'_>) -> Option<i64> {
    change
        .approximate_creation_time
        .filter(|t| t.is_finite())
        .map(|t| t.floor() as i64)
}

/// One leg of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leg {
    pub item: ItemId,
    /// The key as findings show it.
    pub key: JsonMap,
    pub sequence_number: SequenceNumber,
    pub delta: Decimal,
}

/// A transfer whose legs are still being collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTransfer {
    /// Stream time of the first leg.
    pub opened_at: i64,
    pub grace_seconds: i64,
    pub sum: Decimal,
    pub legs: Vec<Leg>,
    /// The record of the newest leg: findings are reported on it.
    pub last: RecordRef,
}

/// The (transfer id, delta) a change contributes, if it is a leg.
pub fn leg_of(change: &Change<'_>, settings: &Transfer) -> Option<(String, Decimal)> {
    let carrier = match change.event_name {
        EventName::Remove => change.old_image.as_ref()?,
        _ => change.new_image.as_ref()?,
    };
    let id = report::plain_text(carrier.get(&settings.transfer_attribute)?);
    let amount = |image: Option<&Image<'_>>| -> Option<Decimal> {
        match image?.get(&settings.conserved_attribute) {
            None => Some(Decimal::ZERO),
            Some(v) => v.as_number().map(|n| n.value),
        }
    };
    let (old, new) = match change.event_name {
        EventName::Insert => (Decimal::ZERO, amount(change.new_image.as_ref())?),
        EventName::Remove => (amount(change.old_image.as_ref())?, Decimal::ZERO),
        EventName::Modify => (
            amount(change.old_image.as_ref())?,
            amount(change.new_image.as_ref())?,
        ),
    };
    let delta = new.checked_sub(&old)?;
    (!delta.is_zero()).then_some((id, delta))
}

/// Adds a change's leg to its transfer (opening it if needed).
pub fn record_leg(
    change: &Change<'_>,
    settings: &Transfer,
    transfers: &mut std::collections::BTreeMap<String, PendingTransfer>,
) {
    let Some((id, delta)) = leg_of(change, settings) else {
        return;
    };
    let now = stream_seconds(change).unwrap_or(0);
    let pending = transfers.entry(id).or_insert_with(|| PendingTransfer {
        opened_at: now,
        grace_seconds: settings.grace_seconds,
        sum: Decimal::ZERO,
        legs: Vec::new(),
        last: RecordRef::of(change),
    });
    let seen = pending
        .legs
        .iter()
        .any(|l| l.item == change.item && l.sequence_number == change.sequence_number);
    if seen {
        return;
    }
    let Some(sum) = pending.sum.checked_add(&delta) else {
        return;
    };
    pending.sum = sum;
    pending.legs.push(Leg {
        item: change.item.clone(),
        key: change.keys.to_plain_json(),
        sequence_number: change.sequence_number.clone(),
        delta,
    });
    pending.last = RecordRef::of(change);
}

/// Settles transfers whose grace period has passed at stream time `now` (all of them when `now`
/// is `None`: the end of the audited stream); returns findings for the unbalanced ones.
pub fn settle(
    config: &Config,
    transfers: &mut std::collections::BTreeMap<String, PendingTransfer>,
    now: Option<i64>,
) -> Vec<Finding> {
    let due: Vec<String> = transfers
        .iter()
        .filter(|(_, p)| now.is_none_or(|now| now > p.opened_at.saturating_add(p.grace_seconds)))
        .map(|(id, _)| id.clone())
        .collect();
    let mut findings = Vec::new();
    for id in due {
        let Some(pending) = transfers.remove(&id) else {
            continue;
        };
        if pending.sum.is_zero() || !config.for_table(&pending.last.table).enabled(RULE) {
            continue;
        }
        findings.push(finding(config, &id, &pending, now.is_none()));
    }
    findings
}

fn finding(config: &Config, id: &str, pending: &PendingTransfer, at_end: bool) -> Finding {
    let legs: Vec<serde_json::Value> = pending
        .legs
        .iter()
        .map(|l| {
            json!({"table": l.item.table, "key": l.key,
                   "sequence_number": l.sequence_number.as_str(), "delta": l.delta.to_string()})
        })
        .collect();
    let mut evidence = JsonMap::new();
    evidence.insert("transfer_id".to_owned(), json!(id));
    evidence.insert("sum".to_owned(), json!(pending.sum.to_string()));
    evidence.insert("legs".to_owned(), json!(legs));
    let when = if at_end {
        "is still open at the end of the audited stream".to_owned()
    } else {
        format!("did not balance within {}s", pending.grace_seconds)
    };
    let message = format!(
        "Transfer `{id}` {when}: its {} leg(s) sum to {} instead of 0; a leg was lost or applied twice.",
        pending.legs.len(),
        pending.sum
    );
    pending
        .last
        .finding(config, RULE, Severity::Critical, message, evidence)
}
