//! Keeps per-item checkpoints, the shared cross-item state and de-duplication records in the
//! DynamoDB state table, with conditional writes so that racing invocations can never move a
//! checkpoint backwards or overwrite each other's shared state.
//!
//! Table: partition key `pk` (S), TTL attribute `expires_at` (N, epoch seconds).
//! - Checkpoint: `pk = "item#" + table + "#" + canonical key`, `seq` (the SequenceNumber
//!   zero-padded to 40 digits, an S so that string order is numeric order: sequence numbers can
//!   be longer than the 38 digits an N holds), `state` (the core's `ItemState` as JSON: sequence
//!   number, digest of the newest image, version at the last removal; never the image itself).
//! - De-duplication record: `pk = "finding#" + finding id`, `expires_at` = now + 14 days.
//! - Shared state: `pk = "shared#all"`, `rev` (N, bumped by every write; writes are conditional
//!   on the revision loaded), `state` (the core's `SharedState` as JSON, at most
//!   [`MAX_SHARED_STATE_BYTES`]). One item for every table the function audits, because a
//!   transfer's legs may come from several tables.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use tokio::task::JoinSet;

use super::error::{LambdaError, Retry};
use super::{Saved, SharedSaved, StateStore, StoredShared};
use crate::audit::state::{AuditState, ItemState, SharedState};
use crate::change::{ItemId, SequenceNumber};

/// BatchGetItem's limit.
const MAX_KEYS_PER_GET: usize = 100;
/// DynamoDB's limit for a partition key value.
const MAX_PK_BYTES: usize = 2048;
/// Rounds of retrying `UnprocessedKeys` before giving the batch back to Lambda.
const UNPROCESSED_ROUNDS: u32 = 8;
/// How long a de-duplication record outlives its finding: longer than a stream's 24-hour
/// retention and any retry policy, so every re-delivery of the record finds it.
pub const DEDUP_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Width of the zero-padded `seq` attribute (SequenceNumbers have 21 to 40 digits).
pub const SEQ_WIDTH: usize = 40;
/// The shared state's partition key.
pub const SHARED_PK: &str = "shared#all";
/// The most JSON the shared state item holds: DynamoDB's item limit is 400 KB (409,600 bytes,
/// names and values together); the rest is left for `pk`, `rev`, `audited_at` and their names.
/// A two-leg pending transfer takes about 1 KB (see docs/LAMBDA.md for the arithmetic).
pub const MAX_SHARED_STATE_BYTES: usize = 380_000;

/// The state table through the AWS SDK.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// The checkpoint item's partition key. A key too long for DynamoDB's 2048-byte limit is
/// replaced by a 128-bit hash of it (still one checkpoint per item).
pub fn checkpoint_pk(item: &ItemId) -> String {
    let pk = format!("item#{}#{}", item.table, item.key);
    if pk.len() <= MAX_PK_BYTES {
        return pk;
    }
    let hash = xxhash_rust::xxh3::xxh3_128(item.key.as_bytes());
    format!("item#{}#xxh3:{hash:032x}", item.table)
}

pub fn finding_pk(finding_id: &str) -> String {
    format!("finding#{finding_id}")
}

/// `seq` as stored: zero-padded so that comparing strings compares numbers.
pub fn padded_seq(seq: &SequenceNumber) -> String {
    format!("{:0>width$}", seq.as_str(), width = SEQ_WIDTH)
}

fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

