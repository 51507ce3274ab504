//! `duplicate-request` (opt-in: `duplicate_request` in the table configuration): the same request
//! id on two different changes of an item that both moved a watched attribute.
//!
//! Invariant: a request is applied once. An application that stamps each write with the id of the
//! request that caused it (`lastRequestId`) and retries without an idempotency check applies a
//! withdrawal twice: two changes of `balance`, both stamped with the same id.
//!
//! What counts: a change that moved a watched attribute (MODIFY whose OldImage and NewImage differ
//! in it, semantically; INSERT whose NewImage has it) and whose NewImage carries the request
//! attribute. The item's checkpoint remembers the digests of the last `remember` such request ids
//! (default 32) with the sequence number that applied them, so the rule works across batches and,
//! in the Lambda, across invocations. Re-deliveries never reach it (the checkpoint skips them).
//!
//! Evidence: the request id, the watched attributes (old and new), and the sequence number of the
//! change that applied the request first.
//!
//! Not checked: MODIFYs without both images (it cannot tell whether a watched attribute moved).
//!
//! Known false positives: writers that move a watched attribute without writing a new request id:
//! the stale id from the previous write is still in the NewImage. Every writer of a watched
//! attribute must set the request attribute.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Context;
use crate::audit::finding::{Finding, JsonMap, Severity};
use crate::audit::report;
use crate::audit::state::ItemState;
use crate::change::{Change, EventName, SequenceNumber};
use crate::config::DuplicateRequest;
use crate::value::Digest;

pub const RULE: &str = "duplicate-request";

/// A request that moved a watched attribute, as the checkpoint remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRequest {
    /// Digest of the request id value (the id itself may be personal data).
    pub request: Digest,
    pub sequence_number: SequenceNumber,
}

/// The digest of the request this change applied, when it moved a watched attribute.
pub fn applied_request(change: &Change<'_>, settings: &DuplicateRequest) -> Option<Digest> {
    let new = change.new_image.as_ref()?;
    let moved = match change.event_name {
        EventName::Insert => settings
            .watched_attributes
            .iter()
            .any(|a| new.get(a).is_some()),
        EventName::Modify => {
            let old = change.old_image.as_ref()?;
            settings
                .watched_attributes
                .iter()
                .any(|a| match (old.get(a), new.get(a)) {
                    (Some(x), Some(y)) => !x.semantic_eq(y),
                    (None, None) => false,
                    _ => true,
                })
        }
        EventName::Remove => false,
    };
    if !moved {
        return None;
    }
    new.get(&settings.request_attribute)
        .map(|v| Digest(v.digest()))
}

/// The requests the item's checkpoint remembers after `change`.
pub fn remembered(
    change: &Change<'_>,
    settings: Option<&DuplicateRequest>,
    previous: Option<&ItemState>,
) -> Vec<AppliedRequest> {
    let mut requests = previous
        .map(|p| p.applied_requests.clone())
        .unwrap_or_default();
    let Some(settings) = settings else {
        return requests;
    };
    if let Some(request) = applied_request(change, settings)
        && !requests.iter().any(|r| r.request == request)
    {
        requests.push(AppliedRequest {
            request,
            sequence_number: change.sequence_number.clone(),
        });
        let excess = requests.len().saturating_sub(settings.remember);
        requests.drain(..excess);
    }
    requests
}

pub fn check(ctx: &Context<'_, '_>, findings: &mut Vec<Finding>) {
    let Some(settings) = ctx.rules.duplicate_request.as_ref() else {
        return;
    };
    let change = ctx.change;
    let Some(request) = applied_request(change, settings) else {
        return;
    };
    let Some(first) = ctx
        .previous
        .and_then(|p| p.applied_requests.iter().find(|r| r.request == request))
    else {
        return;
    };
    let new = change.new_image.as_ref();
    let request_text = new
        .and_then(|n| n.get(&settings.request_attribute))
        .map(report::plain_text)
        .unwrap_or_default();
    let mut evidence = JsonMap::new();
    evidence.insert(
        settings.request_attribute.clone(),
        new.and_then(|n| n.get(&settings.request_attribute))
            .map(|v| v.to_plain_json())
            .unwrap_or_default(),
    );
    for attribute in &settings.watched_attributes {
        let (name, pair) = report::attribute_evidence(attribute, change.old_image.as_ref(), new);
        evidence.insert(name, pair);
    }
    evidence.insert(
        "first_applied_sequence_number".to_owned(),
        json!(first.sequence_number.as_str()),
    );
    let message = format!(
        "Request `{request_text}` was applied twice to {}: it already moved {} in record {}; a retry without an idempotency check.",
        report::item_label(change),
        settings.watched_attributes.join(", "),
        first.sequence_number
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
