//! Orders a stream's shards so that every parent is read before its children.
//!
//! An item's records move from a parent shard to its children when DynamoDB splits or rotates a
//! shard, so reading a child first would audit an item's later changes before its earlier ones
//! (and report history gaps and version regressions that never happened).

use std::collections::{BTreeMap, HashSet};

use crate::change::SequenceNumber;

/// What the scan needs to know about one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    pub parent_id: Option<String>,
    /// The first sequence number in the shard, when DynamoDB says (it always does).
    pub starting_sequence_number: Option<SequenceNumber>,
    /// DynamoDB gave the shard an ending sequence number: it takes no more records.
    pub closed: bool,
}

/// Sorts shards parents first. Among shards whose order does not matter (roots, siblings), the
/// one that starts earlier comes first, then by id, so the order is deterministic. A parent that is
/// not in the list (trimmed after 24 hours) makes its child a root.
pub fn parents_first(shards: Vec<ShardInfo>) -> Vec<ShardInfo> {
    let ids: HashSet<String> = shards.iter().map(|s| s.id.clone()).collect();
    let mut children: BTreeMap<String, Vec<ShardInfo>> = BTreeMap::new();
    let mut roots = Vec::new();
    for shard in shards {
        match &shard.parent_id {
            Some(parent) if ids.contains(parent) && parent != &shard.id => {
                children.entry(parent.clone()).or_default().push(shard)
            }
            _ => roots.push(shard),
        }
    }
    let start_order = |a: &ShardInfo, b: &ShardInfo| {
        a.starting_sequence_number
            .cmp(&b.starting_sequence_number)
            .then_with(|| a.id.cmp(&b.id))
    };
    roots.sort_by(start_order);
    for siblings in children.values_mut() {
        siblings.sort_by(start_order);
    }
    // Breadth-first from the roots: a shard is emitted only after its parent.
    let mut ordered = Vec::with_capacity(ids.len());
    let mut queue: std::collections::VecDeque<ShardInfo> = roots.into();
    while let Some(shard) = queue.pop_front() {
        if let Some(kids) = children.remove(&shard.id) {
            queue.extend(kids);
        }
        ordered.push(shard);
    }
    // Whatever is left sits on a parent cycle, which DynamoDB never produces: read it last rather
    // than drop its records.
    let mut rest: Vec<ShardInfo> = children.into_values().flatten().collect();
    rest.sort_by(start_order);
    ordered.extend(rest);
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>, start: &str) -> ShardInfo {
        ShardInfo {
            id: id.to_owned(),
            parent_id: parent.map(str::to_owned),
            starting_sequence_number: SequenceNumber::parse(start),
            closed: false,
        }
    }

    fn ids(shards: &[ShardInfo]) -> Vec<&str> {
        shards.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn parents_come_before_children_whatever_the_listing_order() {
        let listed = vec![
            shard("grandchild", Some("child-b"), "400000000000000000000"),
            shard("child-b", Some("root"), "300000000000000000000"),
            shard("child-a", Some("root"), "200000000000000000000"),
            shard("other-root", None, "150000000000000000000"),
            shard("root", None, "100000000000000000000"),
        ];
        assert_eq!(
            ids(&parents_first(listed)),
            ["root", "other-root", "child-a", "child-b", "grandchild"]
        );
    }

    #[test]
    fn a_trimmed_parent_makes_a_root_and_nothing_is_lost() {
        let listed = vec![
            shard("b", Some("gone"), "200000000000000000000"),
            shard("loop-1", Some("loop-2"), "900000000000000000000"),
            shard("loop-2", Some("loop-1"), "800000000000000000000"),
            shard("a", Some("a"), "100000000000000000000"),
        ];
        assert_eq!(ids(&parents_first(listed)), ["a", "b", "loop-2", "loop-1"]);
    }
}
