//! State across invocations through the real AWS SDK against moto: checkpoints and
//! de-duplication records in the state table.

mod common;

use std::time::Duration;

use common::aws::{checkpoints, scan_state, sdk_config, state_table, topic_with_queue};
use common::events::{account, event, record, seq};
use common::moto::Moto;
use ddb_stream_audit::Auditor;
use ddb_stream_audit::audit::state::{ImageState, ItemState};
use ddb_stream_audit::change::{ItemId, SequenceNumber};
use ddb_stream_audit::lambda::sns::SnsPublisher;
use ddb_stream_audit::lambda::state_store::{DynamoStateStore, Stateless, checkpoint_pk};
use ddb_stream_audit::lambda::{Handler, Saved, StateStore};

fn lost_update_event() -> Vec<u8> {
    event(vec![
        record(
            "Accounts",
            100,
            "MODIFY",
            "acc-1",
            Some(account("acc-1", 3, 100)),
            Some(account("acc-1", 3, 50)),
        ),
        record(
            "Accounts",
            200,
            "INSERT",
            "acc-2",
            None,
            Some(account("acc-2", 1, 10)),
        ),
        record(
            "Accounts",
            300,
            "MODIFY",
            "acc-2",
            Some(account("acc-2", 1, 10)),
            Some(account("acc-2", 2, -1)),
        ),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_event_twice_publishes_nothing_the_second_time() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let handler = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        Duration::from_secs(1),
    );
    let first = handler.handle(&lost_update_event(), None).await;
    assert!(
        first.response.batch_item_failures.is_empty(),
        "{:?}",
        first.failure
    );
    assert_eq!(first.published.len(), 2, "lost-update and negative-balance");
    assert_eq!(topic.drain().await.len(), 2);
    let stored = checkpoints(&sdk, &table).await;
    assert_eq!(
        stored.values().cloned().collect::<Vec<_>>(),
        [seq(100), seq(300)]
    );

    // Lambda re-delivers the batch: every record is a re-delivery now.
    let second = handler.handle(&lost_update_event(), None).await;
    assert!(second.response.batch_item_failures.is_empty());
    assert!(second.published.is_empty());
    assert_eq!(second.metrics.redeliveries_skipped, 3);
    assert!(
        topic.drain().await.is_empty(),
        "nothing published the second time"
    );

    // A crash after publishing and recording the findings but before the checkpoint writes: the
    // records are audited again and the de-duplication records hold the alerts back.
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for pk in stored.keys() {
        ddb.delete_item()
            .table_name(&table)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.clone()))
            .send()
            .await
            .expect("delete checkpoint");
    }
    let third = handler.handle(&lost_update_event(), None).await;
    assert!(third.response.batch_item_failures.is_empty());
    assert!(third.published.is_empty());
    assert_eq!(third.already_published.len(), 2);
    assert!(
        topic.drain().await.is_empty(),
        "de-duplicated by finding id"
    );

    // De-duplication records carry a TTL about 14 days out.
    let state = scan_state(&sdk, &table).await;
    let dedup: Vec<_> = state
        .iter()
        .filter(|(pk, _)| pk.starts_with("finding#"))
        .collect();
    assert_eq!(dedup.len(), 2);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for (_, item) in dedup {
        let Some(aws_sdk_dynamodb::types::AttributeValue::N(expires)) = item.get("expires_at")
        else {
            panic!("no expires_at")
        };
        let expires: u64 = expires.parse().expect("epoch seconds");
        assert!(expires > now + 13 * 86_400 && expires < now + 15 * 86_400);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_record_between_two_invocations_is_found_through_the_state_table() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let handler = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        Duration::from_secs(1),
    );
    let first = event(vec![record(
        "Ledger",
        100,
        "INSERT",
        "acc-9",
        None,
        Some(account("acc-9", 1, 10)),
    )]);
    // The record that took the item from version 1 to 2 never reached the audit.
    let second = event(vec![record(
        "Ledger",
        300,
        "MODIFY",
        "acc-9",
        Some(account("acc-9", 2, 20)),
        Some(account("acc-9", 3, 30)),
    )]);
    assert!(handler.handle(&first, None).await.published.is_empty());
    let outcome = handler.handle(&second, None).await;
    assert!(outcome.response.batch_item_failures.is_empty());
    let received = topic.drain().await;
    let rules: Vec<String> = received
        .iter()
        .map(|m| m.attributes["rule"].clone())
        .collect();
    assert_eq!(rules, ["history-gap"]);
    assert_eq!(received[0].finding()["sequence_number"], seq(300));

    // Without the state table each batch stands alone and the gap goes unseen.
    let stateless = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        Stateless,
        Duration::from_secs(1),
    );
    stateless.handle(&first, None).await;
    assert!(stateless.handle(&second, None).await.published.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_checkpoint_write_loses_against_a_newer_one() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let table = state_table(&sdk).await;
    let store = DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let item = ItemId {
        table: "Accounts".to_owned(),
        key: r#"[["id","S:acc-1"]]"#.to_owned(),
    };
    let at = |s: &str| ItemState {
        sequence_number: SequenceNumber::parse(s).expect("seq"),
        image: ImageState::Unknown,
        removed_version: None,
        applied_requests: Vec::new(),
    };
    // 40-digit sequence numbers: more digits than a DynamoDB number holds.
    let newer = at("1000000000000000000000000000000000000002");
    let older = at("999999999999999999999999999999999999999");
    assert_eq!(
        store.save_checkpoints(&[(&item, &newer)]).await[0]
            .as_ref()
            .ok(),
        Some(&Saved::Written)
    );
    assert_eq!(
        store.save_checkpoints(&[(&item, &older)]).await[0]
            .as_ref()
            .ok(),
        Some(&Saved::Superseded)
    );
    assert_eq!(
        store.save_checkpoints(&[(&item, &newer)]).await[0]
            .as_ref()
            .ok(),
        Some(&Saved::Superseded),
        "equal is not newer"
    );
    let loaded = store.load_checkpoints(&[&item]).await.expect("load");
    assert_eq!(loaded.get(&item), Some(&newer));
    let stored = checkpoints(&sdk, &table).await;
    assert_eq!(
        stored.get(&checkpoint_pk(&item)).map(String::as_str),
        Some("1000000000000000000000000000000000000002")
    );
    let newest = at("1000000000000000000000000000000000000003");
    assert_eq!(
        store.save_checkpoints(&[(&item, &newest)]).await[0]
            .as_ref()
            .ok(),
        Some(&Saved::Written)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_more_than_a_hundred_items_load_in_batches() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let handler = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        Duration::from_secs(1),
    );
    let batch = event(
        (0..250u64)
            .map(|i| {
                let id = format!("acc-{i}");
                record(
                    "Accounts",
                    1000 + i,
                    "INSERT",
                    &id,
                    None,
                    Some(account(&id, 1, 10)),
                )
            })
            .collect(),
    );
    let first = handler.handle(&batch, None).await;
    assert_eq!(first.metrics.records_audited, 250);
    assert_eq!(checkpoints(&sdk, &table).await.len(), 250);
    let again = handler.handle(&batch, None).await;
    assert_eq!(
        again.metrics.redeliveries_skipped, 250,
        "all 250 checkpoints were loaded"
    );
}

