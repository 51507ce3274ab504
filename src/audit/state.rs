//! The per-item checkpoint the core carries from one batch to the next, as a plain value.
//!
//! The core never loads or saves it: the CLI keeps it in memory across files, the Lambda loads
//! it from and writes it to the state table. It holds only what the rules need (no item images,
//! which may hold personal data): the newest audited sequence number, a digest of the newest
//! image for `history-gap`, and the version at the last removal for `version-regression`.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::audit::rules::duplicate_request::AppliedRequest;
use crate::audit::rules::ledger_mismatch::PendingLedger;
use crate::audit::rules::unbalanced_transfer::PendingTransfer;
use crate::change::{ItemId, SequenceNumber};
use crate::decimal::Decimal;
use crate::value::Digest;

/// What the item looked like after the newest audited record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ImageState {
    /// The item exists with this content (digest) and version (when it had a numeric one).
    Present {
        digest: Digest,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<Decimal>,
    },
    /// The newest record removed the item.
    Absent,
    /// The newest record did not carry a NewImage (stream view type), or could not be read.
    Unknown,
}

/// Checkpoint of one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemState {
    /// Newest SequenceNumber audited for the item; anything not newer is a re-delivery.
    pub sequence_number: SequenceNumber,
    pub image: ImageState,
    /// The version in the OldImage of the latest REMOVE, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_version: Option<Decimal>,
    /// Recent requests that moved a watched attribute (`duplicate-request`), oldest first.
    /// Defaulted so checkpoints written before the rule existed still load.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied_requests: Vec<AppliedRequest>,
}

/// The state of rules that span items (not owned by any one item's checkpoint), as one
/// serializable value: the CLI keeps it in memory across files, the Lambda loads it from and
/// saves it to the state table (one item per table, written with optimistic locking; see
/// docs/LAMBDA.md), so a rule's state survives invocations and shards without the shell knowing
/// the rule.
///
/// Adding a rule's map is one field, `#[serde(default, skip_serializing_if = "BTreeMap::is_empty")]`
/// plus its type: nothing else to change. `default` lets state saved before the field existed
/// still load; skipping empty maps keeps the stored item small. Keep values compact (the whole
/// struct is one DynamoDB item, 400 KB at most) and bounded by the rule (settle or forget old
/// entries). Use `BTreeMap` so the serialized form is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedState {
    /// `unbalanced-transfer`: open transfers by transfer id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub transfers: BTreeMap<String, PendingTransfer>,
    /// `ledger-mismatch`: accounts out of step with their ledger, by account.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ledgers: BTreeMap<String, PendingLedger>,
}

impl SharedState {
    /// Nothing pending in any rule (the shell may then skip storing it).
    pub fn is_empty(&self) -> bool {
        *self == SharedState::default()
    }
}

/// Checkpoints of every item seen so far (or loaded for this batch), and the state of rules that
/// span items ([`SharedState`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditState {
    items: HashMap<ItemId, ItemState>,
    /// Cross-item rule state; the shell loads and saves it as a whole.
    pub shared: SharedState,
}

impl AuditState {
    pub fn new() -> AuditState {
        AuditState::default()
    }

    pub fn get(&self, item: &ItemId) -> Option<&ItemState> {
        self.items.get(item)
    }

    pub fn insert(&mut self, item: ItemId, state: ItemState) {
        self.items.insert(item, state);
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ItemId, &ItemState)> {
        self.items.iter()
    }
}

impl FromIterator<(ItemId, ItemState)> for AuditState {
    fn from_iter<I: IntoIterator<Item = (ItemId, ItemState)>>(iter: I) -> Self {
        AuditState {
            items: iter.into_iter().collect(),
            shared: SharedState::default(),
        }
    }
}

impl IntoIterator for AuditState {
    type Item = (ItemId, ItemState);
    type IntoIter = std::collections::hash_map::IntoIter<ItemId, ItemState>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_through_json() {
        let state = ItemState {
            sequence_number: SequenceNumber::parse("4421584500000000017450439091").unwrap(),
            image: ImageState::Present {
                digest: Digest(42),
                version: Some(Decimal::parse("12345678901234567890123456789012345678").unwrap()),
            },
            removed_version: Some(Decimal::parse("3").unwrap()),
            applied_requests: vec![AppliedRequest {
                request: Digest(7),
                sequence_number: SequenceNumber::parse("100").unwrap(),
            }],
        };
        let json = serde_json::to_string(&state).unwrap();
        assert!(
            json.contains("\"12345678901234567890123456789012345678\""),
            "{json}"
        );
        let back: ItemState = serde_json::from_str(&json).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn shared_state_round_trips_and_older_or_empty_forms_load() {
        let empty: SharedState = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
        // A field this build does not know (written by a newer one) is ignored, not an error.
        let newer: SharedState = serde_json::from_str(r#"{"future_map":{"a":1}}"#).unwrap();
        assert!(newer.is_empty());
    }

    #[test]
    fn checkpoints_written_before_duplicate_request_still_load() {
        let old = r#"{"sequence_number":"100","image":{"state":"absent"}}"#;
        let state: ItemState = serde_json::from_str(old).unwrap();
        assert!(state.applied_requests.is_empty());
    }
}
