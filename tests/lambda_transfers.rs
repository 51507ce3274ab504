//! The cross-item rules (`unbalanced-transfer`, `ledger-mismatch`) across Lambda invocations,
//! through the real AWS SDK against moto: the shared (cross-item) state in the state table, its
//! optimistic locking, and findings from settling going through the same publish and
//! de-duplication path as every other finding.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::aws::{
    TopicWithQueue, checkpoints, scan_state, sdk_config, state_table, topic_with_queue,
};
use common::events::{account, event, record, seq};
use common::moto::Moto;
use ddb_stream_audit::audit::state::SharedState;
use ddb_stream_audit::change::ItemId;
use ddb_stream_audit::lambda::sns::SnsPublisher;
use ddb_stream_audit::lambda::state_store::{DynamoStateStore, SHARED_PK};
use ddb_stream_audit::lambda::{Handler, LambdaError, SharedSaved, StateStore, StoredShared};
use ddb_stream_audit::{AuditState, Auditor, Config};
use serde_json::{Value, json};

/// As in events/config/audit.json: legs on `Vaults` carry `transferId`, `balance` is conserved.
const CONFIG: &str = r#"{"tables": {"Vaults": {"transfer": {"transfer_attribute": "transferId", "conserved_attribute": "balance", "grace_seconds": 60}}}}"#;

/// The stream time of `seq` in the test events: 1_700_000_000 + seq / 100.
const T0: i64 = 1_700_000_000;

/// A MODIFY of a Vaults account from `old` to `new` balance; a leg of `transfer` when given.
fn vault(n: u64, id: &str, version: i64, old: i64, new: i64, transfer: Option<&str>) -> Value {
    let mut new_image = account(id, version + 1, new);
    if let Some(t) = transfer {
        new_image["transferId"] = json!({ "S": t });
    }
    record(
        "Vaults",
        n,
        "MODIFY",
        id,
        Some(account(id, version, old)),
        Some(new_image),
    )
}

fn at_time(mut record: Value, seconds: i64) -> Value {
    record["dynamodb"]["ApproximateCreationDateTime"] = json!(seconds);
    record
}

fn auditor() -> Auditor {
    Auditor::new(Config::from_json(CONFIG).expect("config"))
}

fn handler<S: StateStore>(
    sdk: &aws_config::SdkConfig,
    topic: &TopicWithQueue,
    store: S,
) -> Handler<SnsPublisher, S> {
    Handler::new(
        auditor(),
        SnsPublisher::new(aws_sdk_sns::Client::new(sdk), &topic.topic_arn),
        store,
        Duration::from_secs(1),
    )
}

fn store(sdk: &aws_config::SdkConfig, table: &str) -> DynamoStateStore {
    DynamoStateStore::new(aws_sdk_dynamodb::Client::new(sdk), table)
}