impl DynamoStateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> DynamoStateStore {
        DynamoStateStore {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Reads the items with these partition keys, 100 keys a call, retrying unprocessed keys.
    /// Strongly consistent, so a checkpoint written by the previous invocation is seen.
    async fn get_many(
        &self,
        pks: &[String],
        projection: &str,
    ) -> Result<HashMap<String, HashMap<String, AttributeValue>>, LambdaError> {
        let mut found = HashMap::new();
        for chunk in pks.chunks(MAX_KEYS_PER_GET) {
            let mut pending: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|pk| HashMap::from([("pk".to_owned(), s(pk))]))
                .collect();
            let mut round = 0;
            while !pending.is_empty() {
                if round == UNPROCESSED_ROUNDS {
                    return Err(LambdaError::Aws {
                        operation: "dynamodb:BatchGetItem",
                        message: format!(
                            "{} keys still unprocessed after {round} rounds",
                            pending.len()
                        ),
                        retry: Retry::CanHelp,
                    });
                }
                if round > 0 {
                    // Unprocessed keys mean the table is throttling: back off before asking again.
                    tokio::time::sleep(Duration::from_millis(50u64 << round.min(5))).await;
                }
                round += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .projection_expression(projection)
                    .expression_attribute_names("#state", "state")
                    .build()
                    .map_err(|e| LambdaError::Aws {
                        operation: "dynamodb:BatchGetItem",
                        message: format!("building the request: {e}"),
                        retry: Retry::CannotHelp,
                    })?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| LambdaError::from_sdk("dynamodb:BatchGetItem", e))?;
                if let Some(items) = output.responses().and_then(|r| r.get(&self.table)) {
                    for item in items {
                        if let Some(AttributeValue::S(pk)) = item.get("pk") {
                            found.insert(pk.clone(), item.clone());
                        }
                    }
                }
                if let Some(unprocessed) =
                    output.unprocessed_keys().and_then(|u| u.get(&self.table))
                {
                    pending = unprocessed.keys().to_vec();
                }
            }
        }
        Ok(found)
    }

    async fn load(&self, items: &[&ItemId]) -> Result<AuditState, LambdaError> {
        let by_pk: HashMap<String, &ItemId> =
            items.iter().map(|i| (checkpoint_pk(i), *i)).collect();
        let pks: Vec<String> = by_pk.keys().cloned().collect();
        let found = self.get_many(&pks, "pk, #state").await?;
        let mut state = AuditState::new();
        for (pk, attributes) in found {
            let Some(item) = by_pk.get(&pk) else { continue };
            let parsed = match attributes.get("state") {
                Some(AttributeValue::S(json)) => serde_json::from_str::<ItemState>(json).ok(),
                _ => None,
            };
            match parsed {
                Some(checkpoint) => state.insert((*item).clone(), checkpoint),
                // Unreadable (written by another version?): start the item's history afresh,
                // which can only miss a comparison, never invent a finding. The conditional
                // write still protects the stored one if it is newer.
                None => tracing::warn!(table = %item.table, "unreadable checkpoint ignored"),
            }
        }
        Ok(state)
    }

    async fn find_published(&self, ids: &[&str]) -> Result<HashSet<String>, LambdaError> {
        let pks: Vec<String> = ids.iter().map(|id| finding_pk(id)).collect();
        // The projection must use the `#state` name declared for checkpoints too.
        let found = self.get_many(&pks, "pk, #state").await?;
        Ok(found
            .into_keys()
            .filter_map(|pk| pk.strip_prefix("finding#").map(str::to_owned))
            .collect())
    }

    async fn mark(&self, ids: &[&str]) -> Vec<Result<(), LambdaError>> {
        let expires_at = (epoch_seconds() + DEDUP_TTL.as_secs()).to_string();
        let mut tasks = JoinSet::new();
        for (i, id) in ids.iter().enumerate() {
            let request = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(finding_pk(id)))
                .item("expires_at", AttributeValue::N(expires_at.clone()))
                .condition_expression("attribute_not_exists(pk)");
            tasks.spawn(async move {
                let result = match request.send().await {
                    Ok(_) => Ok(()),
                    // Already recorded by a concurrent attempt: the same fact, nothing to do.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(LambdaError::from_sdk(
                        "dynamodb:PutItem (de-duplication record)",
                        e,
                    )),
                };
                (i, result)
            });
        }
        collect(tasks, ids.len()).await
    }

    async fn load_shared_state(&self) -> Result<StoredShared, LambdaError> {
        let found = self
            .get_many(&[SHARED_PK.to_owned()], "pk, #state, rev")
            .await?;
        let Some(attributes) = found.get(SHARED_PK) else {
            return Ok(StoredShared::default());
        };
        let rev = match attributes.get("rev") {
            Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
            _ => None,
        }
        .ok_or_else(|| LambdaError::Aws {
            operation: "dynamodb:BatchGetItem (shared state)",
            message: format!("`{SHARED_PK}` has no numeric `rev`: fix or delete the item"),
            retry: Retry::CannotHelp,
        })?;
        let state = match attributes.get("state") {
            Some(AttributeValue::S(json)) => serde_json::from_str::<SharedState>(json).ok(),
            _ => None,
        };
        let state = state.unwrap_or_else(|| {
            // Start afresh rather than stop the stream forever; the revision still guards the
            // write, and open transfers lost this way can only go unreported.
            tracing::warn!(
                rev,
                "unreadable shared state ignored; pending cross-item state lost"
            );
            SharedState::default()
        });
        Ok(StoredShared { state, rev })
    }

    async fn save_shared_state(
        &self,
        state: &SharedState,
        expected_rev: u64,
    ) -> Result<SharedSaved, LambdaError> {
        const OPERATION: &str = "dynamodb:PutItem (shared state)";
        let (json, dropped) =
            shared_state_json(state, MAX_SHARED_STATE_BYTES).map_err(|e| LambdaError::Aws {
                operation: OPERATION,
                message: format!("serializing the shared state: {e}"),
                retry: Retry::CannotHelp,
            })?;
        for (map, count) in &dropped {
            tracing::warn!(
                map = %map,
                dropped = count,
                budget_bytes = MAX_SHARED_STATE_BYTES,
                "shared state over its size budget: entries dropped, their findings will not be reported"
            );
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(SHARED_PK))
            .item("rev", AttributeValue::N((expected_rev + 1).to_string()))
            .item("state", s(json))
            .item("audited_at", AttributeValue::N(epoch_seconds().to_string()))
            // Optimistic locking: the auditor must not lose a concurrent update either.
            .condition_expression("attribute_not_exists(pk) OR rev = :expected")
            .expression_attribute_values(":expected", AttributeValue::N(expected_rev.to_string()));
        match request.send().await {
            Ok(_) => Ok(SharedSaved::Written),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(SharedSaved::Conflict)
            }
            Err(e) => Err(LambdaError::from_sdk(OPERATION, e)),
        }
    }

    async fn save(&self, checkpoints: &[(&ItemId, &ItemState)]) -> Vec<Result<Saved, LambdaError>> {
        let now = epoch_seconds().to_string();
        let mut tasks = JoinSet::new();
        for (i, (item, checkpoint)) in checkpoints.iter().enumerate() {
            let state = match serde_json::to_string(checkpoint) {
                Ok(json) => json,
                Err(e) => {
                    let error = LambdaError::Aws {
                        operation: "dynamodb:PutItem (checkpoint)",
                        message: format!("serializing the checkpoint: {e}"),
                        retry: Retry::CannotHelp,
                    };
                    tasks.spawn(async move { (i, Err(error)) });
                    continue;
                }
            };
            let seq = padded_seq(&checkpoint.sequence_number);
            let request = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(checkpoint_pk(item)))
                .item("seq", s(seq.clone()))
                .item("state", s(state))
                .item("audited_at", AttributeValue::N(now.clone()))
                // Only forward: the auditor must not have the lost-update bug it hunts.
                .condition_expression("attribute_not_exists(pk) OR seq < :seq")
                .expression_attribute_values(":seq", s(seq));
            tasks.spawn(async move {
                let result = match request.send().await {
                    Ok(_) => Ok(Saved::Written),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
                    {
                        Ok(Saved::Superseded)
                    }
                    Err(e) => Err(LambdaError::from_sdk("dynamodb:PutItem (checkpoint)", e)),
                };
                (i, result)
            });
        }
        collect(tasks, checkpoints.len()).await
    }
}

