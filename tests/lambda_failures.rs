//! Failures: a topic that cannot be reached, a rule whose findings fail to publish, the deadline,
//! bad input. The partial batch response must resume at the first record not fully handled, no
//! checkpoint may pass it, and a retry must deliver each finding exactly once.

mod common;

use std::time::Duration;

use common::aws::{checkpoints, scan_state, sdk_config, state_table, topic_with_queue};
use common::events::{account, event, record, seq};
use common::fakes::{MemoryPublisher, MemoryStore};
use common::moto::{Moto, free_port};
use ddb_stream_audit::Auditor;
use ddb_stream_audit::lambda::sns::SnsPublisher;
use ddb_stream_audit::lambda::state_store::DynamoStateStore;
use ddb_stream_audit::lambda::{Handler, LambdaError, Retry};
use serde_json::json;

/// Findings in records 0 (lost-update) and 2 (negative-balance); record 1 is clean.
fn three_records() -> Vec<u8> {
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
            "acc-3",
            Some(account("acc-3", 1, 10)),
            Some(account("acc-3", 2, -1)),
        ),
    ])
}

fn resume_points(outcome: &ddb_stream_audit::lambda::Invocation) -> Vec<Option<String>> {
    outcome
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_unreachable_fails_from_the_first_record_and_the_retry_delivers_once() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let table = state_table(&sdk).await;
    let store = || DynamoStateStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);

    // Nothing listens on this port: every PublishBatch fails to connect.
    let dead = aws_sdk_sns::config::Builder::from(&sdk)
        .endpoint_url(format!("http://127.0.0.1:{}", free_port()))
        .build();
    let unreachable = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::from_conf(dead), &topic.topic_arn),
        store(),
        Duration::from_secs(1),
    );
    let failed = unreachable.handle(&three_records(), None).await;
    assert_eq!(resume_points(&failed), [Some(seq(100))]);
    let failure = failed.failure.as_ref().expect("a failure");
    assert!(failure.retry_can_help(), "{failure}");
    assert!(
        failed.invocation_error().is_none(),
        "a partial batch failure, not an invocation error"
    );
    assert_eq!(failed.metrics.publish_failures, 2);
    assert!(
        checkpoints(&sdk, &table).await.is_empty(),
        "no checkpoint advanced"
    );
    assert!(
        scan_state(&sdk, &table).await.is_empty(),
        "no de-duplication record either"
    );
    assert!(topic.drain().await.is_empty());

    // Lambda retries from the reported record against a healthy topic.
    let healthy = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        store(),
        Duration::from_secs(1),
    );
    let retried = healthy.handle(&three_records(), None).await;
    assert!(
        retried.response.batch_item_failures.is_empty(),
        "{:?}",
        retried.failure
    );
    let again = healthy.handle(&three_records(), None).await;
    assert!(again.published.is_empty());
    let mut rules: Vec<String> = topic
        .drain()
        .await
        .iter()
        .map(|m| m.attributes["rule"].clone())
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        ["lost-update", "negative-balance"],
        "each finding exactly once"
    );
    assert_eq!(checkpoints(&sdk, &table).await.len(), 3);
}

#[tokio::test]
async fn a_failed_finding_in_the_middle_holds_back_only_the_checkpoints_from_its_record() {
    let publisher = MemoryPublisher {
        fail_rule: Some(("negative-balance".to_owned(), Retry::CanHelp)),
        ..Default::default()
    };
    let handler = Handler::new(
        Auditor::default(),
        publisher,
        MemoryStore::default(),
        Duration::from_secs(1),
    );
    let outcome = handler.handle(&three_records(), None).await;
    assert_eq!(resume_points(&outcome), [Some(seq(300))]);
    let stored = handler.store().checkpoints.lock().expect("lock").len();
    assert_eq!(stored, 2, "acc-1 and acc-2 advanced, acc-3 did not");
    assert_eq!(handler.publisher().published.lock().expect("lock").len(), 1);
    assert_eq!(
        outcome.metrics.records_audited, 2,
        "only handled records are counted"
    );
    assert_eq!(outcome.metrics.publish_failures, 1);
}