fn with_request(mut image: serde_json::Value, request: &str) -> serde_json::Value {
    image["lastRequestId"] = serde_json::json!({ "S": request });
    image
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_applied_again_in_a_later_invocation_is_found_through_the_checkpoint() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let config = ddb_stream_audit::Config::from_json(
        r#"{"defaults": {"duplicate_request": {"request_attribute": "lastRequestId", "watched_attributes": ["balance"]}}}"#,
    )
    .unwrap();
    let handler = Handler::new(
        Auditor::new(config),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table),
        Duration::from_secs(1),
    );
    let first = event(vec![record(
        "Purses",
        100,
        "MODIFY",
        "acc-7",
        Some(with_request(account("acc-7", 1, 100), "req-0")),
        Some(with_request(account("acc-7", 2, 70), "req-1")),
    )]);
    // The retry of req-1 lands in a later invocation.
    let second = event(vec![record(
        "Purses",
        200,
        "MODIFY",
        "acc-7",
        Some(with_request(account("acc-7", 2, 70), "req-1")),
        Some(with_request(account("acc-7", 3, 40), "req-1")),
    )]);
    assert!(handler.handle(&first, None).await.published.is_empty());
    let outcome = handler.handle(&second, None).await;
    assert!(outcome.response.batch_item_failures.is_empty());
    let received = topic.drain().await;
    let rules: Vec<String> = received
        .iter()
        .map(|m| m.attributes["rule"].clone())
        .collect();
    assert_eq!(rules, ["duplicate-request"]);
    assert_eq!(
        received[0].finding()["evidence"]["first_applied_sequence_number"],
        seq(100)
    );
    // Re-delivering the second batch adds nothing.
    handler.handle(&second, None).await;
    assert!(topic.drain().await.is_empty());
}