/// The shared state as stored JSON, cut to `budget` bytes if needed: entries are dropped from the
/// fullest map, last key first, until it fits. Returns the JSON and what was dropped (map name,
/// count). Generic over the maps of [`SharedState`], so a new rule's map needs nothing here.
pub fn shared_state_json(
    state: &SharedState,
    budget: usize,
) -> Result<(String, Vec<(String, usize)>), serde_json::Error> {
    let json = serde_json::to_string(state)?;
    if json.len() <= budget {
        return Ok((json, Vec::new()));
    }
    let mut value = serde_json::to_value(state)?;
    let mut dropped: Vec<(String, usize)> = Vec::new();
    let mut size = json.len();
    while size > budget {
        let Some(maps) = value.as_object_mut() else {
            break;
        };
        let fullest = maps
            .iter_mut()
            .filter_map(|(name, v)| v.as_object_mut().map(|m| (name, m)))
            .filter(|(_, m)| !m.is_empty())
            .max_by_key(|(_, m)| m.len());
        let Some((name, map)) = fullest else { break };
        // Drop about as many entries as the excess needs (at least one) before measuring again.
        let average = (size / map.len().max(1)).max(1);
        let count = (size - budget).div_ceil(average).clamp(1, map.len());
        let keys: Vec<String> = map.keys().rev().take(count).cloned().collect();
        for key in &keys {
            map.remove(key);
        }
        match dropped.iter_mut().find(|(n, _)| n == name) {
            Some((_, n)) => *n += keys.len(),
            None => dropped.push((name.clone(), keys.len())),
        }
        size = serde_json::to_string(&value)?.len();
    }
    Ok((serde_json::to_string(&value)?, dropped))
}