#[tokio::test]
async fn a_failure_no_retry_can_fix_fails_the_invocation_loudly() {
    let publisher = MemoryPublisher {
        fail_rule: Some(("lost-update".to_owned(), Retry::CannotHelp)),
        ..Default::default()
    };
    let handler = Handler::new(
        Auditor::default(),
        publisher,
        MemoryStore::default(),
        Duration::from_secs(1),
    );
    let outcome = handler.handle(&three_records(), None).await;
    assert_eq!(resume_points(&outcome), [Some(seq(100))]);
    assert!(matches!(
        outcome.invocation_error(),
        Some(LambdaError::Aws {
            retry: Retry::CannotHelp,
            ..
        })
    ));
}

#[tokio::test]
async fn the_deadline_stops_work_with_a_margin_and_reports_the_rest() {
    let publisher = MemoryPublisher {
        delay: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let handler = Handler::new(
        Auditor::default(),
        publisher,
        MemoryStore::default(),
        Duration::from_millis(1500),
    );
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    let outcome = handler.handle(&three_records(), Some(deadline)).await;
    let took = started.elapsed();
    // The margin is at most a fifth of the time left (0.4 s of 2 s here): work stops before
    // the deadline, not after the publisher's 30 s.
    assert!(
        took < Duration::from_secs(2),
        "stopped before the deadline, took {took:?}"
    );
    assert_eq!(resume_points(&outcome), [Some(seq(100))]);
    assert!(matches!(
        outcome.failure,
        Some(LambdaError::Deadline { .. })
    ));
    assert!(outcome.invocation_error().is_none());
    assert!(handler.store().checkpoints.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn bad_input_is_a_finding_never_a_failure() {
    let handler = Handler::new(
        Auditor::default(),
        MemoryPublisher::default(),
        MemoryStore::default(),
        Duration::from_secs(1),
    );
    let mut bad = record(
        "Accounts",
        100,
        "MODIFY",
        "acc-1",
        None,
        Some(account("acc-1", 1, 1)),
    );
    bad["dynamodb"]["NewImage"]["version"] = json!({"N": "not-a-number"});
    let payload =
        serde_json::to_vec(&json!({"Records": [bad, 42, {"eventName": "PUT"}]})).expect("json");
    let outcome = handler.handle(&payload, None).await;
    assert!(outcome.response.batch_item_failures.is_empty());
    assert!(outcome.failure.is_none());
    assert_eq!(outcome.metrics.malformed_records, 3);
    let rules: Vec<String> = handler
        .publisher()
        .published
        .lock()
        .expect("lock")
        .iter()
        .map(|f| f.rule.clone())
        .collect();
    assert_eq!(rules, ["malformed-record"; 3]);

    // Not a Streams event at all: logged, acknowledged, nothing to retry.
    for payload in [&b"{\"hello\": 1}"[..], b"[1,2]", b"\"text\""] {
        let outcome = handler.handle(payload, None).await;
        assert!(outcome.response.batch_item_failures.is_empty());
        assert!(outcome.invocation_error().is_none());
    }
    let response = serde_json::to_value(&outcome.response).expect("serialize");
    assert_eq!(response, json!({"batchItemFailures": []}));
}

#[tokio::test]
async fn a_failure_at_a_record_without_sequence_number_resumes_at_an_earlier_one() {
    // Record 1 is malformed and has no SequenceNumber; its finding fails to publish.
    let publisher = MemoryPublisher {
        fail_rule: Some(("malformed-record".to_owned(), Retry::CanHelp)),
        ..Default::default()
    };
    let handler = Handler::new(
        Auditor::default(),
        publisher,
        MemoryStore::default(),
        Duration::from_secs(1),
    );
    let first = record(
        "Accounts",
        100,
        "INSERT",
        "acc-1",
        None,
        Some(account("acc-1", 1, 1)),
    );
    let payload = serde_json::to_vec(&json!({"Records": [first, 42]})).expect("json");
    let outcome = handler.handle(&payload, None).await;
    assert_eq!(
        resume_points(&outcome),
        [Some(seq(100))],
        "never an empty identifier"
    );
    // Only a malformed first record with no number to resume from fails the whole invocation.
    let payload = serde_json::to_vec(&json!({"Records": [42]})).expect("json");
    let outcome = handler.handle(&payload, None).await;
    assert!(outcome.response.batch_item_failures.is_empty());
    assert!(outcome.invocation_error().is_some());
}
