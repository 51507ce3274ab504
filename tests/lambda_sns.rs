//! SNS delivery through the real AWS SDK against moto: findings reach an SQS queue subscribed to
//! the topic with body and String attributes intact, on standard and FIFO topics.

mod common;

use std::time::Duration;

use common::aws::{sdk_config, topic_with_queue};
use common::events::{account, event, record, seq};
use common::moto::Moto;
use ddb_stream_audit::Auditor;
use ddb_stream_audit::lambda::Handler;
use ddb_stream_audit::lambda::sns::SnsPublisher;
use ddb_stream_audit::lambda::state_store::Stateless;
use serde_json::json;

/// A lost update, a negative balance, and a record with a bad number.
fn findings_event() -> Vec<u8> {
    let mut bad = record(
        "Accounts",
        300,
        "MODIFY",
        "acc-3",
        Some(account("acc-3", 1, 5)),
        Some(account("acc-3", 2, 5)),
    );
    bad["dynamodb"]["NewImage"]["balance"] = json!({"N": "12abc"});
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
            "MODIFY",
            "acc-2",
            Some(account("acc-2", 1, 10)),
            Some(account("acc-2", 2, -5)),
        ),
        bad,
    ])
}

async fn publish_and_receive(fifo: bool) {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, fifo).await;
    let handler = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        Stateless,
        Duration::from_secs(1),
    );
    let outcome = handler.handle(&findings_event(), None).await;
    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.published.len(), 3);

    let mut received = topic.drain().await;
    received.sort_by_key(|m| {
        m.finding()["sequence_number"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    });
    let summary: Vec<(String, String, String)> = received
        .iter()
        .map(|m| {
            (
                m.attributes["rule"].clone(),
                m.attributes["severity"].clone(),
                m.attributes["table"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "lost-update".to_owned(),
                "critical".to_owned(),
                "Accounts".to_owned()
            ),
            (
                "negative-balance".to_owned(),
                "critical".to_owned(),
                "Accounts".to_owned()
            ),
            (
                "malformed-record".to_owned(),
                "warning".to_owned(),
                "Accounts".to_owned()
            ),
        ]
    );
    let lost = received[0].finding();
    assert_eq!(lost["rule"], "lost-update");
    assert_eq!(lost["key"], json!({"id": "acc-1"}));
    assert_eq!(lost["sequence_number"], seq(100));
    assert_eq!(lost["event_name"], "MODIFY");
    assert_eq!(lost["id"].as_str().map(str::len), Some(32));
    assert!(lost["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(lost["evidence"].is_object());
    // The body is the finding exactly as the core produced it.
    for m in &received {
        let id = m.finding()["id"].as_str().unwrap_or("").to_owned();
        assert!(outcome.published.contains(&id));
        if fifo {
            assert_eq!(m.deduplication_id.as_deref(), Some(id.as_str()));
            let key = serde_json::to_string(&m.finding()["key"]).unwrap();
            assert_eq!(
                m.group_id.as_deref(),
                Some(format!("Accounts#{key}").as_str())
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_arrive_in_a_subscribed_queue_with_body_and_attributes() {
    publish_and_receive(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_arrive_through_a_fifo_topic_with_group_and_dedup_ids() {
    publish_and_receive(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_ten_findings_and_oversized_evidence_go_out_in_valid_batches() {
    let moto = Moto::start();
    let sdk = sdk_config(&moto.endpoint).await;
    let topic = topic_with_queue(&sdk, false).await;
    let handler = Handler::new(
        Auditor::default(),
        SnsPublisher::new(aws_sdk_sns::Client::new(&sdk), &topic.topic_arn),
        Stateless,
        Duration::from_secs(1),
    );
    // 23 lost updates, each carrying a note of 270 KB in UTF-8 (but 110k characters): every
    // message must be trimmed, counting bytes, and each PublishBatch call stays under 256 KiB.
    let records = (0..23u64)
        .map(|i| {
            let id = format!("acc-{i}");
            let mut old = account(&id, 1, 10);
            let mut new = account(&id, 1, 20);
            old["note"] = json!({"S": "€".repeat(50_000)});
            new["note"] = json!({"S": "é".repeat(60_000)});
            record("Accounts", 1000 + i, "MODIFY", &id, Some(old), Some(new))
        })
        .collect();
    let outcome = handler.handle(&event(records), None).await;
    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.failure
    );
    assert_eq!(outcome.published.len(), 23);
    let received = topic.drain().await;
    assert_eq!(received.len(), 23);
    for m in &received {
        assert!(m.body.len() <= 256 * 1024, "{} bytes", m.body.len());
        assert!(
            m.body.len() > 128 * 1024,
            "kept as much as fits: {} bytes",
            m.body.len()
        );
        let finding = m.finding();
        assert!(
            finding["evidence"]["_trimmed"].is_string(),
            "marked as trimmed"
        );
        assert_eq!(finding["rule"], "lost-update");
    }
}