/// Gathers spawned results back into input order.
async fn collect<T: 'static>(
    mut tasks: JoinSet<(usize, Result<T, LambdaError>)>,
    len: usize,
) -> Vec<Result<T, LambdaError>> {
    let mut results: Vec<Option<Result<T, LambdaError>>> = (0..len).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, result)) = joined
            && let Some(slot) = results.get_mut(i)
        {
            *slot = Some(result);
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(LambdaError::Aws {
                    operation: "dynamodb:PutItem",
                    message: "the write task did not finish".to_owned(),
                    retry: Retry::CanHelp,
                })
            })
        })
        .collect()
}

impl StateStore for DynamoStateStore {
    fn load_checkpoints(
        &self,
        items: &[&ItemId],
    ) -> impl Future<Output = Result<AuditState, LambdaError>> + Send {
        self.load(items)
    }

    fn published(
        &self,
        finding_ids: &[&str],
    ) -> impl Future<Output = Result<HashSet<String>, LambdaError>> + Send {
        self.find_published(finding_ids)
    }

    fn mark_published(
        &self,
        finding_ids: &[&str],
    ) -> impl Future<Output = Vec<Result<(), LambdaError>>> + Send {
        self.mark(finding_ids)
    }

    fn save_checkpoints(
        &self,
        checkpoints: &[(&ItemId, &ItemState)],
    ) -> impl Future<Output = Vec<Result<Saved, LambdaError>>> + Send {
        self.save(checkpoints)
    }

    fn load_shared(&self) -> impl Future<Output = Result<StoredShared, LambdaError>> + Send {
        self.load_shared_state()
    }

    fn save_shared(
        &self,
        state: &SharedState,
        expected_rev: u64,
    ) -> impl Future<Output = Result<SharedSaved, LambdaError>> + Send {
        self.save_shared_state(state, expected_rev)
    }
}

/// No state table: every batch is audited on its own, nothing is de-duplicated across attempts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stateless;