/// The transfer ids reported in what the queue received, and every rule seen.
async fn reported(topic: &TopicWithQueue) -> (Vec<String>, Vec<String>) {
    let received = topic.drain().await;
    let rules = received
        .iter()
        .map(|m| m.attributes["rule"].clone())
        .collect();
    let transfers = received
        .iter()
        .filter(|m| m.attributes["rule"] == "unbalanced-transfer")
        .map(|m| {
            m.finding()["evidence"]["transfer_id"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    (transfers, rules)
}

/// The shared state item as stored: revision and open transfer ids.
async fn stored_shared(sdk: &aws_config::SdkConfig, table: &str) -> Option<(u64, Vec<String>)> {
    let state = scan_state(sdk, table).await;
    let item = state.get(SHARED_PK)?;
    let rev = match item.get("rev") {
        Some(AttributeValue::N(n)) => n.parse().expect("rev"),
        other => panic!("rev: {other:?}"),
    };
    let shared: SharedState = match item.get("state") {
        Some(AttributeValue::S(json)) => serde_json::from_str(json).expect("shared state JSON"),
        other => panic!("state: {other:?}"),
    };
    Some((rev, shared.transfers.keys().cloned().collect()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legs_in_two_invocations_balance_and_settle_silently() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let handler = handler(&sdk, &topic, store(&sdk, &table));

    // The debit and the credit of t1 arrive in separate invocations (or shards).
    let debit = event(vec![vault(100, "acc-a", 1, 100, 60, Some("t1"))]);
    let credit = event(vec![vault(200, "acc-b", 1, 0, 40, Some("t1"))]);
    for batch in [&debit, &credit] {
        let outcome = handler.handle(batch, None).await;
        assert!(
            outcome.response.batch_item_failures.is_empty(),
            "{:?}",
            outcome.failure
        );
        assert!(outcome.published.is_empty());
    }
    assert_eq!(
        stored_shared(&sdk, &table).await,
        Some((2, vec!["t1".to_owned()])),
        "one write per invocation that changed it"
    );
    // Far past the grace period: t1 settles, balanced, with no finding.
    let later = event(vec![vault(20_000, "acc-c", 1, 5, 6, None)]);
    let outcome = handler.handle(&later, None).await;
    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(stored_shared(&sdk, &table).await, Some((3, vec![])));
    let (transfers, rules) = reported(&topic).await;
    assert!(transfers.is_empty() && rules.is_empty(), "{rules:?}");
    // A batch that changes no shared state does not write it.
    handler
        .handle(&event(vec![vault(20_100, "acc-c", 2, 6, 7, None)]), None)
        .await;
    assert_eq!(stored_shared(&sdk, &table).await, Some((3, vec![])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_transfer_is_reported_once_by_a_later_invocation() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let handler = handler(&sdk, &topic, store(&sdk, &table));

    let debit = event(vec![vault(100, "acc-a", 1, 100, 60, Some("t2"))]);
    assert!(handler.handle(&debit, None).await.published.is_empty());
    // Within the grace period (t0+1 + 60 s): still open.
    let early = event(vec![vault(6_000, "acc-c", 1, 5, 6, None)]);
    assert!(handler.handle(&early, None).await.published.is_empty());
    // The next record past it, on another item, in another invocation, settles t2.
    let late = event(vec![vault(6_200, "acc-c", 2, 6, 7, None)]);
    let outcome = handler.handle(&late, None).await;
    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.published.len(), 1);
    let received = topic.drain().await;
    assert_eq!(received.len(), 1);
    let finding = received[0].finding();
    assert_eq!(finding["rule"], "unbalanced-transfer");
    assert_eq!(finding["evidence"]["transfer_id"], "t2");
    assert_eq!(finding["evidence"]["sum"], "-40");
    assert_eq!(
        finding["sequence_number"],
        seq(100),
        "reported on its last leg"
    );
    assert_eq!(stored_shared(&sdk, &table).await, Some((2, vec![])));

    // The same events re-delivered: nothing new.
    for batch in [&debit, &early, &late] {
        let again = handler.handle(batch, None).await;
        assert!(again.response.batch_item_failures.is_empty());
        assert!(again.published.is_empty());
    }
    // A crash after publishing but before any state write: the settling record is audited
    // again from the old state, and the de-duplication record holds the alert back.
    let mut before = AuditState::new();
    auditor().audit_batch(
        &ddb_stream_audit::source::decode_event(&debit).expect("event"),
        &mut before,
    );
    assert_eq!(
        store(&sdk, &table)
            .save_shared(&before.shared, 2)
            .await
            .expect("write"),
        SharedSaved::Written
    );
    let acc_c = checkpoints(&sdk, &table)
        .await
        .into_keys()
        .find(|pk| pk.contains("acc-c"))
        .expect("acc-c checkpoint");
    aws_sdk_dynamodb::Client::new(&sdk)
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S(acc_c))
        .send()
        .await
        .expect("delete checkpoint");
    let replayed = handler.handle(&late, None).await;
    assert!(replayed.published.is_empty());
    assert_eq!(replayed.already_published.len(), 1);
    assert!(topic.drain().await.is_empty(), "reported once");
}

/// A store that lets another invocation (another shard) run to completion between this
/// invocation's loading of the shared state and its writing of it, once.
struct Interleaved<'a> {
    inner: DynamoStateStore,
    other: &'a Handler<SnsPublisher, DynamoStateStore>,
    other_event: Mutex<Option<Vec<u8>>>,
}

impl StateStore for Interleaved<'_> {
    async fn load_checkpoints(&self, items: &[&ItemId]) -> Result<AuditState, LambdaError> {
        self.inner.load_checkpoints(items).await
    }

    async fn published(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashSet<String>, LambdaError> {
        self.inner.published(ids).await
    }

    async fn mark_published(&self, ids: &[&str]) -> Vec<Result<(), LambdaError>> {
        self.inner.mark_published(ids).await
    }

    async fn save_checkpoints(
        &self,
        checkpoints: &[(&ItemId, &ddb_stream_audit::audit::state::ItemState)],
    ) -> Vec<Result<ddb_stream_audit::lambda::Saved, LambdaError>> {
        self.inner.save_checkpoints(checkpoints).await
    }

    async fn load_shared(&self) -> Result<StoredShared, LambdaError> {
        self.inner.load_shared().await
    }

    async fn save_shared(
        &self,
        state: &SharedState,
        expected_rev: u64,
    ) -> Result<SharedSaved, LambdaError> {
        let other_event = self.other_event.lock().expect("lock").take();
        if let Some(other_event) = other_event {
            let other = self.other.handle(&other_event, None).await;
            assert!(
                other.response.batch_item_failures.is_empty(),
                "{:?}",
                other.failure
            );
        }
        self.inner.save_shared(state, expected_rev).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_shared_state_write_fails_the_batch_from_record_0_and_the_retry_reports_once()
{
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let plain = handler(&sdk, &topic, store(&sdk, &table));

    // t9's only leg, at t0+1.
    let debit = event(vec![vault(100, "acc-a", 1, 100, 60, Some("t9"))]);
    assert!(plain.handle(&debit, None).await.published.is_empty());
    assert_eq!(
        stored_shared(&sdk, &table).await,
        Some((1, vec!["t9".to_owned()]))
    );

    // This shard's batch passes t9's grace period (t0+100); meanwhile another shard opens t10
    // (at t0+50, so still open at t0+100) and stores the shared state first.
    let batch = event(vec![
        vault(10_000, "acc-c", 1, 5, 6, None),
        vault(10_100, "acc-d", 1, 7, 8, None),
    ]);
    let other_shard = event(vec![at_time(
        vault(50, "acc-x", 1, 0, 25, Some("t10")),
        T0 + 50,
    )]);
    let interleaved = handler(
        &sdk,
        &topic,
        Interleaved {
            inner: store(&sdk, &table),
            other: &plain,
            other_event: Mutex::new(Some(other_shard)),
        },
    );
    let lost = interleaved.handle(&batch, None).await;
    assert!(
        matches!(
            lost.failure,
            Some(LambdaError::SharedStateConflict { expected_rev: 1 })
        ),
        "{:?}",
        lost.failure
    );
    let failures = &lost.response.batch_item_failures;
    assert_eq!(failures.len(), 1);
    assert_eq!(
        failures[0].item_identifier.as_deref(),
        Some(seq(10_000).as_str()),
        "from record 0"
    );
    assert!(
        lost.invocation_error().is_none(),
        "retryable: a partial batch failure only"
    );
    let stored = checkpoints(&sdk, &table).await;
    assert!(
        !stored
            .keys()
            .any(|pk| pk.contains("acc-c") || pk.contains("acc-d")),
        "no checkpoint written: {stored:?}"
    );
    // The other shard's write stands.
    assert_eq!(
        stored_shared(&sdk, &table).await,
        Some((2, vec!["t10".to_owned(), "t9".to_owned()]))
    );
    // The finding of settling t9 went out before the conflict was known.
    let (first, _) = reported(&topic).await;
    assert_eq!(first, ["t9"]);

    // Lambda retries from record 0: audited against the new shared state, t9 settles again with
    // the same finding id (de-duplicated), and t10 stays open.
    let retry = interleaved.handle(&batch, None).await;
    assert!(
        retry.response.batch_item_failures.is_empty(),
        "{:?}",
        retry.failure
    );
    assert!(retry.published.is_empty());
    assert_eq!(retry.already_published.len(), 1);
    assert_eq!(retry.metrics.records_audited, 2);
    assert_eq!(
        stored_shared(&sdk, &table).await,
        Some((3, vec!["t10".to_owned()]))
    );
    assert_eq!(
        checkpoints(&sdk, &table).await.len(),
        4,
        "acc-a, acc-c, acc-d, acc-x"
    );
    let (again, rules) = reported(&topic).await;
    assert!(
        again.is_empty() && rules.is_empty(),
        "reported once: {rules:?}"
    );

    // t10, stalled, is reported by the next record past its grace period.
    let later = event(vec![vault(20_000, "acc-c", 2, 6, 7, None)]);
    assert_eq!(plain.handle(&later, None).await.published.len(), 1);
    let (last, _) = reported(&topic).await;
    assert_eq!(last, ["t10"]);
}

/// `ledger-mismatch` on `Tills`: entries `entry#...` beside the accounts, as in
/// events/config/audit.json.
const LEDGER_CONFIG: &str = r#"{"tables": {"Tills": {"ledger": {"entry_key_attribute": "id", "entry_key_prefix": "entry#", "account_attribute": "account", "account_key_attribute": "id", "amount_attribute": "amount", "grace_seconds": 60}}}}"#;

fn till_entry(n: u64, entry: &str, till: &str, amount: i64) -> Value {
    let id = format!("entry#{entry}");
    let image = json!({"id": {"S": id}, "account": {"S": till}, "amount": {"N": amount.to_string()},
                       "version": {"N": "1"}});
    record("Tills", n, "INSERT", &id, None, Some(image))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_out_of_step_across_invocations_is_reported_once() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let handler = Handler::new(
        Auditor::new(Config::from_json(LEDGER_CONFIG).expect("config")),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        store(&sdk, &table),
        Duration::from_secs(1),
    );
    // Each record in its own invocation, as separate batches (or shards) would bring them: the
    // opening balance, an entry and its balance move (in step), then a second entry whose
    // balance move was lost (an identical overwrite writes no stream record).
    let batches = [
        event(vec![record(
            "Tills",
            100,
            "INSERT",
            "till-1",
            None,
            Some(account("till-1", 1, 100)),
        )]),
        event(vec![till_entry(200, "e1", "till-1", -30)]),
        event(vec![record(
            "Tills",
            300,
            "MODIFY",
            "till-1",
            Some(account("till-1", 1, 100)),
            Some(account("till-1", 2, 70)),
        )]),
        event(vec![till_entry(400, "e2", "till-1", -20)]),
    ];
    for batch in &batches {
        let outcome = handler.handle(batch, None).await;
        assert!(
            outcome.response.batch_item_failures.is_empty(),
            "{:?}",
            outcome.failure
        );
        assert!(
            outcome.published.is_empty(),
            "nothing before the grace period"
        );
    }
    // A record of another till more than 60 s after e2, in yet another invocation.
    let later = event(vec![record(
        "Tills",
        20_000,
        "MODIFY",
        "till-9",
        Some(account("till-9", 1, 5)),
        Some(account("till-9", 2, 6)),
    )]);
    let outcome = handler.handle(&later, None).await;
    assert!(outcome.response.batch_item_failures.is_empty());
    assert_eq!(outcome.published.len(), 1);
    let received = topic.drain().await;
    assert_eq!(received.len(), 1);
    let finding = received[0].finding();
    assert_eq!(finding["rule"], "ledger-mismatch");
    assert_eq!(finding["evidence"]["difference"], "-20");
    assert_eq!(finding["evidence"]["account"]["key"]["id"], "till-1");
    // Everything re-delivered: nothing new.
    for batch in batches.iter().chain([&later]) {
        let again = handler.handle(batch, None).await;
        assert!(again.response.batch_item_failures.is_empty());
        assert!(again.published.is_empty());
    }
    assert!(topic.drain().await.is_empty());
}