impl StateStore for Stateless {
    async fn load_checkpoints(&self, _: &[&ItemId]) -> Result<AuditState, LambdaError> {
        Ok(AuditState::new())
    }

    async fn published(&self, _: &[&str]) -> Result<HashSet<String>, LambdaError> {
        Ok(HashSet::new())
    }

    async fn mark_published(&self, ids: &[&str]) -> Vec<Result<(), LambdaError>> {
        ids.iter().map(|_| Ok(())).collect()
    }

    async fn save_checkpoints(
        &self,
        checkpoints: &[(&ItemId, &ItemState)],
    ) -> Vec<Result<Saved, LambdaError>> {
        checkpoints.iter().map(|_| Ok(Saved::Written)).collect()
    }

    /// Nothing carries over: each batch starts with no open transfers.
    async fn load_shared(&self) -> Result<StoredShared, LambdaError> {
        Ok(StoredShared::default())
    }

    async fn save_shared(&self, _: &SharedState, _: u64) -> Result<SharedSaved, LambdaError> {
        Ok(SharedSaved::Written)
    }
}

/// The store the binary runs with: the table when `STATE_TABLE_NAME` is set, else none.
#[derive(Debug, Clone)]
pub enum AnyStateStore {
    Dynamo(DynamoStateStore),
    Stateless(Stateless),
}

impl StateStore for AnyStateStore {
    async fn load_checkpoints(&self, items: &[&ItemId]) -> Result<AuditState, LambdaError> {
        match self {
            AnyStateStore::Dynamo(d) => d.load(items).await,
            AnyStateStore::Stateless(s) => s.load_checkpoints(items).await,
        }
    }

    async fn published(&self, ids: &[&str]) -> Result<HashSet<String>, LambdaError> {
        match self {
            AnyStateStore::Dynamo(d) => d.find_published(ids).await,
            AnyStateStore::Stateless(s) => s.published(ids).await,
        }
    }

    async fn mark_published(&self, ids: &[&str]) -> Vec<Result<(), LambdaError>> {
        match self {
            AnyStateStore::Dynamo(d) => d.mark(ids).await,
            AnyStateStore::Stateless(s) => s.mark_published(ids).await,
        }
    }

    async fn save_checkpoints(
        &self,
        checkpoints: &[(&ItemId, &ItemState)],
    ) -> Vec<Result<Saved, LambdaError>> {
        match self {
            AnyStateStore::Dynamo(d) => d.save(checkpoints).await,
            AnyStateStore::Stateless(s) => s.save_checkpoints(checkpoints).await,
        }
    }

    async fn load_shared(&self) -> Result<StoredShared, LambdaError> {
        match self {
            AnyStateStore::Dynamo(d) => d.load_shared_state().await,
            AnyStateStore::Stateless(s) => s.load_shared().await,
        }
    }

    async fn save_shared(
        &self,
        state: &SharedState,
        expected_rev: u64,
    ) -> Result<SharedSaved, LambdaError> {
        match self {
            AnyStateStore::Dynamo(d) => d.save_shared_state(state, expected_rev).await,
            AnyStateStore::Stateless(s) => s.save_shared(state, expected_rev).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_sequence_numbers_compare_as_numbers() {
        let p = |t: &str| padded_seq(&SequenceNumber::parse(t).unwrap());
        assert_eq!(p("100").len(), SEQ_WIDTH);
        assert!(p("999") < p("1000"));
        assert!(p("4421584500000000017450439091") < p("4421584500000000017450439092"));
        assert!(
            p("9999999999999999999999999999999999999")
                < p("1000000000000000000000000000000000000000")
        );
    }

    /// `n` open two-leg transfers as the core builds them, with realistic sizes: 36-character
    /// account and transfer ids, 28-digit sequence numbers, a full stream ARN.
    fn open_transfers(n: usize) -> SharedState {
        let auditor = crate::Auditor::new(
            crate::Config::from_json(
                r#"{"defaults": {"transfer": {"transfer_attribute": "transferId", "conserved_attribute": "balance", "grace_seconds": 300}}}"#,
            )
            .unwrap(),
        );
        let leg = |i: usize, side: &str, old: i64, new: i64| {
            let id = format!("{side}{i:035}");
            let image = |balance: i64| {
                serde_json::json!({"id": {"S": id}, "balance": {"N": balance.to_string()},
                                   "transferId": {"S": format!("{i:036}")}})
            };
            serde_json::json!({"eventID": format!("{i:032x}"), "eventName": "MODIFY",
                "eventSource": "aws:dynamodb",
                "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/Accounts/stream/2026-11-20T09:00:00.000",
                "dynamodb": {"Keys": {"id": {"S": id}}, "SequenceNumber": format!("4421584500000{i:015}"),
                    "SizeBytes": 100, "StreamViewType": "NEW_AND_OLD_IMAGES",
                    "ApproximateCreationDateTime": 1_700_000_000,
                    "OldImage": image(old), "NewImage": image(new)}})
        };
        let records: Vec<_> = (0..n)
            .flat_map(|i| [leg(i, "a", 1_000_000, 999_000), leg(i, "b", 5, 1_005)])
            .collect();
        let bytes = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
        let mut state = AuditState::new();
        auditor.audit_batch(&crate::source::decode_event(&bytes).unwrap(), &mut state);
        assert_eq!(state.shared.transfers.len(), n);
        state.shared
    }

    #[test]
    fn an_open_transfer_takes_about_a_kilobyte_of_the_shared_state() {
        let json = serde_json::to_string(&open_transfers(100)).unwrap();
        let per_transfer = json.len() / 100;
        // The figure docs/LAMBDA.md's arithmetic uses: about 1 KB, so a few hundred fit.
        assert!(
            (700..=1_100).contains(&per_transfer),
            "{per_transfer} bytes"
        );
        assert!(MAX_SHARED_STATE_BYTES / per_transfer >= 340);
    }

    #[test]
    fn shared_state_over_its_budget_is_cut_to_fit_and_still_loads() {
        let state = open_transfers(50);
        let (whole, dropped) = shared_state_json(&state, MAX_SHARED_STATE_BYTES).unwrap();
        assert!(dropped.is_empty());
        assert_eq!(serde_json::from_str::<SharedState>(&whole).unwrap(), state);

        let budget = whole.len() / 2;
        let (cut, dropped) = shared_state_json(&state, budget).unwrap();
        assert!(cut.len() <= budget, "{} > {budget}", cut.len());
        let kept: SharedState = serde_json::from_str(&cut).unwrap();
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].0, "transfers");
        assert_eq!(kept.transfers.len() + dropped[0].1, 50);
        assert!(kept.transfers.len() >= 20, "kept {}", kept.transfers.len());
        // Nothing fits: everything goes, and the JSON is still a valid (empty) state.
        let (none, _) = shared_state_json(&state, 2).unwrap();
        assert_eq!(
            serde_json::from_str::<SharedState>(&none).unwrap(),
            SharedState::default()
        );
    }

    #[test]
    fn partition_keys_fit_dynamodb() {
        let short = ItemId {
            table: "Accounts".to_owned(),
            key: r#"[["id","S:acc-1"]]"#.to_owned(),
        };
        assert_eq!(checkpoint_pk(&short), r#"item#Accounts#[["id","S:acc-1"]]"#);
        let long = ItemId {
            table: "Accounts".to_owned(),
            key: "x".repeat(3000),
        };
        let pk = checkpoint_pk(&long);
        assert!(
            pk.len() <= MAX_PK_BYTES && pk.starts_with("item#Accounts#xxh3:"),
            "{pk}"
        );
        assert_eq!(finding_pk("abc"), "finding#abc");
    }
}
